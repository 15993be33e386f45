//! The UDP engine: one OS process per node on loopback.
//!
//! The node processes are this very test binary, started by the supervisor
//! with the test filter `node_process_entry` and the node's cluster file and
//! name in the environment ([`launcher`]); `node_process_entry` then runs
//! `tidekv node` and exits. The supervisor kills and reaps every process it
//! started on every path, and a node whose supervisor disappears exits by
//! itself, so a failing test leaves nothing behind.
//!
//! The clusters run one at a time ([`ONE_CLUSTER`]): the machine has two
//! cores, and a node starved for longer than the death timeout would be
//! taken for dead (a false suspicion) and make the engines' histories differ.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;
use tidekv::history::{read_jsonl, History, OpRecord};
use tidekv::node::{Frame, Protocol};
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::udp::{self, Launcher, UdpOptions};
use tidekv::runtime::wire::{encode, Header, WIRE_VERSION};
use tidekv::runtime::workload::{Distribution, OpKind, WorkloadSpec};
use tidekv::runtime::{CrashAt, Report, RunSpec};
use tidekv::topology::{Kind, TopologyConfig};

const ENV_CONFIG: &str = "TIDEKV_TEST_NODE_CONFIG";
const ENV_ID: &str = "TIDEKV_TEST_NODE_ID";

static ONE_CLUSTER: Mutex<()> = Mutex::new(());

/// Not a test of its own: when the supervisor starts this binary as a node,
/// this runs the node and exits with its code. Run plainly, it does nothing.
#[test]
fn node_process_entry() {
    if let (Ok(config), Ok(id)) = (std::env::var(ENV_CONFIG), std::env::var(ENV_ID)) {
        let code = udp::node_main(Path::new(&config), &id);
        std::process::exit(code as i32);
    }
}

const ENV_SUPERVISE: &str = "TIDEKV_TEST_SUPERVISE";
/// Where the supervisor of [`supervisor_process_entry`] writes its history.
const ENV_HISTORY: &str = "TIDEKV_TEST_HISTORY";

/// Not a test of its own either: started with [`ENV_SUPERVISE`] set, this
/// binary is a supervisor running a long cluster until it is signalled.
#[test]
fn supervisor_process_entry() {
    if std::env::var(ENV_SUPERVISE).is_ok() {
        let mut opts = UdpOptions::new(launcher());
        opts.death_timeout = Duration::from_millis(1000);
        if let Ok(path) = std::env::var(ENV_HISTORY) {
            opts.history = Some(Box::new(std::fs::File::create(path).unwrap()));
        }
        let s = spec(Kind::Replicated, 2, 50_000_000, |t| t.replicas = 2);
        let code = match udp::run(&s, opts) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        };
        std::process::exit(code.into());
    }
}

