//! Decoding a top-level JSON array one record at a time, from bytes arriving in chunks.
//!
//! serde_json cannot be fed bytes as they arrive, and its `StreamDeserializer` reads
//! whitespace-separated values, not the elements of one array; so this small scanner finds
//! where each element ends (tracking strings, escapes and nesting) and hands the element's
//! bytes to the schema-guided [`Decoder`]. Memory is bounded by the largest record: bytes of a
//! record are buffered only while it spans chunks.

use std::marker::PhantomData;

use thiserror::Error;

use crate::decode::Decoder;
use crate::error::DecodeError;
use crate::lexer::Parser;
use crate::record::Record;

/// Turns the bytes of one array element into a value: a [`Decoder`] gives [`Record`]s,
/// [`Typed`] gives any serde type (such as kiss-generated's structs).
pub trait ElementDecoder {
    /// What one element becomes.
    type Output;
    /// Decodes one element's bytes (a complete JSON value).
    fn decode_element(&self, bytes: &[u8]) -> Result<Self::Output, DecodeError>;

    /// Decodes the element that starts at byte `start` of `text`, right where it lies, when it
    /// is complete and valid there: the element and the offset just past it. `None` when the
    /// text ends first or the element is not valid: the stream then gathers the element's
    /// bytes and calls [`ElementDecoder::decode_element`], which says what is wrong.
    ///
    /// Saves the stream's own pass over the element to find where it ends; the provided
    /// method always says `None`.
    fn decode_in_place(&self, text: &str, start: usize) -> Option<(Self::Output, usize)> {
        let _ = (text, start);
        None
    }
}

impl ElementDecoder for Decoder {
    type Output = Record;
    fn decode_element(&self, bytes: &[u8]) -> Result<Record, DecodeError> {
        self.decode_record(bytes)
    }

    fn decode_in_place(&self, text: &str, start: usize) -> Option<(Record, usize)> {
        let mut parser = Parser::from_text(text);
        parser.rewind(start);
        let record = parser.record(self.record_schema()).ok()?;
        let end = parser.offset();
        self.check(record).ok().map(|record| (record, end))
    }
}

impl Decoder {
    /// A push decoder for a JSON array arriving in chunks of any size.
    pub fn stream(&self) -> ArrayStream {
        ArrayStream::new(self.clone())
    }
}

/// Decodes elements with serde_json into `T`.
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Default for Typed<T> {
    fn default() -> Typed<T> {
        Typed(PhantomData)
    }
}

impl<T> std::fmt::Debug for Typed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Typed<{}>", std::any::type_name::<T>())
    }
}

impl<T: serde::de::DeserializeOwned> ElementDecoder for Typed<T> {
    type Output = T;
    fn decode_element(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }
}

/// A streamed array that went wrong, with where.
#[derive(Debug, Error)]
pub enum StreamError {
    /// A byte that has no place there.
    #[error("byte {offset}: expected {expected}, found {found}")]
    Unexpected {
        /// Offset of the byte from the start of the body.
        offset: u64,
        /// What could stand there.
        expected: &'static str,
        /// What did (a character, escaped).
        found: String,
    },
    /// The bytes stopped before the array closed.
    #[error(
        "the body ended after {offset} bytes, {where_}, after {records} complete records: \
         it was cut short (a dropped connection or a proxy limit); fetch it again"
    )]
    Truncated {
        /// Bytes received.
        offset: u64,
        /// Records decoded before the cut.
        records: u64,
        /// Where the cut fell.
        where_: &'static str,
    },
    /// One element could not be decoded.
    #[error("record {index} (bytes {start}..{end}): {source}")]
    Record {
        /// 0-based index of the record in the array.
        index: u64,
        /// Offset of its first byte.
        start: u64,
        /// Offset past its last byte.
        end: u64,
        /// Why.
        source: DecodeError,
    },
    /// One record is longer than the stream accepts.
    #[error("record {index} (from byte {start}) is longer than {limit} bytes, the most one record may take; refused rather than buffered")]
    RecordTooLarge {
        /// 0-based index of the record in the array.
        index: u64,
        /// Offset of its first byte.
        start: u64,
        /// The limit in force ([`ArrayStream::with_max_record_bytes`]).
        limit: u64,
    },
    /// A previous error ended the stream.
    #[error("the stream already failed; start a new one")]
    AlreadyFailed,
}

/// Where a streamed array is, between chunks (shared by [`ArrayStream`] and
/// [`crate::RawStream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    BeforeArray,
    FirstElement,
    NextElement,
    AfterElement,
    /// Inside a record that a chunk boundary cut: its bytes so far are buffered.
    InRecord,
    Done,
    Failed,
}

