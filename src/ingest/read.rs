//! Reading export files into header + rows (CSV in UTF-8 or GB18030, XLSX/XLS, HTML tables saved as
//! `.xls`) or into JSON records (`.json`, `.jsonl`), keeping each row's line or sheet row.

use calamine::{Data, Reader};
use std::io::Cursor;

/// Where a row came from: a text line (1-based) or a sheet row (1-based, as Excel shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    Line(u64),
    SheetRow(String, u64),
    /// Element `n` (1-based) of a JSON array in a one-object file.
    Element(u64),
}

impl Loc {
    pub fn number(&self) -> u64 {
        match self {
            Loc::Line(n) | Loc::SheetRow(_, n) | Loc::Element(n) => *n,
        }
    }
    pub fn sheet(&self) -> Option<&str> {
        match self {
            Loc::SheetRow(s, _) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::Line(n) => write!(f, "line {n}"),
            Loc::SheetRow(s, n) => write!(f, "sheet {s} row {n}"),
            Loc::Element(n) => write!(f, "element {n}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RawRow {
    pub loc: Loc,
    pub cells: Vec<String>,
}

impl RawRow {
    /// The row as it was in the file, cells joined by commas (for the rejects table).
    pub fn raw(&self) -> String {
        self.cells.join(",")
    }
}

/// A table: its header row and the data rows below it.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub headers: Vec<String>,
    pub rows: Vec<RawRow>,
}

/// One JSON record or the reason it could not be read.
#[derive(Debug, Clone)]
pub struct JsonRecord {
    pub loc: Loc,
    pub value: Result<serde_json::Value, String>,
    pub raw: String,
}

/// What a file cannot be read as: the whole file is skipped, with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is neither UTF-8 nor GB18030/GBK text (an encoding govmedia reads)")]
    Undecodable,
    #[error("the workbook cannot be read: {0}")]
    Workbook(String),
    #[error("no header row with {0} in the first rows")]
    NoHeader(String),
    #[error("the file is not JSON: {0}")]
    Json(String),
    #[error("the workbook is refused: {0}")]
    TooLarge(String),
    #[error("the HTML is nested {0} elements deep, more than the {MAX_HTML_DEPTH} a table export needs: refused rather than parsed")]
    TooDeep(usize),
}

/// Decodes text: UTF-8 (BOM or not), else GB18030 (a superset of GBK). Anything else, or text
/// with control characters that no export contains, is refused rather than guessed.
pub fn decode_text(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, ReadError> {
    let body = text_body(bytes)?;
    let text = match utf8(body) {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(body).ok_or(ReadError::Undecodable)?,
    };
    if has_control(&text) {
        return Err(ReadError::Undecodable);
    }
    Ok(text)
}

/// The bytes as text when they are UTF-8. encoding_rs's validation (already here for GB18030)
/// goes about three times as fast as the standard library's on the exports' text (18.7 against
/// 6.0 GB/s on a province's posts, Chinese titles among ASCII): it is a pass over every byte ingest
/// reads.
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    if encoding_rs::Encoding::utf8_valid_up_to(bytes) != bytes.len() {
        return None;
    }
    // SAFETY: every byte was just validated as UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// A text file's bytes after a UTF-8 byte-order mark; a file of nothing but white space is empty.
pub fn text_body(bytes: &[u8]) -> Result<&[u8], ReadError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ReadError::Empty);
    }
    Ok(body)
}

