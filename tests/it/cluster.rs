//! `govmedia build --cluster` on a Ballista cluster of this binary's own processes on loopback (a
//! scheduler and two executors, `govmedia cluster …`): the marts equal the local build's row for
//! row (the demo quarter and the district tier), and an executor killed mid-build leaves the
//! committed marts whole, the old ones or the new ones.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scheduler and its executors, killed when dropped (a failed assertion included).
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    /// df://127.0.0.1:PORT
    url: String,
    logs: PathBuf,
}

impl Cluster {
    /// Starts a scheduler on a port the system picks, then `executors` executors of one task
    /// each. `executor_timeout`: seconds after which the scheduler takes a silent executor for lost.
    fn start(dir: &Path, executors: usize, executor_timeout: u64) -> Cluster {
        Cluster::start_with(dir, executors, executor_timeout, &[])
    }

    /// [`Cluster::start`] with `env` set in every process (an S3 warehouse's settings).
    fn start_with(dir: &Path, executors: usize, executor_timeout: u64, env: &[(String, String)]) -> Cluster {
        let logs = dir.join("cluster-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let log = {
            let logs = logs.clone();
            move |name: &str| std::fs::File::create(logs.join(name)).unwrap()
        };
        let mut scheduler = Command::new(env!("CARGO_BIN_EXE_govmedia"))
            .args(["cluster", "scheduler", "--bind", "127.0.0.1:0", "--executor-timeout", &executor_timeout.to_string()])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log("scheduler.log"))
            .spawn()
            .expect("start govmedia cluster scheduler");
        let mut line = String::new();
        BufReader::new(scheduler.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(addr) = line.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()).map(str::to_string) else {
            let _ = scheduler.kill();
            panic!("the scheduler did not start: {line}\n{}", std::fs::read_to_string(logs.join("scheduler.log")).unwrap_or_default());
        };
        let mut cluster = Cluster { scheduler, executors: Vec::new(), url: format!("df://{addr}"), logs };
        for i in 0..executors {
            let (flight, grpc) = (free_port(), free_port());
            let work = dir.join(format!("executor-{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_govmedia"))
                .args(["cluster", "executor", "--scheduler", &addr, "--concurrency", "1", "--heartbeat", "1"])
                .args(["--bind", &format!("127.0.0.1:{flight}"), "--grpc-port", &grpc.to_string()])
                .arg("--work-dir")
                .arg(&work)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(log(&format!("executor-{i}.out")))
                .stderr(log(&format!("executor-{i}.log")))
                .spawn()
                .expect("start govmedia cluster executor");
            cluster.executors.push(child);
            cluster.wait_for_port(flight);
        }
        cluster
    }

    /// Waits until an executor's Flight port answers (it registers with the scheduler first).
    fn wait_for_port(&mut self, port: u16) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            for (i, e) in self.executors.iter_mut().enumerate() {
                if let Ok(Some(status)) = e.try_wait() {
                    panic!("executor {i} exited ({status}):\n{}", self.log(&format!("executor-{i}.log")));
                }
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no executor answered on port {port} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(name)).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nobody listens on now (the system's pick for a socket closed at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The marts the models make, by name (`sql/marts/*.sql`), and the build's data_quality.
fn marts() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("sql/marts"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".sql").map(str::to_string))
        .collect();
    names.push("data_quality".into());
    names.sort();
    names
}

/// Every mart's 2019Q3 rows as sorted CSV lines, by mart.
fn snapshot(wh: &Path) -> Vec<(String, Vec<String>)> {
    snapshot_by(|query| sql(wh, query))
}

/// [`snapshot`] through `sql`, a query's CSV lines.
fn snapshot_by(sql: impl Fn(&str) -> Vec<String>) -> Vec<(String, Vec<String>)> {
    marts()
        .into_iter()
        .map(|m| {
            let query = match m.as_str() {
                "data_quality" => "SELECT * FROM data_quality".to_string(),
                _ => format!("SELECT * FROM {m} WHERE quarter = '2019Q3'"),
            };
            let mut lines = sql(&query);
            lines.sort();
            (m, lines)
        })
        .collect()
}

/// Asserts two snapshots equal, naming the first mart and row that differ. Decimals may differ in
/// their last digits (1e-9 relative): an average summed in another order across the executors.
fn assert_same(what: &str, a: &[(String, Vec<String>)], b: &[(String, Vec<String>)]) {
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let row = x.iter().zip(y).find(|(p, q)| !same_row(p, q));
        if x.len() != y.len() || row.is_some() {
            panic!("{what}: mart {name} differs ({} vs {} lines); first differing rows: {row:?}", x.len(), y.len());
        }
    }
}

