//! The Explorer's picture of a path: a cycle-by-cycle timing diagram.
//!
//! One horizontal lane per node (clients on top, then front ends, then
//! servers), one column per cycle. A frame sent in cycle `t` and read in cycle
//! `t+1` is an arrow from the sender's lane at `t` to the receiver's lane at
//! `t+1`; only frames that carry something are drawn (every link carries a
//! frame every cycle). Arrows are coloured by what they carry: requests,
//! responses, replica updates. Each client operation is a bar on its client's
//! lane from the cycle it was sent to the cycle its response was read, with
//! the result. A crash is a red cross; a dead node's lane is dashed from then
//! on. The right margin shows each node as it stands in the last state (the
//! servers' stores, what clients wait for), and the bottom lists the
//! properties the last state violates, with the checks' explanation.
//!
//! The diagram is drawn for the dark panel of the stateright Explorer.

use crate::model::{CycleAction, State, TideModel};
use stateright::{Model, Path};
use std::fmt::Write as _;
use tidekv::cluster::{CrashKind, NodeState};
use tidekv::history::Outcome;
use tidekv::node::Frame;
use tidekv::topology::LinkKind;

/// Geometry, in SVG user units (pixels).
const LEFT: f64 = 64.0;
/// Baseline of the cycle labels; the first lane sits `LANE_H` below it.
const TOP: f64 = 60.0;
const COL_W: f64 = 128.0;
const LANE_H: f64 = 50.0;
/// Approximate advance of one character of the monospace font per pixel
/// of font size, to size the margins to their text.
const CHAR_W: f64 = 0.62;
/// Width of the legend line.
const LEGEND_W: f64 = 620.0;
const FONT: &str = "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\"";

/// Colours on the Explorer's dark background.
const C_TEXT: &str = "#e7ecef";
const C_DIM: &str = "#8aa4bd";
const C_LANE: &str = "#5b7a99";
const C_UP: &str = "#7fd1ff";
const C_DOWN: &str = "#9be28f";
const C_PEER: &str = "#f2c46b";
const C_CRASH: &str = "#ff6b6b";
const C_FAIL: &str = "#f2a65a";
const C_INFO: &str = "#b0b0b0";
const BG: &str = "#142b46";

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Text with a halo in the background colour, so it stays legible where it
/// crosses lines.
fn text(out: &mut String, x: f64, y: f64, size: u32, color: &str, anchor: &str, body: &str) {
    let _ = write!(
        out,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" {FONT} font-size=\"{size}\" fill=\"{color}\" text-anchor=\"{anchor}\" \
         stroke=\"{BG}\" stroke-width=\"3\" paint-order=\"stroke\" style=\"white-space:pre\">{}</text>",
        esc(body)
    );
}

/// The short label of a frame on a link: its non-empty slots. On a link that
/// serves one client (slot count 1) the client is the sender or receiver, so
/// the slot is not named; elsewhere slot `i` belongs to client `ci`.
pub fn frame_label(f: &Frame<u8>, slots: usize) -> String {
    let who = |i: usize| if slots == 1 { String::new() } else { format!("c{i}:") };
    let parts: Vec<String> = match f {
        Frame::Up(s) => s.iter().map(|(i, r)| format!("{}{}", who(i), r.op)).collect(),
        Frame::Down(s) => s.iter().map(|(i, r)| format!("{}{}", who(i), r.result)).collect(),
        Frame::Peer(s) => s.iter().map(|(i, u)| format!("{}{}", who(i), u.op)).collect(),
        Frame::Transfer(t) => vec![t.text()],
    };
    parts.join(" ")
}

fn store_text(store: &tidekv::node::VecStore<u8>) -> String {
    let kv: Vec<String> = store.iter().map(|(k, v)| format!("k{k}={v}")).collect();
    format!("{{{}}}", kv.join(","))
}

