#!/usr/bin/env bash
# The counterexamples that shaped chain replication's re-linking rule
# (docs/RESULTS.md): each variant removes one rule from
# impl/src/protocol/chain.rs in a temporary git worktree of HEAD, builds it
# (a release build without LTO, about a minute each) and model-checks
#   replicated R=3, 2 clients, 1 key, get/put, 1 crash, mid-send
# on one thread, so the counterexamples are the same every time.
#
#   scripts/chain-ablations.sh [VARIANT...]     (default: all of them)
#
# Variants:
#   noresend  a replica whose successor changed re-sends nothing
#   window2   the sent list keeps 2 cycles instead of 3
#   noseq     a re-sent batch is applied in client order, not the head's
#   delay     the per-crash latency bound is max(R, 2) - 1 instead of max(R, 2)
set -euo pipefail
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(noresend window2 noseq delay)
wt=$(mktemp -d /tmp/tidekv-ablate.XXXXXX)
trap 'git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT
git -C "$repo" worktree add --detach "$wt" HEAD >/dev/null
cd "$wt"
f=impl/src/protocol/chain.rs
edit() { # pattern replacement: exactly one line must change
  local before; before=$(md5sum <"$f")
  sed -i "s/$1/$2/" "$f"
  [ "$(md5sum <"$f")" != "$before" ] || { echo "ablation edit did not apply: $1" >&2; exit 2; }
}
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_TARGET_DIR="$repo/target/ablate"
for v in "${variants[@]}"; do
  git checkout -q -- "$f"
  case "$v" in
    noresend) edit 'let relinked = relay.next' 'let relinked = false \&\& relay.next' ;;
    window2) edit '^pub const WINDOW: usize = 3;' 'pub const WINDOW: usize = 2;' ;;
    noseq) edit 'updates.sort_by_key(|(c, u)| (u.seq, \*c));' 'updates.sort_by_key(|(c, _)| *c);' ;;
    delay) edit '(replicas as u32).max(2)$' '(replicas as u32).max(2) - 1' ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  echo "=== chain without the rule: $v"
  cargo build --release -q -p tidekv-model
  "$CARGO_TARGET_DIR/release/tidekv" check --topology replicated --shards 1 --replicas 3 --clients 2 \
    --keys 1 --protocol chain --crashes 1 --crash-mode mid-send --ops get,put --threads 1 || true
done
