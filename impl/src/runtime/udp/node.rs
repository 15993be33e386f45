//! One node as an OS process: `tidekv node --config FILE --id NODE`.
//!
//! # Life
//! 1. Load the cluster file (a bad one: one line on stderr, exit 2), bind the
//!    node's UDP address, say `ready`, and wait for `go` on stdin. From then
//!    on, stdin reaching end-of-file (the supervisor is gone) ends the
//!    process (exit 3), so no node outlives its supervisor, and a `stop`
//!    line ends it with 0.
//! 2. Cycle `t = 0, 1, …, cycles`: gather the frames of cycle `t` (cycle 0
//!    reads empty frames), execute the node's pure step, send one frame per
//!    output link with header cycle `t + 1`. The last gather (of cycle
//!    `cycles`) executes nothing: it is the barrier that keeps a node alive
//!    until its neighbours hold everything they need from it.
//! 3. Say `done` with the node's [`NodeSummary`], then keep answering
//!    requests (a neighbour may still miss the last frame) until `stop`.
//!
//! # Repair of lost datagrams
//! A node keeps, per output link, the datagrams of the last two cycles it
//! sent: a neighbour can miss no older frame (a neighbour that awaits cycle
//! `c` has taken this node's frames before `c`, and this node, awaiting `t`,
//! has sent up to `t` and holds the neighbour's frame `t - 1`, which the
//! neighbour sent only after executing `t - 2`, so `c ≥ t - 1`). The receiver says what it misses: a node that gets a neighbour's
//! frame for `t + 1` while it awaits its frame `t` knows that one was lost
//! and sends the neighbour a *request* at once (a bare header: "I await
//! cycle `t`"); a node that waits [`REQUEST_FIRST`] (rounded up by the
//! kernel to its timer tick, a few ms) without a gap showing sends requests
//! to every neighbour it misses, again after twice the gap, up to
//! [`NetConfig::resend_interval`] apart. A node that gets a request resends
//! its held frames from cycle `c` on; if it holds none (it has not computed
//! them: it is behind), it answers with a request of its own, which says it
//! lives and which the other answers with frames, never with a request, so
//! nothing ping-pongs. A lost request or resend is asked for again. Frames
//! are the same bytes however often they are sent, so repair changes no
//! history.
//!
//! # Death
//! A neighbour is dead from the awaited cycle `t` on, for good (its input
//! reads `None`, its datagrams are dropped, nothing more is sent to it),
//! when, while this node waits for its frame `t`:
//! - nothing at all came from it for the death timeout (the startup timeout
//!   while awaiting cycle 1): it crashed, was killed, or is stopped; or
//! - it answered but delivered no new frame for
//!   [`NetConfig::stall_timeout`] (four death timeouts): liveness is
//!   progress, not datagrams. A live neighbour blocked on a dead one
//!   resumes within about one death timeout, when it has declared that one
//!   dead, so only a node that cannot make progress is taken for dead.
//!
//! Both clocks start no earlier than the wait, and the socket is drained
//! before a verdict, so a node that was itself descheduled does not blame
//! its neighbours for its own delay.
//!
//! In bittide hardware a missing frame is a perfect failure detector; here
//! the timeouts approximate it. Each link's verdict is final and exact: the
//! receiver used every frame before `t` and uses none from `t` on. A process
//! killed between two sends (a mid-send crash, which the model covers) is
//! dead from `t + 1` for the neighbours that got its last frame and from
//! `t` for the others. A live process silent for longer than the timeout
//! (descheduled, stopped) is taken for dead by its neighbours, then takes
//! them for dead in turn: a false suspicion, which the report lists and
//! which the model's crash modes do not cover.
//!
//! # Crashes and kills
//! A node with a crash scheduled at cycle `c` stops before executing `c`,
//! says `crash` with its summary, answers requests for the frames it sent
//! (they were on the wire before the crash) and waits to be SIGKILLed by
//! the supervisor. The park makes its cycle exact: the node executes
//! nothing from `c` on, exactly like an atomic crash in the in-process
//! engine, so the two engines still replay the same run.
//!
//! A node with a kill at cycle `c` (`--kill`, [`NetConfig::kills`])
//! computes `c`, sends its frames on the first half of its output links,
//! says `kill c`, and SIGKILLs itself: a real death without clean-up, a
//! mid-send crash at exactly `c`.
//!
//! # Client log
//! A client node records its operations in `NODE.ops.jsonl` in the run
//! directory, written ahead ([`ClientLog`]): the cycle's lines reach the
//! file in one `write(2)` after the step and before the frame carrying its
//! request is sent. A client killed at any point leaves a log that is a
//! prefix of what it did, with every request it sent.
//!
//! # Control lines (stdout)
//! `@tidekv ready`, `@tidekv at CYCLE` (progress, at most every 50 ms),
//! `@tidekv crash JSON`, `@tidekv kill CYCLE`, `@tidekv done JSON`. Other
//! lines are not for the supervisor and it ignores them.

