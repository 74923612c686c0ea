//! `kiss export`: one endpoint's records, streamed into JSON, NDJSON or CSV.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiss_client::{Client, Endpoint};
use kiss_dynamic::TableLayout;

use crate::{exit, Failure};

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The endpoint to export.
    #[arg(value_parser = crate::endpoint_arg())]
    endpoint: Endpoint,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write to FILE, which appears only once the export is complete; stdout otherwise (or
    /// with `--out -`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Fail on the first record that does not match the live schema (a missing required
    /// field, a value of another type, an unknown or repeated key). Without it such records
    /// are exported as they came and the issues are summed up on stderr.
    #[arg(long)]
    strict: bool,
    /// With --format csv: a cell that a spreadsheet would run as a formula (it starts with
    /// = + - @, a tab or a carriage return, and is not a plain number) gets a leading ', so
    /// that Excel, LibreOffice and Google Sheets show it as text. Without it every cell is
    /// exactly the API's value.
    #[arg(long)]
    csv_safe: bool,
    /// Last, so that the export's own options come first in its help.
    #[command(flatten)]
    pub(crate) connection: crate::Connection,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON array, as the API serves it.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated: a header row of the live schema's wire keys, then `_extra` (the
    /// fields the schema does not know, as one JSON object).
    Csv,
}

/// How much output is gathered per write: large enough that system calls cost little next
/// to copying (8 KiB, `BufWriter`'s default, made 9,000 calls for a 71.5 MB export), small
/// enough to fill in a few milliseconds; output is also flushed at least every
/// [`FLUSH_AT_LEAST_EVERY`].
const OUTPUT_BUFFER: usize = 256 * 1024;

/// The longest output waits in the buffer while the body keeps coming.
const FLUSH_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Counts what passes through, for the progress line and the summary.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io_failure(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(exit::FAILURE, format!("{what}: {e}"))
}

/// A reader that went away (`kiss export … | head`) ends the export quietly, as SIGPIPE
/// would; anything else is a failure.
fn write_failure(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::new(exit::BROKEN_PIPE, "")
    } else {
        io_failure("cannot write the export", e)
    }
}

