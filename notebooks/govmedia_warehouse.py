"""Read a govmedia warehouse from Python, through its documented layout only.

The warehouse's `_manifest.json` lists the Parquet files that make up each table (README:
"The warehouse"); files not in the manifest belong to failed or superseded runs and are never read.
Marts are partitioned by quarter (`partition.quarter` of each file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import polars as pl


def warehouse_path(default: str = "../demo/warehouse") -> Path:
    """GOVMEDIA_WAREHOUSE if set (as for the CLI), else the demo warehouse."""
    return Path(os.environ.get("GOVMEDIA_WAREHOUSE", default)).resolve()


def manifest(root: Path) -> dict:
    path = root / "_manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {root} a govmedia warehouse? (run `govmedia demo` first)")
    return json.loads(path.read_text(encoding="utf-8"))


def files(root: Path, table: str, quarter: str | None = None) -> list[str]:
    """The files of a table (of one quarter for a mart), as the manifest lists them."""
    entries = manifest(root)["tables"].get(table, {}).get("files", [])
    if quarter is not None:
        entries = [f for f in entries if f.get("partition", {}).get("quarter") in (None, quarter)]
    return [str(root / f["path"]) for f in entries]


def table(root: Path, name: str, quarter: str | None = None) -> pl.DataFrame:
    """A staging table or mart as a polars DataFrame."""
    paths = files(root, name, quarter)
    if not paths:
        raise KeyError(f"the warehouse has no table {name}" + (f" for {quarter}" if quarter else ""))
    return pl.concat([pl.read_parquet(p) for p in paths], how="diagonal_relaxed")


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per warehouse table, for SQL."""
    con = duckdb.connect()
    for name, t in manifest(root)["tables"].items():
        paths = [str(root / f["path"]) for f in t.get("files", [])]
        if paths:
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}], union_by_name = true)')
    return con


def use_cjk_font() -> str | None:
    """Makes matplotlib draw Chinese labels with an installed CJK font, if there is one."""
    import matplotlib
    from matplotlib import font_manager

    for family in ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC"]:
        try:
            font_manager.findfont(family, fallback_to_default=False)
        except ValueError:
            continue
        matplotlib.rcParams["font.family"] = family
        matplotlib.rcParams["axes.unicode_minus"] = False
        return family
    return None


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """Runs SQL on a connection from `connect` and returns a polars DataFrame."""
    return pl.from_arrow(con.execute(sql, params or []).to_arrow_table())
