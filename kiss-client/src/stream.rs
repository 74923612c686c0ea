//! Data endpoints streamed: the body decoded element by element as its bytes arrive, with
//! memory bounded by the largest record, by whichever decoder the caller chose.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use kiss_dynamic::{ArrayStream, ElementDecoder};
use kiss_schema::Endpoint;

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
                            return Err(stream_error(path, &state.array, e));
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
                            .map_err(|e| stream_error(path, &state.array, e))?;
                        state.finished = true;
                    }
                }
            }
        });
        Ok(records.boxed())
    }
}

fn stream_error<D: ElementDecoder>(
    path: &str,
    array: &ArrayStream<D>,
    error: kiss_dynamic::StreamError,
) -> Error {
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
            detail: format!("{other} (after {} records)", array.records_decoded()),
        },
    }
}
