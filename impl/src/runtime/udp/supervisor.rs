//! `tidekv run --transport udp`: start one process per node, supervise,
//! stop, gather.
//!
//! 1. Pick a free loopback port per node, write the cluster file into the
//!    run directory, spawn every node with its stdin and stdout piped.
//! 2. Wait until every node says `ready` (its socket is bound), then say `go`
//!    to all: no frame is sent to a socket that does not exist yet.
//! 3. Supervise: show progress; SIGKILL a node parked at its crash cycle
//!    once every running node has executed that cycle (until then it
//!    answers requests for the frames it sent before its crash). A server
//!    or FE that dies without being told to (killed by hand, crashed) is a
//!    crash: its neighbours' failure detectors see it, the run goes on, and
//!    the report lists it under `unexpected`. A client that dies ends the
//!    run (clients are outside the failure model: its operations are lost,
//!    so no history can be written).
//! 4. Once every node is done, crashed or dead, say `stop` to the done ones
//!    (they answer late requests until then), merge the client logs into
//!    the history and the statistics (the same [`HistorySink`] the
//!    in-process engine feeds), add up the nodes' summaries, and remove the
//!    run directory (unless asked to keep it).
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
use crate::runtime::metrics::{Death, LinkBytes, Progress, Report};
use crate::runtime::sink::{merge_client_logs, HistorySink};
use crate::runtime::{CrashAt, RunError, RunSpec};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
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
        }
    }
}

