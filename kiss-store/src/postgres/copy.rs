//! Rows as the text of `COPY … FROM STDIN`, and which cells a typed column holds exactly.
//!
//! PostgreSQL's columns are typed (`NUMERIC`, `BIGINT`, `BOOLEAN`, `DATE`, `TEXT`, `JSONB`),
//! and a hostile or drifting API can send a value its column cannot hold (a word in a decimal
//! field, a NUL in a string, a date that is no date). Such a cell is not lost and does not fail
//! the sync: its column is NULL and the cell is kept, as JSON, in the row's `_kiss_unfit`
//! object under the column's name, from which it is read back exactly. The same goes for a
//! value PostgreSQL would hold but give back differently (`1e5` in a `NUMERIC` reads back as
//! `100000`), so that a row always reads back as the cells it was written from.

use crate::layout::ColumnType;
use crate::row::Cell;

/// One row's `COPY` text, field by field.
#[derive(Debug, Default)]
pub(super) struct CopyRow<'b> {
    out: Option<&'b mut Vec<u8>>,
    first: bool,
    /// The row's unfit cells, as members of one JSON object (without its braces).
    unfit: String,
}

impl<'b> CopyRow<'b> {
    /// Starts a row at the end of `out`.
    pub(super) fn new(out: &'b mut Vec<u8>) -> CopyRow<'b> {
        CopyRow {
            out: Some(out),
            first: true,
            unfit: String::new(),
        }
    }

    fn separate(&mut self) -> Option<&mut Vec<u8>> {
        let first = std::mem::replace(&mut self.first, false);
        let out = self.out.as_deref_mut()?;
        if !first {
            out.push(b'\t');
        }
        Some(out)
    }

    /// A NULL field.
    pub(super) fn null(&mut self) {
        if let Some(out) = self.separate() {
            out.extend_from_slice(b"\\N");
        }
    }

    /// A text field (`None`: NULL), escaped as `COPY`'s text format needs.
    pub(super) fn text(&mut self, text: Option<&str>) {
        let Some(text) = text else {
            return self.null();
        };
        if let Some(out) = self.separate() {
            escape_into(out, text);
        }
    }

    /// An integer field.
    pub(super) fn int(&mut self, n: i64) {
        if let Some(out) = self.separate() {
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
    }

    /// A `BYTEA` field, in hex.
    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        if let Some(out) = self.separate() {
            // `\x` starts hex; the backslash itself is escaped for COPY.
            out.extend_from_slice(b"\\\\x");
            for b in bytes {
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }

    /// A cell in a column of `column_type` named `name`: the column's value if it holds the
    /// cell exactly, otherwise NULL and the cell kept in `_kiss_unfit`.
    pub(super) fn cell(&mut self, cell: &Cell<'_>, column_type: ColumnType, name: &str) {
        match (cell, column_type) {
            (Cell::Null, _) => self.null(),
            (Cell::Integer(n), ColumnType::Integer) => self.int(*n),
            (Cell::Integer(n @ (0 | 1)), ColumnType::Boolean) => {
                self.text(Some(if *n == 1 { "t" } else { "f" }))
            }
            (Cell::Text(text), ColumnType::Decimal) if is_plain_decimal(text) => {
                self.text(Some(text))
            }
            (Cell::Text(text), ColumnType::Date) if is_plain_date(text) => self.text(Some(text)),
            (Cell::Text(text), ColumnType::Text) if !text.contains('\0') => self.text(Some(text)),
            (Cell::Text(text), ColumnType::Json) if fits_jsonb(text) => self.text(Some(text)),
            (Cell::Integer(n), ColumnType::Text) => {
                // Held as its digits (what a reader of the column wants), read back as the
                // integer it was.
                self.int(*n);
                self.keep_unfit(name, cell);
            }
            _ => {
                self.null();
                self.keep_unfit(name, cell);
            }
        }
    }

    /// A JSON object field of a `JSONB` column (`_extra`), kept in `_kiss_unfit` when JSONB
    /// cannot hold it.
    pub(super) fn json(&mut self, json: Option<&str>, name: &str) {
        match json {
            Some(text) if !fits_jsonb(text) => {
                self.null();
                self.keep_unfit(name, &Cell::Text(text.into()));
            }
            other => self.text(other),
        }
    }

    fn keep_unfit(&mut self, name: &str, cell: &Cell<'_>) {
        if !self.unfit.is_empty() {
            self.unfit.push(',');
        }
        self.unfit
            .push_str(&serde_json::to_string(name).unwrap_or_default());
        self.unfit.push(':');
        match cell {
            Cell::Null => self.unfit.push_str("null"),
            Cell::Integer(n) => self.unfit.push_str(itoa::Buffer::new().format(*n)),
            Cell::Text(text) => self
                .unfit
                .push_str(&serde_json::to_string(text.as_ref()).unwrap_or_default()),
        }
    }

    /// The `_kiss_unfit` field (NULL when every cell fitted); call once the row's cells are in.
    pub(super) fn unfit(&mut self) {
        if self.unfit.is_empty() {
            return self.null();
        }
        let object = format!("{{{}}}", std::mem::take(&mut self.unfit));
        self.text(Some(&object));
    }

    /// Ends the row.
    pub(super) fn end(mut self) {
        if let Some(out) = self.out.take() {
            out.push(b'\n');
        }
    }
}

/// `COPY`'s text format: backslash, tab, newline and carriage return escaped; a NUL (which no
/// PostgreSQL text can hold) as U+FFFD, for the bookkeeping texts only (data cells with a NUL
/// never get here: they are kept in `_kiss_unfit`).
fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0 => "\u{FFFD}".as_bytes(),
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// Longest decimal text stored as `NUMERIC` (PostgreSQL's own limits are far larger; this
/// bounds what one hostile value costs).
const MAX_DECIMAL: usize = 1000;

/// `-?digits(.digits)?` without a negative zero: what `NUMERIC` gives back exactly as written
/// (scale included: `19.9500` stays `19.9500`).
fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if text.len() > MAX_DECIMAL || digits.is_empty() {
        return false;
    }
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let plain = all_digits(whole)
        && fraction.is_none_or(all_digits)
        && !(whole.len() > 1 && whole.starts_with('0'));
    let negative_zero = text.starts_with('-') && digits.bytes().all(|b| b == b'0' || b == b'.');
    plain && !negative_zero
}

/// `YYYY-MM-DD`, a real date from year 1 to 9999: what `DATE` gives back as written.
fn is_plain_date(text: &str) -> bool {
    text.len() == 10
        && text.as_bytes().get(4) == Some(&b'-')
        && !text.starts_with("0000")
        && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// JSON text that `JSONB` can hold: anything but the escaped NUL (`\u0000`).
fn fits_jsonb(text: &str) -> bool {
    !text.contains("\\u0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(write: impl FnOnce(&mut CopyRow<'_>)) -> String {
        let mut out = Vec::new();
        let mut row = CopyRow::new(&mut out);
        write(&mut row);
        row.unfit();
        row.end();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn escapes_what_copy_text_format_reserves() {
        let line = copied(|r| {
            r.text(Some("a\tb\nc\\d\re"));
            r.text(None);
            r.int(-5);
            r.bytes(&[0, 255]);
        });
        assert_eq!(line, "a\\tb\\nc\\\\d\\re\t\\N\t-5\t\\\\x00ff\t\\N\n");
    }

    #[test]
    fn a_cell_its_column_cannot_hold_exactly_is_kept_aside() {
        let line = copied(|r| {
            r.cell(&Cell::Text("19.9500".into()), ColumnType::Decimal, "Price");
            r.cell(&Cell::Text("n/a".into()), ColumnType::Decimal, "Cost");
            r.cell(&Cell::Text("1e5".into()), ColumnType::Decimal, "Big");
            r.cell(&Cell::Text("2026-02-30".into()), ColumnType::Date, "ETA");
            r.cell(&Cell::Integer(7), ColumnType::Text, "EAN");
            r.cell(&Cell::Integer(1), ColumnType::Boolean, "Live");
        });
        assert_eq!(
            line,
            "19.9500\t\\N\t\\N\t\\N\t7\tt\t{\"Cost\":\"n/a\",\"Big\":\"1e5\",\"ETA\":\"2026-02-30\",\"EAN\":7}\n"
        );
    }

    #[test]
    fn plain_decimals_and_dates_only() {
        for ok in ["0", "19.9500", "-3.25", "100"] {
            assert!(is_plain_decimal(ok), "{ok}");
        }
        for no in ["", "-", "1.", ".5", "01", "-0", "-0.00", "1e5", "1,5", " 1"] {
            assert!(!is_plain_decimal(no), "{no}");
        }
        assert!(is_plain_date("2026-12-01"));
        for no in [
            "2026-13-01",
            "26-12-01",
            "0000-01-01",
            "2026-12-01T00:00:00Z",
        ] {
            assert!(!is_plain_date(no), "{no}");
        }
    }
}
