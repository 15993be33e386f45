//! Scripted runs: the in-process engine's stepper and history sink driven by
//! a given list of per-cycle inputs — the operations clients start, the
//! replica each open FE choice takes, the crashes (atomic or mid-send), the
//! restarts of dead replicas (with recovery configured) —
//! instead of workload drivers and random streams. This is how a path of the
//! model checker is replayed on the runtime (`tests/tests/conformance.rs`);
//! the converse, a runtime run as a model path, uses
//! [`InprocOptions::recorder`](super::inproc::InprocOptions::recorder).

use super::parallel::{self, Sequential, Stepper};
use super::sink::HistorySink;
use super::value::Value;
use crate::cluster::{Cluster, Crash, CycleInputs};
use crate::node::server::HashStore;
use crate::node::{ClientId, Op};
use crate::topology::{NodeId, Topology};
use std::io::Write;

/// One cycle's inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedCycle {
    /// Per client: the operation it starts (only when it is idle).
    pub ops: Vec<Option<Op<Value>>>,
    /// `(fe, client, replica)`: the replica each open FE choice takes.
    pub picks: Vec<(NodeId, ClientId, usize)>,
    pub crashes: Vec<Crash>,
    /// Dead replicas restarting this cycle, before it executes (as the
    /// model's `CycleAction::restarts`; one thread only).
    pub restarts: Vec<NodeId>,
}

/// Runs `script`, one entry per cycle from cycle 0, on one thread or (with
/// `threads` ≥ 2) two, writing the JSON-lines history to `history` exactly as
/// `tidekv run --history` does. Errors name the first input the cluster
/// cannot take: an operation for a busy client, a choice nobody asks for, a
/// pick that is not a candidate, an open choice without a pick, a restart of
/// a node that is not a dead replica whose frames have all arrived, or any
/// restart on two threads (the split stepper does not restart nodes).
pub fn run_script(
    topo: &Topology,
    script: &[ScriptedCycle],
    threads: usize,
    history: Box<dyn Write + Send>,
) -> Result<(), String> {
    let cluster = Cluster::<Value, HashStore<Value>>::new(topo);
    if threads >= 2 {
        parallel::run_split(cluster, topo, |split| drive(topo, script, history, split)).1
    } else {
        drive(topo, script, history, &mut Sequential::new(cluster))
    }
}

