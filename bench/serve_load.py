"""Load test of `govmedia serve` (issue #20): 16 clients x 50 queries each (point lookups of one
account and the league table) over psycopg while an ingest and a build commit, on the demo district.

    cargo build --release --features serve
    python3 bench/serve_load.py [--govmedia target/release/govmedia] [--clients 16] [--queries 50]

Every answer must be one that a single committed version gives: the same ingest and build are first
rehearsed on a copy of the warehouse, and each query's answer is recorded at each of the three
versions (before, after the ingest, after the build). The ingest adds posts of one account (the
target), whose point lookup counts them, and the build changes its indicators and the league table,
so the target's answer differs at each version. An answer outside the answers of the three
versions is a mixed result; one older than an answer its client already had is a step back.

The rehearsal also times the ingest and the build; each client spreads its queries over about four
times that (it waits between queries, never during one), so that a quarter of the queries run
before the ingest commits, some during the build, and the rest after it, whatever the build's speed.
Prints the latency percentiles, the server's peak RSS (VmHWM) and the section for BENCHMARKS.md,
which it writes to bench/serve_load.md and into BENCHMARKS.md (`--no-write`: neither).
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
# versions would show it). The count is a joined derived table: as a scalar subquery with the
# parameter in it, the endpoint answers NULL (a parameter inside a subquery of a prepared
# statement is lost), and correlated on a.account_id DataFusion 55 answers NULL too.
POINT = (
    "SELECT a.account_id, a.platform, a.score, a.posts, s.staged "
    "FROM account_quarter_indicators a CROSS JOIN (SELECT count(*) AS staged FROM posts p WHERE p.account_id = %(id)s) s "
    "WHERE a.account_id = %(id)s AND a.quarter = '2019Q3'"
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
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/serve_load.md and BENCHMARKS.md")
    ap.add_argument("--build-label", default=None, help="how the binary was built, for the table (default: from its path)")
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
    t = time.perf_counter()
    run([copy if x is None else x for x in ingest])
    ingest_secs = time.perf_counter() - t
    expected.append(answers(conn, ids))
    t = time.perf_counter()
    run([copy if x is None else x for x in build])
    build_secs = time.perf_counter() - t
    expected.append(answers(conn, ids))
    conn.close()
    server.stop()
    distinct = {expected[v][target] for v in range(3)}
    if len(distinct) < 3 or any(None in row for v in range(3) for row in expected[v][target]):
        sys.exit(f"the target's answer does not tell the three versions apart, the check would prove nothing: {[expected[v][target] for v in range(3)]}")
    # Each client's queries are spread over `span` seconds (a wait before each query, none in it).
    span = 4 * (ingest_secs + build_secs)
    gap = span / args.queries

    # The load: clients query while the ingest and then the build commit.
    server = Server(gm, wh)
    latencies, errors, mixed, back, seen = [], [], [], [], set()
    done = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(args.clients + 1)

    def client(n):
        rnd = random.Random(n)
        conn = server.connect()
        newest = 0  # the newest version this client's answers have shown
        start_gate.wait()
        began = time.perf_counter()
        for q in range(args.queries):
            # Clients start their queries at random points of their slot, not in step.
            time.sleep(max(0.0, began + (q + rnd.random()) * gap - time.perf_counter()))
            league = rnd.random() < 0.3
            key = "league" if league else rnd.choice(ids + [target] * 5)
            t = time.perf_counter()
            try:
                got = tuple(conn.execute(LEAGUE).fetchall()) if league else tuple(conn.execute(POINT, {"id": key}).fetchall())
            except Exception as e:  # noqa: BLE001 - every failure is counted and printed
                with lock:
                    errors.append(f"client {n} query {q}: {e}")
                    done[0] += 1
                continue
            dt = time.perf_counter() - t
            versions = [v for v, a in enumerate(expected) if a[key] == got]
            with lock:
                done[0] += 1
                latencies.append(dt)
                if not versions:
                    mixed.append(f"client {n} query {q} ({key}): {got!r:.200}")
                    continue
                if len(versions) == 1:
                    seen.add(versions[0])
                # Versions commit in order: an answer only older versions give, after one from a
                # newer version on the same connection, is a step back.
                if max(versions) < newest:
                    back.append(f"client {n} query {q} ({key}): version {versions} after {newest}")
                newest = max(newest, min(versions))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    total = args.clients * args.queries
    # The ingest once a quarter of the queries are answered, the build right after it.
    while done[0] < total // 4 and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    before_ingest = done[0]
    t_ingest = time.perf_counter()
    run([wh if x is None else x for x in ingest])
    ingest_done = time.perf_counter()
    run([wh if x is None else x for x in build])
    build_done = time.perf_counter()
    after_build = done[0]
    for t in threads:
        t.join()
    ended = time.perf_counter()
    rss = server.peak_rss_mib()
    server.stop()

    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    label = args.build_label or ("release" if "release" in args.govmedia else "debug" if "debug" in args.govmedia else args.govmedia)
    print(f"{total} queries, {len(errors)} errors, {len(mixed)} mixed results, {len(back)} steps back; versions seen: {sorted(seen)}")
    print(f"rehearsal: ingest {ingest_secs:.2f} s, build {build_secs:.2f} s; each client's queries spread over {span:.1f} s")
    print(
        f"ingest committed at {t_ingest - began:.2f}-{ingest_done - began:.2f} s (after {before_ingest} answers), "
        f"build at {build_done - began:.2f} s (after {after_build}); load ran {ended - began:.2f} s"
    )
    print(f"{label}: latency p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms; server peak RSS {rss:.0f} MiB")
    for e in (errors + mixed + back)[:10]:
        print(e)
    committed_during = build_done < ended
    failed = errors or mixed or back or not committed_during or len(seen) < 3
    row = (
        f"| {label} | {total} | {len(errors)} | {len(mixed)} | {len(back)} | {len(seen)} of 3 | {p(0.5):.1f} | {p(0.99):.1f} "
        f"| {statistics.mean(lat) * 1000:.1f} | {rss:.0f} | {ended - began:.1f} | {t_ingest - began:.1f}-{ingest_done - began:.1f} / {build_done - began:.1f} |"
    )
    print(row)
    if args.no_write:
        if failed:
            sys.exit("FAILED: errors, mixed results or steps back, a version no answer showed alone, or the commits did not happen during the load")
        return
    # The other builds' rows stay (a debug and a release run fill one table).
    rows = [row]
    if os.path.exists("bench/serve_load.md"):
        for line in open("bench/serve_load.md", encoding="utf-8"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("| ") and len(cells) == 12 and cells[0] not in ("build", label) and cells[1].isdigit():
                rows.append(line.rstrip("\n"))
    rows.sort(key=lambda r: r.split("|")[1].strip())
    table = "\n".join(rows)
    section = f"""## Postgres endpoint under load (`govmedia serve`)

