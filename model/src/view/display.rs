//! Human-readable states: what a person would draw on a whiteboard. The
//! Explorer shows [`describe_state`] under the timing diagram of
//! [`crate::view::svg`] for every step.

use crate::model::{State, TideModel};
use std::fmt::Write as _;
use tidekv::cluster::NodeState;
use tidekv::node::fe::Downstream;
use tidekv::node::{Frame, Op};
use tidekv::topology::{Kind, LinkKind, NodeCtx, NodeId};
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
        Frame::Transfer(t) => vec![t.text()],
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

/// The always-properties state `s` violates, each with the reason: for
/// `converged` and `no-lost-writes` in the stores' own words (`{k0=2}`, as
/// everywhere on the page), for the others as the checks explain them from
/// the trace (a model built [`TideModel::with_trace`]); without a trace,
/// a sentence saying where to find it.
pub fn violations(m: &TideModel, s: &State) -> Vec<(&'static str, String)> {
    Property::ALL
        .into_iter()
        .filter(|&p| !m.holds(p, s))
        .map(|p| {
            let why = match p {
                Property::Converged => divergence(m, s),
                Property::NoLostWrites => lost_write(m, s),
                _ => None,
            };
            let why = why.or_else(|| m.explain(p, s)).unwrap_or_else(|| {
                "the reason needs the history, which this state does not keep: open it in `tidekv explore`".into()
            });
            (p.name(), why)
        })
        .collect()
}

/// The first two live replicas of a shard whose stores differ once the
/// updates in flight to them apply (what `converged` compares): what each
/// holds now, and what it will hold.
fn divergence(m: &TideModel, s: &State) -> Option<String> {
    let stores = s.cluster.converging_stores(&m.topo);
    stores.iter().find_map(|(shard, a, sa)| {
        let (_, b, sb) = stores.iter().find(|(sh, b, sb)| sh == shard && b > a && sb != sa)?;
        let name = |id: &NodeId| &m.topo.nodes[*id].name;
        let now = |id: &NodeId| match &s.cluster.nodes[*id] {
            NodeState::Server(srv) => store_text(&srv.store),
            _ => "nothing (dead)".to_string(),
        };
        let (now_a, now_b) = (now(a), now(b));
        if now_a == store_text(sa) && now_b == store_text(sb) {
            return Some(format!(
                "shard {shard}: {} holds {now_a} but {} holds {now_b}",
                name(a),
                name(b)
            ));
        }
        Some(format!(
            "shard {shard}: {} holds {now_a} and {} holds {now_b} now; once the updates in flight apply, {} will \
             hold {} but {} will hold {}",
            name(a),
            name(b),
            name(a),
            store_text(sa),
            name(b),
            store_text(sb)
        ))
    })
}

