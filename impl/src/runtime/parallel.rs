//! Stepping a cluster on one thread or on two.
//!
//! The in-process engine drives a [`Stepper`]. [`Sequential`] is
//! [`Cluster::step_with`] on this thread. [`Split`] runs the same cycle on two
//! threads: this one steps the clients and front ends, a worker steps the
//! servers, concurrently. Within a cycle every node reads only last cycle's
//! frames and writes only its own outputs (the lockstep rule the model is
//! built on), so the two groups share nothing but the read-only inbox, and
//! the result is the same as the sequential step's, bit for bit (a test holds
//! it to that). Clients and FEs make every choice and produce every event, so
//! those stay on the calling thread, in order.
//!
//! The two threads meet twice per cycle (the worker is handed the servers and
//! hands them back), so the split pays off when a cycle carries enough work:
//! many clients, or a large store.

use crate::cluster::{step_nodes, Chooser, Cluster, CycleInputs, NodeState, StepBuffers};
use crate::node::client::ClientEvent;
use crate::node::server::Store;
use crate::node::{ClientId, Frame, Val};
use crate::topology::{NodeId, Topology};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Executes cycles of a cluster.
pub trait Stepper<V> {
    /// Whether client `c` may be handed a new operation this cycle.
    fn will_be_idle(&self, topo: &Topology, c: ClientId) -> bool;
    /// Executes one cycle, as [`Cluster::step`].
    fn step(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    );
    /// Per link: the frame sent last cycle (`None`: sender dead).
    fn inbox(&self) -> &[Option<Frame<V>>];
    /// Serializes every live server's state and replaces it with what
    /// deserializes back, as the seed's platform does between cycles; returns
    /// the bytes serialized.
    fn round_trip_servers(&mut self) -> u64;
}

/// [`Stepper::round_trip_servers`] over `nodes`.
pub fn round_trip_servers<V: Val, S: Store<V>>(nodes: &mut [NodeState<V, S>]) -> u64 {
    let mut bytes = 0;
    for node in nodes.iter_mut() {
        if let NodeState::Server(s) = node {
            let b = postcard::to_allocvec(&*s).expect("a server's state serializes");
            bytes += b.len() as u64;
            *s = postcard::from_bytes(&b).expect("a serialized server's state deserializes");
        }
    }
    bytes
}

/// [`Cluster::step_with`] on the calling thread.
pub struct Sequential<V, S> {
    pub cluster: Cluster<V, S>,
    bufs: StepBuffers<V>,
}

impl<V: Val, S: Store<V>> Sequential<V, S> {
    pub fn new(cluster: Cluster<V, S>) -> Self {
        Sequential {
            cluster,
            bufs: StepBuffers::default(),
        }
    }
}

impl<V: Val, S: Store<V>> Stepper<V> for Sequential<V, S> {
    #[inline]
    fn will_be_idle(&self, topo: &Topology, c: ClientId) -> bool {
        self.cluster.will_be_idle(topo, c)
    }

    fn step(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    ) {
        self.cluster.step_with(topo, inputs, choose, events, &mut self.bufs);
    }

    fn inbox(&self) -> &[Option<Frame<V>>] {
        &self.cluster.inbox
    }

    fn round_trip_servers(&mut self) -> u64 {
        round_trip_servers(&mut self.cluster.nodes)
    }
}

type Inbox<V> = Arc<Vec<Option<Frame<V>>>>;

/// The servers, lent to the worker for one cycle.
struct Job<V, S> {
    nodes: Vec<NodeState<V, S>>,
    bufs: StepBuffers<V>,
    inbox: Inbox<V>,
    inputs: CycleInputs<V>,
}

/// The cluster split over two threads: see the module documentation.
pub struct Split<V, S> {
    /// Nodes `0..split`: the clients and the FEs.
    front: Vec<NodeState<V, S>>,
    front_bufs: StepBuffers<V>,
    /// Nodes `split..`: the servers with their buffers, while on this thread.
    back: Option<(Vec<NodeState<V, S>>, StepBuffers<V>, CycleInputs<V>)>,
    inbox: Inbox<V>,
    split: NodeId,
    cycle: u32,
    jobs: SyncSender<Job<V, S>>,
    done: Receiver<Job<V, S>>,
}

