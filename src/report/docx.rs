//! The documents an office edits in Word or WPS and sends out: the notice (通报) laid out as a
//! 公文 per GB/T 9704-2012 as far as a draft can be, and one rectification notice (整改通知单) with
//! its reply form (整改情况反馈表) per criticised unit.
//!
//! Text from the data (unit and account names, problems, evidence) goes into runs as text: docx-rs
//! escapes it, and nothing here writes fields or markup from it.

use super::data::{Criticism, ReportData};
use super::notice::{self, Blank, Notice, Part, Seg};
use super::ReportError;
use crate::models::rubric::Rubric;
use crate::platform::zh as platform_zh;
use crate::vocab::{Category, Grade};
use docx_rs::{
    AlignmentType, DocGrid, DocGridType, Docx, FieldCharType, Footer, HeightRule, InstrPAGE, InstrText, LineSpacing, LineSpacingType,
    PageMargin, Paragraph, Run, RunFonts, Shading, SpecialIndentType, Table, TableCell, TableLayoutType, TableRow, VAlignType, WidthType,
};
use std::path::{Path, PathBuf};

/// A typeface and the faces a client uses where it is missing, in order (the font table names the
/// first of them as each face's `altName`; WPS and Word on Chinese Windows substitute the same way).
pub struct Face {
    pub name: &'static str,
    pub fallbacks: &'static [&'static str],
}

/// 标题: 方正小标宋简体.
pub const XIAOBIAOSONG: Face = Face { name: "方正小标宋简体", fallbacks: &["华文中宋", "宋体", "SimSun"] };
/// 正文: 仿宋_GB2312.
pub const FANGSONG: Face = Face { name: "仿宋_GB2312", fallbacks: &["仿宋", "FangSong"] };
/// 一级标题 (一、).
pub const HEITI: Face = Face { name: "黑体", fallbacks: &["SimHei"] };
/// 二级标题 (（一）).
pub const KAITI: Face = Face { name: "楷体_GB2312", fallbacks: &["楷体", "KaiTi"] };
/// 页码.
pub const SONGTI: Face = Face { name: "宋体", fallbacks: &["SimSun"] };
const FACES: &[&Face] = &[&XIAOBIAOSONG, &FANGSONG, &HEITI, &KAITI, &SONGTI];

/// Twentieths of a point in a millimetre.
const TWIPS_PER_MM: f64 = 1440.0 / 25.4;
fn mm(v: f64) -> i32 {
    (v * TWIPS_PER_MM).round() as i32
}

/// A4 and the GB/T 9704 margins, in millimetres: (width, height), top, bottom, left, right.
pub const PAGE_MM: (f64, f64) = (210.0, 297.0);
pub const MARGINS_MM: [f64; 4] = [37.0, 35.0, 28.0, 26.0];
/// 3号 (16 pt) body, 2号 (22 pt) title, 4号 (14 pt) page numbers; in half points.
const BODY: usize = 32;
const TITLE: usize = 44;
const PAGE_NUMBER: usize = 28;
const TABLE_TEXT: usize = 24;
/// 22 lines to the text block's height: (297 − 37 − 35) mm / 22 ≈ 28.95 pt.
fn line_pitch() -> i32 {
    ((PAGE_MM.1 - MARGINS_MM[0] - MARGINS_MM[1]) * TWIPS_PER_MM / 22.0).floor() as i32
}
/// 28 characters to the line: 156 mm / 28 is 15.79 pt, so each 16 pt character is set a little
/// closer, in twips (rounded down so that 28 always fit).
fn char_spacing() -> i32 {
    let width_twips = (PAGE_MM.0 - MARGINS_MM[2] - MARGINS_MM[3]) * TWIPS_PER_MM;
    (width_twips / 28.0 - (BODY * 10) as f64).floor() as i32
}
/// The text block's width in twips (tables are laid to it).
fn text_width() -> usize {
    mm(PAGE_MM.0 - MARGINS_MM[2] - MARGINS_MM[3]) as usize
}
/// One body character (16 pt) in twips: indents are counted in characters.
const CHAR: i32 = 320;

