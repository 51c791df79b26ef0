//! `govmedia serve` driven by real Postgres clients on loopback: psql, Python's psycopg with
//! pandas, the catalog queries DBeaver and Metabase send on connect, the refusals, passwords,
//! TLS, a commit picked up by the next statement, cancel requests, clients that hang up
//! mid-query, and a host name to listen on. The warehouse is the generated demo
//! district (`govmedia demo`). Without psql or a Python with psycopg and pandas a test is skipped
//! with a reason, except under CI (.ci/run installs them), where it fails.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

/// The demo district's warehouse, built once for the module's tests (which only read it), in
/// Cargo's folder for integration tests' files.
fn demo() -> &'static Path {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    DEMO.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-demo");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let wh = root.join("wh");
        let r = govmedia(&wh, &["demo", "--out", root.join("demo").to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        wh
    })
}

/// A running `govmedia serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on 127.0.0.1 with a port the system picks, and waits for its
    /// "listening on" line.
    fn start(wh: &Path, args: &[&str], password: Option<&str>) -> Server {
        Server::start_in(wh, "127.0.0.1:0", args, password, &[])
    }

    /// The same, listening on `listen`, with more environment variables.
    fn start_in(wh: &Path, listen: &str, args: &[&str], password: Option<&str>, env: &[(&str, &str)]) -> Server {
        let log = wh.with_file_name(format!("serve-{}.log", unique()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_govmedia"));
        cmd.arg("--warehouse").arg(wh).args(["serve", "--listen", listen]).args(args);
        cmd.env_remove("GOVMEDIA_PG_PASSWORD").envs(env.iter().copied());
        if let Some(p) = password {
            cmd.env("GOVMEDIA_PG_PASSWORD", p);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap()).spawn().expect("start govmedia serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(addr) = line.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()) else {
            let _ = child.kill();
            panic!("govmedia serve did not start: {line}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Whether a client is there; under CI its absence fails the test, otherwise it is skipped.
fn present(tool: &str, found: bool) -> bool {
    if !found {
        assert!(!under_ci(), "CI must install {tool} (.ci/run)");
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

fn have_psql() -> bool {
    present("psql (postgresql-client)", Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// A Python with psycopg and pandas: GOVMEDIA_TEST_PYTHON, the CI's venv, or python3.
fn python() -> Option<PathBuf> {
    let candidates = std::env::var_os("GOVMEDIA_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo().join("target/notebook-venv/bin/python"), PathBuf::from("python3")]);
    for p in candidates {
        let ok = Command::new(&p).args(["-c", "import psycopg, pandas"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Some(p);
        }
    }
    present("Python with psycopg and pandas", false);
    None
}

/// psql in the simple protocol, unaligned CSV-like output, stopping at the first error.
fn psql(port: u16, password: Option<&str>, extra: &[&str], commands: &[&str]) -> Output {
    psql_command(port, password, extra, commands).output().expect("run psql")
}

fn psql_command(port: u16, password: Option<&str>, extra: &[&str], commands: &[&str]) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-w", "-v", "ON_ERROR_STOP=1", "-A", "-F", ",", "-t"])
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "analyst", "-d", "govmedia"])
        .args(extra)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    for c in commands {
        cmd.args(["-c", c]);
    }
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a Python script with the port as its first argument; its stdout.
fn run_python(py: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(py).arg("-c").arg(script).args(args).output().expect("run python");
    assert!(out.status.success(), "python failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

const LEAGUE_TABLE: &str =
    "SELECT unit_name, CAST(round(score * 100) AS BIGINT) AS score_x100, rank FROM unit_quarter_scores WHERE quarter = '2019Q3' ORDER BY rank, unit_name";

#[test]
fn psql_lists_the_tables_and_reads_the_league_table() {
    if !have_psql() {
        return;
    }
    let wh = demo();
    let server = Server::start(wh, &[], None);
    let out = psql(server.port, None, &[], &["\\dt"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), server.log());
    let tables = text(&out.stdout);
    // The same names `govmedia sql` shows: staging tables and marts.
    for t in ["posts", "registry", "rejects", "unit_quarter_scores", "account_quarter_indicators", "criticism_items"] {
        assert!(tables.lines().any(|l| l.split(',').nth(1) == Some(t)), "{t} missing from \\dt:\n{tables}");
    }
    let out = psql(server.port, None, &[], &[LEAGUE_TABLE]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), server.log());
    let served: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    let expected = sql(wh, LEAGUE_TABLE);
    assert!(served.len() > 5, "{served:?}");
    assert_eq!(served, expected[1..], "psql's league table differs from govmedia sql's");
}

#[test]
fn psycopg_and_pandas_read_a_mart_and_prepared_statements() {
    let Some(py) = python() else { return };
    let wh = demo();
    let server = Server::start(wh, &[], None);
    let script = r#"
import sys, warnings, psycopg, pandas as pd
warnings.simplefilter("ignore")  # pandas prefers SQLAlchemy; a DBAPI connection works
conn = psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="analyst", dbname="govmedia", autocommit=True)
df = pd.read_sql("SELECT * FROM account_quarter_indicators WHERE quarter = '2019Q3'", conn)
print("rows", len(df))
print("columns", ",".join(df.columns[:3]))
ids = sorted(df["account_id"])[:3]
with conn.cursor() as cur:
    # Run often enough for psycopg to prepare the statement on the server.
    for i in range(8):
        for a in ids:
            cur.execute("SELECT account_id, platform FROM account_quarter_indicators WHERE account_id = %s AND quarter = %s", (a, "2019Q3"))
            got = cur.fetchall()
            assert len(got) == 1 and got[0][0] == a, (a, got)
print("prepared ok")
"#;
    let port = server.port.to_string();
    let out = run_python(&py, script, &[&port]);
    let expected = sql(wh, "SELECT count(*) FROM account_quarter_indicators WHERE quarter = '2019Q3'")[1].clone();
    assert!(out.contains(&format!("rows {expected}\n")), "{out} (expected {expected} rows)\n{}", server.log());
    assert!(out.contains("prepared ok"), "{out}");
}

/// Statements DBeaver (its PostgreSQL driver over pgjdbc), Metabase and pgjdbc's
/// `DatabaseMetaData.getTables` send on connect and when browsing the schema, as their logs show
/// them (DBeaver 25.1, Metabase 0.55; the same ones datafusion-postgres tests against). Run with
/// psycopg, which like JDBC uses the extended protocol.
const CLIENT_CATALOG_QUERIES: &[&str] = &[
    // DBeaver
    "SET extra_float_digits = 3",
    "SET application_name = 'PostgreSQL JDBC Driver'",
    "SET application_name = 'DBeaver 25.1.5 - Main <postgres>'",
    "SELECT current_schema(),session_user",
    "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname",
    "SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034",
    "SHOW search_path",
    "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='postgres'",
    "SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'",
    "SELECT version()",
    "SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1",
    "SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1",
    "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')",
    "SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass WHERE c.relnamespace=11 AND c.relkind not in ('i','I','c')",
    // Metabase
    "SET extra_float_digits = 2",
    "SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'",
    "SHOW TRANSACTION ISOLATION LEVEL",
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
    r#"SELECT nspname AS "TABLE_SCHEM", current_database() AS "TABLE_CATALOG" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY "TABLE_SCHEM""#,
    r#"SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = '0') AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ('public')) ORDER BY "type" ASC, "schema" ASC, "name" ASC"#,
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "show timezone",
    // pgjdbc's getTables (DBeaver's and Metabase's driver), every table of the public schema
    "SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME, CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema' WHEN true THEN CASE WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TABLE' WHEN 'v' THEN 'SYSTEM VIEW' WHEN 'i' THEN 'SYSTEM INDEX' ELSE NULL END WHEN n.nspname = 'pg_toast' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TOAST TABLE' WHEN 'i' THEN 'SYSTEM TOAST INDEX' ELSE NULL END ELSE CASE c.relkind WHEN 'r' THEN 'TEMPORARY TABLE' WHEN 'p' THEN 'TEMPORARY TABLE' WHEN 'i' THEN 'TEMPORARY INDEX' WHEN 'S' THEN 'TEMPORARY SEQUENCE' WHEN 'v' THEN 'TEMPORARY VIEW' ELSE NULL END END WHEN false THEN CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'i' THEN 'INDEX' WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'c' THEN 'TYPE' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END ELSE NULL END AS TABLE_TYPE, d.description AS REMARKS, '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 and d.classoid = 'pg_class'::regclass) WHERE c.relnamespace = n.oid AND c.relname LIKE '%' AND (false OR ( c.relkind IN ('r','p') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ) OR ( c.relkind = 'v' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' ) ) ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME",
];

#[test]
fn the_catalog_queries_dbeaver_and_metabase_send_on_connect_succeed() {
    let Some(py) = python() else { return };
    let server = Server::start(demo(), &[], None);
    let script = r#"
import sys, json, psycopg
queries = json.loads(sys.argv[2])
conn = psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="analyst", dbname="govmedia", autocommit=True)
failed = []
for q in queries:
    try:
        with conn.cursor() as cur:
            cur.execute(q)
            rows = cur.fetchall() if cur.description else []
            if "TABLE_NAME" in q:
                print("tables", ",".join(sorted(str(r[2]) for r in rows)))
    except Exception as e:
        failed.append(f"{q[:80]}...: {e}")
print("failed", len(failed))
for f in failed:
    print(f)
"#;
    let queries = serde_json::to_string(CLIENT_CATALOG_QUERIES).unwrap();
    let port = server.port.to_string();
    let out = run_python(&py, script, &[&port, &queries]);
    assert!(out.contains("failed 0\n"), "{out}\n{}", server.log());
    let tables = out.lines().find_map(|l| l.strip_prefix("tables ")).unwrap_or_default();
    for t in ["posts", "unit_quarter_scores", "account_quarter_indicators"] {
        assert!(tables.split(',').any(|x| x == t), "getTables lacks {t}: {tables}");
    }
}

#[test]
fn writes_copy_settings_and_files_outside_the_warehouse_are_refused() {
    if !have_psql() {
        return;
    }
    let wh = demo();
    let before = std::fs::read(wh.join("_manifest.json")).unwrap();
    let server = Server::start(wh, &[], None);
    let refused = [
        ("INSERT INTO posts (account_id) VALUES ('x')", "refused"),
        ("DELETE FROM posts", "refused"),
        ("UPDATE registry SET unit_name = 'x'", "refused"),
        ("CREATE TABLE t AS SELECT 1 AS x", "refused"),
        ("CREATE VIEW v AS SELECT 1 AS x", "refused"),
        ("DROP TABLE posts", "refused"),
        ("COPY posts TO '/tmp/govmedia-serve-copy.csv'", "refused"),
        ("COPY (SELECT * FROM posts) TO STDOUT", "refused"),
        ("SET datafusion.execution.target_partitions = 1", "SET datafusion.execution.target_partitions would change the server"),
        ("SET timezone = 'UTC'", "would change the server"),
        // No file or URL is a table: only the warehouse's tables are.
        ("SELECT * FROM '/etc/passwd'", "not found"),
        ("SELECT * FROM 'file:///etc/passwd'", "not found"),
    ];
    for (statement, why) in refused {
        let out = psql(server.port, None, &[], &[statement]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{statement} ran: {}", text(&out.stdout));
        assert!(err.contains(why), "{statement}: expected {why:?} in {err}");
    }
    // psql's own \copy is a COPY TO STDOUT on the wire.
    let out = psql(server.port, None, &[], &["\\copy posts to '/dev/null'"]);
    assert!(!out.status.success() && text(&out.stderr).contains("refused"), "{}", text(&out.stderr));
    // The server still answers, and the warehouse is as it was.
    let out = psql(server.port, None, &[], &["SELECT count(*) FROM posts"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), sql(wh, "SELECT count(*) FROM posts")[1]);
    assert_eq!(std::fs::read(wh.join("_manifest.json")).unwrap(), before, "the manifest changed");
    assert!(!Path::new("/tmp/govmedia-serve-copy.csv").exists());
    // A client's own settings are its own.
    let out = psql(server.port, None, &[], &["SET application_name = 'report'", "SET statement_timeout = '5s'", "SELECT 1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_password_is_required_when_set_and_off_loopback() {
    if !have_psql() {
        return;
    }
    let wh = demo();
    let server = Server::start(wh, &[], Some("s3cret-pw"));
    let ok = psql(server.port, Some("s3cret-pw"), &[], &["SELECT 1"]);
    assert!(ok.status.success(), "{}\n{}", text(&ok.stderr), server.log());
    assert_eq!(text(&ok.stdout).trim(), "1");
    let wrong = psql(server.port, Some("not-it"), &[], &["SELECT 1"]);
    assert!(!wrong.status.success(), "a wrong password was let in");
    assert!(text(&wrong.stderr).to_lowercase().contains("password"), "{}", text(&wrong.stderr));
    let none = psql(server.port, None, &[], &["SELECT 1"]);
    assert!(!none.status.success(), "no password was let in");

    // Listening beyond loopback without a password is refused before anything is bound.
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(wh)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("GOVMEDIA_PG_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("refused to listen on 0.0.0.0:0: it is not a loopback address and no password is set"), "{err}");

    // A password file stands for the variable; an empty one is refused.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(wh)
        .args(["serve", "--listen", "0.0.0.0:0", "--password-file", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("is empty"), "{}", text(&out.stderr));
    std::fs::write(&file, "from-a-file\n").unwrap();
    let server = Server::start(wh, &["--password-file", file.to_str().unwrap()], None);
    assert!(psql(server.port, Some("from-a-file"), &[], &["SELECT 1"]).status.success(), "{}", server.log());
    assert!(!psql(server.port, Some("s3cret-pw"), &[], &["SELECT 1"]).status.success());
}

#[test]
fn tls_is_offered_with_a_certificate_and_key() {
    if !have_psql() {
        return;
    }
    if !present("openssl", Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let server = Server::start(demo(), &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()], Some("pw"));
    let out = psql(server.port, Some("pw"), &["--set=sslmode=require"], &["SELECT ssl FROM (SELECT true AS ssl)"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), server.log());
    // sslmode=require fails unless the connection is encrypted.
    let out = Command::new("psql")
        .args(["-X", "-w", "-A", "-t", "-c", "SELECT 1"])
        .arg(format!("host=127.0.0.1 port={} user=analyst dbname=govmedia sslmode=require", server.port))
        .env("PGPASSWORD", "pw")
        .output()
        .unwrap();
    assert!(out.status.success(), "TLS connection failed: {}\n{}", text(&out.stderr), server.log());
    // A key that is not one stops the server instead of serving without encryption.
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(demo())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("private key"), "{}", text(&out.stderr));
}

/// A commit while a client is connected is seen by its next statement, prepared ones included.
#[test]
fn a_commit_is_picked_up_by_the_next_statement() {
    let Some(py) = python() else { return };
    let mut c = CsvWarehouse::new();
    c.ingest(&[("registry", REGISTRY), ("posts", &posts(&["2019-07-02 09:00", "2019-07-03 09:00"]))]);
    c.build(&[]);
    let server = Server::start(&c.wh, &[], None);
    let script = r#"
import sys, psycopg
conn = psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="analyst", dbname="govmedia", autocommit=True)
q = "SELECT count(*) FROM posts WHERE account_id = %s"
for i in range(7):
    n = conn.execute(q, ("wb_serve_1",)).fetchone()[0]
print("before", n, flush=True)
sys.stdin.readline()
for i in range(3):
    n = conn.execute(q, ("wb_serve_1",)).fetchone()[0]
print("prepared after", n)
print("simple after", conn.execute("SELECT count(*) FROM posts").fetchone()[0])
"#;
    let mut child = Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(server.port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "before 2", "{}", server.log());
    c.ingest(&[("posts", &posts(&["2019-07-04 09:00", "2019-07-05 09:00", "2019-07-06 09:00"]))]);
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait_with_output().unwrap();
    assert!(status.status.success(), "{rest}\n{}", text(&status.stderr));
    assert!(rest.contains("prepared after 5\n"), "{rest}\n{}", server.log());
    assert!(rest.contains("simple after 5\n"), "{rest}");
}

const REGISTRY: &str = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n\
服务测试局,部门,微博,服务测试,wb_serve_1,2015-01-01,正常,是,x\n";

/// Canonical posts of wb_serve_1, one at each Beijing time.
fn posts(times: &[&str]) -> String {
    let mut s = String::from("平台,账号ID,发布ID,发布时间,标题,类型,转发源ID,位置,阅读数,在看数,点赞数,评论数,转发数,链接\n");
    for t in times {
        let id: String = t.chars().filter(char::is_ascii_digit).collect();
        s.push_str(&format!("微博,wb_serve_1,p{id},{t},第{id}条,原创,,,,,,,,\n"));
    }
    s
}

/// The memory pool of the cancel and hang-up tests, and two statements sized for it (measured:
/// a hash join's build side of n rows takes 16n bytes of the pool, and cannot spill). HOLD builds
/// 3.5 million rows (53 MB of the 67 MB), then probes a trillion, for days; NEED builds 2 million
/// (31 MB) and is done in about a second. NEED alone fits; NEED beside a running HOLD does not.
const POOL: &str = "64MiB";
const HOLD: &str = "SELECT count(*) FROM range(3500000) a JOIN range(1000000000000) b ON a.value = b.value";
const NEED: &str = "SELECT count(*) FROM range(2000000) a JOIN range(100) b ON a.value = b.value";

/// A server whose pool is [`POOL`], and NEED run alone there, so that its failing later is
/// the pool being held, not NEED's size.
fn pool_server() -> Server {
    let server = Server::start_in(demo(), "127.0.0.1:0", &[], None, &[("GOVMEDIA_MEMORY_LIMIT", POOL)]);
    let alone = psql(server.port, None, &[], &[NEED]);
    assert!(alone.status.success(), "NEED does not fit the pool alone: {}\n{}", text(&alone.stderr), server.log());
    assert_eq!(text(&alone.stdout).trim(), "100");
    server
}

/// psql running HOLD, returned once HOLD holds the pool: NEED then fails for want of memory
/// (NEED is tried only after HOLD has had time to build, since NEED running beside HOLD's build
/// can make HOLD fail instead; a HOLD that failed is started again).
fn psql_holding_the_pool(server: &Server) -> Child {
    let start = || psql_command(server.port, None, &[], &[HOLD]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut holder = start();
    for _ in 0..30 {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        if holder.try_wait().unwrap().is_some() {
            holder = start();
            continue;
        }
        let need = psql(server.port, None, &[], &[NEED]);
        if !need.status.success() && text(&need.stderr).contains("Resources exhausted") {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if holder.try_wait().unwrap().is_none() {
                return holder;
            }
        }
    }
    let _ = holder.kill();
    panic!("HOLD never held the pool\n{}", server.log());
}

/// NEED succeeds within `seconds`, tried again while the pool is still held; the time it took.
fn need_succeeds_within(server: &Server, seconds: u64, after: &str) -> std::time::Duration {
    let began = std::time::Instant::now();
    loop {
        let need = psql(server.port, None, &[], &[NEED]);
        if need.status.success() {
            assert_eq!(text(&need.stdout).trim(), "100");
            return began.elapsed();
        }
        let err = text(&need.stderr);
        assert!(err.contains("Resources exhausted"), "NEED failed otherwise: {err}");
        assert!(
            began.elapsed() < std::time::Duration::from_secs(seconds),
            "{after}, NEED still fails after {seconds} s: the statement still holds the pool ({err})\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// psql's Ctrl-C (a cancel request on a connection of its own, simple protocol) and psycopg's
/// cancel (extended protocol) stop the running statement with SQLSTATE 57014 and give its
/// memory back; the connection and the server go on answering.
#[test]
fn a_cancel_request_stops_the_statement_and_frees_its_memory() {
    if !have_psql() {
        return;
    }
    let Some(py) = python() else { return };
    let server = pool_server();

    let holder = psql_holding_the_pool(&server);
    let interrupt = Command::new("kill").args(["-INT", &holder.id().to_string()]).status().unwrap();
    assert!(interrupt.success());
    let out = holder.wait_with_output().unwrap();
    assert!(!out.status.success(), "HOLD finished: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("canceling statement due to user request"), "{}\n{}", text(&out.stderr), server.log());
    need_succeeds_within(&server, 5, "psql's cancel request answered");

    let script = r#"
import sys, time, threading, psycopg
port, HOLD, NEED = int(sys.argv[1]), sys.argv[2], sys.argv[3]
connect = lambda: psycopg.connect(host="127.0.0.1", port=port, user="analyst", dbname="govmedia", autocommit=True)
c1, c2 = connect(), connect()
state = {}
def hold():
    try:
        c1.execute(HOLD).fetchone()
        state["hold"] = "finished"
    except psycopg.Error as e:
        state["hold"] = f"{e.sqlstate} {e}"
    state["ended"] = time.monotonic()
holder = None
for attempt in range(30):
    if holder is None or not holder.is_alive():
        state.clear()
        holder = threading.Thread(target=hold)
        holder.start()
    time.sleep(1.5)
    try:
        c2.execute(NEED).fetchone()
    except psycopg.Error as e:
        if "Resources exhausted" in str(e):
            time.sleep(0.5)
            if holder.is_alive():
                break
else:
    sys.exit("HOLD never held the pool")
asked = time.monotonic()
(c1.cancel_safe if hasattr(c1, "cancel_safe") else c1.cancel)()
holder.join(30)
print("canceled:", state.get("hold"), flush=True)
print(f"seconds {state.get('ended', asked + 99) - asked:.2f}")
print("need", c2.execute(NEED).fetchone()[0])
print("still answers", c1.execute("SELECT 1").fetchone()[0])
"#;
    let port = server.port.to_string();
    let out = run_python(&py, script, &[&port, HOLD, NEED]);
    assert!(out.contains("canceled: 57014 canceling statement due to user request\n"), "{out}\n{}", server.log());
    let seconds: f64 = out.lines().find_map(|l| l.strip_prefix("seconds ")).and_then(|s| s.parse().ok()).unwrap();
    assert!(seconds < 5.0, "the cancel took {seconds} s\n{out}");
    // NEED fitting at once shows HOLD's memory back in the pool.
    assert!(out.contains("need 100\n") && out.contains("still answers 1\n"), "{out}\n{}", server.log());
}

/// A client killed mid-query (its statement holding most of the pool, sending nothing until
/// done) gives the memory back at once: the next client's NEED fits within seconds. Before the
/// server watched for hang-ups, HOLD went on holding the pool until it sent its first row (days
/// here), and NEED kept failing.
#[test]
fn a_client_that_hangs_up_mid_query_frees_its_memory() {
    if !have_psql() {
        return;
    }
    let server = pool_server();
    let mut holder = psql_holding_the_pool(&server);
    holder.kill().unwrap();
    holder.wait().unwrap();
    let took = need_succeeds_within(&server, 5, "the client was killed");
    eprintln!("NEED fitted {took:?} after the client was killed");
    let out = psql(server.port, None, &[], &["SELECT 1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `--listen` takes a host name, resolved once at start: `localhost` (loopback only) needs no
/// password, and clients reach it by the name. Names resolving beyond loopback are refused
/// without a password (the rule's unit test); one without a port is named in the error.
#[test]
fn listen_accepts_a_host_name() {
    if !have_psql() {
        return;
    }
    let wh = demo();
    let server = Server::start_in(wh, "localhost:0", &[], None, &[]);
    let out = Command::new("psql")
        .args(["-X", "-w", "-A", "-t", "-c", "SELECT count(*) FROM unit_quarter_scores"])
        .arg(format!("host=localhost port={} user=analyst dbname=govmedia", server.port))
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), server.log());
    assert_eq!(text(&out.stdout).trim(), sql(wh, "SELECT count(*) FROM unit_quarter_scores")[1]);

    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(wh)
        .args(["serve", "--listen", "localhost"])
        .env_remove("GOVMEDIA_PG_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot listen on localhost: "), "{}", text(&out.stderr));
}
