//! The documents an office sends out, opened with real clients: LibreOffice converts the DOCX
//! files to PDF and poppler reads the PDFs back; the page and the rectification notices are
//! read from the DOCX parts themselves.

use crate::common::*;
use std::io::Read;
use std::path::{Path, PathBuf};

fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// LibreOffice and poppler, or None (a skip outside CI; CI installs both).
pub(crate) fn clients() -> Option<()> {
    if tool("soffice").is_some() && tool("pdftotext").is_some() {
        return Some(());
    }
    assert!(std::env::var("CI").is_err(), "CI must install libreoffice-writer-nogui and poppler-utils");
    eprintln!("skipped: no soffice or pdftotext");
    None
}

/// One part of a DOCX (a ZIP), as text.
fn part(docx: &Path, name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(docx).unwrap()).unwrap();
    let mut s = String::new();
    z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
    s
}

/// An attribute's value in the first element named `tag` (e.g. `w:pgMar`).
fn attr(xml: &str, tag: &str, name: &str) -> i64 {
    let start = xml.find(&format!("<{tag} ")).unwrap_or_else(|| panic!("no {tag}"));
    let el = &xml[start..start + xml[start..].find('>').unwrap()];
    let at = el.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("{tag} has no {name}: {el}")) + name.len() + 3;
    el[at..at + el[at..].find('"').unwrap()].parse().unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&#39;", "'").replace("&amp;", "&")
}

/// The text of every `<w:t>` in a stretch of WordprocessingML, joined.
fn texts(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<w:t") {
        rest = &rest[i + 4..];
        // `<w:t>` or `<w:t xml:space=…>`, not `<w:tbl>`, `<w:tc>`, `<w:tr>`…
        if !(rest.starts_with('>') || rest.starts_with(' ')) {
            continue;
        }
        let open = rest.find('>').unwrap();
        if rest[..open].ends_with('/') {
            continue;
        }
        let close = rest.find("</w:t>").unwrap();
        out.push_str(&unescape(&rest[open + 1..close]));
        rest = &rest[close..];
    }
    out
}

/// The tables of a document: rows of cell texts.
fn tables(xml: &str) -> Vec<Vec<Vec<String>>> {
    xml.split("<w:tbl>")
        .skip(1)
        .map(|t| {
            let t = &t[..t.find("</w:tbl>").unwrap()];
            t.split("<w:tr>").skip(1).map(|r| r.split("<w:tc>").skip(1).map(texts).collect()).collect()
        })
        .collect()
}

pub(crate) fn pdftotext(pdf: &Path) -> String {
    let out = std::process::Command::new("pdftotext").arg(pdf).arg("-").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Lines wrap anywhere in Chinese text: compare without whitespace.
    String::from_utf8_lossy(&out.stdout).chars().filter(|c| !c.is_whitespace()).collect()
}

fn csv_rows(lines: &[String]) -> Vec<Vec<String>> {
    let text = lines.join("\n");
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
}

