//! Ctrl-C in the middle of a stage: the real binary, sent SIGINT while it holds the warehouse's
//! lock, releases its lock and says truly what it left: almost always it stops before its
//! manifest swap and the warehouse reads as before; a signal that arrives as the swap is under
//! way waits for it, and the message names the version committed. A second run then succeeds.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary, sends it SIGINT once its write lock exists, and returns (exit code, stderr).
fn interrupted(warehouse: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start govmedia");
    let lock = warehouse.join("_lock");
    let started = Instant::now();
    while !lock.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{args:?} ended ({status}) before it took the lock: too short to interrupt");
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{args:?} never took the lock");
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// What a reader sees: the manifest as committed, and the rows of the tables a stage writes.
fn reading(warehouse: &Path) -> (String, Vec<String>) {
    let manifest = std::fs::read_to_string(warehouse.join("_manifest.json")).unwrap();
    let counts = sql(
        warehouse,
        "SELECT (SELECT count(*) FROM registry) AS registry, (SELECT count(*) FROM posts) AS posts, \
         (SELECT count(*) FROM interactions) AS interactions, (SELECT count(*) FROM ingest_files) AS files",
    );
    (manifest, counts)
}

fn manifest_version(manifest: &str) -> u64 {
    let json: serde_json::Value = serde_json::from_str(manifest).unwrap();
    json["version"].as_u64().unwrap()
}

fn marts(warehouse: &Path) -> Vec<String> {
    sql(
        warehouse,
        "SELECT account_id, platform, posts, silent_weeks, reach_index FROM account_quarter_indicators ORDER BY account_id, platform",
    )
}

#[test]
fn sigint_during_ingest_and_build_leaves_the_warehouse_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    let exports = dir.path().join("exports");
    let r = govmedia(&generated, &["generate", "--tier", "district", "--seed", "5", "--exports", exports.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Ingest: the register is committed first; the posts and messages run is interrupted.
    let wh = dir.path().join("wh");
    let registry = exports.join("registry/*.csv");
    let r = govmedia(&wh, &["ingest", "registry", "canonical", registry.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pipeline = dir.path().join("exports.toml");
    std::fs::write(
        &pipeline,
        "[[source]]\nkind = \"posts\"\nformat = \"canonical\"\npath = \"exports/posts/*.csv\"\n\n\
         [[source]]\nkind = \"interactions\"\nformat = \"canonical\"\npath = \"exports/interactions/*.csv\"\n",
    )
    .unwrap();
    let before = reading(&wh);
    let args = ["run", pipeline.to_str().unwrap(), "--stages", "ingest"];
    let (code, stderr) = interrupted(&wh, &args);
    assert_eq!(code, 1, "{stderr}");
    assert!(!wh.join("_lock").exists(), "the interrupted ingest left its lock");
    if stderr.contains("interrupted: nothing was committed; the warehouse is as it was before this run") {
        assert_eq!(reading(&wh), before, "the interrupted ingest changed what the warehouse reads");
    } else {
        // The signal met the swap: the message names the version now current.
        let after = reading(&wh);
        assert_ne!(after, before, "{stderr}");
        let version = manifest_version(&after.0);
        assert!(stderr.contains(&format!("interrupted after the ingest stage committed manifest version {version}")), "{stderr}");
    }
    let r = govmedia(&wh, &args);
    assert_eq!(r.code, 0, "the second ingest: {}", r.stderr);
    let posts = "SELECT platform, post_id, account_id, published_at FROM posts ORDER BY platform, post_id";
    assert_eq!(sql(&wh, posts), sql(&generated, posts));

    // Build: a first build's marts stay while a second build is interrupted.
    let r = govmedia(&generated, &["build", "--quarter", "2019Q3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let manifest = std::fs::read_to_string(generated.join("_manifest.json")).unwrap();
    let built = marts(&generated);
    assert!(built.len() > 100, "{} rows", built.len());
    let (code, stderr) = interrupted(&generated, &["build", "--quarter", "2019Q3"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!generated.join("_lock").exists(), "the interrupted build left its lock");
    let now = std::fs::read_to_string(generated.join("_manifest.json")).unwrap();
    if stderr.contains("interrupted: nothing was committed; the marts are as they were") {
        assert_eq!(now, manifest);
    } else {
        let version = manifest_version(&now);
        assert!(stderr.contains(&format!("interrupted after the build stage committed manifest version {version}")), "{stderr}");
    }
    assert_eq!(marts(&generated), built);
    let r = govmedia(&generated, &["build", "--quarter", "2019Q3"]);
    assert_eq!(r.code, 0, "the second build: {}", r.stderr);
    assert_eq!(marts(&generated), built);
}
