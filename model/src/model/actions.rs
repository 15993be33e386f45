//! What may happen in a cycle (the actions) and what it leads to (the next
//! state): clients' operations, the FE's open choices and crashes, handed to
//! [`Cluster::successor_with`], the function the runtime calls too.

use super::config::{CrashMode, V};
use super::state::{CycleAction, Pick, State, Trace};
use super::tide::TideModel;
use std::fmt::Write as _;
use tidekv::cluster::{Cluster, Crash, CrashKind, CycleInputs};
use tidekv::node::client::ClientEvent;
use tidekv::node::hash::home_shard;
use tidekv::node::{ClientId, Key, Op};
use tidekv::protocol::Dispatch;
use tidekv::topology::{Kind, NodeId, Role};
use tidekv_checks::Monitor;

thread_local! {
    /// Scratch space for [`Cluster::successor_with`], per checker thread:
    /// buffers only, emptied and refilled by every step, never part of a
    /// state (it saves a handful of allocations per state).
    static SCRATCH: std::cell::RefCell<tidekv::cluster::StepBuffers<V>> =
        std::cell::RefCell::new(tidekv::cluster::StepBuffers::default());
}

impl TideModel {
    /// The nodes that may crash in this state: `(node, budget group,
    /// crashes left in the group)`. Groups: a shard (replicated), all servers
    /// (single, sharded), or `usize::MAX` for the one FE crash.
    pub fn crash_candidates(&self, s: &State) -> Vec<(NodeId, usize, usize)> {
        let t = &self.config.topology;
        // Crashed nodes are exactly the dead ones (crash-stop).
        let dead = |id: NodeId| !s.cluster.is_alive(id);
        // Down: dead, or restarted and still catching up.
        let down = |id: NodeId| dead(id) || s.cluster.is_joining(id);
        let crashed_servers = |shard: Option<usize>| {
            self.topo
                .servers()
                .filter(|&n| down(n))
                .filter(|&n| match self.topo.nodes[n].role {
                    Role::Server { shard: sh, .. } => shard.is_none_or(|x| x == sh),
                    _ => false,
                })
                .count()
        };
        let fe_crashed = self.topo.fes().any(dead);
        let mut cands = Vec::new();
        for id in 0..self.topo.nodes.len() {
            if dead(id) {
                continue;
            }
            match self.topo.nodes[id].role {
                // A joiner is down already: its crash changes no count (a
                // group of its own).
                Role::Server { .. } if s.cluster.is_joining(id) => cands.push((id, usize::MAX - 1 - id, 1)),
                Role::Server { shard, .. } => {
                    let (group, used) = if t.kind == Kind::Replicated {
                        (shard, crashed_servers(Some(shard)))
                    } else {
                        (0, crashed_servers(None))
                    };
                    if used < self.config.crashes {
                        cands.push((id, group, self.config.crashes - used));
                    }
                }
                Role::Fe { .. } if self.config.crash_fe && !fe_crashed => cands.push((id, usize::MAX, 1)),
                _ => {}
            }
        }
        cands
    }

    /// The sets of dead servers that may restart in this state: every
    /// subset of the dead servers none of whose frames is still in flight,
    /// within the restarts left.
    pub fn restart_options(&self, s: &State) -> Vec<Vec<NodeId>> {
        let left = self.config.recoveries.saturating_sub(s.restarts as u32) as usize;
        let mut sets: Vec<Vec<NodeId>> = vec![Vec::new()];
        if left == 0 {
            return sets;
        }
        for id in self.topo.servers() {
            if s.cluster.is_alive(id) || !s.cluster.quiet(&self.topo, id) {
                continue;
            }
            let more: Vec<Vec<NodeId>> = sets
                .iter()
                .filter(|set| set.len() < left)
                .map(|set| {
                    let mut set = set.clone();
                    set.push(id);
                    set
                })
                .collect();
            sets.extend(more);
        }
        sets
    }