use super::inbox::{Accepted, Inbox};
use super::sys;
use crate::cluster::NodeState;
use crate::node::client::{Client, ClientEvent};
use crate::node::fe::{Fe, Plan};
use crate::node::persist::apply;
use crate::node::recovery::Image;
use crate::node::recovery::Persist;
use crate::node::server::Server;
use crate::node::Frame;
use crate::node::VecStore;
use crate::runtime::config::{ClusterConfig, REQUEST_FIRST};
use crate::runtime::durable::{Durable, RedbDurable};
use crate::runtime::metrics::LinkBytes;
use crate::runtime::rng::Stream;
use crate::runtime::sink::ClientLog;
use crate::runtime::value::Value;
use crate::runtime::wire::{self, Header, DATAGRAM_BYTES_MAX, HEADER_BYTES};
use crate::runtime::workload::ClientDriver;
use crate::topology::{NodeCtx, NodeId, Topology};
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
/// While receiving without a pause, a node still looks at its clocks (death,
/// requests) after this many datagrams: a flood does not blind it.
const CLOCK_EVERY: u32 = 256;

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
    /// Frames resent because a neighbour asked for them.
    pub resends: u64,
    /// Requests sent for missing frames.
    #[serde(default)]
    pub requests: u64,
    /// Datagrams this node dropped on purpose (`--drop-rate`).
    #[serde(default)]
    pub injected: u64,
    /// In-neighbours declared dead, with the first cycle they read as dead.
    pub deaths: Vec<(String, u32)>,
    /// Per output link: name, frame bytes sent (without headers), frames sent.
    pub links: Vec<(String, u64, u64)>,
    /// The root FE with `--slots`: its queue depth per shard.
    #[serde(default)]
    pub queues: Option<crate::runtime::queues::QueueStats>,
    /// A restarted replica (`--restart`, `--respawn`): the cycle it restarted
    /// in, and the first in which it served again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted: Option<(u32, Option<u32>)>,
    /// Commits to its durable store (`--persist sync|async`).
    #[serde(default)]
    pub commits: u64,
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

/// The life of the node a supervisor starts (see
/// [`node_main_incarnation`]); absent: 0.
pub const ENV_INCARNATION: &str = "TIDEKV_NODE_INCARNATION";

/// Runs node `id` of the cluster file `config`; returns the exit code. The
/// incarnation is [`ENV_INCARNATION`]'s, 0 without it.
pub fn node_main(config: &Path, id: &str) -> u8 {
    let incarnation = match std::env::var(ENV_INCARNATION) {
        Err(_) => 0,
        Ok(v) => match v.parse::<u8>() {
            Ok(i) => i,
            Err(_) => {
                eprintln!("error: {ENV_INCARNATION}={v:?} is not a number 0..=255");
                return 2;
            }
        },
    };
    node_main_incarnation(config, id, incarnation)
}

/// [`node_main`] for incarnation `incarnation` of the node: 0 is its first
/// life; 1 a replica restarted at the cycle its `--restart` names (the
/// supervisor starts it with `--respawn` once the first life died).
pub fn node_main_incarnation(config: &Path, id: &str, incarnation: u8) -> u8 {
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
    let mut node = match NodeProc::new(cfg, me, incarnation) {
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
        // Watchdog: the supervisor holds our stdin open while it lives, and
        // says `stop` once every node is done.
        let mut line = String::new();
        let stdin = io::stdin();
        while stdin.lock().read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.trim() == "stop" {
                std::process::exit(0);
            }
            line.clear();
        }
        eprintln!("error: node: standard input closed (the supervisor is gone); exit 3");
        std::process::exit(3);
    });
    let served = node.run().and_then(|summary| {
        say(&format!(
            "done {}",
            serde_json::to_string(&summary).expect("a summary serializes")
        ));
        node.serve()
    });
    match served {
        Ok(never) => match never {},
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

/// The sending side of the socket, with the testing knob that drops
/// datagrams on purpose.
struct Sender {
    socket: UdpSocket,
    /// `--drop-rate`: the node's drop stream and the threshold below which a
    /// draw drops the datagram.
    dropper: Option<(Stream, u64)>,
    injected: u64,
}

impl Sender {
    fn send(&mut self, buf: &[u8], addr: SocketAddr) -> Result<(), String> {
        if let Some((stream, below)) = &mut self.dropper {
            if stream.next_u64() < *below {
                self.injected += 1;
                return Ok(());
            }
        }
        send_to(&self.socket, buf, addr)
    }
}

/// What a node does with a request it cannot answer with frames.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behind {
    /// Says it lives and what it awaits (a running node).
    Tell,
    /// Stays silent (parked or done: it will never send more).
    Quiet,
}

