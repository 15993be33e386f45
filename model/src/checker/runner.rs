//! Running one exhaustive check and turning stateright's answer into a report:
//! verdicts, state counts, and minimal counterexamples.

use crate::checker::expect::{self, Claim};
use crate::model::{CycleAction, ModelConfig, State, TideModel};
use serde_json::{json, Value as Json};
use stateright::{Checker, HasDiscoveries, Model, Path};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tidekv::cluster::CrashKind;
use tidekv::topology::ConfigError;
use tidekv_checks::{PerProperty, Property, Verdict};

/// A counterexample: the cycles leading to the first violating state.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub property: Property,
    /// What the check said about the last state.
    pub explanation: String,
    /// One line per cycle.
    pub steps: Vec<String>,
    /// Per step: what [`TideModel::crash_note`] adds to it (which key's
    /// owner crashes), if anything.
    pub notes: Vec<Option<String>>,
    /// The same, structured.
    pub steps_json: Vec<Json>,
    /// The history at the violating state, one op per line.
    pub history: Vec<String>,
    /// The Explorer page of the violating state, as `tidekv explore` with
    /// the same flags serves it on its default address (see
    /// [`Report::retarget_links`]); empty where the path is too wide to
    /// encode.
    pub explore_url: String,
    /// The same page without its address: the encoded path and the
    /// configuration's fingerprint (`0/14/2?cfg=…`); empty with the URL.
    pub explore_path: String,
    /// The path itself: one action per cycle from the initial state (what
    /// the conformance tests replay on the runtime).
    pub actions: Vec<CycleAction>,
}

/// The result of checking one configuration.
#[derive(Clone, Debug)]
pub struct Report {
    pub config: ModelConfig,
    pub unique_states: usize,
    pub states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// Per property: its verdict.
    pub verdicts: PerProperty<Verdict>,
    /// Per property: whether its `sometimes` twin was reached.
    pub twins: PerProperty<bool>,
    pub counterexamples: Vec<Counterexample>,
    pub threads: usize,
    /// `Some((walks, seed))` for a simulation, `None` for an exhaustive check.
    pub simulated: Option<(u64, u64)>,
}

impl Counterexample {
    /// One line per cycle, with its note (`… crash r0.0 [r0.0 was the
    /// owner of k0]`): what `check` prints and `--json` carries as `trace`.
    pub fn annotated_steps(&self) -> Vec<String> {
        self.steps
            .iter()
            .zip(&self.notes)
            .map(|(s, n)| match n {
                Some(n) => format!("{s} [{n}]"),
                None => s.clone(),
            })
            .collect()
    }
}

impl Report {
    /// Points every counterexample's Explorer link at `addr` (host:port),
    /// where `tidekv explore` runs.
    pub fn retarget_links(&mut self, addr: &str) {
        for c in &mut self.counterexamples {
            if !c.explore_path.is_empty() {
                c.explore_url = crate::view::link::steps_url(addr, &c.explore_path);
            }
        }
    }

    /// Properties whose verdict differs from what the project expects.
    pub fn surprises(&self) -> Vec<Property> {
        self.verdicts
            .iter()
            .filter(|(p, v)| **v != expect::expected(&self.config, *p).0)
            .map(|(p, _)| p)
            .collect()
    }

    /// Twins that should have been reached but were not: a vacuous pass.
    pub fn unreached_twins(&self) -> Vec<&'static str> {
        self.twins
            .iter()
            .filter(|(p, reached)| !**reached && expect::twin_expected(&self.config, *p))
            .map(|(p, _)| p.twin())
            .collect()
    }

    /// One JSON object, as `check --json` prints it.
    pub fn to_json(&self) -> Json {
        let t = &self.config.topology;
        let mut properties = serde_json::Map::new();
        let mut seed_claim = serde_json::Map::new();
        let mut expected = serde_json::Map::new();
        let mut twins = serde_json::Map::new();
        for p in Property::ALL {
            let name = p.name();
            properties.insert(name.to_string(), json!(self.verdicts[p].word()));
            seed_claim.insert(name.to_string(), json!(expect::seed_claim(&self.config, p).word()));
            let (v, finding) = expect::expected(&self.config, p);
            expected.insert(
                name.to_string(),
                match finding {
                    Some(f) => json!({"verdict": v.word(), "finding": f}),
                    None => json!({"verdict": v.word()}),
                },
            );
            twins.insert(p.twin().to_string(), json!(self.twins[p]));
        }
        let cex: Vec<Json> = self
            .counterexamples
            .iter()
            .map(|c| {
                json!({"property": c.property.name(), "explanation": c.explanation, "steps": c.steps_json,
                       "trace": c.annotated_steps(), "history": c.history,
                       "explore": format!("tidekv explore {}", self.config.flags()),
                       "explore_url": c.explore_url})
            })
            .collect();
        json!({
            "configuration": self.config.label(),
            "flags": self.config.flags(),
            "topology": t.kind.name(), "clients": t.clients, "shards": t.shards, "replicas": t.replicas,
            "levels": t.levels, "protocol": t.protocol.name(), "keys": self.config.keys,
            "values": self.config.values, "ops_per_client": self.config.ops_per_client,
            "cycles": self.config.cycles,
            "ops": self.config.ops.iter().map(|o| o.name()).collect::<Vec<_>>(),
            "crashes": self.config.crashes, "crash_mode": self.config.crash_mode_name(),
            "crash_fe": self.config.crash_fe,
            "mid_send_as_atomic": TideModel::new(self.config.clone()).ok().and_then(|m| m.mid_send_as_atomic()),
            "unique_states": self.unique_states, "states_generated": self.states, "max_depth": self.max_depth,
            "seconds": (self.seconds * 1000.0).round() / 1000.0, "threads": self.threads,
            "properties": properties, "seed_claim": seed_claim, "expected": expected,
            "reached": twins,
            "as_expected": self.surprises().is_empty() && self.unreached_twins().is_empty(),
            "exhaustive": self.simulated.is_none(),
            "simulation": self.simulated.map(|(walks, seed)| json!({"walks": walks, "seed": seed})),
            "counterexamples": cex,
        })
    }
}