    /// How many ways [`TideModel::crash_kinds`] lists for `id`, without
    /// listing them.
    pub fn crash_kind_count(&self, id: NodeId) -> u64 {
        match self.config.crash_mode {
            CrashMode::Atomic => 1,
            CrashMode::MidSend => (1u64 << self.topo.nodes[id].outputs.len()) - 1,
        }
    }

    /// The `i`-th of [`TideModel::crash_kinds`] (`i < crash_kind_count`).
    pub fn crash_kind(&self, i: u64) -> CrashKind {
        if i == 0 {
            CrashKind::Atomic
        } else {
            CrashKind::MidSend(i)
        }
    }

    /// How a node may crash in this model's crash mode.
    /// Mid-send: delivering nothing is the atomic crash; delivering
    /// everything is not explored, being the same as an atomic crash in the
    /// next cycle, which is.
    pub fn crash_kinds(&self, id: NodeId) -> Vec<CrashKind> {
        (0..self.crash_kind_count(id)).map(|i| self.crash_kind(i)).collect()
    }

    fn crash_options(&self, s: &State) -> Vec<Vec<Crash>> {
        let cands = self.crash_candidates(s);
        // Every subset of candidates within budget.
        let mut sets: Vec<Vec<NodeId>> = vec![Vec::new()];
        for &(id, group, left) in &cands {
            let mut more = Vec::new();
            for set in &sets {
                let used = set
                    .iter()
                    .filter(|n| cands.iter().any(|c| c.0 == **n && c.1 == group))
                    .count();
                if used < left {
                    let mut s2 = set.clone();
                    s2.push(id);
                    more.push(s2);
                }
            }
            sets.extend(more);
        }
        // Each crashing node: every way it may crash.
        let mut out = Vec::new();
        for set in sets {
            let mut combos: Vec<Vec<Crash>> = vec![Vec::new()];
            for &id in &set {
                let kinds = self.crash_kinds(id);
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        kinds.iter().map(move |&kind| {
                            let mut c2 = c.clone();
                            c2.push(Crash { node: id, kind });
                            c2
                        })
                    })
                    .collect();
            }
            out.extend(combos);
        }
        out
    }

    /// Client `c` may start an operation in this state.
    pub fn may_start(&self, s: &State, c: ClientId) -> bool {
        s.cluster.will_be_idle(&self.topo, c) && s.cluster.client(c).next_tag < self.config.ops_per_client
    }
    /// Human-readable one-line description of a cycle's choices.
    pub fn describe_action(&self, cycle: u32, a: &CycleAction) -> String {
        let mut s = format!("cycle {cycle}:");
        let sends: Vec<String> = a
            .ops
            .iter()
            .enumerate()
            .filter_map(|(c, o)| o.as_ref().map(|o| format!("c{c} {o}")))
            .collect();
        if sends.is_empty() {
            s += " no requests";
        } else {
            s += &format!(" {}", sends.join(", "));
        }
        if !a.picks.is_empty() {
            let picks: Vec<String> = a.picks.iter().map(|p| self.describe_pick(p)).collect();
            let _ = write!(s, "; {}", picks.join(", "));
        }
        for &node in &a.restarts {
            let _ = write!(s, "; restart {}", self.topo.nodes[node].name);
        }
        for crash in &a.crashes {
            let name = &self.topo.nodes[crash.node].name;
            match crash.kind {
                CrashKind::Atomic => {
                    let _ = write!(s, "; crash {name}");
                }
                CrashKind::MidSend(mask) => {
                    let outs: Vec<&str> = self.topo.nodes[crash.node]
                        .outputs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, &l)| self.topo.links[l].name.as_str())
                        .collect();
                    let _ = write!(s, "; crash {name} (mid-send: only {} delivered)", outs.join(", "));
                }
            }
        }
        s
    }

    /// The keys whose writes the protocol sends to `node` alone in state
    /// `s` (its owner: `owner`'s rendezvous choice, `chain`'s head), among
    /// the live replicas of its shard; empty where writes go to several
    /// replicas, or a lone live replica serves everything anyway.
    pub fn owned_keys(&self, s: &State, node: NodeId) -> Vec<Key> {
        let t = &self.config.topology;
        let Role::Server { shard, replica } = self.topo.nodes[node].role else {
            return Vec::new();
        };
        if t.kind != Kind::Replicated {
            return Vec::new();
        }
        let live = (0..t.replicas)
            .filter(|&r| s.cluster.is_alive(self.topo.server(shard, r)))
            .fold(0u32, |m, r| m | 1 << r);
        if live.count_ones() < 2 || live & (1 << replica) == 0 {
            return Vec::new();
        }
        (0..self.config.keys)
            .filter(|&k| t.shards == 1 || home_shard(k, t.shards) == shard)
            .filter(|&k| {
                matches!(t.protocol.route(k, true, live), Dispatch::Fixed { targets, .. } if targets == 1 << replica)
            })
            .collect()
    }

    /// What a person needs to know about a cycle's crashes in state `s`
    /// beyond [`TideModel::describe_action`]: which keys' owner crashes
    /// (`r0.0 was the owner of k0`). `None` when nothing is worth saying.
    pub fn crash_note(&self, s: &State, a: &CycleAction) -> Option<String> {
        let notes: Vec<String> = a
            .crashes
            .iter()
            .filter_map(|c| {
                let keys = self.owned_keys(s, c.node);
                (!keys.is_empty()).then(|| {
                    let keys: Vec<String> = keys.iter().map(|k| format!("k{k}")).collect();
                    format!("{} was the owner of {}", self.topo.nodes[c.node].name, keys.join(", "))
                })
            })
            .collect();
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// [`TideModel::describe_action`] of the action taken in state `s`, with
    /// its [`TideModel::crash_note`] appended.
    pub fn describe_step(&self, s: &State, a: &CycleAction) -> String {
        let line = self.describe_action(s.cluster.cycle, a);
        match self.crash_note(s, a) {
            Some(note) => format!("{line} [{note}]"),
            None => line,
        }
    }

    /// One open choice: `c0→r0.1`, or for a subset `c0→{r0.0,r0.2}`.
    pub fn describe_pick(&self, p: &Pick) -> String {
        if !Pick::subsets(&self.topo) {
            return format!("c{}→{}", p.client, self.topo.nodes[p.server].name);
        }
        let first = p.server - p.server_replica(&self.topo);
        let names: Vec<&str> = tidekv::protocol::bits(p.targets(&self.topo))
            .map(|r| self.topo.nodes[first + r].name.as_str())
            .collect();
        format!("c{}→{{{}}}", p.client, names.join(","))
    }

    /// The initial state (stateright's `init_states`).
    pub fn initial_state(&self) -> State {
        let mut monitor = Monitor::new(self.topo.clients(), self.config.topology.latency())
            .with_max_staleness(self.config.staleness_bound());
        if self.config.topology.slots > 0 {
            monitor = monitor.with_queueing(tidekv_checks::Queueing {
                busy_cycles: 2 * self.config.topology.levels as u32,
                tighten: self.config.latency_tighten,
            });
        }
        let trace = self.keep_trace.then(Trace::default);
        State {
            cluster: Cluster::new(&self.topo),
            monitor,
            trace,
            symmetry: self.symmetry.clone(),
            restarts: 0,
        }
    }

    /// Every action of `s`, appended to `actions` (stateright's `actions`),
    /// but those the reductions leave out: picks that only swap replicas no
    /// step tells apart, and with `horizon`, operations started behind an FE
    /// in the last cycle (and the one before, where
    /// [`TideModel::horizon_cycles`] says so).
    pub fn cycle_actions(&self, s: &State, actions: &mut Vec<CycleAction>) {
        self.actions_of(s, actions, true)
    }

    /// Every action of `s`, none left out (what the reductions' tests
    /// compare [`TideModel::cycle_actions`] with).
    pub fn every_action(&self, s: &State, actions: &mut Vec<CycleAction>) {
        self.actions_of(s, actions, false)
    }

    fn actions_of(&self, s: &State, actions: &mut Vec<CycleAction>, leave_out: bool) {
        if s.cluster.cycle >= self.config.cycles {
            return;
        }
        let topo = &self.topo;
        // Clients: idle ones with operations left may start any op, or none.
        // Every combination, the last client varying fastest (an odometer
        // over per-client option counts: one vector per action, no others).
        // With the horizon reduction: an operation started in the last cycle
        // by a client whose requests go to an FE reaches no node before the
        // horizon, and one started in the cycle before reaches only the FE
        // (where nothing but its own request is decided, without caches or
        // queues); the property monitor would only note it pending, which
        // changes no verdict and no twin (`tests/tests/reduction.rs`).
        let horizon = s.symmetry.0.as_ref().map_or(0, |c| c.horizon);
        let last_cycle = leave_out && s.cluster.cycle + horizon >= self.config.cycles;
        let options: Vec<usize> = (0..topo.clients())
            .map(|c| {
                let behind_fe = !matches!(
                    topo.nodes[topo.links[topo.nodes[c].outputs[0]].to].role,
                    Role::Server { .. }
                );
                if self.may_start(s, c) && !(last_cycle && behind_fe) {
                    1 + self.alphabet().len()
                } else {
                    1
                }
            })
            .collect();
        let option = |choice: usize| (choice > 0).then(|| self.alphabet()[choice - 1].clone());
        let mut op_sets: Vec<Vec<Option<Op<V>>>> = Vec::with_capacity(options.iter().product());
        let mut digits = vec![0usize; options.len()];
        loop {
            op_sets.push(digits.iter().map(|&d| option(d)).collect());
            // The next combination: increment from the last client.
            let mut i = digits.len();
            loop {
                if i == 0 {
                    break;
                }
                i -= 1;
                digits[i] += 1;
                if digits[i] < options[i] {
                    break;
                }
                digits[i] = 0;
            }
            if digits.iter().all(|&d| d == 0) {
                break;
            }
        }
        let points = s.cluster.choice_points(topo);
        let identical = if leave_out {
            super::symmetry::identical_replicas(s)
        } else {
            Vec::new()
        };
        let root = topo.fes().last().unwrap_or(usize::MAX);
        let restart_sets = self.restart_options(s);
        for crashes in self.crash_options(s) {
            // An FE crashing atomically makes no choices this cycle.
            let live_points: Vec<&(NodeId, ClientId, usize, Vec<usize>)> = points
                .iter()
                .filter(|(fe, ..)| !crashes.iter().any(|c| c.node == *fe && c.kind == CrashKind::Atomic))
                .collect();
            let mut pick_sets: Vec<Vec<Pick>> = vec![Vec::new()];
            for &&(fe, client, shard, ref cands) in &live_points {
                pick_sets = pick_sets
                    .into_iter()
                    .flat_map(|prefix| {
                        cands.iter().map(move |&replica| {
                            let mut p = prefix.clone();
                            p.push(Pick::new(topo, fe, client, shard, replica));
                            p
                        })
                    })
                    .collect();
            }
            // Picks that only swap replicas no step tells apart lead to
            // states with one representative: keep one of each family (not
            // with crashes, which name replicas and their links too).
            if crashes.is_empty() && !Pick::subsets(topo) && !identical.is_empty() {
                pick_sets.retain(|picks| {
                    let used: Vec<(usize, usize)> = picks
                        .iter()
                        .filter(|p| p.fe == root)
                        .map(|p| match topo.nodes[p.server].role {
                            Role::Server { shard, replica } => (shard, replica),
                            _ => (usize::MAX, 0),
                        })
                        .collect();
                    super::symmetry::picks_canonical(&identical, &used)
                });
            }
            for restarts in &restart_sets {
                for ops in &op_sets {
                    for picks in &pick_sets {
                        actions.push(CycleAction {
                            ops: ops.clone(),
                            picks: picks.clone(),
                            crashes: crashes.clone(),
                            restarts: restarts.clone(),
                        });
                    }
                }
            }
        }
    }

    /// The state `action` leads to from `last` (stateright's `next_state`).
    pub fn step(&self, last: &State, action: CycleAction) -> State {
        let cycle = last.cluster.cycle;
        let inputs = CycleInputs {
            ops: action.ops,
            crashes: action.crashes.clone(),
        };
        let mut events = Vec::new();
        let picks = &action.picks;
        let restarted;
        let before = if action.restarts.is_empty() {
            &last.cluster
        } else {
            let mut c = last.cluster.clone();
            // Every restart is incarnation 1 here: the properties ask only
            // whether a node restarted, and numbering them would split
            // states nothing tells apart.
            for &node in &action.restarts {
                c.restart(&self.topo, node, 1);
            }
            restarted = c;
            &restarted
        };
        let cluster = SCRATCH.with_borrow_mut(|bufs| {
            before.successor_with(
                &self.topo,
                &inputs,
                &mut |fe, c, cands| {
                    let p = picks
                        .iter()
                        .find(|p| p.fe == fe && p.client == c)
                        .expect("the action has a pick for every open choice");
                    cands
                        .iter()
                        .position(|&x| x == p.replica)
                        .expect("the pick is a candidate")
                },
                &mut events,
                bufs,
            )
        });
        let mut s = State {
            cluster,
            monitor: last.monitor.clone(),
            trace: last.trace.clone(),
            symmetry: last.symmetry.clone(),
            restarts: last.restarts + action.restarts.len() as u8,
        };
        for _ in &action.crashes {
            s.monitor.crash();
        }
        if self.config.topology.cache.is_some() {
            // The caches' events of this cycle, for `stale-reads`' twin.
            for node in &s.cluster.nodes {
                if let tidekv::cluster::NodeState::Fe(tidekv::node::fe::Fe { cache: Some(c), .. }) = node {
                    let f = &mut s.monitor.flags;
                    f.cache_hit |= c.last.hits > 0;
                    f.cache_fill |= c.last.fills > 0;
                    f.cache_raced |= c.last.raced > 0;
                }
            }
        }
        if self.config.topology.slots > 0 {
            self.allow_queueing(last, &mut s, &action.crashes);
        }
        // Time order within the cycle: every response read, then every
        // request sent (and a client's own immediate `Unavailable` answer).
        for (c, e) in &events {
            if let ClientEvent::Return { tag, result } = e {
                if s.monitor.pending(*c).is_some_and(|p| p.tag == *tag && p.invoke < cycle) {
                    s.monitor.ret(cycle, *c, *tag, result.clone());
                }
            }
        }
        for (c, e) in &events {
            match e {
                ClientEvent::Invoke { tag, op } => s.monitor.invoke(cycle, *c, *tag, op.clone()),
                ClientEvent::Return { tag, result } => {
                    if s.monitor.pending(*c).is_some_and(|p| p.tag == *tag) {
                        s.monitor.ret(cycle, *c, *tag, result.clone());
                    }
                }
            }
        }
        if let Some(trace) = &mut s.trace {
            for (c, e) in &events {
                trace.history.record(cycle, *c, e);
            }
            for crash in &action.crashes {
                trace.crashes.push((cycle, crash.node));
            }
        }
        s
    }

    /// Whether `s` is within the search's bound on cycles.
    pub fn within_bound(&self, s: &State) -> bool {
        s.cluster.cycle <= self.config.cycles
    }
}