fn fonts(face: &Face) -> RunFonts {
    RunFonts::new().east_asia(face.name).ascii(face.name).hi_ansi(face.name).cs(face.name).hint("eastAsia")
}

fn run(face: &Face, size: usize, text: &str) -> Run {
    let r = Run::new().fonts(fonts(face)).size(size).add_text(text);
    if size == BODY {
        r.character_spacing(char_spacing())
    } else {
        r
    }
}

/// A placeholder: highlighted, so the office sees what it must fill in.
fn blank(face: &Face, size: usize, b: &Blank) -> Run {
    run(face, size, &format!("【{}】", b.label())).highlight("yellow")
}

fn segs(mut p: Paragraph, face: &Face, size: usize, bold: bool, parts: &[Seg]) -> Paragraph {
    for s in parts {
        let r = match s {
            Seg::Text(t) => run(face, size, t),
            Seg::Blank(b) => blank(face, size, b),
        };
        p = p.add_run(if bold { r.bold() } else { r });
    }
    p
}

fn exact(p: Paragraph) -> Paragraph {
    p.line_spacing(LineSpacing::new().line_rule(LineSpacingType::Exact).line(line_pitch()).before(0).after(0))
}

/// A body paragraph: 仿宋 3号, indented two characters.
fn body(parts: &[Seg]) -> Paragraph {
    segs(
        exact(Paragraph::new()).indent(None, Some(SpecialIndentType::FirstLine(2 * CHAR)), None, None).align(AlignmentType::Both),
        &FANGSONG,
        BODY,
        false,
        parts,
    )
}

fn text(s: impl Into<String>) -> Vec<Seg> {
    vec![Seg::Text(s.into())]
}

fn heading1(s: &str) -> Paragraph {
    exact(Paragraph::new())
        .indent(None, Some(SpecialIndentType::FirstLine(2 * CHAR)), None, None)
        .keep_next(true)
        .add_run(run(&HEITI, BODY, s))
}

fn heading2(s: &str) -> Paragraph {
    exact(Paragraph::new())
        .indent(None, Some(SpecialIndentType::FirstLine(2 * CHAR)), None, None)
        .keep_next(true)
        .add_run(run(&KAITI, BODY, s))
}

/// A numbered item: its number (and lead) in bold 仿宋, as a third-level heading, then its text.
fn item(n: usize, lead: &str, rest: &str) -> Paragraph {
    body(&[]).add_run(run(&FANGSONG, BODY, &format!("{n}.{lead}")).bold()).add_run(run(&FANGSONG, BODY, rest))
}

fn empty_line() -> Paragraph {
    exact(Paragraph::new())
}

fn title(parts: &[Seg]) -> Paragraph {
    let p = Paragraph::new()
        .align(AlignmentType::Center)
        .line_spacing(LineSpacing::new().line_rule(LineSpacingType::Exact).line(line_pitch() * 3 / 2).before(0).after(0));
    segs(p, &XIAOBIAOSONG, TITLE, false, parts)
}

/// The addressee line, flush left.
fn addressee(parts: &[Seg]) -> Paragraph {
    segs(exact(Paragraph::new()), &FANGSONG, BODY, false, parts)
}

/// The issuing office and the date at the end, right-aligned four characters in (GB/T 9704 7.3.5.2).
fn signature(office: &[Seg], date: &str) -> Vec<Paragraph> {
    let right = |p: Paragraph| exact(p).align(AlignmentType::Right).indent(None, None, Some(4 * CHAR), None);
    vec![
        empty_line(),
        empty_line(),
        segs(right(Paragraph::new()), &FANGSONG, BODY, false, office),
        right(Paragraph::new()).add_run(run(&FANGSONG, BODY, date)),
    ]
}

