//! Human-readable states: what a person would draw on a whiteboard. The
//! Explorer shows [`describe_state`] under the timing diagram of
//! [`crate::view::svg`] for every step.

use crate::model::{State, TideModel};
use std::fmt::Write as _;
use tidekv::cluster::NodeState;
use tidekv::node::fe::Downstream;
use tidekv::node::Frame;
use tidekv::topology::{LinkKind, NodeCtx, NodeId};
use tidekv_checks::Property;

/// A frame's non-empty slots: `[slot] content#tag`. Slot `i` of a frame
/// between front ends and servers belongs to client `ci`.
pub fn frame_text(f: &Frame<u8>) -> String {
    let slots: Vec<String> = match f {
        Frame::Up(s) => s.iter().map(|(i, r)| format!("[{i}] {}#{}", r.op, r.tag)).collect(),
        Frame::Down(s) => s.iter().map(|(i, r)| format!("[{i}] {}#{}", r.result, r.tag)).collect(),
        Frame::Peer(s) => s
            .iter()
            .map(|(i, u)| format!("[{i}] {}={}#{}", u.op, u.result, u.tag))
            .collect(),
    };
    slots.join(" ")
}

fn store_text(store: &tidekv::node::VecStore<u8>) -> String {
    let kv: Vec<String> = store.iter().map(|(k, v)| format!("k{k}={v}")).collect();
    format!("{{{}}}", kv.join(", "))
}

/// The names of the nodes an FE sent a request on to: bit `r` of `targets`
/// is replica `r` of `shard` at the root FE, the parent FE elsewhere.
pub fn target_names(m: &TideModel, fe: NodeId, shard: u16, targets: u32) -> Vec<String> {
    let topo = &m.topo;
    (0..32)
        .filter(|b| targets & (1 << b) != 0)
        .map(|b| match &topo.nodes[fe].ctx {
            NodeCtx::Fe(ctx) if matches!(ctx.downstream, Downstream::Servers { .. }) => {
                topo.nodes[topo.server(usize::from(shard), b)].name.clone()
            }
            _ => topo.nodes[fe]
                .outputs
                .iter()
                .map(|&l| &topo.links[l])
                .find(|l| l.kind == LinkKind::Up)
                .map_or_else(|| format!("#{b}"), |l| topo.nodes[l.to].name.clone()),
        })
        .collect()
}

/// The always-properties state `s` violates, each with an explanation
/// where the state has what it takes: for `converged` the stores, for the
/// others the trace (a model built [`TideModel::with_trace`]); empty
/// otherwise.
pub fn violations(m: &TideModel, s: &State) -> Vec<(&'static str, String)> {
    Property::ALL
        .into_iter()
        .filter(|&p| !m.holds(p, s))
        .map(|p| {
            // `converged` in the stores' own words ({k0=2}, as everywhere
            // on the page); the rest as the checks explain them.
            let why = if p == Property::Converged {
                divergence(m, s)
            } else {
                m.explain(p, s)
            };
            (p.name(), why.unwrap_or_default())
        })
        .collect()
}

/// The first two live replicas of a shard whose stores differ, once the
/// updates in flight to them apply (what `converged` compares).
fn divergence(m: &TideModel, s: &State) -> Option<String> {
    let stores = s.cluster.converging_stores(&m.topo);
    stores.iter().find_map(|(shard, a, sa)| {
        let (_, b, sb) = stores.iter().find(|(sh, b, sb)| sh == shard && b > a && sb != sa)?;
        let name = |id: &NodeId| &m.topo.nodes[*id].name;
        Some(format!(
            "shard {shard}: {} holds {} but {} holds {}",
            name(a),
            store_text(sa),
            name(b),
            store_text(sb)
        ))
    })
}

/// A multi-line description of a state: the configuration and cycle, the
/// properties it violates, every node, the non-empty frames its nodes read
/// this cycle, and the history so far.
pub fn describe_state(m: &TideModel, s: &State) -> String {
    let topo = &m.topo;
    let width = topo.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let mut out = format!("{}\n", m.config.label());
    let _ = writeln!(
        out,
        "cycle {} (the state after cycles 0..{}; --cycles {})",
        s.cluster.cycle,
        s.cluster.cycle.saturating_sub(1),
        m.config.cycles
    );
    let bad = violations(m, s);
    if !bad.is_empty() {
        out += "VIOLATED here:\n";
        for (name, why) in &bad {
            let why = if why.is_empty() { "(the diagram says why)" } else { why };
            let _ = writeln!(out, "  {name}: {why}");
        }
    }
    out += "nodes:\n";
    for (id, node) in s.cluster.nodes.iter().enumerate() {
        let name = &topo.nodes[id].name;
        let text = match node {
            NodeState::Dead => "DEAD".to_string(),
            NodeState::Client(c) => c
                .pending
                .as_ref()
                .map_or("idle".to_string(), |r| format!("waiting for {}#{}", r.op, r.tag)),
            NodeState::Fe(fe) => {
                let inflight: Vec<String> = fe
                    .inflight
                    .iter()
                    .enumerate()
                    .filter_map(|(c, f)| {
                        f.as_ref().map(|f| {
                            format!(
                                "c{c} {}#{} sent to {}",
                                f.req.op,
                                f.req.tag,
                                target_names(m, id, f.shard, f.targets).join(" and ")
                            )
                        })
                    })
                    .collect();
                if inflight.is_empty() {
                    "nothing in flight".to_string()
                } else {
                    format!("in flight: {}", inflight.join("; "))
                }
            }
            NodeState::Server(srv) => {
                let mut t = format!("store {}", store_text(&srv.store));
                if let Some(settled) = s.cluster.settled_store(topo, id).filter(|st| **st != srv.store) {
                    let _ = write!(t, ", {} once the updates in flight apply", store_text(&settled));
                }
                t
            }
        };
        let _ = writeln!(out, "  {name:<width$}  {text}");
    }
    let _ = writeln!(out, "frames read in cycle {} (non-empty):", s.cluster.cycle);
    let mut any = false;
    for (l, frame) in s.cluster.inbox.iter().enumerate() {
        let link = &topo.links[l];
        match frame {
            Some(f) if f.used_slots() > 0 => {
                any = true;
                let _ = writeln!(out, "  {}: {}", link.name, frame_text(f));
            }
            None if s.cluster.is_alive(link.to) => {
                any = true;
                let _ = writeln!(out, "  {}: MISSING (sender dead)", link.name);
            }
            _ => {}
        }
    }
    if !any {
        out += "  none\n";
    }
    if let Some(trace) = &s.trace {
        out += "history (client op=result @invoke..return cycle):\n";
        if trace.history.ops.is_empty() {
            out += "  none\n";
        }
        for op in &trace.history.ops {
            let _ = writeln!(out, "  {}", tidekv_checks::describe(op));
        }
        if !trace.crashes.is_empty() {
            let crashes: Vec<String> = trace
                .crashes
                .iter()
                .map(|(c, n)| format!("{} @{c}", topo.nodes[*n].name))
                .collect();
            let _ = writeln!(out, "crashes: {}", crashes.join(", "));
        }
    }
    out
}
