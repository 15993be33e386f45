//! Bounded frames (`--slots K --queue Q`): what the model observes of the
//! root FE's queue for `latency` and `fifo`.
//!
//! `latency`: when a request arrives at the root FE, the model counts the
//! requests before it in its shard's service order (those waiting in the
//! queue, then the new ones of lower client number) and tells the monitor:
//! with `ahead` of them it may wait `⌊ahead / K⌋` cycles, and without
//! failures it must then be answered exactly that much later than the
//! failure-free latency ([`tidekv_checks::Monitor::allow`]).
//!
//! `fifo`: after each cycle, per shard, no request the root FE just sent
//! arrived after one that still waits ([`tidekv_checks::fifo`]). Arrival
//! order is the clients' invocation order (every client is equally far
//! from the root FE; requests arriving together queue in client order), read
//! from the monitor, not from the FE.

use super::state::State;
use super::tide::TideModel;
use tidekv::cluster::{Crash, NodeState};
use tidekv::node::fe::{Downstream, Source};
use tidekv::topology::{NodeCtx, NodeId, Role};
use tidekv_checks::Queued;

impl TideModel {
    /// The FE next to the servers.
    pub fn root_fe(&self) -> Option<NodeId> {
        self.topo.fes().find(|&id| {
            matches!(&self.topo.nodes[id].ctx, NodeCtx::Fe(ctx) if matches!(ctx.downstream, Downstream::Servers { .. }))
        })
    }

    /// Tells the monitor of `s` how long each request arriving at the root
    /// FE in this cycle (the one from `last` to `s`) may wait in its queue.
    pub(super) fn allow_queueing(&self, last: &State, s: &mut State, crashes: &[Crash]) {
        let Some(root) = self.root_fe() else { return };
        let NodeCtx::Fe(ctx) = &self.topo.nodes[root].ctx else {
            return;
        };
        let Some(b) = ctx.bounded else { return };
        let NodeState::Fe(fe) = &last.cluster.nodes[root] else {
            return;
        };
        if crashes.iter().any(|c| c.node == root) {
            return;
        }
        let plan = fe.plan(ctx, &last.cluster.inputs(&self.topo, root));
        let mut arrivals: Vec<(usize, Option<usize>)> = plan
            .jobs
            .iter()
            .chain(plan.enqueue.iter().map(|(j, _)| j))
            .chain(plan.busy.iter())
            .filter(|j| matches!(j.source, Source::Child { .. }))
            .map(|j| (j.client, j.route.shard()))
            .collect();
        arrivals.sort_unstable();
        let mut ahead: Vec<usize> = (0..self.config.topology.shards).map(|sh| fe.queued(sh)).collect();
        for (client, shard) in arrivals {
            let Some(shard) = shard else { continue };
            s.monitor.allow(client, ahead[shard] as u32, b.slots as u32);
            ahead[shard] += 1;
        }
    }

    /// `fifo` on `s`: per shard, what the root FE just sent against what
    /// still waits, in arrival order.
    pub fn fifo(&self, s: &State) -> Result<(), String> {
        let Some(root) = self.root_fe() else { return Ok(()) };
        let NodeState::Fe(fe) = &s.cluster.nodes[root] else {
            return Ok(());
        };
        let arrival = |shard: usize, client: usize| {
            s.monitor.pending(client).map(|p| Queued {
                shard,
                invoke: p.invoke,
                client,
            })
        };
        let mut sent = Vec::new();
        for id in self.topo.servers() {
            let Role::Server { shard, .. } = self.topo.nodes[id].role else {
                continue;
            };
            for (i, frame) in s.cluster.inputs(&self.topo, id).into_iter().enumerate() {
                let link = &self.topo.links[self.topo.nodes[id].inputs[i]];
                let Some(f) = frame.filter(|_| link.from == root) else {
                    continue;
                };
                sent.extend(f.up().iter().filter_map(|(c, _)| arrival(shard, c)));
            }
        }
        let waiting: Vec<Queued> = fe
            .queue
            .iter()
            .filter_map(|&c| arrival(fe.inflight[c].as_ref()?.shard as usize, c))
            .collect();
        tidekv_checks::fifo(&sent, &waiting)
    }
}
