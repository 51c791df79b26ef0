"""The machine's reference for reading CSV into Parquet: DuckDB reads a tier's canonical CSV exports
(register, posts, public messages; the same files govmedia ingests, header and types detected)
and writes each kind as one Parquet file (LZ4, as the warehouse's), on the same cores. Prints
{"seconds": ...} for the whole. DuckDB checks nothing a row must pass and keeps no rejects: what it
takes is a floor for reading and encoding those bytes on this machine, not a like-for-like ingest."""

import argparse
import json
import os
import tempfile
import time

import duckdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exports", help="the folder of canonical CSV exports (registry/, posts/, interactions/)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads={args.threads}")
    with tempfile.TemporaryDirectory() as out:
        start = time.time()
        for kind in ["registry", "posts", "interactions"]:
            files = os.path.join(args.exports, kind, "*.csv")
            target = os.path.join(out, f"{kind}.parquet")
            con.execute(f"COPY (SELECT * FROM read_csv('{files}')) TO '{target}' (FORMAT parquet, COMPRESSION lz4)")
        print(json.dumps({"seconds": round(time.time() - start, 3)}))


if __name__ == "__main__":
    main()