/// "— 1 —" in 宋体 4号: odd pages right, even pages left, one character in from the edge.
fn page_number(odd: bool) -> Footer {
    let face = &SONGTI;
    let num = Run::new()
        .fonts(fonts(face))
        .size(PAGE_NUMBER)
        .add_field_char(FieldCharType::Begin, false)
        .add_instr_text(InstrText::PAGE(InstrPAGE {}))
        .add_field_char(FieldCharType::Separate, false)
        .add_text("1")
        .add_field_char(FieldCharType::End, false);
    let (align, left, right) = if odd { (AlignmentType::Right, None, Some(CHAR)) } else { (AlignmentType::Left, Some(CHAR), None) };
    let p = Paragraph::new().align(align).indent(left, None, right, None).add_run(run(face, PAGE_NUMBER, "— ")).add_run(num).add_run(run(
        face,
        PAGE_NUMBER,
        " —",
    ));
    Footer::new().add_paragraph(p)
}

/// A new document on the GB/T 9704 page.
fn document() -> Docx {
    let mut d = Docx::new()
        .page_size(mm(PAGE_MM.0) as u32, mm(PAGE_MM.1) as u32)
        .page_margin(PageMargin {
            top: mm(MARGINS_MM[0]),
            bottom: mm(MARGINS_MM[1]),
            left: mm(MARGINS_MM[2]),
            right: mm(MARGINS_MM[3]),
            header: mm(15.0),
            // The page number sits about 7 mm below the text block.
            footer: mm(MARGINS_MM[1] - 7.0 - 5.6),
            gutter: 0,
        })
        .default_size(BODY)
        .default_fonts(fonts(&FANGSONG))
        .footer(page_number(true))
        .even_footer(page_number(false));
    // A line grid only: 28 characters to the line come from the body's character spacing, which
    // Word, WPS and LibreOffice all honour (LibreOffice measures a character grid against another
    // size than Word's and gives each 16 pt character two cells).
    d.document = d.document.doc_grid(DocGrid::new().grid_type(DocGridType::Lines).line_pitch(line_pitch() as usize));
    d
}

/// A table across the text block: a shaded header row, 仿宋 小四, every cell text.
fn table(header: &[&str], widths: &[usize], rows: &[Vec<String>]) -> Table {
    table_rows(header, widths, rows, None)
}

/// [`table`] whose rows are at least `min_height` twips tall (room to write in by hand).
fn table_rows(header: &[&str], widths: &[usize], rows: &[Vec<String>], min_height: Option<f32>) -> Table {
    table_kept(header, widths, rows, min_height, false)
}

/// [`table_rows`]; with `keep`, every row is kept with the next (a short table is not split across
/// pages, and its header row never stands alone at the foot of a page).
fn table_kept(header: &[&str], widths: &[usize], rows: &[Vec<String>], min_height: Option<f32>, keep: bool) -> Table {
    let total: usize = widths.iter().sum();
    let widths: Vec<usize> = widths.iter().map(|w| w * text_width() / total.max(1)).collect();
    let last = rows.len();
    let cell = |t: &str, w: usize, head: bool, row: usize| {
        let mut r = run(if head { &HEITI } else { &FANGSONG }, TABLE_TEXT, t);
        if head {
            r = r.bold();
        }
        let p = Paragraph::new()
            .align(if head { AlignmentType::Center } else { AlignmentType::Left })
            .snap_to_grid(false)
            .line_spacing(LineSpacing::new().line_rule(LineSpacingType::Auto).line(240).before(0).after(0))
            .keep_next(keep && row < last)
            .add_run(r);
        let c = TableCell::new().add_paragraph(p).width(w, WidthType::Dxa).vertical_align(VAlignType::Center);
        if head {
            c.shading(Shading::new().fill("D9D9D9"))
        } else {
            c
        }
    };
    let mut all = vec![TableRow::new(header.iter().zip(&widths).map(|(h, w)| cell(h, *w, true, 0)).collect())];
    for (i, r) in rows.iter().enumerate() {
        let row = TableRow::new(r.iter().zip(&widths).map(|(t, w)| cell(t, *w, false, i + 1)).collect()).cant_split();
        all.push(match min_height {
            Some(h) => row.row_height(h).height_rule(HeightRule::AtLeast),
            None => row,
        });
    }
    Table::new(all).set_grid(widths).layout(TableLayoutType::Fixed).width(text_width(), WidthType::Dxa)
}

