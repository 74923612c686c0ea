//! Records passed on as the server wrote them: each element of a streamed array checked
//! against the live schema in one pass over its bytes, then handed out as its exact text, with
//! where each field's value lies.
//!
//! This is the fast way to copy an endpoint somewhere else (a file, a pipe, a table): no value
//! is decoded or re-encoded, so the output's values are the input's characters, and nothing is
//! allocated per record beyond what its issues need. The checks and issues are the same as
//! [`crate::Decoder`]'s (lenient mode), so a caller can still refuse records that do not match.
//!
//! Most records lie whole inside one chunk of the body and are checked right there; the one
//! that a chunk boundary cuts is found by a cheap scanner (strings, escapes, nesting) and
//! checked once complete, from a buffer bounded by [`RawStream::with_max_record_bytes`].

use std::borrow::Cow;
use std::sync::Arc;

use crate::check::{Scratch, Span};
use crate::error::{DecodeError, Issue};
use crate::lexer::{write_compact, Parser};
use crate::record::RecordSchema;
use crate::stream::{finished, Splitter, State, StreamError, DEFAULT_MAX_RECORD_BYTES};
use kiss_schema::SchemaDocument;

/// One record as it came: its text, its issues, and where each field's value lies.
///
/// Borrowed from the [`RawStream`] that checked it, for the length of one callback.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// The buffer the record lies in.
    text: &'a str,
    span: Span,
    scratch: &'a Scratch,
    schema: &'a RecordSchema,
    index: u64,
}

impl<'a> RawRecord<'a> {
    /// The record's JSON text, exactly as the server wrote it.
    pub fn json(&self) -> &'a str {
        self.slice(self.span)
    }

    /// 0-based position of the record in the array.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Whether the text has no whitespace between its tokens (it is already one compact line).
    pub fn is_compact(&self) -> bool {
        !self.scratch.spaced
    }

    /// Appends the record's text without whitespace between tokens: one line, every value's
    /// characters as they came.
    pub fn write_compact(&self, out: &mut Vec<u8>) {
        if self.is_compact() {
            out.extend_from_slice(self.json().as_bytes());
        } else {
            write_compact(self.json(), out);
        }
    }

    /// What did not match the schema, as [`crate::Record::issues`] would list it.
    pub fn issues(&self) -> &'a [Issue] {
        &self.scratch.issues
    }

    /// The schema the record was checked against.
    pub fn schema(&self) -> &'a RecordSchema {
        self.schema
    }

    /// The value of the schema entry at `position` (first occurrence), if present.
    pub fn value_at(&self, position: usize) -> Option<RawValue<'a>> {
        let span = self.scratch.fields.get(position).copied().flatten()?;
        Some(RawValue {
            text: self.slice(span),
            compact: self.is_compact(),
        })
    }

    /// The value of a field by wire key or schema name, if present.
    pub fn value(&self, key: &str) -> Option<RawValue<'a>> {
        self.value_at(self.schema.position(key)?)
    }

    /// The fields the schema does not know, and repeats of fields it knows, in arrival order:
    /// each key's text between its quotes (escapes as written) and its value.
    pub fn unknown_fields(&self) -> impl Iterator<Item = (&'a str, RawValue<'a>)> + 'a {
        let (text, compact) = (self.text, self.is_compact());
        self.scratch.extra.iter().map(move |&(key, value)| {
            (
                text.get(key.start..key.end).unwrap_or_default(),
                RawValue {
                    text: text.get(value.start..value.end).unwrap_or_default(),
                    compact,
                },
            )
        })
    }

    fn slice(&self, span: Span) -> &'a str {
        // Spans come from the parser, which stops only beside ASCII bytes.
        self.text.get(span.start..span.end).unwrap_or_default()
    }
}

/// One value's JSON text, as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawValue<'a> {
    text: &'a str,
    /// Known to have no whitespace between tokens (its record had none).
    compact: bool,
}

impl<'a> RawValue<'a> {
    /// The JSON text (valid JSON, possibly with whitespace inside objects and arrays).
    pub fn json(&self) -> &'a str {
        self.text
    }

    /// Whether the value is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.text == "null"
    }

    /// A string's contents, unescaped (borrowed unless it has escapes); `None` when the value
    /// is not a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let inner = self.text.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        // Escapes are rare in this data; serde_json unescapes (the text was validated).
        serde_json::from_str::<String>(self.text)
            .ok()
            .map(Cow::Owned)
    }

    /// Whether the text is known to have no whitespace between tokens.
    pub fn is_compact(&self) -> bool {
        self.compact
    }

    /// Appends the value's text without whitespace between tokens.
    pub fn write_compact(&self, out: &mut Vec<u8>) {
        if self.compact {
            out.extend_from_slice(self.text.as_bytes());
        } else {
            write_compact(self.text, out);
        }
    }

    /// The value's text without whitespace between tokens: borrowed when it has none.
    pub fn compact(&self) -> Cow<'a, str> {
        if self.compact {
            return Cow::Borrowed(self.text);
        }
        let mut out = Vec::with_capacity(self.text.len());
        write_compact(self.text, &mut out);
        // Compacting valid UTF-8 only drops ASCII whitespace, so it stays valid.
        String::from_utf8(out).map_or(Cow::Borrowed(self.text), Cow::Owned)
    }
}

