//! Data tests and analyst-added models: an error-severity failure stops what depends on it, a
//! new model file is built with no code change, the rubric's keys are checked.

use crate::common::*;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target)
        } else {
            std::fs::copy(&p, &target).map(|_| ()).unwrap()
        }
    }
}

fn demo_warehouse() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let wh = dir.path().join("wh");
    assert_eq!(govmedia(&wh, &["generate", "--out", out.to_str().unwrap(), "--seed", "3"]).code, 0);
    let r = govmedia(&wh, &["run", out.join("pipeline.toml").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (dir, wh)
}

#[test]
fn an_error_test_stops_its_dependents_and_keeps_the_marts() {
    let (dir, wh) = demo_warehouse();
    let before = sql(&wh, "SELECT count(*) FROM account_quarter_indicators");
    let models = dir.path().join("models");
    copy_dir(&repo().join("sql"), &models);
    let spec = models.join("intermediate/int_account_windows.toml");
    let mut text = std::fs::read_to_string(&spec).unwrap();
    text.push_str("\n[[tests]]\nname = \"no wechat accounts\"\nassert = \"select * from int_account_windows where platform = 'wechat'\"\n");
    text.push_str("\n[[tests]]\nname = \"a warning only\"\nseverity = \"warn\"\nassert = \"select * from int_account_windows where platform = 'weibo'\"\n");
    std::fs::write(&spec, text).unwrap();
    // Several models at once, whatever the machine's cores: the skip still reaches every dependent.
    let r =
        govmedia_with(&wh, &["build", "--quarter", "2019Q3", "--models", models.to_str().unwrap()], &[("GOVMEDIA_MODELS_AT_ONCE", "4")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("FAIL int_account_windows.no wechat accounts"), "{}", r.stderr);
    assert!(r.stderr.contains("warn int_account_windows.a warning only"), "{}", r.stderr);
    assert!(r.stderr.contains("skipped account_quarter_indicators: int_account_windows failed no wechat accounts"), "{}", r.stderr);
    assert!(r.stderr.contains("the marts of 2019Q3 were not replaced"), "{}", r.stderr);
    // The marts are as they were; the failure is recorded with its rows.
    assert_eq!(sql(&wh, "SELECT count(*) FROM account_quarter_indicators"), before);
    let dq = sql(&wh, "SELECT status FROM data_quality WHERE \"check\" = 'no wechat accounts'");
    assert_eq!(dq, vec!["status", "fail"]);
    assert_eq!(sql(&wh, "SELECT count(*) > 0 FROM data_quality_failures WHERE \"check\" = 'no wechat accounts'")[1], "true");
    let r = govmedia(&wh, &["test", "--quarter", "2019Q3", "--models", models.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let r = govmedia(&wh, &["test", "--quarter", "2019Q3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(" 0 failed"), "{}", r.stdout);
}

#[test]
fn tests_that_fail_row_by_row_are_counted_in_one_pass_and_each_keeps_its_count_and_sample() {
    let (dir, wh) = demo_warehouse();
    let models = dir.path().join("models");
    copy_dir(&repo().join("sql"), &models);
    let spec = models.join("intermediate/int_account_windows.toml");
    let mut text = std::fs::read_to_string(&spec).unwrap();
    text.push_str(
        "\n[[tests]]\nname = \"weibo only\"\nseverity = \"warn\"\naccepted_values = { column = \"platform\", values = [\"weibo\"] }\n",
    );
    text.push_str("\n[[tests]]\nseverity = \"warn\"\nexpression_is_true = \"platform <> 'douyin'\"\n");
    text.push_str("\n[[tests]]\nseverity = \"warn\"\nexpression_is_true = \"closure_date > opened_on\"\n");
    text.push_str("\n[[tests]]\nnot_null = [\"account_id\", \"window_start_s\"]\n");
    std::fs::write(&spec, text).unwrap();
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--models", models.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let count = |q: &str| sql(&wh, q)[1].parse::<u64>().unwrap();
    let not_weibo = count("SELECT count(*) FROM account_quarter_indicators WHERE platform <> 'weibo'");
    let douyin = count("SELECT count(*) FROM account_quarter_indicators WHERE platform = 'douyin'");
    assert!(not_weibo > douyin && douyin > 0, "{not_weibo} {douyin}");
    let failing = |check: &str| {
        count(&format!("SELECT failing_rows FROM data_quality WHERE \"table\" = 'int_account_windows' AND \"check\" = '{check}'"))
    };
    let sampled = |check: &str| count(&format!("SELECT count(*) FROM data_quality_failures WHERE \"check\" = '{check}'"));
    assert_eq!(failing("weibo only"), not_weibo);
    assert_eq!(sampled("weibo only"), not_weibo.min(20));
    assert_eq!(failing("expression_is_true(platform <> ''douyin'')"), douyin);
    assert_eq!(sampled("expression_is_true(platform <> ''douyin'')"), douyin.min(20));
    // A row where the expression is NULL (no closure) passes, as in dbt.
    assert_eq!(failing("expression_is_true(closure_date > opened_on)"), 0);
    assert_eq!(failing("not_null(account_id, window_start_s)"), 0);
}

#[test]
fn a_model_file_added_by_an_analyst_is_built() {
    let (dir, wh) = demo_warehouse();
    let models = dir.path().join("models");
    copy_dir(&repo().join("sql"), &models);
    std::fs::write(
        models.join("marts/silent_accounts.sql"),
        "-- Accounts with more than four silent weeks.\nselect quarter, account_id, silent_weeks\nfrom account_quarter_indicators\nwhere silent_weeks > 4\n",
    )
    .unwrap();
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--models", models.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("| silent_accounts "), "{}", r.stdout);
    let n = sql(&wh, "SELECT count(*) FROM silent_accounts WHERE silent_weeks <= 4");
    assert_eq!(n[1], "0");
    assert!(sql(&wh, "SELECT count(*) FROM silent_accounts")[1].parse::<i64>().unwrap() > 0);
}

#[test]
fn a_rubric_with_a_wrong_key_or_type_is_a_clear_error_and_a_changed_number_flows_into_the_scores() {
    let (dir, wh) = demo_warehouse();
    let text = std::fs::read_to_string(repo().join("pipelines/rubric.toml")).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, text.replace("typo_points = 1", "typo_point = 1")).unwrap();
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--rubric", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("typo_point"), "{}", r.stderr);
    std::fs::write(&bad, text.replace("veto_score_cap = 59", "veto_score_cap = \"59\"")).unwrap();
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--rubric", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("veto_score_cap"), "{}", r.stderr);
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, text.replace("veto_score_cap = 59", "veto_score_cap = 40")).unwrap();
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--rubric", strict.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let max = sql(&wh, "SELECT max(score) FROM account_quarter_indicators WHERE veto_no_update OR veto_interaction OR veto_content");
    assert!(max[1].parse::<f64>().unwrap() <= 40.0, "{max:?}");

    // The no-update veto is worded from the rubric: 14 days read as 2周, 10 days as 10天.
    let default = sql(&wh, "SELECT DISTINCT problem FROM criticism_items WHERE category = '逾期不更新'");
    assert_eq!(default, vec!["problem", "监测时间点前2周内无更新"]);
    let ten = dir.path().join("ten.toml");
    let rule = "veto_no_update_days = 14";
    assert!(text.contains(rule));
    std::fs::write(&ten, text.replace(rule, "veto_no_update_days = 10")).unwrap();
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3", "--rubric", ten.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let problems = sql(&wh, "SELECT DISTINCT problem FROM criticism_items WHERE category = '逾期不更新'");
    assert_eq!(problems, vec!["problem", "监测时间点前10天内无更新"]);
    let reasons = sql(
        &wh,
        "SELECT count(*) AS n FROM account_quarter_indicators WHERE veto_no_update AND veto_reasons LIKE '%监测时间点前10天内无更新%'",
    );
    assert_ne!(reasons[1], "0", "{reasons:?}");
    let stale = sql(&wh, "SELECT count(*) AS n FROM account_quarter_indicators WHERE veto_reasons LIKE '%2周%'");
    assert_eq!(stale, vec!["n", "0"]);
}

#[test]
fn statements_that_change_the_warehouse_are_refused() {
    let (_dir, wh) = demo_warehouse();
    for q in ["DROP TABLE posts", "COPY posts TO '/tmp/posts.csv'", "INSERT INTO posts SELECT * FROM posts", "CREATE TABLE x AS SELECT 1"] {
        let r = govmedia(&wh, &["sql", q]);
        assert_eq!(r.code, 1, "{q}");
        assert!(r.stderr.contains("refused"), "{q}: {}", r.stderr);
    }
    let league = sql(&wh, "SELECT unit_name, score, rank FROM unit_quarter_scores ORDER BY rank");
    assert_eq!(league[0], "unit_name,score,rank");
    assert_eq!(league.len(), 41);
    // A planning error is said once, not once per error that wraps it.
    let r = govmedia(&wh, &["sql", "SELECT no_such_column FROM posts"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.matches("no_such_column").count(), 1, "{}", r.stderr);
}

#[test]
fn the_interactive_shell_describes_tables_and_runs_multi_line_statements() {
    use std::io::Write;
    let (dir, wh) = demo_warehouse();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .args(["--warehouse", wh.to_str().unwrap(), "sql", "--format", "csv"])
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\\d\n\\d unit_quarter_scores\nSELECT count(*) AS n\n  FROM registry;\nDELETE FROM posts;\n\\q\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("| criticism_items "), "{stdout}");
    assert!(stdout.contains("| criticized "), "{stdout}");
    assert!(stdout.contains("n\n111\n"), "{stdout}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(dir.path().join(".govmedia_history").exists());
}

#[test]
fn models_run_one_at_a_time_or_several_at_once_to_the_same_marts_in_the_same_order() {
    let (_dir, wh) = demo_warehouse();
    let marts = [
        "account_quarter_indicators",
        "account_weekly_posts",
        "criticism_items",
        "directive_reposts",
        "platform_quarter_summary",
        "region_quarter_scores",
        "unit_quarter_scores",
        "unit_regions",
    ];
    let built = |at_once: &str| {
        let r = govmedia_with(&wh, &["build", "--quarter", "2019Q3"], &[("GOVMEDIA_MODELS_AT_ONCE", at_once)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        // The models' table, in the order it lists them (their times left out).
        let order: Vec<String> = r.stdout.lines().filter_map(|l| l.split('|').nth(1)).map(|name| name.trim().to_string()).collect();
        let rows: Vec<(String, Vec<String>)> = marts
            .iter()
            .map(|m| {
                let mut rows = sql(&wh, &format!("SELECT * FROM {m}"));
                rows.sort();
                (m.to_string(), rows)
            })
            .collect();
        (order, rows)
    };
    let (one_order, one_rows) = built("1");
    let (many_order, many_rows) = built("8");
    assert!(one_order.len() > 30, "{one_order:?}");
    assert_eq!(one_order, many_order);
    for ((name, one), (_, many)) in one_rows.iter().zip(&many_rows) {
        assert!(one.len() > 1, "{name} has no rows");
        assert_eq!(one, many, "{name} differs");
    }
}

#[test]
fn of_two_broken_models_running_at_once_the_first_in_plan_order_is_reported() {
    let (dir, wh) = demo_warehouse();
    let models = dir.path().join("models");
    copy_dir(&repo().join("sql"), &models);
    // Both read only stg_posts, so they start together; int_a_broken comes first in the plan.
    std::fs::write(models.join("intermediate/int_a_broken.sql"), "select no_such_column from stg_posts").unwrap();
    std::fs::write(models.join("intermediate/int_b_broken.sql"), "select 1 as x from stg_posts where nonsense(").unwrap();
    for _ in 0..3 {
        let r = govmedia_with(
            &wh,
            &["build", "--quarter", "2019Q3", "--models", models.to_str().unwrap()],
            &[("GOVMEDIA_MODELS_AT_ONCE", "4")],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("int_a_broken"), "{}", r.stderr);
        assert!(!r.stderr.contains("int_b_broken"), "{}", r.stderr);
    }
}
