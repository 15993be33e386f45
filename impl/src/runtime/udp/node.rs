//! One node as an OS process: `tidekv node --config FILE --id NODE`.
//!
//! # Life
//! 1. Load the cluster file (a bad one: one line on stderr, exit 2), bind the
//!    node's UDP address, say `ready`, and wait for `go` on stdin. From then
//!    on, stdin reaching end-of-file (the supervisor is gone) ends the
//!    process, so no node outlives its supervisor.
//! 2. Cycle `t = 0, 1, …, cycles`: gather the frames of cycle `t` (cycle 0
//!    reads empty frames), execute the node's pure step, send one frame per
//!    output link with header cycle `t + 1`. The last gather (of cycle
//!    `cycles`) executes nothing: it is the barrier that keeps a node alive
//!    until its neighbours hold everything they need from it.
//! 3. Say `done` with the node's [`NodeSummary`], and exit 0.
//!
//! # Gathering a cycle, and death
//! A node waits until [`Inbox::ready`]: a frame for the cycle from every live
//! in-neighbour. While it waits it resends its last frames every
//! [`NetConfig::resend_interval`](crate::runtime::config::NetConfig::resend_interval):
//! they are its heartbeat (a node blocked on a dead neighbour is not itself
//! taken for dead by the nodes blocked on it) and they repair a lost
//! datagram. A neighbour from which nothing at all arrives for the death
//! timeout (the startup timeout before its first datagram) is dead from the
//! awaited cycle on: its input reads `None` forever and nothing more is sent
//! to it.
//!
//! In bittide hardware a missing frame is a perfect failure detector; here
//! the timeout is an approximation. A crashed process is detected exactly at
//! the cycle its frames stop (as [`Cluster`](crate::cluster::Cluster)'s
//! crashes). A live process silent for longer than the timeout (descheduled,
//! stopped) is taken for dead by its neighbours, then takes them for dead in
//! turn: a false suspicion, which the report lists and which the model's
//! crash modes do not cover.
//!
//! # Crashes
//! A node with a crash scheduled at cycle `c` stops before executing `c`,
//! says `crash` with its summary, and waits to be SIGKILLed by the
//! supervisor. The kill is real, and the park makes its cycle exact: the
//! node executes nothing from `c` on, exactly like an atomic crash in the
//! in-process engine, so the two engines still replay the same run.
//!
//! # Control lines (stdout)
//! `@tidekv ready`, `@tidekv at CYCLE` (progress, at most every 50 ms),
//! `@tidekv crash JSON`, `@tidekv done JSON`. Other lines are not for the
//! supervisor and it ignores them.

use super::inbox::{Accepted, Inbox};
use crate::cluster::NodeState;
use crate::node::client::{Client, ClientEvent};
use crate::node::fe::Fe;
use crate::node::server::Server;
use crate::node::Frame;
use crate::runtime::config::ClusterConfig;
use crate::runtime::metrics::LinkBytes;
use crate::runtime::rng::Stream;
use crate::runtime::sink::ClientLog;
use crate::runtime::value::Value;
use crate::runtime::wire::{self, Header, DATAGRAM_BYTES_MAX, HEADER_BYTES};
use crate::runtime::workload::ClientDriver;
use crate::topology::{NodeCtx, NodeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The prefix of every control line a node prints.
pub const CONTROL_PREFIX: &str = "@tidekv ";
/// A node reports its cycle (`@tidekv at CYCLE`) at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// What a node reports when it is done (or parks for its crash).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSummary {
    pub node: String,
    /// Cycles executed.
    pub cycles: u32,
    /// Datagrams dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Resent frames received after the original.
    pub duplicates: u64,
    /// Rounds of resends while waiting.
    pub resends: u64,
    /// In-neighbours declared dead, with the first cycle they read as dead.
    pub deaths: Vec<(String, u32)>,
    /// Per output link: name, frame bytes sent (without headers), frames sent.
    pub links: Vec<(String, u64, u64)>,
}

/// Where a client process writes its log.
pub fn client_log_path(out_dir: &Path, node: &str) -> PathBuf {
    out_dir.join(format!("{node}.ops.jsonl"))
}

