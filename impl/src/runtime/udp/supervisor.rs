//! `tidekv run --transport udp`: start one process per node, supervise,
//! stop, gather.
//!
//! 1. Pick a free loopback port per node, write the cluster file into the
//!    run directory, spawn every node with its stdin and stdout piped.
//! 2. Wait until every node says `ready` (its socket is bound), then say `go`
//!    to all: no frame is sent to a socket that does not exist yet.
//! 3. Supervise: show progress (naming the nodes that stopped reporting, a
//!    SIGSTOPped one among them); SIGKILL a node parked at its crash cycle
//!    once every running node has executed that cycle (until then it
//!    answers requests for the frames it sent before its crash). A node
//!    that dies without being told to (killed by hand, crashed) is a crash:
//!    its neighbours' failure detectors see it, the run goes on, and the
//!    report lists it under `unexpected`. A client among them is a client
//!    that stops sending; its log holds its operations up to its death.
//! 4. Once every node is done, crashed or dead, say `stop` to the done ones
//!    (they answer late requests until then).
//! 5. Gather: merge the client logs into the history and the statistics (the
//!    same [`HistorySink`] the in-process engine feeds), add up the nodes'
//!    summaries, and remove the run directory (unless asked to keep it).
//!
//! **Early ends.** Once `go` is said, a run that cannot complete (no node
//! reports for the silence timeout: the cluster hung; SIGTERM or SIGINT; a
//! node that fails) still writes its history: every node is killed first,
//! so that no log grows while it is read, then the logs are merged as in
//! step 5, and the run fails (exit 1) saying that it ended early and what
//! the history holds. The client logs are written ahead
//! ([`ClientLog`](crate::runtime::sink::ClientLog)): each invocation is in
//! the file before the request leaves its client, so the merged history
//! lacks no operation that could have taken effect; those not returned are
//! pending (of unknown outcome). Before `go` no client has started: an end
//! then writes no history.
//!
//! Every child is killed and reaped when the supervisor returns, on every
//! path (the `Drop` of its `Children`), and a node exits by itself when its stdin
//! closes, so no process outlives a run, even a failed or killed one. SIGTERM
//! and SIGINT end the run that way too (exit 1, the run directory removed);
//! a run directory left by a supervisor that was SIGKILLed is removed by the
//! next run, once no process has its pid.

use super::node::{client_log_path, NodeSummary, CONTROL_PREFIX};
use super::sys;
use crate::runtime::config::{ClusterConfig, NetConfig};
use crate::runtime::metrics::{group, Death, LinkBytes, Progress, Report};
use crate::runtime::sink::{merge_client_logs, HistorySink};
use crate::runtime::{CrashAt, RunError, RunSpec};
use crate::topology::Topology;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Builds the command that runs node `name` of the cluster file at `config`.
pub type Launcher = Box<dyn Fn(&Path, &str) -> Command + Send + Sync>;

/// The usual launcher: `EXE node --config FILE --id NODE`.
pub fn exe_launcher(exe: PathBuf) -> Launcher {
    Box::new(move |config, name| {
        let mut c = Command::new(&exe);
        c.arg("node").arg("--config").arg(config).arg("--id").arg(name);
        c
    })
}

/// A hook called once every node is ready, before `go`, with the process
/// id of every node (by node id; 0 for one already dead).
pub type BeforeGo = Box<dyn FnOnce(&ClusterConfig, &[u32]) + Send>;

/// How to run, beyond the spec.
pub struct UdpOptions {
    pub launcher: Launcher,
    pub history: Option<Box<dyn Write + Send>>,
    pub history_path: Option<PathBuf>,
    pub progress: bool,
    pub death_timeout: Duration,
    pub startup_timeout: Duration,
    /// Where the cluster file and client logs go; default a fresh directory
    /// under the system's temporary directory, removed after the run.
    pub run_dir: Option<PathBuf>,
    /// Keep the run directory after the run.
    pub keep_run_dir: bool,
    /// Called once every node is ready, before `go` (tests use it to aim
    /// datagrams at nodes and to kill them by hand).
    pub before_go: Option<BeforeGo>,
    /// Nodes that SIGKILL themselves without warning in a cycle (`--kill`):
    /// unlike a scheduled crash, the node does not park: it computes the
    /// cycle, sends its first half of frames and dies (a mid-send crash at
    /// exactly that cycle), and the supervisor sees a process die.
    pub kills: Vec<CrashAt>,
    /// Testing: the share of datagrams every node drops on purpose.
    pub drop_rate: f64,
    /// A cluster from which no node says anything for this long has hung:
    /// the run ends (with the history so far).
    pub silence_timeout: Duration,
    /// `--restart` with `--respawn`: replicas restarted at a cycle, each in
    /// a new process the supervisor starts once the old one died.
    pub restarts: Vec<CrashAt>,
    /// `--respawn`.
    pub respawn: bool,
    /// `--data-dir` (with `--persist sync|async`; default: `data` in the run
    /// directory).
    pub data_dir: Option<PathBuf>,
}

