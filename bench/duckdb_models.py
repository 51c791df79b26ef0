"""Runs govmedia's SQL models in DuckDB over the same staging Parquet, and compares the marts.

    python bench/duckdb_models.py WAREHOUSE --quarter 2019Q3 [--check] [--memory-limit 4GB] [--threads 2] [--verbose]

The models are the files of sql/ (unchanged); the few DataFusion functions they use are defined as
DuckDB macros below. With --check the marts DuckDB computes must equal the ones govmedia wrote for
the quarter (the benchmark then compares the same work); the exit status says whether they do.
Prints one JSON line: {"seconds": …, "models": …, "checked": …}.
"""

import argparse
import datetime as dt
import json
import math
import re
import sys
import time
import tomllib
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
SQL = HERE.parent / "sql"
MACROS = [
    "CREATE MACRO to_unixtime(x) AS CAST(floor(epoch(x)) AS BIGINT)",
    "CREATE MACRO to_timestamp_seconds(s) AS make_timestamp(CAST(s AS BIGINT) * 1000000)",
    "CREATE MACRO to_char(d, f) AS strftime(d, f)",
]
BEIJING = dt.timezone(dt.timedelta(hours=8))


def quarter_bounds(q: str, check_point: str | None):
    year, n = int(q[:4]), int(q[-1])
    start = dt.date(year, 3 * (n - 1) + 1, 1)
    end = dt.date(year + (n == 4), 1 if n == 4 else 3 * n + 1, 1)
    s = lambda d: int(dt.datetime(d.year, d.month, d.day, tzinfo=BEIJING).timestamp())
    c = int(dt.datetime.fromisoformat(check_point).timestamp()) if check_point else s(end)
    return start, end, s(start), s(end), c


def rubric_columns(path: Path) -> dict:
    r = tomllib.loads(path.read_text(encoding="utf-8"))
    cols = dict(r["account"]) | dict(r["unit"]) | {f"grade_{k}": v for k, v in r["grades"].items()} | dict(r["rules"])
    return cols | vocabulary_columns()


def vocabulary_columns() -> dict:
    """The labels govmedia adds to the rubric table (Rubric::to_batch), read from their one home,
    src/vocab.rs: each variant's `label_column` arm names the column, its `label` arm the value."""
    text = (HERE.parent / "src" / "vocab.rs").read_text(encoding="utf-8")
    column, label = {}, {}
    for variant, value in re.findall(r"((?:Grade|Category)::\w+) => \"([^\"]*)\"", text):
        if re.fullmatch(r"(grade|category)_[a-z_]+", value):
            column[variant] = value
        elif not value.isascii():
            label[variant] = value
    if not column or column.keys() != label.keys():
        sys.exit("src/vocab.rs: cannot read the grade and category labels")
    return {column[v]: label[v] for v in column}


def platform_names() -> list:
    """(code, name reports give it) of every platform, from their one home, src/platform.rs."""
    text = (HERE.parent / "src" / "platform.rs").read_text(encoding="utf-8")
    found = re.findall(r'Platform \{ code: "([^"]+)", register_name: "[^"]*", zh: "([^"]+)"', text)
    if not found:
        sys.exit("src/platform.rs: cannot read the platforms' names")
    return found


