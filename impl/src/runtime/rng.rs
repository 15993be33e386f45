//! Seeded random streams: every random choice of a run comes from one of these.
//!
//! A stream is ChaCha8 keyed by the run's `--seed` and selected by a name:
//! the 256-bit key is four SplitMix64 outputs of the seed, and the ChaCha
//! stream number is the 64-bit FNV-1a hash of the name. Streams are named
//! after what draws from them, never after where they run:
//!
//! | name | draws |
//! |---|---|
//! | `workload/c3` | client `c3`'s operations, keys and think times |
//! | `choose/fe` | the replica choices of FE `fe` (`choose/fe1.0` with levels) |
//!
//! So a client process of the UDP engine draws exactly what the in-process
//! engine draws for that client, in the same order, and the two engines
//! replay the same run from the same seed.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One deterministic random stream.
#[derive(Clone, Debug)]
pub struct Stream(ChaCha8Rng);

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, 64 bits: stable across platforms and versions, unlike `Hash`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Stream {
    /// The stream `name` of the run seeded with `seed`.
    pub fn new(seed: u64, name: &str) -> Stream {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(fnv1a64(name.as_bytes()));
        Stream(rng)
    }

    /// Client `client_name`'s workload stream.
    pub fn workload(seed: u64, client_name: &str) -> Stream {
        Stream::new(seed, &format!("workload/{client_name}"))
    }

    /// FE `fe_name`'s replica-choice stream.
    pub fn chooser(seed: u64, fe_name: &str) -> Stream {
        Stream::new(seed, &format!("choose/{fe_name}"))
    }

    /// 64 uniform bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` without bias (Lemire's multiply-and-reject).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, "workload/c0");
                move |_| s.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, "workload/c0");
                move |_| s.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, "workload/c1");
                move |_| s.next_u64()
            })
            .collect();
        let d: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(8, "workload/c0");
                move |_| s.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    /// Pinned: if this changes, every recorded run replays differently.
    #[test]
    fn first_draws_are_pinned() {
        let mut s = Stream::new(1, "choose/fe");
        let draws: Vec<u64> = (0..6).map(|_| s.below(3)).collect();
        assert_eq!(draws, PINNED);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    const PINNED: [u64; 6] = [2, 2, 0, 2, 2, 1];

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut s = Stream::new(3, "x");
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[s.below(5) as usize] += 1;
            let u = s.unit();
            assert!((0.0..1.0).contains(&u));
        }
        for n in seen {
            assert!((800..1200).contains(&n), "{seen:?}");
        }
    }
}
