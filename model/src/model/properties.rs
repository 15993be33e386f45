//! The properties on a state: whether each holds, whether its `sometimes`
//! twin is reached, why it fails, and the conditions stateright evaluates.

use super::config::V;
use super::state::State;
use super::tide::TideModel;
use tidekv::cluster::NodeState;
use tidekv::node::{ClientId, Key};
use tidekv::topology::{Kind, NodeId, Role};
use tidekv_checks as checks;
use tidekv_checks::Property;

/// A `sometimes` twin's discovery slot in [`TideModel::min_size`]: after the
/// `always` properties'.
pub fn twin_slot(p: Property) -> usize {
    Property::COUNT + p.index()
}

impl TideModel {
    fn always(&self, p: Property, s: &State) -> bool {
        self.holds(p, s) || !self.discovery(p.index(), Self::size(s))
    }

    fn sometimes(&self, p: Property, s: &State) -> bool {
        self.reached(p, s) && self.discovery(twin_slot(p), Self::size(s))
    }

    /// Whether the `sometimes` twin of `p` is reached in `s`.
    pub fn reached(&self, p: Property, s: &State) -> bool {
        match p {
            Property::Linearizable => s.monitor.flags.write_then_read,
            Property::Converged => self.race(s),
            Property::NoLostWrites => s.monitor.crashes() > 0 && s.monitor.any_acked() && self.lost_writes(s).is_ok(),
            Property::Latency => s.monitor.flags.completed,
            Property::Available => s.monitor.flags.answered_after_crash,
            Property::Converges => self.with_stores(s, checks::converged).is_err() && self.converges(s).is_ok(),
            Property::StaleReads => {
                let f = &s.monitor.flags;
                f.cache_hit && f.cache_fill && f.cache_raced
            }
            Property::Rejoins => self.topo.servers().any(|id| {
                matches!(&s.cluster.nodes[id], NodeState::Server(srv) if !srv.is_joining() && srv.recovery.incarnation > 0)
            }),
            Property::Fifo => s.monitor.flags.busy,
        }
    }