/// The font table with each face's fallback as its `altName`, so Word and WPS pick a Chinese face
/// where the named one is missing. (docx-rs writes a fixed font table of three Latin faces.)
fn font_table() -> Result<Vec<u8>, std::io::Error> {
    use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
    let mut w = quick_xml::Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), Some("yes"))))?;
    let root = BytesStart::new("w:fonts").with_attributes([
        ("xmlns:w", "http://schemas.openxmlformats.org/wordprocessingml/2006/main"),
        ("xmlns:r", "http://schemas.openxmlformats.org/officeDocument/2006/relationships"),
    ]);
    w.write_event(Event::Start(root))?;
    let mut chain: Vec<(&str, Option<&str>)> = Vec::new();
    for f in FACES {
        let names: Vec<&str> = std::iter::once(f.name).chain(f.fallbacks.iter().copied()).collect();
        for (i, n) in names.iter().enumerate() {
            if !chain.iter().any(|(c, _)| c == n) {
                chain.push((n, names.get(i + 1).copied()));
            }
        }
    }
    for (name, alt) in chain {
        w.write_event(Event::Start(BytesStart::new("w:font").with_attributes([("w:name", name)])))?;
        if let Some(alt) = alt {
            w.write_event(Event::Empty(BytesStart::new("w:altName").with_attributes([("w:val", alt)])))?;
        }
        // GB2312 character set: clients choose a Chinese face for a missing one.
        w.write_event(Event::Empty(BytesStart::new("w:charset").with_attributes([("w:val", "86")])))?;
        w.write_event(Event::End(BytesEnd::new("w:font")))?;
    }
    w.write_event(Event::End(BytesEnd::new("w:fonts")))?;
    Ok(w.into_inner())
}

fn save(d: Docx, path: &Path) -> Result<(), ReportError> {
    let failed = |reason: String| ReportError::Docx { path: path.to_path_buf(), reason };
    let mut x = d.build();
    x.font_table = font_table().map_err(|e| failed(format!("cannot write the font table: {e}")))?;
    let file = std::fs::File::create(path).map_err(|source| ReportError::Write { path: path.to_path_buf(), source })?;
    x.pack(std::io::BufWriter::new(file)).map_err(|e| failed(e.to_string()))
}

/// The notice (通报) as a DOCX.
pub fn write_notice(d: &ReportData, n: &Notice, path: &Path) -> Result<(), ReportError> {
    let mut doc = document();
    let mut paras: Vec<Paragraph> = Vec::new();
    let mut tables: Vec<(Paragraph, Paragraph, Table)> = Vec::new();
    let number = match &n.number {
        Some(s) => text(s.clone()),
        None => vec![Seg::Blank(Blank::Number)],
    };
    paras.push(segs(exact(Paragraph::new()).align(AlignmentType::Center), &FANGSONG, BODY, false, &number));
    paras.push(empty_line());
    paras.push(title(&n.title()));
    paras.push(empty_line());
    let mut to = n.addressee_segs();
    to.push(Seg::Text("：".into()));
    paras.push(addressee(&to));
    paras.push(body(&text(notice::opening(d, n))));
    paras.push(heading1("一、总体情况"));
    paras.push(body(&text(notice::overview(d))));
    let tops = notice::top_units(d);
    if !tops.is_empty() {
        paras.push(body(&text(format!("{}等单位政务新媒体运维管理规范，综合得分位居前列。", tops.join("、")))));
    }
    paras.push(heading1("二、存在问题"));
    let groups = notice::problems_by_category(d);
    if groups.is_empty() {
        paras.push(body(&text("本季度检查未发现需通报的问题。")));
    }
    for (i, (cat, items)) in groups.iter().enumerate() {
        paras.push(heading2(&format!("（{}）{cat}", notice::numeral(i))));
        for (j, c) in items.iter().enumerate() {
            paras.push(item(j + 1, &format!("{}：", notice::who_plain(c)), &format!("{}（{}）。", c.problem, c.evidence)));
        }
    }
    let criticised = notice::criticised_units(d);
    if !criticised.is_empty() {
        paras.push(body(&text(format!("对{}予以通报批评。", criticised.join("、")))));
    }
    paras.push(heading1("三、工作要求"));
    for p in n.requirements_paragraphs() {
        paras.push(body(&p));
    }
    paras.push(body(&n.deadline_sentence()));
    paras.push(empty_line());
    let annexes = notice::annexes(d);
    for (i, a) in annexes.iter().enumerate() {
        let lead = if i == 0 { "附件：" } else { "　　　" };
        paras.push(body(&text(format!("{lead}{}.{}", i + 1, a.title))));
    }
    paras.extend(signature(&n.office_segs(), &n.date_zh()));
    for (i, a) in annexes.into_iter().enumerate() {
        let head = exact(Paragraph::new()).page_break_before(true).add_run(run(&HEITI, BODY, &format!("附件{}", i + 1)));
        let t = title(&text(a.title.clone()));
        let header: Vec<&str> = a.header.to_vec();
        tables.push((head, t, table(&header, a.widths, &a.rows)));
    }
    for p in paras {
        doc = doc.add_paragraph(p);
    }
    for (head, t, tab) in tables {
        doc = doc.add_paragraph(head).add_paragraph(t).add_paragraph(empty_line()).add_table(tab);
    }
    save(doc, path)
}