#[test]
fn the_notice_and_rectification_notices_open_in_libreoffice_as_laid_out() {
    let Some(()) = clients() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (demo, wh) = (dir.path().join("demo"), dir.path().join("wh"));
    let r = govmedia(&wh, &["generate", "--out", demo.to_str().unwrap(), "--seed", "7"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pipeline = demo.join("pipeline.toml");
    let r = govmedia(&wh, &["run", pipeline.to_str().unwrap(), "--pdf"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let q = demo.join("reports/2019Q3");

    // The page: A4 and the GB/T 9704 margins, read from the DOCX (twips, ±1 for rounding).
    let notice = q.join("2019Q3_通报.docx");
    let doc = part(&notice, "word/document.xml");
    let twips = |mm: f64| (mm * 1440.0 / 25.4).round() as i64;
    for (tag, name, mm) in [
        ("w:pgSz", "w:w", 210.0),
        ("w:pgSz", "w:h", 297.0),
        ("w:pgMar", "w:top", 37.0),
        ("w:pgMar", "w:bottom", 35.0),
        ("w:pgMar", "w:left", 28.0),
        ("w:pgMar", "w:right", 26.0),
    ] {
        let v = attr(&doc, tag, name);
        assert!((v - twips(mm)).abs() <= 1, "{tag} {name} = {v}, want {mm} mm");
    }
    // 22 lines to the page, the 2号 title, the 3号 仿宋 body, 黑体 and 楷体 headings, page numbers
    // on both odd and even pages, and the faces' fallbacks in the font table.
    assert_eq!(attr(&doc, "w:docGrid", "w:linePitch"), (225.0 * 1440.0 / 25.4 / 22.0_f64).floor() as i64);
    for needle in [
        "w:val=\"44\"",
        "w:eastAsia=\"方正小标宋简体\"",
        "w:eastAsia=\"仿宋_GB2312\"",
        "w:eastAsia=\"黑体\"",
        "w:eastAsia=\"楷体_GB2312\"",
        "w:highlight",
    ] {
        // The demo's [notice] fills every value but the date: no placeholder is left…
        if needle == "w:highlight" {
            assert!(!doc.contains(needle), "a placeholder is left in the demo's notice");
        } else {
            assert!(doc.contains(needle), "the notice lacks {needle}");
        }
    }
    assert!(part(&notice, "word/settings.xml").contains("w:evenAndOddHeaders"));
    let fonts = part(&notice, "word/fontTable.xml");
    for (face, alt) in [("仿宋_GB2312", "仿宋"), ("仿宋", "FangSong"), ("楷体_GB2312", "楷体"), ("黑体", "SimHei")] {
        assert!(fonts.contains(&format!("<w:font w:name=\"{face}\"><w:altName w:val=\"{alt}\"/>")), "{face} → {alt}: {fonts}");
    }

    // LibreOffice's PDF: A4, the title, the office, every criticised unit and the attachments,
    // the quarter as people write it.
    let criticised: Vec<String> =
        sql(&wh, "SELECT unit_name FROM unit_quarter_scores WHERE quarter = '2019Q3' AND criticized ORDER BY rank, unit_name")[1..]
            .to_vec();
    assert!(criticised.len() >= 3, "{criticised:?}");
    let info = std::process::Command::new("pdfinfo").arg(q.join("2019Q3_通报.pdf")).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("595.") && info.contains("841.") && info.contains("(A4)"), "{info}");
    let text = pdftotext(&q.join("2019Q3_通报.pdf"));
    for want in [
        "关于青禾区2019年第三季度政务新媒体检查情况的通报",
        "青政办〔2019〕30号",
        "各街道办事处、镇人民政府，区直各单位：",
        "一、总体情况",
        "二、存在问题",
        "三、工作要求",
        "2019年10月31日前完成整改",
        "青禾区人民政府办公室",
        "附件：1.单项否决问题清单",
        "附件1",
        "单项否决问题清单",
        "附件2",
        "扣分问题清单",
        "附件3",
        "单位综合得分排名",
        "—1—",
        "—2—",
    ] {
        assert!(text.contains(want), "the notice's PDF lacks {want}:\n{text}");
    }
    assert!(!text.contains("2019Q3"), "human text names the quarter as 2019年第三季度");
    for unit in &criticised {
        assert!(text.contains(unit.as_str()), "the notice's PDF lacks {unit}");
    }

    // One rectification notice per criticised unit, listing exactly its criticism_items rows.
    let items = csv_rows(&sql(
        &wh,
        "SELECT unit_name, category, problem, evidence FROM criticism_items WHERE quarter = '2019Q3' AND unit_name IS NOT NULL",
    ));
    let folder = q.join("整改通知");
    for (i, unit) in criticised.iter().enumerate() {
        let file = folder.join(format!("{:02}_{unit}_整改通知单.docx", i + 1));
        let xml = part(&file, "word/document.xml");
        assert!(texts(&xml).contains(&format!("{unit}：")), "{} is not addressed to {unit}", file.display());
        let t = tables(&xml);
        assert_eq!(t.len(), 2, "the problems and the reply form");
        let mut listed: Vec<(String, String, String)> = t[0][1..].iter().map(|r| (r[2].clone(), r[3].clone(), r[4].clone())).collect();
        let mut want: Vec<(String, String, String)> =
            items.iter().filter(|r| &r[0] == unit).map(|r| (r[1].clone(), r[2].clone(), r[3].clone())).collect();
        listed.sort();
        want.sort();
        assert!(!want.is_empty());
        assert_eq!(listed, want, "{unit}");
        // Every problem cites a rule, and the reply form has a row to fill in for each.
        assert!(t[0][1..].iter().all(|r| r[5].len() > 10), "{:?}", t[0]);
        assert_eq!(t[1].len(), want.len() + 1);
        assert_eq!(t[1][0], vec!["序号", "问题", "整改措施", "完成时间", "责任人"]);
        assert!(t[1][1..].iter().all(|r| r[2].is_empty() && r[3].is_empty() && r[4].is_empty()), "the reply form is left blank");
        let pdf = pdftotext(&file.with_extension("pdf"));
        assert!(pdf.contains(unit.as_str()) && pdf.contains("整改情况反馈表") && pdf.contains("2019年10月31日"), "{pdf}");
    }
    let files = std::fs::read_dir(&folder).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "docx")).count();
    assert_eq!(files, criticised.len() + 1, "one per unit and the file of all of them");
    let all = pdftotext(&folder.join("2019Q3_整改通知单_全部.pdf"));
    assert_eq!(all.matches("政务新媒体问题整改通知单").count(), criticised.len());

    // Without LibreOffice: one line naming the package, exit 1, the other outputs written.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(tool("fc-match").expect("fc-match"), bin.join("fc-match")).unwrap();
    let out = dir.path().join("no-soffice");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_govmedia"))
        .args(["--warehouse", wh.to_str().unwrap(), "report", "--quarter", "2019Q3", "--pdf", "--out", out.to_str().unwrap()])
        .env("PATH", &bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("libreoffice-writer")).count(), 1, "{stderr}");
    for f in ["2019Q3_通报.docx", "2019Q3_通报.md", "index.html", "charts/weekly_heatmap.png"] {
        assert!(out.join("2019Q3").join(f).is_file(), "{f} was not written");
    }
    assert!(!out.join("2019Q3/2019Q3_通报.pdf").exists());
    // `report` alone has no [notice] table: the notice keeps highlighted placeholders, and names
    // no office.
    let doc = part(&out.join("2019Q3/2019Q3_通报.docx"), "word/document.xml");
    let words = texts(&doc);
    for blank in ["【发文机关】", "【地区】", "【主送机关】", "【文号】", "【待填写：工作要求】", "【整改期限"]
    {
        assert!(words.contains(blank), "{blank} is missing");
    }
    assert!(doc.contains("w:highlight") && words.contains("报送【发文机关】。"), "{words}");
}