fn launcher() -> Launcher {
    let exe = std::env::current_exe().expect("the test binary has a path");
    Box::new(move |config, id| {
        let mut c = Command::new(&exe);
        c.args(["node_process_entry", "--exact", "--nocapture", "--test-threads=1", "-q"])
            .env(ENV_CONFIG, config)
            .env(ENV_ID, id);
        c
    })
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("tidekv-udp-{}-{name}", std::process::id())))
    }

    fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }

    fn history(&self) -> History<u64> {
        read_jsonl(std::io::BufReader::new(std::fs::File::open(&self.0).unwrap())).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spec(kind: Kind, clients: usize, cycles: u32, f: impl FnOnce(&mut TopologyConfig)) -> RunSpec {
    let mut t = TopologyConfig::new(kind, clients);
    f(&mut t);
    RunSpec {
        topology: t,
        workload: WorkloadSpec {
            keys: 12,
            ..WorkloadSpec::default()
        },
        seed: 3,
        cycles,
        crashes: vec![],
    }
}

fn run_inproc(spec: &RunSpec, history: &TempFile) -> Report {
    let out = std::fs::File::create(&history.0).unwrap();
    let opts = InprocOptions {
        history: Some(Box::new(out)),
        // Every frame, as the UDP engine counts them.
        bytes_sample_every: 1,
        ..InprocOptions::default()
    };
    inproc::run(spec, opts).unwrap()
}

fn udp_options(history: &TempFile) -> UdpOptions {
    let mut opts = UdpOptions::new(launcher());
    opts.history = Some(Box::new(std::fs::File::create(&history.0).unwrap()));
    // Generous: only a crash should ever look like one.
    opts.death_timeout = Duration::from_millis(1000);
    opts.startup_timeout = Duration::from_millis(5000);
    opts
}

fn run_udp(spec: &RunSpec, opts: UdpOptions) -> Report {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    udp::run(spec, opts).unwrap()
}

/// Runs `spec` on both engines and requires the same history and figures.
fn assert_engines_agree(spec: &RunSpec, name: &str) -> Report {
    let udp = assert_engines_agree_with(spec, name, |_| {});
    assert_eq!(udp.dropped_frames(), 0, "{name}");
    udp
}

/// [`assert_engines_agree`] with the UDP options changed by `tweak`; returns
/// the UDP engine's report.
fn assert_engines_agree_with(spec: &RunSpec, name: &str, tweak: impl FnOnce(&mut UdpOptions)) -> Report {
    let (a, b) = (
        TempFile::new(&format!("{name}-inproc")),
        TempFile::new(&format!("{name}-udp")),
    );
    let inproc = run_inproc(spec, &a);
    let mut opts = udp_options(&b);
    tweak(&mut opts);
    let udp = run_udp(spec, opts);
    assert!(
        udp.suspected().is_empty(),
        "{name}: false suspicion {:?}",
        udp.suspected()
    );
    assert_eq!(udp.crashes, inproc.crashes, "{name}: crashes applied");
    assert_eq!(udp.stats, inproc.stats, "{name}: operation statistics");
    assert!(a.read() == b.read(), "{name}: the engines wrote different histories");
    // The same frames, so the same sizes; but a link into a crashed node
    // carries one frame more in UDP (sent before the silence is noticed).
    for ((name_u, bu), (name_i, bi)) in udp.links.iter().zip(&inproc.links) {
        assert_eq!(name_u, name_i);
        if let (Some(mu), Some(mi)) = (bu.mean(), bi.mean()) {
            if bu.frames == bi.frames {
                assert!((mu - mi).abs() <= 0.01 * mi, "{name}: {name_u} {mu} vs {mi}");
            } else {
                assert_eq!(bu.frames, bi.frames + 1, "{name}: {name_u} frames");
                assert!(bu.bytes >= bi.bytes, "{name}: {name_u} bytes");
            }
        }
    }
    udp
}

#[test]
fn udp_and_inproc_engines_write_the_same_history() {
    // Seed protocol: the FE's random replica choices, replica updates.
    let s = spec(Kind::Replicated, 3, 600, |t| {
        t.shards = 2;
        t.protocol = Protocol::Seed
    });
    assert_engines_agree(&s, "replicated-seed");
    // An FE tree and the single server.
    assert_engines_agree(&spec(Kind::Sharded, 3, 400, |t| t.levels = 2), "sharded-levels");
    // Another workload: think time, zipf keys, larger values, three kinds.
    let mut s = spec(Kind::Single, 2, 400, |_| {});
    s.workload = WorkloadSpec {
        keys: 50,
        write_ratio: 0.7,
        ops: vec![OpKind::Get, OpKind::Put, OpKind::Modify],
        distribution: Distribution::Zipf(0.9),
        value_bytes: 64,
        think_cycles: 3,
    };
    assert_engines_agree(&s, "single-zipf-think");
}

#[test]
fn udp_and_inproc_engines_agree_through_crashes() {
    // A node parks at its crash cycle before it is killed, so the crash
    // cycle is exact and the histories still match.
    let mut s = spec(Kind::Replicated, 3, 800, |t| {
        t.shards = 2;
        t.protocol = Protocol::Owner
    });
    s.crashes = vec![CrashAt::parse("r0.1@150").unwrap(), CrashAt::parse("r1.0@151").unwrap()];
    assert_engines_agree(&s, "owner-crashes");
    let mut s = spec(Kind::Sharded, 2, 500, |t| t.shards = 2);
    s.crashes = vec![CrashAt::parse("s0@100").unwrap(), CrashAt::parse("fe@300").unwrap()];
    assert_engines_agree(&s, "sharded-crashes");
}

/// Chain replication on both engines: the head, a middle replica and the
/// tail crash (`--crash`, exact cycles): the same history byte for byte;
/// and `--kill` of each of them (a real SIGKILL mid-send) leaves a
/// linearizable history with no stale read.
#[test]
fn chain_on_udp_through_crashes_and_kills_of_head_middle_and_tail() {
    let chain = |cycles| {
        spec(Kind::Replicated, 3, cycles, |t| {
            t.shards = 1;
            t.protocol = Protocol::Chain
        })
    };
    let mut s = chain(900);
    s.crashes = vec![CrashAt::parse("r0.1@200").unwrap(), CrashAt::parse("r0.0@500").unwrap()];
    assert_engines_agree(&s, "chain-crashes");
    for victim in ["r0.0", "r0.1", "r0.2"] {
        let s = chain(1200);
        let file = TempFile::new(&format!("chain-kill-{victim}.jsonl"));
        let mut opts = udp_options(&file);
        opts.kills = vec![CrashAt::parse(&format!("{victim}@300")).unwrap()];
        let report = run_udp(&s, opts);
        assert!(report.suspected().is_empty(), "{victim}: {:?}", report.suspected());
        assert!(!death_cycles(&report, victim).is_empty(), "{victim}: its death is seen");
        let history = file.history();
        assert_eq!(report.stats.unavailable, 0, "{victim}");
        tidekv_checks::linearizable(&history).unwrap_or_else(|e| panic!("{victim}: {e}"));
        tidekv_checks::no_stale_reads(&history).unwrap_or_else(|e| panic!("{victim}: {e}"));
    }
}

/// The cycles from which `node`'s neighbours read it as dead.
fn death_cycles(report: &Report, node: &str) -> Vec<u32> {
    report
        .deaths
        .iter()
        .filter(|d| d.dead == node)
        .map(|d| d.cycle)
        .collect()
}

#[test]
fn replicated_3x3_a_replica_process_killed_mid_run_loses_nothing() {
    // Owner: a replica also has links to its peers, so the kill lands
    // between sends.
    let s = spec(Kind::Replicated, 4, 1500, |t| {
        t.shards = 3;
        t.protocol = Protocol::Owner
    });
    let file = TempFile::new("kill.jsonl");
    let mut opts = udp_options(&file);
    // No warning: the process computes cycle 300, sends half its frames and
    // SIGKILLs itself.
    opts.kills = vec![CrashAt::parse("r1.1@300").unwrap()];
    let report = run_udp(&s, opts);
    assert_eq!(
        report.kills,
        vec![CrashAt::parse("r1.1@300").unwrap()],
        "the kill is exact"
    );
    let seen = death_cycles(&report, "r1.1");
    // Its neighbours (the FE and the two other replicas of shard 1) read it
    // as dead from 301 (no frame computed in 300) or 302 (they got it).
    assert_eq!(seen.len(), 3, "{:?}", report.deaths);
    assert!(seen.iter().all(|c| (301..=302).contains(c)), "{seen:?}");
    assert!(seen.contains(&301) && seen.contains(&302), "mid-send: {seen:?}");
    assert!(report.suspected().is_empty(), "{:?}", report.suspected());
    assert!(report.unexpected.is_empty(), "a --kill is not unexpected");
    let history = file.history();
    assert_eq!(history.ops.len() as u64, report.stats.invoked);
    assert!(report.stats.completed() > 1000);
    assert_eq!(report.stats.unavailable, 0);
    tidekv_checks::linearizable(&history).unwrap();
    tidekv_checks::no_stale_reads(&history).unwrap();
}

#[test]
fn garbage_and_strangers_datagrams_are_dropped_counted_and_change_nothing() {
    let s = spec(Kind::Replicated, 2, 300, |_| {});
    let (a, b) = (TempFile::new("garbage-inproc"), TempFile::new("garbage-udp"));
    run_inproc(&s, &a);
    let mut opts = udp_options(&b);
    const TARGETS: [&str; 3] = ["fe", "c1", "r0.2"];
    opts.before_go = Some(Box::new(|cfg, _| {
        // Every node is bound and waits for go: these arrive first.
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        for target in TARGETS {
            let to = cfg.addrs[cfg.topo.node_by_name(target).unwrap()];
            let mut valid = Vec::new();
            encode(
                &mut valid,
                Header { from: 0, cycle: 1 },
                &Frame::<tidekv::runtime::Value>::Up(vec![None].into()),
            )
            .unwrap();
            let mut wrong_version = valid.clone();
            wrong_version[0] = WIRE_VERSION + 1;
            let mut short = valid.clone();
            short.truncate(3);
            let mut garbage = vec![WIRE_VERSION];
            garbage.extend_from_slice(b"garbage that is not a frame");
            for datagram in [&garbage[..], &wrong_version, &short, &valid] {
                stranger.send_to(datagram, to).unwrap();
            }
        }
    }));
    let report = run_udp(&s, opts);
    assert_eq!(
        report.dropped_frames(),
        4 * TARGETS.len() as u64,
        "{:?}",
        report.dropped
    );
    // The header is read first (garbled, version), then the source address.
    let n = TARGETS.len() as u64;
    assert_eq!(report.dropped["unknown-address"], 2 * n);
    assert_eq!(report.dropped["version"], n);
    assert_eq!(report.dropped["garbled"], n);
    assert!(a.read() == b.read(), "the nodes kept going as if nothing happened");
}

#[test]
fn a_bad_cluster_file_is_a_usage_error() {
    let file = TempFile::new("bad-cluster.toml");
    std::fs::write(&file.0, "version = 1\n[run]\ntopology = \"ring\"\n").unwrap();
    assert_eq!(udp::node_main(&file.0, "c0"), 2);
    assert_eq!(udp::node_main(Path::new("/nonexistent/cluster.toml"), "c0"), 2);
}

/// Issue 16, class 1: a lost datagram used to hang the cluster for good (the
/// sender only resent its latest frame, one cycle past the lost one).
#[test]
fn lost_frames_are_repaired_and_the_history_does_not_change() {
    // The cluster, 5% of all datagrams dropped at random.
    let s = spec(Kind::Replicated, 2, 2500, |t| t.replicas = 2);
    let r = assert_engines_agree_with(&s, "drop-r2", |o| o.drop_rate = 0.05);
    assert!(r.injected_drops > 50, "{} dropped", r.injected_drops);
    assert!(r.resent_frames > 0);
    // Other sizes and a protocol with peer links, through crashes (a parked
    // node still answers for the frames it sent before its crash), 3%.
    let mut s = spec(Kind::Replicated, 3, 1200, |t| {
        t.shards = 2;
        t.protocol = Protocol::Owner
    });
    s.seed = 11;
    s.crashes = vec![CrashAt::parse("r0.1@150").unwrap(), CrashAt::parse("r1.0@151").unwrap()];
    let r = assert_engines_agree_with(&s, "drop-owner-crashes", |o| o.drop_rate = 0.03);
    assert!(r.injected_drops > 0);
    // An FE tree, 10%.
    let s = spec(Kind::Sharded, 3, 800, |t| t.levels = 2);
    assert_engines_agree_with(&s, "drop-levels", |o| o.drop_rate = 0.1);
}

/// Sends `count` small garbage datagrams from a stranger's socket to `to`.
fn flood(to: std::net::SocketAddr, count: usize) {
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..count {
        // The kernel may refuse some when its buffers are full; that is fine.
        let _ = stranger.send_to(&[WIRE_VERSION, (i % 251) as u8, 0, 0, 0, 0, 0, 1], to);
    }
}

/// Issue 16, class 1: 30,000 datagrams at one node overflow its receive
/// buffer, which then drops real frames too; the cluster must not hang.
#[test]
fn a_flood_of_datagrams_at_one_node_mid_run_is_survived() {
    let s = spec(Kind::Replicated, 2, 4000, |t| t.replicas = 2);
    let r = assert_engines_agree_with(&s, "flood", |o| {
        o.before_go = Some(Box::new(|cfg, _| {
            let at = |name: &str| cfg.addrs[cfg.topo.node_by_name(name).unwrap()];
            let (fe, r1) = (at("fe"), at("r0.1"));
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(40));
                flood(fe, 30_000);
                std::thread::sleep(Duration::from_millis(40));
                flood(r1, 30_000);
            });
        }));
    });
    // Only the datagrams that got into a node's buffer are counted.
    assert!(
        r.dropped.get("unknown-address").is_some_and(|&n| n > 0),
        "{:?}",
        r.dropped
    );
}

