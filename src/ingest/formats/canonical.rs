//! The canonical templates (SPEC §3): Chinese headers with English aliases, one table per kind,
//! as CSV (UTF-8 or GBK) or XLSX.

use super::{map_rows, Headers};
use crate::ingest::columns::{Cell, TableBuilder};
use crate::ingest::fields::{self, *};
use crate::ingest::read::{
    clean, clean_cell, decode_text, has_control, oversized_cell, read_sheet, sniff, text_body, utf8, LineCounter, Loc, ReadError, Sniffed,
    HEADER_ROWS,
};
use crate::ingest::{ColumnarFile, FileContext, FileError, Format, Kind, ParsedRow};
use crate::table::{Row, Value};

pub struct Canonical;

#[derive(Clone, Copy)]
enum Parse {
    Text,
    RequiredText,
    Platform,
    Code(&'static [(&'static str, &'static str)]),
    YesNo,
    Count,
    Instant,
    RequiredInstant,
    Date,
    RequiredDate,
    Month,
    /// Stored only as the warehouse's keyed hash.
    Author,
    Units,
    CalendarKind,
}

/// One column of a template: canonical column, header names (Chinese first, then the alias),
/// whether the header must be present, and how a cell is read.
struct Field {
    column: &'static str,
    headers: &'static [&'static str],
    required: bool,
    parse: Parse,
}

const fn f(column: &'static str, headers: &'static [&'static str], required: bool, parse: Parse) -> Field {
    Field { column, headers, required, parse }
}

use Parse::*;

const REGISTRY: &[Field] = &[
    f("unit_name", &["单位名称", "unit_name"], true, RequiredText),
    f("unit_type", &["单位类别", "unit_type"], false, Text),
    f("platform", &["平台", "platform"], true, Platform),
    f("account_name", &["账号名称", "account_name"], false, Text),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("opened_on", &["开设日期", "opened_on"], false, Date),
    f("state", &["状态", "state"], false, Code(STATES)),
    f("interaction_enabled", &["互动功能", "interaction_enabled"], false, YesNo),
    f("maintainer", &["运维责任人", "maintainer"], false, Text),
    // The unit's region, optional: the 地市 and 区县 columns offices' 台账 carry.
    f("city", &["所属市", "city", "所属地市", "地市"], false, Text),
    f("district", &["所属区县", "district", "所属县区", "区县"], false, Text),
];

const FILINGS: &[Field] = &[
    f("unit_name", &["单位名称", "unit_name"], false, Text),
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("account_name", &["账号名称", "account_name"], false, Text),
    f("action", &["事项", "action"], true, Code(ACTIONS)),
    f("action_date", &["事项日期", "action_date"], true, RequiredDate),
    f("filed_on", &["备案日期", "filed_on"], true, Date),
    f("announced_on", &["公告日期", "announced_on"], false, Date),
];

const POSTS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("post_id", &["发布ID", "post_id"], true, RequiredText),
    f("published_at", &["发布时间", "published_at"], true, RequiredInstant),
    f("title", &["标题", "title"], false, Text),
    f("kind", &["类型", "kind"], false, Code(POST_KINDS)),
    f("repost_of", &["转发源ID", "repost_of"], false, Text),
    f("position", &["位置", "position"], false, Count),
    f("reads", &["阅读数", "reads"], false, Count),
    f("wows", &["在看数", "wows"], false, Count),
    f("likes", &["点赞数", "likes"], false, Count),
    f("comments", &["评论数", "comments"], false, Count),
    f("shares", &["转发数", "shares"], false, Count),
    f("url", &["链接", "url"], false, Text),
];

const INTERACTIONS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("message_id", &["留言ID", "message_id"], true, RequiredText),
    f("channel", &["渠道", "channel"], false, Code(CHANNELS)),
    f("received_at", &["留言时间", "received_at"], true, RequiredInstant),
    f("author", &["留言人", "author"], false, Author),
    f("replied_at", &["回复时间", "replied_at"], true, Instant),
    // 留言内容 (message text) is accepted and never read.
];

const FOLLOWERS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("date", &["日期", "date"], true, RequiredDate),
    f("followers", &["粉丝数", "followers"], true, Count),
];

