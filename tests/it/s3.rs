//! `s3://` warehouses against a real S3-compatible server on loopback (moto's server, started
//! by each test): the real binary runs the demo pipeline on S3 and its marts equal a local run's;
//! through a fault proxy (500/503, answers lost, connections dropped mid-body, delays) runs
//! succeed after retries or fail clearly; `kill -9` at chosen requests of ingest and build
//! leaves the old or the new state and the next run succeeds; two writers started at once (with
//! and without a stale lock) never both commit; a server that ignores conditional writes is
//! refused.
//!
//! The server: moto (`pip install 'moto[server]'`; `.ci/run` installs it into target/s3-venv),
//! one per test on a free port. Under CI a missing server fails; elsewhere the tests are skipped
//! with a note on stderr.
//!
//! These tests run in every `cargo test`, so by default they take a sample that keeps them to a few
//! minutes: 3 kill points (a dead run's lock left at its release, a data file landed, the manifest
//! swap landed during a build), 2 fault runs, 2 races (one over a dead run's lock), and the `demo`
//! command once. `GOVMEDIA_S3_THOROUGH=1` runs every kill point, fault rate and race. The demo's
//! exports and their local run (the reference every test compares with) are made once for all.

use crate::common::*;
use govmedia::warehouse::Manifest;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(crate) const BUCKET: &str = "govmedia";

/// `GOVMEDIA_S3_THOROUGH=1`: every kill point, fault rate and race, not the default sample.
fn thorough() -> bool {
    std::env::var("GOVMEDIA_S3_THOROUGH").is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------------------------
// The server

pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// moto's S3 server, one request at a time: moto checks If-None-Match / If-Match and then stores,
/// not atomically, so with its usual threads two racing conditional puts could both pass (real S3
/// and MinIO decide them atomically). Serving requests in turn makes each check-and-store atomic.
const SERVER: &str = "import os, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
os.environ['MOTO_PORT'] = sys.argv[1]
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False,
           request_handler=MotoRequestHandler)
";