/// Whether the text has a control character other than tab, CR, LF and form feed, checked byte by
/// byte: C0 controls and DEL are single bytes, C1 controls (U+0080..U+009F) are `C2 80..C2 9F`.
pub fn has_control(text: &str) -> bool {
    let b = text.as_bytes();
    let control_at = |i: usize| match b[i] {
        b'\t' | b'\r' | b'\n' | 0x0c => false,
        0x00..=0x1f | 0x7f => true,
        0xc2 => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        _ => false,
    };
    // A block of 64 bytes none of which can begin a control is passed in one (vectorised) test.
    let suspect = |c: u8| (c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n' | 0x0c)) | (c == 0x7f) | (c == 0xc2);
    b.chunks(64)
        .enumerate()
        .any(|(k, block)| block.iter().fold(false, |any, &c| any | suspect(c)) && (k * 64..k * 64 + block.len()).any(control_at))
}

/// Trims a cell as SPEC §3 says: white space around it and the tab weibo-crawler writes after ids.
pub fn clean_cell(s: &str) -> String {
    clean(s).to_string()
}

/// [`clean_cell`] without the copy.
pub fn clean(s: &str) -> &str {
    let trimmed = |c: char| c.is_whitespace() || c == '\u{feff}';
    // Most cells begin and end with a character that is not trimmed (ASCII or Chinese): the first
    // and last characters are looked at, and nothing is trimmed.
    let mut chars = s.chars();
    match (chars.next(), chars.next_back()) {
        (Some(a), Some(z)) if !trimmed(a) && !trimmed(z) => s,
        (Some(a), None) if !trimmed(a) => s,
        _ => s.trim_matches(trimmed),
    }
}

/// How many of a file's first rows are searched for its header.
pub const HEADER_ROWS: usize = 20;

/// Line numbers from byte offsets, counted forward as the records come: the newlines up to and
/// including the record's offset, plus one (the csv crate's own line count is off by one on CRLF
/// files).
pub struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub fn new(text: &'a [u8]) -> Self {
        LineCounter { text, at: 0, line: 1 }
    }

    /// The line of the record at `byte`; records must come in file order.
    pub fn line_at(&mut self, byte: u64) -> u64 {
        let to = (byte as usize + 1).min(self.text.len());
        if to > self.at {
            self.line += self.text[self.at..to].iter().filter(|&&b| b == b'\n').count() as u64;
            self.at = to;
        }
        self.line
    }
}

/// The kind of content, sniffed from the bytes (extensions lie: WeChat's `.xls` is HTML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Xlsx,
    Xls,
    Html,
    Json,
    Text,
}

pub fn sniff(bytes: &[u8]) -> Sniffed {
    if bytes.starts_with(b"PK\x03\x04") {
        return Sniffed::Xlsx;
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Sniffed::Xls;
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        Some(b'<') => Sniffed::Html,
        Some(b'{') | Some(b'[') => Sniffed::Json,
        _ => Sniffed::Text,
    }
}

/// Reads a tabular file (CSV, XLSX, XLS or an HTML table). `is_header` recognises the header row:
/// rows above it (titles) are skipped, and rows equal to it further down are dropped.
pub fn read_sheet(bytes: &[u8], is_header: &dyn Fn(&[String]) -> bool, wanted: &str) -> Result<Sheet, ReadError> {
    if bytes.is_empty() {
        return Err(ReadError::Empty);
    }
    let rows = match sniff(bytes) {
        Sniffed::Xlsx | Sniffed::Xls => workbook_rows(bytes, is_header)?,
        Sniffed::Html => html_rows(&decode_text(bytes)?)?,
        Sniffed::Text | Sniffed::Json => csv_rows(&decode_text(bytes)?),
    };
    let mut sheet = split_header(rows, is_header, wanted)?;
    for h in sheet.headers.iter_mut().filter(|h| has_control(h)) {
        *h = h.chars().map(|c| if is_control(c) { '\u{fffd}' } else { c }).collect();
    }
    // A row with a cell too large, or with a control character (workbook cells and HTML
    // entities can hold them; CSV text with one is refused whole), is rejected with its reason.
    for row in &mut sheet.rows {
        if let Some(problem) = oversized_cell(&row.cells, &sheet.headers).or_else(|| control_cell(&row.cells, &sheet.headers)) {
            row.cells = vec![format!("\u{0}{problem}")];
        }
    }
    Ok(sheet)
}

/// The most bytes a cell may hold. An export's longest cells (a post's body, a link) hold a few
/// thousand characters; a cell of megabytes is not data, and would be stored and printed whole.
pub const MAX_CELL_BYTES: usize = 64 * 1024;

/// A row's reason for rejection when one of its cells is over [`MAX_CELL_BYTES`]. It names the
/// column, never the value (message rows' values are never shown).
pub fn oversized_cell(cells: &[impl AsRef<str>], headers: &[String]) -> Option<String> {
    let i = cells.iter().position(|c| c.as_ref().len() > MAX_CELL_BYTES)?;
    Some(format!(
        "{} holds {} bytes, more than the {} KiB a cell may hold",
        column_name(headers, i),
        cells[i].as_ref().len(),
        MAX_CELL_BYTES / 1024
    ))
}

