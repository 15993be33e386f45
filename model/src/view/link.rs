//! The Explorer's addresses: the page of a state, the model the Explorer
//! serves, and the link `tidekv check` prints for each counterexample.
//!
//! The Explorer names a state by its path of action indices:
//! `http://ADDR/#/steps/I/A1/A2/…` opens the state reached from initial state
//! `I` by the `A1`-th action, then the `A2`-th, …, in the order
//! `Model::actions` lists them.

use crate::model::{CycleAction, ModelConfig, TideModel};
use stateright::{Model, Path};
use tidekv::topology::ConfigError;

/// Where `tidekv explore` listens unless `--addr` says otherwise: loopback
/// only, since the Explorer has no authentication.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The Explorer page that opens the state reached by the encoded path
/// (`stateright::Path::encode`: `0/12/3/…`).
pub fn steps_url(addr: &str, encoded_path: &str) -> String {
    format!("http://{addr}/#/steps/{encoded_path}")
}

/// The model the Explorer serves for `cfg`.
///
/// Its states do not keep the trace (the full history): the checker's
/// states, so paths that differ only in forgotten history merge as in
/// `tidekv check`. A trace in every state makes every path its own state:
/// measured on 2 cores, the run to completion of
/// `--topology replicated` (R=3, all ops) grows from 448,663 states in 27 s
/// to 4,742,755 in 292 s, and of `--topology sharded --crashes 1
/// --crash-mode mid-send --ops get,put` from 189,929 in 9 s to 1,734,331 in
/// 73 s. The pictures need the history only along the path shown, which
/// [`crate::svg::timing_diagram`] rebuilds by replaying it.
///
/// Minimization stays on: stateright overwrites a property's discovery with
/// every later violating state it visits, and the Explorer's run is depth
/// first, so left alone a property's link would end on some long path; a
/// minimizing property reports only paths no larger than the smallest seen,
/// so the link ends on a shortest one, the size `tidekv check` reports.
pub fn explorer_model(cfg: ModelConfig) -> Result<TideModel, ConfigError> {
    let m = TideModel::new(cfg)?;
    m.exhaustive_limits()?;
    debug_assert!(m.minimize && !m.keep_trace);
    Ok(m)
}

/// A short fingerprint of a configuration: 8 hex digits of the FNV-1a hash
/// of its flags ([`ModelConfig::flags`]). Links carry it (`?cfg=…`) and the
/// Explorer compares it with its own, so a link made for other flags warns
/// instead of opening an unrelated state. FNV is fixed by its definition,
/// so the fingerprint is the same on every build and machine.
pub fn config_fingerprint(cfg: &ModelConfig) -> String {
    format!("{:08x}", fnv1a(&cfg.flags()))
}

/// The 32-bit FNV-1a hash of `s`.
fn fnv1a(s: &str) -> u32 {
    s.bytes()
        .fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The Explorer's address of the state `actions` lead to from the initial
/// state of `cfg`'s model, without host and port: the path encoded as the
/// Explorer encodes it (`stateright::Path::encode`, action indices) on the
/// model it serves, and the configuration's fingerprint
/// (`0/14/2?cfg=1a2b3c4d`). Empty where the path is too wide to encode.
pub fn counterexample_path(cfg: &ModelConfig, actions: &[CycleAction]) -> String {
    let m = explorer_model(cfg.clone()).expect("the configuration was checked");
    // Encoding enumerates every action of every state on the path; with many
    // clients that is millions per state (more than the Explorer could show,
    // and enough to exhaust memory), so large configurations get no URL.
    let per_state = (m.alphabet().len() as f64 + 1.0).powi(m.topo.clients() as i32);
    if per_state > 100_000.0 {
        return String::new();
    }
    let init = m.init_states().pop().expect("one initial state");
    let path = Path::from_actions(&m, init, actions).expect("the actions are a path of the model");
    format!("{}?cfg={}", path.encode(&m), config_fingerprint(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidekv::topology::Kind;

    #[test]
    fn fingerprints_are_fixed_and_tell_configurations_apart() {
        let a = ModelConfig::new(Kind::Single);
        let mut b = a.clone();
        b.cycles += 1;
        assert_eq!(config_fingerprint(&a).len(), 8);
        assert_eq!(config_fingerprint(&a), config_fingerprint(&a.clone()));
        assert_ne!(config_fingerprint(&a), config_fingerprint(&b));
        // The published FNV-1a test vectors: the hash is FNV's, not a
        // build-dependent hasher.
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
    }
}