const DIRECTIVES: &[Field] = &[
    f("directive_id", &["指令ID", "directive_id"], true, RequiredText),
    f("title", &["标题", "title"], true, Text),
    f("source_platform", &["源平台", "source_platform"], false, Platform),
    f("source_post_id", &["源发布ID", "source_post_id"], false, Text),
    f("published_at", &["发布时间", "published_at"], true, RequiredInstant),
    f("deadline_hours", &["时限小时", "deadline_hours"], false, Count),
    f("units", &["适用单位", "units"], false, Units),
];

const SELF_INSPECTIONS: &[Field] = &[
    f("unit_name", &["单位名称", "unit_name"], true, RequiredText),
    f("month", &["月份", "month"], true, Month),
    f("published_on", &["公开日期", "published_on"], true, Date),
    f("url", &["链接", "url"], false, Text),
];

const FINDINGS: &[Field] = &[
    f("platform", &["平台", "platform"], true, Platform),
    f("account_id", &["账号ID", "account_id"], true, RequiredText),
    f("post_id", &["发布ID", "post_id"], false, Text),
    f("found_on", &["发现日期", "found_on"], true, RequiredDate),
    f("kind", &["问题类型", "kind"], true, Code(FINDING_KINDS)),
    f("corrected_on", &["整改日期", "corrected_on"], false, Date),
    f("note", &["说明", "note"], false, Text),
];

const CALENDAR: &[Field] = &[
    f("date", &["日期", "date"], true, RequiredDate),
    f("kind", &["类型", "kind"], true, CalendarKind),
    f("name", &["名称", "name"], false, Text),
];

fn fields_of(kind: Kind) -> &'static [Field] {
    match kind {
        Kind::Calendar => CALENDAR,
        Kind::Registry => REGISTRY,
        Kind::Filings => FILINGS,
        Kind::Posts => POSTS,
        Kind::Interactions => INTERACTIONS,
        Kind::Followers => FOLLOWERS,
        Kind::Directives => DIRECTIVES,
        Kind::SelfInspections => SELF_INSPECTIONS,
        Kind::Findings => FINDINGS,
    }
}

impl Format for Canonical {
    fn name(&self) -> &'static str {
        "canonical"
    }
    fn kinds(&self) -> &'static [Kind] {
        &Kind::ALL
    }
    fn parse(&self, ctx: &FileContext, bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
        let fields = fields_of(ctx.kind);
        let recognise = |cells: &[String]| recognises(fields, cells);
        let sheet = read_sheet(bytes, &recognise, &wanted(fields))?;
        let positions = positions(fields, &sheet.headers)?;
        let shape = Shape::new(ctx, fields, sheet.headers.len());
        Ok(map_rows(&sheet, |row| {
            let raw: Vec<&str> = row.cells.iter().map(String::as_str).collect();
            let mut cells = vec![Cell::Null; ctx.kind.table().columns.len()];
            parse_cells(ctx, fields, &positions, &shape, &raw, &mut cells, &mut [])?;
            Ok(cells.into_iter().map(Value::from).collect::<Row>())
        }))
    }

    /// CSV text is read straight into Arrow columns: record by record, each cell parsed where it
    /// lies in the file. Rows, rejects and line numbers are those [`Canonical::parse`] gives.
    ///
    /// Why two CSV readers stay (this one and `read_sheet`'s rows): the row path is the one reader
    /// of every format's every file (XLSX, XLS, HTML, JSON Lines and CSV, the platforms' adapters
    /// and the small canonical tables), so it cannot go; this path reads only what is large, the
    /// canonical CSV of the partitioned tables (posts, public messages), with no row values in
    /// between. Reading those through the rows instead is slower and takes more memory: on the
    /// province tier's 1.3 GB, 22 s, 61 MB/s and a 2.2 GiB peak by rows against 8.9 s, 150 MB/s and
    /// 1.3 GiB by columns (release build, BENCHMARKS.md); on the city tier's 85 MB of exports
    /// (debug build, two runs each) 77–83 s and 409–493 MiB by rows against 58–69 s and 277–291 MiB
    /// by columns, with the same 313,427 posts and 626,252 messages stored. The two agree by
    /// test (`columns_and_rows_read_a_file_alike`, `late_bad_bytes_are_found_as_the_row_path_finds_them`).
    fn parse_columns(&self, ctx: &FileContext, bytes: &[u8]) -> Option<Result<ColumnarFile, FileError>> {
        (sniff(bytes) == Sniffed::Text).then(|| csv_columns(ctx, fields_of(ctx.kind), bytes))
    }
}

