"""Load test of `govmedia serve` (issue #20): 16 clients x 50 queries each (point lookups of one
account and the league table) over psycopg while an ingest and a build commit, on the demo district.

    cargo build --release --features serve
    python3 bench/serve_load.py [--govmedia target/release/govmedia] [--clients 16] [--queries 50]

Every answer must be one that a single committed version gives: the same ingest and build are first
rehearsed on a copy of the warehouse, and each query's answer is recorded at each of the three
versions (before, after the ingest, after the build). An answer outside those three is a mixed
result. Prints the latency percentiles, the server's peak RSS (VmHWM) and the section for
BENCHMARKS.md, which it writes to bench/serve_load.md and into BENCHMARKS.md.
Needs psycopg (pip install 'psycopg[binary]').
"""

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

import psycopg

LEAGUE = "SELECT unit_name, score, rank FROM unit_quarter_scores WHERE quarter = '2019Q3' ORDER BY rank, unit_name"
# One account: its staged posts and its indicators (two tables, so a statement that saw two
# versions would show it). The subquery names the account by the parameter: correlated on
# a.account_id, DataFusion 55 answers NULL here instead of the count.
POINT = (
    "SELECT a.account_id, a.platform, a.score, a.posts, (SELECT count(*) FROM posts p WHERE p.account_id = %(id)s) AS staged "
    "FROM account_quarter_indicators a WHERE a.account_id = %(id)s AND a.quarter = '2019Q3'"
)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}")
    return r.stdout