fn same_row(a: &str, b: &str) -> bool {
    let (x, y): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
    x.len() == y.len()
        && x.iter().zip(&y).all(|(p, q)| {
            p == q
                || match (p.parse::<f64>(), q.parse::<f64>()) {
                    (Ok(u), Ok(v)) => (u - v).abs() <= 1e-9 * u.abs().max(v.abs()),
                    _ => false,
                }
        })
}

/// The files the warehouse's manifest names, each with the size it records.
fn manifest_files(wh: &Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(wh.join("_manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for table in manifest["tables"].as_object().unwrap().values() {
        for f in table["files"].as_array().unwrap() {
            out.push((f["path"].as_str().unwrap().to_string(), f["bytes"].as_u64().unwrap()));
        }
    }
    out
}

/// The files under the warehouse's scratch folder (`_scratch/<build>/<table>.parquet`).
fn scratch_files(wh: &Path) -> usize {
    let builds = std::fs::read_dir(wh.join("_scratch")).into_iter().flatten().flatten();
    builds.map(|b| std::fs::read_dir(b.path()).map(|f| f.count()).unwrap_or(0)).sum()
}

/// Tables passed on through the scratch folder by the time a build is mid-way: `params`, `rubric`,
/// `platforms`, the empty staging tables and about a dozen models' (the district tier's build keeps
/// about 25 in all).
const MID_WAY: usize = 15;

/// Starts `govmedia build --cluster` on `wh` and returns it mid-build: once [`MID_WAY`] tables have
/// been passed on through the scratch folder.
fn build_until_mid_way(wh: &Path, cluster: &str) -> (Child, Instant) {
    let started = Instant::now();
    let mut client = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(wh)
        .args(["build", "--quarter", "2019Q3", "--cluster", cluster])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while scratch_files(wh) < MID_WAY && started.elapsed() < Duration::from_secs(300) && client.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(client.try_wait().unwrap().is_none(), "the build ended before it could be interrupted");
    (client, started)
}

/// Old marts the test can tell from a new build's: the district tier built at an earlier
/// check point.
fn district_with_old_marts(wh: &Path) -> Vec<(String, Vec<String>)> {
    let r = govmedia(wh, &["generate", "--tier", "district", "--seed", "11"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = build(wh, &["--check-point", "2019-09-10T00:00:00+08:00"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    snapshot(wh)
}

/// Every file the manifest names is there, whole.
fn assert_manifest_whole(wh: &Path) {
    for (path, bytes) in manifest_files(wh) {
        let len = std::fs::metadata(wh.join(&path)).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, bytes, "{path}: the manifest names {bytes} bytes");
    }
}

/// A build on the cluster that failed is said as a build error (exit status 1), naming the model
/// or data test that was running and the cluster.
fn assert_cluster_build_error(code: Option<i32>, stderr: &str, cluster: &str) {
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with("govmedia: ") && (stderr.contains("model ") || stderr.contains("test ")), "unclear error: {stderr}");
    assert!(stderr.contains(cluster), "the error does not name the cluster: {stderr}");
}

fn build(wh: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["build", "--quarter", "2019Q3"];
    args.extend_from_slice(extra);
    govmedia(wh, &args)
}

#[test]
fn cluster_builds_the_demo_quarter_and_the_district_tier_as_the_local_build_does() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 2, 30);
    // The demo (ingested, built for 2019Q3 and reported by `govmedia demo`), then the district tier.
    let demo = dir.path().join("demo-wh");
    let r = govmedia(&demo, &["demo", "--out", dir.path().join("demo").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let district = dir.path().join("district-wh");
    let r = govmedia(&district, &["generate", "--tier", "district", "--seed", "7"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for wh in [&demo, &district] {
        let r = build(wh, &[]);
        assert_eq!(r.code, 0, "local build of {}: {}", wh.display(), r.stderr);
        let local = snapshot(wh);
        assert!(local.iter().any(|(_, rows)| rows.len() > 10), "{}: the local build made no rows", wh.display());
        let r = build(wh, &["--cluster", &cluster.url]);
        assert_eq!(r.code, 0, "build on the cluster of {}: {}\nscheduler:\n{}", wh.display(), r.stderr, cluster.log("scheduler.log"));
        assert_same(&format!("{} on the cluster", wh.display()), &local, &snapshot(wh));
        // The tables passed between models are gone with the build (the object store leaves
        // the emptied folder of a local warehouse).
        assert_eq!(scratch_files(wh), 0, "{}: scratch tables left behind", wh.display());
    }
    // GOVMEDIA_CLUSTER is the same as --cluster: an address nobody answers on is said plainly.
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(&district)
        .args(["build", "--quarter", "2019Q3"])
        .env("GOVMEDIA_CLUSTER", format!("df://127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach the Ballista scheduler at df://127.0.0.1:"), "{stderr}");
    let r = build(&district, &["--cluster", "http://127.0.0.1:50050"]);
    assert!(r.code == 1 && r.stderr.contains("expected df://HOST:PORT"), "{}", r.stderr);
}

#[test]
fn an_executor_killed_mid_build_leaves_the_old_marts_or_the_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Lost executors are noticed within 4 s (their heartbeat is every second).
    let mut cluster = Cluster::start(dir.path(), 2, 4);
    let wh = dir.path().join("wh");
    let old = district_with_old_marts(&wh);

    let (client, started) = build_until_mid_way(&wh, &cluster.url);
    let victim = &mut cluster.executors[0];
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed_at = started.elapsed();

    let out = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let now = snapshot(&wh);
    assert_eq!(scratch_files(&wh), 0, "scratch tables left behind");
    assert_manifest_whole(&wh);
    if out.status.success() {
        eprintln!("the build completed on the remaining executor (executor killed at {killed_at:?})");
        let r = build(&wh, &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let new = snapshot(&wh);
        assert!(old != new, "the old and new marts must differ for this test to tell them apart");
        assert_same("the build that lost an executor", &new, &now);
    } else {
        eprintln!("the build failed after losing an executor at {killed_at:?}: {stderr}");
        assert_cluster_build_error(out.status.code(), &stderr, &cluster.url);
        assert_same("the build that lost an executor (old marts)", &old, &now);
    }
}

#[test]
fn a_scheduler_lost_mid_build_fails_the_build_clearly_and_leaves_the_old_marts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 2, 4);
    let wh = dir.path().join("wh");
    let old = district_with_old_marts(&wh);

    let (mut client, started) = build_until_mid_way(&wh, &cluster.url);
    cluster.scheduler.kill().unwrap();
    cluster.scheduler.wait().unwrap();
    let killed_at = started.elapsed();
    // The build ends by itself, without waiting for ever on a scheduler that is gone.
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > killed_at + Duration::from_secs(120) {
            let _ = client.kill();
            panic!("the build was still running 120 s after its scheduler was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut client.stderr.take().unwrap(), &mut stderr).unwrap();
    eprintln!("scheduler killed at {killed_at:?}; the build ended after {:?}: {stderr}", started.elapsed());
    assert_cluster_build_error(status.code(), &stderr, &cluster.url);
    // On one line, naming the cluster once.
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches(&format!("on the Ballista cluster at {}", cluster.url)).count(), 1, "{stderr}");
    assert_manifest_whole(&wh);
    assert_same("the build that lost its scheduler (old marts)", &old, &snapshot(&wh));
    assert_eq!(scratch_files(&wh), 0, "scratch tables left behind");
    // The warehouse's lock was given back: a local build runs now.
    let r = build(&wh, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The warehouse in an S3 bucket (moto's server on loopback), read and written by the client and
/// every executor from the same AWS_* settings.
#[cfg(feature = "s3")]
#[test]
fn cluster_builds_an_s3_warehouse_as_the_local_build_does() {
    use crate::s3;
    let Some(server) = s3::server() else { return };
    let env = s3::s3_env(server.port);
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with(dir.path(), 2, 30, &env);
    let wh = s3::url("cluster");
    let run = |args: &[&str]| {
        let r = s3::run(&wh, &env, args);
        assert_eq!(r.code, 0, "govmedia {args:?}: {}\n{}", r.stdout, r.stderr);
        r
    };
    // The demo quarter, ingested and built here.
    run(&["demo", "--out", dir.path().join("demo").to_str().unwrap()]);
    let on_s3 = || snapshot_by(|query| run(&["sql", query, "--format", "csv"]).stdout.lines().map(str::to_string).collect());
    let local = on_s3();
    assert!(local.iter().any(|(_, rows)| rows.len() > 10), "the local build made no rows");
    let r = s3::run(&wh, &env, &["build", "--quarter", "2019Q3", "--cluster", &cluster.url]);
    assert_eq!(r.code, 0, "build on the cluster: {}\nscheduler:\n{}", r.stderr, cluster.log("scheduler.log"));
    assert_same("the S3 warehouse built on the cluster", &local, &on_s3());
    let left = s3::list(&s3::store(server.port), "cluster/_scratch");
    assert!(left.is_empty(), "scratch tables left in the bucket: {left:?}");
}