/// Same as [`assert_engines_agree_with`]'s checks that do not depend on the
/// exact cycle of a death: the run completed and its history checks.
fn assert_survives(report: &Report, file: &TempFile) -> History<u64> {
    let history = file.history();
    assert_eq!(history.ops.len() as u64, report.stats.invoked);
    tidekv_checks::linearizable(&history).unwrap();
    tidekv_checks::no_stale_reads(&history).unwrap();
    history
}

/// SIGKILLs node `victim` by hand `after` the run starts.
fn kill_by_hand(victim: &'static str, after: Duration) -> tidekv::runtime::udp::supervisor::BeforeGo {
    Box::new(move |cfg, pids| {
        let pid = pids[cfg.topo.node_by_name(victim).unwrap()];
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let status = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
            assert!(status.success());
        });
    })
}

/// Issue 16, class 2: a death nobody scheduled used to abort the run with an
/// empty history.
#[test]
fn a_node_killed_by_hand_is_a_crash_and_the_run_completes() {
    // One replica of two: within the failure budget, nothing is lost.
    let s = spec(Kind::Replicated, 2, 20_000, |t| t.replicas = 2);
    let (report, file, death) = run_killing_by_hand(&s, "r0.1", Duration::from_millis(60), |_| {});
    // Every neighbour saw it, within a cycle of each other (mid-send).
    let topo = s.build().unwrap();
    let neighbours = topo.nodes[topo.node_by_name("r0.1").unwrap()].outputs.len();
    let seen = death_cycles(&report, "r0.1");
    assert_eq!(seen.len(), neighbours, "{:?}", report.deaths);
    assert!(seen.iter().all(|c| c.abs_diff(death) <= 1), "{seen:?}");
    assert_eq!(report.stats.unavailable, 0);
    assert_survives(&report, &file);
    // The FE of a sharded cluster, under loss: clients are told the cluster
    // is unavailable from then on, and the run still completes.
    let s = spec(Kind::Sharded, 3, 8000, |t| t.shards = 2);
    let (report, file, _) = run_killing_by_hand(&s, "fe", Duration::from_millis(60), |o| o.drop_rate = 0.02);
    assert!(report.stats.unavailable > 0);
    assert_survives(&report, &file);
}