/// A row's reason for rejection when one of its cells holds a control character (which could
/// drive a terminal that shows it). Names the column, never the value.
pub fn control_cell(cells: &[impl AsRef<str>], headers: &[String]) -> Option<String> {
    let i = cells.iter().position(|c| has_control(c.as_ref()))?;
    Some(format!("{} holds a control character", column_name(headers, i)))
}

/// A column by its header (shortened), or by its number when the header has none.
fn column_name(headers: &[String], i: usize) -> String {
    match headers.get(i).map(|h| h.trim()).filter(|h| !h.is_empty()) {
        Some(h) if h.chars().count() > 40 => format!("column {} ({}…)", i + 1, h.chars().take(40).collect::<String>()),
        Some(h) => h.to_string(),
        None => format!("column {}", i + 1),
    }
}

/// The characters [`has_control`] finds.
fn is_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\r' | '\n' | '\u{0c}')
}

/// Why a JSON record (its fields) cannot be taken as it is: a string over [`MAX_CELL_BYTES`] or
/// with a control character (JSON escapes such as `\u001b` pass the file's text check). Names
/// the field, never the value.
pub fn json_problem<'a>(fields: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>) -> Option<String> {
    fn name(key: &str) -> &str {
        if key.len() > 40 || has_control(key) {
            "(a field name)"
        } else {
            key
        }
    }
    // The field's path is spelled only for the value found (a record's fields are walked for
    // every record; most have nothing to report).
    fn walk(v: &serde_json::Value, path: &dyn Fn() -> String) -> Option<String> {
        match v {
            serde_json::Value::String(s) if s.len() > MAX_CELL_BYTES => {
                Some(format!("field {} holds {} bytes, more than the {} KiB a cell may hold", path(), s.len(), MAX_CELL_BYTES / 1024))
            }
            serde_json::Value::String(s) if has_control(s) => Some(format!("field {} holds a control character", path())),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| walk(item, &|| format!("{}.{i}", path()))),
            serde_json::Value::Object(m) => m.iter().find_map(|(k, item)| walk(item, &|| format!("{}.{}", path(), name(k)))),
            _ => None,
        }
    }
    fields.into_iter().find_map(|(k, v)| walk(v, &|| name(k).to_string()))
}

fn split_header(rows: Vec<RawRow>, is_header: &dyn Fn(&[String]) -> bool, wanted: &str) -> Result<Sheet, ReadError> {
    if rows.is_empty() {
        return Err(ReadError::Empty);
    }
    let pos = rows.iter().take(HEADER_ROWS).position(|r| is_header(&r.cells)).ok_or_else(|| ReadError::NoHeader(wanted.to_string()))?;
    let mut it = rows.into_iter().skip(pos);
    let headers = it.next().map(|r| r.cells).unwrap_or_default();
    let rows = it.filter(|r| r.cells.iter().any(|c| !c.is_empty())).filter(|r| r.cells != headers).collect();
    Ok(Sheet { headers, rows })
}

fn csv_rows(text: &str) -> Vec<RawRow> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut lines = LineCounter::new(text.as_bytes());
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
                out.push(RawRow { loc: Loc::Line(line), cells: record.iter().map(clean_cell).collect() });
            }
            Err(e) => {
                // A malformed record (e.g. an unclosed quote) still becomes a row, so it is rejected
                // with its line rather than lost.
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                out.push(RawRow { loc: Loc::Line(line), cells: vec![format!("\u{0}unreadable CSV record: {e}")] });
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    out
}

fn html_rows(text: &str) -> Result<Vec<RawRow>, ReadError> {
    // The tree builder scans its open elements at each tag: a document nested n deep costs n²
    // (100,000 nested `<div>`s took half a minute). Measured first, in one linear pass.
    let depth = html_depth(text);
    if depth > MAX_HTML_DEPTH {
        return Err(ReadError::TooDeep(depth));
    }
    let doc = scraper::Html::parse_document(text);
    let (Ok(tr), Ok(cell)) = (scraper::Selector::parse("tr"), scraper::Selector::parse("th, td")) else {
        return Ok(Vec::new());
    };
    Ok(doc
        .select(&tr)
        .enumerate()
        .map(|(i, row)| RawRow {
            loc: Loc::Line(i as u64 + 1),
            cells: row.select(&cell).map(|c| clean_cell(&c.text().collect::<String>())).collect(),
        })
        .collect())
}

