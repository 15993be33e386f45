"""Re-tests the mutants a `cargo mutants` run missed against other tests.

cargo-mutants 27 runs only the mutated package's tests unless told
otherwise, and its `--test-package` did not reach the `tidekv-tests` crate
here; this applies each missed mutant's diff to a clean worktree, runs the
given `cargo test` arguments, and reverts it. See docs/TESTING.md.

  git worktree add /tmp/mwt HEAD
  python3 scripts/mutants-recheck.py OUT_DIR "-p,tidekv-tests,--test,node_logic" /tmp/mwt

OUT_DIR is the directory given to `cargo mutants -o`. Prints one line per
mutant: CAUGHT, MISSED or UNVIABLE, then its name.
"""
import json, subprocess, sys, os
out_dir, tests, tree = sys.argv[1], sys.argv[2].split(','), sys.argv[3]
d = json.load(open(f'{out_dir}/mutants.out/outcomes.json'))
env = dict(os.environ, CARGO_TARGET_DIR=os.environ.get('CARGO_TARGET_DIR', os.path.join(tree, 'target')))
for o in d['outcomes']:
    if o['summary'] != 'MissedMutant':
        continue
    name = o['scenario']['Mutant']['name']
    diff = f"{out_dir}/mutants.out/{o['diff_path']}"
    target = open(diff).readline()[4:].strip()
    subprocess.run(['patch', '-s', target, diff], cwd=tree, check=True)
    try:
        cmd = ['cargo', 'test', '-q'] + tests
        r = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
        caught = r.returncode != 0
        build_fail = 'error[' in r.stderr and 'could not compile' in r.stderr
    except subprocess.TimeoutExpired:
        caught, build_fail = True, False
    finally:
        subprocess.run(['patch', '-R', '-s', target, diff], cwd=tree, check=True)
    status = 'UNVIABLE' if build_fail else ('CAUGHT' if caught else 'MISSED')
    print(f'{status}\t{name}', flush=True)