/// The header row is the first row naming any column of the template, so that a header missing
/// required columns is reported with the names of those columns.
fn recognises(fields: &[Field], cells: &[String]) -> bool {
    let h = Headers::new(cells);
    fields.iter().any(|f| h.find(f.headers).is_some())
}

fn wanted(fields: &[Field]) -> String {
    fields.iter().filter(|f| f.required).map(|f| f.headers[0]).collect::<Vec<_>>().join(", ")
}

/// Each field's column in the file; every missing required column is named at once.
fn positions(fields: &[Field], header: &[String]) -> Result<Vec<Option<usize>>, FileError> {
    let headers = Headers::new(header);
    let missing: Vec<String> = fields
        .iter()
        .filter(|f| f.required && headers.find(f.headers).is_none())
        .map(|f| format!("{} ({})", f.headers[0], f.headers[1]))
        .collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumn(missing.join(", ")));
    }
    Ok(fields.iter().map(|f| headers.find(f.headers)).collect())
}

fn csv_columns(ctx: &FileContext, fields: &[Field], bytes: &[u8]) -> Result<ColumnarFile, FileError> {
    let read = match csv_text_columns(ctx, fields, text_body(bytes)?) {
        // Not UTF-8: decoded whole (GB18030) as `decode_text` decodes for the row path.
        Err(Stop::NotUtf8) => csv_text_columns(ctx, fields, decode_text(bytes)?.as_bytes()),
        read => read,
    };
    read.map_err(|stop| match stop {
        Stop::File(e) => e,
        Stop::NotUtf8 => ReadError::Undecodable.into(),
    })
}

/// Why reading a file's bytes as UTF-8 CSV stopped: they are not UTF-8 (try GB18030), or the
/// file is refused.
enum Stop {
    NotUtf8,
    File(FileError),
}

impl From<FileError> for Stop {
    fn from(e: FileError) -> Self {
        Stop::File(e)
    }
}

/// The bytes the CSV reader has passed, checked as `decode_text` checks a whole file (UTF-8 with
/// no control characters), a stretch of records at a time while they are in the cache: the file is
/// read from memory once, not once per check.
struct Checked<'a> {
    body: &'a [u8],
    at: usize,
}

/// How far past the reader a check reaches: the records of the next 64 KiB are checked with the
/// one the reader stands after, up to the last line break among them, so that a check runs over
/// many records at once instead of starting once per record.
const CHECK_AHEAD: usize = 64 * 1024;

impl Checked<'_> {
    /// Checks the bytes up to `end` (where the reader stands after a record), and the whole
    /// lines of the next [`CHECK_AHEAD`] bytes.
    ///
    /// Checking early changes no outcome: every way out of reading a file checks all of it first
    /// (`first`, and the end of [`csv_text_columns`]), and the outcome is the one `decode_text`
    /// gives the whole file. A file with a byte that is not UTF-8 anywhere is read again as
    /// GB18030 (where a control character is refused): a C1 control's UTF-8 bytes (`C2 80`–`9F`)
    /// are an ideograph there, so a control found before such a byte does not refuse the file.
    /// Only a file that is UTF-8 throughout is refused here for a control character.
    fn upto(&mut self, end: u64) -> Result<(), Stop> {
        let end = (end as usize).clamp(self.at, self.body.len());
        if end == self.at {
            return Ok(());
        }
        let reach = (end + CHECK_AHEAD).min(self.body.len());
        // A line break is one ASCII byte, never inside a character of several bytes.
        let end = memchr::memrchr(b'\n', &self.body[end..reach]).map_or(end, |i| end + i + 1);
        let Some(text) = utf8(&self.body[self.at..end]) else { return Err(Stop::NotUtf8) };
        if has_control(text) {
            // The rest of the file decides (only on this path): not UTF-8, it is read as GB18030.
            return Err(match utf8(&self.body[end..]) {
                Some(_) => Stop::File(ReadError::Undecodable.into()),
                None => Stop::NotUtf8,
            });
        }
        self.at = end;
        Ok(())
    }

    /// A file error found before the whole file was checked: a file that is not UTF-8 (or has a
    /// control character) reports that first, as the row path does.
    fn first(&mut self, e: FileError) -> Stop {
        match self.upto(self.body.len() as u64) {
            Err(stop) => stop,
            Ok(()) => Stop::File(e),
        }
    }
}

