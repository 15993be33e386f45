//! The in-process engine and the `tidekv run` front end: exact latencies,
//! crash runs whose recorded histories pass the checks, replay from the seed,
//! the `--json` contract, usage errors.

use std::path::PathBuf;
use tidekv::history::{read_jsonl, History};
use tidekv::node::Protocol;
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::workload::WorkloadSpec;
use tidekv::runtime::{CrashAt, RunSpec};
use tidekv::topology::{Kind, TopologyConfig};
use tidekv_model::cli::run::{self as run_cmd, RunArgs};

fn spec(kind: Kind, clients: usize, cycles: u32, f: impl FnOnce(&mut TopologyConfig)) -> RunSpec {
    let mut t = TopologyConfig::new(kind, clients);
    f(&mut t);
    RunSpec {
        topology: t,
        workload: WorkloadSpec::default(),
        seed: 11,
        cycles,
        crashes: vec![],
    }
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("tidekv-{}-{name}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run_with_history(spec: &RunSpec, file: &TempFile) -> (tidekv::runtime::Report, History<u64>) {
    let out = std::fs::File::create(&file.0).unwrap();
    let report = inproc::run(
        spec,
        InprocOptions {
            history: Some(Box::new(out)),
            history_path: Some(file.0.clone()),
            ..InprocOptions::default()
        },
    )
    .unwrap();
    let history = read_jsonl(std::io::BufReader::new(std::fs::File::open(&file.0).unwrap())).unwrap();
    (report, history)
}

#[test]
fn failure_free_latency_is_exactly_the_topologys_everywhere() {
    let cases: Vec<RunSpec> = vec![
        spec(Kind::Single, 3, 3000, |_| {}),
        spec(Kind::Sharded, 5, 3000, |t| t.shards = 3),
        spec(Kind::Sharded, 5, 3000, |t| t.levels = 2),
        spec(Kind::Replicated, 4, 3000, |t| {
            t.shards = 2;
            t.protocol = Protocol::Seed
        }),
        spec(Kind::Replicated, 4, 3000, |t| {
            t.shards = 2;
            t.protocol = Protocol::Owner
        }),
        spec(Kind::Replicated, 4, 3000, |t| t.shards = 2),
        spec(Kind::Replicated, 8, 3000, |t| t.levels = 3),
    ];
    for s in cases {
        let r = inproc::run(&s, InprocOptions::default()).unwrap();
        let lat = s.topology.latency_cycles();
        let label = s.topology.label();
        assert_eq!(
            r.stats.latency.keys().copied().collect::<Vec<_>>(),
            vec![lat],
            "{label}"
        );
        assert_eq!(r.stats.unavailable, 0, "{label}");
        // Closed loop without think time: every client starts an operation
        // every `lat` cycles from cycle 0; the last is still pending.
        let clients = s.topology.clients as u64;
        assert_eq!(
            r.stats.completed(),
            clients * ((s.cycles as u64 - 1) / lat as u64),
            "{label}"
        );
        assert_eq!(r.stats.pending, clients, "{label}");
        assert!(
            r.links.iter().all(|(_, b)| b.frames > 0),
            "{label}: every link measured"
        );
    }
}

#[test]
fn replicated_r3_fanout_two_replica_crashes_of_one_shard_lose_nothing() {
    let mut s = spec(Kind::Replicated, 8, 20_000, |t| t.shards = 2);
    s.workload.keys = 16;
    s.crashes = vec![
        CrashAt::parse("r0.1@1000").unwrap(),
        CrashAt::parse("r0.2@5000").unwrap(),
    ];
    let file = TempFile::new("fanout-crashes.jsonl");
    let (report, history) = run_with_history(&s, &file);
    assert_eq!(report.crashes, s.crashes);
    assert_eq!(history.ops.len() as u64, report.stats.invoked);
    assert_eq!(report.stats.unavailable, 0, "R-1 crashes leave one replica serving");
    let max_latency = *report.stats.latency.keys().max().unwrap();
    assert!(
        max_latency <= 4 + 2 * 2,
        "latency {max_latency} within latency + 2 per crash"
    );
    tidekv_checks::linearizable(&history).unwrap();
    tidekv_checks::no_stale_reads(&history).unwrap();
}

/// Chain replication, R=3: the head, then the middle, then the tail of
/// shard 0's chain crash (one per run), and shard 1's chain loses another
/// replica later: the history is linearizable with no stale read, every
/// failure-free answer takes exactly its kind's latency, and no crash makes
/// a request wait longer than the derived bound.
#[test]
fn chain_survives_the_death_of_its_head_middle_and_tail() {
    for victims in [["r0.0", "r1.1"], ["r0.1", "r1.0"], ["r0.2", "r1.1"]] {
        let mut s = spec(Kind::Replicated, 8, 6000, |t| {
            t.shards = 2;
            t.protocol = Protocol::Chain
        });
        s.workload.keys = 4;
        s.crashes = vec![
            CrashAt::parse(&format!("{}@1000", victims[0])).unwrap(),
            CrashAt::parse(&format!("{}@3001", victims[1])).unwrap(),
        ];
        let file = TempFile::new(&format!("chain-{}.jsonl", victims[0]));
        let (report, history) = run_with_history(&s, &file);
        let label = format!("chain, crashes {victims:?}");
        assert_eq!(report.crashes, s.crashes, "{label}");
        assert_eq!(report.stats.unavailable, 0, "{label}: R-1 crashes leave a replica");
        let lat = s.topology.latency();
        assert_eq!(
            (lat.read, lat.write),
            (4, 6),
            "chain R=3: a write travels two more hops"
        );
        let latencies: Vec<u32> = report.stats.latency.keys().copied().collect();
        assert!(
            latencies.contains(&4) && latencies.contains(&6),
            "{label}: {latencies:?}"
        );
        let bound = lat.bound(true, 2);
        assert!(
            latencies.iter().all(|&l| l <= bound),
            "{label}: {latencies:?} over {bound}"
        );
        tidekv_checks::linearizable(&history).unwrap_or_else(|e| panic!("{label}: {e}"));
        tidekv_checks::no_stale_reads(&history).unwrap_or_else(|e| panic!("{label}: {e}"));
    }
}

#[test]
fn all_replicas_of_a_shard_dead_is_unavailable_not_wrong() {
    let mut s = spec(Kind::Replicated, 4, 4000, |t| {
        t.shards = 2;
        t.replicas = 2
    });
    s.workload.keys = 8;
    s.crashes = vec![CrashAt::parse("r1.0@500").unwrap(), CrashAt::parse("r1.1@900").unwrap()];
    let file = TempFile::new("shard-lost.jsonl");
    let (report, history) = run_with_history(&s, &file);
    assert!(report.stats.unavailable > 0);
    tidekv_checks::linearizable(&history).unwrap();
}

#[test]
fn a_seed_replays_the_same_history_and_another_seed_does_not() {
    let mut s = spec(Kind::Replicated, 4, 2000, |t| t.protocol = Protocol::Seed);
    s.workload.distribution = tidekv::runtime::workload::Distribution::Zipf(1.1);
    s.crashes = vec![CrashAt::parse("r0.0@700").unwrap()];
    let (a, b, c) = (
        TempFile::new("seed-a"),
        TempFile::new("seed-b"),
        TempFile::new("seed-c"),
    );
    run_with_history(&s, &a);
    run_with_history(&s, &b);
    s.seed += 1;
    run_with_history(&s, &c);
    let read = |f: &TempFile| std::fs::read(&f.0).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_ne!(read(&a), read(&c));
}

/// `tidekv run …` flags, parsed as the binary parses them.
fn args(line: &str) -> Result<RunArgs, String> {
    RunArgs::try_parse_flags(line.split_whitespace()).map_err(|e| e.to_string())
}

#[test]
fn run_json_has_the_contract_fields() {
    let file = TempFile::new("cli.jsonl");
    let a = args(&format!(
        "--topology sharded --shards 2 --clients 3 --cycles 500 --crash s1@100 --history {} --json --quiet",
        file.0.display()
    ))
    .unwrap();
    assert_eq!(run_cmd::run_main(a.clone()), 0);
    let spec = a.to_spec().unwrap();
    let report = inproc::run(&spec, InprocOptions::default()).unwrap();
    let json = report.to_json();
    for key in [
        "cycles",
        "ops",
        "seconds",
        "ops_per_sec",
        "cycles_per_sec",
        "latency_cycles",
        "bytes_per_link_cycle",
        "dropped_frames",
    ] {
        assert!(json.get(key).is_some(), "--json lacks {key}: {json}");
    }
    assert_eq!(json["cycles"], 500);
    assert_eq!(json["dropped_frames"], 0);
    assert!(json["bytes_per_link_cycle"]["c0→fe"].as_f64().unwrap() > 0.0);
    let lat: u64 = json["latency_cycles"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(lat, json["ops"].as_u64().unwrap());
    let history: History<u64> = read_jsonl(std::io::BufReader::new(std::fs::File::open(&file.0).unwrap())).unwrap();
    assert!(!history.ops.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    for line in [
        "--crash c0@10",
        "--crash r7.0@10",
        "--crash fe@200 --cycles 100",
        "--value-bytes 4",
        "--write-ratio 1.5",
        "--topology single --protocol seed",
        "--topology single --levels 1",
        "--replicas 0",
        "--clients 0",
        "--cycles 0",
        "--keys 0",
        "--bytes-sample-every 0",
        "--kill fe@10",
        "--death-timeout-ms 100",
        "--slots 0",
        "--queue 4",
        "--slots 4 --queue 2",
        "--topology single --slots 1",
        "--slots 2 --protocol chain",
        "--slots 2 --protocol quorum",
    ] {
        let a = args(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(a.to_spec().is_err(), "{line} should be refused");
        assert_eq!(run_cmd::run_main(a), 2, "{line}");
    }
    for line in [
        "--distribution zipf:0",
        "--distribution pareto",
        "--ops get,scan",
        "--crash fe",
        "--transport tcp",
    ] {
        assert!(args(line).is_err(), "{line} should not parse");
    }
}

/// `--slots 4 --queue 8` with 64 and 1024 clients (issue 20): the history
/// passes `verify` (linearizable, no-lost-writes, available: a busy answer
/// is an answer), load beyond K + Q is answered busy, the root FE's queue
/// holds Q − K requests after every cycle once saturated, and the frames
/// between the root FE and the servers are K slots: the same bytes per link
/// per cycle for 64 clients as for 1024. Without `--slots` the same runs'
/// FE↔server frames grow with the clients (the byte comparison can fail).
#[test]
fn slots_bound_fe_server_frames_whatever_the_clients() {
    use tidekv_checks::{wgl::Bound, Verdict};
    let run = |clients: usize, slots: usize| {
        let s = spec(Kind::Replicated, clients, 300, |t| {
            t.shards = 2;
            t.slots = slots;
            t.queue = 2 * slots;
        });
        let file = TempFile::new(&format!("slots-{clients}-{slots}.jsonl"));
        let out = std::fs::File::create(&file.0).unwrap();
        let report = inproc::run(
            &s,
            InprocOptions {
                history: Some(Box::new(out)),
                bytes_sample_every: 1,
                ..InprocOptions::default()
            },
        )
        .unwrap();
        let history: History<u64> = read_jsonl(std::io::BufReader::new(std::fs::File::open(&file.0).unwrap())).unwrap();
        (report, history)
    };
    let mut bytes = Vec::new();
    for clients in [64, 1024] {
        let (r, history) = run(clients, 4);
        let v = tidekv_model::cli::verify::verify(
            &history,
            Bound {
                configs: tidekv_checks::wgl::CONFIGS_MAX,
                deadline: None,
            },
        );
        for (p, verdict, why) in &v.verdicts {
            if ["linearizable", "no-lost-writes", "available"].contains(p) {
                assert_eq!(*verdict, Verdict::Holds, "{clients} clients: {p}: {why:?}");
            }
        }
        assert!(r.stats.busy > 0, "{clients} clients > K + Q: some answered busy");
        let busy_in_history = history
            .ops
            .iter()
            .filter(|o| o.ret.as_ref().is_some_and(|x| x.result == tidekv::node::OpResult::Busy))
            .count() as u64;
        assert_eq!(busy_in_history, r.stats.busy);
        let q = r.queues.as_ref().expect("queue depth with --slots");
        assert_eq!(q.max, vec![4, 4], "Q − K wait after a cycle");
        assert_eq!(q.cycles, 300);
        // Every FE↔server link carries K-slot frames, at most K full.
        let links: Vec<_> = r.fe_server_links().collect();
        assert_eq!(
            links.len(),
            2 * 3 * 2,
            "{:?}",
            links.iter().map(|l| &l.0).collect::<Vec<_>>()
        );
        for (name, b) in &links {
            assert_eq!(b.frames, 300, "{name}");
            assert!(b.slots <= 4 * b.frames, "{name}: at most K full slots per frame");
        }
        bytes.push(r.fe_server_bytes().unwrap());
        // `--json`: busy count, queue depth per shard, FE↔server bytes.
        let json = r.to_json();
        assert_eq!(json["outcomes"]["busy"], r.stats.busy);
        assert_eq!(json["queue_depth"]["max"], serde_json::json!([4, 4]));
        assert_eq!(json["queue_depth"]["mean"].as_array().unwrap().len(), 2);
        assert!(json["fe_server_bytes_per_link_cycle"].as_f64().unwrap() > 0.0);
        assert!(r.summary().contains("busy answers; depth per shard after a cycle"));
    }
    assert_eq!(
        bytes[0], bytes[1],
        "bytes per FE↔server link per cycle, 64 vs 1024 clients"
    );
    let (dense64, _) = run(64, 0);
    let (dense1024, _) = run(1024, 0);
    let (d64, d1024) = (dense64.fe_server_bytes().unwrap(), dense1024.fe_server_bytes().unwrap());
    assert!(
        d1024 > 10.0 * d64,
        "without --slots the frames grow with the clients: {d64} vs {d1024}"
    );
    assert!(dense64.queues.is_none() && dense64.stats.busy == 0);
    assert!(dense64.to_json()["queue_depth"].is_null());
    assert!(!dense64.summary().contains("fe queues"));
}