impl Claim {
    pub fn word(self) -> &'static str {
        match self {
            Claim::Holds => "holds",
            Claim::Violated => "violated",
            Claim::None => "no claim",
            Claim::NotApplicable => "n/a",
        }
    }
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub threads: usize,
    /// Breadth-first instead of depth-first. Both find the same minimal
    /// counterexamples (every path to a state has as many steps as the
    /// state's cycle, and the model tracks the smallest violating state), but
    /// breadth-first holds a whole cycle's states in memory: about 30 times
    /// more on `replicated R=3 F=2 mid-send`, and slower.
    pub bfs: bool,
    /// Symmetry reduction over the replicas of each shard (depth-first only;
    /// `fanout` only, see [`crate::model::representative`]).
    pub symmetry: bool,
    /// Print a progress line to stderr every couple of seconds.
    pub progress: bool,
}

/// Checks one configuration exhaustively (depth-first unless `opts.bfs`) and
/// reports, with a minimal counterexample per violated property.
pub fn check(config: &ModelConfig, opts: &RunOptions) -> Result<Report, ConfigError> {
    let report = check_once(config, opts, None)?;
    // With several threads, a discovery at a later cycle can land after the
    // earliest one (stateright overwrites discoveries); the minimal cycle is
    // known from the model, so a mismatch is re-run on one thread, where no
    // later discovery can overtake the earliest.
    if report.1 && opts.threads > 1 {
        return Ok(check_once(
            config,
            &RunOptions {
                threads: 1,
                ..opts.clone()
            },
            None,
        )?
        .0);
    }
    Ok(report.0)
}

/// Where a bounded run ([`check_bounded`]) stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// stateright's `timeout`: it stops the search only with 2 or more threads.
    Seconds(f64),
    /// stateright's `target_state_count` (generated states, checked every
    /// 1,500 states per thread).
    States(usize),
}

/// One search as [`check`] makes it, cut by `bound` if given, and without
/// [`check`]'s one-thread re-run for a minimal counterexample: for
/// measurements. Also returns whether the bound cut the search (the report
/// then covers only part of the state space).
pub fn check_bounded(
    config: &ModelConfig,
    opts: &RunOptions,
    bound: Option<Bound>,
) -> Result<(Report, bool), ConfigError> {
    if matches!(bound, Some(Bound::Seconds(_))) && opts.threads < 2 {
        return Err(ConfigError(
            "a time bound needs 2 or more threads (stateright's timeout)".into(),
        ));
    }
    let (report, _) = check_once(config, opts, bound)?;
    let cut = match bound {
        None => false,
        Some(Bound::Seconds(s)) => report.seconds >= s,
        Some(Bound::States(n)) => report.states >= n,
    };
    Ok((report, cut))
}