fn drive(
    topo: &Topology,
    script: &[ScriptedCycle],
    history: Box<dyn Write + Send>,
    cluster: &mut impl Stepper<Value>,
) -> Result<(), String> {
    let clients = topo.clients();
    let mut sink = HistorySink::new(clients, Some(history));
    let mut events = Vec::new();
    for (cycle, sc) in script.iter().enumerate() {
        let cycle = cycle as u32;
        if !sc.restarts.is_empty() {
            let whole = cluster
                .as_any()
                .and_then(|a| a.downcast_mut::<Sequential<Value, HashStore<Value>>>())
                .map(|s| &mut s.cluster)
                .ok_or_else(|| format!("cycle {cycle}: restarts replay on one thread only"))?;
            for &node in &sc.restarts {
                let name = topo.nodes.get(node).map_or("?", |n| n.name.as_str());
                if topo.config.recovery.is_none()
                    || !matches!(
                        topo.nodes.get(node).map(|n| &n.role),
                        Some(crate::topology::Role::Server { .. })
                    )
                    || whole.is_alive(node)
                    || !whole.quiet(topo, node)
                {
                    return Err(format!(
                        "cycle {cycle}: {name} cannot restart (recovery configured, a dead replica, no frame of it in flight)"
                    ));
                }
                // Incarnation 1, as the model's restarts.
                whole.restart(topo, node, 1);
            }
        }
        if sc.ops.len() != clients {
            return Err(format!(
                "cycle {cycle}: {} operations for {clients} clients",
                sc.ops.len()
            ));
        }
        for (c, op) in sc.ops.iter().enumerate() {
            if op.is_some() && !cluster.will_be_idle(topo, c) {
                return Err(format!("cycle {cycle}: c{c} is busy and cannot start {op:?}"));
            }
        }
        let inputs = CycleInputs {
            ops: sc.ops.clone(),
            crashes: sc.crashes.clone(),
        };
        let mut asked = Vec::new();
        let mut wrong = None;
        let mut choose = |fe: NodeId, client: ClientId, candidates: &[usize]| {
            asked.push((fe, client));
            let pick = sc.picks.iter().find(|p| p.0 == fe && p.1 == client);
            match pick.and_then(|p| candidates.iter().position(|&r| r == p.2)) {
                Some(i) => i,
                None => {
                    wrong.get_or_insert(format!(
                        "cycle {cycle}: {} asks where c{client} goes among {candidates:?}; the script says {:?}",
                        topo.nodes[fe].name,
                        pick.map(|p| p.2)
                    ));
                    0
                }
            }
        };
        cluster.step(topo, &inputs, &mut choose, &mut events);
        if let Some(w) = wrong {
            return Err(w);
        }
        if let Some(p) = sc.picks.iter().find(|p| !asked.contains(&(p.0, p.1))) {
            return Err(format!("cycle {cycle}: nobody asks where c{} goes (pick {p:?})", p.1));
        }
        for (c, ev) in events.drain(..) {
            sink.event(cycle, c, &ev);
        }
        sink.end_cycle(cycle).map_err(|e| format!("writing the history: {e}"))?;
    }
    sink.finish().map_err(|e| format!("writing the history: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sink::tests::Shared as Buf;
    use crate::topology::{Kind, TopologyConfig};

    fn topo() -> Topology {
        let mut c = TopologyConfig::new(Kind::Replicated, 2);
        c.replicas = 2;
        c.protocol = crate::node::Protocol::Seed;
        Topology::new(c).unwrap()
    }

    fn cycle(ops: Vec<Option<Op<Value>>>, picks: Vec<(NodeId, ClientId, usize)>) -> ScriptedCycle {
        ScriptedCycle {
            ops,
            picks,
            crashes: vec![],
            restarts: vec![],
        }
    }

    #[test]
    fn a_script_runs_and_bad_scripts_are_refused() {
        let t = topo();
        let fe = t.fes().next().unwrap();
        let put = Some(Op::Put(0, Value::new(1, 8)));
        // c0 puts at cycle 0 (seed: an open choice, to replica 1).
        let mut script = vec![cycle(vec![put.clone(), None], vec![])];
        script.extend((0..2).map(|_| cycle(vec![None, None], vec![])));
        script[1].picks.push((fe, 0, 1));
        let out = Buf::default();
        run_script(&t, &script, 1, Box::new(out.clone())).unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "invoked, not yet returned: {text}");
        for threads in [1, 2] {
            let two = Buf::default();
            run_script(&t, &script, threads, Box::new(two.clone())).unwrap();
            assert_eq!(*two.0.lock().unwrap(), *out.0.lock().unwrap(), "{threads} threads");
        }

        let mut busy = script.clone();
        busy[1].ops[0] = put.clone();
        let e = run_script(&t, &busy, 1, Box::new(Buf::default())).unwrap_err();
        assert!(e.contains("c0 is busy"), "{e}");
        let mut missing = script.clone();
        missing[1].picks.clear();
        let e = run_script(&t, &missing, 1, Box::new(Buf::default())).unwrap_err();
        assert!(e.contains("asks where c0 goes"), "{e}");
        let mut extra = script.clone();
        extra[2].picks.push((fe, 1, 0));
        let e = run_script(&t, &extra, 1, Box::new(Buf::default())).unwrap_err();
        assert!(e.contains("nobody asks where c1 goes"), "{e}");
        let mut restart = script.clone();
        restart[1].restarts.push(fe);
        let e = run_script(&t, &restart, 1, Box::new(Buf::default())).unwrap_err();
        assert!(e.contains("cycle 1: fe") && e.contains("cannot restart"), "{e}");
        let e = run_script(&t, &restart, 2, Box::new(Buf::default())).unwrap_err();
        assert!(e.contains("one thread only"), "{e}");
    }
}
