//! The runtime: executes the pure node logic of [`crate::node`] for real.
//!
//! Two engines drive the very same functions the stateright model drives:
//!
//! - [`inproc`]: the whole cluster in one thread, in lockstep over
//!   [`Cluster::step`](crate::cluster::Cluster::step). Fast, exact, and the
//!   reference the other engine is compared with.
//! - [`udp`]: one OS process per node (`tidekv node`), frames as UDP
//!   datagrams on loopback ([`wire`]), addresses from a cluster file
//!   ([`config`]), all started, supervised and stopped by `tidekv run
//!   --transport udp` ([`udp::supervisor`]). Each node advances its cycle only
//!   once it holds the previous cycle's frame from every live in-neighbour
//!   (logical synchrony); silence for a timeout is death.
//!
//! Both engines take a [`RunSpec`] and every random choice from seeded
//! [`rng`] streams named after what draws from them, so a run replays
//! exactly, and the two engines, given the same spec and no false failure
//! suspicion, write byte-identical histories (a test holds them to it).
//!
//! What the engines share: the value type ([`value::Value`]: real bytes
//! named by a unique id), the workload ([`workload::ClientDriver`]), the
//! history and statistics sink ([`sink`]) and the report ([`metrics`]).

pub mod bench;
pub mod config;
pub mod durable;
pub mod inproc;
pub mod metrics;
pub mod parallel;
pub mod queues;
pub mod rng;
pub mod script;
pub mod sink;
pub mod udp;
pub mod value;
pub mod wire;
pub mod workload;

pub use metrics::Report;
pub use value::Value;

use crate::topology::{Kind, NodeId, Role, Topology, TopologyConfig};
use std::fmt;
use workload::WorkloadSpec;

/// Longest run: histories order events by `3 × cycle + 2`, and cycles are `u32`.
pub const CYCLES_MAX: u32 = 1 << 31;

/// A node crash the driver injects: `node` executes nothing from `cycle` on.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CrashAt {
    pub node: String,
    pub cycle: u32,
}

impl CrashAt {
    /// Parses `NODE@CYCLE`, e.g. `r0.1@1000`.
    pub fn parse(s: &str) -> Result<CrashAt, String> {
        let (node, cycle) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("expected NODE@CYCLE, got {s:?}"))?;
        let cycle = cycle
            .parse::<u32>()
            .map_err(|_| format!("expected NODE@CYCLE with a cycle number, got {s:?}"))?;
        if node.is_empty() {
            return Err(format!("expected NODE@CYCLE, got {s:?}"));
        }
        Ok(CrashAt {
            node: node.to_string(),
            cycle,
        })
    }
}

impl fmt::Display for CrashAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node, self.cycle)
    }
}

/// Everything that defines a run, whichever engine executes it.
#[derive(Clone, PartialEq, Debug)]
pub struct RunSpec {
    pub topology: TopologyConfig,
    pub workload: WorkloadSpec,
    /// The seed of every random stream.
    pub seed: u64,
    /// Cycles to execute: `0..cycles`.
    pub cycles: u32,
    /// Crashes to inject, at most one per node (with recovery, a replica's
    /// deaths alternate with its `--restart`s).
    pub crashes: Vec<CrashAt>,
}

