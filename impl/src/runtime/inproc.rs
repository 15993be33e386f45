//! The in-process engine: the whole cluster in one thread, in lockstep over
//! [`Cluster::step`].
//!
//! # One cycle
//! 1. The crashes scheduled for this cycle go into [`CycleInputs::crashes`]
//!    (atomic: the node executes nothing from this cycle on).
//! 2. Each client's [`ClientDriver`] is asked for an operation, given
//!    [`Cluster::will_be_idle`].
//! 3. [`Cluster::step`] runs every node; the root FE's open replica choices
//!    are drawn from its `choose/<fe>` stream.
//! 4. The client events go to the drivers (pacing) and the [`HistorySink`].
//! 5. In one cycle of every `bytes_sample_every`, the frames just sent are
//!    postcard-encoded to measure their size (encoding every frame of every
//!    cycle would cost about as much as the cycle itself). The cycle is drawn
//!    at random within each window (stream `metrics/sample`, which no node
//!    draws from): closed-loop clients without think time are periodic with
//!    the latency, and a fixed stride would alias with that period.
//!
//! Once warm, a cycle allocates no frames: each node writes its frames in
//! place into last cycle's buffers ([`Cluster::step_with`]); what is left is
//! the list of a node's input frames (a few growths of one `Vec` per cycle),
//! what the sink writes and what the stores grow by. Where a cycle's time
//! goes is in `docs/PERFORMANCE.md`.

use super::durable::{self, Recovering};
use super::metrics::{LinkBytes, Progress, Report};
use super::parallel::{self, Sequential, Stepper};
use super::queues::QueueStats;
use super::rng::Stream;
use super::sink::HistorySink;
use super::value::Value;
use super::wire::frame_bytes_on;
use super::workload::ClientDriver;
use super::{CrashAt, RunError, RunSpec, SpecError};
use crate::cluster::{Cluster, Crash, CrashKind, CycleInputs, NodeState};
use crate::node::client::ClientEvent;
use crate::node::hash::home_shard;
use crate::node::server::HashStore;
use crate::node::ClientId;
use crate::topology::{NodeId, Role, Topology};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// How to run, beyond the spec.
pub struct InprocOptions {
    /// Where the JSON-lines history goes, if anywhere.
    pub history: Option<Box<dyn Write + Send>>,
    /// The history's path, for the report.
    pub history_path: Option<PathBuf>,
    /// Show the progress line on stderr.
    pub progress: bool,
    /// Measure frame sizes every this many cycles (at least 1).
    pub bytes_sample_every: u32,
    /// 2 or more: step the servers on a second thread.
    pub threads: usize,
    /// Serialize every server's state after every cycle and continue from
    /// what deserializes back, as the seed's platform does.
    pub serialize_state: bool,
    /// For measurements: the stores start holding keys `0..n` (each on its
    /// home shard; key `k` holds `Value::new(k, value_bytes)`). A history of
    /// such a run shows reads of values no client wrote, so `run` refuses a
    /// history with it.
    pub prefill_keys: u32,
    /// Hears, after every cycle, the inputs the engine gave it and the replica
    /// choices the FEs made (`(fe, client, replica)`): what a model path
    /// needs to replay the run (`tests/tests/conformance.rs`).
    pub recorder: Option<Recorder>,
    /// `--restart NODE@CYCLE`: replicas to restart (each dead then by a
    /// `--crash`); needs recovery configured (see [`super::durable`]).
    pub restarts: Vec<CrashAt>,
    /// `--data-dir`: where the durable store goes with `--persist
    /// sync|async` (default: a temporary directory, removed at the end).
    pub data_dir: Option<PathBuf>,
}

/// See [`InprocOptions::recorder`].
pub type Recorder = Box<dyn FnMut(u32, &CycleInputs<Value>, &[(NodeId, ClientId, usize)]) + Send>;

impl Default for InprocOptions {
    fn default() -> Self {
        InprocOptions {
            history: None,
            history_path: None,
            progress: false,
            bytes_sample_every: BYTES_SAMPLE_EVERY_DEFAULT,
            threads: 1,
            serialize_state: false,
            prefill_keys: 0,
            recorder: None,
            restarts: Vec::new(),
            data_dir: None,
        }
    }
}

/// Per client of `topo`, the workload driver of `spec` (its seed and the
/// client's name pick its random stream).
pub fn drivers(spec: &RunSpec, topo: &Topology) -> Vec<ClientDriver> {
    (0..topo.clients())
        .map(|c| ClientDriver::new(&spec.workload, spec.seed, c, &topo.nodes[c].name))
        .collect()
}

/// Per node of `topo`: for an FE, the stream its replica choices draw from;
/// `None` for the others.
pub fn choosers(spec: &RunSpec, topo: &Topology) -> Vec<Option<Stream>> {
    topo.nodes
        .iter()
        .map(|n| matches!(n.role, Role::Fe { .. }).then(|| Stream::chooser(spec.seed, &n.name)))
        .collect()
}

/// Measuring every 16th cycle costs a few percent of the run time.
pub const BYTES_SAMPLE_EVERY_DEFAULT: u32 = 16;

