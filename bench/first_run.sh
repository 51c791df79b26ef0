#!/usr/bin/env bash
# What a newcomer waits for: a fresh clone of this repository in a temporary folder, then the
# README's two commands in order, cold (a target folder of its own; the crates must already be
# downloaded, or the download is counted too). Prints clone → report, clone → tests green, and the
# ten crates that took longest to compile (from `cargo run --timings`, whose HTML it keeps).
#
#   bash bench/first_run.sh            # BENCH_DIR=target/first-run by default
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-target/first-run}
rm -rf "$dir" && mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
git clone -q . "$dir/clone"
cd "$dir/clone"
now() { date +%s.%N; }
t0=$(now)
cargo run --timings -- demo > "$dir/demo.log" 2>&1 || { tail -20 "$dir/demo.log"; exit 1; }
t1=$(now)
cargo test > "$dir/test.log" 2>&1 || { tail -40 "$dir/test.log"; exit 1; }
t2=$(now)
grep -E "Finished|stage done" "$dir/demo.log" "$dir/test.log" | sed "s|$dir/||"
grep -E "test result: .* [1-9][0-9]* passed" "$dir/test.log" || true
printf 'clone -> report: %.0f s\nclone -> tests green: %.0f s (cargo test %.0f s)\n' \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
cp target/cargo-timings/cargo-timing.html "$dir/"
python3 - "$dir/cargo-timing.html" <<'PY'
import json, re, sys
html = open(sys.argv[1], encoding="utf-8").read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
end = max(u["start"] + u["duration"] for u in units)
print(f"{len(units)} units compiled in {end:.0f} s wall, {sum(u['duration'] for u in units):.0f} s of compiler time; the ten longest:")
for u in sorted(units, key=lambda u: -u["duration"])[:10]:
    print(f"  {u['duration']:6.1f} s  {u['name']} {u['version']} {u.get('target', '').strip()}")
PY
echo "timings: $dir/cargo-timing.html"