/// Runs `s` on UDP (options changed by `tweak`) with `victim` SIGKILLed by
/// hand `after` the start; requires that the run completes, sees that death
/// mid-run and no other, and suspects nobody. Returns the report, the
/// history file and the cycle of the death.
fn run_killing_by_hand(
    s: &RunSpec,
    victim: &'static str,
    after: Duration,
    tweak: impl FnOnce(&mut UdpOptions),
) -> (Report, TempFile, u32) {
    let file = TempFile::new(&format!("hand-{victim}.jsonl"));
    let mut opts = udp_options(&file);
    tweak(&mut opts);
    opts.before_go = Some(kill_by_hand(victim, after));
    let report = run_udp(s, opts);
    let dead: Vec<&str> = report.unexpected.iter().map(|c| c.node.as_str()).collect();
    assert_eq!(dead, [victim], "{:?}", report.unexpected);
    let death = report.unexpected[0].cycle;
    assert!(death > 0 && death < s.cycles, "mid-run: {death}");
    assert!(report.suspected().is_empty(), "{:?}", report.suspected());
    (report, file, death)
}

/// The run directories of supervisor process `pid`.
fn run_dirs_of(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("tidekv-run-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Starts this binary as a supervisor (writing its history to `history`, if
/// given); returns it once its cluster runs.
fn start_supervisor(history: Option<&TempFile>) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "supervisor_process_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ENV_SUPERVISE, "1")
    .stdout(std::process::Stdio::null());
    if let Some(h) = history {
        cmd.env(ENV_HISTORY, &h.0);
    }
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !run_dirs_of(child.id()).iter().any(|d| d.join("c0.ops.jsonl").exists()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the supervisor did not start its cluster"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child
}

/// Issue 16, "also": a supervisor stopped by SIGTERM used to leave its run
/// directory behind, and one killed outright still does: the next run
/// removes it. Issue 16, an early end: one stopped by SIGTERM or SIGINT used
/// to leave an empty history; it writes what its clients logged, which
/// verifies.
#[test]
fn a_terminated_supervisor_cleans_up_and_a_killed_ones_directory_is_swept() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    for sig in ["-TERM", "-INT"] {
        let file = TempFile::new(&format!("terminated{sig}.jsonl"));
        let mut sup = start_supervisor(Some(&file));
        let pid = sup.id();
        assert!(Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
        let status = sup.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{sig}: {status}");
        assert!(run_dirs_of(pid).is_empty(), "{sig}: {:?} left", run_dirs_of(pid));
        let history = file.history();
        assert!(history.ops.len() > 10, "{sig}: {} operations", history.ops.len());
        assert_cut_history_verifies(&history, 2);
    }
    let mut sup = start_supervisor(None);
    let pid = sup.id();
    sup.kill().unwrap();
    sup.wait().unwrap();
    assert_eq!(run_dirs_of(pid).len(), 1, "SIGKILL leaves the directory");
    // Its nodes see their stdin close and exit; the next run sweeps.
    let file = TempFile::new("after-kill.jsonl");
    udp::run(&spec(Kind::Single, 1, 50, |_| {}), udp_options(&file)).unwrap();
    assert!(run_dirs_of(pid).is_empty(), "{:?} left", run_dirs_of(pid));
}

#[test]
fn drop_rate_and_kill_flags_are_checked() {
    use tidekv_model::cli::run::{self as run_cmd, RunArgs};
    let args = |line: &str| RunArgs::try_parse_flags(line.split_whitespace()).unwrap();
    for line in [
        "--drop-rate 0.01",
        "--transport udp --drop-rate 0.6",
        "--transport udp --drop-rate=-0.1",
        "--transport udp --drop-rate NaN",
    ] {
        assert!(args(line).to_spec().is_err(), "{line} should be refused");
        assert_eq!(run_cmd::run_main(args(line)), 2, "{line}");
    }
    // Checked with the cluster file, before any process starts.
    for line in [
        "--transport udp --kill c0@5",
        "--transport udp --kill fe@5 --crash fe@7",
    ] {
        assert!(args(line).to_spec().is_ok(), "{line}");
        assert_eq!(run_cmd::run_main(args(line)), 2, "{line}");
    }
}

/// [`launcher`], except that node `victim` runs `sh -c script` instead.
fn launcher_replacing(victim: &'static str, script: &'static str) -> Launcher {
    let inner = launcher();
    Box::new(move |config, id| {
        if id == victim {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        } else {
            inner(config, id)
        }
    })
}

/// Issue 16, class 2, another timing: a node killed before it is even ready
/// is a crash before cycle 0; one that cannot start (exits with a code) still
/// fails the run, with its reason.
#[test]
fn a_node_killed_before_it_is_ready_is_a_crash_too() {
    let s = spec(Kind::Replicated, 2, 1500, |t| t.replicas = 2);
    let file = TempFile::new("dead-at-start.jsonl");
    let mut opts = udp_options(&file);
    opts.startup_timeout = Duration::from_millis(1000);
    opts.launcher = launcher_replacing("r0.0", "kill -9 $$");
    let report = run_udp(&s, opts);
    assert_eq!(report.unexpected, vec![CrashAt::parse("r0.0@1").unwrap()]);
    assert_eq!(report.stats.unavailable, 0);
    assert!(report.suspected().is_empty(), "{:?}", report.suspected());
    assert!(assert_survives(&report, &file).ops.len() > 300);
    let mut opts = udp_options(&file);
    opts.launcher = launcher_replacing("r0.0", "echo cannot start >&2; exit 1");
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let e = udp::run(&s, opts).unwrap_err().to_string();
    assert!(
        e.contains("node r0.0 exited before it was ready (exit status: 1)"),
        "{e}"
    );
}

/// What `tidekv verify` requires for exit 0: its linearizability search
/// (Wing & Gong, with its default bound and no time limit) decides
/// `linearizable` holds, and `no-lost-writes` holds.
fn assert_verifies(history: &History<u64>) {
    let bound = tidekv_checks::wgl::Bound {
        configs: tidekv_checks::wgl::CONFIGS_MAX,
        deadline: None,
    };
    if let Err(e) = tidekv_checks::wgl::linearizability_bounded(history, bound) {
        panic!("linearizable does not hold: {e:?}");
    }
    tidekv_checks::no_stale_reads(history).unwrap();
}

/// A client's operations in `history`.
fn ops_of(history: &History<u64>, client: u16) -> Vec<&OpRecord<u64>> {
    history.ops.iter().filter(|o| o.client == client).collect()
}

/// A history cut while `clients` closed-loop clients ran: each client's
/// operations all returned but its last, pending (its invocation was logged
/// before its request was sent; its return never came), and it verifies.
fn assert_cut_history_verifies(history: &History<u64>, clients: u16) {
    for c in 0..clients {
        last_pending(history, c);
    }
    assert_verifies(history);
}

/// Client `c`'s last operation in `history`, which must be pending, its
/// earlier ones all returned.
fn last_pending(history: &History<u64>, c: u16) -> &OpRecord<u64> {
    let ops = ops_of(history, c);
    let (last, earlier) = ops.split_last().unwrap_or_else(|| panic!("c{c} has no operation"));
    assert!(last.ret.is_none(), "c{c}'s last operation is pending: {last:?}");
    assert!(
        earlier.iter().all(|o| o.ret.is_some()),
        "c{c}: only the last is pending"
    );
    last
}

/// Issue 16: a client process killed by hand used to end the run at once,
/// exit 1 and no history. It is a client that stops sending: the run
/// completes, reports it, and the history holds its operations up to its
/// death, the last one pending.
#[test]
fn a_client_killed_by_hand_leaves_its_operations_in_the_history_the_last_pending() {
    let s = spec(Kind::Replicated, 3, 20_000, |t| t.replicas = 2);
    let (report, file, death) = run_killing_by_hand(&s, "c1", Duration::from_millis(200), |_| {});
    // Its FE, its only neighbour, read it as dead.
    assert_eq!(death_cycles(&report, "c1"), [death], "{:?}", report.deaths);
    assert!(
        report.warnings.iter().any(|w| w.starts_with("client c1 died untold")),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.stats.unavailable, 0);
    assert_eq!(report.stats.pending, 1 + 2, "c1's last, and c0's and c2's at the end");
    let history = assert_survives(&report, &file);
    let last = last_pending(&history, 1);
    assert!(
        last.invoke < death,
        "invoked {} before the FE read it dead at {death}",
        last.invoke
    );
    // The others went on to the end.
    for c in [0, 2] {
        let end = ops_of(&history, c).iter().map(|o| o.invoke).max().unwrap();
        assert!(end + 10 >= s.cycles, "c{c} stopped at {end}");
    }
    assert_verifies(&history);
}

/// Issue 16: a hung cluster (here: every node SIGSTOPped) used to end the
/// run after 60 s with exit 1 and an empty history. After the silence
/// timeout every node is stopped, the history so far is written, exit 1.
#[test]
fn a_hung_cluster_ends_the_run_with_exit_1_and_a_history_that_verifies() {
    // Far more cycles than the test lasts.
    let s = spec(Kind::Replicated, 2, 50_000_000, |t| t.replicas = 2);
    let file = TempFile::new("hung.jsonl");
    let mut opts = udp_options(&file);
    opts.silence_timeout = Duration::from_millis(1500);
    opts.before_go = Some(Box::new(|_, pids| {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let status = Command::new("kill").arg("-STOP").args(&pids).status().unwrap();
            assert!(status.success());
        });
    }));
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let e = udp::run(&s, opts).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let history = file.history();
    assert!(history.ops.len() > 10, "{} operations", history.ops.len());
    assert_cut_history_verifies(&history, 2);
    let msg = e.to_string();
    for said in [
        "no node reported for 1.5s",
        "waiting for: c0 stopped for",
        "the cluster hung; the run ended early: every node was stopped, and the history holds what the clients logged",
        "2 of them without a return (pending: of unknown outcome)",
    ] {
        assert!(msg.contains(said), "{said:?} in {msg}");
    }
}