/// Prints one control line.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    // The supervisor reads these; if it is gone, the stdin watchdog ends us.
    let _ = writeln!(out, "{CONTROL_PREFIX}{line}");
    let _ = out.flush();
}

/// Runs node `id` of the cluster file `config`; returns the exit code.
pub fn node_main(config: &Path, id: &str) -> u8 {
    let cfg = match ClusterConfig::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let Some(me) = cfg.topo.node_by_name(id) else {
        eprintln!("error: --id {id}: {} has no such node", config.display());
        return 2;
    };
    let node = match NodeProc::new(cfg, me) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: node {id}: {e}");
            return 1;
        }
    };
    say("ready");
    if !wait_for_go() {
        eprintln!("error: node {id}: standard input closed before `go` (no supervisor); exit 3");
        return 3;
    }
    std::thread::spawn(|| {
        // Watchdog: the supervisor holds our stdin open while it lives.
        let mut line = String::new();
        let stdin = io::stdin();
        while stdin.lock().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
        eprintln!("error: node: standard input closed (the supervisor is gone); exit 3");
        std::process::exit(3);
    });
    match node.run() {
        Ok(summary) => {
            say(&format!(
                "done {}",
                serde_json::to_string(&summary).expect("a summary serializes")
            ));
            0
        }
        Err(e) => {
            eprintln!("error: node {id}: {e}");
            1
        }
    }
}

/// Blocks until the supervisor says `go`; `false` if stdin closes first.
fn wait_for_go() -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line.trim() == "go" => return true,
            Ok(_) => {}
        }
    }
}

/// A running node.
struct NodeProc {
    cfg: ClusterConfig,
    me: NodeId,
    socket: UdpSocket,
    inbox: Inbox,
    state: NodeState<Value>,
    driver: Option<ClientDriver>,
    chooser: Option<Stream>,
    log: Option<ClientLog<File>>,
    /// Per output: the last datagram sent on it (resent while waiting).
    out_bufs: Vec<Vec<u8>>,
    /// Per output: the receiver and the input from it (liveness is per neighbour).
    out_peer: Vec<(SocketAddr, usize)>,
    link_bytes: Vec<LinkBytes>,
    /// Per input: nothing from its sender by then means it is dead.
    deadline: Vec<Instant>,
    deaths: Vec<(String, u32)>,
    resends: u64,
    last_send: Instant,
    cycles_done: u32,
}

impl NodeProc {
    fn new(cfg: ClusterConfig, me: NodeId) -> Result<NodeProc, String> {
        let topo = &cfg.topo;
        let info = &topo.nodes[me];
        let socket = UdpSocket::bind(cfg.addrs[me]).map_err(|e| format!("cannot bind {}: {e}", cfg.addrs[me]))?;
        socket
            .set_read_timeout(Some(cfg.net.resend_interval()))
            .map_err(|e| e.to_string())?;
        let inbox = Inbox::new(topo, me, &cfg.addrs);
        let clients = topo.clients();
        let (state, driver, chooser, log) = match &info.ctx {
            NodeCtx::Client => {
                let path = client_log_path(&cfg.net.out_dir, &info.name);
                let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                (
                    NodeState::Client(Client::default()),
                    Some(ClientDriver::new(&cfg.spec.workload, cfg.spec.seed, me, &info.name)),
                    None,
                    Some(ClientLog::new(me, file)),
                )
            }
            NodeCtx::Fe(_) => (
                NodeState::Fe(Fe::new(clients)),
                None,
                Some(Stream::chooser(cfg.spec.seed, &info.name)),
                None,
            ),
            NodeCtx::Server(_) => (NodeState::Server(Server::new(clients)), None, None, None),
        };
        let out_peer = info
            .outputs
            .iter()
            .map(|&l| {
                let to = topo.links[l].to;
                let input = inbox.input_from(to).expect("every link is paired with one back");
                (cfg.addrs[to], input)
            })
            .collect();
        let now = Instant::now();
        Ok(NodeProc {
            out_bufs: vec![Vec::new(); info.outputs.len()],
            link_bytes: vec![LinkBytes::default(); info.outputs.len()],
            deadline: vec![now; info.inputs.len()],
            out_peer,
            socket,
            inbox,
            state,
            driver,
            chooser,
            log,
            deaths: Vec::new(),
            resends: 0,
            last_send: now,
            cycles_done: 0,
            me,
            cfg,
        })
    }