def models():
    """(name, layer, sql, view) in dependency order, found as govmedia finds them."""
    found = {}
    for layer in ["staging", "intermediate", "marts"]:
        for f in sorted((SQL / layer).glob("*.sql")):
            spec = f.with_suffix(".toml")
            view = layer == "staging"
            extra = ""
            if spec.exists():
                t = tomllib.loads(spec.read_text(encoding="utf-8"))
                view = {"view": True, "table": False}.get(t.get("materialized"), view)
                extra = " ".join(x.get("assert", "") for x in t.get("tests", []))
            found[f.stem] = (layer, f.read_text(encoding="utf-8"), view, extra)
    strip = lambda s: re.sub(r"'[^']*'", "''", re.sub(r"--[^\n]*", "", s)).lower()
    deps = {n: set(re.findall(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)", strip(sql + " " + extra))) & set(found) - {n}
            for n, (_, sql, _, extra) in found.items()}
    order, done = [], set()
    while len(order) < len(found):
        ready = sorted(n for n in found if n not in done and deps[n] <= done)
        if not ready:
            sys.exit("cycle among models")
        for n in ready:
            done.add(n)
            order.append((n, found[n][0], found[n][1], found[n][2]))
    return order


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse")
    ap.add_argument("--quarter", required=True)
    ap.add_argument("--check-point")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print each model's time to stderr")
    a = ap.parse_args()
    root = Path(a.warehouse).resolve()
    manifest = json.loads((root / "_manifest.json").read_text(encoding="utf-8"))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{a.memory_limit}'")
    con.execute(f"SET threads = {a.threads}")
    for m in MACROS:
        con.execute(m)
    staging = ["calendar", "registry", "filings", "posts", "post_aliases", "interactions", "followers",
               "directives", "self_inspections", "findings", "rejects", "ingest_files"]
    for name in staging:
        files = [str(root / f["path"]) for f in manifest["tables"].get(name, {}).get("files", [])]
        if files:
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in files)
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}], union_by_name = true)')
    start, end, q_start_s, q_end_s, c_s = quarter_bounds(a.quarter, a.check_point)
    con.execute("CREATE TABLE params AS SELECT ? AS quarter, ? AS q_start_s, ? AS q_end_s, ? AS c_s, ?::DATE AS q_start_date, ?::DATE AS q_end_date",
                [a.quarter, q_start_s, q_end_s, c_s, start, end])
    rubric = rubric_columns(HERE.parent / "pipelines" / "rubric.toml")
    cols = ", ".join(f"? AS {k}" for k in rubric)
    con.execute(f"CREATE TABLE rubric AS SELECT {cols}", [v.isoformat() if isinstance(v, dt.date) else v for v in rubric.values()])
    con.execute("CREATE OR REPLACE TABLE rubric AS SELECT * REPLACE (CAST(filing_required_from AS DATE) AS filing_required_from) FROM rubric")
    con.execute("CREATE TABLE platforms (platform VARCHAR, platform_zh VARCHAR)")
    con.executemany("INSERT INTO platforms VALUES (?, ?)", platform_names())
    started = time.perf_counter()
    order = models()
    for name, layer, sql, view in order:
        kind = "VIEW" if view and layer != "marts" else "TABLE"
        model_started = time.perf_counter()
        try:
            con.execute(f'CREATE {kind} "{name}" AS {sql}')
        except duckdb.Error as e:
            sys.exit(f"{layer}/{name}.sql in DuckDB: {e}")
        if a.verbose:
            print(f"{name:28} {kind.lower():6} {(time.perf_counter() - model_started) * 1000:8.0f} ms", file=sys.stderr)
    seconds = time.perf_counter() - started
    checked = 0
    if a.check:
        for name, layer, _, _ in order:
            if layer != "marts":
                continue
            files = [str(root / f["path"]) for f in manifest["tables"].get(name, {}).get("files", [])
                     if f.get("partition", {}).get("quarter") == a.quarter]
            if not files:
                sys.exit(f"govmedia has no {name} for {a.quarter} in {root}: run govmedia build first")
            ours = con.execute(f"SELECT * FROM read_parquet({files!r})").fetchall()
            cols = [d[0] for d in con.execute(f"SELECT * FROM read_parquet({files!r}) LIMIT 0").description]
            theirs = con.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{name}"').fetchall()
            diff = compare(ours, theirs)
            if diff:
                sys.exit(f"{name}: govmedia and DuckDB differ: {diff}")
            checked += 1
    print(json.dumps({"seconds": round(seconds, 3), "models": len(order), "checked": checked}))


def norm(v):
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    return v


def compare(a, b):
    if len(a) != len(b):
        return f"{len(a)} rows against {len(b)}"
    key = lambda r: tuple("" if x is None else str(x) for x in r)
    ra = sorted((tuple(norm(x) for x in r) for r in a), key=key)
    rb = sorted((tuple(norm(x) for x in r) for r in b), key=key)
    for x, y in zip(ra, rb):
        for u, v in zip(x, y):
            if isinstance(u, float) and isinstance(v, (float, int)) and abs(u - v) <= 1e-6 * max(1.0, abs(u)):
                continue
            if u != v:
                return f"row {x} against {y}"
    return None


if __name__ == "__main__":
    main()