/// `--slots 2 --queue 4` over UDP: K-slot frames between the root FE and
/// the servers (decoded back into the FE's frame of one slot per client),
/// the same history byte for byte as the in-process engine, the same busy
/// answers and queue depths (the root FE's process reports them), and the
/// history passes the checks.
#[test]
fn udp_and_inproc_agree_with_slots() {
    let s = spec(Kind::Replicated, 16, 300, |t| {
        t.shards = 2;
        t.slots = 2;
        t.queue = 4;
    });
    let a = TempFile::new("slots-history");
    let inproc = run_inproc(&s, &a);
    let udp = assert_engines_agree(&s, "slots");
    assert!(udp.stats.busy > 0, "16 clients > K + Q per shard: busy answers");
    assert_eq!(udp.queues, inproc.queues, "queue depth per shard");
    assert_eq!(udp.queues.as_ref().unwrap().max, vec![2, 2]);
    assert_eq!(udp.fe_server_bytes(), inproc.fe_server_bytes());
    let history = a.history();
    tidekv_checks::linearizable(&history).unwrap();
    tidekv_checks::no_stale_reads(&history).unwrap();
    assert!(!history.ops.iter().any(|o| o
        .ret
        .as_ref()
        .is_some_and(|r| r.result == tidekv::node::OpResult::Unavailable)));
}

