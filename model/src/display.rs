//! Human-readable states: what a person would draw on a whiteboard.

use crate::model::{State, TideModel};
use std::fmt::Write as _;
use tidekv::cluster::NodeState;
use tidekv::node::Frame;

fn frame_text(f: &Frame<u8>) -> String {
    let slots: Vec<String> = match f {
        Frame::Up(s) => s.iter().enumerate().filter_map(|(i, x)| x.as_ref().map(|r| format!("[{i}] {}#{}", r.op, r.tag))).collect(),
        Frame::Down(s) => {
            s.iter().enumerate().filter_map(|(i, x)| x.as_ref().map(|r| format!("[{i}] {}#{}", r.result, r.tag))).collect()
        }
        Frame::Peer(s) => s
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.as_ref().map(|u| format!("[{i}] {}={}#{}", u.op, u.result, u.tag)))
            .collect(),
    };
    slots.join(" ")
}

/// A multi-line description of a state: nodes, non-empty frames in flight,
/// and the history so far.
pub fn describe_state(m: &TideModel, s: &State) -> String {
    let topo = &m.topo;
    let mut out = format!("cycle {}\n", s.cluster.cycle);
    out += "nodes:\n";
    for (id, node) in s.cluster.nodes.iter().enumerate() {
        let name = &topo.nodes[id].name;
        match node {
            NodeState::Dead => {
                let _ = writeln!(out, "  {name}: DEAD");
            }
            NodeState::Client(c) => {
                let p = c.pending.as_ref().map_or("idle".to_string(), |r| format!("waiting for {}#{}", r.op, r.tag));
                let _ = writeln!(out, "  {name}: {p}");
            }
            NodeState::Fe(fe) => {
                let inflight: Vec<String> = fe
                    .inflight
                    .iter()
                    .enumerate()
                    .filter_map(|(c, f)| f.as_ref().map(|f| format!("c{c} {}#{} → {:#b}", f.req.op, f.req.tag, f.targets)))
                    .collect();
                let text = if inflight.is_empty() { "nothing in flight".to_string() } else { inflight.join(", ") };
                let _ = writeln!(out, "  {name}: {text}");
            }
            NodeState::Server(srv) => {
                let store: Vec<String> = srv.store.iter().map(|(k, v)| format!("k{k}={v}")).collect();
                let _ = writeln!(out, "  {name}: {{{}}}", store.join(", "));
            }
        }
    }
    out += "frames in flight (non-empty):\n";
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
        out += "history:\n";
        if trace.history.ops.is_empty() {
            out += "  none\n";
        }
        for op in &trace.history.ops {
            let _ = writeln!(out, "  {}", tidekv_checks::describe(op));
        }
    }
    out
}