/// The steps of a path with the trace in every state: as they are on a model
/// built [`TideModel::with_trace`], else replayed on one (the Explorer's
/// model keeps no trace, see [`crate::view::link::explorer_model`]).
fn with_trace(m: &TideModel, steps: Vec<(State, Option<CycleAction>)>) -> Vec<(State, Option<CycleAction>)> {
    if steps.iter().all(|(s, _)| s.trace.is_some()) {
        return steps;
    }
    let replay = TideModel::new(m.config.clone())
        .expect("the model's config is valid")
        .with_trace();
    let mut state = replay.init_states().pop().expect("one initial state");
    debug_assert_eq!(
        state.cluster, steps[0].0.cluster,
        "the path starts at the initial state"
    );
    let mut out: Vec<(State, Option<CycleAction>)> = Vec::with_capacity(steps.len());
    for (_, action) in steps {
        let next = action
            .as_ref()
            .map(|a| replay.next_state(&state, a.clone()).expect("every action applies"));
        out.push((state.clone(), action));
        if let Some(next) = next {
            state = next;
        }
    }
    out
}

/// A node as it stands in state `s`, for the right margin, with its colour.
fn node_summary(m: &TideModel, s: &State, n: usize) -> (String, &'static str) {
    match &s.cluster.nodes[n] {
        NodeState::Dead => ("DEAD".to_string(), C_CRASH),
        NodeState::Client(c) => match &c.pending {
            Some(r) => (format!("waits for {}", r.op), C_TEXT),
            None => ("idle".to_string(), C_DIM),
        },
        NodeState::Fe(fe) => {
            let inflight: Vec<String> = fe
                .inflight
                .iter()
                .enumerate()
                .filter_map(|(c, f)| {
                    let f = f.as_ref()?;
                    Some(format!(
                        "c{c}→{}",
                        crate::view::display::target_names(m, n, f.shard, f.targets).join("+")
                    ))
                })
                .collect();
            if inflight.is_empty() {
                ("nothing in flight".to_string(), C_DIM)
            } else {
                (format!("in flight: {}", inflight.join(", ")), C_DIM)
            }
        }
        NodeState::Server(srv) => {
            // Replica updates in flight are applied first thing next cycle;
            // `converged` and `no-lost-writes` judge that store.
            let mut body = format!("store {}", store_text(&srv.store));
            if let Some(settled) = s.cluster.settled_store(&m.topo, n).filter(|st| **st != srv.store) {
                let _ = write!(body, ", {} once updates apply", store_text(&settled));
            }
            (body, C_TEXT)
        }
    }
}

/// The fill behind each lane name: a colour found nowhere else on the page,
/// so a screenshot test can find the names.
pub const C_LANE_NAME_BG: &str = "#23476e";

/// The lane names, drawn last, in one group (`tidekv-lanes`) on a
/// background: the Explorer page shifts the group as the diagram scrolls
/// sideways, so the names stay in view.
fn lane_names(out: &mut String, m: &TideModel, lanes_bottom: f64, y: impl Fn(usize) -> f64) {
    let _ = write!(
        out,
        "<g class=\"tidekv-lanes\"><rect x=\"0\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{BG}\"/>",
        TOP + 8.0,
        LEFT - 2.0,
        lanes_bottom - TOP - 16.0
    );
    for (n, node) in m.topo.nodes.iter().enumerate() {
        let w = node.name.chars().count() as f64 * 13.0 * CHAR_W + 8.0;
        let _ = write!(
            out,
            "<rect x=\"4\" y=\"{:.1}\" width=\"{w:.1}\" height=\"18\" rx=\"4\" fill=\"{C_LANE_NAME_BG}\"/>",
            y(n) - 9.0
        );
        let _ = write!(
            out,
            "<text x=\"8\" y=\"{:.1}\" {FONT} font-size=\"13\" fill=\"{C_TEXT}\">{}</text>",
            y(n) + 4.5,
            esc(&node.name)
        );
    }
    out.push_str("</g>");
}

