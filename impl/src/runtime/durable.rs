//! Crash-recovery in the runtime: replicas' durable state on disk, and the
//! restarts (`--restart NODE@CYCLE`) the in-process engine performs.
//!
//! # The durable store
//! With `--persist sync|async` each replica keeps what it says must be
//! durable ([`crate::node::persist`]) in [`redb`], a pure-Rust embedded
//! transactional store, in `--data-dir` (default: a fresh directory under
//! the system's temporary directory, removed at the end of the run; a given
//! directory is kept). Per node two tables, `NODE/store` (key `u32` → the
//! value, postcard-encoded) and `NODE/meta` (`session/C` → client `C`'s
//! session, `writes` → the write count). A cycle's writes go in **one write
//! transaction**, committed with redb's `Durability::Immediate` (on disk,
//! fsync'd, when `commit` returns) **before the node's frames of that cycle
//! go out**. For `sync` they are the state after this cycle's step; for
//! `async` the state after the previous cycle's step (the node's durable
//! image lags by one), so `async` commits as often as `sync`: it only makes
//! durable later what `sync` makes durable at once.
//!
//! The in-process engine keeps one database file (`inproc.redb`) with the
//! tables of every replica and commits once per cycle for all of them; the
//! UDP engine one file per replica process (`NODE.redb`).
//!
//! # A restart (in-process)
//! At cycle `R` of `--restart NODE@R` (the node dead since an earlier
//! `--crash`), the engine reads the node's image back from its tables,
//! checks it against the image the pure logic says was durable at its death
//! (they must be equal; a difference fails the run) and restarts it with
//! [`Cluster::restart`]: it catches up over its transfer links as in the
//! model. The report gives, per restart, the first cycle in which the
//! replica served again.

use crate::cluster::{Cluster, NodeState};
use crate::node::persist::{apply, empty_image, Effect};
use crate::node::recovery::{Image, Persist};
use crate::node::server::{HashStore, Session, Store};
use crate::runtime::value::Value;
use crate::runtime::{CrashAt, RunError, SpecError};
use crate::topology::{NodeId, Role, Topology};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A replica's durable image in the runtime.
pub type RtImage = Image<Value, HashStore<Value>>;

/// Where replicas' durable state lives: one commit groups the effects of
/// one cycle (of one or more nodes).
pub trait Durable {
    /// Makes `effects` (per node name) durable, in one commit.
    fn commit(&mut self, effects: &[(&str, &Effect<Value>)]) -> Result<(), String>;
    /// The durable image of `node` (empty if it never wrote).
    fn load<S: Store<Value>>(&self, node: &str, clients: usize) -> Result<Image<Value, S>, String>;
}

/// [`Durable`] in a redb database file.
pub struct RedbDurable {
    db: Database,
    path: PathBuf,
    /// Commits made.
    pub commits: u64,
}

fn store_table(node: &str) -> String {
    format!("{node}/store")
}

fn meta_table(node: &str) -> String {
    format!("{node}/meta")
}

impl RedbDurable {
    /// Opens the database at `path`, creating it if it does not exist.
    pub fn open(path: &Path) -> Result<RedbDurable, String> {
        let db = Database::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(RedbDurable {
            db,
            path: path.to_path_buf(),
            commits: 0,
        })
    }
}

fn enc<T: Serialize>(x: &T) -> Vec<u8> {
    postcard::to_allocvec(x).expect("durable state serializes")
}

