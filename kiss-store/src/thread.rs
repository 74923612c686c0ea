//! A database connection on a thread of its own, shared by the engines.
//!
//! The [`crate::Engine`] trait is synchronous and is called from inside the chunk callback of
//! an async response stream; the database clients are blocking (rusqlite) or run their own
//! runtime (the `postgres` client), which must not be entered from an async task. So each
//! engine keeps its connection on a thread: writes are posted without waiting (the sync reads
//! and checks the next records while the database writes the last ones), everything else is a
//! call that waits for its answer, after the posted work before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::StoreError;

/// One piece of work for the thread.
type Job<S> = Box<dyn FnOnce(&mut Served<S>) + Send>;

/// What the thread holds: the connection's state and the first error of work posted without
/// an answer.
struct Served<S> {
    state: S,
    failed: Option<StoreError>,
    failing: Arc<AtomicBool>,
}

/// A connection's state `S` on its own thread.
pub(crate) struct DatabaseThread<S> {
    jobs: Option<SyncSender<Job<S>>>,
    thread: Option<JoinHandle<()>>,
    failing: Arc<AtomicBool>,
}

impl<S: 'static> DatabaseThread<S> {
    /// Starts thread `name` and opens the connection on it with `open`; at most `in_flight`
    /// posted jobs wait unanswered (which bounds the memory they hold).
    pub(crate) fn start(
        name: &str,
        in_flight: usize,
        open: impl FnOnce() -> Result<S, StoreError> + Send + 'static,
    ) -> Result<DatabaseThread<S>, StoreError> {
        DatabaseThread::spawn(name, in_flight, open)?.opened()
    }

    /// [`DatabaseThread::start`] without waiting for the connection to open: connections
    /// opened side by side each take their round trips (and TLS handshake) at once.
    pub(crate) fn spawn(
        name: &str,
        in_flight: usize,
        open: impl FnOnce() -> Result<S, StoreError> + Send + 'static,
    ) -> Result<Opening<S>, StoreError> {
        let (jobs, queue) = mpsc::sync_channel::<Job<S>>(in_flight);
        let (opened, open_result) = mpsc::channel::<Result<(), StoreError>>();
        let failing = Arc::new(AtomicBool::new(false));
        let thread = {
            let failing = failing.clone();
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || match open() {
                    Ok(state) => {
                        let _ = opened.send(Ok(()));
                        serve(
                            Served {
                                state,
                                failed: None,
                                failing,
                            },
                            queue,
                        );
                    }
                    Err(e) => {
                        let _ = opened.send(Err(e));
                    }
                })
                .map_err(|source| StoreError::Thread { source })?
        };
        Ok(Opening {
            thread: DatabaseThread {
                jobs: Some(jobs),
                thread: Some(thread),
                failing,
            },
            open_result,
        })
    }

    fn send(&self, job: Job<S>) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Stopped)?;
        jobs.send(job).map_err(|_| StoreError::Stopped)
    }

    /// Runs `job` without waiting for it; its error, if any, is kept and returned by the next
    /// [`DatabaseThread::call`] (later posted jobs are skipped until then).
    pub(crate) fn post(
        &self,
        job: impl FnOnce(&mut S) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.send(Box::new(move |served: &mut Served<S>| {
            if served.failed.is_some() {
                return;
            }
            if let Err(e) = job(&mut served.state) {
                served.failed = Some(e);
                served.failing.store(true, Ordering::Relaxed);
            }
        }))
    }

    /// Whether posted work failed (its error not yet returned).
    pub(crate) fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Runs `call` after every job posted before it and waits for its answer; fails instead
    /// with the error of posted work that failed.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        call: impl FnOnce(&mut S) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.answer(move |served| match served.failed.take() {
            Some(e) => {
                served.failing.store(false, Ordering::Relaxed);
                Err(e)
            }
            None => call(&mut served.state),
        })
    }

    /// Forgets the error of posted work (its effects are being undone) and runs `call`.
    pub(crate) fn reset<R: Send + 'static>(
        &self,
        call: impl FnOnce(&mut S) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.answer(move |served| {
            served.failed = None;
            served.failing.store(false, Ordering::Relaxed);
            call(&mut served.state)
        })
    }

    fn answer<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Served<S>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (answer, answered) = mpsc::channel();
        self.send(Box::new(move |served: &mut Served<S>| {
            let _ = answer.send(job(served));
        }))?;
        answered.recv().map_err(|_| StoreError::Stopped)?
    }
}

