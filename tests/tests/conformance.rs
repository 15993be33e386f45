//! The model and the runtime are one system: conformance both ways.
//!
//! - **Model → runtime.** Paths of the checker — every counterexample it
//!   reports, and seeded random walks through the same model — are replayed
//!   on the runtime's stepper (`Cluster<Value, HashStore<Value>>`, on one
//!   thread and on two, through the history sink `tidekv run --history`
//!   uses) with the same choices: the operations started, the replica of
//!   every open FE choice, every crash, atomic or mid-send, every restart
//!   (`--recoveries`; one thread: the split stepper does not restart). The runtime's
//!   history must equal the model's, event for event and cycle for cycle.
//! - **Runtime → model.** Runs of the in-process engine (`inproc::run`, its
//!   workload drivers and random streams, scheduled crashes and restarts
//!   with every persistence mode) are recorded
//!   cycle by cycle; each cycle must be one of the model's actions in the
//!   state the previous cycles led to, the model's history along that path
//!   must equal the runtime's, and the history properties must get the same
//!   verdicts from the runtime's history as from the model's monitor.
//!
//! Node logic never looks at a value except to store and return it, so a
//! renaming of values commutes with every step: runtime values are renamed
//! to the model's small alphabet (injectively) and back.

use stateright::Model;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tidekv::cluster::{Crash, CrashKind, CycleInputs};
use tidekv::history::{read_jsonl, write_jsonl, History};
use tidekv::node::recovery::{Persist, RecoveryConfig};
use tidekv::node::{Op, OpResult, Protocol};
use tidekv::protocol::quorum::QuorumParams;
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::script::{run_script, ScriptedCycle};
use tidekv::runtime::value::Value;
use tidekv::runtime::workload::WorkloadSpec;
use tidekv::runtime::{CrashAt, RunSpec};
use tidekv::topology::{Kind, NodeId};
use tidekv_checks::Property;
use tidekv_model::checker::runner::{check, RunOptions};
use tidekv_model::checker::simulate::{random_action, SplitMix64};
use tidekv_model::checker::suite::{recovery_config, recovery_total_failure};
use tidekv_model::model::{CrashMode, CycleAction, ModelConfig, OpKind, Pick, TideModel};
use tidekv_tests::SharedBuffer;