/// A running node.
struct NodeProc {
    cfg: ClusterConfig,
    me: NodeId,
    net: Sender,
    inbox: Inbox,
    state: NodeState<Value>,
    driver: Option<ClientDriver>,
    chooser: Option<Stream>,
    log: Option<ClientLog<File>>,
    /// Per output, by cycle parity: the datagram of that cycle and the
    /// cycle (0: none yet). Kept for resends.
    sent: Vec<[(u32, Vec<u8>); 2]>,
    /// Per output: the receiver and the input from it (liveness is per neighbour).
    out_peer: Vec<(SocketAddr, usize)>,
    /// Per input: the output to the same neighbour.
    output_to: Vec<usize>,
    link_bytes: Vec<LinkBytes>,
    /// Per input: when anything last came from its sender.
    heard: Vec<Instant>,
    /// Per input: when its sender last delivered a new frame.
    advanced: Vec<Instant>,
    deaths: Vec<(String, u32)>,
    resends: u64,
    requests: u64,
    cycles_done: u32,
    request_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    /// The root FE with `--slots`: its queue depth per shard, and scratch.
    queues: Option<(crate::runtime::queues::QueueStats, Vec<u64>)>,
    /// The scheduled deaths and restarts (with `--respawn`).
    lives: Lives,
    /// The first cycle it executes: 0, or its restart cycle.
    start: u32,
    /// When it last said `at`.
    last_said: Instant,
    /// A replica with `--persist sync|async`: its durable store and the
    /// image it holds.
    durable: Option<(RedbDurable, Image<Value, VecStore<Value>>)>,
    commits: u64,
    /// Restarted: the cycle it restarted in and when it served again.
    restarted: Option<(u32, Option<u32>)>,
}