/// `line` cut into pieces of at most `at` characters, at spaces where it
/// can; pieces after the first are indented by `indent`.
fn wrap(line: &str, at: usize, indent: usize) -> Vec<String> {
    let at = at.max(indent + 20);
    let mut out = Vec::new();
    let mut rest: Vec<char> = line.chars().collect();
    let mut first = true;
    while !rest.is_empty() {
        let room = if first { at } else { at - indent };
        let cut = if rest.len() <= room {
            rest.len()
        } else {
            rest[..room]
                .iter()
                .rposition(|c| *c == ' ')
                .filter(|&i| i > room / 2)
                .unwrap_or(room)
        };
        let piece: String = rest[..cut].iter().collect();
        out.push(if first {
            piece
        } else {
            format!("{}{piece}", " ".repeat(indent))
        });
        rest = rest[cut..].iter().copied().skip_while(|c| *c == ' ').collect();
        first = false;
    }
    out
}

/// The timing diagram of `path` (a path of `m`) as an SVG document.
pub fn timing_diagram(m: &TideModel, path: Path<State, CycleAction>) -> String {
    timing_diagram_of(m, path.into_vec())
}

/// The timing diagram of a path given as its steps (each state with the
/// action taken from it), as an SVG document.
pub fn timing_diagram_of(m: &TideModel, steps: Vec<(State, Option<CycleAction>)>) -> String {
    let steps = with_trace(m, steps);
    let topo = &m.topo;
    let last = &steps.last().expect("a path has at least one state").0;
    let now = last.cluster.cycle;
    let lanes = topo.nodes.len();
    let x = |t: u32| LEFT + COL_W * f64::from(t) + 24.0;
    let y = |n: usize| TOP + LANE_H * (n + 1) as f64 - 8.0;
    let mut width = x(now) + 40.0;
    let lanes_bottom = y(lanes - 1) + 30.0;
    let title = format!("tidekv {}", m.config.label());
    let subtitle = format!(
        "cycle {now} of {} · arrows: frames (sent at t, read at t+1) · bars: operations",
        m.config.cycles
    );
    width = width
        .max(16.0 + title.chars().count() as f64 * 13.0 * CHAR_W)
        .max(16.0 + subtitle.chars().count() as f64 * 11.0 * CHAR_W)
        .max(LEGEND_W);
    // Below the lanes, wrapped to the diagram's width (never widening it,
    // so nothing is cut where the panel ends): each node as it stands in
    // the last state, then what that state violates and why.
    let wrap_at = ((width - 24.0) / (12.0 * CHAR_W)) as usize;
    let mut below: Vec<(String, &str)> = vec![(format!("at cycle {now}:"), C_DIM)];
    let name_w = topo.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    for n in 0..lanes {
        let (body, color) = node_summary(m, last, n);
        let line = format!("{:<name_w$}  {body}", topo.nodes[n].name);
        for part in wrap(&line, wrap_at, name_w + 2) {
            below.push((part, color));
        }
    }
    for (name, why) in crate::view::display::violations(m, last) {
        for part in wrap(&format!("✗ {name} violated: {why}"), wrap_at, 2) {
            below.push((part, C_CRASH));
        }
    }
    let legend_y = lanes_bottom + 18.0;
    let below_y = legend_y + 24.0;
    let height = below_y + 16.0 * below.len() as f64 + 4.0;

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tidekv-timing\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\">"
    );
    out += "<defs>";
    for (id, color) in [("up", C_UP), ("down", C_DOWN), ("peer", C_PEER)] {
        let _ = write!(
            out,
            "<marker id=\"tidekv-arrow-{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
             markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{color}\"/></marker>"
        );
    }
    out += "</defs>";

    // Title: the configuration and where the path stands.
    text(&mut out, 8.0, 18.0, 13, C_TEXT, "start", &title);
    text(&mut out, 8.0, 36.0, 11, C_DIM, "start", &subtitle);

    // Cycle columns.
    for t in 0..=now {
        let _ = write!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"{C_LANE}\" stroke-width=\"1\" \
             stroke-dasharray=\"2,4\" opacity=\"0.6\"/>",
            x(t),
            TOP + 6.0,
            lanes_bottom - 10.0
        );
        text(&mut out, x(t), TOP, 11, C_DIM, "middle", &format!("t={t}"));
    }

    // Lanes: solid while alive, dashed once dead.
    let mut crash_at: Vec<Option<u32>> = vec![None; lanes];
    for (s, a) in &steps {
        if let Some(a) = a {
            for c in &a.crashes {
                crash_at[c.node].get_or_insert(s.cluster.cycle);
            }
        }
    }
    for (n, crashed) in crash_at.iter().enumerate() {
        let end = x(now) + 20.0;
        let dead_from = crashed.map(x).unwrap_or(end).min(end);
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"{C_LANE}\" stroke-width=\"2\"/>",
            LEFT,
            y(n),
            dead_from
        );
        if dead_from < end {
            let _ = write!(
                out,
                "<line x1=\"{dead_from:.1}\" y1=\"{0:.1}\" x2=\"{end:.1}\" y2=\"{0:.1}\" stroke=\"{C_LANE}\" \
                 stroke-width=\"1\" stroke-dasharray=\"4,4\" opacity=\"0.6\"/>",
                y(n)
            );
        }
    }

    // Client operations: a bar from invoke to response, above the lane.
    if let Some(trace) = &last.trace {
        for op in &trace.history.ops {
            let c = usize::from(op.client);
            let x0 = x(op.invoke);
            let (x1, color, result, open) = match &op.ret {
                Some(r) => {
                    let color = match op.outcome() {
                        Outcome::Ok => C_DOWN,
                        Outcome::Fail => C_FAIL,
                        Outcome::Info => C_INFO,
                    };
                    (x(r.cycle), color, format!(" → {}", r.result), false)
                }
                None => (x(now) + 12.0, C_INFO, " …".to_string(), true),
            };
            let yb = y(c) - 9.0;
            let _ = write!(
                out,
                "<g><title>{}</title><line x1=\"{x0:.1}\" y1=\"{yb:.1}\" x2=\"{x1:.1}\" y2=\"{yb:.1}\" stroke=\"{color}\" \
                 stroke-width=\"5\" stroke-linecap=\"round\" opacity=\"0.75\"{}/></g>",
                esc(&tidekv_checks::describe(op)),
                if open { " stroke-dasharray=\"6,3\"" } else { "" }
            );
            // The label sits mid-bar: arrows leave a client lane where its
            // operations start and reach it where they end.
            text(
                &mut out,
                (x0 + x1) / 2.0,
                yb - 7.0,
                11,
                color,
                "middle",
                &format!("{}{result}", op.op),
            );
        }
    }

    // Frames: every non-empty frame read in cycle t was sent in cycle t-1.
    for (s, _) in &steps {
        let t = s.cluster.cycle;
        if t == 0 {
            continue;
        }
        for (l, frame) in s.cluster.inbox.iter().enumerate() {
            let Some(f) = frame.as_ref().filter(|f| f.used_slots() > 0) else {
                continue;
            };
            let link = &topo.links[l];
            let (id, color) = match link.kind {
                LinkKind::Up => ("up", C_UP),
                LinkKind::Down => ("down", C_DOWN),
                LinkKind::Peer | LinkKind::Transfer => ("peer", C_PEER),
            };
            let (x0, y0, x1, y1) = (x(t - 1), y(link.from), x(t), y(link.to));
            let label = frame_label(f, link.slots);
            let _ = write!(
                out,
                "<g><title>{} at cycle {}: {}</title><line x1=\"{x0:.1}\" y1=\"{y0:.1}\" x2=\"{x1:.1}\" y2=\"{y1:.1}\" \
                 stroke=\"{color}\" stroke-width=\"1.6\" marker-end=\"url(#tidekv-arrow-{id})\"/></g>",
                esc(&link.name),
                t - 1,
                esc(&crate::view::display::frame_text(f))
            );
            // The label sits near the sender, so that the two arrows of a
            // crossing pair (r0.0→r0.1 and r0.1→r0.0) label apart.
            let (lx, ly) = (x0 + 0.3 * (x1 - x0), y0 + 0.3 * (y1 - y0));
            let dy = if y1 >= y0 { -4.0 } else { 11.0 };
            text(&mut out, lx + 4.0, ly + dy, 10, color, "start", &label);
        }
    }

    // Store changes: a dot where a server's store differs from the cycle
    // before; hovering it shows the store (the right margin shows the last
    // one, and stepping back along the path shows any other).
    for pair in steps.windows(2) {
        let (before, after) = (&pair[0].0, &pair[1].0);
        for (n, node) in after.cluster.nodes.iter().enumerate() {
            let (NodeState::Server(now_srv), NodeState::Server(then)) = (node, &before.cluster.nodes[n]) else {
                continue;
            };
            if now_srv.store != then.store {
                let t = after.cluster.cycle;
                let _ = write!(
                    out,
                    "<g><title>{} store from cycle {t}: {}</title><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" \
                     fill=\"{C_TEXT}\"/></g>",
                    esc(&topo.nodes[n].name),
                    esc(&store_text(&now_srv.store)),
                    x(t),
                    y(n)
                );
            }
        }
    }

    // Crashes.
    for (s, a) in &steps {
        let Some(a) = a else { continue };
        for c in &a.crashes {
            let (cx, cy) = (x(s.cluster.cycle), y(c.node));
            let how = match c.kind {
                CrashKind::Atomic => "crash".to_string(),
                CrashKind::MidSend(mask) => {
                    let sent: Vec<&str> = topo.nodes[c.node]
                        .outputs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, &l)| topo.links[l].name.as_str())
                        .collect();
                    format!("crash mid-send (sent {})", sent.join(", "))
                }
            };
            let _ = write!(
                out,
                "<g><title>{} crashes at cycle {}</title><path d=\"M{:.1},{:.1} l12,12 m0,-12 l-12,12\" stroke=\"{C_CRASH}\" \
                 stroke-width=\"3\"/></g>",
                esc(&topo.nodes[c.node].name),
                s.cluster.cycle,
                cx - 6.0,
                cy - 6.0
            );
            text(&mut out, cx + 9.0, cy + 16.0, 11, C_CRASH, "start", &how);
        }
    }

    // Legend and verdicts.
    let mut lx = 8.0;
    for (name, color) in [
        ("request", C_UP),
        ("response", C_DOWN),
        ("replica update", C_PEER),
        ("crash", C_CRASH),
    ] {
        let _ = write!(
            out,
            "<line x1=\"{lx:.1}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>",
            legend_y - 4.0,
            lx + 18.0
        );
        text(&mut out, lx + 23.0, legend_y, 11, color, "start", name);
        lx += 38.0 + 7.0 * name.len() as f64;
    }
    let _ = write!(
        out,
        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{C_TEXT}\"/>",
        lx + 9.0,
        legend_y - 4.0
    );
    text(
        &mut out,
        lx + 23.0,
        legend_y,
        11,
        C_TEXT,
        "start",
        "store changed (hover)",
    );
    for (i, (line, color)) in below.iter().enumerate() {
        text(&mut out, 8.0, below_y + 16.0 * i as f64, 12, color, "start", line);
    }
    lane_names(&mut out, m, lanes_bottom, y);
    out += "</svg>";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use tidekv::node::Protocol;
    use tidekv::topology::Kind;

    /// The 3-cycle race that diverges two `seed` replicas.
    fn seed_race() -> (TideModel, Path<State, CycleAction>) {
        let mut cfg = ModelConfig::new(Kind::Replicated);
        cfg.topology.replicas = 2;
        cfg.topology.protocol = Protocol::Seed;
        let m = TideModel::new(cfg).unwrap().with_trace();
        let init = m.init_states().pop().unwrap();
        let mut actions = Vec::new();
        let mut s = init.clone();
        // Cycle 0: both clients write; cycle 1: the FE sends them to
        // different replicas; cycle 2: nothing.
        for want in [
            "c0 Put(k0,2), c1 Put(k0,1)",
            "no requests; c0→r0.1, c1→r0.0",
            "no requests",
        ] {
            let (a, next) = m
                .next_steps(&s)
                .into_iter()
                .find(|(a, _)| m.format_action(a) == want)
                .unwrap_or_else(|| panic!("no action {want:?}"));
            actions.push(a);
            s = next;
        }
        let path = Path::from_actions(&m, init, &actions).unwrap();
        (m, path)
    }

    #[test]
    fn seed_race_diagram_shows_frames_operations_and_the_violation() {
        let (m, path) = seed_race();
        let svg = timing_diagram(&m, path);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        // Lanes for every node.
        for name in ["c0", "c1", "fe", "r0.0", "r0.1"] {
            assert!(svg.contains(&format!(">{name}</text>")), "lane {name}");
        }
        // Requests travel up, updates between the replicas.
        assert!(
            svg.contains("<title>c0→fe at cycle 0: [0] Put(k0,2)#0</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("<title>fe→r0.1 at cycle 1: [0] Put(k0,2)#0</title>"),
            "{svg}"
        );
        assert!(svg.contains(">c0:Put(k0,2)</text>"), "{svg}");
        assert!(svg.contains("tidekv-arrow-peer"), "{svg}");
        // The diverged stores, below the lanes (not in a right margin a
        // narrow panel cuts off), and the verdict with both stores: now, and
        // once the updates in flight apply.
        assert!(
            svg.contains(">r0.0  store {k0=1}, {k0=2} once updates apply</text>"),
            "{svg}"
        );
        assert!(
            svg.contains(">r0.1  store {k0=2}, {k0=1} once updates apply</text>"),
            "{svg}"
        );
        assert!(
            svg.contains(">✗ converged violated: shard 0: r0.0 holds {k0=1} and r0.1 holds {k0=2} now;</text>")
                && svg.contains(">  once the updates in flight apply, r0.0 will hold {k0=2} but r0.1 will hold</text>"),
            "{svg}"
        );
        // The lane names are one group the page pins while it scrolls.
        let lanes = &svg[svg.find("<g class=\"tidekv-lanes\">").expect("a lane-name group")..];
        for name in ["c0", "c1", "fe", "r0.0", "r0.1"] {
            assert!(lanes.contains(&format!(">{name}</text>")), "lane {name} in the group");
        }
        // Nothing is wider than the cycles and the title need.
        let width: f64 = svg["<svg".len()..]
            .split("width=\"")
            .nth(1)
            .and_then(|w| w.split('"').next())
            .and_then(|w| w.parse().ok())
            .expect("a width");
        assert!(width <= 700.0, "{width}");
        // Each replica's store changes once, in cycle 2.
        assert_eq!(svg.matches(" store from cycle 3: ").count(), 2, "{svg}");
        // Operations still pending at the end are open bars.
        assert!(svg.contains("Put(k0,2) …"), "{svg}");
    }

    #[test]
    fn a_path_of_the_explorers_model_is_replayed_for_its_history() {
        let (m, path) = seed_race();
        let actions = path.clone().into_actions();
        let plain = crate::view::link::explorer_model(m.config.clone()).unwrap();
        let init = plain.init_states().pop().unwrap();
        let plain_path = Path::from_actions(&plain, init, &actions).unwrap();
        assert!(plain_path.last_state().trace.is_none());
        assert_eq!(timing_diagram(&plain, plain_path), timing_diagram(&m, path));
    }

    #[test]
    fn init_state_diagram_has_lanes_and_no_frames() {
        let (m, _) = seed_race();
        let init = m.init_states().pop().unwrap();
        let svg = timing_diagram(&m, Path::from_actions(&m, init, &[]).unwrap());
        assert!(svg.contains(">t=0</text>") && !svg.contains(">t=1</text>"));
        assert!(!svg.contains("<title>c0→fe"));
        assert!(!svg.contains("violated"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap;

    #[test]
    fn long_lines_wrap_at_spaces_with_an_indent() {
        let line = "r0.0  store {k0=1, k1=2, k2=3}, {k0=2, k1=2, k2=3} once updates apply";
        let parts = wrap(line, 30, 6);
        assert!(parts.len() > 1, "{parts:?}");
        assert!(parts.iter().all(|p| p.chars().count() <= 30), "{parts:?}");
        assert!(parts[1..].iter().all(|p| p.starts_with("      ")), "{parts:?}");
        let joined: Vec<&str> = parts.iter().flat_map(|p| p.split_whitespace()).collect();
        assert_eq!(joined, line.split_whitespace().collect::<Vec<_>>());
    }
}