/// [`csv_columns`] of UTF-8 `body` (a record whose bytes are not UTF-8 stops the reading).
fn csv_text_columns(ctx: &FileContext, fields: &[Field], body: &[u8]) -> Result<ColumnarFile, Stop> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body);
    let mut checked = Checked { body, at: 0 };
    let mut lines = LineCounter::new(body);
    let mut record = csv::ByteRecord::new();
    let unreadable = |e: &csv::Error| format!("unreadable CSV record: {e}");

    // The header: among the first records, as `read_sheet` looks for it.
    let mut header: Option<Vec<String>> = None;
    let mut records = 0;
    while header.is_none() && records < HEADER_ROWS {
        let read = reader.read_byte_record(&mut record);
        checked.upto(reader.position().byte())?;
        match read {
            Ok(false) => break,
            Ok(true) => {
                let cells: Vec<String> = record.iter().map(|c| clean_cell(cell_str(c))).collect();
                if recognises(fields, &cells) {
                    header = Some(cells);
                }
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => break,
            Err(_) => {}
        }
        records += 1;
    }
    let header = match header {
        Some(h) => h,
        None if records == 0 => return Err(checked.first(ReadError::Empty.into())),
        None => return Err(checked.first(ReadError::NoHeader(wanted(fields)).into())),
    };
    let positions = positions(fields, &header).map_err(|e| checked.first(e))?;

    let def = ctx.kind.table();
    let mut out = ColumnarFile { batch: TableBuilder::new(def).finish().map_err(arrow_error)?, read: 0, rejects: Vec::new() };
    let (rows, widths) = estimate(body, header.len());
    let bytes: Vec<usize> = def
        .columns
        .iter()
        .map(|c| {
            let pos = fields.iter().zip(&positions).find(|(f, _)| f.column == c.name).and_then(|(_, p)| *p);
            pos.map_or(0, |p| widths[p] * rows / 8 * 9 + 1024)
        })
        .collect();
    let mut builder = TableBuilder::with_capacity(def, rows, &bytes);
    // Per-record buffers of borrowed cells, emptied and reused (their allocation) record after record.
    let mut raw_store: Vec<&str> = Vec::with_capacity(header.len());
    let mut cell_store: Vec<Cell> = Vec::with_capacity(def.columns.len());
    let mut memo: Vec<Option<(String, Option<&'static str>)>> = vec![None; fields.len()];
    let shape = Shape::new(ctx, fields, header.len());
    loop {
        let read = reader.read_byte_record(&mut record);
        checked.upto(reader.position().byte())?;
        match read {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.line_at(record.position().map_or(0, |p| p.byte()));
                let mut raw = recycle(std::mem::take(&mut raw_store));
                raw.extend(record.iter().map(|c| clean(cell_str(c))));
                // (The header is compared from its last cell: a row's last cells rarely share
                // the header's lengths, so most rows differ without comparing any text.)
                if !(raw.iter().all(|c| c.is_empty()) || raw.iter().rev().eq(header.iter().rev())) {
                    out.read += 1;
                    let mut cells = recycle(std::mem::take(&mut cell_store));
                    cells.resize(def.columns.len(), Cell::Null);
                    // As `read_sheet` marks a row with a cell too large (the text has no control
                    // characters: `Checked` refused them).
                    if let Some(problem) = oversized_cell(&raw, &header) {
                        out.rejects.push((Loc::Line(line), format!("\u{0}{problem}"), problem));
                    } else {
                        match parse_cells(ctx, fields, &positions, &shape, &raw, &mut cells, &mut memo) {
                            Ok(()) => builder.push(&cells),
                            Err(reason) => out.rejects.push((Loc::Line(line), raw.join(","), reason)),
                        }
                    }
                    cell_store = recycle(cells);
                }
                raw_store = recycle(raw);
            }
            Err(e) => {
                // A malformed record (e.g. an unclosed quote) is rejected with its line, not lost.
                let line = lines.line_at(e.position().map_or(0, |p| p.byte()));
                out.read += 1;
                out.rejects.push((Loc::Line(line), format!("\u{0}{}", unreadable(&e)), unreadable(&e)));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    checked.upto(body.len() as u64)?;
    out.batch = builder.finish().map_err(arrow_error)?;
    Ok(out)
}

/// A cell of the record just read, as a `str`, without checking its UTF-8 a second time.
fn cell_str(cell: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(cell).is_ok());
    // SAFETY: the record's bytes in the file were checked as UTF-8 ([`Checked::upto`] runs after
    // each record). The CSV reader splits records and fields only at ASCII bytes (delimiter, quote,
    // CR, LF) and removes only ASCII quote bytes; an ASCII byte is never part of a multi-byte UTF-8
    // sequence, so every field of valid UTF-8 is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(cell) }
}

/// The number of records of the file, and per column the mean width of a cell, from its first
/// records: enough to size the columns before reading.
fn estimate(body: &[u8], columns: usize) -> (usize, Vec<usize>) {
    let sample = &body[..body.len().min(1 << 20)];
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(sample);
    let (mut sums, mut records) = (vec![0usize; columns], 0usize);
    for record in reader.byte_records().map_while(Result::ok) {
        records += 1;
        sums.iter_mut().zip(record.iter()).for_each(|(s, c)| *s += c.len());
    }
    let rows = (body.len() as f64 * records.max(1) as f64 / sample.len().max(1) as f64) as usize + 1;
    (rows, sums.into_iter().map(|s| s.div_ceil(records.max(1))).collect())
}

/// An emptied vector of borrowed items, as a vector for items of another lifetime: the collect
/// reuses the buffer in place, so the per-record buffers are allocated once.
fn recycle<T, U>(v: Vec<T>) -> Vec<U> {
    v.into_iter().filter_map(|_| None).collect()
}

fn arrow_error(e: arrow::error::ArrowError) -> FileError {
    FileError::Other(format!("cannot build the table's columns: {e}"))
}

/// What a row is checked against besides its cells (the header's width, the latest instant a cell
/// may hold), and where its cells go: found once per file, not once per row.
struct Shape {
    width: usize,
    latest: i64,
    /// Per field, its column in the table.
    columns: Vec<usize>,
    /// A post's `kind` and `repost_of` columns (see [`complete`]).
    post_kind: Option<(usize, usize)>,
}

impl Shape {
    fn new(ctx: &FileContext, fields: &[Field], width: usize) -> Shape {
        let table = ctx.kind.table();
        let post_kind = matches!(ctx.kind, Kind::Posts).then(|| (table.index("kind"), table.index("repost_of")));
        Shape { width, latest: latest_instant(ctx), columns: fields.iter().map(|f| table.index(f.column)).collect(), post_kind }
    }
}

/// The latest instant this file's cells may hold ([`fields::plausible_instant`]).
fn latest_instant(ctx: &FileContext) -> i64 {
    ctx.lookup.run_at().saturating_add(fields::AFTER_RUN_MICROS)
}

/// Parses one row's cells (`raw`, in file order) into `cells` (in table order); the first field that
/// fails gives the row's reason.
///
/// `memo` (one slot per field, or empty) keeps the last platform and code cell of each field:
/// a file repeats them row after row, and an equal cell is not matched against the names again.
fn parse_cells<'a>(
    ctx: &FileContext,
    fields: &[Field],
    positions: &[Option<usize>],
    shape: &Shape,
    raw: &[&'a str],
    cells: &mut [Cell<'a>],
    memo: &mut [Option<(String, Option<&'static str>)>],
) -> Result<(), String> {
    // Values right of the header's last column: a value holding the delimiter unquoted, or a
    // cell typed beside its column. The row's cells no longer sit under their headers (a phone
    // number read as 回复时间 gave the year 2407), so none is taken. Empty cells there are
    // harmless (a trailing comma).
    let filled = raw.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
    if filled > shape.width {
        return Err(format!(
            "the row has values in {filled} cells, the header names {} columns: a value with an unquoted delimiter, or a cell beside its column?",
            shape.width
        ));
    }
    let private = ctx.kind.holds_messages();
    for (k, ((field, pos), &column)) in fields.iter().zip(positions).zip(&shape.columns).enumerate() {
        let raw = pos.and_then(|i| raw.get(i).copied()).unwrap_or("");
        let cell = match (field.parse, memo.get_mut(k)) {
            (Platform | Code(_), Some(slot)) => match slot {
                Some((seen, code)) if seen == raw => Ok(code.map_or(Cell::Null, Cell::Str)),
                _ => code_of(field, raw).map(|code| {
                    *slot = Some((raw.to_string(), code));
                    code.map_or(Cell::Null, Cell::Str)
                }),
            },
            _ => parse_cell(ctx, field, raw),
        };
        // A message's cells may name or describe a person: its reasons never quote them.
        let cell = cell.map_err(|reason| if private { value_free(field, raw) } else { reason })?;
        if let Cell::Instant(t) = cell {
            fields::plausible_instant(t, field.headers[0], shape.latest)?;
        }
        cells[column] = cell;
    }
    complete(shape, cells);
    Ok(())
}

fn parse_cell<'a>(ctx: &FileContext, field: &Field, raw: &'a str) -> Result<Cell<'a>, String> {
    let what = field.headers[0];
    Ok(match field.parse {
        Text => text_cell(raw),
        RequiredText => match text_cell(raw) {
            Cell::Null => return Err(format!("{what} is empty")),
            c => c,
        },
        Platform | Code(_) => code_of(field, raw)?.map_or(Cell::Null, Cell::Str),
        YesNo => yes_no(raw, what)?.into(),
        Count => count(raw, what)?.into(),
        Instant => instant(raw, what)?.into(),
        RequiredInstant => required_instant(raw, what)?.into(),
        Date => date(raw, what)?.into(),
        RequiredDate => match date(raw, what)? {
            Value::Null => return Err(format!("{what} is empty")),
            v => v.into(),
        },
        Month => fields::month(raw, what)?.into(),
        Author => match text_cell(raw) {
            Cell::Str(s) => Cell::Owned(ctx.secret.author_hash(s)),
            c => c,
        },
        Units => unit_list(raw)?.into(),
        CalendarKind => match crate::calendar::DayKind::parse(raw) {
            Some(k) => Cell::Str(k.code()),
            None => return Err(format!("{what} '{raw}' is not holiday or workday")),
        },
    })
}

/// Why a cell cannot be read, without its value (for message rows).
fn value_free(field: &Field, raw: &str) -> String {
    let what = field.headers[0];
    if fields::text_str(raw).is_none() {
        return format!("{what} is empty");
    }
    match field.parse {
        Platform => format!("{what} is not a known platform"),
        Code(table) => {
            let allowed: Vec<&str> = table.iter().map(|(t, _)| *t).collect();
            format!("{what} is not one of {}", allowed.join(" / "))
        }
        YesNo => format!("{what} is not 是 or 否"),
        Count => format!("{what} is not a count"),
        Instant | RequiredInstant => format!("{what} is not a time"),
        Date | RequiredDate => format!("{what} is not a date"),
        Month => format!("{what} is not a month"),
        CalendarKind => format!("{what} is not holiday or workday"),
        Text | RequiredText | Author | Units => format!("{what} cannot be read"),
    }
}

/// The code of a platform or coded cell (`None` for an empty coded cell).
fn code_of(field: &Field, raw: &str) -> Result<Option<&'static str>, String> {
    match field.parse {
        Code(table) => code_str(raw, table, field.headers[0]),
        _ => fields::platform_str(raw).map(Some),
    }
}

/// [`fields::text`] borrowing the cell.
fn text_cell(raw: &str) -> Cell<'_> {
    fields::text_str(raw).map_or(Cell::Null, Cell::Str)
}

/// Defaults the templates leave implicit (SPEC §3). A directive without a deadline is stored
/// without one, as filed: the models give it the rubric's `directive_deadline_hours`, its one home.
fn complete(shape: &Shape, cells: &mut [Cell]) {
    // A post without a kind: an original post unless it names a repost_of.
    if let Some((k, repost_of)) = shape.post_kind {
        if cells[k].is_null() {
            let repost = !cells[repost_of].is_null();
            cells[k] = Cell::Str(if repost { "repost" } else { "original" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Lookup, Outcome};
    use crate::privacy::Secret;

    /// A file read row by row: its rows as one batch, and its rejects.
    type ByRows = (arrow::array::RecordBatch, Vec<(Loc, String, String)>);

    /// Both readings of a CSV file: rows as values, and columns.
    fn both(kind: Kind, bytes: &[u8]) -> (ByRows, ColumnarFile) {
        let (rows, columns) = both_or_errors(kind, bytes);
        (rows.unwrap(), columns.unwrap())
    }

    /// [`both`], where either reading may refuse the file.
    fn both_or_errors(kind: Kind, bytes: &[u8]) -> (Result<ByRows, String>, Result<ColumnarFile, String>) {
        let lookup = Lookup::default();
        let secret = Secret::from_hex("00112233445566778899aabbccddeeff").unwrap();
        let ctx = FileContext {
            kind,
            display: "t.csv".into(),
            stem: "t".into(),
            account: None,
            platform: None,
            as_of: None,
            lookup: &lookup,
            secret: &secret,
        };
        let parsed = match Canonical.parse(&ctx, bytes) {
            Ok(p) => p,
            Err(e) => return (Err(e.to_string()), Canonical.parse_columns(&ctx, bytes).unwrap().map_err(|e| e.to_string())),
        };
        let mut rows = Vec::new();
        let mut rejects = Vec::new();
        for p in parsed {
            match p.outcome {
                Outcome::Row(r) => rows.push(r),
                Outcome::Rejected(reason) => rejects.push((p.loc, p.raw, reason)),
                Outcome::Merged => unreachable!("the canonical format merges no rows"),
            }
        }
        let columns = Canonical.parse_columns(&ctx, bytes).unwrap().map_err(|e| e.to_string());
        (Ok((kind.table().to_batch(&rows).unwrap(), rejects)), columns)
    }

    /// The column reading checks the text a stretch of lines at a time as it reads: bad bytes late
    /// in a file, or before a missing column is noticed, give what the row reading (which checks
    /// the file first) gives.
    #[test]
    fn late_bad_bytes_are_found_as_the_row_path_finds_them() {
        let head = "平台,账号ID,发布ID,发布时间,标题\n微博,1,a,2019-07-01 10:00,好\n".as_bytes();
        let ascii = b"platform,account_id,post_id,published_at,title\nweibo,1,a,2019-07-01 10:00,x\n".as_slice();
        let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
            // GBK bytes in the last record: the whole file is read as GB18030 (refused when its
            // Chinese header is UTF-8).
            ([ascii, b"weibo,1,b,2019-07-01 10:00,\xb0\xa1\n".as_slice()].concat(), None),
            ([head, b"weibo,1,b,2019-07-01 10:00,\xb0\xa1\n".as_slice()].concat(), Some("neither UTF-8")),
            // Bytes that are neither: refused.
            ([head, b"weibo,1,b,2019-07-01 10:00,\xff\n".as_slice()].concat(), Some("neither UTF-8")),
            // A control character in the last record, then one after it.
            ([head, b"weibo,1,b,2019-07-01 10:00,x\x01\n".as_slice()].concat(), Some("neither UTF-8")),
            ([head, b"weibo,1,b,2019-07-01 10:00,x\n\x02".as_slice()].concat(), Some("neither UTF-8")),
            // A control character, then GBK bytes in a later record of the same stretch: refused.
            (
                [ascii, b"weibo,1,b,2019-07-01 10:00,x\x01\n".as_slice(), b"weibo,1,c,2019-07-01 10:00,\xb0\xa1\n".as_slice()].concat(),
                Some("neither UTF-8"),
            ),
            // A C1 control's UTF-8 bytes before GBK bytes, in one record or two: an ideograph in
            // GB18030, so the file is read as GB18030 (its Chinese header then is not: refused).
            ([ascii, b"weibo,1,b,2019-07-01 10:00,\xc2\x80\xb0\xa1\n".as_slice()].concat(), None),
            (
                [ascii, b"weibo,1,b,2019-07-01 10:00,x\xc2\x85\n".as_slice(), b"weibo,1,c,2019-07-01 10:00,\xb0\xa1\n".as_slice()].concat(),
                None,
            ),
            // ... and when the GBK bytes lie more than a stretch (CHECK_AHEAD) past the control.
            (
                [
                    ascii,
                    b"weibo,1,b,2019-07-01 10:00,x\xc2\x85\n".as_slice(),
                    &b"weibo,1,c,2019-07-01 10:00,x\n".repeat(CHECK_AHEAD / 16),
                    b"weibo,1,d,2019-07-01 10:00,\xb0\xa1\n".as_slice(),
                ]
                .concat(),
                None,
            ),
            // The same control in a file that is UTF-8 throughout: refused.
            ([ascii, b"weibo,1,b,2019-07-01 10:00,x\xc2\x85\n".as_slice()].concat(), Some("neither UTF-8")),
            // GBK bytes more than a stretch (CHECK_AHEAD) past the header: read as GB18030.
            (
                [ascii, &b"weibo,1,b,2019-07-01 10:00,x\n".repeat(CHECK_AHEAD / 16), b"weibo,1,c,2019-07-01 10:00,\xb0\xa1\n".as_slice()]
                    .concat(),
                None,
            ),
            // A header without a required column, and a bad byte further down.
            ("平台,账号ID,标题\n微博,1,好\n".as_bytes().iter().chain(b"x,\xff\n").copied().collect(), Some("neither UTF-8")),
            ("平台,账号ID,标题\n微博,1,好\n".as_bytes().to_vec(), Some("missing required column")),
        ];
        for (bytes, refused) in cases {
            let (rows, columns) = both_or_errors(Kind::Posts, &bytes);
            match (&rows, &columns) {
                (Ok((r, rejects)), Ok(c)) => {
                    assert!(refused.is_none(), "{bytes:?} was read");
                    assert_eq!((&c.batch, &c.rejects), (r, rejects));
                    let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
                    assert_eq!(r.num_rows(), lines - 1);
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a, b);
                    assert!(refused.is_some_and(|want| a.contains(want)), "{a}");
                }
                _ => panic!("the readings differ on {bytes:?}: {:?} / {:?}", rows.map(|_| ()), columns.map(|_| ())),
            }
        }
    }

    #[test]
    fn columns_and_rows_read_a_file_alike() {
        let posts = "帖子导出（2019年第三季度）\n\n平台,账号ID,发布ID,发布时间,标题,阅读数,类型,转发源ID\r\n\
            微博,1,a,2019-07-01 10:00,好,5,,\r\n,,,,,\r\n平台,账号ID,发布ID,发布时间,标题,阅读数,类型,转发源ID\r\n\
            微博,1,b,2019-02-30 10:00,坏日期,5\r\n抖音 , 1 ,\"c\nd\",2019-07-01 10:00:00,\"多行\n标题\",\"1,234\",,x9\r\n\
            抖音,1,e,2019-07-01 10:00,负数,-1\r\nweibo,2,g,1566307800,,1.2万,转发,\r\n火星,1,h,2019-07-01 10:00,,\r\n\
            微博,1,f,\"unclosed,5\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(posts);
        for bytes in [posts.as_bytes(), &gbk] {
            let ((rows, rejects), columns) = both(Kind::Posts, bytes);
            assert_eq!(columns.batch, rows);
            assert_eq!(columns.rejects, rejects);
            assert_eq!(columns.read, (rows.num_rows() + rejects.len()) as u64);
            assert_eq!(rows.num_rows(), 3, "a, c\\nd and g load");
            // Line 5 is empty and line 6 repeats the header; the record on lines 8–10 holds two
            // line breaks; the unclosed quote runs to the end of the file.
            let lines: Vec<u64> = rejects.iter().map(|r| r.0.number()).collect();
            assert_eq!(lines, vec![7, 11, 13, 14], "{rejects:?}");
        }
        let messages = "平台,账号ID,留言ID,渠道,留言时间,留言人,回复时间,留言内容\n\
            微信,1,m1,留言,2019-07-01 10:00:00,居民甲,2019-07-02 09:00:00,路灯坏了\n\
            微信,1,m2,私信,2019-07-01 10:00:00,,,\n微信,1,m3,电话,2019-07-01 10:00:00,居民乙,,\n";
        let ((rows, rejects), columns) = both(Kind::Interactions, messages.as_bytes());
        assert_eq!(columns.batch, rows);
        assert_eq!(columns.rejects, rejects);
        assert_eq!((rows.num_rows(), rejects.len()), (2, 1));
    }
}