/// A push checker for one JSON array of records, handing each out as a [`RawRecord`].
///
/// ```
/// use kiss_dynamic::{RawStream, SchemaDocument, StreamError};
/// let schema = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
///   "fields":[{"name":"sKU","type":"string","required":true}]}"#).unwrap();
/// let mut stream = RawStream::new(&schema);
/// let mut lines = String::new();
/// for chunk in [&b"[{\"SKU\": \"A\"},{\"S"[..], b"KU\":\"B\",\"New\":1.50}", b"]"] {
///     stream
///         .feed(chunk, |record| {
///             let mut line = Vec::new();
///             record.write_compact(&mut line);
///             lines.push_str(std::str::from_utf8(&line).unwrap());
///             lines.push_str(&format!(" {} issue(s)\n", record.issues().len()));
///             Ok::<(), StreamError>(())
///         })
///         .unwrap();
/// }
/// stream.finish().unwrap();
/// assert_eq!(lines, "{\"SKU\":\"A\"} 0 issue(s)\n{\"SKU\":\"B\",\"New\":1.50} 1 issue(s)\n");
/// ```
#[derive(Debug)]
pub struct RawStream {
    schema: Arc<RecordSchema>,
    scratch: Scratch,
    state: State,
    carry: Vec<u8>,
    splitter: Splitter,
    /// Bytes of the body consumed before the current chunk.
    offset: u64,
    record_start: u64,
    records: u64,
    max_record_bytes: u64,
}

/// Why [`RawStream::feed`] stopped: the body was wrong, or the callback said stop.
#[derive(Debug)]
pub enum FeedError<E> {
    /// The body is not an array of records.
    Stream(StreamError),
    /// The callback returned this error.
    Stopped(E),
}

impl<E> From<StreamError> for FeedError<E> {
    fn from(e: StreamError) -> FeedError<E> {
        FeedError::Stream(e)
    }
}

impl RawStream {
    /// A checker for the records of `document`.
    pub fn new(document: &SchemaDocument) -> RawStream {
        RawStream::for_record_schema(RecordSchema::from_document(document))
    }

