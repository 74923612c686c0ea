//! Records checked against the schema without being built: one pass over the bytes that
//! reports exactly the issues [`crate::Decoder`] would (same checks, same order, same paths)
//! and notes where each top-level value lies, so that its text can be passed on as it came.
//!
//! Nothing is allocated per record unless it has issues, unknown keys or escaped strings: the
//! spans live in a [`Scratch`] reused from record to record. The decoder's `build` module
//! stays the reference: a property test (`tests/raw_records.rs`) holds the two to the same
//! issues on random schemas and records.

use std::borrow::Cow;
use std::collections::HashSet;

use kiss_schema::FieldType;

use crate::build::{parse_date, parse_integer};
use crate::error::{Issue, IssueKind, SyntaxError};
use crate::lexer::Parser;
use crate::record::{Entry, EntryKind, RecordSchema};

type Parsed<T> = Result<T, SyntaxError>;

/// Where a piece of text lies in the input: byte offsets, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// What checking one top-level record found, kept between records to reuse the memory.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The value of each schema entry (by position), first occurrence only.
    pub(crate) fields: Vec<Option<Span>>,
    /// Keys the schema does not know, and repeats of known keys: the key's text between its
    /// quotes (escapes as written), and the value's text, in arrival order.
    pub(crate) extra: Vec<(Span, Span)>,
    /// Every issue, in the decoder's order.
    pub(crate) issues: Vec<Issue>,
    /// Whether whitespace between tokens was seen (the text is not compact).
    pub(crate) spaced: bool,
    /// The values seen in nested records, one vector per nesting level, reused.
    nested: Vec<Vec<Option<Span>>>,
}

/// The empty schema of values typed by inference (arrays of objects in unknown fields).
static NO_FIELDS: std::sync::LazyLock<RecordSchema> =
    std::sync::LazyLock::new(RecordSchema::default);

impl<'a> Parser<'a> {
    /// Checks the record starting at the current position (after any whitespace) against
    /// `schema`, filling `scratch`; the position ends after the record's closing brace.
    pub(crate) fn check_record(
        &mut self,
        schema: &RecordSchema,
        scratch: &mut Scratch,
    ) -> Parsed<()> {
        scratch.fields.clear();
        scratch.fields.resize(schema.entries().len(), None);
        scratch.extra.clear();
        scratch.issues.clear();
        self.take_spaced();
        self.enter()?;
        let mut fields = std::mem::take(&mut scratch.fields);
        let result = self.checked_object(schema, &mut fields, scratch, 0);
        scratch.fields = fields;
        self.leave();
        scratch.spaced = self.take_spaced();
        result
    }