/// How deep an HTML export may nest its elements. A table saved as `.xls` nests about ten deep.
pub const MAX_HTML_DEPTH: usize = 512;

/// The deepest nesting of a document's elements, from its tags alone. Void elements are not
/// counted, nor elements whose end tag may be left out (`<p>`, `<li>`, `<tr>`, `<td>`…): a parser
/// closes those when their next sibling opens, so they do not deepen the tree.
fn html_depth(text: &str) -> usize {
    use html5ever::tokenizer::{BufferQueue, StartTag, Tag, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer};
    struct Depth {
        open: std::cell::Cell<usize>,
        deepest: std::cell::Cell<usize>,
    }
    impl TokenSink for Depth {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            let TagToken(Tag { kind, name, .. }) = token else {
                return TokenSinkResult::Continue;
            };
            let name: &str = &name;
            let uncounted = matches!(
                name,
                "area"
                    | "base"
                    | "br"
                    | "col"
                    | "embed"
                    | "hr"
                    | "img"
                    | "input"
                    | "link"
                    | "meta"
                    | "param"
                    | "source"
                    | "track"
                    | "wbr"
                    | "keygen"
                    | "p"
                    | "li"
                    | "dt"
                    | "dd"
                    | "option"
                    | "optgroup"
                    | "tr"
                    | "td"
                    | "th"
                    | "thead"
                    | "tbody"
                    | "tfoot"
                    | "colgroup"
                    | "caption"
                    | "rb"
                    | "rt"
                    | "rp"
                    | "rtc"
                    | "html"
                    | "head"
                    | "body"
            );
            if uncounted {
                return TokenSinkResult::Continue;
            }
            if kind == StartTag {
                self.open.set(self.open.get() + 1);
                self.deepest.set(self.deepest.get().max(self.open.get()));
                // Their text is not markup.
                match name {
                    "script" => return TokenSinkResult::RawData(html5ever::tokenizer::states::RawKind::ScriptData),
                    "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
                        return TokenSinkResult::RawData(html5ever::tokenizer::states::RawKind::Rawtext)
                    }
                    "textarea" | "title" => return TokenSinkResult::RawData(html5ever::tokenizer::states::RawKind::Rcdata),
                    _ => {}
                }
            } else {
                self.open.set(self.open.get().saturating_sub(1));
            }
            TokenSinkResult::Continue
        }
    }
    let input = BufferQueue::default();
    input.push_back(html5ever::tendril::StrTendril::from_slice(text));
    let tokenizer = Tokenizer::new(Depth { open: 0.into(), deepest: 0.into() }, Default::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.deepest.get()
}

/// Limits on a workbook, so that a small file cannot unpack into gigabytes (a decompression
/// bomb): its parts may declare at most [`MAX_UNPACKED`] bytes in all (checked before opening;
/// the zip reader then stops any part at its declared size), and a sheet is read cell by cell,
/// at most [`MAX_SHEET_ROWS`] rows and [`MAX_SHEET_CELLS`] cells, counting the empty cells a row
/// is spread over up to its last value.
pub const MAX_UNPACKED: u64 = 1 << 30;
/// Excel's own limit of rows in a sheet.
pub const MAX_SHEET_ROWS: usize = 1 << 20;
/// Sixteen columns on each of Excel's rows.
pub const MAX_SHEET_CELLS: usize = 1 << 24;

fn workbook_rows(bytes: &[u8], is_header: &dyn Fn(&[String]) -> bool) -> Result<Vec<RawRow>, ReadError> {
    // The workbook reader panics on some malformed files (a cell reference such as `ZZZZZZZZZZ1`
    // overflows its integers): such a file is unreadable, and the run goes on with the others.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_workbook(bytes, is_header))).unwrap_or_else(|panic| {
        let why =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
        Err(ReadError::Workbook(format!("the workbook reader failed ({why})")))
    })
}