/// The thread: jobs in order until the handle is dropped.
fn serve<S>(mut served: Served<S>, queue: Receiver<Job<S>>) {
    for job in queue {
        job(&mut served);
    }
}

/// A [`DatabaseThread`] whose connection is being opened.
pub(crate) struct Opening<S> {
    thread: DatabaseThread<S>,
    open_result: Receiver<Result<(), StoreError>>,
}

impl<S> Opening<S> {
    /// Waits for the connection: the thread, or why it could not connect.
    pub(crate) fn opened(self) -> Result<DatabaseThread<S>, StoreError> {
        self.open_result.recv().map_err(|_| StoreError::Stopped)??;
        Ok(self.thread)
    }
}

impl<S> Drop for DatabaseThread<S> {
    fn drop(&mut self) {
        // Closing the queue ends the thread, which closes the connection (a transaction still
        // open is rolled back by the database).
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(detail: &str) -> StoreError {
        StoreError::Corrupt {
            detail: detail.to_owned(),
        }
    }

    #[test]
    fn posted_work_runs_in_order_and_its_first_error_comes_back_from_the_next_call() {
        let thread = DatabaseThread::start("kiss-test", 2, || Ok(Vec::<u32>::new())).unwrap();
        thread
            .post(|log| {
                log.push(1);
                Ok(())
            })
            .unwrap();
        assert_eq!(thread.call(|log| Ok(log.clone())).unwrap(), [1]);
        thread.post(|_| Err(failure("first"))).unwrap();
        // Skipped: work after a failure waits for the failure to be heard.
        thread
            .post(|log| {
                log.push(2);
                Ok(())
            })
            .unwrap();
        let said = thread.call(|log| Ok(log.clone())).unwrap_err().to_string();
        assert!(said.contains("first"), "{said}");
        assert!(!thread.failing());
        assert_eq!(thread.call(|log| Ok(log.clone())).unwrap(), [1]);
        // A reset forgets a failure whose work is being undone.
        thread.post(|_| Err(failure("undone"))).unwrap();
        thread
            .reset(|log| {
                log.clear();
                Ok(())
            })
            .unwrap();
        assert_eq!(thread.call(|log| Ok(log.len())).unwrap(), 0);
    }

    #[test]
    fn a_connection_that_cannot_open_says_why() {
        let opened = DatabaseThread::<()>::start("kiss-test", 1, || Err(failure("no such file")));
        assert!(opened
            .err()
            .is_some_and(|e| e.to_string().contains("no such file")));
    }

    #[test]
    fn connections_spawned_together_open_at_once_and_each_says_how_it_went() {
        // Both opens wait at one barrier: were the second started only once the first had
        // opened, the first would wait forever.
        let both = Arc::new(std::sync::Barrier::new(2));
        let (first, second) = (both.clone(), both);
        let ok = DatabaseThread::spawn("kiss-test", 1, move || {
            first.wait();
            Ok(7u32)
        })
        .unwrap();
        let failed = DatabaseThread::<u32>::spawn("kiss-test", 1, move || {
            second.wait();
            Err(failure("refused"))
        })
        .unwrap();
        let ok = ok.opened().unwrap();
        assert_eq!(ok.call(|n| Ok(*n)).unwrap(), 7);
        assert!(failed
            .opened()
            .err()
            .is_some_and(|e| e.to_string().contains("refused")));
    }
}