/// A notice made of [`Part`]s (a city's or a province's notice, a region's rectification notice)
/// as a DOCX on the same page, in the same faces and sizes as the district's notice.
pub fn write_parts(parts: &[Part], path: &Path) -> Result<(), ReportError> {
    let mut doc = document();
    // Items are numbered from 1 under each heading, as the district's notice numbers its problems.
    let mut item_no = 0;
    for (i, p) in parts.iter().enumerate() {
        // A paragraph that introduces a table stays on the table's page.
        let before_table = matches!(parts.get(i + 1), Some(Part::Table { .. }));
        match p {
            Part::Head { number, title: t, addressee: to } => {
                let number = match number {
                    Some(s) => text(s.clone()),
                    None => vec![Seg::Blank(Blank::Number)],
                };
                doc = doc
                    .add_paragraph(segs(exact(Paragraph::new()).align(AlignmentType::Center), &FANGSONG, BODY, false, &number))
                    .add_paragraph(empty_line())
                    .add_paragraph(title(t))
                    .add_paragraph(empty_line());
                let mut to = to.clone();
                to.push(Seg::Text("：".into()));
                doc = doc.add_paragraph(addressee(&to));
            }
            Part::Title { title: t, addressee: to } => {
                let mut to = to.clone();
                to.push(Seg::Text("：".into()));
                doc = doc.add_paragraph(title(t)).add_paragraph(empty_line()).add_paragraph(addressee(&to));
            }
            Part::Heading1(h) => {
                item_no = 0;
                doc = doc.add_paragraph(heading1(h));
            }
            Part::Heading2(h) => {
                item_no = 0;
                doc = doc.add_paragraph(heading2(h));
            }
            Part::Para(p) => doc = doc.add_paragraph(body(p).keep_next(before_table)),
            Part::Item { lead, rest } => {
                item_no += 1;
                doc = doc.add_paragraph(item(item_no, lead, rest));
            }
            Part::Table { header, widths, rows } => {
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                // Short tables here (the regions ranked, a region's worst units): kept on one page.
                doc = doc.add_table(table_kept(&header, widths, rows, None, true)).add_paragraph(empty_line());
            }
            Part::Annexes(lines) => {
                doc = doc.add_paragraph(empty_line());
                for (i, a) in lines.iter().enumerate() {
                    let lead = if i == 0 { "附件：" } else { "　　　" };
                    doc = doc.add_paragraph(body(&text(format!("{lead}{}.{a}", i + 1))));
                }
            }
            Part::Signature { office, date } => {
                for p in signature(office, date) {
                    doc = doc.add_paragraph(p);
                }
            }
        }
    }
    save(doc, path)
}