fn read_workbook(bytes: &[u8], is_header: &dyn Fn(&[String]) -> bool) -> Result<Vec<RawRow>, ReadError> {
    if sniff(bytes) == Sniffed::Xlsx {
        check_unpacked_size(bytes)?;
        // Only XLSX is read of the zipped workbooks: calamine lays other ones (OpenDocument,
        // XLSB) out whole, up to their farthest cell, and no export is one.
        return match calamine::Xlsx::new(Cursor::new(bytes)) {
            Ok(mut wb) => xlsx_rows(&mut wb, is_header),
            Err(e) => Err(ReadError::Workbook(format!("{e} (of zipped workbooks, XLSX is read)"))),
        };
    }
    // A binary `.xls` (at most 65,536 rows of 256 columns) is read whole.
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| ReadError::Workbook(e.to_string()))?;
    let names = wb.sheet_names().to_vec();
    let mut first: Option<Vec<RawRow>> = None;
    // The first sheet whose first rows hold the header; else the first sheet (to report it).
    for name in names {
        let range = wb.worksheet_range(&name).map_err(|e| ReadError::Workbook(e.to_string()))?;
        let (row0, _) = range.start().unwrap_or((0, 0));
        let rows: Vec<RawRow> = range
            .rows()
            .enumerate()
            .map(|(i, r)| RawRow { loc: Loc::SheetRow(name.clone(), row0 as u64 + i as u64 + 1), cells: r.iter().map(cell_text).collect() })
            .collect();
        if rows.iter().take(HEADER_ROWS).any(|r| is_header(&r.cells)) {
            return Ok(rows);
        }
        first.get_or_insert(rows);
    }
    Ok(first.unwrap_or_default())
}

/// Refuses a zip whose parts declare more than [`MAX_UNPACKED`] bytes, naming the largest part.
fn check_unpacked_size(bytes: &[u8]) -> Result<(), ReadError> {
    let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| ReadError::Workbook(e.to_string()))?;
    let (mut total, mut largest) = (0u64, (String::new(), 0u64));
    for i in 0..zip.len() {
        let entry = zip.by_index_data(i).map_err(|e| ReadError::Workbook(e.to_string()))?;
        total = total.saturating_add(entry.size());
        if entry.size() >= largest.1 {
            largest = (entry.name().map(|n| n.to_string()).unwrap_or_else(|_| format!("part {}", i + 1)), entry.size());
        }
    }
    if total > MAX_UNPACKED {
        return Err(ReadError::TooLarge(format!(
            "its parts unpack to {total} bytes ({} alone to {}), over the {} GiB a workbook may hold uncompressed",
            largest.0,
            largest.1,
            MAX_UNPACKED >> 30
        )));
    }
    Ok(())
}

/// An XLSX workbook's rows, streamed cell by cell: the first sheet whose first rows hold the
/// header, else the first rows of the first sheet (to report it). Rows are laid out from the
/// sheet's leftmost value; a row ends at its last value.
fn xlsx_rows<RS: std::io::Read + std::io::Seek>(
    wb: &mut calamine::Xlsx<RS>,
    is_header: &dyn Fn(&[String]) -> bool,
) -> Result<Vec<RawRow>, ReadError> {
    let too_large = |what: String| ReadError::TooLarge(what);
    let names = wb.sheet_names().to_vec();
    let (mut rows_read, mut cells_read) = (0usize, 0usize);
    let mut first: Option<Vec<RawRow>> = None;
    for name in names {
        let mut reader = match wb.worksheet_cells_reader(&name) {
            Ok(r) => r,
            // A chart sheet holds no rows.
            Err(calamine::XlsxError::NotAWorksheet(_)) => continue,
            Err(e) => return Err(ReadError::Workbook(e.to_string())),
        };
        // (row, [(column, text)]) in the sheet's order, empty cells left out.
        let mut sparse: Vec<(u32, Vec<(u32, String)>)> = Vec::new();
        let mut header_seen = false;
        while let Some(cell) = reader.next_cell().map_err(|e| ReadError::Workbook(e.to_string()))? {
            let (r, c) = cell.get_position();
            let text = cell_text(&Data::from(cell.get_value().clone()));
            if text.is_empty() {
                continue;
            }
            if sparse.last().is_none_or(|(last, _)| *last != r) {
                if !header_seen && sparse.last().is_some_and(|(_, cells)| is_header(&dense(cells, 0))) {
                    header_seen = true;
                }
                // Once the header rows have passed without a header, the sheet is not the one.
                if !header_seen && sparse.len() == HEADER_ROWS {
                    break;
                }
                rows_read += 1;
                if rows_read > MAX_SHEET_ROWS {
                    return Err(too_large(format!("sheet {name} has more than {MAX_SHEET_ROWS} rows")));
                }
                sparse.push((r, Vec::new()));
            }
            let Some((_, cells)) = sparse.last_mut() else { continue };
            // The empty cells left of a value count, as they will be laid out.
            let reach = cells.last().map_or(0, |(last, _)| last + 1);
            cells_read = cells_read.saturating_add((c + 1).saturating_sub(reach) as usize);
            if cells_read > MAX_SHEET_CELLS {
                return Err(too_large(format!(
                    "it has more than {MAX_SHEET_CELLS} cells (counting the empty ones left of each value), at sheet {name} row {}",
                    r + 1
                )));
            }
            cells.push((c, text));
        }
        let left = sparse.iter().filter_map(|(_, cells)| cells.iter().map(|(c, _)| *c).min()).min().unwrap_or(0);
        let mut rows: Vec<RawRow> = sparse
            .into_iter()
            .map(|(r, cells)| RawRow { loc: Loc::SheetRow(name.clone(), u64::from(r) + 1), cells: dense(&cells, left) })
            .collect();
        rows.sort_by_key(|row| row.loc.number());
        if rows.iter().take(HEADER_ROWS).any(|r| is_header(&r.cells)) {
            return Ok(rows);
        }
        first.get_or_insert(rows);
    }
    Ok(first.unwrap_or_default())
}

