//! Running one exhaustive check and turning stateright's answer into a report:
//! verdicts, state counts, and minimal counterexamples.

use crate::checker::expect::{self, Claim};
use crate::model::{CycleAction, ModelConfig, Reduction, State, TideModel};
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
    /// A simulation's: per property, how many walks reached a state that
    /// violates it (all zero for an exhaustive check).
    pub walks_violating: PerProperty<u64>,
    /// The reductions the search used.
    pub reduction: Reduction,
    /// Which bound (`--max-states`, `--max-seconds`) cut the search short,
    /// if one did: then every property not found violated is `unknown`.
    pub cut: Option<Bound>,
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
            "exhaustive": self.simulated.is_none() && self.cut.is_none(),
            "cut_by": self.cut.map(|b| b.flag()),
            "reduction": self.reduction.name(),
            "simulation": self.simulated.map(|(walks, seed)| json!({"walks": walks, "seed": seed,
                "walks_violating": Property::ALL.iter().map(|p| (p.name().to_string(), json!(self.walks_violating[*p])))
                    .collect::<serde_json::Map<_, _>>()})),
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
    /// The state reductions (depth-first only; see
    /// [`crate::model::representative`]): [`Reduction::sound`] by default.
    pub symmetry: Reduction,
    /// Print a progress line to stderr every couple of seconds.
    pub progress: bool,
}

/// Checks one configuration exhaustively (depth-first unless `opts.bfs`) and
/// reports, with a minimal counterexample per violated property: the one
/// the unreduced search finds. A reduction merges states the unreduced
/// search tells apart, so a reduced search meets another member of a class
/// first and can keep another minimal counterexample (as short, with other
/// choices); the documented and pinned counterexamples are the unreduced
/// search's, so when a reduced search finds a violation, this searches
/// again without reductions. Verdicts and state counts of a search without
/// a violation are the reduced search's.
///
/// The reduced search keeps only representatives
/// ([`TideModel::canonical_successors`]: one state and one hash per class,
/// not two), since none of its paths is shown.
pub fn check(config: &ModelConfig, opts: &RunOptions) -> Result<Report, ConfigError> {
    let report = if opts.symmetry.any() {
        check_once(config, opts, &[], Keep::Representatives)?.0
    } else {
        search(config, opts)?
    };
    if report.reduction.any() && report.verdicts.iter().any(|(_, v)| *v == Verdict::Violated) {
        let opts = RunOptions {
            symmetry: Reduction::NONE,
            ..opts.clone()
        };
        return search(config, &opts);
    }
    Ok(report)
}

/// One exhaustive search with `opts` as given (reductions included), with a
/// minimal counterexample per violated property, whichever the search kept
/// (the default suite's; [`check`] for the unreduced one).
pub fn search(config: &ModelConfig, opts: &RunOptions) -> Result<Report, ConfigError> {
    let report = check_once(config, opts, &[], Keep::Paths)?;
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
            &[],
            Keep::Paths,
        )?
        .0);
    }
    Ok(report.0)
}

/// One exhaustive search with `opts` as given, keeping only
/// representatives where a reduction is on (what [`check`] does before it
/// decides whether to search again without reductions): verdicts, twins
/// and state counts, and no counterexample of a reduced search.
pub fn search_representatives(config: &ModelConfig, opts: &RunOptions) -> Result<Report, ConfigError> {
    Ok(check_once(config, opts, &[], Keep::Representatives)?.0)
}

/// Where a bounded run ([`check_bounded`], [`check_limited`]) stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// stateright's `timeout`: it stops the search only with 2 or more threads.
    Seconds(f64),
    /// stateright's `target_state_count` (generated states, checked every
    /// 1,500 states per thread).
    States(usize),
}

impl Bound {
    /// The command-line flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Bound::Seconds(_) => "--max-seconds",
            Bound::States(_) => "--max-states",
        }
    }
}

/// [`check`] within `limits` (`--max-states`, `--max-seconds`): when one
/// cuts the search short, the report says which ([`Report::cut`]), keeps
/// the violations found (each a real path) and makes every other verdict
/// `unknown`, never `holds`. Without limits, exactly [`check`].
pub fn check_limited(config: &ModelConfig, opts: &RunOptions, limits: &[Bound]) -> Result<Report, ConfigError> {
    if limits.is_empty() {
        return check(config, opts);
    }
    if limits.iter().any(|b| matches!(b, Bound::Seconds(_))) && opts.threads < 2 {
        return Err(ConfigError(
            "--max-seconds needs 2 or more --threads (stateright's timeout does nothing on one)".into(),
        ));
    }
    let (mut report, _) = check_once(config, opts, limits, Keep::Paths)?;
    report.cut = limits.iter().copied().find(|b| match *b {
        Bound::Seconds(s) => report.seconds >= s,
        Bound::States(n) => report.states >= n,
    });
    if report.cut.is_some() {
        for p in Property::ALL {
            if report.verdicts[p] == Verdict::Holds {
                report.verdicts[p] = Verdict::Unknown;
            }
        }
    }
    Ok(report)
}

