#!/usr/bin/env bash
# The benchmark: govmedia against DuckDB on the same SQL over the same Parquet, per tier.
#
#   bash bench/run.sh                    # district, city, province
#   BENCH_TIERS="district city province national" bash bench/run.sh   # national: BENCH_NATIONAL_RUNS, default 3
#
# For each tier: generate the staging Parquet (timed) and the same quarter as canonical CSV exports;
# for the tiers in BENCH_INGEST_TIERS (default: district city province) ingest those exports into a
# fresh warehouse (BENCH_RUNS times, timed, MB/s; DuckDB reading the same files into Parquet as
# the machine's reference) and run build and report on it (the end-to-end time); then run
# `govmedia build` BENCH_RUNS times on the generated staging (wall time, the models' own time, peak
# RSS), the same models in DuckDB BENCH_RUNS times, and check once that DuckDB's marts equal
# govmedia's; then time `report` at the tier's level (district, city, province) BENCH_RUNS times and
# record its sizes (index.html, the largest chart PNG, the notice's pages). Ingest of the demo
# district's mixed exports (CSV, XLSX, HTML, JSON Lines) is timed too, and for the tiers in
# BENCH_PLATFORM_TIERS (default: city) ingest of the tier's quarter in the platforms' own formats.
# Writes BENCHMARKS.md. Needs: cargo, python3 (a venv with DuckDB is made in bench/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
tiers=${BENCH_TIERS:-"district city province"}
ingest_tiers=${BENCH_INGEST_TIERS:-"district city province"}
runs=${BENCH_RUNS:-3}
work=${BENCH_DIR:-bench/work}
results="$work/results.jsonl"
mkdir -p "$work"
: > "$results"

echo "== building govmedia (release)"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/govmedia

venv=bench/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q duckdb==2.0.0

rss() { awk '{print $NF}' "$1"; }

# Every timed run starts with the page cache's dirty pages written out (`sync` before it): the files
# the generator or the previous run just wrote are not flushed to disk during the next run's time,
# which the kernel does 30 s after they were written, whichever engine runs then.

echo "== ingest: the demo district's export files"
rm -rf "$work/ingest"
"$bin" generate --out "$work/ingest/exports" --seed 1 > /dev/null
bytes=$(du -sb "$work/ingest/exports" | cut -f1)
for i in $(seq "$runs"); do
    rm -rf "$work/ingest/warehouse"
    sync
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --warehouse "$work/ingest/warehouse" run "$work/ingest/exports/pipeline.toml" --stages ingest > /dev/null
    read -r secs kb < "$work/time.txt"
    echo "{\"tier\":\"district\",\"step\":\"ingest_demo\",\"seconds\":$secs,\"rss_kb\":$kb,\"bytes\":$bytes}" >> "$results"
done