/// How long every node may take to start and bind.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A cluster from which no control line arrives for this long has hung.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(60);
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
    let dir = match &opts.run_dir {
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
    };
    let cfg = ClusterConfig::new(spec.clone(), net, addrs).map_err(|e| RunError::Spec(crate::runtime::SpecError(e)))?;
    std::fs::create_dir_all(&dir.path).map_err(|e| failed(format!("{}: {e}", dir.path.display())))?;
    let cfg_path = dir.path.join("cluster.toml");
    std::fs::write(&cfg_path, cfg.to_toml()).map_err(|e| failed(format!("{}: {e}", cfg_path.display())))?;

    let n = topo.nodes.len();
    let mut children = Children {
        names: topo.nodes.iter().map(|n| n.name.clone()).collect(),
        procs: Vec::with_capacity(n),
        stdins: Vec::with_capacity(n),
    };
    let (tx, rx) = mpsc::channel::<Msg>();
    for (i, name) in children.names.clone().iter().enumerate() {
        let mut cmd = (opts.launcher)(&cfg_path, name);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| failed(format!("starting node {name}: {e}")))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        children.stdins.push(child.stdin.take());
        children.procs.push(Some(child));
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
    }
    drop(tx);
    let terminated = |sig: i32| {
        failed(format!(
            "terminated by signal {sig}: nodes stopped, run directory removed"
        ))
    };

    let mut phase = vec![Phase::Starting; n];
    let mut summaries: Vec<Option<NodeSummary>> = vec![None; n];
    let mut applied: Vec<CrashAt> = Vec::new();
    let mut killed: Vec<CrashAt> = Vec::new();
    let mut unexpected: Vec<CrashAt> = Vec::new();
    // 2. Everyone ready, then go.
    let ready_by = Instant::now() + READY_TIMEOUT;
    while phase.contains(&Phase::Starting) {
        if let Some(sig) = sys::terminated() {
            return Err(terminated(sig));
        }
        let left = ready_by.saturating_duration_since(Instant::now()).min(POLL);
        match rx.recv_timeout(left) {
            Ok(Msg::Line(i, line)) if line == "ready" => phase[i] = Phase::Running(0),
            Ok(Msg::Line(..)) => {}
            Ok(Msg::Eof(i)) => {
                // Killed by a signal: a crash before cycle 0. Otherwise it
                // could not start (its error is on stderr): the run fails.
                let (why, signalled) = exited(&mut children, i, "before it was ready");
                if !signalled {
                    return Err(failed(why));
                }
                unexpected.push(untold_death(&children, i, topo.clients(), &why, 0, opts.progress)?);
                phase[i] = Phase::Died;
            }
            Err(_) if Instant::now() < ready_by => {}
            Err(_) => {
                let slow: Vec<&str> = (0..n)
                    .filter(|&i| phase[i] == Phase::Starting)
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
    let start = Instant::now();
    for (i, stdin) in children.stdins.iter_mut().enumerate() {
        if phase[i] == Phase::Died {
            continue;
        }
        let ok = stdin
            .as_mut()
            .is_some_and(|s| s.write_all(b"go\n").and_then(|_| s.flush()).is_ok());
        if !ok {
            return Err(failed(format!("node {} did not take go", children.names[i])));
        }
    }

    // 3. Supervise.
    let mut progress = Progress::new(opts.progress, spec.cycles);
    let mut last_heard = Instant::now();
    let mut seconds = 0.0;
    let busy = |p: &Phase| matches!(p, Phase::Running(_) | Phase::Parked(_));
    while phase.iter().any(busy) {
        if let Some(sig) = sys::terminated() {
            return Err(terminated(sig));
        }
        let msg = match rx.recv_timeout(POLL) {
            Ok(m) => {
                last_heard = Instant::now();
                Some(m)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Some(Msg::Line(i, line)) => {
                let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                match (word, &mut phase[i]) {
                    ("at", Phase::Running(c)) => {
                        if let Ok(at) = rest.parse::<u32>() {
                            *c = at;
                        }
                    }
                    ("kill", Phase::Running(_)) => {
                        let cycle = rest
                            .parse::<u32>()
                            .map_err(|_| failed(format!("node {}: bad kill line {rest:?}", children.names[i])))?;
                        killed.push(CrashAt {
                            node: children.names[i].clone(),
                            cycle,
                        });
                        phase[i] = Phase::Killed;
                    }
                    ("crash" | "done", Phase::Running(_)) => {
                        let s: NodeSummary = serde_json::from_str(rest)
                            .map_err(|e| failed(format!("node {}: bad summary: {e}", children.names[i])))?;
                        if word == "crash" {
                            // The node parked before executing its crash cycle.
                            applied.push(CrashAt {
                                node: children.names[i].clone(),
                                cycle: s.cycles,
                            });
                            phase[i] = Phase::Parked(s.cycles);
                        } else {
                            phase[i] = Phase::Done;
                        }
                        summaries[i] = Some(s);
                    }
                    _ => {}
                }
            }
            Some(Msg::Eof(i)) => match phase[i] {
                Phase::Running(at) => {
                    let (why, _) = exited(&mut children, i, "during the run");
                    unexpected.push(untold_death(&children, i, topo.clients(), &why, at, opts.progress)?);
                    phase[i] = Phase::Died;
                }
                Phase::Parked(_) | Phase::Killed => {
                    children.kill(i);
                    if phase[i] != Phase::Killed {
                        phase[i] = Phase::Crashed;
                    }
                }
                _ => {}
            },
            None => {
                if last_heard.elapsed() > SILENCE_TIMEOUT {
                    return Err(failed(format!(
                        "no node reported for {} s; the cluster hung",
                        SILENCE_TIMEOUT.as_secs()
                    )));
                }
            }
        }
        let running = phase.iter().filter_map(|p| match p {
            Phase::Running(c) => Some(*c),
            _ => None,
        });
        let at = running.clone().min();
        // A parked node is killed once every running node has executed its
        // crash cycle: none can still ask it for a frame.
        for (i, p) in phase.iter_mut().enumerate() {
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
        if at.is_none() && seconds == 0.0 {
            seconds = start.elapsed().as_secs_f64();
        }
        progress.update(at.unwrap_or(spec.cycles), None);
    }
    progress.finish();
    if seconds == 0.0 {
        seconds = start.elapsed().as_secs_f64();
    }
    // Done nodes answer late requests until told to stop; then they exit 0
    // (an exit code other than 0 is a node's failure and fails the run).
    for (i, p) in phase.iter().enumerate() {
        if *p != Phase::Done {
            continue;
        }
        if let Some(s) = children.stdins[i].as_mut() {
            let _ = s.write_all(b"stop\n").and_then(|_| s.flush());
        }
    }
    for (i, p) in phase.iter().enumerate() {
        if *p != Phase::Done {
            continue;
        }
        if let Some(mut c) = children.procs[i].take() {
            match c.wait() {
                // Killed by a signal after it was done: its part is complete.
                Ok(s) if s.success() || s.code().is_none() => {}
                Ok(s) => return Err(failed(format!("node {} exited with {s}", children.names[i]))),
                Err(e) => return Err(failed(format!("node {}: {e}", children.names[i]))),
            }
        }
    }
    drop(children);
    if let Some(sig) = sys::terminated() {
        return Err(terminated(sig));
    }

    // 4. Gather.
    let mut sink = HistorySink::new(topo.clients(), opts.history.take());
    let mut logs = Vec::with_capacity(topo.clients());
    for c in 0..topo.clients() {
        let name = &topo.nodes[c].name;
        let path = client_log_path(&dir.path, name);
        let f = File::open(&path).map_err(|e| failed(format!("{}: {e}", path.display())))?;
        logs.push((path.display().to_string(), BufReader::new(f)));
    }
    merge_client_logs(logs, &mut sink).map_err(|e| failed(format!("merging client logs: {e}")))?;
    let stats = sink.finish().map_err(|e| failed(format!("writing the history: {e}")))?;
    let mut links: BTreeMap<String, LinkBytes> = BTreeMap::new();
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    let (mut duplicates, mut injected, mut resent) = (0, 0, 0);
    let mut deaths = Vec::new();
    for s in summaries.iter().flatten() {
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
    for u in &mut unexpected {
        if let Some(first) = deaths.iter().filter(|d| d.dead == u.node).map(|d| d.cycle).min() {
            u.cycle = first;
        }
    }
    applied.sort_by_key(|c| (c.cycle, c.node.clone()));
    Ok(Report {
        transport: "udp",
        topology: spec.topology.label(),
        workload: spec.workload_label(),
        seed: spec.seed,
        cycles: spec.cycles,
        seconds,
        stats,
        latency_expected: spec.topology.latency_cycles(),
        links: topo
            .links
            .iter()
            .map(|l| (l.name.clone(), links.get(&l.name).copied().unwrap_or_default()))
            .collect(),
        bytes_sample_every: 1,
        dropped,
        duplicate_frames: duplicates,
        crashes: applied,
        kills: killed,
        deaths,
        unexpected,
        injected_drops: injected,
        resent_frames: resent,
        history: opts.history_path.clone(),
        state_bytes_per_cycle: None,
    })
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

/// Node `i` died untold (`why`) at about cycle `at`. A server or FE: a
/// crash, as its neighbours' failure detectors see it; warns and returns it.
/// A client: the end of the run (clients are outside the failure model).
fn untold_death(
    children: &Children,
    i: usize,
    clients: usize,
    why: &str,
    at: u32,
    progress: bool,
) -> Result<CrashAt, RunError> {
    if i < clients {
        return Err(RunError::Failed(format!(
            "{why}: clients are outside the failure model and its operations are lost, so no history"
        )));
    }
    let nl = if progress { "\n" } else { "" };
    eprintln!("{nl}warning: {why} at about cycle {at}; treated as a crash");
    Ok(CrashAt {
        node: children.names[i].clone(),
        cycle: at,
    })
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