    /// A checker for records of `schema`.
    pub fn for_record_schema(schema: Arc<RecordSchema>) -> RawStream {
        RawStream {
            schema,
            scratch: Scratch::default(),
            state: State::BeforeArray,
            carry: Vec::new(),
            splitter: Splitter::default(),
            offset: 0,
            record_start: 0,
            records: 0,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// Refuses any record longer than `limit` bytes ([`StreamError::RecordTooLarge`]) instead
    /// of buffering it.
    pub fn with_max_record_bytes(mut self, limit: u64) -> RawStream {
        self.max_record_bytes = limit;
        self
    }

    /// The schema records are checked against.
    pub fn record_schema(&self) -> &Arc<RecordSchema> {
        &self.schema
    }

    /// Records handed out so far.
    pub fn records_decoded(&self) -> u64 {
        self.records
    }

    /// Bytes consumed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.offset
    }

    /// Whether the closing `]` has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Checks one complete JSON array of records (such as a nested array's text) from the
    /// start, calling `each` for every record: the stream is reset first, so one stream (and
    /// its memory) serves array after array.
    pub fn check_array<E>(
        &mut self,
        text: &[u8],
        each: impl FnMut(RawRecord<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        self.state = State::BeforeArray;
        self.carry.clear();
        self.offset = 0;
        self.records = 0;
        self.feed(text, each)?;
        self.finish().map_err(FeedError::Stream)
    }

    /// Declares the body complete: an error if the array did not close.
    pub fn finish(&self) -> Result<(), StreamError> {
        finished(self.state, self.offset, self.records)
    }

    /// Feeds the next bytes of the body, calling `each` with every record they complete, in
    /// order. After an error the stream is failed; start a new one.
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        mut each: impl FnMut(RawRecord<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        if self.state == State::Failed {
            return Err(StreamError::AlreadyFailed.into());
        }
        let result = self.feed_chunk(chunk, &mut each);
        match &result {
            Ok(()) => self.offset += chunk.len() as u64,
            Err(_) => self.state = State::Failed,
        }
        result
    }

    fn feed_chunk<E>(
        &mut self,
        chunk: &[u8],
        each: &mut impl FnMut(RawRecord<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        // One UTF-8 check per chunk: records wholly inside its valid prefix are checked in
        // place. A character cut by the chunk's end (or an invalid byte) only sends the record
        // around it the slow way, where the complete record is checked again.
        let valid = match std::str::from_utf8(chunk) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&chunk[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut parser = Parser::from_text(valid);
        let mut pos = 0;
        while pos < chunk.len() {
            match self.state {
                State::InRecord => {
                    let rest = &chunk[pos..];
                    match self.splitter.end_in(rest) {
                        None => {
                            self.carry_bytes(rest)?;
                            return Ok(());
                        }
                        Some(end) => {
                            self.carry_bytes(&rest[..end])?;
                            pos += end;
                            self.emit_carried(pos, each)?;
                        }
                    }
                }
                State::Done => {
                    let rest = &chunk[pos..];
                    match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                        None => return Ok(()),
                        Some(at) => {
                            return Err(self
                                .unexpected(pos + at, "nothing after the array", rest[at])
                                .into())
                        }
                    }
                }
                State::Failed => return Err(StreamError::AlreadyFailed.into()),
                State::BeforeArray
                | State::FirstElement
                | State::NextElement
                | State::AfterElement => {
                    let byte = chunk[pos];
                    if byte.is_ascii_whitespace() {
                        pos += 1;
                        continue;
                    }
                    match (self.state, byte) {
                        (State::BeforeArray, b'[') => self.state = State::FirstElement,
                        (State::BeforeArray, _) => {
                            return Err(self.unexpected(pos, "'[' opening the array", byte).into())
                        }
                        (State::FirstElement | State::NextElement, b'{') => {
                            self.record_start = self.offset + pos as u64;
                            pos = self.record_at(chunk, &mut parser, pos, each)?;
                            continue;
                        }
                        (State::FirstElement, b']') | (State::AfterElement, b']') => {
                            self.state = State::Done
                        }
                        (State::AfterElement, b',') => self.state = State::NextElement,
                        (State::FirstElement | State::NextElement, _) => {
                            return Err(self.unexpected(pos, "'{' opening a record", byte).into())
                        }
                        (_, _) => {
                            return Err(self
                                .unexpected(pos, "',' or ']' after a record", byte)
                                .into())
                        }
                    }
                    pos += 1;
                }
            }
        }
        Ok(())
    }

    /// The record opening at `pos`: checked in place when it ends inside the chunk, carried
    /// otherwise. Returns where to go on.
    fn record_at<E>(
        &mut self,
        chunk: &[u8],
        parser: &mut Parser<'_>,
        pos: usize,
        each: &mut impl FnMut(RawRecord<'_>) -> Result<(), E>,
    ) -> Result<usize, FeedError<E>> {
        parser.rewind(pos);
        if parser.check_record(&self.schema, &mut self.scratch).is_ok() {
            let end = parser.offset();
            if (end - pos) as u64 > self.max_record_bytes {
                return Err(self.too_large().into());
            }
            let record = RawRecord {
                text: parser.text(),
                span: Span { start: pos, end },
                scratch: &self.scratch,
                schema: &self.schema,
                index: self.records,
            };
            each(record).map_err(FeedError::Stopped)?;
            self.records += 1;
            self.state = State::AfterElement;
            return Ok(end);
        }
        // Cut by the chunk's end, or wrong: find its end the cheap way, then check it whole.
        self.splitter = Splitter::default();
        self.carry.clear();
        self.state = State::InRecord;
        let rest = &chunk[pos..];
        match self.splitter.end_in(rest) {
            None => {
                self.carry_bytes(rest)?;
                Ok(chunk.len())
            }
            Some(end) => {
                self.carry_bytes(&rest[..end])?;
                self.emit_carried(pos + end, each)?;
                Ok(pos + end)
            }
        }
    }

    fn carry_bytes(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        if (self.carry.len() + bytes.len()) as u64 > self.max_record_bytes {
            return Err(self.too_large());
        }
        self.carry.extend_from_slice(bytes);
        Ok(())
    }

    /// Checks the complete record in the carry buffer and hands it out; `end_in_chunk` is
    /// where it ended in the current chunk (for error offsets).
    fn emit_carried<E>(
        &mut self,
        end_in_chunk: usize,
        each: &mut impl FnMut(RawRecord<'_>) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        let carry = std::mem::take(&mut self.carry);
        let checked = Parser::new(&carry).and_then(|mut parser| {
            parser.check_record(&self.schema, &mut self.scratch)?;
            parser.end()?;
            Ok(parser.text())
        });
        let result = match checked {
            Ok(text) => {
                let record = RawRecord {
                    text,
                    span: Span {
                        start: 0,
                        end: text.len(),
                    },
                    scratch: &self.scratch,
                    schema: &self.schema,
                    index: self.records,
                };
                each(record).map_err(FeedError::Stopped)
            }
            Err(e) => Err(FeedError::Stream(StreamError::Record {
                index: self.records,
                start: self.record_start,
                end: self.offset + end_in_chunk as u64,
                source: DecodeError::at(&carry, e),
            })),
        };
        self.carry = carry;
        self.carry.clear();
        result?;
        self.records += 1;
        self.state = State::AfterElement;
        Ok(())
    }

    fn too_large(&mut self) -> StreamError {
        self.carry = Vec::new();
        StreamError::RecordTooLarge {
            index: self.records,
            start: self.record_start,
            limit: self.max_record_bytes,
        }
    }

    fn unexpected(&self, pos: usize, expected: &'static str, byte: u8) -> StreamError {
        StreamError::Unexpected {
            offset: self.offset + pos as u64,
            expected,
            found: (byte as char).escape_default().to_string(),
        }
    }
}