/// Runs `f` with `cluster` split over this thread and a worker; returns the
/// cluster as it is afterwards, and what `f` returned.
pub fn run_split<V, S, R>(
    cluster: Cluster<V, S>,
    topo: &Topology,
    f: impl FnOnce(&mut Split<V, S>) -> R,
) -> (Cluster<V, S>, R)
where
    V: Val,
    S: Store<V> + Send,
{
    let split = topo.servers().min().expect("every topology has a server");
    debug_assert!(topo.servers().all(|s| s >= split), "servers come last");
    std::thread::scope(|scope| {
        let (jobs, worker_jobs) = sync_channel::<Job<V, S>>(1);
        let (worker_done, done) = sync_channel::<Job<V, S>>(1);
        scope.spawn(move || {
            let mut events = Vec::new();
            for mut job in worker_jobs {
                let mut no_choice =
                    |_: NodeId, _: ClientId, _: &[usize]| -> usize { unreachable!("servers make no choices") };
                step_nodes(
                    &mut job.nodes,
                    split,
                    topo,
                    &job.inbox,
                    &job.inputs,
                    &mut no_choice,
                    &mut events,
                    &mut job.bufs,
                );
                // Release the inbox before handing back, so that the caller
                // may update it.
                job.inbox = Arc::new(Vec::new());
                if worker_done.send(job).is_err() {
                    return;
                }
            }
        });
        let Cluster {
            cycle,
            mut nodes,
            inbox,
        } = cluster;
        let back = nodes.split_off(split);
        let links = topo.links.len();
        let mut st = Split {
            front: nodes,
            front_bufs: StepBuffers::with_links(links),
            back: Some((
                back,
                StepBuffers::with_links(links),
                CycleInputs {
                    ops: Vec::new(),
                    crashes: Vec::new(),
                },
            )),
            inbox: Arc::new(inbox),
            split,
            cycle,
            jobs,
            done,
        };
        let r = f(&mut st);
        let Split {
            mut front,
            back,
            inbox,
            cycle,
            jobs,
            ..
        } = st;
        drop(jobs); // ends the worker's loop
        front.extend(back.expect("the servers are back").0);
        let inbox = Arc::try_unwrap(inbox).ok().expect("nobody else holds the inbox");
        (
            Cluster {
                cycle,
                nodes: front,
                inbox,
            },
            r,
        )
    })
}

impl<V: Val, S: Store<V> + Send> Stepper<V> for Split<V, S> {
    fn will_be_idle(&self, topo: &Topology, c: ClientId) -> bool {
        match &self.front[c] {
            NodeState::Client(cl) => cl.will_be_idle(self.inbox[topo.nodes[c].inputs[0]].as_ref()),
            _ => false,
        }
    }

    fn step(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    ) {
        let (nodes, bufs, mut server_inputs) = self.back.take().expect("the servers are on this thread");
        // The servers need only the crashes (reusing the vector's buffer).
        server_inputs.crashes.clear();
        server_inputs.crashes.extend_from_slice(&inputs.crashes);
        let job = Job {
            nodes,
            bufs,
            inbox: Arc::clone(&self.inbox),
            inputs: server_inputs,
        };
        self.jobs.send(job).expect("the worker runs until the split ends");
        step_nodes(
            &mut self.front,
            0,
            topo,
            &self.inbox,
            inputs,
            choose,
            events,
            &mut self.front_bufs,
        );
        let Job {
            nodes,
            mut bufs,
            inputs,
            ..
        } = self.done.recv().expect("the worker runs until the split ends");
        let inbox = Arc::get_mut(&mut self.inbox).expect("the worker released the inbox");
        for (l, link) in topo.links.iter().enumerate() {
            let to_dead = if link.to < self.split {
                matches!(self.front[link.to], NodeState::Dead)
            } else {
                matches!(nodes[link.to - self.split], NodeState::Dead)
            };
            // Each link's frame buffer stays with its sender's group.
            let spare = if link.from < self.split {
                self.front_bufs.spare_mut()
            } else {
                bufs.spare_mut()
            };
            if to_dead {
                spare[l] = None;
            }
            std::mem::swap(&mut inbox[l], &mut spare[l]);
        }
        self.back = Some((nodes, bufs, inputs));
        self.cycle += 1;
    }