/// `no-lost-writes` as a sentence: the key's last acknowledged write, to
/// whom and when it was acknowledged, and what the live servers hold
/// instead ("no live replica holds k0=1, acknowledged to c1 at cycle 4;
/// r0.1 holds k0 absent"). Needs the trace.
fn lost_write(m: &TideModel, s: &State) -> Option<String> {
    let monitor_says = m.explain(Property::NoLostWrites, s)?;
    // The monitor names the key first: "k0: an acknowledged write is lost…".
    let key: u32 = monitor_says.strip_prefix('k')?.split(':').next()?.parse().ok()?;
    let trace = s.trace.as_ref()?;
    let write = trace
        .history
        .ops
        .iter()
        .filter(|o| o.op.key() == key && o.op.is_write() && o.outcome() == tidekv::history::Outcome::Ok)
        .max_by_key(|o| o.ret.as_ref().map(|r| r.cycle))?;
    let effect = match write.op {
        Op::Put(k, v) | Op::Insert(k, v) | Op::Modify(k, v) => format!("k{k}={v}"),
        Op::Delete(k) => format!("k{k} deleted"),
        Op::Get(_) => return None,
    };
    let who = if m.config.topology.kind == Kind::Replicated {
        "replica"
    } else {
        "server"
    };
    let holders: Vec<String> = s
        .cluster
        .live_stores(&m.topo)
        .iter()
        .map(|(_, id, st)| {
            let v = st.get(&key).map_or(format!("k{key} absent"), |v| format!("k{key}={v}"));
            format!("{} holds {v}", m.topo.nodes[*id].name)
        })
        .collect();
    let holders = if holders.is_empty() {
        format!("no {who} is alive")
    } else {
        holders.join(", ")
    };
    Some(format!(
        "no live {who} holds {effect} ({}), acknowledged to c{} at cycle {}; {holders}",
        write.op,
        write.client,
        write.ret.as_ref()?.cycle
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CrashMode, ModelConfig};
    use stateright::Model;
    use tidekv::node::Protocol;

    /// The state `lines` (one cycle's choices each, as the Explorer names
    /// them) lead to from the initial state of `m`.
    fn walk(m: &TideModel, lines: &[&str]) -> State {
        let mut s = m.init_states().pop().unwrap();
        for want in lines {
            let (_, next) = m
                .next_steps(&s)
                .into_iter()
                .find(|(a, _)| m.format_action(a) == *want)
                .unwrap_or_else(|| panic!("no action {want:?}"));
            s = next;
        }
        s
    }

    /// Issue 22, item 4: the lost write reads as a sentence, naming the
    /// write, whom it was acknowledged to and when, and what the live
    /// replica holds instead (finding F3's path: the owner crashes
    /// mid-send after serving the write).
    #[test]
    fn a_lost_write_reads_as_a_sentence() {
        let mut cfg = ModelConfig::new(Kind::Replicated);
        cfg.topology.replicas = 2;
        cfg.topology.protocol = Protocol::Owner;
        cfg.crashes = 1;
        cfg.crash_mode = CrashMode::MidSend;
        let m = TideModel::new(cfg).unwrap().with_trace();
        let s = walk(
            &m,
            &[
                "c1 Put(k0,1)",
                "no requests",
                "no requests; crash r0.0 (mid-send: only r0.0→fe delivered)",
                "no requests",
                "no requests",
            ],
        );
        let why: Vec<(&str, String)> = violations(&m, &s);
        let lost = &why
            .iter()
            .find(|(p, _)| *p == "no-lost-writes")
            .expect("a lost write")
            .1;
        assert_eq!(
            lost,
            "no live replica holds k0=1 (Put(k0,1)), acknowledged to c1 at cycle 4; r0.1 holds k0 absent"
        );
        assert!(describe_state(&m, &s).contains(&format!("  no-lost-writes: {lost}\n")));
    }

    /// Without the history (the Explorer's model keeps none), a violation
    /// still gets a sentence, never an empty reason.
    #[test]
    fn every_violation_has_a_reason() {
        let mut cfg = ModelConfig::new(Kind::Replicated);
        cfg.topology.replicas = 2;
        cfg.topology.protocol = Protocol::Seed;
        cfg.ops = vec![crate::model::OpKind::Get, crate::model::OpKind::Put];
        for m in [
            TideModel::new(cfg.clone()).unwrap(),
            TideModel::new(cfg.clone()).unwrap().with_trace(),
        ] {
            let s = walk(
                &m,
                &[
                    "c0 Put(k0,2), c1 Put(k0,1)",
                    "no requests; c0→r0.1, c1→r0.0",
                    "no requests",
                ],
            );
            let why = violations(&m, &s);
            assert_eq!(why.len(), 1, "{why:?}");
            assert!(why[0].1.starts_with("shard 0: r0.0 holds {k0=1} and r0.1 holds {k0=2} now; once the updates in flight apply, r0.0 will hold {k0=2} but r0.1 will hold {k0=1}"), "{why:?}");
        }
    }
}
