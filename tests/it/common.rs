//! Helpers: a fresh temp dir per test, the real binary, warehouse reads.

#![allow(dead_code)]

use govmedia::table::{self, Row, Value};
use govmedia::warehouse::Warehouse;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/fixtures`, if present. Under CI its absence is a failure, not a skip.
pub fn shared_fixtures() -> Option<PathBuf> {
    let p = repo().join("../shared/fixtures");
    if p.join("README.md").exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!("../shared/fixtures is missing: CI must run the conformance suite");
    }
    eprintln!("skipped: ../shared/fixtures is not beside the repository");
    None
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the govmedia binary.
pub fn govmedia(warehouse: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run govmedia");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// Every staging table's rows, sorted, by table.
pub fn staging(wh_dir: &Path) -> Vec<(String, Vec<Row>)> {
    let wh = Warehouse::open(wh_dir.to_str().unwrap()).unwrap();
    rt().block_on(async {
        let m = wh.manifest().await.unwrap();
        let mut out = Vec::new();
        for def in table::STAGING {
            let mut rows = wh.read_rows(&m, def).await.unwrap();
            rows.sort_by_cached_key(|r| format!("{r:?}"));
            out.push((def.name.to_string(), rows));
        }
        out
    })
}

pub fn rows_of(wh_dir: &Path, name: &str) -> Vec<Row> {
    staging(wh_dir).into_iter().find(|(n, _)| n == name).map(|(_, r)| r).unwrap_or_default()
}

/// A column of a row by name.
pub fn get<'a>(table: &table::TableDef, row: &'a Row, col: &str) -> &'a Value {
    &row[table.index(col)]
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// UTC microseconds of a Beijing wall-clock time.
pub fn bj(t: &str) -> i64 {
    govmedia::time::beijing_micros(chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap())
}

/// Runs a query with the binary and returns its CSV lines (header first).
pub fn sql(warehouse: &Path, query: &str) -> Vec<String> {
    let r = govmedia(warehouse, &["sql", query, "--format", "csv"]);
    assert_eq!(r.code, 0, "sql failed: {}", r.stderr);
    r.stdout.lines().map(str::to_string).collect()
}