Command: `python3 bench/serve_load.py --govmedia target/{{debug,release}}/govmedia` (built with `--features serve`; psycopg clients
on loopback). The demo district; {args.clients} clients x {args.queries} queries each ({total}), each client its own connection: 70 % point
lookups of one account (its indicators and its staged posts in one statement, prepared by psycopg after five runs; one lookup
in six is of the target account, whose posts the ingest adds), 30 % the league table. Each client spreads its queries over
four times what the ingest and the build took in the rehearsal, waiting between queries, never in one. The ingest of 40
posts commits once a quarter of the answers are in, the build of 2019Q3 right after it. Every answer is checked against the
answers of each committed version, rehearsed on a copy of the warehouse first (mixed: an answer no single version gives;
step back: an answer older than one its connection already had); "versions seen" counts the versions some answer matched
alone (the target's answer differs at each version). The last columns: how long the load ran, and when the ingest ran and
the build was done (seconds from the start).

| build | queries | errors | mixed results | steps back | versions seen | p50 (ms) | p99 (ms) | mean (ms) | server peak RSS (MiB) | load (s) | ingest / build done (s) |
|---|---|---|---|---|---|---|---|---|---|---|---|
{table}
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
    if failed:
        sys.exit("FAILED: errors, mixed results or steps back, a version no answer showed alone, or the commits did not happen during the load")


if __name__ == "__main__":
    main()