/// Crash-recovery (issue 19): R = 3 replicas of one shard, get/put only
/// (so that a lost write shows as a read that misses it).
fn recovery_spec(persist: tidekv::node::recovery::Persist, cycles: u32, crashes: &[&str]) -> RunSpec {
    let mut s = spec(Kind::Replicated, 4, cycles, |t| {
        t.recovery = Some(tidekv::node::recovery::RecoveryConfig {
            persist,
            transfer_keys: 2,
            keys_max: 12,
        })
    });
    s.workload.ops = vec![OpKind::Get, OpKind::Put];
    s.crashes = crashes.iter().map(|c| CrashAt::parse(c).unwrap()).collect();
    s
}

fn at_all(list: &[&str]) -> Vec<CrashAt> {
    list.iter().map(|c| CrashAt::parse(c).unwrap()).collect()
}

/// `--respawn`: the replicas of the shard are SIGKILLed one after another
/// (`--kill`, three deaths: more than R − 1 = 2, never more than one down),
/// each respawned at its `--restart`; the run keeps serving (nothing
/// unavailable), every restarted replica serves again, and the history is
/// linearizable with no lost write. Then one replica killed by hand from
/// outside, with a restart scheduled: respawned too.
#[test]
fn replicas_killed_one_after_another_are_respawned_and_the_run_keeps_serving() {
    use tidekv::node::recovery::Persist;
    for persist in [Persist::None, Persist::Sync] {
        let s = recovery_spec(persist, 1500, &[]);
        let file = TempFile::new(&format!("respawn-{}.jsonl", persist.name()));
        let mut opts = udp_options(&file);
        opts.kills = at_all(&["r0.0@200", "r0.1@500", "r0.2@800"]);
        opts.restarts = at_all(&["r0.0@300", "r0.1@600", "r0.2@900"]);
        opts.respawn = true;
        let report = run_udp(&s, opts);
        assert_eq!(report.kills.len(), 3, "{persist:?}");
        assert_eq!(report.restarts.len(), 3, "{persist:?}: {:?}", report.restarts);
        for r in &report.restarts {
            // Serving within the model's bound, 3 + ceil(12 / 2) cycles.
            let s = r.serving.unwrap_or_else(|| panic!("{} never served again", r.node));
            assert!(s - r.cycle <= 9, "{}: {} cycles", r.node, s - r.cycle);
        }
        assert_eq!(report.stats.unavailable, 0, "{persist:?}");
        assert!(report.suspected().is_empty(), "{:?}", report.suspected());
        assert_eq!(report.commits > 0, persist == Persist::Sync);
        assert_survives(&report, &file);
    }
    // From outside: r0.1 SIGKILLed by hand about 60 ms in, restarted at 6000.
    let s = recovery_spec(Persist::Sync, 9000, &[]);
    let file = TempFile::new("respawn-hand.jsonl");
    let mut opts = udp_options(&file);
    opts.restarts = at_all(&["r0.1@6000"]);
    opts.respawn = true;
    opts.before_go = Some(kill_by_hand("r0.1", Duration::from_millis(60)));
    let report = run_udp(&s, opts);
    assert_eq!(report.unexpected.len(), 1, "{:?}", report.unexpected);
    assert!(report.unexpected[0].cycle < 6000, "{:?}", report.unexpected);
    assert_eq!(report.restarts.len(), 1);
    assert!(report.restarts[0].serving.is_some(), "{:?}", report.restarts);
    assert_eq!(report.stats.unavailable, 0);
    assert_survives(&report, &file);
}