impl UdpOptions {
    pub fn new(launcher: Launcher) -> UdpOptions {
        UdpOptions {
            launcher,
            history: None,
            history_path: None,
            progress: false,
            death_timeout: Duration::from_millis(crate::runtime::config::DEATH_TIMEOUT_MS_DEFAULT),
            startup_timeout: Duration::from_millis(crate::runtime::config::STARTUP_TIMEOUT_MS_DEFAULT),
            run_dir: None,
            keep_run_dir: false,
            before_go: None,
            kills: Vec::new(),
            drop_rate: 0.0,
            silence_timeout: Duration::from_millis(crate::runtime::config::SILENCE_TIMEOUT_MS_DEFAULT),
            restarts: Vec::new(),
            respawn: false,
            data_dir: None,
        }
    }
}

/// How long every node may take to start and bind.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A running node that said nothing for this long (or for two death
/// timeouts, if longer) is named on the progress line.
const QUIET_MIN: Duration = Duration::from_secs(1);
/// How often the supervisor looks up from its nodes' lines (signals, hangs).
const POLL: Duration = Duration::from_millis(250);

/// The node processes; killed and reaped on drop.
struct Children {
    names: Vec<String>,
    procs: Vec<Option<Child>>,
    stdins: Vec<Option<ChildStdin>>,
}

