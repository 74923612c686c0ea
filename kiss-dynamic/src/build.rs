//! Records built from the lexer in one pass, typed by the schema as they are read: the engine
//! behind [`crate::Decoder`] and [`crate::Value::from_json`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use chrono::NaiveDate;
use compact_str::CompactString;
use kiss_schema::FieldType;

use crate::decimal::Decimal;
use crate::error::{Issue, IssueKind, SyntaxError};
use crate::lexer::Parser;
use crate::record::{Entry, EntryKind, Extras, RawJson, Record, RecordSchema, Value};

type Parsed<T> = Result<T, SyntaxError>;

impl Parser<'_> {
    /// One record (a JSON object) of `schema`. Nested issues are lifted into the record with
    /// their path.
    pub(crate) fn record(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Record> {
        self.enter()?;
        let result = self.record_within(schema);
        self.leave();
        result
    }

    fn record_within(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Record> {
        self.expect(b'{', "'{' opening a record")?;
        let entries = schema.entries();
        let mut slots: Box<[Option<Value>]> = vec![None; entries.len()].into_boxed_slice();
        let mut extras = Extras::default();
        let report_unknown = !entries.is_empty();
        let mut expected_position = 0;
        let mut unknown_keys: HashSet<Cow<'_, str>> = HashSet::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.advance(1);
        } else {
            loop {
                self.skip_whitespace();
                let key = self.string()?;
                self.expect(b':', "':' after a key")?;
                self.skip_whitespace();
                // Data arrives in schema order: try the next entry before the index.
                let (position, as_wire_key) = match entries.get(expected_position) {
                    Some(entry) if entry.wire_key == key => (Some(expected_position), true),
                    _ => match schema.position(&key) {
                        Some(p) => (Some(p), entries[p].wire_key == key),
                        None => (None, false),
                    },
                };
                match position {
                    Some(position) => {
                        expected_position = position + 1;
                        let entry = &entries[position];
                        let value = self.entry(entry, &mut extras.issues)?;
                        if slots[position].is_some() {
                            // The field again (maybe spelled the other way, `Name` then
                            // `name`): the first value stays the field's, and the second is
                            // kept beside it under its own key, so nothing is lost.
                            extras.issues.push(issue(&key, IssueKind::DuplicateKey));
                            extras.unknown.push((key.into_owned(), value));
                        } else {
                            if !as_wire_key {
                                extras.spelled_as_name.push(position);
                            }
                            slots[position] = Some(value);
                        }
                    }
                    None => {
                        if report_unknown {
                            extras.issues.push(issue(&key, IssueKind::UnknownField));
                        }
                        let value = self.inferred()?;
                        // Both values of a repeated key are kept (in arrival order); the set
                        // of keys seen is built only for records that have unknown fields.
                        if !unknown_keys.insert(key.clone()) {
                            extras.issues.push(issue(&key, IssueKind::DuplicateKey));
                        }
                        extras.unknown.push((key.into_owned(), value));
                    }
                }
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.advance(1),
                    Some(b'}') => {
                        self.advance(1);
                        break;
                    }
                    _ => {
                        let found = self.found();
                        return self
                            .error(format!("expected ',' or '}}' in a record, found {found}"));
                    }
                }
            }
        }
        for &position in schema.required_positions() {
            let (Some(entry), Some(slot)) = (entries.get(position), slots.get(position)) else {
                continue;
            };
            match slot {
                None => extras
                    .issues
                    .push(issue(&entry.wire_key, IssueKind::MissingRequired)),
                Some(Value::Null) => extras
                    .issues
                    .push(issue(&entry.wire_key, IssueKind::RequiredIsNull)),
                Some(_) => {}
            }
        }
        Ok(Record::from_parts(schema.clone(), slots, extras))
    }

    /// A JSON array of records of `schema`.
    pub(crate) fn records(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Vec<Record>> {
        self.enter()?;
        let result = self.records_within(schema);
        self.leave();
        result
    }

    fn records_within(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Vec<Record>> {
        self.expect(b'[', "'[' opening an array of records")?;
        let mut records = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.advance(1);
            return Ok(records);
        }
        loop {
            records.push(self.record(schema)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.advance(1),
                Some(b']') => {
                    self.advance(1);
                    return Ok(records);
                }
                _ => {
                    let found = self.found();
                    return self
                        .error(format!("expected ',' or ']' after a record, found {found}"));
                }
            }
        }
    }

    fn entry(&mut self, entry: &Entry, issues: &mut Vec<Issue>) -> Parsed<Value> {
        match &entry.kind {
            EntryKind::Scalar(field_type) => match self.scalar(field_type)? {
                Ok(value) => Ok(value),
                Err(found) => {
                    issues.push(issue(
                        &entry.wire_key,
                        IssueKind::TypeMismatch {
                            expected: field_type.clone(),
                            found: found.kind(),
                        },
                    ));
                    Ok(found)
                }
            },
            EntryKind::Array(elements) => {
                if let Some(mut records) = self.records_if_objects(elements)? {
                    for (i, record) in records.iter_mut().enumerate() {
                        for nested in record.take_issues() {
                            issues.push(Issue {
                                path: format!("{}[{i}].{}", entry.wire_key, nested.path),
                                kind: nested.kind,
                            });
                        }
                    }
                    return Ok(Value::Array(records.into_boxed_slice()));
                }
                let value = self.inferred()?;
                if !value.is_null() {
                    issues.push(issue(
                        &entry.wire_key,
                        IssueKind::TypeMismatch {
                            expected: FieldType::Other("array of objects".into()),
                            found: value.kind(),
                        },
                    ));
                }
                Ok(value)
            }
        }
    }

    /// The array of records starting here; `None` (not moved) when the next value is not an
    /// array or one of its elements is not an object.
    fn records_if_objects(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Option<Vec<Record>>> {
        self.enter()?;
        let result = self.records_if_objects_within(schema);
        self.leave();
        result
    }

    fn records_if_objects_within(
        &mut self,
        schema: &Arc<RecordSchema>,
    ) -> Parsed<Option<Vec<Record>>> {
        let start = self.offset();
        if self.peek() != Some(b'[') {
            return Ok(None);
        }
        self.advance(1);
        let mut records = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.advance(1);
            return Ok(Some(records));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'{') {
                self.rewind(start);
                return Ok(None);
            }
            records.push(self.record(schema)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.advance(1),
                Some(b']') => {
                    self.advance(1);
                    return Ok(Some(records));
                }
                _ => {
                    let found = self.found();
                    return self.error(format!("expected ',' or ']' in an array, found {found}"));
                }
            }
        }
    }

    /// A value of a declared scalar type: `Ok(Ok(typed))`, or `Ok(Err(inferred))` when the
    /// JSON holds something else (kept as it came).
    fn scalar(&mut self, field_type: &FieldType) -> Parsed<Result<Value, Value>> {
        let next = self.peek();
        if next == Some(b'n') {
            self.literal("null")?;
            return Ok(Ok(Value::Null));
        }
        Ok(match (field_type, next) {
            (FieldType::String, Some(b'"')) => {
                Ok(Value::String(CompactString::from(self.string()?)))
            }
            (FieldType::Decimal, Some(b'-' | b'0'..=b'9')) => {
                Ok(Value::Decimal(Decimal::from_valid_json(self.number()?)))
            }
            (FieldType::Integer, Some(b'-' | b'0'..=b'9')) => {
                let text = self.number()?;
                match parse_integer(text) {
                    Some(n) => Ok(Value::Integer(n)),
                    None => Err(Value::Decimal(Decimal::from_valid_json(text))),
                }
            }
            (FieldType::Boolean, Some(b't')) => {
                self.literal("true")?;
                Ok(Value::Bool(true))
            }
            (FieldType::Boolean, Some(b'f')) => {
                self.literal("false")?;
                Ok(Value::Bool(false))
            }
            (FieldType::Date, Some(b'"')) => {
                let text = self.string()?;
                match parse_date(&text) {
                    Some(date) => Ok(Value::Date(date)),
                    None => Err(Value::String(CompactString::from(text))),
                }
            }
            (FieldType::Other(_), _) => {
                let text = self.skip_value()?;
                Ok(raw_json(text))
            }
            _ => Err(self.inferred()?),
        })
    }

    /// A value typed by inference, after any whitespace.
    pub(crate) fn inferred_value(&mut self) -> Parsed<Value> {
        self.inferred()
    }

    /// The value of a field the schema does not know, with a type inferred from the JSON.
    fn inferred(&mut self) -> Parsed<Value> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'"') => Ok(Value::String(CompactString::from(self.string()?))),
            Some(b't') => self.literal("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Value::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => {
                let text = self.number()?;
                Ok(match parse_integer(text) {
                    Some(n) => Value::Integer(n),
                    None => Value::Decimal(Decimal::from_valid_json(text)),
                })
            }
            Some(b'[') => match self.records_if_objects(&RecordSchema::empty())? {
                Some(records) => Ok(Value::Array(records.into_boxed_slice())),
                None => Ok(raw_json(self.skip_value()?)),
            },
            _ => {
                let text = self.skip_value()?;
                Ok(raw_json(text))
            }
        }
    }
}

fn issue(path: &str, kind: IssueKind) -> Issue {
    Issue {
        path: path.to_owned(),
        kind,
    }
}

pub(crate) fn parse_integer(text: &str) -> Option<i64> {
    if text.contains(['.', 'e', 'E']) || text == "-0" {
        return None;
    }
    text.parse().ok()
}

/// A date only when it prints back exactly as written, so that the round trip is lossless.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

fn raw_json(text: &str) -> Value {
    match RawJson::from_text(text) {
        Ok(raw) => Value::Json(raw),
        // The parser validated the text; serde_json agrees unless its nesting limit trips.
        Err(_) => Value::String(text.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(parse_date("2026-06-15").is_some());
        assert!(parse_date("2026-6-15").is_none());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("+2026-06-1").is_none());
        assert!(parse_date("２０２６-06-15").is_none());
    }
}
