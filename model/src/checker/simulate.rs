//! Seeded simulation: random walks through the model, for configurations too
//! big to check exhaustively (say 8 clients, 4 shards × 3 replicas, 50
//! cycles).
//!
//! Each walk starts at the initial state and, cycle by cycle, draws one
//! action — each idle client starts a random operation or stays idle, each
//! open replica choice is drawn, and now and then a node within the crash
//! budget crashes in a random way — then evaluates every property on the new
//! state. Actions are drawn directly, never enumerated, so a cycle costs the
//! same however many choices it has. The seed is printed first; the same
//! seed and flags replay the same walks exactly (SplitMix64, no global
//! state), and a violation is reported with its walk as a counterexample.

use crate::checker::runner::{self, Report};
use crate::model::{CycleAction, ModelConfig, Pick, TideModel};
use stateright::Model;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::Instant;
use tidekv::cluster::{Crash, CrashKind};
use tidekv::topology::ConfigError;
use tidekv_checks::{PerProperty, Property, Verdict};

/// SplitMix64: a tiny, well-known seeded generator (Vigna); enough for
/// drawing schedules, and identical on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }
}

/// Options of a simulation.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub runs: u64,
    pub seed: u64,
    pub progress: bool,
}

/// Draws one cycle's action in state `s`.
pub fn random_action(m: &TideModel, s: &crate::model::State, rng: &mut SplitMix64) -> CycleAction {
    let topo = &m.topo;
    let ops = (0..topo.clients())
        .map(|c| {
            if m.may_start(s, c) && rng.chance(1, 2) {
                Some(m.alphabet()[rng.below(m.alphabet().len())].clone())
            } else {
                None
            }
        })
        .collect();
    // About one crash per horizon, while budget lasts.
    let mut crashes = Vec::new();
    let cands = m.crash_candidates(s);
    if !cands.is_empty() && rng.chance(1, m.config.cycles.max(1) as u64) {
        let (node, _, _) = cands[rng.below(cands.len())];
        // One of the node's ways to crash, drawn without listing them all.
        let kinds = m.crash_kind_count(node);
        let i = ((rng.next_u64() as u128 * kinds as u128) >> 64) as u64;
        crashes.push(Crash {
            node,
            kind: m.crash_kind(i),
        });
    }
    let picks = s
        .cluster
        .choice_points(topo)
        .into_iter()
        .filter(|(fe, ..)| {
            !crashes
                .iter()
                .any(|c: &Crash| c.node == *fe && c.kind == CrashKind::Atomic)
        })
        .map(|(fe, client, shard, cands)| {
            let replica = cands[rng.below(cands.len())];
            Pick::new(topo, fe, client, shard, replica)
        })
        .collect();
    // With `--recoveries`: each dead server that may restart (none of its
    // frames in flight, restarts left) does so with probability 1/3, so a
    // replica stays down a few cycles. No draw without recoveries (walks
    // of other configurations are as before).
    let mut restarts = Vec::new();
    let left = m.config.recoveries.saturating_sub(s.restarts as u32) as usize;
    if left > 0 {
        for id in topo.servers() {
            if restarts.len() < left && !s.cluster.is_alive(id) && s.cluster.quiet(topo, id) && rng.chance(1, 3) {
                restarts.push(id);
            }
        }
    }
    CycleAction {
        ops,
        picks,
        crashes,
        restarts,
    }
}

fn fingerprint(s: &crate::model::State) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Runs `opts.runs` seeded walks of `config.cycles` cycles each.
pub fn simulate(config: &ModelConfig, opts: &SimOptions) -> Result<Report, ConfigError> {
    let mut model = TideModel::new(config.clone())?;
    model.minimize = false;
    let start = Instant::now();
    let mut rng = SplitMix64::new(opts.seed);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut states = 0usize;
    let mut violations: PerProperty<Option<Vec<CycleAction>>> = PerProperty::default();
    let mut twins: PerProperty<bool> = PerProperty::default();
    let mut walks_violating: PerProperty<u64> = PerProperty::default();
    let mut last_progress = Instant::now();
    for run in 0..opts.runs {
        let mut state = model.init_states().pop().expect("one initial state");
        let mut path: Vec<CycleAction> = Vec::new();
        let mut violated: PerProperty<bool> = PerProperty::default();
        loop {
            states += 1;
            seen.insert(fingerprint(&state));
            for p in Property::ALL {
                let holds = model.holds(p, &state);
                violated[p] |= !holds;
                if !holds && violations[p].as_ref().is_none_or(|v| v.len() > path.len()) {
                    violations[p] = Some(path.clone());
                }
                twins[p] |= model.reached(p, &state);
            }
            if state.cluster.cycle >= config.cycles {
                break;
            }
            let action = random_action(&model, &state, &mut rng);
            path.push(action.clone());
            state = model.next_state(&state, action).expect("every drawn action applies");
        }
        for p in Property::ALL {
            walks_violating[p] += violated[p] as u64;
        }
        if opts.progress && last_progress.elapsed().as_secs() >= 2 {
            last_progress = Instant::now();
            eprintln!(
                "  {}: {} of {} walks, {} states",
                config.label(),
                run + 1,
                opts.runs,
                states
            );
        }
    }
    let mut verdicts = PerProperty::from_fn(|p| runner::applicable(&model, p));
    let mut counterexamples = Vec::new();
    for p in Property::ALL {
        if let Some(actions) = violations[p].take() {
            verdicts[p] = Verdict::Violated;
            counterexamples.push(runner::replay(&model, p, actions));
        }
    }
    Ok(Report {
        config: config.clone(),
        unique_states: seen.len(),
        states,
        max_depth: config.cycles as usize + 1,
        seconds: start.elapsed().as_secs_f64(),
        verdicts,
        twins,
        counterexamples,
        threads: 1,
        simulated: Some((opts.runs, opts.seed)),
        walks_violating,
        reduction: crate::model::Reduction::NONE,
        cut: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // First outputs for seed 1234567 (Vigna's reference implementation).
        let mut r = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, [6457827717110365317, 3203168211198807973, 9817491932198370423]);
    }
}