class Server:
    def __init__(self, govmedia, wh):
        env = {k: v for k, v in os.environ.items() if k != "GOVMEDIA_PG_PASSWORD"}
        self.proc = subprocess.Popen(
            [govmedia, "--warehouse", wh, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            sys.exit(f"govmedia serve did not start: {line}{self.proc.stderr.read()}")
        self.port = int(m.group(1))

    def connect(self):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="bench", dbname="govmedia", autocommit=True)

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def answers(conn, accounts):
    out = {"league": tuple(conn.execute(LEAGUE).fetchall())}
    for a in accounts:
        out[a] = tuple(conn.execute(POINT, {"id": a}).fetchall())
    return out


def extra_posts(path, account, platform):
    """Canonical posts of one account on days the demo has none of (new rows for the ingest)."""
    name = {"weibo": "微博", "wechat": "微信", "douyin": "抖音", "toutiao": "今日头条"}.get(platform, platform)
    with open(path, "w", encoding="utf-8") as f:
        f.write("平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n")
        for i in range(40):
            f.write(f"{name},{account},load{i},2019-08-{1 + i % 28:02d} 0{i % 10}:3{i % 6},负载测试{i},原创,,,,,,,,\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--govmedia", default="target/release/govmedia")
    ap.add_argument("--work", default="target/serve-load")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    gm = os.path.abspath(args.govmedia)
    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    wh = os.path.join(work, "wh")
    run([gm, "--warehouse", wh, "demo", "--out", os.path.join(work, "demo")])
    rows = run([gm, "--warehouse", wh, "sql", "SELECT account_id, platform FROM account_quarter_indicators WHERE quarter = '2019Q3' ORDER BY account_id", "--format", "csv"]).splitlines()[1:]
    accounts = [r.split(",") for r in rows]
    target, platform = accounts[0]
    ids = [a for a, _ in accounts[:30]]
    if target not in ids:
        ids.append(target)
    posts_csv = os.path.join(work, "extra_posts.csv")
    extra_posts(posts_csv, target, platform)
    ingest = [gm, "--warehouse", None, "ingest", "posts", "canonical", posts_csv]
    build = [gm, "--warehouse", None, "build", "--quarter", "2019Q3"]

    # Rehearsal on a copy: each version's answers.
    copy = os.path.join(work, "rehearsal")
    shutil.copytree(wh, copy)
    server = Server(gm, copy)
    conn = server.connect()
    expected = [answers(conn, ids)]
    run([copy if x is None else x for x in ingest])
    expected.append(answers(conn, ids))
    run([copy if x is None else x for x in build])
    expected.append(answers(conn, ids))
    conn.close()
    server.stop()
    if expected[0][target] == expected[2][target]:
        sys.exit("the rehearsal's commits changed nothing the queries read: the test would prove nothing")

    # The load: clients query while the ingest and then the build commit.
    server = Server(gm, wh)
    latencies, errors, mixed, seen = [], [], [], set()
    lock = threading.Lock()
    start_gate = threading.Barrier(args.clients + 1)

    def client(n):
        rnd = random.Random(n)
        conn = server.connect()
        start_gate.wait()
        for q in range(args.queries):
            league = rnd.random() < 0.3
            key = "league" if league else rnd.choice(ids + [target] * 5)
            t = time.perf_counter()
            try:
                got = tuple(conn.execute(LEAGUE).fetchall()) if league else tuple(conn.execute(POINT, {"id": key}).fetchall())
            except Exception as e:  # noqa: BLE001 - every failure is counted and printed
                with lock:
                    errors.append(f"client {n} query {q}: {e}")
                continue
            dt = time.perf_counter() - t
            versions = [v for v, a in enumerate(expected) if a[key] == got]
            with lock:
                latencies.append(dt)
                if versions:
                    seen.update(versions if len(versions) == 1 else [])
                else:
                    mixed.append(f"client {n} query {q} ({key}): {got!r:.200}")
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    time.sleep(0.3)
    t_ingest = time.perf_counter()
    run([wh if x is None else x for x in ingest])
    ingest_done = time.perf_counter()
    run([wh if x is None else x for x in build])
    build_done = time.perf_counter()
    for t in threads:
        t.join()
    ended = time.perf_counter()
    rss = server.peak_rss_mib()
    server.stop()

    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    total = args.clients * args.queries
    print(f"{total} queries, {len(errors)} errors, {len(mixed)} mixed results; versions seen: {sorted(seen)}")
    print(f"ingest committed at {t_ingest - began:.2f}-{ingest_done - began:.2f} s, build at {build_done - began:.2f} s; load ran {ended - began:.2f} s")
    print(f"latency p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms; server peak RSS {rss:.0f} MiB")
    for e in (errors + mixed)[:10]:
        print(e)
    committed_during = build_done < ended
    section = f"""## Postgres endpoint under load (`govmedia serve`)

Command: `python3 bench/serve_load.py --govmedia {args.govmedia}` (built with `--features serve`; psycopg clients on loopback).
The demo district; {args.clients} clients x {args.queries} queries each ({total}), each client its own connection: 70 % point lookups of
one account (its indicators and its staged posts in one statement, prepared by psycopg after five runs), 30 % the league table.
An ingest of 40 posts and a build of 2019Q3 commit while they run (ingest at {t_ingest - began:.1f}-{ingest_done - began:.1f} s, build
done at {build_done - began:.1f} s, the load ran {ended - began:.1f} s). Every answer is checked against the answers of each committed
version, rehearsed on a copy of the warehouse first.

| queries | errors | mixed results | versions seen | p50 (ms) | p99 (ms) | mean (ms) | server peak RSS (MiB) |
|---|---|---|---|---|---|---|---|
| {total} | {len(errors)} | {len(mixed)} | {len(seen)} of 3 | {p(0.5):.1f} | {p(0.99):.1f} | {statistics.mean(lat) * 1000:.1f} | {rss:.0f} |
"""
    with open("bench/serve_load.md", "w", encoding="utf-8") as f:
        f.write(section)
    if os.path.exists("BENCHMARKS.md"):
        text = open("BENCHMARKS.md", encoding="utf-8").read()
        head = "## Postgres endpoint under load"
        if head in text:
            before, rest = text.split(head, 1)
            nxt = rest.find("\n## ")
            text = before + section + (rest[nxt + 1:] if nxt >= 0 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        open("BENCHMARKS.md", "w", encoding="utf-8").write(text)
    if errors or mixed or not committed_during:
        sys.exit("FAILED: errors or mixed results, or the commits did not happen during the load")


if __name__ == "__main__":
    main()