/// Executes `spec` in this process: on this thread, or with `opts.threads`
/// of 2 or more, the servers on a second one ([`parallel::Split`]; same
/// result, bit for bit).
pub fn run(spec: &RunSpec, opts: InprocOptions) -> Result<Report, RunError> {
    let topo = spec.build()?;
    assert!(opts.bytes_sample_every >= 1, "bytes_sample_every must be at least 1");
    if opts.prefill_keys > 0 && opts.history.is_some() {
        return Err(RunError::Spec(SpecError(
            "--prefill-keys makes reads return values no client wrote: it takes no --history".into(),
        )));
    }
    let mut cluster = Cluster::<Value, HashStore<Value>>::new(&topo);
    prefill(&mut cluster, &topo, opts.prefill_keys, spec.workload.value_bytes);
    if topo.config.recovery.is_some() {
        if opts.threads >= 2 {
            return Err(RunError::Spec(SpecError(
                "--restart, --persist and --transfer-keys take --threads 1".into(),
            )));
        }
        let deaths = spec.crashes.clone();
        let schedule = durable::restart_schedule(&topo, &opts.restarts, &deaths, spec.cycles, 1, false, true)?;
        let recovering = Recovering::new(&topo, schedule, opts.data_dir.as_deref())?;
        return drive(spec, &topo, opts, &mut Sequential::new(cluster), Some(recovering));
    }
    if !opts.restarts.is_empty() {
        return Err(RunError::Spec(SpecError(
            "--restart needs a replica to restart: --topology replicated, --protocol fanout or chain".into(),
        )));
    }
    if opts.threads >= 2 {
        parallel::run_split(cluster, &topo, |split| drive(spec, &topo, opts, split, None)).1
    } else {
        drive(spec, &topo, opts, &mut Sequential::new(cluster), None)
    }
}

/// Puts keys `0..keys` into the store of every server of their home shard.
fn prefill(cluster: &mut Cluster<Value, HashStore<Value>>, topo: &Topology, keys: u32, value_bytes: usize) {
    if keys == 0 {
        return;
    }
    let shards = topo.config.shards;
    for (id, node) in cluster.nodes.iter_mut().enumerate() {
        let (NodeState::Server(s), Role::Server { shard, .. }) = (node, &topo.nodes[id].role) else {
            continue;
        };
        for k in (0..keys).filter(|&k| home_shard(k, shards) == *shard) {
            s.store.insert(k, Value::new(u64::from(k), value_bytes));
        }
    }
}