/// What declaring a body complete in `state` means: done, or cut short (and where).
pub(crate) fn finished(state: State, offset: u64, records: u64) -> Result<(), StreamError> {
    let where_ = match state {
        State::Done => return Ok(()),
        State::Failed => return Err(StreamError::AlreadyFailed),
        State::BeforeArray => "before the array began",
        State::InRecord => "inside a record",
        State::FirstElement | State::NextElement | State::AfterElement => "between records",
    };
    Err(StreamError::Truncated {
        offset,
        records,
        where_,
    })
}

/// Finds where a JSON value that starts with `{` ends, across chunks: strings, escapes and
/// nesting only (the record is decoded or checked properly once complete).
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    depth: u64,
    in_string: bool,
    escaped: bool,
}

impl Splitter {
    /// A splitter that has just read a record's opening brace.
    pub(crate) fn inside_object() -> Splitter {
        Splitter {
            depth: 1,
            ..Splitter::default()
        }
    }

    /// The offset just past the value's end within `bytes`, if it ends there.
    pub(crate) fn end_in(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            i += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                } else {
                    // Most bytes of a record are string contents: jump to the next quote or
                    // backslash.
                    i += memchr::memchr2(b'"', b'\\', &bytes[i..]).unwrap_or(bytes.len() - i);
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth = self.depth.saturating_add(1),
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// A push decoder for one JSON array of records.
///
/// ```
/// use kiss_dynamic::{Decoder, SchemaDocument};
/// let schema = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
///   "fields":[{"name":"sKU","type":"string","required":true}]}"#).unwrap();
/// let mut stream = Decoder::new(&schema).stream();
/// let mut skus = Vec::new();
/// for chunk in [&b"[{\"SKU\":\"A\"},{\"S"[..], b"KU\":\"B\"}", b"]"] {
///     for record in stream.feed(chunk) {
///         skus.push(record.unwrap().get_str("SKU").unwrap().unwrap().to_owned());
///     }
/// }
/// stream.finish().unwrap();
/// assert_eq!(skus, ["A", "B"]);
/// ```
#[derive(Debug)]
pub struct ArrayStream<D: ElementDecoder = Decoder> {
    decoder: D,
    state: State,
    buffer: Vec<u8>,
    splitter: Splitter,
    offset: u64,
    record_start: u64,
    records: u64,
    max_record_bytes: u64,
}

/// The default of [`ArrayStream::with_max_record_bytes`]: far above any real record (the API's
/// are a few kilobytes), far below what would exhaust a machine.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;

impl<T: serde::de::DeserializeOwned> ArrayStream<Typed<T>> {
    /// A push decoder that gives each element as a `T`, decoded by serde_json.
    ///
    /// ```
    /// use kiss_dynamic::ArrayStream;
    /// let mut stream = ArrayStream::<kiss_dynamic::stream::Typed<serde_json::Value>>::typed();
    /// let values: Vec<_> = stream.feed(b"[{\"a\":1},{\"a\":2}]").collect::<Result<_, _>>().unwrap();
    /// stream.finish().unwrap();
    /// assert_eq!(values[1]["a"], 2);
    /// ```
    pub fn typed() -> ArrayStream<Typed<T>> {
        ArrayStream::new(Typed::default())
    }
}

impl<D: ElementDecoder> ArrayStream<D> {
    /// A push decoder that hands each element's bytes to `decoder`.
    pub fn new(decoder: D) -> ArrayStream<D> {
        ArrayStream {
            decoder,
            state: State::BeforeArray,
            buffer: Vec::new(),
            splitter: Splitter::default(),
            offset: 0,
            record_start: 0,
            records: 0,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// Refuses any record longer than `limit` bytes ([`StreamError::RecordTooLarge`]) instead
    /// of buffering it: memory stays bounded whatever the server sends.
    pub fn with_max_record_bytes(mut self, limit: u64) -> ArrayStream<D> {
        self.max_record_bytes = limit;
        self
    }

    fn too_large(&mut self) -> StreamError {
        self.state = State::Failed;
        self.buffer = Vec::new();
        StreamError::RecordTooLarge {
            index: self.records,
            start: self.record_start,
            limit: self.max_record_bytes,
        }
    }

    /// Feeds the next bytes; the iterator yields each record completed by them.
    pub fn feed<'s>(&'s mut self, chunk: &'s [u8]) -> Records<'s, D> {
        // Elements wholly inside the chunk's valid UTF-8 are decoded in place (when the
        // decoder can); a character cut by the chunk's end only sends its element the slow way.
        let text = match std::str::from_utf8(chunk) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&chunk[..e.valid_up_to()]).unwrap_or_default(),
        };
        Records {
            stream: self,
            chunk,
            text,
            position: 0,
        }
    }

    /// Declares the body complete: an error if the array did not close.
    pub fn finish(&self) -> Result<(), StreamError> {
        finished(self.state, self.offset, self.records)
    }

    /// Records decoded so far.
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

    fn unexpected(&mut self, expected: &'static str, byte: u8) -> StreamError {
        self.state = State::Failed;
        StreamError::Unexpected {
            offset: self.offset,
            expected,
            found: (byte as char).escape_default().to_string(),
        }
    }
}

/// The records completed by one chunk, decoded as the iterator is advanced. Run it to the end:
/// dropping it early leaves bytes unread, so the stream is then marked failed rather than
/// silently losing records.
pub struct Records<'s, D: ElementDecoder = Decoder> {
    stream: &'s mut ArrayStream<D>,
    chunk: &'s [u8],
    /// The chunk's valid UTF-8 prefix.
    text: &'s str,
    position: usize,
}

impl<D: ElementDecoder> Iterator for Records<'_, D> {
    type Item = Result<D::Output, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        let stream = &mut *self.stream;
        let chunk = self.chunk;
        if stream.state == State::Failed {
            if self.position < chunk.len() {
                self.position = chunk.len();
                return Some(Err(StreamError::AlreadyFailed));
            }
            return None;
        }
        let mut segment_start = self.position;
        while self.position < chunk.len() {
            let byte = chunk[self.position];
            let at = self.position;
            self.position += 1;
            match stream.state {
                State::InRecord => match stream.splitter.end_in(&chunk[at..]) {
                    Some(length) => {
                        self.position = at + length;
                        stream.offset += (self.position - segment_start) as u64;
                        if stream.offset - stream.record_start > stream.max_record_bytes {
                            self.position = chunk.len();
                            return Some(Err(stream.too_large()));
                        }
                        return Some(self.complete(segment_start));
                    }
                    None => self.position = chunk.len(),
                },
                _ if byte.is_ascii_whitespace() => {}
                State::BeforeArray if byte == b'[' => stream.state = State::FirstElement,
                State::BeforeArray => {
                    stream.offset += (at - segment_start) as u64;
                    self.position = chunk.len();
                    return Some(Err(stream.unexpected("'[' opening the array", byte)));
                }
                State::FirstElement | State::NextElement if byte == b'{' => {
                    stream.offset += (at - segment_start) as u64;
                    segment_start = at;
                    stream.record_start = stream.offset;
                    if let Some((element, end)) = stream.decoder.decode_in_place(self.text, at) {
                        stream.offset += (end - at) as u64;
                        self.position = end;
                        if (end - at) as u64 > stream.max_record_bytes {
                            self.position = chunk.len();
                            return Some(Err(stream.too_large()));
                        }
                        stream.state = State::AfterElement;
                        stream.records += 1;
                        return Some(Ok(element));
                    }
                    stream.state = State::InRecord;
                    stream.splitter = Splitter::inside_object();
                }
                State::FirstElement if byte == b']' => stream.state = State::Done,
                State::FirstElement | State::NextElement => {
                    stream.offset += (at - segment_start) as u64;
                    self.position = chunk.len();
                    return Some(Err(stream.unexpected("'{' opening a record", byte)));
                }
                State::AfterElement if byte == b',' => stream.state = State::NextElement,
                State::AfterElement if byte == b']' => stream.state = State::Done,
                State::AfterElement => {
                    stream.offset += (at - segment_start) as u64;
                    self.position = chunk.len();
                    return Some(Err(stream.unexpected("',' or ']' after a record", byte)));
                }
                State::Done => {
                    stream.offset += (at - segment_start) as u64;
                    self.position = chunk.len();
                    return Some(Err(stream.unexpected("nothing after the array", byte)));
                }
                State::Failed => unreachable!("handled before the loop"),
            }
        }
        stream.offset += (chunk.len() - segment_start) as u64;
        if stream.state == State::InRecord {
            if stream.offset - stream.record_start > stream.max_record_bytes {
                return Some(Err(stream.too_large()));
            }
            stream.buffer.extend_from_slice(&chunk[segment_start..]);
        }
        None
    }
}