    fn run(mut self) -> Result<NodeSummary, String> {
        let cycles = self.cfg.spec.cycles;
        let name = self.cfg.topo.nodes[self.me].name.clone();
        let crash_at = self.cfg.spec.crashes.iter().find(|c| c.node == name).map(|c| c.cycle);
        let start = Instant::now();
        let startup = start + self.cfg.net.startup_timeout;
        self.deadline.iter_mut().for_each(|d| *d = startup);
        let mut inputs: Vec<Option<Frame<Value>>> = self.cfg.topo.nodes[self.me]
            .inputs
            .iter()
            .map(|&l| Some(self.cfg.topo.empty_frame(l)))
            .collect();
        let mut events: Vec<ClientEvent<Value>> = Vec::new();
        let mut buf = vec![0u8; DATAGRAM_BYTES_MAX + 1];
        let mut last_progress = start;
        for t in 0..=cycles {
            if crash_at == Some(t) {
                self.park();
            }
            if t > 0 {
                self.gather(t, &mut inputs, &mut buf)?;
            }
            if t == cycles {
                break;
            }
            let outs = self.step(t, &inputs, &mut events)?;
            self.send(t + 1, &outs)?;
            self.cycles_done = t + 1;
            if t % 16 == 0 {
                let now = Instant::now();
                if now - last_progress >= PROGRESS_EVERY {
                    last_progress = now;
                    say(&format!("at {}", t + 1));
                }
            }
        }
        if let Some(log) = self.log.take() {
            log.finish().map_err(|e| format!("writing the client log: {e}"))?;
        }
        Ok(self.summary())
    }

    /// Waits for the frames of cycle `t` into `inputs`; see the module doc.
    fn gather(&mut self, t: u32, inputs: &mut Vec<Option<Frame<Value>>>, buf: &mut [u8]) -> Result<(), String> {
        debug_assert_eq!(self.inbox.awaiting(), t);
        let timeout = self.cfg.net.death_timeout;
        let resend_every = self.cfg.net.resend_interval();
        loop {
            if self.inbox.ready() {
                self.inbox.take(inputs);
                return Ok(());
            }
            match self.socket.recv_from(buf) {
                Ok((n, src)) => {
                    if let Ok(Accepted::Frame(i) | Accepted::Duplicate(i)) = self.inbox.accept(src, &buf[..n]) {
                        self.deadline[i] = Instant::now() + timeout;
                    }
                }
                Err(e) if transient(&e) => {}
                Err(e) => return Err(format!("receiving: {e}")),
            }
            let now = Instant::now();
            if self.inbox.missing().any(|i| now >= self.deadline[i]) {
                let expired: Vec<usize> = self.inbox.missing().filter(|&i| now >= self.deadline[i]).collect();
                for i in expired {
                    self.inbox.declare_dead(i);
                    let dead = &self.cfg.topo.nodes[self.inbox.sender(i)].name;
                    self.deaths.push((dead.clone(), t));
                }
            }
            if now - self.last_send >= resend_every {
                self.resend()?;
            }
        }
    }