impl NodeProc {
    fn new(cfg: ClusterConfig, me: NodeId, incarnation: u8) -> Result<NodeProc, String> {
        let topo = &cfg.topo;
        let info = &topo.nodes[me];
        let lives = Lives::new(&cfg);
        let start = if incarnation == 0 {
            0
        } else {
            lives.restart[me].ok_or_else(|| format!("--incarnation {incarnation}: no restart is scheduled"))?
        };
        let persist = topo.config.recovery.map_or(Persist::None, |rc| rc.persist);
        let durable = match (&info.ctx, persist, &cfg.net.data_dir) {
            (NodeCtx::Server(_), Persist::Sync | Persist::Async, Some(dir)) => {
                let path = dir.join(format!("{}.redb", info.name));
                if incarnation == 0 && path.exists() {
                    // A first life starts empty, whatever a kept directory holds.
                    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                let db = RedbDurable::open(&path)?;
                let image = db.load(&info.name, topo.clients())?;
                Some((db, image))
            }
            _ => None,
        };
        let socket = UdpSocket::bind(cfg.addrs[me]).map_err(|e| format!("cannot bind {}: {e}", cfg.addrs[me]))?;
        socket
            .set_read_timeout(Some(REQUEST_FIRST))
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
            NodeCtx::Fe(ctx) => (
                NodeState::Fe(Fe::for_ctx(clients, ctx)),
                None,
                Some(Stream::chooser(cfg.spec.seed, &info.name)),
                None,
            ),
            NodeCtx::Server(_) if incarnation > 0 => {
                let image = durable.as_ref().map(|(_, img)| img.clone());
                (
                    NodeState::Server(Server::restarted(clients, image, incarnation)),
                    None,
                    None,
                    None,
                )
            }
            NodeCtx::Server(_) => (NodeState::Server(Server::new(clients)), None, None, None),
        };
        let out_peer: Vec<(SocketAddr, usize)> = info
            .outputs
            .iter()
            .map(|&l| {
                let to = topo.links[l].to;
                let input = inbox.input_from(to).expect("every link is paired with one back");
                (cfg.addrs[to], input)
            })
            .collect();
        let mut output_to = vec![usize::MAX; info.inputs.len()];
        for (o, &(_, input)) in out_peer.iter().enumerate() {
            output_to[input] = o;
        }
        let dropper = (cfg.net.drop_rate > 0.0).then(|| {
            let below = (cfg.net.drop_rate * 2f64.powi(64)) as u64;
            (Stream::new(cfg.spec.seed, &format!("drop/{}", info.name)), below)
        });
        let now = Instant::now();
        let queues = (cfg.spec.topology.slots > 0 && topo.fes().last() == Some(me)).then(|| {
            (
                crate::runtime::queues::QueueStats::new(cfg.spec.topology.shards),
                Vec::new(),
            )
        });
        Ok(NodeProc {
            queues,
            sent: vec![[(0, Vec::new()), (0, Vec::new())]; info.outputs.len()],
            link_bytes: vec![LinkBytes::default(); info.outputs.len()],
            heard: vec![now; info.inputs.len()],
            advanced: vec![now; info.inputs.len()],
            out_peer,
            output_to,
            net: Sender {
                socket,
                dropper,
                injected: 0,
            },
            inbox,
            state,
            driver,
            chooser,
            log,
            deaths: Vec::new(),
            resends: 0,
            requests: 0,
            cycles_done: 0,
            request_buf: Vec::with_capacity(HEADER_BYTES),
            recv_buf: vec![0u8; DATAGRAM_BYTES_MAX + 1],
            me,
            lives,
            start,
            last_said: Instant::now(),
            durable,
            commits: 0,
            restarted: (incarnation > 0).then_some((start, None)),
            cfg,
        })
        .map(|mut n| {
            if incarnation > 0 {
                n.inbox.start_at(start);
                // Its neighbours that are dead when it comes back.
                n.declare_scheduled_deaths(start + 1);
            }
            n
        })
    }

    /// With `--respawn`: the inputs whose sender is dead at cycle `t` by the
    /// schedule (its last frame on that link was for an earlier cycle, and
    /// it does not restart before) are dead from `t` on, at once, as an
    /// atomic or mid-send crash is in the in-process engine; the ones that
    /// restart later are awaited again from their restart cycle + 1.
    fn declare_scheduled_deaths(&mut self, t: u32) {
        if !self.cfg.net.respawn {
            return;
        }
        let topo = &self.cfg.topo;
        let dead: Vec<(usize, NodeId)> = topo.nodes[self.me]
            .inputs
            .iter()
            .enumerate()
            .filter(|&(i, _)| self.inbox.is_alive(i))
            .map(|(i, &link)| (i, link, topo.links[link].from))
            .filter(|&(_, link, from)| self.lives.silent(topo, from, link, t))
            .map(|(i, _, from)| (i, from))
            .collect();
        for (i, from) in dead {
            self.inbox.declare_dead(i);
            self.deaths.push((self.cfg.topo.nodes[from].name.clone(), t));
            self.revive(i, from, t);
        }
    }

    /// Input `i` (from `from`) was declared dead at `t`: it is awaited again
    /// if its sender restarts at `t` or later.
    fn revive(&mut self, i: usize, from: NodeId, t: u32) {
        if let Some(r) = self.lives.restart[from].filter(|&r| r >= t && self.cfg.net.respawn) {
            self.inbox.revive_from(i, r + 1);
        }
    }

