//! `tidekv bench`: the checker against a reference model and against
//! itself, the runtime against its baselines, and how both scale. Part of
//! the binary, not of the `tidekv_model` library's API.

pub mod cache;
pub mod checker;
pub mod cmd;
pub mod durability;
pub mod paxos;
pub mod plot;
pub mod queues;
pub mod scaling;

/// The benchmarks' workload on `topology`: 1,000 keys, 50% writes (get,
/// put), seed 1.
pub(crate) fn get_put(topology: tidekv::topology::TopologyConfig, cycles: u32) -> tidekv::runtime::RunSpec {
    tidekv::runtime::RunSpec {
        topology,
        workload: tidekv::runtime::workload::WorkloadSpec {
            keys: 1000,
            write_ratio: 0.5,
            ops: vec![
                tidekv::runtime::workload::OpKind::Get,
                tidekv::runtime::workload::OpKind::Put,
            ],
            ..tidekv::runtime::workload::WorkloadSpec::default()
        },
        seed: 1,
        cycles,
        crashes: vec![],
    }
}