/// `--persist sync`: every replica of the shard dies (parked crashes, or
/// SIGKILLs mid-send), all respawn and read their redb stores back: no
/// acknowledged write is lost. The crash run's history is byte for byte the
/// in-process engine's (the same restarts, the same durable images). With
/// `--persist none` the same run loses acknowledged writes: the check that
/// holds for `sync` catches it (the class is real).
#[test]
fn with_sync_a_whole_shard_killed_and_respawned_loses_no_acknowledged_write() {
    use tidekv::node::recovery::Persist;
    let restarts = ["r0.0@320", "r0.1@320", "r0.2@320"];
    // Parked crashes: the engines agree exactly.
    let s = recovery_spec(Persist::Sync, 1200, &["r0.0@200", "r0.1@260", "r0.2@300"]);
    let (a, b) = (TempFile::new("shard-inproc.jsonl"), TempFile::new("shard-udp.jsonl"));
    let inproc = inproc::run(
        &s,
        InprocOptions {
            history: Some(Box::new(std::fs::File::create(&a.0).unwrap())),
            restarts: at_all(&restarts),
            ..InprocOptions::default()
        },
    )
    .unwrap();
    let mut opts = udp_options(&b);
    opts.restarts = at_all(&restarts);
    opts.respawn = true;
    let udp = run_udp(&s, opts);
    assert_eq!(udp.restarts, inproc.restarts);
    assert_eq!(udp.stats, inproc.stats);
    assert!(a.read() == b.read(), "the engines wrote different histories");
    assert!(inproc.stats.unavailable > 0, "the shard was down");
    tidekv_checks::no_stale_reads(&b.history()).unwrap();
    // SIGKILLs mid-send.
    for persist in [Persist::Sync, Persist::None] {
        let s = recovery_spec(persist, 1200, &[]);
        let file = TempFile::new(&format!("shard-kill-{}.jsonl", persist.name()));
        let mut opts = udp_options(&file);
        opts.kills = at_all(&["r0.0@200", "r0.1@260", "r0.2@300"]);
        opts.restarts = at_all(&restarts);
        opts.respawn = true;
        let report = run_udp(&s, opts);
        assert!(
            report.restarts.iter().all(|r| r.serving.is_some()),
            "{:?}",
            report.restarts
        );
        let history = file.history();
        match persist {
            Persist::Sync => tidekv_checks::no_stale_reads(&history).unwrap(),
            _ => {
                let e = tidekv_checks::no_stale_reads(&history).unwrap_err();
                assert!(e.contains("missed an acknowledged write"), "{e}");
            }
        }
    }
}
