//! One vocabulary: a rubric with other grade thresholds and another reposting deadline changes the
//! grades, the pass rates, the directive verdicts, the score chart's bands and the rules the
//! documents cite alike, and the report is told the rubric through the pipeline file or --rubric.

use crate::common::*;
use std::io::Read;
use std::path::Path;

fn docx_text(path: &Path) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut xml = String::new();
    zip.by_name("word/document.xml").unwrap().read_to_string(&mut xml).unwrap();
    xml
}

fn svg_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_rubric_with_other_grades_and_deadline_reaches_the_marts_charts_and_documents() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let wh = dir.path().join("wh");
    assert_eq!(govmedia(&wh, &["generate", "--out", demo.to_str().unwrap(), "--seed", "3"]).code, 0);

    // Directives without a deadline of their own take the rubric's.
    let directives = demo.join("directives/转载要求.csv");
    let text = std::fs::read_to_string(&directives).unwrap();
    let blanked = text.replace(",12,", ",,");
    assert_ne!(blanked, text, "the demo's directives give 12 hours");
    std::fs::write(&directives, blanked).unwrap();

    let rubric = std::fs::read_to_string(repo().join("pipelines/rubric.toml")).unwrap();
    let mut strict = rubric.clone();
    for (from, to) in [
        ("excellent = 90", "excellent = 95"),
        ("good = 80", "good = 85"),
        ("pass = 60", "pass = 70"),
        ("directive_deadline_hours = 12", "directive_deadline_hours = 8"),
    ] {
        assert!(strict.contains(from), "{from}");
        strict = strict.replace(from, to);
    }
    std::fs::write(demo.join("strict.toml"), strict).unwrap();
    let pipeline = demo.join("pipeline.toml");
    let spec = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, format!("rubric = \"strict.toml\"\n{spec}")).unwrap();
    let r = govmedia(&wh, &["run", pipeline.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // The marts: the deadline, grades on the rubric's thresholds, failures counted by grade.
    assert_eq!(sql(&wh, "SELECT DISTINCT deadline_hours FROM directive_reposts"), vec!["deadline_hours", "8"]);
    let misgraded = sql(
        &wh,
        "SELECT count(*) AS n FROM account_quarter_indicators WHERE (grade = '不合格') <> (round(score + 1e-9, 4) < 70) \
         OR (grade = '优秀') <> (round(score + 1e-9, 4) >= 95)",
    );
    assert_eq!(misgraded, vec!["n", "0"]);
    let between = sql(&wh, "SELECT count(*) AS n FROM account_quarter_indicators WHERE score >= 60 AND score < 70 AND grade = '不合格'");
    assert_ne!(between[1], "0", "the demo has accounts scoring 60–70, failing under this rubric");
    let failed = sql(&wh, "SELECT accounts_failed FROM platform_quarter_summary WHERE platform = 'all'");
    let counted = sql(&wh, "SELECT count(*) AS accounts_failed FROM account_quarter_indicators WHERE grade = '不合格'");
    assert_eq!(failed, counted);

    // The report of `run` was told the pipeline's rubric: bands on its thresholds, its deadline.
    let charts = demo.join("reports/2019Q3/charts");
    let scores = svg_text(&charts.join("score_distribution.svg"));
    for band in ["0–69分", "70–79分", "80–84分", "85–94分", "95–100分"] {
        assert!(scores.contains(band), "{band} missing from the score chart");
    }
    assert!(!scores.contains("60–69分"));
    assert!(svg_text(&charts.join("directive_delays.svg")).contains("8小时时限"));
    let all = demo.join("reports/2019Q3/整改通知/2019Q3_整改通知单_全部.docx");
    let rectifications = docx_text(&all);
    assert!(rectifications.contains("季度综合评分低于70分（不合格）"), "the failing-grade rule cites the rubric's pass mark");

    // `govmedia report` takes the rubric with --rubric; without it, the built-in one.
    for (args, band) in [(vec![], "60–69分"), (vec!["--rubric", "strict.toml"], "70–79分")] {
        let out = dir.path().join(format!("out{}", args.len()));
        let mut a = vec!["report", "--quarter", "2019Q3", "--out", out.to_str().unwrap()];
        let strict_path = demo.join("strict.toml");
        let strict_arg = strict_path.to_str().unwrap();
        a.extend(args.iter().map(|x| if *x == "strict.toml" { strict_arg } else { *x }));
        let r = govmedia(&wh, &a);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(svg_text(&out.join("2019Q3/charts/score_distribution.svg")).contains(band), "{a:?}: {band}");
    }
    let r = govmedia(&wh, &["report", "--quarter", "2019Q3", "--rubric", dir.path().join("none.toml").to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("none.toml"), "{}", r.stderr);
}
