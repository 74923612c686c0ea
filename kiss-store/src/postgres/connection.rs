//! One connection of the engine: its database thread, and the `COPY` it keeps open while
//! rows for one table keep coming.

use std::sync::mpsc::{self, Sender, SyncSender};

use postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::writer::Writer;
use crate::error::StoreError;
use crate::thread::{DatabaseThread, Opening};

/// A [`Writer`] on a thread of its own. Rows handed to [`Connection::copy`] for the table
/// last copied into go on in the same `COPY` statement; anything else done on the
/// connection ends that statement first.
pub(super) struct Connection {
    thread: DatabaseThread<Writer>,
    /// How many batches wait unanswered, on the thread and in the open `COPY`.
    in_flight: usize,
    /// The `COPY` the thread is running: its target, and where its next batches go.
    open: Option<(String, SyncSender<Vec<u8>>)>,
}

/// A [`Connection`] being opened.
pub(super) struct Connecting {
    opening: Opening<Writer>,
    in_flight: usize,
}

impl Connecting {
    /// Waits for the connection to open.
    pub(super) fn connected(self) -> Result<Connection, StoreError> {
        Ok(Connection {
            thread: self.opening.opened()?,
            in_flight: self.in_flight,
            open: None,
        })
    }
}

impl Connection {
    /// Starts connecting on thread `name`; `create`: makes the bookkeeping tables when
    /// missing. [`Connecting::connected`] waits for it.
    pub(super) fn start(
        name: &str,
        in_flight: usize,
        config: Config,
        tls: MakeRustlsConnect,
        described: String,
        create: bool,
    ) -> Result<Connecting, StoreError> {
        let opening = DatabaseThread::spawn(name, in_flight, move || {
            Writer::open(config, tls, described, create)
        })?;
        Ok(Connecting { opening, in_flight })
    }

    /// Copies `rows` (binary `COPY` rows, no header) into `target` without waiting; the
    /// thread gives the emptied buffer back through `give_back`.
    pub(super) fn copy(
        &mut self,
        target: &str,
        rows: Vec<u8>,
        give_back: &Sender<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let rows = match &self.open {
            Some((open, batches)) if open == target => match batches.send(rows) {
                Ok(()) => return Ok(()),
                // The statement failed and its job ended: its error is the thread's.
                Err(_) => {
                    self.open = None;
                    self.thread.call(|_| Ok(()))?;
                    return Err(StoreError::Stopped);
                }
            },
            _ => rows,
        };
        self.end_copy();
        let (batches, received) = mpsc::sync_channel(self.in_flight);
        // Cannot fail: the receiver is here, and the channel empty.
        let _ = batches.send(rows);
        let (to, give_back) = (target.to_owned(), give_back.clone());
        self.thread
            .post(move |w| w.copy_stream(&to, &received, &give_back))?;
        self.open = Some((target.to_owned(), batches));
        Ok(())
    }

    /// Ends the open `COPY`, if any: its job finishes once it has sent what it was given.
    fn end_copy(&mut self) {
        self.open = None;
    }

    /// Whether work posted without waiting failed (its error not yet returned).
    pub(super) fn failing(&self) -> bool {
        self.thread.failing()
    }

    /// See [`DatabaseThread::post`].
    pub(super) fn post(
        &mut self,
        job: impl FnOnce(&mut Writer) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.end_copy();
        self.thread.post(job)
    }

    /// See [`DatabaseThread::call`].
    pub(super) fn call<R: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut Writer) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.end_copy();
        self.thread.call(call)
    }

    /// See [`DatabaseThread::reset`].
    pub(super) fn reset<R: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut Writer) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.end_copy();
        self.thread.reset(call)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Before the thread is joined: a `COPY` left open would wait for batches forever.
        self.end_copy();
    }
}