    fn inbox(&self) -> &[Option<Frame<V>>] {
        &self.inbox
    }

    fn round_trip_servers(&mut self) -> u64 {
        let (back, _, _) = self
            .back
            .as_mut()
            .expect("the servers are on this thread between cycles");
        round_trip_servers(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::server::HashStore;
    use crate::node::{Op, Protocol};
    use crate::topology::{Kind, TopologyConfig};

    /// The split stepper computes exactly what the sequential one computes,
    /// through crashes of servers and of the FE.
    #[test]
    fn two_threads_compute_what_one_computes() {
        for (kind, protocol) in [
            (Kind::Single, Protocol::Fanout),
            (Kind::Sharded, Protocol::Fanout),
            (Kind::Replicated, Protocol::Seed),
            (Kind::Replicated, Protocol::Fanout),
        ] {
            let mut config = TopologyConfig::new(kind, 5);
            config.protocol = protocol;
            let topo = Topology::new(config).unwrap();
            let mut seq = Sequential::new(Cluster::<u8, HashStore<u8>>::new(&topo));
            let doomed: Vec<NodeId> = topo.servers().take(2).chain(topo.fes()).collect();
            let (cluster, ()) = run_split(Cluster::<u8, HashStore<u8>>::new(&topo), &topo, |split| {
                let mut x = 7u64;
                for cycle in 0..200u32 {
                    let ops = (0..topo.clients())
                        .map(|c| {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                            let idle = seq.will_be_idle(&topo, c);
                            assert_eq!(idle, split.will_be_idle(&topo, c));
                            let (k, v) = ((x >> 40) as u32 % 3, (x >> 50) as u8);
                            idle.then(|| if x >> 63 == 0 { Op::Get(k) } else { Op::Put(k, v) })
                        })
                        .collect();
                    let crash = |i: usize, kind| doomed.get(i).map(|&node| crate::cluster::Crash { node, kind });
                    let crashes: Vec<_> = match cycle {
                        60 => crash(0, crate::cluster::CrashKind::MidSend(1)),
                        90 => crash(1, crate::cluster::CrashKind::Atomic),
                        150 => crash(2, crate::cluster::CrashKind::Atomic),
                        _ => None,
                    }
                    .into_iter()
                    .collect();
                    let inputs = CycleInputs { ops, crashes };
                    let (mut e1, mut e2) = (Vec::new(), Vec::new());
                    seq.step(
                        &topo,
                        &inputs,
                        &mut |_, c, cands| (c + cycle as usize) % cands.len(),
                        &mut e1,
                    );
                    split.step(
                        &topo,
                        &inputs,
                        &mut |_, c, cands| (c + cycle as usize) % cands.len(),
                        &mut e2,
                    );
                    assert_eq!(e1, e2, "{kind} {protocol} cycle {cycle}");
                    assert_eq!(seq.inbox(), split.inbox(), "{kind} {protocol} cycle {cycle}");
                }
            });
            assert_eq!(cluster.cycle, seq.cluster.cycle);
            assert_eq!(cluster.inbox, seq.cluster.inbox);
            assert_eq!(
                format!("{:?}", cluster.nodes.len()),
                format!("{:?}", seq.cluster.nodes.len())
            );
            for (a, b) in cluster.nodes.iter().zip(&seq.cluster.nodes) {
                match (a, b) {
                    (NodeState::Server(a), NodeState::Server(b)) => {
                        assert_eq!(a.store, b.store);
                        assert_eq!(a.sessions, b.sessions);
                    }
                    (NodeState::Client(a), NodeState::Client(b)) => assert_eq!(a, b),
                    (NodeState::Fe(a), NodeState::Fe(b)) => assert_eq!(a, b),
                    (NodeState::Dead, NodeState::Dead) => {}
                    _ => panic!("{kind} {protocol}: one is dead, the other not"),
                }
            }
        }
    }
}