impl Children {
    fn kill(&mut self, i: usize) {
        self.stdins[i] = None;
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}

/// What a node's stdout reader thread passes on.
enum Msg {
    Line(usize, String),
    Eof(usize),
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Starting,
    /// The last cycle it reported.
    Running(u32),
    /// Parked at its crash cycle, answering requests until killed.
    Parked(u32),
    Crashed,
    Killed,
    /// Died untold (a crash; see [`untold_death`]).
    Died,
    Done,
}

/// The run directory, removed on drop unless kept.
struct RunDir {
    path: PathBuf,
    remove: bool,
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The prefix of a run directory under the temporary directory; the
/// supervisor's pid and a few digits follow.
const RUN_DIR_PREFIX: &str = "tidekv-run-";

/// Removes the run directories under `tmp` whose supervisor (the pid in the
/// name) is gone, as `alive` tells; returns how many it removed.
pub fn sweep_stale_run_dirs(tmp: &Path, alive: impl Fn(u32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(RUN_DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, tail)| !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && pid != std::process::id() && !alive(pid) && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Executes `spec` with one process per node; see the module doc.
pub fn run(spec: &RunSpec, mut opts: UdpOptions) -> Result<Report, RunError> {
    let failed = RunError::Failed;
    sys::catch_terminate();
    sweep_stale_run_dirs(&std::env::temp_dir(), sys::pid_alive);
    let mut dir = match &opts.run_dir {
        Some(d) => RunDir {
            path: d.clone(),
            remove: false,
        },
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            RunDir {
                path: std::env::temp_dir().join(format!("{RUN_DIR_PREFIX}{}-{nanos}", std::process::id())),
                remove: !opts.keep_run_dir,
            }
        }
    };
    // Checks the spec before touching the file system.
    let topo = spec.build()?;
    let addrs = free_ports(topo.nodes.len()).map_err(|e| failed(format!("picking ports: {e}")))?;
    let net = NetConfig {
        death_timeout: opts.death_timeout,
        startup_timeout: opts.startup_timeout,
        out_dir: dir.path.clone(),
        drop_rate: opts.drop_rate,
        kills: opts.kills.clone(),
        restarts: opts.restarts.clone(),
        data_dir: match topo.config.recovery.map(|rc| rc.persist) {
            Some(crate::node::recovery::Persist::Sync | crate::node::recovery::Persist::Async) => {
                Some(opts.data_dir.clone().unwrap_or_else(|| dir.path.join("data")))
            }
            _ => None,
        },
        respawn: opts.respawn,
    };
    let cfg = ClusterConfig::new(spec.clone(), net, addrs).map_err(|e| RunError::Spec(crate::runtime::SpecError(e)))?;
    std::fs::create_dir_all(&dir.path).map_err(|e| failed(format!("{}: {e}", dir.path.display())))?;
    if let Some(d) = &cfg.net.data_dir {
        std::fs::create_dir_all(d).map_err(|e| failed(format!("--data-dir {}: {e}", d.display())))?;
    }
    let cfg_path = dir.path.join("cluster.toml");
    std::fs::write(&cfg_path, cfg.to_toml()).map_err(|e| failed(format!("{}: {e}", cfg_path.display())))?;

    let n = topo.nodes.len();
    let mut children = Children {
        names: topo.nodes.iter().map(|n| n.name.clone()).collect(),
        procs: Vec::with_capacity(n),
        stdins: Vec::with_capacity(n),
    };
    let (tx, rx) = mpsc::channel::<Msg>();
    for i in 0..n {
        children.stdins.push(None);
        children.procs.push(None);
        spawn_node(&mut children, i, &opts.launcher, &cfg_path, &tx, 0).map_err(failed)?;
    }
    // Kept only to start replicas again (`--respawn`).
    let respawner = (!opts.restarts.is_empty()).then(|| Respawner {
        tx: tx.clone(),
        cfg_path: cfg_path.clone(),
        restarts: opts
            .restarts
            .iter()
            .filter_map(|r| topo.node_by_name(&r.node).map(|id| (id, r.cycle)))
            .collect(),
        respawned: Vec::new(),
    });
    drop(tx);

    let mut w = Watch {
        clients: topo.clients(),
        phase: vec![Phase::Starting; n],
        ready: vec![false; n],
        summaries: vec![None; n],
        heard: vec![Instant::now(); n],
        applied: Vec::new(),
        killed: Vec::new(),
        unexpected: Vec::new(),
        progress: opts.progress,
    };
    // 2. Everyone ready, then go. An end before `go` leaves no history: no
    // client has started.
    let ready_by = Instant::now() + READY_TIMEOUT;
    while w.phase.contains(&Phase::Starting) {
        if let Some(sig) = sys::terminated() {
            return Err(failed(format!(
                "{}: nodes stopped before the run began",
                terminated(sig)
            )));
        }
        let left = ready_by.saturating_duration_since(Instant::now()).min(POLL);
        match rx.recv_timeout(left) {
            Ok(Msg::Line(i, line)) if line == "ready" => {
                w.phase[i] = Phase::Running(0);
                w.ready[i] = true;
            }
            Ok(Msg::Line(..)) => {}
            Ok(Msg::Eof(i)) => {
                // Killed by a signal: a crash before cycle 0. Otherwise it
                // could not start (its error is on stderr): the run fails.
                let (why, signalled) = exited(&mut children, i, "before it was ready");
                if !signalled {
                    return Err(failed(why));
                }
                w.untold_death(&children, i, &why, 0);
            }
            Err(_) if Instant::now() < ready_by => {}
            Err(_) => {
                let slow: Vec<&str> = (0..n)
                    .filter(|&i| w.phase[i] == Phase::Starting)
                    .map(|i| children.names[i].as_str())
                    .collect();
                return Err(failed(format!(
                    "nodes not ready after {} s: {}",
                    READY_TIMEOUT.as_secs(),
                    slow.join(" ")
                )));
            }
        }
    }
    if let Some(hook) = opts.before_go.take() {
        let pids: Vec<u32> = children.procs.iter().map(|c| c.as_ref().map_or(0, Child::id)).collect();
        hook(&cfg, &pids);
    }

    // 3. Go, supervise, stop. From `go` on, however the run ends, the
    // history is written: every node is stopped first (so that no client
    // log grows while it is read), then the logs are merged.
    let mut respawner = respawner;
    let ended = supervise(&mut w, &mut children, &rx, spec, &opts, respawner.as_mut());
    drop(children);
    let ended = ended.and_then(|seconds| match sys::terminated() {
        Some(sig) => Err(terminated(sig)),
        None => Ok(seconds),
    });

    // 4. Gather.
    let mut sink = HistorySink::new(topo.clients(), opts.history.take());
    let with_history = sink.writes_history();
    let mut warnings = Vec::new();
    let gathered = open_client_logs(&dir.path, &topo, &w.ready)
        .and_then(|logs| merge_client_logs(logs, &mut sink).map_err(|e| format!("merging client logs: {e}")))
        .and_then(|notes| {
            for note in notes {
                w.warn(&note);
                warnings.push(note);
            }
            let last = sink.last_cycle();
            let stats = sink.finish().map_err(|e| format!("writing the history: {e}"))?;
            Ok((stats, last))
        });
    let gathered = gathered.map_err(|e| {
        // Keep the logs for a look at what could not be merged.
        dir.remove = false;
        format!("{e} (run directory kept: {})", dir.path.display())
    });
    let seconds = match ended {
        Ok(seconds) => seconds,
        Err(why) => {
            let history = match (&gathered, with_history) {
                (Err(e), _) => format!("the client logs could not be merged into a history: {e}"),
                (Ok(_), false) => "no history was asked for".to_string(),
                (Ok((stats, last)), true) => {
                    let at = opts
                        .history_path
                        .as_ref()
                        .map_or(String::new(), |p| format!(" in {}", p.display()));
                    format!(
                        "the history{at} holds what the clients logged before the end: {} operations \
                         up to cycle {}, {} of them without a return (pending: of unknown outcome)",
                        stats.invoked,
                        last.map_or("-".to_string(), |c| c.to_string()),
                        stats.pending
                    )
                }
            };
            return Err(failed(format!(
                "{why}; the run ended early: every node was stopped, and {history}"
            )));
        }
    };
    let (stats, _) = gathered.map_err(failed)?;
    let mut links: BTreeMap<String, LinkBytes> = BTreeMap::new();
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    let (mut duplicates, mut injected, mut resent) = (0, 0, 0);
    let mut deaths = Vec::new();
    let mut queues = None;
    let mut restarts = Vec::new();
    let mut commits = 0;
    for s in w.summaries.iter().flatten() {
        commits += s.commits;
        if s.queues.is_some() {
            queues = s.queues.clone();
        }
        if let Some((cycle, serving)) = s.restarted {
            restarts.push(crate::runtime::durable::Restart {
                node: s.node.clone(),
                cycle,
                serving,
            });
        }
        for (name, bytes, frames) in &s.links {
            links.insert(
                name.clone(),
                LinkBytes {
                    bytes: *bytes,
                    frames: *frames,
                    slots: 0,
                    writes: 0,
                },
            );
        }
        for (why, k) in &s.dropped {
            *dropped.entry(why.clone()).or_insert(0) += k;
        }
        duplicates += s.duplicates;
        injected += s.injected;
        resent += s.resends;
        for (dead, cycle) in &s.deaths {
            deaths.push(Death {
                observer: s.node.clone(),
                dead: dead.clone(),
                cycle: *cycle,
            });
        }
    }
    // An untold death happened where its neighbours first read it as dead.
    for u in &mut w.unexpected {
        if let Some(first) = deaths.iter().filter(|d| d.dead == u.node).map(|d| d.cycle).min() {
            u.cycle = first;
        }
    }
    for u in &w.unexpected {
        if topo.node_by_name(&u.node).is_some_and(|id| id < topo.clients()) {
            warnings.push(format!(
                "client {} died untold at cycle {}: its operations up to its death are in the history, \
                 and one it had in flight is pending (of unknown outcome)",
                u.node, u.cycle
            ));
        }
    }
    w.applied.sort_by_key(|c| (c.cycle, c.node.clone()));
    Ok(Report {
        transport: "udp",
        topology: spec.topology.label(),
        workload: spec.workload_label(),
        seed: spec.seed,
        cycles: spec.cycles,
        seconds,
        stats,
        latency_expected: spec.topology.latency_cycles(),
        cache: spec.topology.cache.map(|c| (c.label(), spec.topology.latency().hit)),
        links: topo
            .links
            .iter()
            .map(|l| (l.name.clone(), links.get(&l.name).copied().unwrap_or_default()))
            .collect(),
        bytes_sample_every: 1,
        dropped,
        duplicate_frames: duplicates,
        crashes: w.applied,
        kills: w.killed,
        deaths,
        unexpected: w.unexpected,
        warnings,
        injected_drops: injected,
        resent_frames: resent,
        history: opts.history_path.clone(),
        state_bytes_per_cycle: None,
        queues,
        restarts,
        commits,
    })
}

/// Why the run ends when the supervisor is told to stop.
fn terminated(sig: i32) -> String {
    format!("terminated by signal {sig}")
}

/// What the supervisor knows of its nodes.
struct Watch {
    clients: usize,
    phase: Vec<Phase>,
    /// Per node: whether it said `ready` (a client that did has its log).
    ready: Vec<bool>,
    summaries: Vec<Option<NodeSummary>>,
    /// Per node: when it last said anything (or `go`, before that).
    heard: Vec<Instant>,
    /// Crashes applied (`--crash`), kills (`--kill`), untold deaths.
    applied: Vec<CrashAt>,
    killed: Vec<CrashAt>,
    unexpected: Vec<CrashAt>,
    /// Whether a progress line may be on stderr.
    progress: bool,
}

/// Says `go`, supervises until every node is done, crashed or dead, then
/// stops the done ones; returns the seconds the cycles took, or why the run
/// ended early.
fn supervise(
    w: &mut Watch,
    children: &mut Children,
    rx: &mpsc::Receiver<Msg>,
    spec: &RunSpec,
    opts: &UdpOptions,
    mut respawner: Option<&mut Respawner>,
) -> Result<f64, String> {
    let start = Instant::now();
    w.heard.fill(start);
    for (i, stdin) in children.stdins.iter_mut().enumerate() {
        if w.phase[i] == Phase::Died {
            continue;
        }
        let ok = stdin
            .as_mut()
            .is_some_and(|s| s.write_all(b"go\n").and_then(|_| s.flush()).is_ok());
        if !ok {
            return Err(format!("node {} did not take go", children.names[i]));
        }
    }
    let mut progress = Progress::new(opts.progress, spec.cycles);
    let quiet = QUIET_MIN.max(opts.death_timeout * 2);
    let mut last_heard = Instant::now();
    let mut seconds = None;
    let busy = |p: &Phase| matches!(p, Phase::Running(_) | Phase::Parked(_) | Phase::Starting);
    let ended = loop {
        if !w.phase.iter().any(busy) {
            break Ok(());
        }
        if let Some(sig) = sys::terminated() {
            break Err(terminated(sig));
        }
        match rx.recv_timeout(POLL) {
            Ok(msg) => {
                last_heard = Instant::now();
                match msg {
                    Msg::Line(i, line) if line == "ready" && w.phase[i] == Phase::Starting => {
                        // A respawned replica: it starts at its restart cycle.
                        w.heard[i] = last_heard;
                        let ok = children.stdins[i]
                            .as_mut()
                            .is_some_and(|s| s.write_all(b"go\n").and_then(|_| s.flush()).is_ok());
                        if !ok {
                            break Err(format!("node {} did not take go", children.names[i]));
                        }
                        let at = respawner
                            .as_ref()
                            .and_then(|r| r.restarts.iter().find(|(n, _)| *n == i).map(|(_, c)| *c))
                            .unwrap_or(0);
                        w.phase[i] = Phase::Running(at);
                    }
                    Msg::Line(i, line) => {
                        w.heard[i] = last_heard;
                        if let Err(e) = w.on_line(i, &line, &children.names[i]) {
                            break Err(e);
                        }
                    }
                    Msg::Eof(i) => {
                        w.on_eof(children, i);
                        if let Some(r) = respawner.as_mut() {
                            if let Err(e) = r.after_death(w, children, i, &opts.launcher) {
                                break Err(e);
                            }
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) if last_heard.elapsed() > opts.silence_timeout => {
                let (_, waiting) = w.waiting(children, Duration::ZERO);
                break Err(format!(
                    "no node reported for {:?} ({waiting}); the cluster hung",
                    opts.silence_timeout
                ));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
        }
        let released = w.release_parked(children);
        if let Some(r) = respawner.as_mut() {
            // Parked replicas just killed: their next life.
            let crashed: Vec<usize> = (0..w.phase.len()).filter(|&i| w.phase[i] == Phase::Crashed).collect();
            if let Err(e) = crashed
                .into_iter()
                .try_for_each(|i| r.after_death(w, children, i, &opts.launcher))
            {
                break Err(e);
            }
        }
        let at = released;
        if at.is_none() && seconds.is_none() {
            seconds = Some(start.elapsed().as_secs_f64());
        }
        let (shown, note) = w.waiting(children, quiet);
        progress.update_with_note(shown.unwrap_or(spec.cycles), None, &note);
    };
    progress.finish();
    let seconds = seconds.unwrap_or_else(|| start.elapsed().as_secs_f64());
    ended?;
    // Done nodes answer late requests until told to stop; then they exit 0
    // (an exit code other than 0 is a node's failure and fails the run).
    let done: Vec<usize> = (0..w.phase.len()).filter(|&i| w.phase[i] == Phase::Done).collect();
    for &i in &done {
        if let Some(s) = children.stdins[i].as_mut() {
            let _ = s.write_all(b"stop\n").and_then(|_| s.flush());
        }
    }
    for &i in &done {
        if let Some(mut c) = children.procs[i].take() {
            let name = &children.names[i];
            match c.wait() {
                // Killed by a signal after it was done: its part is complete.
                Ok(s) if s.success() || s.code().is_none() => {}
                Ok(s) => return Err(format!("node {name} exited with {s}")),
                Err(e) => return Err(format!("node {name}: {e}")),
            }
        }
    }
    Ok(seconds)
}

impl Watch {
    /// Node `i` (named `name`) said `line`.
    fn on_line(&mut self, i: usize, line: &str, name: &str) -> Result<(), String> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match (word, &mut self.phase[i]) {
            ("at", Phase::Running(c)) => {
                if let Ok(at) = rest.parse::<u32>() {
                    *c = at;
                }
            }
            ("kill", Phase::Running(_)) => {
                let cycle = rest
                    .parse::<u32>()
                    .map_err(|_| format!("node {name}: bad kill line {rest:?}"))?;
                self.killed.push(CrashAt {
                    node: name.to_string(),
                    cycle,
                });
                self.phase[i] = Phase::Killed;
            }
            ("crash" | "done", Phase::Running(_)) => {
                let s: NodeSummary =
                    serde_json::from_str(rest).map_err(|e| format!("node {name}: bad summary: {e}"))?;
                if word == "crash" {
                    // The node parked before executing its crash cycle.
                    self.applied.push(CrashAt {
                        node: name.to_string(),
                        cycle: s.cycles,
                    });
                    self.phase[i] = Phase::Parked(s.cycles);
                } else {
                    self.phase[i] = Phase::Done;
                }
                self.summaries[i] = Some(s);
            }
            _ => {}
        }
        Ok(())
    }

    /// Node `i`'s standard output closed: it exited.
    fn on_eof(&mut self, children: &mut Children, i: usize) {
        match self.phase[i] {
            Phase::Running(at) => {
                let (why, _) = exited(children, i, "during the run");
                self.untold_death(children, i, &why, at);
            }
            Phase::Parked(_) | Phase::Killed => {
                children.kill(i);
                if self.phase[i] != Phase::Killed {
                    self.phase[i] = Phase::Crashed;
                }
            }
            _ => {}
        }
    }

    /// Kills each parked node once every running node has executed its
    /// crash cycle (none can still ask it for a frame); returns the least
    /// cycle a running node reported, if any runs.
    fn release_parked(&mut self, children: &mut Children) -> Option<u32> {
        let at = self
            .phase
            .iter()
            .filter_map(|p| match p {
                Phase::Running(c) => Some(*c),
                _ => None,
            })
            .min();
        for (i, p) in self.phase.iter_mut().enumerate() {
            if let Phase::Parked(c) = *p {
                let released = match at {
                    None => true,
                    Some(low) => low > c,
                };
                if released {
                    children.kill(i);
                    *p = Phase::Crashed;
                }
            }
        }
        at
    }

    /// The cycle the progress line shows, and what it notes: the least cycle
    /// of the running nodes that reported within `quiet`, and the running
    /// nodes that did not (stopped, or silent); when no running node
    /// reported, the least cycle of all, and what the run waits for.
    fn waiting(&self, children: &Children, quiet: Duration) -> (Option<u32>, String) {
        let now = Instant::now();
        let (mut reporting, mut all) = (None::<u32>, None::<u32>);
        let mut silent = Vec::new();
        for (i, p) in self.phase.iter().enumerate() {
            let Phase::Running(c) = *p else { continue };
            all = Some(all.map_or(c, |a| a.min(c)));
            if now.duration_since(self.heard[i]) >= quiet {
                silent.push((i, c));
            } else {
                reporting = Some(reporting.map_or(c, |a| a.min(c)));
            }
        }
        if silent.is_empty() {
            return (all, String::new());
        }
        const SHOWN: usize = 4;
        let mut list: Vec<String> = silent
            .iter()
            .take(SHOWN)
            .map(|&(i, c)| {
                let pid = children.procs[i].as_ref().map(Child::id);
                let how = if pid.is_some_and(sys::stopped) {
                    "stopped"
                } else {
                    "silent"
                };
                let secs = now.duration_since(self.heard[i]).as_secs();
                format!("{} {how} for {secs} s at cycle {}", children.names[i], group(c as u64))
            })
            .collect();
        if silent.len() > SHOWN {
            list.push(format!("{} more", silent.len() - SHOWN));
        }
        let what = if reporting.is_some() {
            "not reporting"
        } else {
            "waiting for"
        };
        (reporting.or(all), format!("{what}: {}", list.join(", ")))
    }

    /// Node `i` died untold (`why`) at about cycle `at`: a crash, as its
    /// neighbours' failure detectors see it (a client: one that stops
    /// sending; its log holds its operations up to its death).
    fn untold_death(&mut self, children: &Children, i: usize, why: &str, at: u32) {
        let what = if i < self.clients {
            "a client: its operations up to its death go into the history, one in flight pending"
        } else {
            "treated as a crash"
        };
        self.warn(&format!("{why} at about cycle {at}; {what}"));
        self.phase[i] = Phase::Died;
        self.unexpected.push(CrashAt {
            node: children.names[i].clone(),
            cycle: at,
        });
    }

    /// Prints a warning on its own line.
    fn warn(&self, text: &str) {
        let nl = if self.progress { "\n" } else { "" };
        eprintln!("{nl}warning: {text}");
    }
}

/// Starts the process of node `i` (incarnation `incarnation`) with its
/// stdin and stdout piped; a thread passes its control lines on as `Msg`s.
fn spawn_node(
    children: &mut Children,
    i: usize,
    launcher: &Launcher,
    cfg_path: &Path,
    tx: &mpsc::Sender<Msg>,
    incarnation: u8,
) -> Result<(), String> {
    let name = children.names[i].clone();
    let mut cmd = launcher(cfg_path, &name);
    if incarnation > 0 {
        // An environment variable, not a flag: a launcher may start any
        // program that ends in `node_main` (the tests start themselves).
        cmd.env(super::node::ENV_INCARNATION, incarnation.to_string());
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("starting node {name}: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    children.stdins[i] = child.stdin.take();
    children.procs[i] = Some(child);
    let tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix(CONTROL_PREFIX) {
                if tx.send(Msg::Line(i, rest.to_string())).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Msg::Eof(i));
    });
    Ok(())
}

/// `--respawn`: starts a new process for a replica whose process died
/// (`--kill`, a parked `--crash` released, or a SIGKILL from outside) and
/// that has a `--restart`, once.
struct Respawner {
    tx: mpsc::Sender<Msg>,
    cfg_path: PathBuf,
    /// `(node, restart cycle)`.
    restarts: Vec<(usize, u32)>,
    respawned: Vec<usize>,
}

impl Respawner {
    fn after_death(
        &mut self,
        w: &mut Watch,
        children: &mut Children,
        i: usize,
        launcher: &Launcher,
    ) -> Result<(), String> {
        let dead = matches!(w.phase[i], Phase::Killed | Phase::Crashed | Phase::Died);
        if !dead || self.respawned.contains(&i) || !self.restarts.iter().any(|(n, _)| *n == i) {
            return Ok(());
        }
        let restart = self.restarts.iter().find(|(n, _)| *n == i).map_or(0, |r| r.1);
        if w.phase[i] == Phase::Died {
            // Killed from outside: only if its neighbours can have seen it
            // dead before its restart cycle (else its next life would begin
            // in their past).
            let at = w
                .unexpected
                .iter()
                .rev()
                .find(|u| u.node == children.names[i])
                .map_or(0, |u| u.cycle);
            if at + 1 >= restart {
                w.warn(&format!(
                    "{} died at about cycle {at}, too late for its --restart at {restart}: not respawned",
                    children.names[i]
                ));
                self.respawned.push(i);
                return Ok(());
            }
        }
        // The old process is gone (its port is free) before the new binds.
        if let Some(mut c) = children.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        children.stdins[i] = None;
        self.respawned.push(i);
        spawn_node(children, i, launcher, &self.cfg_path, &self.tx, 1)?;
        w.phase[i] = Phase::Starting;
        w.heard[i] = Instant::now();
        Ok(())
    }
}

/// A client log to merge, with its name for messages.
type NamedLog = (String, Box<dyn BufRead>);

/// Opens the client logs for [`merge_client_logs`]. A client that died
/// before it was ready may have made no log: it did nothing.
fn open_client_logs(dir: &Path, topo: &Topology, ready: &[bool]) -> Result<Vec<NamedLog>, String> {
    let mut logs: Vec<NamedLog> = Vec::with_capacity(topo.clients());
    for (c, &ready) in ready.iter().enumerate().take(topo.clients()) {
        let path = client_log_path(dir, &topo.nodes[c].name);
        let log: Box<dyn BufRead> = match File::open(&path) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !ready => Box::new(io::empty()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        logs.push((path.display().to_string(), log));
    }
    Ok(logs)
}

/// Reaps node `i`, which exited on its own; describes how, and says
/// whether a signal ended it.
fn exited(children: &mut Children, i: usize, when: &str) -> (String, bool) {
    let status = children.procs[i].as_mut().and_then(|c| c.wait().ok());
    children.procs[i] = None;
    let name = &children.names[i];
    match status {
        Some(s) => (format!("node {name} exited {when} ({s})"), s.code().is_none()),
        None => (format!("node {name} exited {when}"), false),
    }
}

/// `n` distinct free UDP ports on 127.0.0.1. They are held together while
/// being picked, then released for the nodes to bind; another process could
/// take one in between, which makes that node fail to start (and the run
/// fail with its message), never a silent mix-up.
fn free_ports(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let socks = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    socks.iter().map(|s| s.local_addr()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: while a replica was SIGSTOPped the progress line froze at
    /// its last cycle (the least of the running nodes'), though the others
    /// went on without it.
    #[test]
    fn the_progress_line_moves_on_and_names_a_stopped_node() {
        let stopped = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = stopped.id();
        let signal = |sig: &str| {
            let ok = Command::new("kill").args([sig, &pid.to_string()]).status().unwrap();
            assert!(ok.success());
        };
        signal("-STOP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sys::stopped(pid) {
            assert!(Instant::now() < deadline, "never seen stopped");
            std::thread::sleep(Duration::from_millis(5));
        }
        let names = ["c0", "fe", "r0.0", "r0.1"].map(String::from).to_vec();
        let children = Children {
            names,
            procs: vec![None, None, None, Some(stopped)],
            stdins: vec![None, None, None, None],
        };
        let now = Instant::now();
        let long_ago = now - Duration::from_secs(5);
        let mut w = Watch {
            clients: 1,
            phase: vec![
                Phase::Running(1900),
                Phase::Running(1905),
                Phase::Running(1210),
                Phase::Running(1200),
            ],
            ready: vec![true; 4],
            summaries: vec![None; 4],
            heard: vec![now, now, long_ago, long_ago],
            applied: Vec::new(),
            killed: Vec::new(),
            unexpected: Vec::new(),
            progress: false,
        };
        let quiet = Duration::from_secs(1);
        let (at, note) = w.waiting(&children, quiet);
        assert_eq!(at, Some(1900), "the cycle of the nodes that report");
        assert_eq!(
            note,
            "not reporting: r0.0 silent for 5 s at cycle 1,210, r0.1 stopped for 5 s at cycle 1,200"
        );
        // Once the others are done, the line says what the run waits for.
        w.phase[..3].fill(Phase::Done);
        let (at, note) = w.waiting(&children, quiet);
        assert_eq!(at, Some(1200));
        assert_eq!(note, "waiting for: r0.1 stopped for 5 s at cycle 1,200");
        // Nobody silent: nothing noted.
        w.heard[3] = Instant::now();
        assert_eq!(w.waiting(&children, quiet), (Some(1200), String::new()));
        signal("-CONT");
    }

    #[test]
    fn stale_run_directories_of_dead_supervisors_are_swept() {
        let tmp = std::env::temp_dir().join(format!("tidekv-sweep-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let me = std::process::id();
        let names = [
            "tidekv-run-1000-123".to_string(), // dead supervisor: removed
            "tidekv-run-2000-456".to_string(), // alive: kept
            format!("tidekv-run-{me}-789"),    // ours: kept
            "tidekv-run-1000-12x".to_string(), // not a run directory's name
            "tidekv-run-1000".to_string(),     // nor this
            "other-1000-1".to_string(),        // nor this
        ];
        for n in &names {
            std::fs::create_dir_all(tmp.join(n).join("sub")).unwrap();
        }
        std::fs::write(tmp.join("tidekv-run-1001-5"), "a file, not a directory").unwrap();
        let removed = sweep_stale_run_dirs(&tmp, |pid| pid == 2000);
        assert_eq!(removed, 1);
        assert!(!tmp.join(&names[0]).exists());
        for n in &names[1..] {
            assert!(tmp.join(n).exists(), "{n}");
        }
        assert!(tmp.join("tidekv-run-1001-5").exists());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