/// The rule a category of problem breaks, as the notice cites it. The national indicators are
/// quoted as they are written; the local rules are worded from the rubric the quarter was built
/// with (its reposting deadline, its passing score).
pub fn rule(c: &Criticism, rubric: &Rubric) -> String {
    let Some(category) = Category::from_label(&c.category) else { return "政务新媒体管理有关规定".into() };
    match category {
        Category::NoUpdate => "《政府网站与政务新媒体检查指标》单项否决指标：监测时间点前2周内无更新；政务新媒体每周至少发布1次内容".into(),
        Category::Content => "《政府网站与政务新媒体检查指标》单项否决指标：出现严重表述错误；确保发布内容准确无误".into(),
        Category::Interaction => {
            "《政府网站与政务新媒体检查指标》单项否决指标：未提供有效互动功能或互动回应差；回应群众关切，互动回应及时".into()
        }
        Category::Management if c.account_id.is_none() => "每个单位在同类平台只允许开设一个政务新媒体账号".into(),
        Category::Management => "政务新媒体开设、变更、关停、注销应备案，并向社会发布公告".into(),
        Category::Directives => format!("对上级政务新媒体发布的重要政务信息，要在{}小时内转载转发", rubric.directive_deadline_hours()),
        Category::FailingGrade => format!("季度综合评分低于{}分（{}）", rubric.grades.pass, Grade::Fail.label()),
    }
}

/// A unit's problems: its `criticism_items` rows, in the notice's category order.
pub fn unit_problems<'a>(d: &'a ReportData, unit: &str) -> Vec<&'a Criticism> {
    let mut out: Vec<&Criticism> = d.criticism.iter().filter(|c| c.unit_name.as_deref() == Some(unit)).collect();
    out.sort_by_key(|c| Category::from_label(&c.category).map(Category::position).unwrap_or(usize::MAX));
    out
}

/// Where a problem was found: the platform and account, or the unit as a whole.
fn place(c: &Criticism) -> String {
    match (&c.platform, &c.account_name, &c.account_id) {
        (Some(p), Some(name), _) => format!("{}“{}”", platform_zh(p), name),
        (Some(p), None, Some(id)) => format!("{}账号{}", platform_zh(p), id),
        (Some(p), None, None) => platform_zh(p).to_string(),
        _ => "本单位".into(),
    }
}

/// One unit's rectification notice and reply form, as paragraphs and tables in order.
fn unit_pages(mut doc: Docx, d: &ReportData, n: &Notice, unit: &str, first: bool) -> Docx {
    let problems = unit_problems(d, unit);
    let mut t = title(&text("政务新媒体问题整改通知单"));
    if !first {
        t = t.page_break_before(true);
    }
    doc = doc.add_paragraph(t).add_paragraph(empty_line());
    doc = doc.add_paragraph(addressee(&text(format!("{unit}："))));
    let mut open = text(format!("经{}政务新媒体检查，你单位存在以下{}个问题，", n.quarter_zh, problems.len()));
    open.push(Seg::Text("现予通知，请对照问题逐项整改。".into()));
    doc = doc.add_paragraph(body(&open));
    let rows: Vec<Vec<String>> = problems
        .iter()
        .enumerate()
        .map(|(i, c)| vec![(i + 1).to_string(), place(c), c.category.clone(), c.problem.clone(), c.evidence.clone(), rule(c, &d.rubric)])
        .collect();
    doc = doc.add_table(table(&["序号", "平台及账号", "问题类别", "问题", "检查依据", "违反规定"], &[7, 15, 12, 17, 20, 29], &rows));
    doc = doc.add_paragraph(empty_line());
    doc = doc.add_paragraph(body(&n.deadline_sentence()));
    for p in signature(&n.office_segs(), &n.date_zh()) {
        doc = doc.add_paragraph(p);
    }
    // The reply form, on a page of its own.
    doc = doc.add_paragraph(title(&text("整改情况反馈表")).page_break_before(true)).add_paragraph(empty_line());
    doc = doc.add_paragraph(addressee(&text(format!("单位名称（盖章）：{unit}"))));
    doc = doc.add_paragraph(addressee(&text("填报人：　　　　　　　联系电话：")));
    let rows: Vec<Vec<String>> = problems
        .iter()
        .enumerate()
        .map(|(i, c)| vec![(i + 1).to_string(), format!("{}：{}", place(c), c.problem), String::new(), String::new(), String::new()])
        .collect();
    doc =
        doc.add_table(table_rows(&["序号", "问题", "整改措施", "完成时间", "责任人"], &[7, 30, 35, 15, 13], &rows, Some(mm(25.0) as f32)));
    doc = doc.add_paragraph(empty_line());
    doc.add_paragraph(addressee(&text("单位负责人（签字）：　　　　　　　　　　　年　　月　　日")))
}