    /// One object of `schema`; `slots` (one per entry) note where each entry's value was.
    fn checked_object(
        &mut self,
        schema: &RecordSchema,
        slots: &mut [Option<Span>],
        scratch: &mut Scratch,
        level: usize,
    ) -> Parsed<()> {
        self.expect(b'{', "'{' opening a record")?;
        let entries = schema.entries();
        let report_unknown = !entries.is_empty();
        let mut expected_position = 0;
        let mut unknown_keys: Option<HashSet<Cow<'a, str>>> = None;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.advance(1);
        } else {
            loop {
                self.skip_whitespace();
                let key_start = self.offset() + 1;
                // Data arrives in schema order: try the next entry's key on the bytes first.
                // The key is read as a string only off that path (it may have escapes).
                let (read_key, position) = match schema.quoted_key(expected_position) {
                    Some(quoted) if self.quoted_key(quoted) => (None, Some(expected_position)),
                    _ => {
                        let key = self.string()?;
                        let position = schema.position(&key);
                        (Some(key), position)
                    }
                };
                let key_span = Span {
                    start: key_start,
                    end: self.offset() - 1,
                };
                let text = self.text();
                let key = move || -> Cow<'a, str> {
                    read_key.unwrap_or_else(|| {
                        Cow::Borrowed(text.get(key_span.start..key_span.end).unwrap_or_default())
                    })
                };
                if self.peek() == Some(b':') {
                    self.advance(1);
                } else {
                    self.expect(b':', "':' after a key")?;
                }
                self.skip_whitespace();
                let value_start = self.offset();
                match position {
                    Some(position) => {
                        expected_position = position + 1;
                        self.checked_entry(&entries[position], scratch, level)?;
                        let value = Span {
                            start: value_start,
                            end: self.offset(),
                        };
                        let slot = slots.get_mut(position);
                        if slot.as_ref().is_some_and(|slot| slot.is_some()) {
                            scratch.issues.push(issue(&key(), IssueKind::DuplicateKey));
                            if level == 0 {
                                scratch.extra.push((key_span, value));
                            }
                        } else if let Some(slot) = slot {
                            *slot = Some(value);
                        }
                    }
                    None => {
                        let key = key();
                        if report_unknown {
                            scratch.issues.push(issue(&key, IssueKind::UnknownField));
                        }
                        self.inferred_kind(scratch, level)?;
                        if level == 0 {
                            scratch.extra.push((
                                key_span,
                                Span {
                                    start: value_start,
                                    end: self.offset(),
                                },
                            ));
                        }
                        if unknown_keys.get_or_insert_default().contains(&key) {
                            scratch.issues.push(issue(&key, IssueKind::DuplicateKey));
                        } else if let Some(keys) = unknown_keys.as_mut() {
                            keys.insert(key);
                        }
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
            let Some(entry) = entries.get(position) else {
                continue;
            };
            let value = slots.get(position).copied().flatten();
            match value.map(|span| self.byte_at(span.start) == Some(b'n')) {
                None => scratch
                    .issues
                    .push(issue(&entry.wire_key, IssueKind::MissingRequired)),
                Some(true) => scratch
                    .issues
                    .push(issue(&entry.wire_key, IssueKind::RequiredIsNull)),
                Some(false) => {}
            }
        }
        Ok(())
    }

    fn checked_entry(&mut self, entry: &Entry, scratch: &mut Scratch, level: usize) -> Parsed<()> {
        match &entry.kind {
            EntryKind::Scalar(field_type) => {
                if let Some(found) = self.checked_scalar(field_type, scratch, level)? {
                    scratch.issues.push(issue(
                        &entry.wire_key,
                        IssueKind::TypeMismatch {
                            expected: field_type.clone(),
                            found,
                        },
                    ));
                }
            }
            EntryKind::Array(elements) => {
                let before = scratch.issues.len();
                if self.checked_records_if_objects(elements, scratch, level, &entry.wire_key)? {
                    return Ok(());
                }
                // Not an array of objects after all: what its elements said does not count.
                scratch.issues.truncate(before);
                let found = self.inferred_kind(scratch, level)?;
                if found != "null" {
                    scratch.issues.push(issue(
                        &entry.wire_key,
                        IssueKind::TypeMismatch {
                            expected: FieldType::Other("array of objects".into()),
                            found,
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks an array of records starting here, lifting their issues under `path[i].`;
    /// `false` (not moved) when the value is not an array or an element is not an object.
    fn checked_records_if_objects(
        &mut self,
        schema: &RecordSchema,
        scratch: &mut Scratch,
        level: usize,
        path: &str,
    ) -> Parsed<bool> {
        self.enter()?;
        let result = self.checked_records_within(schema, scratch, level, path);
        self.leave();
        result
    }

    fn checked_records_within(
        &mut self,
        schema: &RecordSchema,
        scratch: &mut Scratch,
        level: usize,
        path: &str,
    ) -> Parsed<bool> {
        let start = self.offset();
        if self.peek() != Some(b'[') {
            return Ok(false);
        }
        self.advance(1);
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.advance(1);
            return Ok(true);
        }
        let nested_level = level + 1;
        let mut index = 0usize;
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'{') {
                self.rewind(start);
                return Ok(false);
            }
            let before = scratch.issues.len();
            self.checked_nested_record(schema, scratch, nested_level)?;
            for nested in &mut scratch.issues[before..] {
                nested.path = format!("{path}[{index}].{}", nested.path);
            }
            index += 1;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.advance(1),
                Some(b']') => {
                    self.advance(1);
                    return Ok(true);
                }
                _ => {
                    let found = self.found();
                    return self.error(format!("expected ',' or ']' in an array, found {found}"));
                }
            }
        }
    }

    fn checked_nested_record(
        &mut self,
        schema: &RecordSchema,
        scratch: &mut Scratch,
        level: usize,
    ) -> Parsed<()> {
        self.enter()?;
        if scratch.nested.len() < level {
            scratch.nested.resize_with(level, Vec::new);
        }
        let mut seen = std::mem::take(&mut scratch.nested[level - 1]);
        seen.clear();
        seen.resize(schema.entries().len(), None);
        let result = self.checked_object(schema, &mut seen, scratch, level);
        scratch.nested[level - 1] = seen;
        self.leave();
        result
    }

    /// A value of a declared scalar type; `Some(found)` when the JSON holds something else.
    fn checked_scalar(
        &mut self,
        field_type: &FieldType,
        scratch: &mut Scratch,
        level: usize,
    ) -> Parsed<Option<&'static str>> {
        let next = self.peek();
        if next == Some(b'n') {
            self.literal("null")?;
            return Ok(None);
        }
        Ok(match (field_type, next) {
            (FieldType::String, Some(b'"')) => {
                self.skip_string()?;
                None
            }
            (FieldType::Decimal, Some(b'-' | b'0'..=b'9')) => {
                self.number_shape()?;
                None
            }
            (FieldType::Integer, Some(b'-' | b'0'..=b'9')) => {
                let (text, integer) = self.number_shape()?;
                (!integer || parse_integer(text).is_none()).then_some("decimal")
            }
            (FieldType::Boolean, Some(b't')) => {
                self.literal("true")?;
                None
            }
            (FieldType::Boolean, Some(b'f')) => {
                self.literal("false")?;
                None
            }
            (FieldType::Date, Some(b'"')) => {
                parse_date(&self.string()?).is_none().then_some("string")
            }
            (FieldType::Other(_), _) => {
                self.skip_value()?;
                None
            }
            _ => Some(self.inferred_kind(scratch, level)?),
        })
    }

    /// Moves past a value typed by inference, read as the decoder reads unknown fields, and
    /// names its kind as [`crate::Value::kind`] would.
    fn inferred_kind(&mut self, scratch: &mut Scratch, level: usize) -> Parsed<&'static str> {
        self.skip_whitespace();
        Ok(match self.peek() {
            Some(b'"') => {
                self.skip_string()?;
                "string"
            }
            Some(b't') => self.literal("true").map(|()| "boolean")?,
            Some(b'f') => self.literal("false").map(|()| "boolean")?,
            Some(b'n') => self.literal("null").map(|()| "null")?,
            Some(b'-' | b'0'..=b'9') => match self.number_shape()? {
                (text, true) if parse_integer(text).is_some() => "integer",
                _ => "decimal",
            },
            Some(b'[') => {
                // Arrays of objects are records of no known field: the decoder keeps their
                // issues inside the value, not on the record, so they are dropped here.
                let before = scratch.issues.len();
                let records = self.checked_records_if_objects(&NO_FIELDS, scratch, level, "")?;
                scratch.issues.truncate(before);
                if records {
                    "array of records"
                } else {
                    self.skip_value()?;
                    "untyped JSON"
                }
            }
            _ => {
                self.skip_value()?;
                "untyped JSON"
            }
        })
    }
}

fn issue(path: &str, kind: IssueKind) -> Issue {
    Issue {
        path: path.to_owned(),
        kind,
    }
}
