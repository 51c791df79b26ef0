#!/usr/bin/env bash
# A tier built locally and on a loopback Ballista cluster (a scheduler and two executors of one
# task each, each executor pinned to one core with taskset), with the same binary: the times of
# both builds (BENCH_RUNS runs each, alternating), and the cluster's jobs and tasks from the
# scheduler's log. Prints one Markdown table row and the overhead's parts.
#
#   cargo build --release --features serve,cluster
#   GOVMEDIA=target/release/govmedia BENCH_TIER=province bash bench/cluster.sh
#
# Defaults: the debug binary and the city tier (a debug build of the province tier takes minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GOVMEDIA:-target/debug/govmedia}
tier=${BENCH_TIER:-city}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-target/bench-cluster}
rm -rf "$dir" && mkdir -p "$dir"
wh="$dir/wh-$tier"
"$bin" --warehouse "$wh" generate --tier "$tier" --seed 7 > /dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

sport=$(port)
"$bin" cluster scheduler --bind "127.0.0.1:$sport" > "$dir/scheduler.out" 2> "$dir/scheduler.log" &
pids+=($!)
sleep 1
for core in 0 1; do
    f=$(port); g=$(port)
    taskset -c "$core" "$bin" cluster executor --scheduler "127.0.0.1:$sport" --bind "127.0.0.1:$f" --grpc-port "$g" \
        --concurrency 1 --work-dir "$dir/executor-$core" > /dev/null 2> "$dir/executor-$core.log" &
    pids+=($!)
done
sleep 3

# Wall seconds of a build; its per-model table is kept (the last run's) in $dir/LABEL.out.
secs() { local label=$1 s; shift; s=$(date +%s.%N); "$@" > "$dir/$label.out" 2>> "$dir/builds.log"; echo "$(date +%s.%N) - $s" | bc; }
local_t=(); cluster_t=()
for _ in $(seq "$runs"); do
    local_t+=("$(secs local "$bin" --warehouse "$wh" build --quarter 2019Q3)")
    cluster_t+=("$(secs cluster "$bin" --warehouse "$wh" build --quarter 2019Q3 --cluster "df://127.0.0.1:$sport")")
done
# The models' own time (the table's ms column), the rest being the data tests and the commit.
model_ms() { awk -F'|' '$3 ~ /staging|intermediate|mart/ {s += $5} END {print s / 1000}' "$dir/$1.out"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
lm=$(median "${local_t[@]}"); cm=$(median "${cluster_t[@]}")
jobs=$(grep -c "Job finished successfully" "$dir/scheduler.log" || true)
tasks=$(cat "$dir"/executor-*.log | grep -c "Finished task" || true)
posts=$("$bin" --warehouse "$wh" sql "SELECT count(*) FROM posts" --format csv | tail -1)
echo "| $tier | $posts | $(basename "$bin") ($(dirname "$bin" | xargs basename)) | $lm | $cm | $(echo "scale=2; $cm / $lm" | bc) | $((jobs / runs)) | $((tasks / runs)) |"
echo "local runs: ${local_t[*]}; cluster runs: ${cluster_t[*]}"
echo "models (last run): local $(model_ms local) s, cluster $(model_ms cluster) s; the rest is the data tests and the commit"
