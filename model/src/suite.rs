//! The default suite: every topology × protocol × crash budget × crash mode
//! that fits in a few minutes on 2 cores.

use crate::model::{CrashMode, ModelConfig};
use tidekv::node::Protocol;
use tidekv::topology::Kind;

/// The configurations `tidekv check` runs without `--topology`.
pub fn default_suite() -> Vec<ModelConfig> {
    let mut out = Vec::new();
    let base = |kind: Kind| ModelConfig::new(kind);
    // single
    out.push(base(Kind::Single));
    for mode in [CrashMode::Atomic, CrashMode::MidSend] {
        let mut c = base(Kind::Single);
        c.crashes = 1;
        c.crash_mode = mode;
        out.push(c);
    }
    // sharded
    out.push(base(Kind::Sharded));
    out
}

#[allow(dead_code)]
fn with(mut c: ModelConfig, f: impl FnOnce(&mut ModelConfig)) -> ModelConfig {
    f(&mut c);
    let _ = Protocol::Seed;
    c
}