    /// `rejoins`: no restarted replica has been catching up for longer than
    /// the derived bound ([`crate::model::ModelConfig::rejoin_cycles`]).
    pub fn rejoins(&self, s: &State) -> Result<(), String> {
        let Some(bound) = self.config.rejoin_cycles() else {
            return Ok(());
        };
        for id in self.topo.servers() {
            if let NodeState::Server(srv) = &s.cluster.nodes[id] {
                if let Some(j) = srv.recovery.joining {
                    if j.cycles as u32 > bound {
                        return Err(format!(
                            "{} has been catching up for more than {bound} cycles (the bound for {} keys, {} per cycle)",
                            self.topo.nodes[id].name,
                            self.config.topology.recovery.map_or(0, |r| r.keys_max),
                            self.config.topology.recovery.map_or(0, |r| r.transfer_keys),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the live replicas of each shard would agree within the
    /// configuration's convergence bound if writes stopped now
    /// ([`crate::model::ModelConfig::converge_cycles`]); violated at once
    /// when nothing reconciles replicas that differ.
    pub fn converges(&self, s: &State) -> Result<(), String> {
        let Some(bound) = self.config.converge_cycles() else {
            return self
                .with_stores(s, checks::converged)
                .map_err(|e| format!("{e}, and nothing reconciles them"));
        };
        let stores = s.cluster.quiet_stores(&self.topo, bound);
        let mut shards: Vec<Vec<checks::StoreView<'_, V>>> = vec![Vec::new(); self.config.topology.shards];
        for (shard, id, st) in &stores {
            shards[*shard].push((self.topo.nodes[*id].name.as_str(), st.as_ref()));
        }
        checks::converged(&shards).map_err(|e| format!("{e} {bound} cycles after writes stop"))
    }

    /// Calls `f` with, per shard, the stores of its live servers once the
    /// updates in flight settle (what `converged` compares).
    pub fn with_stores<R>(&self, s: &State, f: impl FnOnce(&[Vec<checks::StoreView<'_, V>>]) -> R) -> R {
        let stores = s.cluster.converging_stores(&self.topo);
        let mut shards: Vec<Vec<checks::StoreView<'_, V>>> = vec![Vec::new(); self.config.topology.shards];
        for (shard, id, st) in &stores {
            shards[*shard].push((self.topo.nodes[*id].name.as_str(), st.as_ref()));
        }
        f(&shards)
    }

    /// Whether property `p` holds in state `s` (the monitor's sticky
    /// verdicts plus the checks on the current cluster state); a property
    /// that does not apply holds.
    pub fn holds(&self, p: Property, s: &State) -> bool {
        if !p.applies(self.scope()) {
            return true;
        }
        let now = s.cluster.cycle;
        let f = &s.monitor.flags;
        match p {
            Property::Linearizable => !f.not_linearizable,
            Property::Converged => self.with_stores(s, checks::converged).is_ok(),
            Property::NoLostWrites => self.lost_writes(s).is_ok(),
            Property::Latency => !f.latency_violated && s.monitor.check_pending(now).is_ok(),
            Property::Available => !f.unavailable && s.monitor.check_pending(now).is_ok(),
            Property::Converges => self.converges(s).is_ok(),
            Property::StaleReads => !f.stale,
            Property::Rejoins => self.rejoins(s).is_ok(),
            Property::Fifo => self.fifo(s).is_ok(),
        }
    }

    /// `no-lost-writes`: every acknowledged write is held by a live server
    /// (serving, or catching up after a restart) or, with `--persist
    /// sync|async`, by the durable image of a dead one.
    fn lost_writes(&self, s: &State) -> Result<(), String> {
        let stores = s.cluster.live_stores(&self.topo);
        let durable_names: Vec<String> = s
            .cluster
            .durable
            .iter()
            .map(|(id, _)| format!("{} (dead; durable)", self.topo.nodes[*id].name))
            .collect();
        let joiners: Vec<(String, &tidekv::node::VecStore<V>)> = self
            .topo
            .servers()
            .filter_map(|id| match &s.cluster.nodes[id] {
                NodeState::Server(srv) if srv.is_joining() => {
                    Some((format!("{} (catching up)", self.topo.nodes[id].name), &srv.store))
                }
                _ => None,
            })
            .collect();
        let views: Vec<checks::StoreView<'_, V>> = stores
            .iter()
            .map(|(_, id, st)| (self.topo.nodes[*id].name.as_str(), st.as_ref()))
            .chain(joiners.iter().map(|(n, st)| (n.as_str(), *st)))
            .chain(
                durable_names
                    .iter()
                    .zip(&s.cluster.durable)
                    .map(|(n, (_, img))| (n.as_str(), &img.store)),
            )
            .collect();
        s.monitor.no_lost_writes(&views)
    }

    /// Why property `p` fails in a state of a model built
    /// [`TideModel::with_trace`], computed by the `checks` functions from the
    /// full history.
    pub fn explain(&self, p: Property, s: &State) -> Option<String> {
        let trace = s.trace.as_ref()?;
        let lat = self.config.topology.latency();
        let now = s.cluster.cycle;
        let r = match p {
            Property::Linearizable => checks::linearizable(&trace.history),
            Property::Converged => self.with_stores(s, checks::converged),
            Property::NoLostWrites => self.lost_writes(s),
            Property::Latency if self.scope().queues => match &s.monitor.latency_note {
                Some(why) => Err(why.clone()),
                None => s.monitor.check_pending(now),
            },
            Property::Latency => checks::latency(&trace.history, &trace.crash_cycles(), now, lat),
            Property::Available => checks::available(&trace.history, &trace.crash_cycles(), now, lat),
            Property::Converges => self.converges(s),
            Property::StaleReads => checks::stale_reads(&trace.history, self.config.staleness_bound().unwrap_or(0)),
            Property::Rejoins => self.rejoins(s),
            Property::Fifo => self.fifo(s),
        };
        r.err()
    }

    /// Whether two clients' writes to one key reach servers of one shard in
    /// this cycle (at two different servers, where the protocol allows it).
    /// Not at the horizon: its inputs are never processed (and the horizon
    /// reduction leaves out the operations that would race there).
    fn race(&self, s: &State) -> bool {
        if s.cluster.cycle >= self.config.cycles {
            return false;
        }
        let mut writes: Vec<(usize, NodeId, ClientId, Key)> = Vec::new();
        for id in self.topo.servers() {
            let Role::Server { shard, .. } = self.topo.nodes[id].role else {
                continue;
            };
            if !s.cluster.is_alive(id) {
                continue;
            }
            for (i, frame) in s.cluster.inputs(&self.topo, id).into_iter().enumerate() {
                let Some(f) = frame else { continue };
                if self.topo.links[self.topo.nodes[id].inputs[i]].kind != tidekv::topology::LinkKind::Up {
                    continue;
                }
                let direct = self.config.topology.kind == Kind::Single;
                for (j, req) in f.up().iter() {
                    if req.op.is_write() {
                        writes.push((shard, id, if direct { i } else { j }, req.op.key()));
                    }
                }
            }
        }
        // Where the protocol lets one key's writes reach several servers, the
        // interesting race is at two different servers.
        let distinct = !self.config.single_writer();
        writes.iter().any(|a| {
            writes
                .iter()
                .any(|b| a.0 == b.0 && a.2 < b.2 && a.3 == b.3 && (!distinct || a.1 != b.1))
        })
    }
}

impl TideModel {
    /// Every property as stateright evaluates it: each `always` property,
    /// then each `sometimes` twin.
    pub fn conditions(&self) -> Vec<stateright::Property<TideModel>> {
        let always = Property::ALL
            .into_iter()
            .map(|p| stateright::Property::always(p.name(), CONDITIONS[p.index()].0));
        let sometimes = Property::ALL
            .into_iter()
            .map(|p| stateright::Property::sometimes(p.twin(), CONDITIONS[p.index()].1));
        always.chain(sometimes).collect()
    }
}

/// A stateright condition: a plain function pointer.
type Condition = fn(&TideModel, &State) -> bool;

fn always<const I: usize>(m: &TideModel, s: &State) -> bool {
    m.always(Property::ALL[I], s)
}

fn sometimes<const I: usize>(m: &TideModel, s: &State) -> bool {
    m.sometimes(Property::ALL[I], s)
}

/// Per property (by position in [`Property::ALL`]): its `always` and
/// `sometimes` conditions. Stateright takes function pointers, so each
/// property gets its own instance; the array's length is
/// [`Property::COUNT`], so a new property does not compile without its row.
const CONDITIONS: [(Condition, Condition); Property::COUNT] = [
    (always::<0>, sometimes::<0>),
    (always::<1>, sometimes::<1>),
    (always::<2>, sometimes::<2>),
    (always::<3>, sometimes::<3>),
    (always::<4>, sometimes::<4>),
    (always::<5>, sometimes::<5>),
    (always::<6>, sometimes::<6>),
    (always::<7>, sometimes::<7>),
    (always::<8>, sometimes::<8>),
];
