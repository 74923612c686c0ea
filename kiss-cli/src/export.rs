//! `kiss export`: one endpoint's records, streamed into JSON, NDJSON or CSV.

use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiss_client::{Client, Endpoint};
use kiss_dynamic::{Decoder, SchemaDocument, TableLayout};

use crate::{exit, Failure};

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The endpoint to export.
    endpoint: ExportEndpoint,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write to FILE, which appears only once the export is complete; stdout otherwise.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportEndpoint {
    Products,
    Stock,
    Prices,
}

impl ExportEndpoint {
    fn endpoint(self) -> Endpoint {
        match self {
            ExportEndpoint::Products => Endpoint::Products,
            ExportEndpoint::Stock => Endpoint::Stock,
            ExportEndpoint::Prices => Endpoint::Prices,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON array, as the API serves it.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated, a header row of wire keys.
    Csv,
}

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
    // Listen for Ctrl-C before the temporary file exists, so an interrupt can never leave it.
    let interrupt = Interrupt::listen()?;
    let target = match &args.out {
        Some(path) => {
            let dir = crate::target_dir(path);
            let temp = tempfile::Builder::new()
                .prefix(".kiss-export-")
                .tempfile_in(&dir)
                .map_err(|e| {
                    io_failure(&format!("cannot create a file in {}", dir.display()), e)
                })?;
            Some((path.clone(), temp))
        }
        None => None,
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
    let endpoint = args.endpoint.endpoint();
    let outcome = match &target {
        Some((_, temp)) => {
            let file = temp
                .reopen()
                .map_err(|e| io_failure("cannot open the temporary file", e))?;
            let writer = Counting {
                inner: BufWriter::new(file),
                bytes: 0,
            };
            interrupt
                .around(export(client, endpoint, args.format, writer, &progress))
                .await
        }
        None => {
            let writer = Counting {
                inner: BufWriter::new(std::io::stdout().lock()),
                bytes: 0,
            };
            interrupt
                .around(export(client, endpoint, args.format, writer, &progress))
                .await
        }
    };
    progress.finish_and_clear();
    let (records, bytes) = match outcome {
        Ok(summary) => summary,
        Err(failure) => {
            // Dropping the temporary file removes it: nothing half-written under the name.
            drop(target);
            return Err(failure);
        }
    };
    if let Some((path, temp)) = target {
        temp.persist(&path)
            .map_err(|e| io_failure(&format!("cannot move the export to {}", path.display()), e))?;
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

/// Ctrl-C, listened for from the moment it is created (tokio's `ctrl_c()` only starts
/// listening when first polled, too late for a file created before).
struct Interrupt {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn listen() -> Result<Interrupt, Failure> {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map_err(|e| io_failure("cannot listen for Ctrl-C", e))?;
            Ok(Interrupt { signal })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupt {})
        }
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            self.signal.recv().await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }

    async fn around(
        mut self,
        export: impl std::future::Future<Output = Result<(u64, u64), Failure>>,
    ) -> Result<(u64, u64), Failure> {
        tokio::select! {
            outcome = export => outcome,
            _ = self.wait() => Err(Failure::new(
                exit::INTERRUPTED,
                "interrupted: the export was abandoned and no file was written",
            )),
        }
    }
}

async fn export<W: Write>(
    client: &Client,
    endpoint: Endpoint,
    format: Format,
    mut out: Counting<W>,
    progress: &ProgressBar,
) -> Result<(u64, u64), Failure> {
    let (schema, mut records) = client.records_stream(endpoint).await?;
    let write_error = write_failure;
    // CSV needs every column before the first row, and new fields may appear on any record:
    // spool the records (NDJSON, on disk) and write the table once all columns are known.
    let mut spool = match format {
        Format::Csv => Some(BufWriter::new(
            tempfile::tempfile().map_err(|e| io_failure("cannot create a spool file", e))?,
        )),
        _ => None,
    };
    let mut layout = TableLayout::new(Decoder::new(&schema).record_schema().clone());
    let mut count = 0u64;
    let mut line = Vec::with_capacity(4096);
    if format == Format::Json {
        out.write_all(b"[").map_err(write_error)?;
    }
    while let Some(record) = records.next().await {
        let record = record?;
        line.clear();
        record.write_json(&mut line);
        match format {
            Format::Json => {
                out.write_all(if count == 0 { b"\n" } else { b",\n" })
                    .and_then(|()| out.write_all(&line))
                    .map_err(write_error)?;
            }
            Format::Ndjson => {
                line.push(b'\n');
                out.write_all(&line).map_err(write_error)?;
            }
            Format::Csv => {
                layout.observe(&record);
                line.push(b'\n');
                if let Some(spool) = &mut spool {
                    spool.write_all(&line).map_err(write_error)?;
                }
            }
        }
        count += 1;
        progress.set_position(count);
        if count % 256 == 0 {
            progress.set_message(format!("{} KiB", out.bytes / 1024));
        }
    }
    match format {
        Format::Json => out
            .write_all(if count == 0 { b"]\n" } else { b"\n]\n" })
            .map_err(write_error)?,
        Format::Ndjson => {}
        Format::Csv => {
            let spool = spool
                .map(|s| s.into_inner())
                .transpose()
                .map_err(|e| io_failure("cannot finish the spool file", e.error()))?;
            write_csv(&schema, &layout, spool, &mut out)?;
        }
    }
    out.flush().map_err(write_error)?;
    Ok((count, out.bytes))
}

fn write_csv<W: Write>(
    schema: &SchemaDocument,
    layout: &TableLayout,
    spool: Option<std::fs::File>,
    out: &mut W,
) -> Result<(), Failure> {
    let mut csv = csv::Writer::from_writer(out);
    let csv_error = |e: csv::Error| io_failure("cannot write the CSV", e);
    csv.write_record(layout.headers()).map_err(csv_error)?;
    let Some(mut spool) = spool else {
        return csv
            .flush()
            .map_err(|e| io_failure("cannot write the CSV", e));
    };
    spool
        .rewind()
        .map_err(|e| io_failure("cannot read the spool file", e))?;
    let decoder = Decoder::new(schema);
    for line in BufReader::new(spool).lines() {
        let line = line.map_err(|e| io_failure("cannot read the spool file", e))?;
        let record = decoder
            .decode_record(line.as_bytes())
            .map_err(|e| io_failure("a spooled record did not decode (a kiss bug)", e))?;
        csv.write_record(layout.row(&record)).map_err(csv_error)?;
    }
    csv.flush()
        .map_err(|e| io_failure("cannot write the CSV", e))
}
