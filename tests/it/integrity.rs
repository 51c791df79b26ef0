//! Nothing lost, nothing leaked: the warehouse's manifest, lock, files and secret under clumsy
//! and concurrent use (each test reproduces a defect found by an adversarial test).

use crate::common::*;
use govmedia::ingest::run::{ingest, IngestOptions};
use govmedia::ingest::source::{resolve_source, SourceSpec};
use govmedia::warehouse::{Warehouse, WarehouseError};
use object_store::ObjectStoreExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const JULY: &str = "平台,账号ID,发布ID,发布时间,标题\n微博,1001,a1,2019-07-01 09:00,甲\n微博,1001,a2,2019-07-08 09:00,乙\n";
// Another platform: posts are stored by platform and quarter, so August is a file of its own.
const AUGUST: &str = "平台,账号ID,发布ID,发布时间,标题\n抖音,d1,b1,2019-08-01 09:00,丙\n";

fn source(dir: &Path, file: &str) -> govmedia::ingest::source::Source {
    let spec =
        SourceSpec { kind: "posts".into(), format: "canonical".into(), path: file.into(), account: None, platform: None, as_of: None };
    resolve_source(dir, 1, &spec).unwrap()
}

/// A warehouse with two committed versions (July's posts, then August's).
fn two_versions(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("july.csv"), JULY).unwrap();
    std::fs::write(dir.join("august.csv"), AUGUST).unwrap();
    let wh = dir.join("wh");
    for file in ["july.csv", "august.csv"] {
        let r = govmedia(&wh, &["ingest", "posts", "canonical", dir.join(file).to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    wh
}

fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

// Item 1: a missing `_manifest.json` is an error naming the newest archived version, and nothing
// is written or deleted.
#[test]
fn a_missing_manifest_is_an_error_not_an_empty_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    std::fs::rename(wh.join("_manifest.json"), dir.path().join("moved.json")).unwrap();
    let before = files_under(&wh);

    let r = govmedia(&wh, &["sql", "SELECT count(*) FROM posts"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("_manifest.json is missing") && r.stderr.contains("_manifests/00000002.json"), "{}", r.stderr);

    let r = govmedia(&wh, &["ingest", "posts", "canonical", dir.path().join("july.csv").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("_manifests/00000002.json"), "{}", r.stderr);
    let after: Vec<_> = files_under(&wh).into_iter().filter(|(p, _)| !p.ends_with("_lock")).collect();
    assert_eq!(after, before, "nothing was written or deleted");

    // Restored, it reads as before; the next commit takes the next number.
    std::fs::copy(wh.join("_manifests/00000002.json"), wh.join("_manifest.json")).unwrap();
    assert_eq!(sql(&wh, "SELECT count(*) AS n FROM posts"), vec!["n", "3"]);
}

// Item 1: data files without any manifest are not a new warehouse either.
#[test]
fn data_files_without_any_manifest_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    std::fs::remove_file(wh.join("_manifest.json")).unwrap();
    std::fs::remove_dir_all(wh.join("_manifests")).unwrap();
    let before = files_under(&wh.join("staging"));
    let r = govmedia(&wh, &["ingest", "posts", "canonical", dir.path().join("july.csv").to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("holds data files"), "{}", r.stderr);
    assert_eq!(files_under(&wh.join("staging")), before);
}

// Item 1: a version number is never reused, even after an older manifest is restored.
#[test]
fn a_restored_older_manifest_does_not_reuse_version_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    let second = std::fs::read(wh.join("_manifests/00000002.json")).unwrap();
    std::fs::copy(wh.join("_manifests/00000001.json"), wh.join("_manifest.json")).unwrap();
    let r = govmedia(&wh, &["ingest", "posts", "canonical", dir.path().join("august.csv").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("manifest version 3"), "{}", r.stdout);
    assert_eq!(std::fs::read(wh.join("_manifests/00000002.json")).unwrap(), second, "version 2 kept as it was");
    assert_eq!(sql(&wh, "SELECT count(*) AS n FROM posts"), vec!["n", "3"]);
}

// Item 1: read-only commands on a folder that is not a warehouse say so (and create nothing).
#[test]
fn read_only_commands_refuse_a_folder_that_is_not_a_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("warehuose");
    let r = govmedia(&missing, &["sql", "SELECT count(*) FROM posts"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no warehouse at") && r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(!missing.exists(), "a mistyped warehouse is not created");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for args in [&["sql", "SELECT count(*) FROM posts"][..], &["build", "--quarter", "2019Q3"], &["report", "--quarter", "2019Q3"]] {
        let r = govmedia(&empty, args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains("is not a govmedia warehouse"), "{args:?}: {}", r.stderr);
    }

    // `init` makes it one: empty tables, answered.
    let r = govmedia(&empty, &["init"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sql(&empty, "SELECT count(*) AS n FROM posts"), vec!["n", "0"]);
}

// Item 2: a commit fails when another run committed since this one read the manifest.
#[test]
fn a_commit_on_a_stale_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wh_dir = two_versions(dir.path());
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let rt = rt();
    let read = rt.block_on(wh.manifest()).unwrap();
    rt.block_on(wh.commit(read.clone(), "first writer")).unwrap();
    let err = rt.block_on(wh.commit(read, "second writer")).unwrap_err();
    assert!(matches!(err, WarehouseError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("nothing was committed"), "{err}");
    assert_eq!(sql(&wh_dir, "SELECT count(*) AS n FROM posts"), vec!["n", "3"]);
}

/// A lock left by a process that is gone (no such pid on this host).
fn stale_lock(wh: &Path) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    let body = format!(r#"{{"pid": 999999999, "host": "{host}", "since": "2019-10-01T00:00:00Z", "command": "govmedia ingest"}}"#);
    std::fs::write(wh.join("_lock"), body).unwrap();
}

// Item 2: of runs that find the same stale lock, one takes it; every commit that reports success
// happened, and the warehouse stays readable.
#[test]
fn a_stale_lock_is_taken_over_by_one_run_only() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    for round in 0..4 {
        stale_lock(&wh);
        let before: u64 = manifest_version(&wh);
        let children: Vec<_> = (0..6)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_govmedia"))
                    .arg("--warehouse")
                    .arg(&wh)
                    .args(["ingest", "posts", "canonical", dir.path().join("august.csv").to_str().unwrap()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let ok = outputs.iter().filter(|o| o.status.success()).count();
        for o in outputs.iter().filter(|o| !o.status.success()) {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("is in use by") || err.contains("changed while this run worked"), "round {round}: {err}");
        }
        assert!(ok >= 1, "round {round}: one run takes the stale lock");
        assert_eq!(manifest_version(&wh), before + ok as u64, "round {round}: every reported commit happened, once");
        assert_eq!(sql(&wh, "SELECT count(*) AS n FROM posts"), vec!["n", "3"], "round {round}");
        assert!(!wh.join("_lock").exists(), "round {round}: the lock was released");
    }
}

fn manifest_version(wh: &Path) -> u64 {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(wh.join("_manifest.json")).unwrap()).unwrap();
    m["version"].as_u64().unwrap()
}

// Item 2 (in-process): two takeovers of the same stale lock at once: exactly one wins.
#[test]
fn concurrent_takeovers_of_one_stale_lock_let_one_win() {
    let rt = rt();
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let wh_dir = dir.path().join("wh");
        let a = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
        let b = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
        stale_lock(&wh_dir);
        let (ra, rb) = rt.block_on(async { tokio::join!(a.lock("a"), b.lock("b")) });
        assert_eq!(ra.is_ok() as u8 + rb.is_ok() as u8, 1, "round {round}: {ra:?} {rb:?}");
        let (winner, lock) = match (ra, rb) {
            (Ok(l), _) => (&a, l),
            (_, Ok(l)) => (&b, l),
            _ => unreachable!(),
        };
        rt.block_on(winner.release(lock)).unwrap();
    }
}

// The lock belongs to its holder: releasing what this process does not hold leaves another's lock.
#[test]
fn an_interrupt_never_deletes_another_process_lock() {
    let dir = tempfile::tempdir().unwrap();
    let wh_dir = dir.path().join("wh");
    let holder = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let other = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    let rt = rt();
    let lock = rt.block_on(holder.lock("holder")).unwrap();
    rt.block_on(other.release_held_lock()).unwrap();
    assert!(wh_dir.join("_lock").exists());
    assert!(rt.block_on(other.lock("other")).is_err());
    rt.block_on(holder.release(lock)).unwrap();
    assert!(!wh_dir.join("_lock").exists());
}

// Item 3: `generate --tier` refuses a warehouse with data unless --force, and takes the lock.
#[test]
fn generate_tier_refuses_a_warehouse_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    let before = files_under(&wh);
    let r = govmedia(&wh, &["generate", "--tier", "district", "--seed", "3"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("already holds data") && r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(files_under(&wh), before);

    std::fs::write(wh.join("_lock"), r#"{"pid": 1, "host": "elsewhere", "since": "now", "command": "govmedia build"}"#).unwrap();
    let r = govmedia(&wh, &["generate", "--tier", "district", "--seed", "3", "--force"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is in use by `govmedia build`"), "{}", r.stderr);
    std::fs::remove_file(wh.join("_lock")).unwrap();

    let r = govmedia(&wh, &["generate", "--tier", "district", "--seed", "3", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(manifest_version(&wh), 3);
}

// Item 4: `sql --output` never writes inside the warehouse.
#[test]
fn sql_output_inside_the_warehouse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    let target = files_under(&wh.join("staging/posts")).into_iter().find(|(p, _)| p.extension().is_some_and(|e| e == "parquet")).unwrap();
    for output in [target.0.clone(), wh.join("result.csv"), wh.join("staging/../x.parquet")] {
        let r = govmedia(&wh, &["sql", "SELECT 1 AS x", "--format", "parquet", "--output", output.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{}", output.display());
        assert!(r.stderr.contains("is inside the warehouse"), "{}", r.stderr);
    }
    assert_eq!(std::fs::read(&target.0).unwrap(), target.1);
    assert!(!wh.join("result.csv").exists());
    let outside = dir.path().join("out.csv");
    let r = govmedia(&wh, &["sql", "SELECT post_id FROM posts ORDER BY post_id", "--format", "csv", "--output", outside.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "\u{feff}post_id\na1\na2\nb1\n");
}

// Item 5: a data file swapped for another valid Parquet file is an error, not wrong counts.
#[test]
fn a_swapped_data_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(wh.join("_manifest.json")).unwrap()).unwrap();
    let posts: Vec<&str> = m["tables"]["posts"]["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(posts.len(), 2, "the partitions of July's and August's platforms");
    // August's file (the partition a second ingest of August merges into) swapped for July's.
    let august = posts.iter().position(|p| p.contains("platform=douyin")).unwrap();
    std::fs::copy(wh.join(posts[1 - august]), wh.join(posts[august])).unwrap();
    let r = govmedia(&wh, &["sql", "SELECT count(*) FROM posts"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("does not match the manifest"), "{}", r.stderr);
    let r = govmedia(&wh, &["ingest", "posts", "canonical", dir.path().join("august.csv").to_str().unwrap()]);
    assert_ne!(r.code, 0, "ingest reads the partition it merges into: {}", r.stdout);
    assert!(r.stderr.contains("does not match the manifest"), "{}", r.stderr);
}

// Item 14: the secret is readable by its owner only, and can live outside the warehouse.
#[test]
fn the_secret_is_private_and_can_live_outside_the_warehouse() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let r = govmedia(&wh, &["init"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mode = std::fs::metadata(wh.join("_secret.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A key made readable by others is narrowed on its next use.
    std::fs::set_permissions(wh.join("_secret.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(dir.path().join("m.csv"), "平台,账号ID,留言ID,留言时间,留言人,回复时间\n微博,1001,q1,2019-07-02 10:00,某人,\n").unwrap();
    let r = govmedia(&wh, &["ingest", "interactions", "canonical", dir.path().join("m.csv").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::metadata(wh.join("_secret.key")).unwrap().permissions().mode() & 0o777, 0o600);

    let elsewhere = dir.path().join("keys/office.key");
    let wh2 = dir.path().join("wh2");
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .env("GOVMEDIA_SECRET_FILE", &elsewhere)
        .arg("--warehouse")
        .arg(&wh2)
        .args(["ingest", "interactions", "canonical", dir.path().join("m.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!wh2.join("_secret.key").exists(), "the key is not in the warehouse");
    assert_eq!(std::fs::metadata(&elsewhere).unwrap().permissions().mode() & 0o777, 0o600);
}

// Item 12 (output): control characters print escaped, never raw, in the terminal table.
#[test]
fn sql_tables_escape_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    assert_eq!(govmedia(&wh, &["init"]).code, 0);
    let r = govmedia(&wh, &["sql", "SELECT concat('a', chr(27), '[2J', chr(7), 'b') AS t"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{7}'), "{:?}", r.stdout);
    assert!(r.stdout.contains("a\\u{1b}[2J\\u{7}b"), "{}", r.stdout);
}

// Item 17: results stream: the table format stops at --max-rows; CSV writes every row without
// holding them (peak memory stays far below the result's size).
#[test]
fn sql_results_stream_and_tables_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    assert_eq!(govmedia(&wh, &["init"]).code, 0);
    let r = govmedia(&wh, &["sql", "SELECT value FROM generate_series(1, 5000)"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let data_rows = r.stdout.lines().filter(|l| l.starts_with("| ") && !l.contains("value")).count();
    assert_eq!(data_rows, 1000);
    assert!(r.stderr.contains("first 1000 rows shown"), "{}", r.stderr);

    // About 600 MB of CSV; collected first, the rows alone would take several hundred MB.
    let out = dir.path().join("big.csv");
    let query = "SELECT value, value * 2 AS twice, repeat('x', 100) AS pad FROM generate_series(1, 5000000)";
    let peak = peak_rss_kib(&wh, &["sql", query, "--format", "csv", "--output", out.to_str().unwrap()]);
    let lines = std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(&out).unwrap())).count();
    assert_eq!(lines, 5_000_001);
    assert!(peak < 300 * 1024, "peak RSS {peak} KiB");
}

/// Runs the binary and returns its peak resident memory (VmHWM), read until it exits.
fn peak_rss_kib(wh: &Path, args: &[&str]) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .env("GOVMEDIA_MEMORY_LIMIT", "64MiB")
        .arg("--warehouse")
        .arg(wh)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            if let Some(kib) =
                status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = kib;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "govmedia {args:?} failed");
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// In-process, through the library: the same refusal for memory warehouses.
#[test]
fn a_missing_manifest_in_an_object_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("july.csv"), JULY).unwrap();
    let wh = Warehouse::open("memory://integrity-missing/wh").unwrap();
    let rt = rt();
    rt.block_on(ingest(&wh, &[source(dir.path(), "july.csv")], &IngestOptions::default())).unwrap();
    rt.block_on(wh.store().delete(&wh.path("_manifest.json"))).unwrap();
    let err = rt.block_on(wh.manifest()).unwrap_err();
    assert!(matches!(err, WarehouseError::ManifestMissing(_)), "{err}");
    let err = rt.block_on(ingest(&wh, &[source(dir.path(), "july.csv")], &IngestOptions::default())).unwrap_err();
    assert!(err.to_string().contains("_manifests/00000001.json"), "{err}");
}

// Writing export files touches no warehouse: none is created where --warehouse points.
#[test]
fn generating_export_files_creates_no_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let r = govmedia(&wh, &["generate", "--out", dir.path().join("exports").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(dir.path().join("exports/pipeline.toml").exists());
    assert!(!wh.exists(), "a warehouse folder was created");
}

// `sql --output` writes beside the target and renames: a failed query keeps the earlier result,
// and a link at the target (here, dangling into the warehouse) is replaced, never followed.
#[test]
fn sql_output_is_replaced_whole_and_links_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_versions(dir.path());
    let out = dir.path().join("result.csv");
    std::fs::write(&out, "earlier\n").unwrap();
    let r = govmedia(&wh, &["sql", "SELECT no_such_column FROM posts", "--format", "csv", "--output", out.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "earlier\n");

    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(wh.join("marts/planted.parquet"), &link).unwrap();
    let r = govmedia(&wh, &["sql", "SELECT 1 AS x", "--format", "csv", "--output", link.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!wh.join("marts/planted.parquet").exists(), "the link was followed into the warehouse");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "\u{feff}x\n1\n");
}

// A warehouse with its own key is not silently re-keyed by pointing GOVMEDIA_SECRET_FILE elsewhere.
#[test]
fn a_secret_file_elsewhere_never_replaces_the_warehouse_key_silently() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    assert_eq!(govmedia(&wh, &["init"]).code, 0);
    let elsewhere = dir.path().join("office.key");
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .env("GOVMEDIA_SECRET_FILE", &elsewhere)
        .arg("--warehouse")
        .arg(&wh)
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has its own key") && err.contains("mv "), "{err}");
    assert!(!elsewhere.exists());
}

// A Ctrl-C that meets a commit: stopping the commits waits for one under way and refuses any
// later one, so the count it returns is the truth about what this process committed.
#[test]
fn stopped_commits_are_refused_and_counted() {
    let rt = rt();
    let wh = Warehouse::open("memory://stopped-commits").unwrap();
    let first = rt.block_on(wh.init()).unwrap();
    assert_eq!(wh.commits_made(), 1);
    let read = rt.block_on(wh.manifest()).unwrap();
    let next = rt.block_on(wh.commit(read, "second")).unwrap();
    assert_eq!(next.version, first.version + 1);
    let stopped = rt.block_on(wh.stop_commits());
    assert_eq!((stopped.committed, stopped.last), (2, Some(next.version)));
    let read = rt.block_on(wh.manifest()).unwrap();
    let err = rt.block_on(wh.commit(read, "after the stop")).unwrap_err();
    assert!(matches!(err, WarehouseError::Interrupted(_)), "{err}");
    assert_eq!(rt.block_on(wh.manifest()).unwrap().version, next.version);

    // Racing: a commit dropped by its caller still ends, and the stop reports it or prevents it.
    for i in 0..20 {
        let wh = Warehouse::open(&format!("memory://racing-commits-{i}")).unwrap();
        let read = rt.block_on(wh.manifest()).unwrap();
        let before = read.version;
        let stopped = rt.block_on(async {
            tokio::select! {
                _ = wh.commit(read, "raced") => {}
                _ = tokio::task::yield_now() => {}
            }
            wh.stop_commits().await
        });
        let now = rt.block_on(wh.manifest()).unwrap();
        match stopped.last {
            Some(version) => assert_eq!((stopped.committed, now.version), (1, version)),
            None => assert_eq!((stopped.committed, now.version), (0, before)),
        }
    }
}