fn jsonl<V: tidekv::node::Val>(h: &History<V>) -> String {
    let mut out = Vec::new();
    write_jsonl(h, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Every value of `h` through `f`.
fn rename(h: &History<u64>, f: &dyn Fn(u64) -> u64) -> History<u64> {
    let mut out = h.clone();
    for rec in &mut out.ops {
        rec.op = rec.op.map_value(|v| f(*v));
        if let Some(r) = &mut rec.ret {
            r.result = r.result.map_value(|v| f(*v));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Model → runtime

/// The configurations replayed: every topology, every protocol, both crash
/// modes, FE crashes, two FE levels.
fn configs() -> Vec<ModelConfig> {
    let base = |kind: Kind, f: &dyn Fn(&mut ModelConfig)| {
        let mut c = ModelConfig::new(kind);
        c.ops = vec![OpKind::Get, OpKind::Put];
        f(&mut c);
        c.cycles = c.ops_per_client * c.topology.latency().slowest() + 2;
        c
    };
    let replicated = |p: Protocol, f: &dyn Fn(&mut ModelConfig)| {
        base(Kind::Replicated, &|c| {
            c.topology.protocol = p;
            f(c)
        })
    };
    let quorum3 = |params: QuorumParams, crashes: usize| {
        replicated(Protocol::Quorum(params), &|c| {
            c.topology.replicas = 3;
            c.crashes = crashes;
            c.crash_mode = CrashMode::MidSend;
            c.ops_per_client = 1
        })
    };
    vec![
        base(Kind::Single, &|c| c.crashes = 1),
        base(Kind::Single, &|c| c.ops = OpKind::ALL.to_vec()),
        base(Kind::Sharded, &|c| {
            c.keys = 2;
            c.crashes = 1
        }),
        replicated(Protocol::Seed, &|_| {}),
        replicated(Protocol::Seed, &|c| {
            c.crashes = 1;
            c.crash_mode = CrashMode::MidSend;
            c.ops_per_client = 1
        }),
        replicated(Protocol::Owner, &|c| {
            c.crashes = 1;
            c.crash_mode = CrashMode::MidSend;
        }),
        replicated(Protocol::Fanout, &|c| {
            c.topology.replicas = 3;
            c.crashes = 2;
            c.crash_mode = CrashMode::MidSend;
            c.ops_per_client = 1
        }),
        replicated(Protocol::Fanout, &|c| {
            c.crash_fe = true;
            c.crash_mode = CrashMode::MidSend;
            c.ops_per_client = 1
        }),
        replicated(Protocol::Fanout, &|c| {
            c.topology.levels = 2;
            c.crashes = 1;
            c.ops_per_client = 1
        }),
        // Chain: a head, a middle and a tail, any two of which may die
        // mid-send (re-linking); and both replicas of two (lost writes).
        replicated(Protocol::Chain, &|c| {
            c.topology.replicas = 3;
            c.crashes = 2;
            c.crash_mode = CrashMode::MidSend;
            c.ops_per_client = 1
        }),
        replicated(Protocol::Chain, &|c| {
            c.topology.replicas = 2;
            c.crashes = 2;
        }),
        // Quorum with three replicas, one operation per client: majorities
        // and a crash mid-send (a retried write keeps its version); with
        // read repair and anti-entropy (peer links, repairs); W = Q = 1
        // (stale reads).
        quorum3(QuorumParams::DEFAULT, 1),
        quorum3(
            QuorumParams {
                read_repair: true,
                anti_entropy: true,
                ..QuorumParams::DEFAULT
            },
            1,
        ),
        quorum3(
            QuorumParams {
                write: 1,
                read: 1,
                ..QuorumParams::DEFAULT
            },
            0,
        ),
        // Crash-recovery (`--recoveries 2`, the default suite's bounds):
        // one replica down at a time (fanout, chain), both down at once
        // with each persistence mode (lost writes without `sync`), and the
        // total-failure configuration of docs/RECOVERY.md.
        recovery_config(Protocol::Fanout, 1, Persist::None),
        recovery_config(Protocol::Chain, 1, Persist::Async),
        recovery_config(Protocol::Fanout, 2, Persist::None),
        recovery_config(Protocol::Fanout, 2, Persist::Async),
        recovery_total_failure(Persist::Sync),
    ]
}

fn value(v: u8) -> Value {
    Value::new(u64::from(v), 8)
}

fn to_script(actions: &[CycleAction]) -> Vec<ScriptedCycle> {
    actions
        .iter()
        .map(|a| ScriptedCycle {
            ops: a
                .ops
                .iter()
                .map(|o| o.as_ref().map(|o| o.map_value(|v| value(*v))))
                .collect(),
            picks: a.picks.iter().map(|p| (p.fe, p.client, p.replica)).collect(),
            crashes: a.crashes.clone(),
            restarts: a.restarts.clone(),
        })
        .collect()
}

/// The model's history at the end of `actions`, as JSON lines.
fn model_history(m: &TideModel, actions: &[CycleAction]) -> String {
    let traced = TideModel::new(m.config.clone()).unwrap().with_trace();
    let mut s = traced.init_states().pop().unwrap();
    for a in actions {
        s = traced.next_state(&s, a.clone()).expect("a path of the model");
    }
    let h = &s.trace.as_ref().unwrap().history;
    let as_ids: History<u64> = read_jsonl(jsonl(h).as_bytes()).unwrap();
    jsonl(&as_ids)
}

/// The runtime's history of the same choices, on `threads` threads.
fn runtime_history(m: &TideModel, actions: &[CycleAction], threads: usize) -> Result<String, String> {
    let out = SharedBuffer::default();
    run_script(&m.topo, &to_script(actions), threads, Box::new(out.clone()))?;
    Ok(out.text())
}

fn assert_conforms(m: &TideModel, actions: &[CycleAction], what: &str) {
    let model = model_history(m, actions);
    let restarts = actions.iter().any(|a| !a.restarts.is_empty());
    if restarts {
        let e = runtime_history(m, actions, 2).unwrap_err();
        assert!(e.contains("one thread only"), "{what}: {e}");
    }
    for threads in if restarts { &[1][..] } else { &[1, 2][..] } {
        let threads = *threads;
        let runtime = runtime_history(m, actions, threads).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            runtime, model,
            "{what}, {threads} thread(s): the runtime's history differs from the model's"
        );
    }
}

/// Every counterexample the checker reports replays on the runtime with the
/// same history: the refuted claims fail the same way on the real engine.
#[test]
fn counterexamples_replay_on_the_runtime() {
    let opts = RunOptions {
        threads: 1,
        bfs: false,
        symmetry: tidekv_model::model::Reduction::NONE,
        progress: false,
    };
    let mut replayed = 0;
    let mut restarted = 0;
    for c in configs() {
        let report = check(&c, &opts).unwrap();
        let m = TideModel::new(c.clone()).unwrap();
        for cex in &report.counterexamples {
            assert!(!cex.actions.is_empty());
            assert_conforms(&m, &cex.actions, &format!("{}: {}", c.label(), cex.property));
            replayed += 1;
            restarted += cex.actions.iter().map(|a| a.restarts.len()).sum::<usize>();
        }
    }
    // seed: linearizable, converged (and more with crashes); owner mid-send:
    // F3; single and sharded with a crash: available, no-lost-writes.
    assert!(
        replayed >= 8,
        "only {replayed} counterexamples: the test would prove little"
    );
    // Recovery: `none` loses a write to a restarted, empty replica.
    assert!(
        restarted >= 1,
        "the counterexamples restarted only {restarted} replicas"
    );
}

/// Seeded random walks through the model, every topology and failure mode,
/// replay on the runtime with the same history.
#[test]
fn random_model_paths_replay_on_the_runtime() {
    let walks = std::env::var("CONFORMANCE_WALKS").map_or(40, |s| s.parse().unwrap());
    let mut crashes = 0;
    let mut restarts = 0;
    for (n, c) in configs().into_iter().enumerate() {
        let m = TideModel::new(c.clone()).unwrap();
        for w in 0..walks {
            let mut rng = SplitMix64::new(1000 * n as u64 + w);
            let mut s = m.init_states().pop().unwrap();
            let mut actions = Vec::new();
            while s.cluster.cycle < c.cycles {
                let a = random_action(&m, &s, &mut rng);
                crashes += a.crashes.len();
                restarts += a.restarts.len();
                s = m.next_state(&s, a.clone()).unwrap();
                actions.push(a);
            }
            assert_conforms(&m, &actions, &format!("{} walk {w}", c.label()));
        }
    }
    assert!(crashes > 20, "the walks crashed only {crashes} nodes");
    assert!(restarts > 20, "the walks restarted only {restarts} nodes");
}

/// The comparison is not vacuous: another replica choice, a crash left out,
/// or a mid-send crash that delivers another subset changes the runtime's
/// history, and the test above would see it.
#[test]
fn a_perturbed_path_gives_another_history() {
    let opts = RunOptions {
        threads: 1,
        bfs: false,
        symmetry: tidekv_model::model::Reduction::NONE,
        progress: false,
    };
    let c = &configs()[3]; // seed R=2: the race
    let m = TideModel::new(c.clone()).unwrap();
    let report = check(c, &opts).unwrap();
    let cex = &report.counterexamples[0];
    let model = model_history(&m, &cex.actions);
    // Send one of the racing writes to the other replica.
    let mut changed = false;
    let mut other = cex.actions.clone();
    for a in &mut other {
        if let Some(p) = a.picks.first_mut() {
            *p = Pick {
                replica: 1 - p.replica,
                server: m.topo.server(0, 1 - p.replica),
                ..*p
            };
            changed = true;
            break;
        }
    }
    assert!(changed, "the race has an open choice");
    let h = runtime_history(&m, &other, 1).unwrap();
    assert_ne!(h, model, "another replica choice, another history");

    // A dropped crash: the owner counterexample (F3) needs its mid-send crash.
    let c = &configs()[5];
    let m = TideModel::new(c.clone()).unwrap();
    let report = check(c, &opts).unwrap();
    let cex = report
        .counterexamples
        .iter()
        .find(|x| x.actions.iter().any(|a| !a.crashes.is_empty()))
        .expect("owner under mid-send crashes has a counterexample with a crash");
    let model = model_history(&m, &cex.actions);
    let mut no_crash = cex.actions.clone();
    for a in &mut no_crash {
        a.crashes.clear();
    }
    match runtime_history(&m, &no_crash, 1) {
        Ok(h) => assert_ne!(h, model, "no crash, another history"),
        Err(e) => assert!(e.contains("asks") || e.contains("busy"), "{e}"),
    }
    let mut other_mask = cex.actions.clone();
    for a in &mut other_mask {
        for cr in &mut a.crashes {
            cr.kind = match cr.kind {
                CrashKind::MidSend(_) => CrashKind::Atomic,
                CrashKind::Atomic => CrashKind::MidSend(1),
            };
        }
    }
    match runtime_history(&m, &other_mask, 1) {
        Ok(h) => assert_ne!(h, model, "another crash, another history"),
        Err(e) => assert!(e.contains("asks") || e.contains("busy"), "{e}"),
    }
}

// ---------------------------------------------------------------------------
// Runtime → model

struct Recorded {
    cycles: Vec<(u32, CycleInputs<Value>, Vec<(NodeId, usize, usize)>)>,
    history: History<u64>,
}

fn record(spec: &RunSpec, restarts: &[CrashAt]) -> Recorded {
    let cycles = Arc::new(Mutex::new(Vec::new()));
    let sink = cycles.clone();
    let out = SharedBuffer::default();
    inproc::run(
        spec,
        InprocOptions {
            history: Some(Box::new(out.clone())),
            recorder: Some(Box::new(
                move |cycle, inputs: &CycleInputs<Value>, picks: &[(NodeId, usize, usize)]| {
                    sink.lock().unwrap().push((cycle, inputs.clone(), picks.to_vec()));
                },
            )),
            restarts: restarts.to_vec(),
            ..InprocOptions::default()
        },
    )
    .unwrap();
    let cycles = std::mem::take(&mut *cycles.lock().unwrap());
    Recorded {
        cycles,
        history: read_jsonl(out.text().as_bytes()).unwrap(),
    }
}

/// The runs recorded: every topology and protocol, crashes within R−1 per
/// shard and beyond it (every replica of a shard, the single server).
fn runs() -> Vec<(RunSpec, usize)> {
    let spec = |kind: Kind, f: &dyn Fn(&mut RunSpec)| {
        let mut s = RunSpec {
            topology: tidekv::topology::TopologyConfig::new(kind, 2),
            workload: WorkloadSpec {
                keys: 2,
                ..WorkloadSpec::default()
            },
            seed: 0,
            cycles: 16,
            crashes: vec![],
        };
        f(&mut s);
        s
    };
    let crash = |node: &str, cycle| CrashAt {
        node: node.into(),
        cycle,
    };
    let mut out = Vec::new();
    for seed in 0..6 {
        out.push((
            spec(Kind::Single, &|s| {
                s.seed = seed;
                s.crashes = if seed % 2 == 0 {
                    vec![crash("server", 3 + seed as u32)]
                } else {
                    vec![]
                };
            }),
            (seed % 2 == 0) as usize,
        ));
        out.push((
            spec(Kind::Sharded, &|s| {
                s.seed = seed;
                s.crashes = vec![crash("s1", 2 + seed as u32)];
            }),
            1,
        ));
        // Bounded frames (`--slots 1 --queue 2`), three clients: the root
        // FE queues and answers busy; half the seeds crash a replica.
        out.push((
            spec(Kind::Replicated, &|s| {
                s.seed = seed;
                s.topology.clients = 3;
                s.topology.replicas = 2;
                s.topology.slots = 1;
                s.topology.queue = 2;
                s.workload.ops = tidekv::runtime::workload::OpKind::defaults(Protocol::Fanout);
                s.crashes = if seed % 2 == 0 {
                    vec![crash("r0.1", 4 + seed as u32)]
                } else {
                    vec![]
                };
            }),
            (seed % 2 == 0) as usize,
        ));
        for p in Protocol::ALL {
            out.push((
                spec(Kind::Replicated, &|s| {
                    s.seed = seed;
                    s.topology.protocol = p;
                    s.workload.ops = tidekv::runtime::workload::OpKind::defaults(p);
                    s.topology.replicas = 3;
                    s.crashes = vec![crash("r0.0", 4 + seed as u32)];
                }),
                1,
            ));
            // Beyond R−1: both replicas of the shard.
            out.push((
                spec(Kind::Replicated, &|s| {
                    s.seed = seed;
                    s.topology.protocol = p;
                    s.workload.ops = tidekv::runtime::workload::OpKind::defaults(p);
                    s.topology.replicas = 2;
                    s.crashes = vec![crash("r0.1", 2 + seed as u32), crash("r0.0", 6 + seed as u32)];
                }),
                2,
            ));
        }
    }
    out
}

/// Recorded runs with restarts (`--restart`, every persistence mode): a
/// replica of two dies and comes back, then the other (one down at a time;
/// fanout and chain), one replica dies and comes back twice, and both die
/// and come back together (fanout; lost writes without `sync`). With the
/// crash budget the model needs.
fn recovery_runs() -> Vec<(RunSpec, usize, Vec<CrashAt>)> {
    let at = |node: &str, cycle| CrashAt {
        node: node.into(),
        cycle,
    };
    let spec = |p: Protocol, persist: Persist, seed: u64, crashes: Vec<CrashAt>| {
        let mut topology = tidekv::topology::TopologyConfig::new(Kind::Replicated, 2);
        topology.protocol = p;
        topology.replicas = 2;
        topology.recovery = Some(RecoveryConfig {
            persist,
            transfer_keys: 1,
            keys_max: 2,
        });
        RunSpec {
            topology,
            workload: WorkloadSpec {
                keys: 2,
                ops: tidekv::runtime::workload::OpKind::defaults(p),
                ..WorkloadSpec::default()
            },
            seed,
            cycles: 28,
            crashes,
        }
    };
    let mut out = Vec::new();
    for seed in 0..6u64 {
        let persist = [Persist::None, Persist::Sync, Persist::Async][seed as usize % 3];
        let c = seed as u32;
        // (protocol, deaths, the model's crash budget, restarts), cycles
        // offset by the seed. One down at a time: caught up within
        // 3 + ceil(2 keys / 1) = 5 cycles of a restart.
        let plans = [
            (
                Protocol::Fanout,
                [("r0.0", 2), ("r0.1", 13)],
                1,
                [("r0.0", 5), ("r0.1", 16)],
            ),
            (
                Protocol::Chain,
                [("r0.0", 2), ("r0.1", 13)],
                1,
                [("r0.0", 5), ("r0.1", 16)],
            ),
            // One replica dies and comes back twice.
            (
                Protocol::Fanout,
                [("r0.0", 2), ("r0.0", 13)],
                1,
                [("r0.0", 5), ("r0.0", 16)],
            ),
            // Both down at once.
            (
                Protocol::Fanout,
                [("r0.0", 2), ("r0.1", 4)],
                2,
                [("r0.0", 7), ("r0.1", 7)],
            ),
        ];
        for (p, deaths, budget, restarts) in plans {
            let shift = |e: [(&str, u32); 2]| e.map(|(n, k)| at(n, k + c)).to_vec();
            out.push((spec(p, persist, seed, shift(deaths)), budget, shift(restarts)));
        }
    }
    out
}

fn model_for(spec: &RunSpec, crashes: usize, recoveries: usize) -> TideModel {
    let mut c = ModelConfig::new(spec.topology.kind);
    c.topology = spec.topology.clone();
    c.keys = spec.workload.keys;
    c.values = 16;
    c.ops = OpKind::defaults(spec.topology.protocol);
    c.ops_per_client = spec.cycles;
    c.cycles = spec.cycles;
    c.crashes = crashes;
    c.crash_mode = CrashMode::Atomic;
    c.recoveries = recoveries as u32;
    TideModel::new(c).unwrap().with_trace()
}

/// Runtime value ids → model values 1, 2, … in order of first use.
fn value_map(rec: &Recorded) -> BTreeMap<u64, u8> {
    let mut map = BTreeMap::new();
    for (_, inputs, _) in &rec.cycles {
        for op in inputs.ops.iter().flatten() {
            if let Op::Put(_, v) | Op::Insert(_, v) | Op::Modify(_, v) = op {
                let next = map.len() as u8 + 1;
                map.entry(v.id()).or_insert(next);
            }
        }
    }
    assert!(map.len() <= 16, "{} values: more than the model's alphabet", map.len());
    map
}

#[test]
fn runtime_runs_are_paths_of_the_model_with_the_same_observations() {
    let mut violations = 0;
    let mut checked = 0;
    let mut busy = 0;
    let mut restarted = 0;
    let runs = runs().into_iter().map(|(s, c)| (s, c, Vec::new()));
    for (spec, crashes, restarts) in runs.chain(recovery_runs()) {
        let label = format!(
            "{} seed {} crashes {:?}",
            spec.topology.label(),
            spec.seed,
            spec.crashes
        );
        let rec = record(&spec, &restarts);
        let m = model_for(&spec, crashes, restarts.len());
        let values = value_map(&rec);
        let mut s = m.init_states().pop().unwrap();
        for (cycle, inputs, picks) in &rec.cycles {
            assert_eq!(s.cluster.cycle, *cycle);
            let action = CycleAction {
                ops: inputs
                    .ops
                    .iter()
                    .map(|o| o.as_ref().map(|o| o.map_value(|v| values[&v.id()])))
                    .collect(),
                picks: picks
                    .iter()
                    .map(|&(fe, client, replica)| {
                        let shard = match s
                            .cluster
                            .choice_points(&m.topo)
                            .iter()
                            .find(|p| p.0 == fe && p.1 == client)
                        {
                            Some(p) => p.2,
                            None => panic!("{label} cycle {cycle}: the model has no choice for c{client}"),
                        };
                        Pick::new(&m.topo, fe, client, shard, replica)
                    })
                    .collect(),
                crashes: inputs
                    .crashes
                    .iter()
                    .map(|c| Crash {
                        node: c.node,
                        kind: c.kind,
                    })
                    .collect(),
                // The `--restart` schedule: the engine restarts a replica
                // before the cycle executes, as the model's action does.
                restarts: restarts
                    .iter()
                    .filter(|r| r.cycle == *cycle)
                    .map(|r| m.topo.node_by_name(&r.node).unwrap())
                    .collect(),
            };
            restarted += action.restarts.len();
            let mut actions = Vec::new();
            m.actions(&s, &mut actions);
            assert!(
                actions.contains(&action),
                "{label} cycle {cycle}: the runtime's cycle is not an action of the model: {action:?}"
            );
            s = m.next_state(&s, action).unwrap();
        }
        // Same observations.
        let back: BTreeMap<u64, u64> = values.iter().map(|(id, v)| (u64::from(*v), *id)).collect();
        let model_history: History<u64> = read_jsonl(jsonl(&s.trace.as_ref().unwrap().history).as_bytes()).unwrap();
        let model_history = rename(&model_history, &|v| back[&v]);
        assert_eq!(jsonl(&model_history), jsonl(&rec.history), "{label}: histories");
        // Same verdicts on the history properties.
        let trace = s.trace.as_ref().unwrap();
        let now = spec.cycles;
        let lat = spec.topology.latency();
        let mut runtime_verdicts = [
            tidekv_checks::linearizable(&rec.history).is_ok(),
            tidekv_checks::latency(&rec.history, &trace.crash_cycles(), now, lat).is_ok(),
            tidekv_checks::available(&rec.history, &trace.crash_cycles(), now, lat).is_ok(),
        ];
        let mut model_verdicts =
            [Property::Linearizable, Property::Latency, Property::Available].map(|p| m.holds(p, &s));
        if spec.topology.slots > 0 {
            busy += rec
                .history
                .ops
                .iter()
                .filter(|o| o.ret.as_ref().is_some_and(|r| r.result == OpResult::Busy))
                .count();
            // A history alone does not say how long a request waited in
            // the FE's queue: its latency is checked by the model only
            // (the monitor's queueing allowance), not compared here.
            runtime_verdicts[1] = true;
            model_verdicts[1] = true;
        }
        assert_eq!(
            runtime_verdicts, model_verdicts,
            "{label}: verdicts (linearizable, latency, available)"
        );
        violations += runtime_verdicts.iter().filter(|ok| !**ok).count();
        checked += 1;
    }
    assert_eq!(
        checked,
        6 * (3 + 2 * Protocol::ALL.len()) + 6 * 4,
        "6 seeds × (single, sharded, slots, every protocol × within and beyond R−1; four recovery runs)"
    );
    assert_eq!(restarted, 6 * 4 * 2, "every scheduled restart was replayed");
    assert!(violations > 10, "beyond R−1 the runs must show failures: {violations}");
    assert!(busy > 0, "the --slots runs answered busy");
}
