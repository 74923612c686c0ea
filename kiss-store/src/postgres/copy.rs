//! Rows in the binary format of `COPY … FROM STDIN (FORMAT binary)`, and which cells a typed
//! column holds exactly.
//!
//! Binary, because the server then neither scans every byte for delimiters and escapes nor
//! parses numbers, dates and hex from text: with text `COPY`, that parsing was the largest
//! single cost of a first sync on the server. Each field is its length and its bytes in the
//! column type's wire form (PostgreSQL's `*recv` functions): `BIGINT` 8 bytes big-endian,
//! `BOOLEAN` one byte, `DATE` days from 2000-01-01, `NUMERIC` base-10000 digits with their
//! weight, sign and scale, `JSONB` a version byte and the JSON text, `TEXT` and `BYTEA` their
//! bytes. Written by hand: the `postgres` crate's binary writer takes typed values one
//! `ToSql` at a time, while ours come straight from the wire text.
//!
//! PostgreSQL's columns are typed, and a hostile or drifting API can send a value its column
//! cannot hold (a word in a decimal field, a NUL in a string, a date that is no date). Such a
//! cell is not lost and does not fail the sync: its column is NULL and the cell is kept, as
//! JSON, in the row's `_kiss_unfit` object under the column's name, from which it is read back
//! exactly. The same goes for a value PostgreSQL would hold but give back differently (`1e5`
//! in a `NUMERIC` reads back as `100000`), so that a row always reads back as the cells it was
//! written from.

use std::fmt::Display;

use crate::layout::ColumnType;
use crate::row::Cell;

/// What starts a binary `COPY` stream: its signature, no flags, no header extension.
pub(super) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// What ends one: a tuple of -1 fields.
pub(super) const TRAILER: &[u8] = &[0xff, 0xff];

/// One row's fields, in binary `COPY` form.
#[derive(Debug)]
pub(super) struct CopyRow<'b> {
    out: Option<&'b mut Vec<u8>>,
    /// Where the row's field count goes, written when the row ends.
    count_at: usize,
    fields: u16,
    /// The row's unfit cells, as members of one JSON object (without its braces).
    unfit: String,
}