/// A row's cells from column `left` to its last value, empty where it has none.
fn dense(cells: &[(u32, String)], left: u32) -> Vec<String> {
    let width = cells.iter().map(|(c, _)| c + 1).max().unwrap_or(left).saturating_sub(left) as usize;
    let mut out = vec![String::new(); width];
    for (c, text) in cells {
        if let Some(slot) = out.get_mut((c - left) as usize) {
            slot.clone_from(text);
        }
    }
    out
}

/// A cell as text: whole numbers without `.0` (ids are often numbers in Excel), date cells as a
/// wall-clock time (read later as Beijing time).
fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => clean_cell(s),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        Data::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Data::DateTime(dt) => match crate::time::excel_serial_to_naive(dt.as_f64()) {
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => dt.as_f64().to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Reads `.json` (one object, or an array of objects) or JSON Lines (one object per line).
/// A line that is not JSON becomes a record carrying the reason.
pub fn read_json(bytes: &[u8]) -> Result<Vec<JsonRecord>, ReadError> {
    read_json_with(bytes, |record| record, |line, text| JsonRecord { loc: Loc::Line(line), value: json_line(text), raw: text.to_string() })
}

/// Reads `.json` or JSON Lines as [`read_json`] does, each record made by `element` (of a JSON
/// document's record) or by `line` (of a line's number and text). A format that needs only some of
/// a line's fields reads them straight from its text, and no line's whole `serde_json::Value` is
/// kept.
pub fn read_json_with<T: Send>(
    bytes: &[u8],
    element: impl Fn(JsonRecord) -> T,
    line: impl Fn(u64, &str) -> T + Sync,
) -> Result<Vec<T>, ReadError> {
    let text = decode_text(bytes)?;
    // One JSON document (pretty-printed or not)?
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        return Ok(match v {
            serde_json::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| element(JsonRecord { loc: Loc::Element(i as u64 + 1), raw: v.to_string(), value: Ok(v) }))
                .collect(),
            v => vec![element(JsonRecord { loc: Loc::Line(1), value: Ok(v), raw: text.trim().to_string() })],
        });
    }
    // JSON lines, read on every core (a dump of a quarter's comments is one file).
    use rayon::prelude::*;
    let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
    let out: Vec<T> = lines.into_par_iter().map(|(i, text)| line(i as u64 + 1, text)).collect();
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(out)
}

