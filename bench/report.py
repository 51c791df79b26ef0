"""Writes BENCHMARKS.md from bench/run.sh's results (JSON lines): medians per tier, the ratio
govmedia/DuckDB measured in the same run, peak memory, and the machine."""

import json
import os
import platform
import statistics
import sys
from collections import defaultdict


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def spread(runs):
    """The range of the runs' wall times, or "one run"."""
    if len(runs) < 2:
        return "one run"
    return f"{min(r['seconds'] for r in runs):.2f}–{max(r['seconds'] for r in runs):.2f}"


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    by = defaultdict(list)
    for r in rows:
        by[(r["tier"], r["step"])].append(r)
    med = lambda k, f: statistics.median(r[f] for r in by[k]) if by.get(k) else None
    out = ["# Benchmarks", "", f"Machine: {machine()}.", "",
           "Command: `bash bench/run.sh` (tiers: `BENCH_TIERS`, runs: `BENCH_RUNS`, default 3; medians below).", "",
           "govmedia runs the models of `sql/` with DataFusion; DuckDB runs the same files over the same staging",
           "Parquet (`bench/duckdb_models.py`), and its marts are checked equal to govmedia's in the same run.",
           "*Models* is the time spent running the models alone, each from its SQL to its rows in memory (both",
           "engines; govmedia hands a mart no model reads to its Parquet encoder batch by batch instead of keeping",
           "it), as wall time: DuckDB runs the models one after another, each on both cores; govmedia runs models",
           "that do not read each other at once, one per core, when the staging is at most half its memory pool",
           "(the district, city and province tiers), and its *models* is the wall time in which some model ran",
           "(its data tests, run beside, not counted). govmedia's *build* is its whole process: reading the",
           "manifest, the models, the data tests, and",
           "the marts' Parquet (encoded beside the models that follow, stored before the commit). DuckDB's *process*",
           "is its whole process too: Python, DuckDB's start, the views over the staging files and the models.", "",
           "| tier | posts | messages | generate (s) | govmedia build (s) | DuckDB process (s) | govmedia models (s) | DuckDB models (s) | ratio models govmedia/DuckDB | govmedia peak RSS (MiB) | DuckDB peak RSS (MiB) | marts equal |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    tiers = []
    for r in rows:
        if r["tier"] not in tiers and r["step"] == "generate":
            tiers.append(r["tier"])
    for t in tiers:
        g = by[(t, "generate")][0]
        summary = g.get("summary", "")
        posts = summary.split(" posts")[0].split(", ")[-1] if " posts" in summary else "?"
        msgs = summary.split(" messages")[0].split(", ")[-1] if " messages" in summary else "?"
        gm, dm = med((t, "govmedia"), "models_seconds"), med((t, "duckdb"), "models_seconds")
        gb, dp = med((t, "govmedia"), "seconds"), med((t, "duckdb"), "seconds")
        grss, drss = med((t, "govmedia"), "rss_kb"), med((t, "duckdb"), "rss_kb")
        ratio = f"{gm / dm:.2f}" if gm and dm else "—"
        ok = "yes" if by.get((t, "check")) else "not checked"
        out.append(f"| {t} | {posts} | {msgs} | {g['seconds']:.1f} | {gb:.2f} | {dp:.2f} | {gm:.2f} | {dm:.2f} | {ratio} | {grss / 1024:.0f} | {drss / 1024:.0f} | {ok} |")
    ingest_rows = [t for t in tiers if by.get((t, "ingest"))]
    if ingest_rows:
        out += ["", "Ingest of each tier's canonical CSV exports (register, posts, public messages; one file per platform)",
                "into a fresh warehouse, then `build` and `report` on what was ingested: the end-to-end time of a quarter",
                "(the median ingest, then one build and one report).",
                "The ingest runs `BENCH_RUNS` times, each into a fresh warehouse: the median, and the range of the runs.",
                "*DuckDB CSV → Parquet* is the machine's reference, in the same run: DuckDB reads the same files into one",
                "Parquet file per kind (`bench/duckdb_csv.py`, LZ4, both cores; the median of as many runs), with no check",
                "of a row and no rejects: a floor for reading and encoding those bytes here, not a like-for-like ingest.", "",
                "| tier | CSV (MB) | ingest (s) | ingest (MB/s) | ingest runs (s) | DuckDB CSV → Parquet (s) | DuckDB (MB/s) | ingest peak RSS (MiB) | build (s) | report (s) | end to end (s) | peak RSS (MiB) |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for t in ingest_rows:
            runs = by[(t, "ingest")]
            secs = statistics.median(r["seconds"] for r in runs)
            mb = runs[0]["bytes"] / 1e6
            e2e = by.get((t, "end_to_end"), [{}])[0]
            total = secs + e2e.get("build_seconds", 0) + e2e.get("report_seconds", 0)
            duck = med((t, "ingest_duckdb"), "seconds")
            duck_cells = f"{duck:.2f} | {mb / duck:.1f}" if duck else "— | —"
            out.append(f"| {t} | {mb:.1f} | {secs:.2f} | {mb / secs:.1f} | {spread(runs)} | {duck_cells} | {med((t, 'ingest'), 'rss_kb') / 1024:.0f} | "
                       f"{e2e.get('build_seconds', 0):.2f} | {e2e.get('report_seconds', 0):.2f} | {total:.1f} | {e2e.get('rss_kb', 0) / 1024:.0f} |")
    report_rows = [t for t in tiers if by.get((t, "report"))]
    if report_rows:
        out += ["", "`report` at each tier's level, on the warehouse built above (`--level district`, `city`, `province`; the",
                "national tier a province's report): the median of `BENCH_RUNS` runs without `--pdf`, the sizes of what it",
                "wrote (issue #16's budgets: report at province level ≤ 3 s, `index.html` ≤ 5 MB, each chart PNG ≤ 1 MB,",
                "the notice ≤ 10 pages), and the notice's pages in LibreOffice's PDF of its DOCX (one more run, with `--pdf`).", "",
                "| tier | level | report (s) | report runs (s) | peak RSS (MiB) | index.html (MB) | largest chart PNG (kB) | notice (pages) |",
                "|---|---|---|---|---|---|---|---|"]
        for t in report_rows:
            runs = by[(t, "report")]
            pages = by.get((t, "notice"), [{}])[0].get("pages", "—")
            out.append(f"| {t} | {runs[0]['level']} | {med((t, 'report'), 'seconds'):.2f} | {spread(runs)} | {med((t, 'report'), 'rss_kb') / 1024:.0f} | "
                       f"{med((t, 'report'), 'index_bytes') / 1e6:.2f} | {med((t, 'report'), 'max_png_bytes') / 1e3:.0f} | {pages} |")
    demo = by.get(("district", "ingest_demo"))
    if demo:
        secs = statistics.median(r["seconds"] for r in demo)
        mb = demo[0]["bytes"] / 1e6
        out += ["", f"Ingest of the demo district's mixed export files ({mb:.1f} MB of CSV, XLSX, HTML and JSON Lines in the "
                    f"platforms' own formats): {secs:.2f} s, {mb / secs:.1f} MB/s, peak RSS "
                    f"{statistics.median(r['rss_kb'] for r in demo) / 1024:.0f} MiB."]
    platform_rows = [t for t in tiers if by.get((t, "ingest_platform"))]
    if platform_rows:
        out += ["", "Ingest of a tier's quarter in the platforms' own formats (`generate --tier T --exports DIR --formats platform`:",
                "weibo-crawler and weiboSpider CSV and the WeChat and Douyin workbooks (XLSX) per account, MediaCrawler's",
                "JSON Lines of Douyin videos and comments, WeChat comment lists (JSON) per article, the office's CSV of",
                "Toutiao posts (GBK) and of the other messages, the register as canonical CSV), with the pipeline file",
                "written beside them (`govmedia run DIR/pipeline.toml --stages ingest`, into a fresh warehouse):",
                "the median of `BENCH_RUNS` runs and their range.", "",
                "| tier | files | exports (MB) | ingest (s) | ingest (MB/s) | ingest runs (s) | peak RSS (MiB) |",
                "|---|---|---|---|---|---|---|"]
        for t in platform_rows:
            runs = by[(t, "ingest_platform")]
            secs = statistics.median(r["seconds"] for r in runs)
            mb = runs[0]["bytes"] / 1e6
            out.append(f"| {t} | {runs[0]['files']} | {mb:.1f} | {secs:.2f} | {mb / secs:.1f} | {spread(runs)} | "
                       f"{med((t, 'ingest_platform'), 'rss_kb') / 1024:.0f} |")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
    if os.path.exists(notes):
        out += ["", open(notes, encoding="utf-8").read().rstrip()]
    print("\n".join(out))
    # The Postgres endpoint's load test (bench/serve_load.py) keeps its own section.
    if os.path.exists("bench/serve_load.md"):
        print("\n" + open("bench/serve_load.md", encoding="utf-8").read().rstrip("\n"))
    # So does the loopback cluster's (bench/cluster.sh).
    if os.path.exists("bench/cluster.md"):
        print("\n" + open("bench/cluster.md", encoding="utf-8").read().rstrip("\n"))


if __name__ == "__main__":
    main()