/// One search as [`check`] makes it, cut by `bound` if given, and without
/// [`check`]'s one-thread re-run for a minimal counterexample, or its
/// unreduced search after a violation (a reduced search's report then has
/// the verdicts, not the counterexamples): for measurements. Also returns
/// whether the bound cut the search (the report then covers only part of
/// the state space).
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
    let (report, _) = check_once(config, opts, bound.as_slice(), Keep::Representatives)?;
    let cut = match bound {
        None => false,
        Some(Bound::Seconds(s)) => report.seconds >= s,
        Some(Bound::States(n)) => report.states >= n,
    };
    Ok((report, cut))
}

/// What a reduced search keeps of the states it generates.
#[derive(Clone, Copy, PartialEq)]
enum Keep {
    /// The model's states (stateright's `symmetry_fn` decides by the
    /// representative whether a state is new): every discovery is a path of
    /// the unreduced model.
    Paths,
    /// Only representatives ([`TideModel::canonical_successors`]): cheaper,
    /// but a discovery's path may rename clients, replicas and values at
    /// each step, so no path of this search is shown.
    Representatives,
}

fn check_once(
    config: &ModelConfig,
    opts: &RunOptions,
    bounds: &[Bound],
    keep: Keep,
) -> Result<(Report, bool), ConfigError> {
    let mut model = TideModel::new(config.clone())?;
    model.exhaustive_limits()?;
    let canonical = opts.symmetry.any() && keep == Keep::Representatives;
    if opts.symmetry.any() {
        if opts.bfs {
            return Err(ConfigError("--symmetry works depth-first: drop --bfs".into()));
        }
        model = model.with_reduction(opts.symmetry)?;
        model.canonical_successors = canonical;
    }
    let start = Instant::now();
    let builder = model
        .checker()
        .threads(opts.threads.max(1))
        .finish_when(HasDiscoveries::AnyOf(BTreeSet::new()));
    let builder = if opts.symmetry.any() && !canonical {
        builder.symmetry_fn(crate::model::representative)
    } else {
        builder
    };
    let builder = bounds.iter().fold(builder, |b, bound| match *bound {
        Bound::Seconds(s) => b.timeout(Duration::from_secs_f64(s)),
        Bound::States(n) => b.target_state_count(n),
    });
    let mut checker: Box<dyn Checker<TideModel> + Send + Sync> = if opts.bfs {
        Box::new(builder.spawn_bfs())
    } else {
        Box::new(builder.spawn_dfs())
    };
    let tty = std::io::stderr().is_terminal();
    let mut progress = Progress::new(start);
    let mut printed = false;
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(20));
        if opts.progress && progress.last.elapsed() >= Duration::from_secs(2) {
            let line = format!("  {}: {}", config.label(), progress.line(&*checker));
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
            if canonical {
                // A path of representatives: not shown (see `Keep`).
                continue;
            }
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
        walks_violating: PerProperty::default(),
        reduction: if opts.symmetry.any() {
            opts.symmetry
        } else {
            Reduction::NONE
        },
        cut: None,
    };
    Ok((report, not_minimal))
}

/// The progress line of a long search: what it has done, how fast, how
/// deep, in how much memory, and how much of what it generates in the last
/// interval was new (a falling share means the search is mostly meeting
/// states it has seen: depth-first search has no cheaper estimate of what
/// is left).
struct Progress {
    start: Instant,
    last: Instant,
    /// Unique and generated states at `last`.
    seen: (usize, usize),
}

impl Progress {
    fn new(start: Instant) -> Self {
        Progress {
            start,
            last: start,
            seen: (0, 0),
        }
    }

    fn line(&mut self, checker: &dyn Checker<TideModel>) -> String {
        let (unique, generated) = (checker.unique_state_count(), checker.state_count());
        let dt = self.last.elapsed().as_secs_f64().max(1e-9);
        let rate = (unique - self.seen.0) as f64 / dt;
        let new_share = match generated - self.seen.1 {
            0 => 0.0,
            g => 100.0 * (unique - self.seen.0) as f64 / g as f64,
        };
        self.seen = (unique, generated);
        self.last = Instant::now();
        let mem = rss_bytes().map_or(String::new(), |b| format!(", {} MB in use", b >> 20));
        format!(
            "{unique} unique states ({:.0}k/s, {new_share:.0}% of those generated new), depth {}{mem}, {:.0}s",
            rate / 1000.0,
            checker.max_depth(),
            self.start.elapsed().as_secs_f64()
        )
    }
}

/// This process's resident memory, where the system says (Linux).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
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

/// A cycle's choices as JSON: requests sent, replica choices, crashes,
/// restarts (`--recoveries`), and
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
    let restarts: Vec<&str> = a.restarts.iter().map(|&n| topo.nodes[n].name.as_str()).collect();
    let mut step =
        json!({"cycle": cycle, "requests": requests, "picks": picks, "crashes": crashes, "restarts": restarts});
    if let Some(note) = note {
        step["note"] = json!(note);
    }
    step
}
