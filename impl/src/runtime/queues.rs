//! The root FE's queues (`--slots K --queue Q`) as a run saw them: per
//! shard, the requests waiting after each cycle, their maximum and mean.
//! Both engines observe the root FE's state after it stepped: the
//! in-process one directly, the UDP one in the root FE's process (its
//! summary carries them to the supervisor).

use crate::node::fe::Fe;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// Queue depth per shard over the cycles the root FE lived.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Cycles observed.
    pub cycles: u64,
    /// Per shard: the most requests waiting after a cycle.
    pub max: Vec<u64>,
    /// Per shard: the requests waiting, summed over the cycles.
    pub sum: Vec<u64>,
}

impl QueueStats {
    pub fn new(shards: usize) -> Self {
        QueueStats {
            cycles: 0,
            max: vec![0; shards],
            sum: vec![0; shards],
        }
    }

    /// The root FE after a cycle; `depth` is scratch space.
    pub fn observe<V>(&mut self, fe: &Fe<V>, depth: &mut Vec<u64>) {
        depth.clear();
        depth.resize(self.max.len(), 0);
        for &c in &fe.queue {
            if let Some(f) = &fe.inflight[c] {
                if let Some(d) = depth.get_mut(f.shard as usize) {
                    *d += 1;
                }
            }
        }
        for ((d, m), s) in depth.iter().zip(&mut self.max).zip(&mut self.sum) {
            *m = (*m).max(*d);
            *s += d;
        }
        self.cycles += 1;
    }

    /// Per shard: the mean number of requests waiting after a cycle.
    pub fn mean(&self) -> Vec<f64> {
        self.sum
            .iter()
            .map(|&s| {
                if self.cycles == 0 {
                    0.0
                } else {
                    s as f64 / self.cycles as f64
                }
            })
            .collect()
    }

    pub fn to_json(&self) -> Json {
        let mean: Vec<f64> = self.mean().into_iter().map(|m| (m * 1000.0).round() / 1000.0).collect();
        json!({"max": self.max, "mean": mean, "cycles": self.cycles})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::fe::InFlight;

    #[test]
    fn depth_per_shard() {
        let mut fe: Fe<u8> = Fe::new(4);
        for (c, shard) in [(0, 1u8), (2, 1), (3, 0)] {
            fe.inflight[c] = Some(InFlight {
                req: crate::node::Request {
                    tag: 0,
                    op: crate::node::Op::Get(0),
                    version: 0,
                },
                shard: shard.into(),
                targets: 0,
                answer: 0,
                repair: None,
                since: 0,
            });
            fe.queue.push(c);
        }
        let mut q = QueueStats::new(2);
        let mut scratch = Vec::new();
        q.observe(&fe, &mut scratch);
        fe.queue.clear();
        q.observe(&fe, &mut scratch);
        assert_eq!((q.max.clone(), q.sum.clone(), q.cycles), (vec![1, 2], vec![1, 2], 2));
        assert_eq!(q.mean(), vec![0.5, 1.0]);
    }
}