pub(crate) async fn run(client: &Client, args: ExportArgs, quiet: bool) -> Result<(), Failure> {
    if args.csv_safe && args.format != Format::Csv {
        return Err(Failure::new(
            exit::USAGE,
            "--csv-safe is for --format csv (JSON and NDJSON are not opened as spreadsheets)",
        ));
    }
    // Listen for signals before the temporary file exists, so none can ever leave it.
    let interrupt = Interrupt::listen()?;
    // `--out -` is stdout, as for most tools.
    let target = match &args.out {
        Some(path) if path.as_os_str() != "-" => Some(crate::output::Target::prepare(path)?),
        _ => None,
    };
    let progress = ProgressBar::with_draw_target(
        None,
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    progress.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} records  {msg}  {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let endpoint = args.endpoint;
    let outcome = match &target {
        Some(target) => {
            let file = target.reopen()?;
            let writer = Counting {
                inner: BufWriter::with_capacity(OUTPUT_BUFFER, file),
                bytes: 0,
            };
            interrupt
                .around(export(client, endpoint, &args, writer, &progress))
                .await
        }
        None => {
            let writer = Counting {
                inner: BufWriter::with_capacity(OUTPUT_BUFFER, std::io::stdout().lock()),
                bytes: 0,
            };
            interrupt
                .around(export(client, endpoint, &args, writer, &progress))
                .await
        }
    };
    progress.finish_and_clear();
    let (records, bytes, issues) = match outcome {
        Ok(summary) => summary,
        Err(failure) => {
            // Dropping the temporary file removes it: nothing half-written under the name.
            drop(target);
            return Err(failure);
        }
    };
    if !quiet {
        if let Some(summary) = issues.summary("exported as they came; --strict fails on them") {
            eprintln!("kiss: {}", crate::terminal::escaped(&summary));
        }
    }
    if let Some(target) = target {
        let path = target.commit()?;
        if !quiet {
            eprintln!(
                "kiss: wrote {records} records of {} to {} ({bytes} bytes)",
                endpoint.path(),
                path.display()
            );
        }
    }
    Ok(())
}

/// The signals that end a run (Ctrl-C, `kill`, a closed terminal), listened for from the
/// moment this exists (tokio's `ctrl_c()` only starts listening when first polled, too late
/// for a file created before). Each ends the export the same way: the temporary file is
/// removed, nothing appears under the target name, and the exit code says which signal
/// (128 + its number, as a shell reports it).
pub(crate) struct Interrupt {
    #[cfg(unix)]
    signals: [(tokio::signal::unix::Signal, &'static str, u8); 3],
}

impl Interrupt {
    pub(crate) fn listen() -> Result<Interrupt, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen = |kind: SignalKind, name: &'static str, code: u8| {
                signal(kind)
                    .map(|s| (s, name, code))
                    .map_err(|e| io_failure(&format!("cannot listen for {name}"), e))
            };
            Ok(Interrupt {
                signals: [
                    listen(
                        SignalKind::interrupt(),
                        "Ctrl-C (SIGINT)",
                        exit::INTERRUPTED,
                    )?,
                    listen(SignalKind::terminate(), "SIGTERM", exit::TERMINATED)?,
                    listen(SignalKind::hangup(), "SIGHUP", exit::HANGUP)?,
                ],
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupt {})
        }
    }

    /// Which signal came: its name and exit code.
    pub(crate) async fn wait(&mut self) -> (&'static str, u8) {
        #[cfg(unix)]
        {
            let [(int, int_name, int_code), (term, term_name, term_code), (hup, hup_name, hup_code)] =
                &mut self.signals;
            tokio::select! {
                _ = int.recv() => (*int_name, *int_code),
                _ = term.recv() => (*term_name, *term_code),
                _ = hup.recv() => (*hup_name, *hup_code),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ("Ctrl-C", exit::INTERRUPTED)
        }
    }

    async fn around<T>(
        mut self,
        export: impl std::future::Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        tokio::select! {
            outcome = export => outcome,
            (name, code) = self.wait() => Err(Failure::new(
                code,
                format!("interrupted by {name}: the export was abandoned and no file was written"),
            )),
        }
    }
}

async fn export<W: Write>(
    client: &Client,
    endpoint: Endpoint,
    args: &ExportArgs,
    out: Counting<W>,
    progress: &ProgressBar,
) -> Result<(u64, u64, Issues), Failure> {
    let format = args.format;
    let strict = args.strict;
    let csv_safe = args.csv_safe;
    let mut issues = Issues::default();
    // Records come as the server wrote them, checked against the live schema in one pass:
    // JSON and NDJSON pass their text on (NDJSON compacted to one line when it is not
    // already), CSV takes its cells from slices of it. No value is decoded or re-encoded.
    let (_schema, mut records) = client.raw_records(endpoint).await?;
    // CSV's columns are fixed by the live schema (unknown fields go to one trailing JSON
    // column), so rows stream out as records arrive: no spool, no second pass.
    let layout = TableLayout::new(records.record_schema().clone());
    let mut count = 0u64;
    let mut scratch = Vec::with_capacity(4096);
    // Zero: the first piece of the body goes out as soon as it is checked.
    let mut last_flush = std::time::Instant::now() - FLUSH_AT_LEAST_EVERY;
    let mut sink = match format {
        Format::Json | Format::Ndjson => Sink::Text(out),
        Format::Csv => Sink::Csv(Box::new(csv::WriterBuilder::new().from_writer(out))),
    };
    match &mut sink {
        Sink::Text(out) if format == Format::Json => out.write_all(b"[").map_err(write_failure)?,
        Sink::Csv(csv) => csv.write_record(layout.headers()).map_err(csv_failure)?,
        Sink::Text(_) => {}
    }
    loop {
        let more = records
            .next_chunk(|record| {
                if let Some(first) = record.issues().first() {
                    if strict {
                        return Err(Failure::new(
                            exit::FAILURE,
                            format!(
                                "record {count} does not match the live schema: {first} \
                                 (--strict); nothing was written"
                            ),
                        ));
                    }
                    issues.add(record.issues());
                }
                match &mut sink {
                    Sink::Text(out) if format == Format::Json => out
                        .write_all(if count == 0 { b"\n" } else { b",\n" })
                        .and_then(|()| out.write_all(record.json().as_bytes()))
                        .map_err(write_failure)?,
                    Sink::Text(out) => {
                        let written = if record.is_compact() {
                            out.write_all(record.json().as_bytes())
                        } else {
                            scratch.clear();
                            record.write_compact(&mut scratch);
                            out.write_all(&scratch)
                        };
                        written
                            .and_then(|()| out.write_all(b"\n"))
                            .map_err(write_failure)?;
                    }
                    Sink::Csv(csv) if csv_safe => layout
                        .raw_cells(&record, &mut scratch, |cell| {
                            csv.write_field(crate::output::spreadsheet_safe(cell))
                        })
                        .and_then(|()| csv.write_record(None::<&[u8]>))
                        .map_err(csv_failure)?,
                    Sink::Csv(csv) => layout
                        .raw_cells(&record, &mut scratch, |cell| csv.write_field(cell))
                        .and_then(|()| csv.write_record(None::<&[u8]>))
                        .map_err(csv_failure)?,
                }
                count += 1;
                Ok(())
            })
            .await?;
        progress.set_position(count);
        progress.set_message(format!("{} KiB", sink.bytes() / 1024));
        if !more {
            break;
        }
        // Whatever the server's pace, what has arrived reaches the reader soon (the first
        // records at once): a pipe's consumer starts working, a watcher sees the file grow.
        if last_flush.elapsed() >= FLUSH_AT_LEAST_EVERY {
            sink.flush().map_err(write_failure)?;
            last_flush = std::time::Instant::now();
        }
        // A fast body may never make the stream wait: yield after every piece of it, so that
        // Ctrl-C (raced against this future) is noticed in every phase of the export.
        tokio::task::yield_now().await;
    }
    let mut out = match sink {
        Sink::Text(out) => out,
        Sink::Csv(csv) => csv
            .into_inner()
            .map_err(|e| write_failure(e.into_error()))?,
    };
    if format == Format::Json {
        out.write_all(if count == 0 { b"]\n" } else { b"\n]\n" })
            .map_err(write_failure)?;
    }
    out.flush().map_err(write_failure)?;
    Ok((count, out.bytes, issues))
}

/// Where records go: text as it came (JSON, NDJSON), or CSV rows (RFC 4180 quoting by the
/// csv crate, which buffers the rows itself).
enum Sink<W: Write> {
    Text(Counting<W>),
    // One per export: boxed only to keep the enum small.
    Csv(Box<csv::Writer<Counting<W>>>),
}

impl<W: Write> Sink<W> {
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Text(out) => out.flush(),
            Sink::Csv(csv) => csv.flush(),
        }
    }

    /// Bytes written so far (the CSV writer's own buffer not yet counted).
    fn bytes(&self) -> u64 {
        match self {
            Sink::Text(out) => out.bytes,
            Sink::Csv(csv) => csv.get_ref().bytes,
        }
    }
}