for tier in $tiers; do
    wh="$work/$tier"
    echo "== $tier: generate"
    rm -rf "$wh"
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --warehouse "$wh" generate --tier "$tier" --seed 1 | tee "$work/gen.txt"
    read -r secs kb < "$work/time.txt"
    echo "{\"tier\":\"$tier\",\"step\":\"generate\",\"seconds\":$secs,\"rss_kb\":$kb,\"summary\":\"$(head -1 "$work/gen.txt" | sed 's/"//g')\"}" >> "$results"
    if [[ " $ingest_tiers " == *" $tier "* ]]; then
        exports="$work/$tier-exports"
        ingested="$work/$tier-ingested"
        rm -rf "$exports" "$ingested" "$work/$tier-report" "$work/$tier-scratch"
        echo "== $tier: export files, then ingest, build and report on them"
        # The same quarter (same seed), written out as export files from a scratch warehouse.
        "$bin" --warehouse "$work/$tier-scratch" generate --tier "$tier" --seed 1 --exports "$exports" > /dev/null
        rm -rf "$work/$tier-scratch"
        bytes=$(du -sb "$exports" | cut -f1)
        # BENCH_RUNS ingests, each into a fresh warehouse (the report takes the median); the last
        # warehouse is built and reported on.
        for i in $(seq "$runs"); do
            echo "== $tier: ingest ($i/$runs)"
            rm -rf "$ingested"
            sync
            /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "
                for kind in registry posts interactions; do
                    '$bin' --warehouse '$ingested' ingest \$kind canonical '$exports/'\$kind'/*.csv' > /dev/null || exit 1
                done"
            read -r secs kb < "$work/time.txt"
            echo "{\"tier\":\"$tier\",\"step\":\"ingest\",\"seconds\":$secs,\"rss_kb\":$kb,\"bytes\":$bytes}" >> "$results"
        done
        # The machine's reference: DuckDB reads the same CSV files into Parquet, as many times
        # (its own variables: $secs and $kb stay the last govmedia ingest's, for the end to end).
        for i in $(seq "$runs"); do
            echo "== $tier: DuckDB reads the CSV into Parquet ($i/$runs)"
            sync
            /usr/bin/time -f "%e %M" -o "$work/time.txt" "$venv/bin/python" bench/duckdb_csv.py "$exports" > /dev/null
            read -r duck_secs duck_kb < "$work/time.txt"
            echo "{\"tier\":\"$tier\",\"step\":\"ingest_duckdb\",\"seconds\":$duck_secs,\"rss_kb\":$duck_kb,\"bytes\":$bytes}" >> "$results"
        done
        sync
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --warehouse "$ingested" build --quarter 2019Q3 > /dev/null
        read -r build_secs build_kb < "$work/time.txt"
        sync
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --warehouse "$ingested" report --quarter 2019Q3 --out "$work/$tier-report" > /dev/null
        read -r report_secs report_kb < "$work/time.txt"
        echo "{\"tier\":\"$tier\",\"step\":\"end_to_end\",\"ingest_seconds\":$secs,\"build_seconds\":$build_secs,\"report_seconds\":$report_secs,\"rss_kb\":$(printf '%s\n' "$kb" "$build_kb" "$report_kb" | sort -n | tail -1)}" >> "$results"
    fi
    if [[ " ${BENCH_PLATFORM_TIERS:-city} " == *" $tier "* ]]; then
        # The same quarter as export files in the platforms' own formats (CSV, XLSX, JSON, JSON
        # Lines per platform and account, as the demo's), ingested with the pipeline file written
        # beside them.
        platform="$work/$tier-platform"
        rm -rf "$platform" "$work/$tier-scratch"
        echo "== $tier: export files in the platforms' formats"
        "$bin" --warehouse "$work/$tier-scratch" generate --tier "$tier" --seed 1 --exports "$platform" --formats platform > /dev/null
        rm -rf "$work/$tier-scratch"
        bytes=$(du -sb --exclude=pipeline.toml "$platform" | cut -f1)
        files=$(find "$platform" -type f ! -name pipeline.toml | wc -l)
        for i in $(seq "$runs"); do
            echo "== $tier: ingest of the platforms' formats ($i/$runs)"
            rm -rf "$work/$tier-platform-wh"
            sync
            /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --warehouse "$work/$tier-platform-wh" run "$platform/pipeline.toml" --stages ingest > "$work/ingest.txt"
            read -r secs kb < "$work/time.txt"
            echo "{\"tier\":\"$tier\",\"step\":\"ingest_platform\",\"seconds\":$secs,\"rss_kb\":$kb,\"bytes\":$bytes,\"files\":$files}" >> "$results"
        done
        rm -rf "$work/$tier-platform-wh"
    fi
    n=$runs
    [ "$tier" = national ] && n=${BENCH_NATIONAL_RUNS:-3}
    # DuckDB's memory limit: 4 GB, and 16 GB nationally: its quantile_cont (the interaction
    # model's percentiles) keeps every value in memory and cannot spill, and with 4 GB the
    # national tier's model stops with "Out of Memory". govmedia's pool stays at its default.
    duck_memory=${BENCH_DUCKDB_MEMORY:-4GB}
    [ "$tier" = national ] && duck_memory=${BENCH_DUCKDB_NATIONAL_MEMORY:-16GB}
    for i in $(seq "$n"); do
        echo "== $tier: govmedia build ($i/$n)"
        sync
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --warehouse "$wh" build --quarter 2019Q3 > "$work/build.txt"
        read -r secs kb < "$work/time.txt"
        models_ms=$(grep -o 'models from .* in [0-9]* ms' "$work/build.txt" | grep -o '[0-9]* ms' | cut -d' ' -f1)
        echo "{\"tier\":\"$tier\",\"step\":\"govmedia\",\"seconds\":$secs,\"models_seconds\":$(python3 -c "print($models_ms / 1000)"),\"rss_kb\":$kb}" >> "$results"
        # The last DuckDB run also checks that its marts equal govmedia's (after the timed part).
        check=""
        [ "$i" = "$n" ] && check="--check"
        echo "== $tier: DuckDB ($i/$n) $check"
        sync
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$venv/bin/python" bench/duckdb_models.py "$wh" --quarter 2019Q3 --memory-limit "$duck_memory" $check > "$work/duck.txt"
        read -r secs kb < "$work/time.txt"
        echo "{\"tier\":\"$tier\",\"step\":\"duckdb\",\"seconds\":$secs,\"models_seconds\":$(python3 -c "import json,sys; print(json.load(open('$work/duck.txt'))['seconds'])"),\"rss_kb\":$kb}" >> "$results"
    done
    # The report of the tier's office (district, city, province; the national tier's is a
    # province's report of every city): BENCH_RUNS timed runs on the built warehouse, the sizes of
    # what it wrote, then once with --pdf (when LibreOffice is installed) for the notice's pages.
    level=$tier
    [ "$tier" = national ] && level=province
    rep="$work/$tier-level-report"
    for i in $(seq "$runs"); do
        echo "== $tier: report --level $level ($i/$runs)"
        rm -rf "$rep"
        sync
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --warehouse "$wh" report --quarter 2019Q3 --level "$level" --out "$rep" > /dev/null
        read -r secs kb < "$work/time.txt"
        index=$(stat -c %s "$rep/2019Q3/index.html")
        png=$(find "$rep/2019Q3/charts" -name '*.png' -printf '%s\n' | sort -n | tail -1)
        echo "{\"tier\":\"$tier\",\"step\":\"report\",\"level\":\"$level\",\"seconds\":$secs,\"rss_kb\":$kb,\"index_bytes\":$index,\"max_png_bytes\":$png}" >> "$results"
    done
    if command -v soffice > /dev/null && command -v pdfinfo > /dev/null; then
        rm -rf "$rep"
        "$bin" --warehouse "$wh" report --quarter 2019Q3 --level "$level" --out "$rep" --pdf > /dev/null
        pages=$(pdfinfo "$rep/2019Q3/2019Q3_通报.pdf" | awk '/^Pages:/ {print $2}')
        echo "{\"tier\":\"$tier\",\"step\":\"notice\",\"level\":\"$level\",\"pages\":$pages}" >> "$results"
    fi
    echo "{\"tier\":\"$tier\",\"step\":\"check\",\"ok\":true}" >> "$results"
done

python3 bench/report.py "$results" > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