/// A line of JSON Lines as a value, or why it is none.
pub fn json_line(line: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str::<serde_json::Value>(line).map_err(|e| format!("not valid JSON ({e}); the line may be truncated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_problem_names_the_field_by_its_path_and_never_the_value() {
        let problem = |text: &str| match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => json_problem(&m),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            problem(r#"{"a":"x","reply":{"content":"ok","b":[1,"y\u0007"]}}"#).as_deref(),
            Some("field reply.b.1 holds a control character")
        );
        assert_eq!(problem(r#"{"nick\u0001":"\u001b[2J"}"#).as_deref(), Some("field (a field name) holds a control character"));
        let long = format!(r#"{{"reply":{{"content":"{}"}}}}"#, "x".repeat(MAX_CELL_BYTES + 1));
        assert_eq!(
            problem(&long),
            Some(format!("field reply.content holds {} bytes, more than the 64 KiB a cell may hold", MAX_CELL_BYTES + 1))
        );
        assert_eq!(problem(r#"{"a":"x","reply":{"content":"中文\t","n":[1,{"m":null}]}}"#), None);
    }

    #[test]
    fn gbk_and_utf8_decode_to_the_same_text() {
        let (gbk, _, _) = encoding_rs::GBK.encode("单位名称,平台\n东湖街道,微信\n");
        assert_eq!(decode_text(&gbk).unwrap(), "单位名称,平台\n东湖街道,微信\n");
        assert_eq!(decode_text("\u{feff}单位名称".as_bytes()).unwrap(), "单位名称");
        assert_eq!(decode_text(b"\xff\xfe\x00\x00\x810\x810garbage\xc3(\xa0\xa1\n\x80\x80\x80"), Err(ReadError::Undecodable));
        assert_eq!(decode_text(b""), Err(ReadError::Empty));
        for (text, control) in [("a\tb\r\n\u{0c}", false), ("a\u{1}b", true), ("a\u{7f}", true), ("a\u{85}b", true), ("é中文\u{a0}", false)]
        {
            assert_eq!(has_control(text), text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n' | '\u{0c}')), "{text:?}");
            assert_eq!(has_control(text), control, "{text:?}");
        }
        // Around the 64-byte blocks the check passes at once: a control in either block, and a C1
        // control whose two bytes straddle two blocks.
        for at in [0, 1, 62, 63, 64, 65, 127, 128, 200] {
            for control in ['\u{1}', '\u{7f}', '\u{85}', '\u{9f}'] {
                let text = format!("{}{control}{}", "a".repeat(at), "中".repeat(50));
                assert!(has_control(&text), "{at} {control:?}");
            }
            let text = format!("{}\u{a0}\t\r\n{}", "a".repeat(at), "中".repeat(50));
            assert!(!has_control(&text), "{at}");
        }
    }

    #[test]
    fn csv_keeps_lines_and_drops_repeated_headers() {
        let text = "\u{feff}a,b\n1\t,2\na,b\n3,4,5\n";
        let sheet = read_sheet(text.as_bytes(), &|h| h.first().map(|s| s == "a").unwrap_or(false), "a").unwrap();
        assert_eq!(sheet.headers, vec!["a", "b"]);
        assert_eq!(sheet.rows.len(), 2);
        assert_eq!(sheet.rows[0].cells, vec!["1", "2"]);
        assert_eq!(sheet.rows[1].loc, Loc::Line(4));
        assert_eq!(sheet.rows[1].cells.len(), 3);
        let crlf = "h1,h2\r\nx,1\r\ny,2\r\n";
        let sheet = read_sheet(crlf.as_bytes(), &|h| h.first().map(|s| s == "h1").unwrap_or(false), "h1").unwrap();
        assert_eq!(sheet.rows.iter().map(|r| r.loc.number()).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn html_depth_counts_only_elements_that_deepen_the_tree() {
        // Cells and rows left unclosed, paragraphs and line breaks: siblings, not nesting.
        let rows = "<tr><td>a<td>b<p>c<br><li>d".repeat(5_000);
        assert!(html_depth(&format!("<html><body><div><table>{rows}</table></div>")) <= 3);
        assert_eq!(html_depth(&format!("{}x{}", "<div>".repeat(600), "</div>".repeat(600))), 600);
        // Tags in a script are text.
        assert_eq!(html_depth(&format!("<script>{}</script>", "<div>".repeat(600))), 1);
        let deep = format!("<html><body>{}<table><tr><td>x</td></tr></table>", "<span>".repeat(MAX_HTML_DEPTH + 1));
        assert_eq!(html_rows(&deep).unwrap_err(), ReadError::TooDeep(MAX_HTML_DEPTH + 2), "the spans and the table");
    }

    #[test]
    fn json_lines_with_a_truncated_line() {
        let recs = read_json(b"{\"a\": 1}\n{\"a\": 15").unwrap();
        assert_eq!(recs.len(), 2);
        assert!(recs[0].value.is_ok());
        assert!(recs[1].value.is_err());
        assert_eq!(recs[1].loc, Loc::Line(2));
    }
}