impl<D: ElementDecoder> Drop for Records<'_, D> {
    fn drop(&mut self) {
        if self.position < self.chunk.len() && self.stream.state != State::Failed {
            self.stream.state = State::Failed;
        }
    }
}

impl<D: ElementDecoder> Records<'_, D> {
    /// Decodes the record that ends at `self.position`, from the chunk alone when it began in
    /// it, else from the buffer.
    fn complete(&mut self, segment_start: usize) -> Result<D::Output, StreamError> {
        let stream = &mut *self.stream;
        let piece = &self.chunk[segment_start..self.position];
        let decoded = if stream.buffer.is_empty() {
            stream.decoder.decode_element(piece)
        } else {
            stream.buffer.extend_from_slice(piece);
            let decoded = stream.decoder.decode_element(&stream.buffer);
            stream.buffer.clear();
            decoded
        };
        let index = stream.records;
        stream.state = State::AfterElement;
        match decoded {
            Ok(record) => {
                stream.records += 1;
                Ok(record)
            }
            Err(source) => {
                stream.state = State::Failed;
                Err(StreamError::Record {
                    index,
                    start: stream.record_start,
                    end: stream.offset,
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SchemaDocument;

    fn decoder() -> Decoder {
        let schema = SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap();
        Decoder::new(&schema)
    }

    fn run(chunks: &[&[u8]]) -> (Vec<Record>, Result<(), StreamError>) {
        let mut stream = decoder().stream();
        let mut records = Vec::new();
        for chunk in chunks {
            for record in stream.feed(chunk) {
                match record {
                    Ok(record) => records.push(record),
                    Err(e) => return (records, Err(e)),
                }
            }
        }
        let end = stream.finish();
        (records, end)
    }

    const STOCK: &[u8] = kiss_schema::contract::STOCK_EXAMPLE.as_bytes();

    #[test]
    fn decodes_the_documented_stock_byte_by_byte() {
        let chunks: Vec<&[u8]> = STOCK.chunks(1).collect();
        let (records, end) = run(&chunks);
        end.unwrap();
        assert_eq!(records, decoder().decode_array(STOCK).unwrap());
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn braces_and_quotes_inside_strings_do_not_confuse_it() {
        let text = br#" [ {"SKU":"a}\"]{[","StockLocation":"\\"} , {"SKU":"b"} ] "#;
        let (records, end) = run(&[text]);
        end.unwrap();
        assert_eq!(records[0].get_str("SKU").unwrap(), Some("a}\"]{["));
        assert_eq!(records[0].get_str("StockLocation").unwrap(), Some("\\"));
        assert_eq!(records.len(), 2);
        let (records, end) = run(&[b"[]"]);
        assert!(records.is_empty() && end.is_ok());
    }

    #[test]
    fn truncation_is_an_error_that_says_where() {
        let cut = &STOCK[..STOCK.len() * 2 / 3];
        let (records, end) = run(&[cut]);
        assert_eq!(records.len(), 1);
        let err = end.unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Truncated {
                    records: 1,
                    where_: "inside a record",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains(&format!("after {} bytes", cut.len())));
        let (_, end) = run(&[b""]);
        assert!(matches!(
            end,
            Err(StreamError::Truncated {
                where_: "before the array began",
                ..
            })
        ));
        let (_, end) = run(&[b"[{\"SKU\":\"A\"},"]);
        assert!(matches!(
            end,
            Err(StreamError::Truncated {
                where_: "between records",
                ..
            })
        ));
    }

    #[test]
    fn a_record_over_the_limit_is_refused_not_buffered() {
        let big = format!(r#"[{{"SKU":"A"}},{{"SKU":"{}"}}]"#, "x".repeat(10_000));
        for chunk_size in [7usize, 100_000] {
            let mut stream = decoder().stream().with_max_record_bytes(1_000);
            let mut results = Vec::new();
            for chunk in big.as_bytes().chunks(chunk_size) {
                results.extend(stream.feed(chunk));
            }
            assert!(results[0].is_ok());
            assert!(
                matches!(
                    results[1],
                    Err(StreamError::RecordTooLarge {
                        index: 1,
                        limit: 1_000,
                        ..
                    })
                ),
                "{:?}",
                results[1]
            );
            assert!(
                stream.buffer.capacity() <= 2_000,
                "{}",
                stream.buffer.capacity()
            );
        }
    }

    #[test]
    fn garbage_is_an_error_with_its_offset() {
        let (_, end) = run(&[b"  {\"SKU\":1}"]);
        assert!(
            matches!(end, Err(StreamError::Unexpected { offset: 2, .. })),
            "{end:?}"
        );
        let (records, end) = run(&[b"[{\"SKU\":\"A\"}", b" x"]);
        assert_eq!(records.len(), 1);
        match end {
            Err(StreamError::Unexpected {
                offset,
                expected,
                found,
            }) => {
                assert_eq!(
                    (offset, expected, found.as_str()),
                    (13, "',' or ']' after a record", "x")
                );
            }
            other => panic!("{other:?}"),
        }
        let (_, end) = run(&[b"[1,2]"]);
        assert!(matches!(
            end,
            Err(StreamError::Unexpected { offset: 1, .. })
        ));
        let (_, end) = run(&[b"[{\"SKU\":tru}]"]);
        assert!(
            matches!(
                end,
                Err(StreamError::Record {
                    index: 0,
                    start: 1,
                    ..
                })
            ),
            "{end:?}"
        );
        let (_, end) = run(&[b"[]", b" ]"]);
        assert!(
            matches!(end, Err(StreamError::Unexpected { offset: 3, .. })),
            "{end:?}"
        );
    }
}