/// The engine's loop over any [`Stepper`].
fn drive(
    spec: &RunSpec,
    topo: &Topology,
    opts: InprocOptions,
    cluster: &mut impl Stepper<Value>,
    mut recovering: Option<Recovering>,
) -> Result<Report, RunError> {
    /// The cluster under the stepper (recovery runs on [`Sequential`] only).
    fn whole(s: &mut impl Stepper<Value>) -> &mut Cluster<Value, HashStore<Value>> {
        &mut s
            .as_any()
            .and_then(|a| a.downcast_mut::<Sequential<Value, HashStore<Value>>>())
            .expect("recovery runs on the sequential stepper")
            .cluster
    }
    let clients = topo.clients();
    let mut drivers = drivers(spec, topo);
    let mut choosers = choosers(spec, topo);
    let schedule = spec.crash_schedule(&topo);
    let mut next_crash = 0;
    let mut applied: Vec<CrashAt> = Vec::new();
    let mut inputs = CycleInputs {
        ops: vec![None; clients],
        crashes: Vec::new(),
    };
    let mut events: Vec<(ClientId, ClientEvent<Value>)> = Vec::with_capacity(2 * clients);
    let mut sink = HistorySink::new(clients, opts.history);
    let mut links = vec![LinkBytes::default(); topo.links.len()];
    let mut progress = Progress::new(opts.progress, spec.cycles);
    let every = opts.bytes_sample_every;
    let mut sampler = Stream::new(spec.seed, "metrics/sample");
    let mut sample_at = sampler.below(every as u64) as u32;
    let failed = |e: std::io::Error| RunError::Failed(format!("writing the history: {e}"));

    let mut state_bytes = 0u64;
    // `--slots`: the root FE's queue depth per shard, after every cycle.
    let root_fe = topo.fes().last().filter(|_| spec.topology.slots > 0);
    let mut queues = root_fe.map(|_| QueueStats::new(spec.topology.shards));
    let mut depth = Vec::new();
    let mut recorder = opts.recorder;
    let mut picks: Vec<(NodeId, ClientId, usize)> = Vec::new();
    let start = Instant::now();
    for cycle in 0..spec.cycles {
        inputs.crashes.clear();
        while let Some(&(at, node)) = schedule.get(next_crash) {
            if at != cycle {
                break;
            }
            inputs.crashes.push(Crash {
                node,
                kind: CrashKind::Atomic,
            });
            applied.push(CrashAt {
                node: topo.nodes[node].name.clone(),
                cycle,
            });
            next_crash += 1;
        }
        for (c, driver) in drivers.iter_mut().enumerate() {
            // Most clients are busy most cycles: leave their `None` alone
            // rather than move a fresh one in.
            let idle = cluster.will_be_idle(topo, c);
            if idle || inputs.ops[c].is_some() {
                inputs.ops[c] = driver.poll(cycle, idle);
            }
        }
        if let Some(r) = recovering.as_mut() {
            r.before_step(cycle, whole(cluster), topo)?;
        }
        picks.clear();
        let recording = recorder.is_some();
        let mut choose = |fe: usize, client: ClientId, candidates: &[usize]| {
            let stream = choosers[fe].as_mut().expect("only FEs make replica choices");
            let i = stream.below(candidates.len() as u64) as usize;
            if recording {
                picks.push((fe, client, candidates[i]));
            }
            i
        };
        cluster.step(topo, &inputs, &mut choose, &mut events);
        if let Some(r) = recovering.as_mut() {
            r.after_step(cycle, whole(cluster), topo)?;
        }
        if let Some(r) = recorder.as_mut() {
            r(cycle, &inputs, &picks);
        }
        if opts.serialize_state {
            state_bytes += cluster.round_trip_servers();
        }
        if let (Some(q), Some(fe)) = (queues.as_mut(), root_fe.and_then(|id| cluster.fe(id))) {
            q.observe(fe, &mut depth);
        }
        for (c, ev) in events.drain(..) {
            drivers[c].observe(cycle, &ev);
            sink.event(cycle, c, &ev);
        }
        sink.end_cycle(cycle).map_err(failed)?;
        if cycle == sample_at {
            sample_at = (cycle - cycle % every).saturating_add(every + sampler.below(every as u64) as u32);
            // The inbox now holds the frames sent this cycle.
            for (l, frame) in cluster.inbox().iter().enumerate() {
                if let Some(f) = frame {
                    links[l].add_frame(frame_bytes_on(f, &topo.links[l]), f);
                }
            }
        }
        if cycle % 4096 == 4095 {
            progress.update(cycle + 1, Some(sink.stats.completed()));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.finish();
    let stats = sink.finish().map_err(failed)?;
    Ok(Report {
        transport: "inproc",
        topology: spec.topology.label(),
        workload: spec.workload_label(),
        seed: spec.seed,
        cycles: spec.cycles,
        seconds,
        stats,
        latency_expected: spec.topology.latency_cycles(),
        cache: spec.topology.cache.map(|c| (c.label(), spec.topology.latency().hit)),
        links: topo.links.iter().map(|l| l.name.clone()).zip(links).collect(),
        bytes_sample_every: opts.bytes_sample_every,
        dropped: Default::default(),
        duplicate_frames: 0,
        crashes: applied,
        kills: Vec::new(),
        unexpected: Vec::new(),
        warnings: Vec::new(),
        injected_drops: 0,
        resent_frames: 0,
        deaths: Vec::new(),
        history: opts.history_path,
        state_bytes_per_cycle: opts
            .serialize_state
            .then(|| state_bytes as f64 / f64::from(spec.cycles.max(1))),
        queues,
        restarts: recovering.as_ref().map_or_else(Vec::new, |r| r.restarts.clone()),
        commits: recovering.as_ref().map_or(0, Recovering::commits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::workload::WorkloadSpec;
    use crate::topology::{Kind, TopologyConfig};

    fn spec(kind: Kind, clients: usize) -> RunSpec {
        RunSpec {
            topology: TopologyConfig::new(kind, clients),
            workload: WorkloadSpec::default(),
            seed: 5,
            cycles: 2000,
            crashes: vec![],
        }
    }

    #[test]
    fn failure_free_latency_is_the_topologys() {
        for kind in [Kind::Single, Kind::Sharded, Kind::Replicated] {
            let s = spec(kind, 3);
            let r = run(&s, InprocOptions::default()).unwrap();
            let lat = s.topology.latency_cycles();
            assert_eq!(r.stats.latency.keys().copied().collect::<Vec<_>>(), vec![lat], "{kind}");
            assert_eq!(r.stats.unavailable, 0);
            assert!(r.stats.completed() > 1000);
        }
    }

    #[test]
    fn same_seed_same_run() {
        let mut s = spec(Kind::Replicated, 4);
        s.topology.protocol = crate::node::Protocol::Seed;
        let a = run(&s, InprocOptions::default()).unwrap();
        let b = run(&s, InprocOptions::default()).unwrap();
        assert_eq!(a.stats, b.stats);
        s.seed += 1;
        let c = run(&s, InprocOptions::default()).unwrap();
        assert_eq!(a.stats.invoked, c.stats.invoked, "closed loop: same count");
        assert_ne!(a.stats.ok, c.stats.ok, "another seed, another workload");
    }

    #[test]
    fn a_dead_single_server_answers_unavailable() {
        let mut s = spec(Kind::Single, 2);
        s.crashes = vec![CrashAt::parse("server@100").unwrap()];
        let r = run(&s, InprocOptions::default()).unwrap();
        assert_eq!(r.crashes, s.crashes);
        assert!(r.stats.unavailable > 1000);
    }
}