/// A Python with moto: `GOVMEDIA_TEST_S3_PYTHON`, else the venv `.ci/run` makes, else `python3`.
fn server_python() -> Option<PathBuf> {
    let candidates = std::env::var_os("GOVMEDIA_TEST_S3_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo().join("target/s3-venv/bin/python"), PathBuf::from("python3")]);
    for python in candidates {
        let ok = Command::new(&python).args(["-c", "import moto.server"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if ok.is_ok_and(|s| s.success()) {
            return Some(python);
        }
    }
    None
}

/// A fresh server with the bucket made, or None (skipped) when moto is not installed.
pub(crate) fn server() -> Option<Server> {
    let Some(python) = server_python() else {
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
            panic!("no S3 test server: .ci/run installs moto's server into target/s3-venv");
        }
        eprintln!("skipped: no Python with moto (pip install 'moto[server]'), see .ci/run");
        return None;
    };
    let port = free_port();
    let child = Command::new(&python)
        .args(["-c", SERVER, &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
    let server = Server { child, port };
    let started = Instant::now();
    loop {
        if let Ok(status) = raw_request(port, "PUT", &format!("/{BUCKET}")) {
            assert_eq!(status, 200, "creating the bucket");
            return Some(server);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the S3 server did not start on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An unsigned request (moto accepts them): the status code.
fn raw_request(port: u16, method: &str, target: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other(out.clone()))
}

/// The settings a run gets: MinIO-style, path-style requests to `port` (the server or a proxy).
pub(crate) fn s3_env(port: u16) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "testtest".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("GOVMEDIA_S3_RETRIES", "10".into()),
        ("GOVMEDIA_S3_TIMEOUT", "20".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn command(warehouse: &str, env: &[(String, String)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_govmedia"));
    c.arg("--warehouse").arg(warehouse).args(args).current_dir(repo());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

pub(crate) fn run(warehouse: &str, env: &[(String, String)], args: &[&str]) -> Run {
    let out = command(warehouse, env, args).output().expect("run govmedia");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The test's own view of the bucket, straight to the server.
pub(crate) fn store(port: u16) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_access_key_id("test")
        .with_secret_access_key("testtest")
        .with_region("us-east-1")
        .build()
        .unwrap()
}

pub(crate) fn url(prefix: &str) -> String {
    format!("s3://{BUCKET}/{prefix}")
}

pub(crate) fn block<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(f)
}

pub(crate) fn list(s: &AmazonS3, prefix: &str) -> Vec<(String, u64)> {
    use futures::TryStreamExt;
    let p = StorePath::from(prefix);
    let metas: Vec<_> = block(s.list(Some(&p)).try_collect()).unwrap();
    let mut out: Vec<(String, u64)> =
        metas.into_iter().map(|m| (m.location.as_ref().strip_prefix(&format!("{prefix}/")).unwrap_or("").to_string(), m.size)).collect();
    out.sort();
    out
}

fn manifest(s: &AmazonS3, prefix: &str) -> Option<Manifest> {
    match block(async { s.get(&StorePath::from(format!("{prefix}/_manifest.json"))).await?.bytes().await }) {
        Ok(b) => Some(serde_json::from_slice(&b).unwrap()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

/// The warehouse as a reader sees it: a manifest (if any) and every file it names present with
/// its recorded size. Returns the manifest.
fn consistent(s: &AmazonS3, prefix: &str) -> Option<Manifest> {
    let m = manifest(s, prefix)?;
    let objects: BTreeMap<String, u64> = list(s, prefix).into_iter().collect();
    for f in m.all_paths() {
        let entry = m.tables.values().flat_map(|t| &t.files).find(|e| e.path == f).unwrap();
        assert_eq!(objects.get(f), Some(&entry.bytes), "{prefix}: version {} names {f} ({} bytes)", m.version, entry.bytes);
    }
    Some(m)
}

/// Data files that neither manifest names.
fn strays(s: &AmazonS3, prefix: &str, keep: &[&Manifest]) -> Vec<String> {
    let named: BTreeSet<&str> = keep.iter().flat_map(|m| m.all_paths()).collect();
    list(s, prefix).into_iter().map(|(p, _)| p).filter(|p| p.ends_with(".parquet") && !named.contains(p.as_str())).collect()
}

/// Copies every object of one warehouse prefix to another (paths in the manifest are relative).
fn clone_prefix(s: &AmazonS3, from: &str, to: &str) {
    for (rel, _) in list(s, from) {
        block(s.copy(&StorePath::from(format!("{from}/{rel}")), &StorePath::from(format!("{to}/{rel}")))).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The demo's exports, a local reference run, and the marts compared

/// The demo's exports (seed 3) and a local run of them, made once for all the tests of this module
/// (they compare with the same reference): in the target's temp folder, replaced by the next run.
struct Reference {
    pipeline: PathBuf,
    /// The HMAC key outside the warehouse, shared with the S3 runs (same author hashes).
    secret: PathBuf,
    local: PathBuf,
    /// Every table of the local run, as [`tables`] reads them.
    tables: BTreeMap<String, Vec<String>>,
}

const SEED: &str = "3";

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("s3-reference");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("exports");
        let r = govmedia(&dir.join("unused"), &["generate", "--out", out.to_str().unwrap(), "--seed", SEED]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let secret = dir.join("keys/secret.key");
        let local = dir.join("local");
        let pipeline = out.join("pipeline.toml");
        let env = vec![("GOVMEDIA_SECRET_FILE".to_string(), secret.to_str().unwrap().to_string())];
        let r = run(local.to_str().unwrap(), &env, &["run", pipeline.to_str().unwrap(), "--stages", "ingest,build"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let tables = tables(local.to_str().unwrap(), &env);
        Reference { pipeline, secret, local, tables }
    })
}

/// One test's view of the reference, with a scratch folder of its own.
struct Demo {
    dir: tempfile::TempDir,
    pipeline: PathBuf,
    secret: PathBuf,
}

fn demo_exports() -> Demo {
    let r = reference();
    Demo { dir: tempfile::tempdir().unwrap(), pipeline: r.pipeline.clone(), secret: r.secret.clone() }
}

impl Demo {
    /// The local run's two marts (see [`marts`]).
    fn local_marts(&self) -> BTreeMap<String, Vec<String>> {
        let mut all = reference().tables.clone();
        all.retain(|t, _| MARTS.contains(&t.as_str()));
        assert_eq!(all.len(), 2, "{:?}", all.keys());
        all
    }
    fn env_with(&self, mut env: Vec<(String, String)>) -> Vec<(String, String)> {
        env.push(("GOVMEDIA_SECRET_FILE".into(), self.secret.to_str().unwrap().into()));
        env
    }
    fn env(&self, port: u16) -> Vec<(String, String)> {
        self.env_with(s3_env(port))
    }
    fn ingest(&self) -> Vec<&str> {
        vec!["run", self.pipeline.to_str().unwrap(), "--stages", "ingest"]
    }
    fn build(&self) -> Vec<&str> {
        vec!["run", self.pipeline.to_str().unwrap(), "--stages", "build"]
    }
}

/// Uploads the local reference warehouse (ingested and built) to `prefix`: a base for the tests
/// that start from a built warehouse, without running the pipeline on S3 once more. Its paths are
/// relative, so the copy is a warehouse as the S3 runs make it.
fn upload_reference(s: &AmazonS3, prefix: &str) {
    let root = &reference().local;
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            // The local folder's own swap lock (a file lock): not part of an S3 warehouse.
            if rel == "_swap.lock" {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            block(s.put(&StorePath::from(format!("{prefix}/{rel}")), PutPayload::from(bytes))).unwrap();
        }
    }
    consistent(s, prefix).expect("the uploaded manifest");
}

/// Copies the objects of `prefix` into a local folder: a local warehouse the tables are read
/// from quickly (each read of a table on S3 is a run of the binary against the server).
fn download(s: &AmazonS3, prefix: &str, to: &std::path::Path) -> PathBuf {
    for (rel, _) in list(s, prefix) {
        let bytes = block(async { s.get(&StorePath::from(format!("{prefix}/{rel}"))).await?.bytes().await }).unwrap();
        let path = to.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    to.to_path_buf()
}

/// What a finished run leaves: no lock, no probe object, and no key when the key lives outside.
fn assert_clean(s: &AmazonS3, prefix: &str, key_outside: bool) {
    let objects: Vec<String> = list(s, prefix).into_iter().map(|(p, _)| p).collect();
    assert!(!objects.iter().any(|p| p == "_lock" || p.starts_with("_probe/")), "{prefix}: {objects:?}");
    if key_outside {
        assert!(!objects.iter().any(|p| p == "_secret.key"), "{prefix}: {objects:?}");
    }
}

/// Columns that say when or in which run a row was made: they differ between any two runs.
const RUN_COLUMNS: &[&str] = &["ingested_at", "run_id", "built_at"];

/// Every table's rows (but its run columns), sorted, as the binary prints them.
fn tables(warehouse: &str, env: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    tables_named(warehouse, env, None)
}

fn tables_named(warehouse: &str, env: &[(String, String)], only: Option<&[&str]>) -> BTreeMap<String, Vec<String>> {
    let q = "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position";
    let r = run(warehouse, env, &["sql", q, "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in r.stdout.lines().skip(1) {
        let (table, column) = line.split_once(',').unwrap();
        if !RUN_COLUMNS.contains(&column) {
            columns.entry(table.to_string()).or_default().push(format!("\"{column}\""));
        }
    }
    assert!(columns.len() > 5, "{columns:?}");
    columns.retain(|t, _| only.is_none_or(|only| only.contains(&t.as_str())));
    let mut out = BTreeMap::new();
    // ingest_files records where each file was read from: not comparable between runs.
    for (name, cols) in columns.into_iter().filter(|(n, _)| n != "ingest_files") {
        let r = run(warehouse, env, &["sql", &format!("SELECT {} FROM {name}", cols.join(", ")), "--format", "csv"]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let mut lines: Vec<String> = r.stdout.lines().map(str::to_string).collect();
        lines.sort();
        out.insert(name, lines);
    }
    out
}

const MARTS: &[&str] = &["account_quarter_indicators", "unit_quarter_scores"];

/// The two marts the report is made of, all columns but the run's, sorted: a cheaper check than
/// [`tables`] for the runs that repeat.
fn marts(warehouse: &str, env: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let all = tables_named(warehouse, env, Some(MARTS));
    assert_eq!(all.len(), 2, "{:?}", all.keys());
    all
}

fn assert_same_tables(local: &BTreeMap<String, Vec<String>>, remote: &BTreeMap<String, Vec<String>>, what: &str) {
    assert_eq!(local.keys().collect::<Vec<_>>(), remote.keys().collect::<Vec<_>>(), "{what}");
    for (name, rows) in local {
        let first = rows.iter().zip(&remote[name]).find(|(a, b)| a != b);
        assert!(
            rows == &remote[name],
            "{what}: table {name} differs ({} rows locally, {} on S3), e.g. {first:?}",
            rows.len(),
            remote[name].len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The fault proxy: one request per connection, forwarded to the server with `Connection: close`.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// 500 InternalError, not forwarded.
    Status500,
    /// 503 SlowDown, not forwarded.
    Status503,
    /// Forwarded (it lands), then the connection is closed without an answer.
    AnswerLost,
    /// Forwarded; the answer is cut off halfway through its body (or its head, when it has none).
    DropMidBody,
    /// Answered after a delay.
    Delay,
}

/// A `kill -9` of `pid` at the `nth` request whose method is `method` and whose path contains `key`:
/// before it is forwarded, or after it landed (its answer never arrives).
#[derive(Debug, Clone)]
struct KillAt {
    method: &'static str,
    key: &'static str,
    nth: usize,
    after_forward: bool,
}

#[derive(Debug, Clone, Copy)]
struct Gate {
    method: &'static str,
    key: &'static str,
    header: &'static str,
    size: usize,
}

#[derive(Default)]
struct ProxyState {
    upstream: u16,
    requests: AtomicUsize,
    /// Every `every`-th request gets the next fault of `faults` (0: none).
    every: AtomicUsize,
    faults: Mutex<Vec<Fault>>,
    delay_ms: AtomicUsize,
    injected: Mutex<BTreeMap<Fault, usize>>,
    /// Removes If-Match / If-None-Match: a server without conditional writes.
    strip_conditional: AtomicBool,
    kill: Mutex<Option<(KillAt, usize)>>,
    pid: AtomicU32,
    killed: AtomicBool,
    /// Holds requests with this method, path part and header until `size` of them wait, then
    /// lets them go at once.
    gate: Mutex<Option<Gate>>,
    gate_waiting: Mutex<usize>,
    gate_open: Condvar,
}

struct Proxy {
    port: u16,
    st: Arc<ProxyState>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let st = Arc::new(ProxyState { upstream, ..Default::default() });
        let shared = st.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = shared.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        Proxy { port, st }
    }

    fn faults(&self, every: usize, faults: &[Fault], delay_ms: usize) {
        *self.st.faults.lock().unwrap() = faults.to_vec();
        self.st.delay_ms.store(delay_ms, Ordering::SeqCst);
        self.st.every.store(every, Ordering::SeqCst);
    }

    fn injected(&self) -> BTreeMap<Fault, usize> {
        self.st.injected.lock().unwrap().clone()
    }

    fn arm_kill(&self, at: KillAt) {
        self.st.killed.store(false, Ordering::SeqCst);
        self.st.pid.store(0, Ordering::SeqCst);
        *self.st.kill.lock().unwrap() = Some((at, 0));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request: its head (up to the blank line) and its body.
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut body = buf[end..].to_vec();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let n = s.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some((head, body))
}

/// The head with `Connection: close` (and, when stripping, without conditional headers).
fn rewrite_head(head: &str, strip_conditional: bool) -> String {
    let mut out = String::new();
    for line in head.trim_end().split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name == "connection" || (strip_conditional && (name == "if-match" || name == "if-none-match")) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

impl ProxyState {
    /// Whether this request is the armed kill point; kills the process when it is.
    fn kill_here(&self, method: &str, target: &str, body: &[u8], after_forward: bool) -> bool {
        let mut kill = self.kill.lock().unwrap();
        let Some((at, seen)) = kill.as_mut() else { return false };
        let named = target.contains(at.key) || (method == "POST" && find(body, at.key.as_bytes()).is_some());
        if at.method != method || !named || at.after_forward != after_forward {
            return false;
        }
        *seen += 1;
        if *seen != at.nth {
            return false;
        }
        let started = Instant::now();
        while self.pid.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.killed.store(true, Ordering::SeqCst);
        kill9(self.pid.load(Ordering::SeqCst));
        *kill = None;
        true
    }

    fn wait_at_gate(&self, method: &str, target: &str, head: &str) {
        let Some(gate) = *self.gate.lock().unwrap() else { return };
        if gate.method != method || !target.contains(gate.key) || !head.to_ascii_lowercase().contains(&format!("\r\n{}:", gate.header)) {
            return;
        }
        let mut waiting = self.gate_waiting.lock().unwrap();
        *waiting += 1;
        if *waiting >= gate.size {
            *self.gate.lock().unwrap() = None;
            self.gate_open.notify_all();
            return;
        }
        let _ = self.gate_open.wait_timeout_while(waiting, Duration::from_secs(20), |_| self.gate.lock().unwrap().is_some());
    }
}

fn serve(mut client: TcpStream, st: &ProxyState) {
    let Some((head, body)) = read_request(&mut client) else { return };
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or("").to_string(), words.next().unwrap_or("").to_string());
    if st.killed.load(Ordering::SeqCst) {
        return;
    }
    let n = st.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if st.kill_here(&method, &target, &body, false) {
        return;
    }
    st.wait_at_gate(&method, &target, &head);
    let every = st.every.load(Ordering::SeqCst);
    let fault = if every > 0 && n.is_multiple_of(every) {
        let faults = st.faults.lock().unwrap();
        (!faults.is_empty()).then(|| faults[(n / every) % faults.len()])
    } else {
        None
    };
    if let Some(f) = fault {
        *st.injected.lock().unwrap().entry(f).or_default() += 1;
    }
    let status = |code: &str, error: &str| {
        let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{error}</Code><Message>injected</Message></Error>");
        format!("HTTP/1.1 {code}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    };
    match fault {
        Some(Fault::Status500) => {
            let _ = client.write_all(status("500 Internal Server Error", "InternalError").as_bytes());
            return;
        }
        Some(Fault::Status503) => {
            let _ = client.write_all(status("503 Service Unavailable", "SlowDown").as_bytes());
            return;
        }
        Some(Fault::Delay) => std::thread::sleep(Duration::from_millis(st.delay_ms.load(Ordering::SeqCst) as u64)),
        _ => {}
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", st.upstream)) else { return };
    let head = rewrite_head(&head, st.strip_conditional.load(Ordering::SeqCst));
    if up.write_all(head.as_bytes()).and_then(|_| up.write_all(&body)).is_err() {
        return;
    }
    let mut answer = Vec::new();
    if up.read_to_end(&mut answer).is_err() {
        return;
    }
    if st.kill_here(&method, &target, &body, true) || fault == Some(Fault::AnswerLost) {
        return;
    }
    let Some(split) = find(&answer, b"\r\n\r\n") else { return };
    let answer_head = rewrite_head(&String::from_utf8_lossy(&answer[..split + 4]), false);
    let answer_body = &answer[split + 4..];
    if fault == Some(Fault::DropMidBody) {
        let _ = if answer_body.len() >= 2 {
            client.write_all(answer_head.as_bytes()).and_then(|_| client.write_all(&answer_body[..answer_body.len() / 2]))
        } else {
            client.write_all(&answer_head.as_bytes()[..answer_head.len() / 2])
        };
        return;
    }
    let _ = client.write_all(answer_head.as_bytes()).and_then(|_| client.write_all(answer_body));
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn the_demo_pipeline_on_s3_equals_the_local_run() {
    let Some(server) = server() else { return };
    let demo = demo_exports();
    let s = store(server.port);
    // The whole `demo` command (generate, ingest, build, report) on the reference's exports, with
    // the key in the bucket: the reference's key, put there first, so that author hashes match.
    let key = std::fs::read(&demo.secret).unwrap();
    block(s.put(&StorePath::from("demo/_secret.key"), PutPayload::from(key.clone()))).unwrap();
    let out = demo.dir.path().join("demo-out");
    let wh = url("demo");
    let r = run(&wh, &s3_env(server.port), &["demo", "--out", out.to_str().unwrap(), "--seed", SEED]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(out.join("reports").exists());
    let m = consistent(&s, "demo").expect("a manifest");
    assert!(m.all_paths().count() > 10, "{m:?}");
    assert_clean(&s, "demo", false);
    let stored = block(async { s.get(&StorePath::from("demo/_secret.key")).await?.bytes().await }).unwrap();
    assert_eq!(stored.as_ref(), key.as_slice(), "the key in the bucket was used, not replaced");
    // Every table equals the local run's (read from a copy of the bucket), and the marts read
    // on S3 by the binary too.
    let copy = download(&s, "demo", &demo.dir.path().join("copy"));
    assert_same_tables(&reference().tables, &tables(copy.to_str().unwrap(), &[]), "demo on S3");
    assert_same_tables(&demo.local_marts(), &marts(&wh, &s3_env(server.port)), "demo on S3, read on S3");
}

#[test]
fn a_server_without_conditional_writes_is_refused_before_anything_is_written() {
    let Some(server) = server() else { return };
    let proxy = Proxy::start(server.port);
    proxy.st.strip_conditional.store(true, Ordering::SeqCst);
    let demo = demo_exports();
    for args in [vec!["init"], demo.ingest()] {
        let r = run(&url("plain"), &demo.env(proxy.port), &args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("does not honour conditional writes"), "{}", r.stderr);
        assert!(r.stderr.contains("If-None-Match"), "{}", r.stderr);
    }
    // Nothing but nothing: no manifest, lock, key, data or probe object.
    assert_eq!(list(&store(server.port), "plain"), vec![]);
    // The same server with the headers passed: it works.
    proxy.st.strip_conditional.store(false, Ordering::SeqCst);
    let r = run(&url("plain"), &demo.env(proxy.port), &demo.ingest());
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn plain_http_to_another_host_and_exhausted_retries_are_reported() {
    let Some(server) = server() else { return };
    let mut env = s3_env(server.port);
    env[0].1 = "http://192.0.2.10:9000".into();
    let r = run(&url("x"), &env, &["init"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("plain http to another machine"), "{}", r.stderr);

    // Every request answered 503: the message names the request's object and the last error.
    let proxy = Proxy::start(server.port);
    proxy.faults(1, &[Fault::Status503], 0);
    let mut env = s3_env(proxy.port);
    env.retain(|(k, _)| k != "GOVMEDIA_S3_RETRIES");
    env.push(("GOVMEDIA_S3_RETRIES".into(), "2".into()));
    let r = run(&url("x"), &env, &["init"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/govmedia/x/_"), "{}", r.stderr);
    assert!(r.stderr.contains("after 2 retries") && r.stderr.contains("503"), "{}", r.stderr);
    assert_eq!(proxy.injected()[&Fault::Status503], 3, "one try and two retries");

    // Answers slower than the time-out.
    proxy.faults(1, &[Fault::Delay], 3000);
    env.retain(|(k, _)| !k.starts_with("GOVMEDIA_S3"));
    env.extend([("GOVMEDIA_S3_RETRIES".into(), "1".into()), ("GOVMEDIA_S3_TIMEOUT".into(), "0.5".into())]);
    let started = Instant::now();
    let r = run(&url("x"), &env, &["init"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/govmedia/x/_") && r.stderr.to_lowercase().contains("timed out"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let bad = run(&url("x"), &[("GOVMEDIA_S3_RETRIES".into(), "many".into())], &["init"]);
    assert!(bad.stderr.contains("GOVMEDIA_S3_RETRIES=many is not a number"), "{}", bad.stderr);
}

#[test]
fn faults_on_the_wire_end_in_the_old_or_the_new_state() {
    let Some(server) = server() else { return };
    let demo = demo_exports();
    let s = store(server.port);
    let proxy = Proxy::start(server.port);
    let local = demo.local_marts();
    let all = [Fault::Status500, Fault::Status503, Fault::AnswerLost, Fault::DropMidBody, Fault::Delay];
    let mut outcomes = Vec::new();
    // Faults more and less often, on ingest then build; each run succeeds or fails clearly, and
    // then the warehouse reads whole; a run without faults then completes it.
    let rates: &[usize] = if thorough() { &[7, 4, 3] } else { &[4, 3] };
    for (i, &every) in rates.iter().enumerate() {
        let prefix = format!("faults-{i}");
        let wh = url(&prefix);
        for stage in [demo.ingest(), demo.build()] {
            proxy.faults(every, &all, 300);
            let before = manifest(&s, &prefix);
            let r = run(&wh, &demo.env(proxy.port), &stage);
            proxy.faults(0, &[], 0);
            let after = consistent(&s, &prefix);
            if r.code == 0 {
                assert!(after.as_ref().map(|m| m.version) > before.as_ref().map(|m| m.version), "{prefix}");
            } else {
                // A clear message, and the state before (or, for an answer lost after the swap landed, the new one).
                assert!(r.stderr.contains("govmedia") && r.stderr.len() > 40, "{}", r.stderr);
                assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
            }
            outcomes.push((prefix.clone(), every, r.code, r.stderr.lines().last().unwrap_or("").to_string()));
            if r.code != 0 {
                let again = run(&wh, &demo.env(server.port), &stage);
                assert_eq!(again.code, 0, "after a failed run: {}", again.stderr);
                consistent(&s, &prefix).unwrap();
            }
        }
        assert_same_tables(&local, &marts(&wh, &demo.env(server.port)), &prefix);
        // The key lives outside the bucket; no lock or probe object is left behind.
        assert_clean(&s, &prefix, true);
    }
    let injected = proxy.injected();
    eprintln!("faults injected: {injected:?}; runs: {outcomes:#?}");
    assert!(all.iter().all(|f| injected.get(f).copied().unwrap_or(0) > 0), "{injected:?}");
}

/// Where a run is killed: (method, key, nth, after the request landed, in the default sample).
/// The key is matched in the path, and in the body of a POST (object_store deletes with
/// DeleteObjects, which names the object in its body). The sample: a dead run's lock left at its
/// release (the next run takes it over), a data file landed (a stray the next commit removes),
/// and the manifest swap of a build landed (the new state, its answer never seen).
const INGEST_KILLS: &[(&str, &str, usize, bool, bool)] = &[
    ("PUT", "/_lock", 1, false, false),
    ("PUT", ".parquet", 1, true, true),
    ("PUT", ".parquet", 4, false, false),
    ("PUT", "/_manifests/", 1, false, false),
    ("PUT", "/_manifest.json", 1, false, false),
    ("PUT", "/_manifest.json", 1, true, false),
    // The release of the lock, after the commit (and its clean-up).
    ("POST", "/_lock<", 1, false, true),
];
/// A build is slower: the points around its commit.
const BUILD_KILLS: &[(&str, &str, usize, bool, bool)] = &[
    ("PUT", ".parquet", 2, true, false),
    ("PUT", "/_manifest.json", 1, false, false),
    ("PUT", "/_manifest.json", 1, true, true),
    ("POST", "/_lock<", 1, false, false),
];

#[test]
fn kill_9_during_ingest_and_build_then_the_next_run_succeeds() {
    let Some(server) = server() else { return };
    let demo = demo_exports();
    let s = store(server.port);
    let proxy = Proxy::start(server.port);
    let local = demo.local_marts();
    // A base ingested and built (so a build has files to replace): the reference, uploaded.
    let base = "base";
    upload_reference(&s, base);
    // The killed ingest adds another district's exports (another seed) to a copy of the base, so
    // that it writes new files and its stray files must be cleaned up by the next commit.
    let other = demo.dir.path().join("other");
    let r = govmedia(&demo.dir.path().join("unused"), &["generate", "--out", other.to_str().unwrap(), "--seed", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let other_pipeline = other.join("pipeline.toml");
    let other_ingest = vec!["run", other_pipeline.to_str().unwrap(), "--stages", "ingest"];
    let mut tried = 0;
    let mut expected = 0;
    for (stage_name, stage, points) in [("ingest", other_ingest, INGEST_KILLS), ("build", demo.build(), BUILD_KILLS)] {
        for (i, &(method, key, nth, after_forward, sampled)) in points.iter().enumerate() {
            if !sampled && !thorough() {
                continue;
            }
            expected += 1;
            let prefix = format!("kill-{stage_name}-{i}");
            clone_prefix(&s, base, &prefix);
            let before = manifest(&s, &prefix);
            proxy.arm_kill(KillAt { method, key, nth, after_forward });
            let child = command(&url(&prefix), &demo.env(proxy.port), &stage).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
            proxy.st.pid.store(child.id(), Ordering::SeqCst);
            let out = child.wait_with_output().unwrap();
            let status = out.status;
            let point = format!("{stage_name} killed at {method} {key} #{nth} ({})", if after_forward { "landed" } else { "not sent" });
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(proxy.st.killed.load(Ordering::SeqCst), "{point}: never reached ({status}): {stderr}");
            assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{point}");
            tried += 1;
            // The old state or the new one, whole; before the swap landed, the old one.
            let killed = consistent(&s, &prefix);
            let committed_allowed = (after_forward && key == "/_manifest.json") || method == "POST";
            if !committed_allowed {
                assert!(killed == before, "{point}: the killed run committed");
            }
            // The next run takes over the dead run's lock and completes; stray files go.
            let r = run(&url(&prefix), &demo.env(server.port), &stage);
            assert_eq!(r.code, 0, "{point}, the next run: {}\n{}", r.stdout, r.stderr);
            let after = consistent(&s, &prefix).unwrap();
            assert!(!list(&s, &prefix).iter().any(|(p, _)| p == "_lock"), "{point}");
            let killed = killed.expect("the base's manifest");
            assert!(after.version > killed.version, "{point}: the next run committed");
            assert_eq!(strays(&s, &prefix, &[&killed, &after]), Vec::<String>::new(), "{point}: stray files");
            if stage_name == "build" {
                assert_same_tables(&local, &marts(&url(&prefix), &demo.env(server.port)), &point);
            }
        }
    }
    eprintln!("kill points tried: {tried}");
    assert_eq!(tried, expected);
    assert!(tried >= 3, "{tried}");
}

#[test]
fn two_writers_at_once_never_both_commit() {
    let Some(server) = server() else { return };
    let demo = demo_exports();
    let s = store(server.port);
    let proxy = Proxy::start(server.port);
    let base = "race-base";
    upload_reference(&s, base);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let mut races = 0;
    // The sample: one race over the create-if-absent, one over a dead run's lock.
    let count = if thorough() { 6 } else { 2 };
    for i in 0..count {
        let stale = i % 2 == 1;
        let prefix = format!("race-{i}");
        clone_prefix(&s, base, &prefix);
        if stale {
            let lock = serde_json::json!({"pid": dead_pid, "host": host, "since": "2019-10-01T00:00:00+00:00",
                "command": "govmedia build", "token": "0123"});
            block(s.put(&StorePath::from(format!("{prefix}/_lock")), PutPayload::from(lock.to_string().into_bytes()))).unwrap();
        }
        let v0 = manifest(&s, &prefix).unwrap().version;
        // Both runs' lock requests reach the server at the same moment: the create-if-absent, or
        // with a stale lock the take-over (replace-if-unchanged).
        *proxy.st.gate_waiting.lock().unwrap() = 0;
        let header = if stale { "if-match" } else { "if-none-match" };
        *proxy.st.gate.lock().unwrap() = Some(Gate { method: "PUT", key: "/_lock", header, size: 2 });
        let children: Vec<_> = (0..2)
            .map(|_| {
                command(&url(&prefix), &demo.env(proxy.port), &demo.build()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
            })
            .collect();
        let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let ok = outs.iter().filter(|o| o.status.success()).count();
        let errors: Vec<String> = outs.iter().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).collect();
        assert_eq!(ok, 1, "race {i} (stale lock: {stale}): {errors:#?}");
        let loser = &errors[outs.iter().position(|o| !o.status.success()).unwrap()];
        assert!(loser.contains("is in use by") || loser.contains("changed while this run worked"), "{loser}");
        let m = consistent(&s, &prefix).unwrap();
        assert_eq!(m.version, v0 + 1, "race {i}: exactly one commit");
        assert!(!list(&s, &prefix).iter().any(|(p, _)| p == "_lock"));
        races += 1;
    }
    eprintln!("races tried: {races}");
    assert_eq!(races, count);
}