impl Durable for RedbDurable {
    fn commit(&mut self, effects: &[(&str, &Effect<Value>)]) -> Result<(), String> {
        if effects.iter().all(|(_, e)| e.is_empty()) {
            return Ok(());
        }
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", self.path.display());
        let mut tx = self.db.begin_write().map_err(|e| err(&e))?;
        tx.set_durability(Durability::Immediate).map_err(|e| err(&e))?;
        for (node, effect) in effects {
            let (sname, mname) = (store_table(node), meta_table(node));
            {
                let mut store = tx
                    .open_table(TableDefinition::<u32, &[u8]>::new(&sname))
                    .map_err(|e| err(&e))?;
                for (k, v) in &effect.writes {
                    match v {
                        Some(v) => {
                            store.insert(*k, enc(v).as_slice()).map_err(|e| err(&e))?;
                        }
                        None => {
                            store.remove(*k).map_err(|e| err(&e))?;
                        }
                    }
                }
            }
            let mut meta = tx
                .open_table(TableDefinition::<&str, &[u8]>::new(&mname))
                .map_err(|e| err(&e))?;
            for (c, s) in &effect.sessions {
                meta.insert(format!("session/{c}").as_str(), enc(s).as_slice())
                    .map_err(|e| err(&e))?;
            }
            if let Some(e) = effect.write_count {
                meta.insert("writes", enc(&e).as_slice()).map_err(|e| err(&e))?;
            }
        }
        tx.commit().map_err(|e| err(&e))?;
        self.commits += 1;
        Ok(())
    }