impl<'b> CopyRow<'b> {
    /// Starts a row at the end of `out`.
    pub(super) fn new(out: &'b mut Vec<u8>) -> CopyRow<'b> {
        let count_at = out.len();
        out.extend_from_slice(&[0, 0]);
        CopyRow {
            out: Some(out),
            count_at,
            fields: 0,
            unfit: String::new(),
        }
    }

    /// A field of `len` bytes, whose bytes the caller appends to what this returns.
    fn field(&mut self, len: usize) -> Option<&mut Vec<u8>> {
        self.fields = self.fields.saturating_add(1);
        let out = self.out.as_deref_mut()?;
        // A field is at most one cell of one response, far below 2 GiB; were it not, it
        // would be NULL rather than a length the server misreads.
        match i32::try_from(len) {
            Ok(len) => {
                out.extend_from_slice(&len.to_be_bytes());
                Some(out)
            }
            Err(_) => {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                None
            }
        }
    }

    /// A NULL field.
    pub(super) fn null(&mut self) {
        self.fields = self.fields.saturating_add(1);
        if let Some(out) = self.out.as_deref_mut() {
            out.extend_from_slice(&(-1i32).to_be_bytes());
        }
    }

    /// A `TEXT` field (`None`: NULL). A NUL, which no PostgreSQL text can hold, becomes
    /// U+FFFD: for the bookkeeping texts only (data cells with a NUL never get here: they are
    /// kept in `_kiss_unfit`).
    pub(super) fn text(&mut self, text: Option<&str>) {
        let Some(text) = text else {
            return self.null();
        };
        if text.contains('\0') {
            let replaced = text.replace('\0', "\u{FFFD}");
            return self.bytes(replaced.as_bytes());
        }
        self.bytes(text.as_bytes());
    }

    /// A `BIGINT` field.
    pub(super) fn int(&mut self, n: i64) {
        if let Some(out) = self.field(8) {
            out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A `BYTEA` field (or a `TEXT` one, given valid UTF-8).
    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        if let Some(out) = self.field(bytes.len()) {
            out.extend_from_slice(bytes);
        }
    }

    /// A `JSONB` field (`None`: NULL) from JSON text JSONB can hold.
    pub(super) fn jsonb(&mut self, json: Option<&str>) {
        let Some(json) = json else {
            return self.null();
        };
        if let Some(out) = self.field(json.len().saturating_add(1)) {
            // Version 1 of JSONB's binary input: the JSON text.
            out.push(1);
            out.extend_from_slice(json.as_bytes());
        }
    }

    /// A cell in a column of `column_type` named `name`: the column's value if it holds the
    /// cell exactly, otherwise NULL and the cell kept in `_kiss_unfit`. (The name is spelled
    /// out only for a cell kept aside: most rows need none.)
    pub(super) fn cell(&mut self, cell: &Cell<'_>, column_type: ColumnType, name: &dyn Display) {
        match (cell, column_type) {
            (Cell::Null, _) => self.null(),
            (Cell::Integer(n), ColumnType::Integer) => self.int(*n),
            (Cell::Integer(n @ (0 | 1)), ColumnType::Boolean) => {
                if let Some(out) = self.field(1) {
                    out.push(u8::from(*n == 1));
                }
            }
            (Cell::Text(text), ColumnType::Decimal) if is_plain_decimal(text) => self.numeric(text),
            (Cell::Text(text), ColumnType::Date) => match plain_date(text) {
                Some(days) => {
                    if let Some(out) = self.field(4) {
                        out.extend_from_slice(&days.to_be_bytes());
                    }
                }
                None => {
                    self.null();
                    self.keep_unfit(name, cell);
                }
            },
            (Cell::Text(text), ColumnType::Text) if !text.contains('\0') => {
                self.bytes(text.as_bytes())
            }
            (Cell::Text(text), ColumnType::Json) if fits_jsonb(text) => self.jsonb(Some(text)),
            (Cell::Integer(n), ColumnType::Text) => {
                // Held as its digits (what a reader of the column wants), read back as the
                // integer it was.
                self.bytes(itoa::Buffer::new().format(*n).as_bytes());
                self.keep_unfit(name, cell);
            }
            _ => {
                self.null();
                self.keep_unfit(name, cell);
            }
        }
    }

    /// A `NUMERIC` field from a plain decimal (`-?digits(.digits)?`): its digits in groups of
    /// four around the point, the first group's place (weight), the sign and the scale (the
    /// fraction's length, so that `19.9500` reads back as written). The server drops leading
    /// and trailing zero groups itself.
    fn numeric(&mut self, text: &str) {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let whole_groups = whole.len().div_ceil(4);
        let fraction_groups = fraction.len().div_ceil(4);
        let groups = whole_groups.saturating_add(fraction_groups);
        // `is_plain_decimal` bounds the text to MAX_DECIMAL bytes: every count fits an i16.
        let (Ok(ndigits), Ok(weight), Ok(scale)) = (
            i16::try_from(groups),
            i16::try_from(whole_groups).map(|w| w.saturating_sub(1)),
            i16::try_from(fraction.len()),
        ) else {
            return self.null();
        };
        let Some(out) = self.field(groups.saturating_mul(2).saturating_add(8)) else {
            return;
        };
        out.extend_from_slice(&ndigits.to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&(if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&scale.to_be_bytes());
        // The whole part's first group is short when its length is no multiple of four; the
        // fraction's last is padded with zeros on the right.
        let lead = match whole.len() % 4 {
            0 => 4,
            short => short,
        };
        let (first, rest) = whole.as_bytes().split_at(lead.min(whole.len()));
        for chunk in std::iter::once(first).chain(rest.chunks(4)) {
            out.extend_from_slice(&group(chunk, 0).to_be_bytes());
        }
        for chunk in fraction.as_bytes().chunks(4) {
            let pad = 4usize.saturating_sub(chunk.len());
            out.extend_from_slice(&group(chunk, pad).to_be_bytes());
        }
    }

    /// A JSON object field of a `JSONB` column (`_extra`), kept in `_kiss_unfit` when JSONB
    /// cannot hold it.
    pub(super) fn json(&mut self, json: Option<&str>, name: &dyn Display) {
        match json {
            Some(text) if !fits_jsonb(text) => {
                self.null();
                self.keep_unfit(name, &Cell::Text(text.into()));
            }
            other => self.jsonb(other),
        }
    }

    fn keep_unfit(&mut self, name: &dyn Display, cell: &Cell<'_>) {
        if !self.unfit.is_empty() {
            self.unfit.push(',');
        }
        self.unfit
            .push_str(&serde_json::to_string(&name.to_string()).unwrap_or_default());
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

    /// Ends the row: its field count goes before its fields.
    pub(super) fn end(mut self) {
        if let Some(count) = self
            .out
            .take()
            .and_then(|out| out.get_mut(self.count_at..self.count_at.saturating_add(2)))
        {
            count.copy_from_slice(&self.fields.to_be_bytes());
        }
    }
}

/// Up to four ASCII digits, then `pad` zeros, as one base-10000 digit.
fn group(digits: &[u8], pad: usize) -> u16 {
    let mut value: u16 = 0;
    for &d in digits {
        value = value
            .wrapping_mul(10)
            .wrapping_add(u16::from(d.wrapping_sub(b'0')));
    }
    for _ in 0..pad {
        value = value.wrapping_mul(10);
    }
    value
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

/// `YYYY-MM-DD`, a real date from year 1 to 9999 (what `DATE` gives back as written), as
/// days from PostgreSQL's epoch, 2000-01-01.
fn plain_date(text: &str) -> Option<i32> {
    // By hand rather than with chrono's format parser: a date in every stock record.
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        part.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok().filter(|y| *y >= 1)?;
    let date = chrono::NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)?;
    i32::try_from(date.signed_duration_since(epoch).num_days()).ok()
}

/// JSON text that `JSONB` can hold: anything but the escaped NUL (`\u0000`).
fn fits_jsonb(text: &str) -> bool {
    !text.contains("\\u0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of the one row `write` makes (`None`: NULL), checking its field count.
    fn fields(write: impl FnOnce(&mut CopyRow<'_>)) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        let mut row = CopyRow::new(&mut out);
        write(&mut row);
        row.unfit();
        row.end();
        let count = usize::from(u16::from_be_bytes([out[0], out[1]]));
        let mut rest = &out[2..];
        let mut fields = Vec::new();
        while !rest.is_empty() {
            let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            rest = &rest[4..];
            match usize::try_from(len) {
                Ok(len) => {
                    fields.push(Some(rest[..len].to_vec()));
                    rest = &rest[len..];
                }
                Err(_) => fields.push(None),
            }
        }
        assert_eq!(fields.len(), count, "the row's field count");
        fields
    }

    fn one(write: impl FnOnce(&mut CopyRow<'_>)) -> Vec<u8> {
        fields(write)[0].clone().unwrap_or_default()
    }

    /// A `NUMERIC` field's parts: digits, weight, sign, scale.
    fn numeric(text: &str) -> (Vec<u16>, i16, u16, i16) {
        let field = one(|r| r.cell(&Cell::Text(text.into()), ColumnType::Decimal, &"N"));
        let word = |i: usize| [field[2 * i], field[2 * i + 1]];
        let ndigits = usize::from(u16::from_be_bytes(word(0)));
        let digits = (0..ndigits)
            .map(|i| u16::from_be_bytes(word(4 + i)))
            .collect();
        assert_eq!(field.len(), 8 + 2 * ndigits);
        (
            digits,
            i16::from_be_bytes(word(1)),
            u16::from_be_bytes(word(2)),
            i16::from_be_bytes(word(3)),
        )
    }

    #[test]
    fn fields_are_lengths_and_bytes_in_each_types_binary_form() {
        let row = fields(|r| {
            r.text(Some("a\tb\nc\\d"));
            r.text(None);
            r.int(-5);
            r.bytes(&[0, 255]);
            r.jsonb(Some("{}"));
            r.text(Some("a\0b"));
            r.cell(&Cell::Integer(1), ColumnType::Boolean, &"Live");
        });
        assert_eq!(
            row,
            [
                Some(b"a\tb\nc\\d".to_vec()),
                None,
                Some((-5i64).to_be_bytes().to_vec()),
                Some(vec![0, 255]),
                Some(b"\x01{}".to_vec()),
                Some("a\u{FFFD}b".as_bytes().to_vec()),
                Some(vec![1]),
                None,
            ]
        );
    }

    #[test]
    fn a_cell_its_column_cannot_hold_exactly_is_kept_aside() {
        let row = fields(|r| {
            r.cell(&Cell::Text("n/a".into()), ColumnType::Decimal, &"Cost");
            r.cell(&Cell::Text("1e5".into()), ColumnType::Decimal, &"Big");
            r.cell(&Cell::Text("2026-02-30".into()), ColumnType::Date, &"ETA");
            r.cell(&Cell::Integer(7), ColumnType::Text, &"EAN");
            r.cell(&Cell::Text("a\0b".into()), ColumnType::Text, &"Name");
            r.json(Some(r#"{"a":"\u0000"}"#), &"_extra");
        });
        let unfit = r#"{"Cost":"n/a","Big":"1e5","ETA":"2026-02-30","EAN":7,"Name":"a\u0000b","_extra":"{\"a\":\"\\u0000\"}"}"#;
        assert_eq!(
            row,
            [
                None,
                None,
                None,
                Some(b"7".to_vec()),
                None,
                None,
                Some(unfit.as_bytes().to_vec())
            ]
        );
    }

    #[test]
    fn decimals_become_base_ten_thousand_digits_with_their_scale() {
        assert_eq!(numeric("19.9500"), (vec![19, 9500], 0, 0, 4));
        assert_eq!(numeric("0"), (vec![0], 0, 0, 0));
        assert_eq!(numeric("0.0001"), (vec![0, 1], 0, 0, 4));
        assert_eq!(numeric("0.5"), (vec![0, 5000], 0, 0, 1));
        assert_eq!(numeric("-3.25"), (vec![3, 2500], 0, 0x4000, 2));
        assert_eq!(numeric("12345.6"), (vec![1, 2345, 6000], 1, 0, 1));
        assert_eq!(numeric("100000000"), (vec![1, 0, 0], 2, 0, 0));
        assert_eq!(numeric("1234"), (vec![1234], 0, 0, 0));
        assert_eq!(
            numeric("98765432.123456789"),
            (vec![9876, 5432, 1234, 5678, 9000], 1, 0, 9)
        );
    }

    #[test]
    fn dates_are_days_from_the_year_2000() {
        let days = |text: &str| one(|r| r.cell(&Cell::Text(text.into()), ColumnType::Date, &"D"));
        assert_eq!(days("2000-01-01"), 0i32.to_be_bytes());
        assert_eq!(days("1999-12-31"), (-1i32).to_be_bytes());
        assert_eq!(days("2026-12-01"), 9831i32.to_be_bytes());
        assert_eq!(days("0001-01-01"), (-730119i32).to_be_bytes());
    }

    #[test]
    fn plain_decimals_and_dates_only() {
        for ok in ["0", "19.9500", "-3.25", "100"] {
            assert!(is_plain_decimal(ok), "{ok}");
        }
        for no in ["", "-", "1.", ".5", "01", "-0", "-0.00", "1e5", "1,5", " 1"] {
            assert!(!is_plain_decimal(no), "{no}");
        }
        assert!(plain_date("2026-12-01").is_some());
        for no in [
            "2026-13-01",
            "26-12-01",
            "0000-01-01",
            "2026-12-01T00:00:00Z",
            "2026-02-30",
            "2026-1-011",
            "2026/12/01",
            "+026-12-01",
        ] {
            assert!(plain_date(no).is_none(), "{no}");
        }
    }
}