fn check_once(config: &ModelConfig, opts: &RunOptions, bound: Option<Bound>) -> Result<(Report, bool), ConfigError> {
    let mut model = TideModel::new(config.clone())?;
    model.exhaustive_limits()?;
    if opts.symmetry {
        if opts.bfs {
            return Err(ConfigError("--symmetry works depth-first: drop --bfs".into()));
        }
        model = model.with_symmetry()?;
    }
    let start = Instant::now();
    let builder = model
        .checker()
        .threads(opts.threads.max(1))
        .finish_when(HasDiscoveries::AnyOf(BTreeSet::new()));
    let builder = if opts.symmetry {
        builder.symmetry_fn(crate::model::representative)
    } else {
        builder
    };
    let builder = match bound {
        None => builder,
        Some(Bound::Seconds(s)) => builder.timeout(Duration::from_secs_f64(s)),
        Some(Bound::States(n)) => builder.target_state_count(n),
    };
    let mut checker: Box<dyn Checker<TideModel> + Send + Sync> = if opts.bfs {
        Box::new(builder.spawn_bfs())
    } else {
        Box::new(builder.spawn_dfs())
    };
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let mut printed = false;
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(20));
        if opts.progress && last.elapsed() >= Duration::from_secs(2) {
            last = Instant::now();
            let line = format!(
                "  {}: {} unique states, depth {}, {:.0}s",
                config.label(),
                checker.unique_state_count(),
                checker.max_depth(),
                start.elapsed().as_secs_f64()
            );
            if tty {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
            printed = true;
        }
    }
    for h in checker.handles() {
        h.join().expect("a checker thread panicked");
    }
    if printed && tty {
        eprint!("\r\x1b[K");
    }
    let seconds = start.elapsed().as_secs_f64();
    let model = checker.model();
    let discoveries = checker.discoveries();
    let mut verdicts = PerProperty::from_fn(|p| applicable(model, p));
    let twins = PerProperty::from_fn(|p| discoveries.contains_key(p.twin()));
    let mut counterexamples = Vec::new();
    let mut not_minimal = false;
    for p in Property::ALL {
        if let Some(path) = discoveries.get(p.name()) {
            verdicts[p] = Verdict::Violated;
            let cex = counterexample(model, p, path.clone());
            if model.min_size(p.index()) != Some(TideModel::size(path.last_state())) {
                not_minimal = true;
            }
            counterexamples.push(cex);
        }
    }
    let report = Report {
        config: config.clone(),
        unique_states: checker.unique_state_count(),
        states: checker.state_count(),
        max_depth: checker.max_depth(),
        seconds,
        verdicts,
        twins,
        counterexamples,
        threads: opts.threads.max(1),
        simulated: None,
    };
    Ok((report, not_minimal))
}

/// The verdict of a property nothing was found against: `holds`, or `n/a`
/// where it does not apply.
pub fn applicable(model: &TideModel, p: Property) -> Verdict {
    if p.applies(model.scope()) {
        Verdict::Holds
    } else {
        Verdict::NotApplicable
    }
}

/// Replays a path on a model that keeps the full history, and explains.
fn counterexample(model: &TideModel, p: Property, path: Path<State, CycleAction>) -> Counterexample {
    replay(model, p, path.into_actions())
}

/// Replays `actions` from the initial state on a model that keeps the full
/// history, and explains why property `p` fails at the end.
pub fn replay(model: &TideModel, p: Property, actions: Vec<CycleAction>) -> Counterexample {
    let replay = TideModel::new(model.config.clone())
        .expect("the config was valid")
        .with_trace();
    let mut state = replay.init_states().pop().expect("one initial state");
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut steps_json = Vec::new();
    let explore_path = crate::view::link::counterexample_path(&model.config, &actions);
    let explore_url = if explore_path.is_empty() {
        String::new()
    } else {
        crate::view::link::steps_url(crate::view::link::DEFAULT_ADDR, &explore_path)
    };
    for a in &actions {
        let cycle = state.cluster.cycle;
        steps.push(model.describe_action(cycle, a));
        let note = replay.crash_note(&state, a);
        steps_json.push(action_json(model, cycle, a, note.as_deref()));
        notes.push(note);
        state = replay.next_state(&state, a.clone()).expect("every action applies");
    }
    let explanation = replay
        .explain(p, &state)
        .unwrap_or_else(|| "(the checks find nothing wrong: a model bug)".into());
    let trace = state.trace.as_ref().expect("the replay keeps the trace");
    let history = trace.history.ops.iter().map(tidekv_checks::describe).collect();
    Counterexample {
        property: p,
        explanation,
        steps,
        notes,
        steps_json,
        history,
        explore_url,
        explore_path,
        actions,
    }
}

/// A cycle's choices as JSON: requests sent, replica choices, crashes, and
/// the cycle's [`TideModel::crash_note`] as `note` where there is one.
pub fn action_json(model: &TideModel, cycle: u32, a: &CycleAction, note: Option<&str>) -> Json {
    let topo = &model.topo;
    let requests: Vec<Json> = a
        .ops
        .iter()
        .enumerate()
        .filter_map(|(c, o)| {
            o.as_ref()
                .map(|o| json!({"client": format!("c{c}"), "op": o.to_string()}))
        })
        .collect();
    let picks: Vec<Json> = a
        .picks
        .iter()
        .map(|p| json!({"fe": topo.nodes[p.fe].name, "client": format!("c{}", p.client), "replica": topo.nodes[p.server].name}))
        .collect();
    let crashes: Vec<Json> = a
        .crashes
        .iter()
        .map(|c| {
            let node = &topo.nodes[c.node];
            match c.kind {
                CrashKind::Atomic => json!({"node": node.name, "mode": "atomic"}),
                CrashKind::MidSend(mask) => {
                    let delivered: Vec<&str> = node
                        .outputs
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| mask & (1 << k) != 0)
                        .map(|(_, &l)| topo.links[l].name.as_str())
                        .collect();
                    json!({"node": node.name, "mode": "mid-send", "delivered": delivered})
                }
            }
        })
        .collect();
    let mut step = json!({"cycle": cycle, "requests": requests, "picks": picks, "crashes": crashes});
    if let Some(note) = note {
        step["note"] = json!(note);
    }
    step
}
