//! The SQL layer as sql/README.md states it: staging models are the only readers of the warehouse
//! tables, every model declares its grain and tests it unique, the posts inside an account's
//! window are joined in one model, and a test kept out of the build still runs in `govmedia test`.

use crate::common::*;
use govmedia::models::{model_files, plan, Layer, Model};
use std::collections::BTreeSet;

/// The repository's models, planned against the warehouse tables and the two the build provides.
fn shipped_models() -> Vec<Model> {
    let (_, files) = model_files(Some(&repo().join("sql"))).unwrap();
    plan(&files, &warehouse_tables()).unwrap()
}

fn warehouse_tables() -> BTreeSet<String> {
    govmedia::table::STAGING.iter().map(|t| t.name.to_string()).collect()
}

#[test]
fn every_model_declares_its_grain_and_tests_it_unique() {
    let models = shipped_models();
    assert!(models.len() >= 30, "{} models", models.len());
    for m in &models {
        let grain = m.spec.grain.as_deref().unwrap_or_default();
        assert!(!grain.trim().is_empty(), "{}: no grain in its .toml", m.path);
        let description = m.spec.description.as_deref().unwrap_or_default();
        assert!(!description.trim().is_empty(), "{}: no description in its .toml", m.path);
        assert!(m.spec.tests.iter().any(|t| t.unique.is_some()), "{}: no uniqueness test on its grain", m.path);
    }
}

#[test]
fn only_staging_models_read_the_warehouse_tables() {
    let models = shipped_models();
    let tables = warehouse_tables();
    for m in models.iter().filter(|m| m.layer != Layer::Staging) {
        let raw: Vec<_> = m.reads.iter().filter(|r| tables.contains(*r)).collect();
        assert!(raw.is_empty(), "{} ({}) reads warehouse tables {raw:?}: read their staging models", m.name, m.path);
    }
    // Each table an intermediate model used to read has its staging model.
    let names: BTreeSet<&str> = models.iter().map(|m| m.name.as_str()).collect();
    for stg in ["stg_followers", "stg_findings", "stg_directives", "stg_self_inspections", "stg_filings", "stg_posts"] {
        assert!(names.contains(stg), "{stg} missing");
    }
}

#[test]
fn the_posts_inside_an_account_window_are_joined_in_one_model() {
    let models = shipped_models();
    // The window's lower bound on a post's instant (as the join was spelt in each model that
    // wrote it), whitespace-insensitive. A directive's instant meets the window as
    // `w.window_start_s <= d.published_s`, which this does not match.
    let condition = "published_s>=w.window_start_s";
    let joining: Vec<&str> =
        models.iter().filter(|m| m.sql.split_whitespace().collect::<String>().contains(condition)).map(|m| m.name.as_str()).collect();
    assert_eq!(joining, vec!["int_posts_in_window"]);
    let readers: BTreeSet<&str> =
        models.iter().filter(|m| m.reads.iter().any(|r| r == "int_posts_in_window")).map(|m| m.name.as_str()).collect();
    assert_eq!(readers, BTreeSet::from(["account_weekly_posts", "int_account_posting", "int_account_reach"]));
    // A view: 50 million rows nationally, recomputed where each reader's plan joins it.
    let view = models.iter().find(|m| m.name == "int_posts_in_window").unwrap();
    assert_eq!(view.spec.materialized.as_deref(), Some("view"));
}

#[test]
fn a_test_kept_out_of_the_build_runs_in_govmedia_test() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let registry = dir.path().join("registry.csv");
    std::fs::write(
        &registry,
        "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n\
甲单位,街道,微信,甲,gh_a,2015-01-01,正常,是,x\n\
乙单位,街道,微信,乙,gh_b,2015-01-01,正常,是,x\n",
    )
    .unwrap();
    let r = govmedia(&wh, &["ingest", "registry", "canonical", registry.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A staging model that is not unique on its declared grain: two accounts on one platform.
    let models = dir.path().join("models");
    std::fs::create_dir_all(models.join("staging")).unwrap();
    std::fs::write(models.join("staging/stg_platforms.sql"), "select platform from registry\n").unwrap();
    std::fs::write(
        models.join("staging/stg_platforms.toml"),
        "grain = \"one row per platform\"\n\n[[tests]]\nunique = [\"platform\"]\nin_build = false\n",
    )
    .unwrap();
    let models = models.to_str().unwrap();
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--models", models]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("unique(platform)"), "{}", r.stderr);
    assert_eq!(sql(&wh, "SELECT count(*) FROM data_quality WHERE \"table\" = 'stg_platforms'"), vec!["count(*)", "0"]);
    let r = govmedia(&wh, &["test", "--quarter", "2019Q3", "--models", models]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("FAIL stg_platforms.unique(platform)"), "{}", r.stderr);
}
