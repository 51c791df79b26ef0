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
    govmedia_with(warehouse, args, &[])
}

/// Runs the govmedia binary with these variables in its environment.
pub fn govmedia_with(warehouse: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .envs(vars.iter().copied())
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

/// A warehouse in a temp dir, fed canonical CSV exports written by the test and built for
/// 2019Q3 with the binary: the hand-checked cases of the models, the check point and the outputs.
pub struct CsvWarehouse {
    pub dir: tempfile::TempDir,
    pub wh: PathBuf,
    files: usize,
}

impl CsvWarehouse {
    pub fn new() -> CsvWarehouse {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("wh");
        CsvWarehouse { dir, wh, files: 0 }
    }

    /// Ingested and built (`build --quarter 2019Q3` with `build_args`) in one go.
    pub fn built(exports: &[(&str, &str)], build_args: &[&str]) -> CsvWarehouse {
        let mut c = CsvWarehouse::new();
        c.ingest(exports);
        c.build(build_args);
        c
    }

    /// Writes each (kind, CSV) export and ingests it; every row must load.
    pub fn ingest(&mut self, exports: &[(&str, &str)]) {
        for (kind, csv) in exports {
            self.files += 1;
            let path = self.dir.path().join(format!("{}_{kind}.csv", self.files));
            std::fs::write(&path, csv).unwrap();
            let r = govmedia(&self.wh, &["ingest", kind, "canonical", path.to_str().unwrap()]);
            assert_eq!(r.code, 0, "{kind}: {}", r.stderr);
            assert!(!r.stderr.contains("rejected"), "{kind}: {}", r.stderr);
        }
    }

    /// Builds 2019Q3 with more build arguments; the build must succeed.
    pub fn build(&self, build_args: &[&str]) {
        let mut args = vec!["build", "--quarter", "2019Q3"];
        args.extend(build_args);
        let r = govmedia(&self.wh, &args);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }

    /// Builds 2019Q3 with the check point `c` (the quarter's end when None).
    pub fn build_at(&self, c: Option<&str>) {
        match c {
            Some(c) => self.build(&["--check-point", c]),
            None => self.build(&[]),
        }
    }

    pub fn q(&self, query: &str) -> Vec<String> {
        sql(&self.wh, query)
    }

    /// One account's row of account_quarter_indicators, selected columns as CSV.
    pub fn account(&self, account_id: &str, columns: &str) -> String {
        let rows = self.q(&format!("SELECT {columns} FROM account_quarter_indicators WHERE account_id = '{account_id}'"));
        assert_eq!(rows.len(), 2, "{account_id}: {rows:?}");
        rows[1].clone()
    }

    /// One unit's row of unit_quarter_scores, selected columns as CSV.
    pub fn unit(&self, unit_name: &str, columns: &str) -> String {
        let rows = self.q(&format!("SELECT {columns} FROM unit_quarter_scores WHERE unit_name = '{unit_name}'"));
        assert_eq!(rows.len(), 2, "{unit_name}: {rows:?}");
        rows[1].clone()
    }

    pub fn has_account(&self, account_id: &str) -> bool {
        self.q(&format!("SELECT 1 AS x FROM account_quarter_indicators WHERE account_id = '{account_id}'")).len() > 1
    }
}