#[test]
fn a_bad_notice_table_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    for (table, key) in [
        ("office = 3", "office"),
        ("offices = \"x\"", "offices"),
        ("deadline = \"next month\"", "deadline"),
        ("date = 2019-10-08", "date"),
        ("requirements = [\"a\"]", "requirements"),
    ] {
        let file = dir.path().join("p.toml");
        std::fs::write(&file, format!("quarter = \"2019Q3\"\n\n[notice]\n{table}\n")).unwrap();
        let r = govmedia(&wh, &["run", file.to_str().unwrap(), "--stages", "report"]);
        assert_eq!(r.code, 1, "{table}: {}", r.stderr);
        assert!(r.stderr.contains(key) && r.stderr.contains("p.toml"), "{table}: {}", r.stderr);
    }
}

const REGISTRY_HEADER: &str = "单位名称,单位类别,平台,账号名称,账号ID,开设日期,状态,互动功能,运维责任人\n";

/// Unit and account names from an export reach the DOCX as text: never a field, a formula, markup
/// or a path.
#[test]
fn names_reach_the_docx_as_text_never_as_fields_or_paths() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let units = ["{ PAGE }", "=HYPERLINK(\"http://x\")", "<w:fldSimple w:instr=\"DATE\"/>", "../../逃逸/单位"];
    let mut registry = String::from(REGISTRY_HEADER);
    for (i, u) in units.iter().enumerate() {
        let quoted = format!("\"{}\"", u.replace('"', "\"\""));
        registry.push_str(&format!("{quoted},街道,今日头条,\"<w:instrText>DATE</w:instrText>{i}\",tt_{i},2015-01-01,正常,是,x\n"));
    }
    let path = dir.path().join("registry.csv");
    std::fs::write(&path, registry).unwrap();
    assert_eq!(govmedia(&wh, &["ingest", "registry", "canonical", path.to_str().unwrap()]).code, 0);
    let r = govmedia(&wh, &["build", "--quarter", "2019Q3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.path().join("report");
    std::fs::create_dir_all(&out).unwrap();
    let whs = govmedia::warehouse::Warehouse::open(wh.to_str().unwrap()).unwrap();
    rt().block_on(async {
        let ctx = govmedia::engine::warehouse_session(&whs).await.unwrap();
        let d = govmedia::report::data::load(&ctx, "2019Q3", &Default::default()).await.unwrap();
        // The heat map's weeks: 13 whole ones from Monday 07-01, and 09-30 alone (a partial week).
        let monday = |m, d| chrono::NaiveDate::from_ymd_opt(2019, m, d).unwrap();
        assert_eq!(d.weeks.len(), 14);
        assert_eq!((d.weeks[0], d.weeks[13]), ((monday(7, 1), 7), (monday(9, 30), 1)));
        assert!(d.weeks[..13].iter().all(|w| w.1 == 7));
        govmedia::report::tables_and_notice(&d, &out).unwrap();
    });
    let mut docs = vec![out.join("2019Q3_通报.docx")];
    let folder = out.join("整改通知");
    let names: Vec<PathBuf> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    // Every unit is vetoed (no posts): a file each, all in the folder, and the file of all of them.
    assert_eq!(names.len(), units.len() + 1, "{names:?}");
    assert!(names.iter().all(|p| p.parent() == Some(folder.as_path())));
    assert!(names.iter().any(|p| p.file_name().unwrap().to_string_lossy().ends_with("_.._逃逸_单位_整改通知单.docx")), "{names:?}");
    docs.extend(names);
    for docx in &docs {
        let xml = part(docx, "word/document.xml");
        // The body has no field at all (page numbers live in the footers).
        for field in ["<w:fldChar", "<w:instrText", "<w:fldSimple"] {
            assert!(!xml.contains(field), "{}: a field in the body", docx.display());
        }
        let words = texts(&xml);
        assert!(words.contains("<w:instrText>DATE</w:instrText>"), "{}", docx.display());
        // The notice and the file of all notices name every unit as written.
        let name = docx.file_name().unwrap().to_string_lossy();
        if name.contains("通报") || name.contains("全部") {
            for u in units {
                assert!(words.contains(u), "{}: {u} is not shown as written", docx.display());
            }
        }
    }
}