    fn load<S: Store<Value>>(&self, node: &str, clients: usize) -> Result<Image<Value, S>, String> {
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", self.path.display());
        let mut image: Image<Value, S> = empty_image(clients);
        let tx = self.db.begin_read().map_err(|e| err(&e))?;
        let (sname, mname) = (store_table(node), meta_table(node));
        match tx.open_table(TableDefinition::<u32, &[u8]>::new(&sname)) {
            Ok(t) => {
                for row in t.iter().map_err(|e| err(&e))? {
                    let (k, v) = row.map_err(|e| err(&e))?;
                    let v: Value = postcard::from_bytes(v.value()).map_err(|e| err(&e))?;
                    image.store.insert(k.value(), v);
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(err(&e)),
        }
        match tx.open_table(TableDefinition::<&str, &[u8]>::new(&mname)) {
            Ok(t) => {
                for row in t.iter().map_err(|e| err(&e))? {
                    let (k, v) = row.map_err(|e| err(&e))?;
                    let (k, v) = (k.value(), v.value());
                    if k == "writes" {
                        image.writes = postcard::from_bytes(v).map_err(|e| err(&e))?;
                    } else if let Some(c) = k.strip_prefix("session/").and_then(|c| c.parse::<usize>().ok()) {
                        let s: Option<Session<Value>> = postcard::from_bytes(v).map_err(|e| err(&e))?;
                        if c >= clients {
                            return Err(format!("{}: session of client {c} of {clients}", self.path.display()));
                        }
                        image.sessions[c] = s;
                    }
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(err(&e)),
        }
        Ok(image)
    }
}

/// A data directory: given (kept), or made under the temporary directory
/// and removed on drop.
pub struct DataDir {
    pub path: PathBuf,
    remove: bool,
}

impl DataDir {
    /// `given`, or a fresh directory `tidekv-data-PID-NANOS` under the
    /// system's temporary directory.
    pub fn new(given: Option<&Path>) -> Result<DataDir, String> {
        let (path, remove) = match given {
            Some(p) => (p.to_path_buf(), false),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                (
                    std::env::temp_dir().join(format!("tidekv-data-{}-{nanos}", std::process::id())),
                    true,
                )
            }
        };
        std::fs::create_dir_all(&path).map_err(|e| format!("--data-dir {}: {e}", path.display()))?;
        Ok(DataDir { path, remove })
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// One restart and when the replica served again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restart {
    pub node: String,
    /// The cycle it restarted in.
    pub cycle: u32,
    /// The first cycle in which it served (ran its protocol step) again.
    pub serving: Option<u32>,
}

/// Checks `--restart` against the deaths (`--crash` and, for UDP, `--kill`):
/// each names a replica, dead at that cycle (its death `gap` cycles at least
/// earlier), before `cycles`. With `repeat` (the in-process engine) a
/// replica may die and restart several times, deaths and restarts
/// alternating (it dies again a cycle after its restart at the earliest);
/// without it (UDP) once each. With `unscheduled` (UDP `--respawn`) a
/// replica with no scheduled death may have a restart too: for a SIGKILL
/// from outside. Returns the restarts as `(cycle, node)`, in cycle order.
pub fn restart_schedule(
    topo: &Topology,
    restarts: &[CrashAt],
    deaths: &[CrashAt],
    cycles: u32,
    gap: u32,
    unscheduled: bool,
    repeat: bool,
) -> Result<Vec<(u32, NodeId)>, SpecError> {
    let mut out = Vec::new();
    for r in restarts {
        let Some(id) = topo.node_by_name(&r.node) else {
            return Err(SpecError(format!("--restart {r}: no node {:?}", r.node)));
        };
        if !matches!(topo.nodes[id].role, Role::Server { .. }) || topo.config.recovery.is_none() {
            return Err(SpecError(format!("--restart {r}: only a replica restarts")));
        }
        if !repeat && out.iter().any(|&(_, n)| n == id) {
            return Err(SpecError(format!(
                "--restart {r}: {} restarts twice (--transport udp restarts a replica once; in-process runs take several)",
                r.node
            )));
        }
        if r.cycle >= cycles {
            return Err(SpecError(format!(
                "--restart {r}: cycle {} is not before --cycles {cycles}",
                r.cycle
            )));
        }
        out.push((r.cycle, id));
    }
    out.sort_unstable();
    // Per node, its deaths and restarts in cycle order (a restart happens
    // before its cycle executes, a death during it: restarts first).
    let mut names: Vec<&str> = restarts.iter().chain(deaths).map(|e| e.node.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let mut events: Vec<(u32, bool, &CrashAt)> = restarts
            .iter()
            .filter(|e| e.node == name)
            .map(|e| (e.cycle, false, e))
            .chain(deaths.iter().filter(|e| e.node == name).map(|e| (e.cycle, true, e)))
            .collect();
        events.sort_by_key(|e| (e.0, e.1));
        let dies = events.iter().filter(|e| e.1).count();
        if !repeat && dies > 1 && !restarts.is_empty() {
            return Err(SpecError(format!(
                "{name} dies {dies} times: with --transport udp a replica dies and restarts once (in-process \
                 runs take several)"
            )));
        }
        // (last death, last restart); `None`: alive.
        let mut dead: Option<u32> = None;
        let mut restarted: Option<u32> = None;
        for (i, &(cycle, death, e)) in events.iter().enumerate() {
            if death {
                if let Some(d) = dead {
                    return Err(SpecError(format!(
                        "{name} dies at cycle {cycle} while dead (it died at {d}): --restart it between"
                    )));
                }
                if restarted == Some(cycle) {
                    return Err(SpecError(format!(
                        "{name} dies at cycle {cycle}, the cycle it restarts: a cycle later at the earliest"
                    )));
                }
                dead = Some(cycle);
                continue;
            }
            // A death in the cycle of this restart, the node alive: it
            // dies, then restarts too soon.
            let dies_now = dead.is_none() && events.get(i + 1).is_some_and(|n| n.1 && n.0 == cycle);
            match dead.or(dies_now.then_some(cycle)) {
                Some(d) if d + gap <= cycle => {}
                Some(d) => {
                    return Err(SpecError(format!(
                        "--restart {e}: {name} dies at cycle {d}; it restarts {gap} or more cycles later"
                    )))
                }
                None if unscheduled && i == 0 => {}
                None => {
                    return Err(SpecError(format!(
                        "--restart {e}: {name} is not dead then (give --crash {name}@C with C < {cycle})"
                    )))
                }
            }
            dead = None;
            restarted = Some(cycle);
        }
    }
    Ok(out)
}

/// The in-process engine's side of recovery: the durable store, the
/// restarts and the rejoin times.
pub struct Recovering {
    persist: Persist,
    clients: usize,
    schedule: Vec<(u32, NodeId)>,
    next: usize,
    /// Per node (`None` for non-servers): the image held durable.
    images: Vec<Option<RtImage>>,
    store: Option<RedbDurable>,
    pub restarts: Vec<Restart>,
    restarted: Vec<NodeId>,
    _dir: Option<DataDir>,
}

impl Recovering {
    /// For a run of `topo` (with recovery configured) restarting at
    /// `schedule`; the database goes in `data_dir` (see [`DataDir`]).
    pub fn new(topo: &Topology, schedule: Vec<(u32, NodeId)>, data_dir: Option<&Path>) -> Result<Self, RunError> {
        let rc = topo.config.recovery.expect("recovery configured");
        let (store, dir) = if rc.persist == Persist::None {
            (None, None)
        } else {
            let dir = DataDir::new(data_dir).map_err(RunError::Failed)?;
            let path = dir.path.join("inproc.redb");
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| RunError::Failed(format!("{}: {e}", path.display())))?;
            }
            (Some(RedbDurable::open(&path).map_err(RunError::Failed)?), Some(dir))
        };
        let clients = topo.clients();
        Ok(Recovering {
            persist: rc.persist,
            clients,
            schedule,
            next: 0,
            images: topo
                .nodes
                .iter()
                .map(|n| matches!(n.role, Role::Server { .. }).then(|| empty_image(clients)))
                .collect(),
            store,
            restarts: Vec::new(),
            restarted: Vec::new(),
            _dir: dir,
        })
    }

    /// Commits made to the database.
    pub fn commits(&self) -> u64 {
        self.store.as_ref().map_or(0, |s| s.commits)
    }

    /// Before cycle `cycle`: the restarts scheduled for it.
    pub fn before_step(
        &mut self,
        cycle: u32,
        cluster: &mut Cluster<Value, HashStore<Value>>,
        topo: &Topology,
    ) -> Result<(), RunError> {
        while let Some(&(at, node)) = self.schedule.get(self.next) {
            if at != cycle {
                break;
            }
            self.next += 1;
            let name = &topo.nodes[node].name;
            if cluster.is_alive(node) {
                return Err(RunError::Failed(format!("--restart {name}@{cycle}: it is alive")));
            }
            let kept = cluster.durable.iter().position(|(n, _)| *n == node);
            if let Some(store) = &self.store {
                let disk: RtImage = store.load(name, self.clients).map_err(RunError::Failed)?;
                let model = kept.map(|i| &cluster.durable[i].1);
                if model.is_none_or(|m| !same(m, &disk)) {
                    return Err(RunError::Failed(format!(
                        "--restart {name}@{cycle}: the image read back from disk is not the one the node \
                         logic says was durable at its death"
                    )));
                }
                cluster.durable[kept.expect("checked")].1 = disk.clone();
                self.images[node] = Some(disk);
            } else {
                self.images[node] = Some(empty_image(self.clients));
            }
            cluster.restart(topo, node, 1);
            self.restarts.push(Restart {
                node: name.clone(),
                cycle,
                serving: None,
            });
            self.restarted.push(node);
        }
        Ok(())
    }

    /// After cycle `cycle`: every live replica's effect in one commit (before
    /// the frames of the cycle are read by anyone, i.e. before they "go
    /// out"), and the restarted replicas that serve again.
    pub fn after_step(
        &mut self,
        cycle: u32,
        cluster: &Cluster<Value, HashStore<Value>>,
        topo: &Topology,
    ) -> Result<(), RunError> {
        if let Some(store) = self.store.as_mut() {
            let mut effects: Vec<(usize, Effect<Value>)> = Vec::new();
            for (id, node) in cluster.nodes.iter().enumerate() {
                let (NodeState::Server(s), Some(img)) = (node, self.images[id].as_ref()) else {
                    continue;
                };
                if let Some(e) = s.durable_effect(self.persist, img) {
                    if !e.is_empty() {
                        effects.push((id, e));
                    }
                }
            }
            let named: Vec<(&str, &Effect<Value>)> = effects
                .iter()
                .map(|(id, e)| (topo.nodes[*id].name.as_str(), e))
                .collect();
            store.commit(&named).map_err(RunError::Failed)?;
            for (id, e) in &effects {
                apply(self.images[*id].as_mut().expect("a server"), e);
            }
        }
        for (r, &node) in self.restarts.iter_mut().zip(&self.restarted) {
            if r.serving.is_none() {
                if let NodeState::Server(s) = &cluster.nodes[node] {
                    if !s.is_joining() {
                        r.serving = Some(cycle);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether two images hold the same (hash stores compare by contents).
pub fn same(a: &RtImage, b: &RtImage) -> bool {
    a.store == b.store && a.sessions == b.sessions && a.writes == b.writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::recovery::RecoveryConfig;
    use crate::topology::{Kind, TopologyConfig};

    fn at(s: &str) -> CrashAt {
        CrashAt::parse(s).unwrap()
    }

    fn schedule(deaths: &[&str], restarts: &[&str], repeat: bool) -> Result<Vec<(u32, String)>, String> {
        let mut c = TopologyConfig::new(Kind::Replicated, 2);
        c.recovery = Some(RecoveryConfig {
            persist: Persist::None,
            transfer_keys: 1,
            keys_max: 4,
        });
        let topo = Topology::new(c).unwrap();
        let deaths: Vec<CrashAt> = deaths.iter().map(|d| at(d)).collect();
        let restarts: Vec<CrashAt> = restarts.iter().map(|d| at(d)).collect();
        restart_schedule(&topo, &restarts, &deaths, 1000, 1, false, repeat)
            .map(|s| s.into_iter().map(|(c, n)| (c, topo.nodes[n].name.clone())).collect())
            .map_err(|e| e.0)
    }

    #[test]
    fn deaths_and_restarts_alternate_per_replica() {
        let ok = schedule(
            &["r0.0@10", "r0.0@30", "r0.1@40"],
            &["r0.0@20", "r0.1@50", "r0.0@31"],
            true,
        )
        .unwrap();
        let want = [(20, "r0.0"), (31, "r0.0"), (50, "r0.1")].map(|(c, n)| (c, n.to_string()));
        assert_eq!(ok, want);
        for (deaths, restarts, msg) in [
            (
                &["r0.0@10"][..],
                &["r0.0@10"][..],
                "r0.0 dies at cycle 10; it restarts 1 or more cycles later",
            ),
            (&["r0.0@10"][..], &["r0.0@5"][..], "r0.0 is not dead then"),
            (
                &["r0.0@10"][..],
                &["r0.0@20", "r0.0@30"][..],
                "--restart r0.0@30: r0.0 is not dead then",
            ),
            (
                &["r0.0@10", "r0.0@20"][..],
                &[][..],
                "r0.0 dies at cycle 20 while dead (it died at 10)",
            ),
            (
                &["r0.0@10", "r0.0@20"][..],
                &["r0.0@20"][..],
                "r0.0 dies at cycle 20, the cycle it restarts",
            ),
            (&["r0.0@10"][..], &["r0.0@2000"][..], "is not before --cycles 1000"),
        ] {
            let e = schedule(deaths, restarts, true).unwrap_err();
            assert!(e.contains(msg), "{deaths:?} {restarts:?}: {e}");
        }
        // UDP: once per replica.
        let e = schedule(&["r0.0@10", "r0.0@30"], &["r0.0@20", "r0.0@40"], false).unwrap_err();
        assert!(e.contains("r0.0 restarts twice (--transport udp"), "{e}");
        let e = schedule(&["r0.0@10", "r0.0@30"], &["r0.0@20"], false).unwrap_err();
        assert!(e.contains("r0.0 dies 2 times"), "{e}");
        assert_eq!(schedule(&["r0.0@10"], &["r0.0@20"], false).unwrap().len(), 1);
    }
}