/// A file name from a unit name: the name as it reads, less what a file system refuses or reads as
/// a path.
pub fn file_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') { '_' } else { c })
        .collect();
    out = out.trim().trim_start_matches('.').to_string();
    if out.chars().count() > 60 {
        out = out.chars().take(60).collect();
    }
    if out.is_empty() {
        out = "单位".into();
    }
    out
}

/// One rectification notice per criticised unit in `dir`, numbered in league-table order, and
/// all of them in one file to print. Returns the files written.
pub fn write_rectifications(d: &ReportData, n: &Notice, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_rectifications_for(d, n, dir, &notice::criticised_units(d))
}

/// [`write_rectifications`] for the `units` given, in that order (a city's or a province's notice
/// sends one to each unit it names, not to every criticised unit).
pub fn write_rectifications_for(d: &ReportData, n: &Notice, dir: &Path, units: &[String]) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir { path: dir.to_path_buf(), source })?;
    let mut files = Vec::new();
    let mut all = document();
    for (i, unit) in units.iter().enumerate() {
        let path = dir.join(format!("{:02}_{}_整改通知单.docx", i + 1, file_name(unit)));
        save(unit_pages(document(), d, n, unit, true), &path)?;
        files.push(path);
        all = unit_pages(all, d, n, unit, i == 0);
    }
    if !units.is_empty() {
        let path = dir.join(format!("{}_整改通知单_全部.docx", d.quarter));
        save(all, &path)?;
        files.push(path);
    }
    Ok(files)
}

/// Converts DOCX files to PDF beside them with LibreOffice. `Err` names the package when
/// `soffice` is not installed.
pub fn to_pdf(files: &[PathBuf]) -> Result<Vec<PathBuf>, ReportError> {
    let soffice = which("soffice").ok_or(ReportError::NoSoffice)?;
    let mut out = Vec::new();
    // One profile per run: a user's open LibreOffice (or another run) does not block the conversion.
    let profile = std::env::temp_dir().join(format!("govmedia-soffice-{}", std::process::id()));
    let by_dir = {
        let mut m: std::collections::BTreeMap<PathBuf, Vec<&PathBuf>> = Default::default();
        for f in files {
            m.entry(f.parent().map(Path::to_path_buf).unwrap_or_default()).or_default().push(f);
        }
        m
    };
    for (dir, group) in by_dir {
        for f in &group {
            // A PDF left from an earlier run must not pass for this one's.
            let _ = std::fs::remove_file(f.with_extension("pdf"));
        }
        let status = std::process::Command::new(&soffice)
            .arg(format!("-env:UserInstallation=file://{}", profile.display()))
            .args(["--headless", "--norestore", "--convert-to", "pdf", "--outdir"])
            .arg(&dir)
            .args(&group)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|source| ReportError::RunSoffice { program: soffice.clone(), source })?;
        for f in group {
            let pdf = f.with_extension("pdf");
            if !pdf.is_file() {
                let _ = std::fs::remove_dir_all(&profile);
                return Err(ReportError::Pdf { path: f.clone(), stderr: String::from_utf8_lossy(&status.stderr).trim().to_string() });
            }
            out.push(pdf);
        }
    }
    let _ = std::fs::remove_dir_all(&profile);
    Ok(out)
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}