fn csv_failure(e: csv::Error) -> Failure {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => write_failure(e),
        other => io_failure("cannot write the CSV", format!("{other:?}")),
    }
}

/// The records that did not match the live schema, summed up by what was wrong where.
#[derive(Default)]
pub(crate) struct Issues {
    records: u64,
    total: u64,
    /// `(issue as text, count)`, in the order first seen; bounded, the rest only counted.
    kinds: Vec<(String, u64)>,
}

/// How many distinct issues the summary names; more are counted, not listed.
const LISTED_ISSUES: usize = 5;

impl Issues {
    pub(crate) fn add(&mut self, found: &[kiss_dynamic::Issue]) {
        self.records += 1;
        for issue in found {
            self.total += 1;
            // Array positions vary record to record: `ProductImages[3].X` counts as `[]`.
            let text = without_indices(&issue.to_string());
            match self.kinds.iter().position(|(t, _)| *t == text) {
                Some(known) => self.kinds[known].1 += 1,
                None if self.kinds.len() < 64 => self.kinds.push((text, 1)),
                None => {}
            }
        }
    }

    /// One line for stderr, or nothing when every record matched; `fate` says what became of
    /// such records.
    pub(crate) fn summary(&self, fate: &str) -> Option<String> {
        if self.total == 0 {
            return None;
        }
        let listed: Vec<String> = self
            .kinds
            .iter()
            .take(LISTED_ISSUES)
            .map(|(text, n)| format!("{n} × {text}"))
            .collect();
        Some(format!(
            "{} issues in {} records that do not match the live schema ({fate}): {}{}",
            self.total,
            self.records,
            listed.join("; "),
            if self.kinds.len() > LISTED_ISSUES {
                "; …"
            } else {
                ""
            }
        ))
    }
}

/// `ProductImages[3].ImageID` → `ProductImages[].ImageID`: issue paths summed up across
/// records, whatever the element.
fn without_indices(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_index = false;
    for c in text.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' if in_index => {
                in_index = false;
                out.push(']');
            }
            c if in_index && c.is_ascii_digit() => {}
            c => {
                in_index = false;
                out.push(c);
            }
        }
    }
    out
}