    /// Executes the node's pure step for cycle `t`.
    fn step(
        &mut self,
        t: u32,
        inputs: &[Option<Frame<Value>>],
        events: &mut Vec<ClientEvent<Value>>,
    ) -> Result<Vec<Frame<Value>>, String> {
        let ins: Vec<Option<&Frame<Value>>> = inputs.iter().map(Option::as_ref).collect();
        let info = &self.cfg.topo.nodes[self.me];
        let outs = match (&mut self.state, &info.ctx) {
            (NodeState::Client(client), NodeCtx::Client) => {
                let driver = self.driver.as_mut().expect("a client node has a driver");
                let op = driver.poll(t, client.will_be_idle(ins[0]));
                events.clear();
                let frame = client.step(ins[0], op, events);
                let log = self.log.as_mut().expect("a client node has a log");
                for ev in events.iter() {
                    driver.observe(t, ev);
                    log.event(t, ev).map_err(|e| format!("writing the client log: {e}"))?;
                }
                vec![frame]
            }
            (NodeState::Fe(fe), NodeCtx::Fe(ctx)) => {
                let chooser = self.chooser.as_mut().expect("an FE node has a chooser");
                fe.step(ctx, &ins, &mut |_client, candidates| {
                    chooser.below(candidates.len() as u64) as usize
                })
            }
            (NodeState::Server(server), NodeCtx::Server(ctx)) => server.step(ctx, &ins),
            _ => unreachable!("node state matches its role"),
        };
        debug_assert_eq!(outs.len(), self.out_bufs.len());
        Ok(outs)
    }

    /// Sends one frame per output to every live neighbour.
    fn send(&mut self, cycle: u32, outs: &[Frame<Value>]) -> Result<(), String> {
        let header = Header {
            from: self.me as u16,
            cycle,
        };
        for (o, frame) in outs.iter().enumerate() {
            let (addr, input) = self.out_peer[o];
            if !self.inbox.is_alive(input) {
                continue;
            }
            let buf = &mut self.out_bufs[o];
            wire::encode(buf, header, frame).map_err(|e| format!("encoding: {e}"))?;
            // The cluster file was refused if a frame could exceed this.
            assert!(buf.len() <= DATAGRAM_BYTES_MAX, "datagram of {} bytes", buf.len());
            self.link_bytes[o].add(buf.len() - HEADER_BYTES);
            send_to(&self.socket, buf, addr)?;
        }
        self.last_send = Instant::now();
        Ok(())
    }

    /// Resends the last frames to the live neighbours.
    fn resend(&mut self) -> Result<(), String> {
        for (o, buf) in self.out_bufs.iter().enumerate() {
            let (addr, input) = self.out_peer[o];
            if self.inbox.is_alive(input) && !buf.is_empty() {
                send_to(&self.socket, buf, addr)?;
            }
        }
        self.resends += 1;
        self.last_send = Instant::now();
        Ok(())
    }

    /// Stops before executing the crash cycle and waits for the SIGKILL.
    fn park(&mut self) -> ! {
        if let Some(log) = self.log.take() {
            let _ = log.finish();
        }
        say(&format!(
            "crash {}",
            serde_json::to_string(&self.summary()).expect("a summary serializes")
        ));
        loop {
            // The supervisor kills us; if it is gone, the watchdog exits.
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    fn summary(&self) -> NodeSummary {
        let topo = &self.cfg.topo;
        let info = &topo.nodes[self.me];
        NodeSummary {
            node: info.name.clone(),
            cycles: self.cycles_done,
            dropped: self
                .inbox
                .dropped
                .iter()
                .map(|(r, n)| (r.name().to_string(), *n))
                .collect(),
            duplicates: self.inbox.duplicates,
            resends: self.resends,
            deaths: self.deaths.clone(),
            links: info
                .outputs
                .iter()
                .zip(&self.link_bytes)
                .map(|(&l, b)| (topo.links[l].name.clone(), b.bytes, b.frames))
                .collect(),
        }
    }
}

/// Errors a UDP socket reports that mean nothing for us: a timeout, an
/// interrupted call, an ICMP "port unreachable" from a dead neighbour.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

/// `ENOBUFS` on Linux: the kernel had no buffer for the datagram.
const ENOBUFS: i32 = 105;

fn send_to(socket: &UdpSocket, buf: &[u8], addr: SocketAddr) -> Result<(), String> {
    match socket.send_to(buf, addr) {
        Ok(_) => Ok(()),
        Err(e) if transient(&e) => Ok(()),
        // A full send buffer drops the datagram; the resend repairs it.
        Err(e) if e.raw_os_error() == Some(ENOBUFS) => Ok(()),
        Err(e) => Err(format!("sending to {addr}: {e}")),
    }
}