/// A run that cannot start; the message names the offending flag.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl RunSpec {
    /// Validates everything and builds the topology.
    pub fn build(&self) -> Result<Topology, SpecError> {
        let topo = Topology::new(self.topology.clone()).map_err(|e| SpecError(e.0))?;
        self.workload.validate().map_err(SpecError)?;
        let t = &self.topology;
        if t.kind == Kind::Replicated && t.protocol.versioned() && self.workload.ops.iter().any(|o| o.conditional()) {
            return Err(SpecError(format!(
                "--protocol {} supports get, put and delete only (--ops): a conditional operation (insert, modify) decided by a lagging replica would be decided on a stale value",
                t.protocol
            )));
        }
        if self.cycles == 0 || self.cycles > CYCLES_MAX {
            return Err(SpecError(format!(
                "--cycles must be 1..={CYCLES_MAX}, got {}",
                self.cycles
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.crashes {
            let Some(id) = topo.node_by_name(&c.node) else {
                let names: Vec<&str> = topo.nodes.iter().map(|n| n.name.as_str()).collect();
                let shown = if names.len() > 12 {
                    format!("{} … {}", names[..6].join(" "), names[names.len() - 3..].join(" "))
                } else {
                    names.join(" ")
                };
                return Err(SpecError(format!("--crash {c}: no node {:?} (nodes: {shown})", c.node)));
            };
            if matches!(topo.nodes[id].role, Role::Client(_)) {
                return Err(SpecError(format!("--crash {c}: clients do not fail")));
            }
            if c.cycle >= self.cycles {
                return Err(SpecError(format!(
                    "--crash {c}: cycle {} is not before --cycles {}",
                    c.cycle, self.cycles
                )));
            }
            // With recovery a replica may die again after a restart (the
            // restart schedule checks the order: `durable::restart_schedule`).
            if !seen.insert(id)
                && (self.topology.recovery.is_none() || !matches!(topo.nodes[id].role, Role::Server { .. }))
            {
                return Err(SpecError(format!("--crash {c}: {} crashes twice", c.node)));
            }
        }
        Ok(topo)
    }

    /// The crashes as `(cycle, node)`, in cycle order (then node order).
    pub fn crash_schedule(&self, topo: &Topology) -> Vec<(u32, NodeId)> {
        let mut s: Vec<(u32, NodeId)> = self
            .crashes
            .iter()
            .map(|c| (c.cycle, topo.node_by_name(&c.node).expect("validated by build")))
            .collect();
        s.sort_unstable();
        s
    }

    /// A one-line description of the workload.
    pub fn workload_label(&self) -> String {
        let w = &self.workload;
        let mut s = format!(
            "keys {} {}, ops {}, write ratio {}, {}-byte values",
            w.keys,
            w.distribution,
            w.ops_label(),
            w.write_ratio,
            w.value_bytes
        );
        if w.think_cycles > 0 {
            s += &format!(", think {} cycles", w.think_cycles);
        }
        s
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input: flags, configuration. Exit code 2.
    #[error("{0}")]
    Spec(#[from] SpecError),
    /// The run could not be carried out (a file, a process, a socket). Exit code 1.
    #[error("{0}")]
    Failed(String),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Spec(_) => 2,
            RunError::Failed(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Kind;

    fn spec() -> RunSpec {
        let mut t = TopologyConfig::new(Kind::Replicated, 2);
        t.shards = 2;
        RunSpec {
            topology: t,
            workload: WorkloadSpec::default(),
            seed: 1,
            cycles: 100,
            crashes: vec![],
        }
    }

    #[test]
    fn crash_flags_are_checked() {
        assert_eq!(
            CrashAt::parse("r0.1@10"),
            Ok(CrashAt {
                node: "r0.1".into(),
                cycle: 10
            })
        );
        assert!(CrashAt::parse("r0.1").is_err());
        assert!(CrashAt::parse("@4").is_err());
        assert!(CrashAt::parse("fe@x").is_err());
        let mut s = spec();
        s.crashes = vec![CrashAt::parse("r1.2@5").unwrap(), CrashAt::parse("fe@3").unwrap()];
        let topo = s.build().unwrap();
        assert_eq!(
            s.crash_schedule(&topo),
            vec![(3, topo.node_by_name("fe").unwrap()), (5, topo.server(1, 2))]
        );
        for (bad, msg) in [
            ("c0@5", "--crash c0@5: clients do not fail"),
            ("r9.0@5", "--crash r9.0@5: no node \"r9.0\""),
            ("fe@100", "--crash fe@100: cycle 100 is not before --cycles 100"),
        ] {
            s.crashes = vec![CrashAt::parse(bad).unwrap()];
            let e = s.build().unwrap_err().0;
            assert!(e.starts_with(msg), "{e}");
        }
        s.crashes = vec![CrashAt::parse("fe@1").unwrap(), CrashAt::parse("fe@2").unwrap()];
        assert!(s.build().unwrap_err().0.contains("crashes twice"));
    }
}