    fn run(&mut self) -> Result<NodeSummary, String> {
        let cycles = self.cfg.spec.cycles;
        let name = self.cfg.topo.nodes[self.me].name.clone();
        // A restarted life dies no more (one death per node).
        let first_life = self.restarted.is_none();
        let death =
            |list: &[crate::runtime::CrashAt]| list.iter().find(|c| c.node == name && first_life).map(|c| c.cycle);
        let (crash_at, kill_at) = (death(&self.cfg.spec.crashes), death(&self.cfg.net.kills));
        let start = self.start;
        let mut inputs: Vec<Option<Frame<Value>>> = self.cfg.topo.nodes[self.me]
            .inputs
            .iter()
            // A restarted node's first cycle reads nothing (frames to a dead
            // node are dropped).
            .map(|&l| (start == 0).then(|| self.cfg.topo.empty_frame(l)))
            .collect();
        let mut events: Vec<ClientEvent<Value>> = Vec::new();
        for t in start..=cycles {
            if crash_at == Some(t) {
                self.park()?;
            }
            if t > start {
                self.gather(t, &mut inputs)?;
            }
            if t == cycles {
                break;
            }
            let outs = self.step(t, &inputs, &mut events)?;
            let silent = self.persist_and_silence(t)?;
            if kill_at == Some(t) {
                self.send(t + 1, &outs[..outs.len().div_ceil(2)], silent)?;
                say(&format!("kill {t}"));
                sys::kill_self();
            }
            self.send(t + 1, &outs, silent)?;
            self.cycles_done = t + 1;
            if t % 16 == 0 {
                let now = Instant::now();
                if now - self.last_said >= PROGRESS_EVERY {
                    self.last_said = now;
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
    fn gather(&mut self, t: u32, inputs: &mut Vec<Option<Frame<Value>>>) -> Result<(), String> {
        debug_assert_eq!(self.inbox.awaiting(), t);
        self.declare_scheduled_deaths(t);
        let net = &self.cfg.net;
        // A restarted replica's process may still be starting when its
        // neighbours await its first frame, and they hold up theirs: every
        // node waits with the startup timeout in the cycles after any
        // scheduled restart (the schedule is the same for all).
        let (silence, stall) = if t == 1 || t == self.start + 1 || self.lives.near_restart(t) {
            (net.startup_timeout, net.startup_timeout + net.stall_timeout())
        } else {
            (net.death_timeout, net.stall_timeout())
        };
        let ask_max = net.resend_interval();
        let start = Instant::now();
        for clock in self.heard.iter_mut().chain(&mut self.advanced) {
            *clock = (*clock).max(start);
        }
        let mut gap = REQUEST_FIRST;
        let mut ask_at = start + gap;
        let mut unchecked = 0;
        loop {
            if self.inbox.ready() {
                self.inbox.take(inputs);
                return Ok(());
            }
            let idle = !self.receive_one(Behind::Tell)?;
            unchecked += 1;
            if !idle && unchecked < CLOCK_EVERY {
                continue;
            }
            unchecked = 0;
            let now = Instant::now();
            if self.cfg.net.respawn && now - self.last_said >= PROGRESS_EVERY {
                // Waiting: say where, so that the supervisor releases the
                // nodes parked at earlier cycles (and respawns them).
                self.last_said = now;
                say(&format!("at {t}"));
            }
            let expired: Vec<usize> = self
                .inbox
                .missing()
                .filter(|&i| now >= self.heard[i] + silence || now >= self.advanced[i] + stall)
                .collect();
            for i in expired {
                self.inbox.declare_dead(i);
                let from = self.inbox.sender(i);
                let dead = &self.cfg.topo.nodes[from].name;
                self.deaths.push((dead.clone(), t));
                self.revive(i, from, t);
            }
            if now >= ask_at && !self.inbox.ready() {
                let missing: Vec<usize> = self.inbox.missing().collect();
                for i in missing {
                    self.request(i, t)?;
                }
                gap = (gap * 2).min(ask_max);
                ask_at = now + gap;
            }
        }
    }

    /// Receives and handles one datagram; `false` if none came in time.
    fn receive_one(&mut self, behind: Behind) -> Result<bool, String> {
        let (n, src) = match self.net.socket.recv_from(&mut self.recv_buf) {
            Ok(got) => got,
            Err(e) if transient(&e) => return Ok(false),
            Err(e) => return Err(format!("receiving: {e}")),
        };
        let now = Instant::now();
        match self.inbox.accept(src, &self.recv_buf[..n]) {
            Ok(Accepted::Frame(i)) => {
                self.heard[i] = now;
                self.advanced[i] = now;
                if behind == Behind::Tell && self.inbox.is_missing(i) {
                    // Its next frame came, not the awaited one: that one was
                    // lost. Ask at once rather than on the clock.
                    let t = self.inbox.awaiting();
                    self.request(i, t)?;
                }
            }
            Ok(Accepted::Duplicate(i)) => self.heard[i] = now,
            Ok(Accepted::Request { input, cycle }) => {
                self.heard[input] = now;
                self.answer(input, cycle, behind)?;
            }
            Err(_) => {}
        }
        Ok(true)
    }

    /// Asks the sender of input `i` for its frames from cycle `t` on.
    fn request(&mut self, i: usize, t: u32) -> Result<(), String> {
        let header = Header {
            from: self.me as u16,
            cycle: t,
        };
        wire::encode_request(&mut self.request_buf, header);
        let (addr, _) = self.out_peer[self.output_to[i]];
        self.requests += 1;
        self.net.send(&self.request_buf, addr)
    }

    /// Answers the request of input `input`'s sender, which awaits `cycle`:
    /// the held frames from `cycle` on, oldest first; see the module doc.
    fn answer(&mut self, input: usize, cycle: u32, behind: Behind) -> Result<(), String> {
        let o = self.output_to[input];
        let addr = self.out_peer[o].0;
        let mut held = [&self.sent[o][0], &self.sent[o][1]];
        held.sort_by_key(|(c, _)| *c);
        let mut resent = false;
        for (c, buf) in held {
            if *c > 0 && *c >= cycle {
                self.net.send(buf, addr)?;
                self.resends += 1;
                resent = true;
            }
        }
        if !resent && behind == Behind::Tell {
            let awaiting = self.inbox.awaiting();
            self.request(input, awaiting)?;
        }
        Ok(())
    }

    /// Answers requests for the frames already sent, until the process is
    /// ended (by the supervisor's SIGKILL or `stop`, or the watchdog).
    fn serve(&mut self) -> Result<std::convert::Infallible, String> {
        loop {
            self.receive_one(Behind::Quiet)?;
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
        let op = match (&self.state, self.driver.as_mut()) {
            (NodeState::Client(client), Some(driver)) => driver.poll(t, client.will_be_idle(ins[0])),
            _ => None,
        };
        let mut outs: Vec<Frame<Value>> = info.outputs.iter().map(|&l| self.cfg.topo.empty_frame(l)).collect();
        let chooser = &mut self.chooser;
        let mut choose = |_client: usize, candidates: &[usize]| {
            let chooser = chooser.as_mut().expect("an FE node has a chooser");
            chooser.below(candidates.len() as u64) as usize
        };
        events.clear();
        self.state.step_into(
            &info.ctx,
            &ins,
            op.as_ref(),
            &mut choose,
            &mut |e| events.push(e),
            &mut outs[..],
            &mut Plan::new(),
        );
        if let (Some((q, depth)), NodeState::Fe(fe)) = (self.queues.as_mut(), &self.state) {
            q.observe(fe, depth);
        }
        if let (Some(driver), Some(log)) = (self.driver.as_mut(), self.log.as_mut()) {
            for ev in events.iter() {
                driver.observe(t, ev);
                log.event(t, ev);
            }
            // Write-ahead: this cycle's invocation is in the file before the
            // caller sends the frame that carries it (see `ClientLog`).
            log.commit().map_err(|e| format!("writing the client log: {e}"))?;
        }
        debug_assert_eq!(outs.len(), self.sent.len());
        Ok(outs)
    }

    /// Sends one frame per output (the first `outs.len()` outputs) to every
    /// live neighbour, and keeps it for resends.
    /// The first `silent` outputs carry an absent datagram instead of their
    /// frame (a replica catching up; see [`wire::ABSENT`]).
    fn send(&mut self, cycle: u32, outs: &[Frame<Value>], silent: usize) -> Result<(), String> {
        let header = Header {
            from: self.me as u16,
            cycle,
        };
        for (o, frame) in outs.iter().enumerate() {
            let (addr, input) = self.out_peer[o];
            if !self.inbox.is_alive(input) {
                continue;
            }
            let (held, buf) = &mut self.sent[o][(cycle % 2) as usize];
            *held = cycle;
            if o < silent {
                wire::encode_absent(buf, header);
                self.net.send(buf, addr)?;
                continue;
            }
            let link = &self.cfg.topo.links[self.cfg.topo.nodes[self.me].outputs[o]];
            wire::encode_on(buf, header, frame, link).map_err(|e| format!("encoding: {e}"))?;
            // The cluster file was refused if a frame could exceed this.
            assert!(buf.len() <= DATAGRAM_BYTES_MAX, "datagram of {} bytes", buf.len());
            self.link_bytes[o].add(buf.len() - HEADER_BYTES);
            self.net.send(buf, addr)?;
        }
        Ok(())
    }

    /// Stops before executing the crash cycle, then answers requests for the
    /// frames already sent until the supervisor's SIGKILL.
    fn park(&mut self) -> Result<std::convert::Infallible, String> {
        if let Some(log) = self.log.take() {
            let _ = log.finish();
        }
        say(&format!(
            "crash {}",
            serde_json::to_string(&self.summary()).expect("a summary serializes")
        ));
        self.serve()
    }

    /// After the step of cycle `t`, before any of its frames goes out: a
    /// replica commits what it says must be durable (one redb commit), and
    /// notes when a restarted one serves again. Returns how many leading
    /// outputs are silent (a replica catching up: its FE and peer links).
    fn persist_and_silence(&mut self, t: u32) -> Result<usize, String> {
        let (NodeState::Server(s), NodeCtx::Server(ctx)) = (&self.state, &self.cfg.topo.nodes[self.me].ctx) else {
            return Ok(0);
        };
        if let (Some((db, image)), Some(rc)) = (self.durable.as_mut(), ctx.recovery) {
            if let Some(effect) = s.durable_effect(rc.persist, &*image) {
                if !effect.is_empty() {
                    let name = &self.cfg.topo.nodes[self.me].name;
                    db.commit(&[(name.as_str(), &effect)])?;
                    apply(image, &effect);
                    self.commits += 1;
                }
            }
        }
        if s.is_joining() {
            return Ok(ctx.front_links() + ctx.peers);
        }
        if let Some((_, serving @ None)) = &mut self.restarted {
            *serving = Some(t);
        }
        Ok(0)
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
            requests: self.requests,
            injected: self.net.injected,
            deaths: self.deaths.clone(),
            links: info
                .outputs
                .iter()
                .zip(&self.link_bytes)
                .map(|(&l, b)| (topo.links[l].name.clone(), b.bytes, b.frames))
                .collect(),
            queues: self.queues.as_ref().map(|(q, _)| q.clone()),
            restarted: self.restarted,
            commits: self.commits,
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

/// Cycles after a restart in which every node waits with the startup
/// timeout: a wait for the new process spreads one hop per cycle, and no
/// topology is more hops across.
pub const RESTART_SLACK: u32 = 8;

/// The deaths (`--crash`, `--kill`) and restarts (`--restart`) the cluster
/// file schedules, which every node reads alike: with `--respawn` a
/// neighbour's death is known at its exact cycle, and its next life's.
pub struct Lives {
    /// Per node: its death cycle and whether it is a kill (mid-send: the
    /// first half of its output links carry the frame of that cycle).
    death: Vec<Option<(u32, bool)>>,
    /// Per node: its restart cycle.
    pub restart: Vec<Option<u32>>,
}

impl Lives {
    pub fn new(cfg: &ClusterConfig) -> Lives {
        let topo = &cfg.topo;
        let id = |name: &str| topo.node_by_name(name);
        let mut death = vec![None; topo.nodes.len()];
        let mut restart = vec![None; topo.nodes.len()];
        for c in &cfg.spec.crashes {
            if let Some(n) = id(&c.node) {
                death[n] = Some((c.cycle, false));
            }
        }
        for k in &cfg.net.kills {
            if let Some(n) = id(&k.node) {
                death[n] = Some((k.cycle, true));
            }
        }
        for r in &cfg.net.restarts {
            if let Some(n) = id(&r.node) {
                restart[n] = Some(r.cycle);
            }
        }
        Lives { death, restart }
    }

    /// Whether cycle `t` is among the first [`RESTART_SLACK`] cycles after a
    /// scheduled restart, when a node may wait for a process that starts.
    pub fn near_restart(&self, t: u32) -> bool {
        self.restart
            .iter()
            .flatten()
            .any(|&r| r < t && t <= r + 1 + RESTART_SLACK)
    }

    /// Whether `node`'s frame on its output `link`, read at cycle `t`, is
    /// never sent: after its last frame and before its next life's first.
    pub fn silent(&self, topo: &Topology, node: NodeId, link: usize, t: u32) -> bool {
        let Some((c, kill)) = self.death[node] else {
            return false;
        };
        let outs = &topo.nodes[node].outputs;
        let o = outs.iter().position(|&l| l == link).expect("an output of the node");
        // A crash at c executes nothing from c: its last frames are read at
        // c. A kill computes c and sends the first half of its frames.
        let last = if kill && o < outs.len().div_ceil(2) { c + 1 } else { c };
        t > last && self.restart[node].is_none_or(|r| t <= r)
    }
}
