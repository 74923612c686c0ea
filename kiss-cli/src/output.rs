//! Where `--out` writes: a temporary file beside the target, renamed over it only when the
//! export is complete, so a reader never sees half a file and a failure leaves the old one.
//!
//! A user's files are theirs: a symlink is written through (its target is replaced, the link
//! stays), anything that is not a regular file is refused rather than replaced, an existing
//! file keeps its mode and group, a new file gets 0666 less the umask (what `>` would give),
//! and the data and the rename reach the disk (fsync) before `kiss` says it is done.

use std::fs::{File, Permissions};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::{exit, Failure};

/// The prefix of our temporary files, followed by the writing process's id.
const TEMP_PREFIX: &str = ".kiss-export-";

/// How many symlinks are followed before giving up (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;

/// An export on its way to a file.
pub(crate) struct Target {
    /// The path as the user gave it.
    shown: PathBuf,
    /// The regular file that will be replaced (the end of any symlinks).
    resolved: PathBuf,
    temp: NamedTempFile,
}

fn failure(message: String) -> Failure {
    Failure::new(exit::FAILURE, message)
}

impl Target {
    /// Resolves `path`, refuses what must not be replaced, and creates the temporary file.
    pub(crate) fn prepare(path: &Path) -> Result<Target, Failure> {
        let resolved = resolve_links(path)?;
        let existing = match std::fs::metadata(&resolved) {
            Ok(metadata) if metadata.is_file() => Some(metadata),
            Ok(metadata) => {
                return Err(Failure::new(
                    exit::USAGE,
                    format!(
                        "{} is {}, not a regular file: an export is written beside its target \
                         and renamed over it, which would replace it; to write into it, use \
                         stdout instead: kiss export … > {}",
                        path.display(),
                        kind(&metadata),
                        path.display()
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(failure(format!("cannot look at {}: {e}", path.display()))),
        };
        let dir = crate::target_dir(&resolved);
        remove_stale_temporary_files(&dir);
        let mut builder = tempfile::Builder::new();
        let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
        builder.prefix(&prefix);
        // A new file is created 0666 and the umask takes away what the user's shell would.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(Permissions::from_mode(0o666));
        }
        let temp = builder
            .tempfile_in(&dir)
            .map_err(|e| failure(format!("cannot create a file in {}: {e}", dir.display())))?;
        if let Some(metadata) = existing {
            keep_owner_and_mode(&temp, &metadata);
        }
        Ok(Target {
            shown: path.to_owned(),
            resolved,
            temp,
        })
    }

    /// A second handle on the temporary file, to write the export through; what is written
    /// starts going to disk while the export runs ([`EarlySync`]).
    pub(crate) fn reopen(&self) -> Result<EarlySync, Failure> {
        let file = self
            .temp
            .reopen()
            .map_err(|e| failure(format!("cannot open the temporary file: {e}")))?;
        Ok(EarlySync::new(file))
    }

    /// Flushes the data to disk, renames the file into place, and flushes the directory
    /// entry. Returns the path as the user gave it.
    pub(crate) fn commit(self) -> Result<PathBuf, Failure> {
        let shown = self.shown.display().to_string();
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| failure(format!("cannot write {shown} to disk: {e}")))?;
        self.temp
            .persist(&self.resolved)
            .map_err(|e| failure(format!("cannot move the export to {shown}: {e}")))?;
        // The rename is durable only once the directory is; some filesystems cannot sync a
        // directory, and the data itself is already safe, so that failure is not fatal.
        if let Ok(dir) = File::open(crate::target_dir(&self.resolved)) {
            let _ = dir.sync_all();
        }
        Ok(self.shown)
    }
}

/// Follows symlinks from `path` to the file they end at (which may not exist yet).
fn resolve_links(path: &Path) -> Result<PathBuf, Failure> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let link = std::fs::read_link(&current).map_err(|e| {
                    failure(format!("cannot read the link {}: {e}", current.display()))
                })?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(failure(format!(
        "{} is a chain of more than {MAX_LINKS} symlinks (a loop?)",
        path.display()
    )))
}

fn kind(metadata: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let file_type = metadata.file_type();
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if metadata.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The replacement gets the replaced file's mode and group (its owner cannot be given away
/// without privileges, and is the user's own in the usual case).
fn keep_owner_and_mode(temp: &NamedTempFile, existing: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Best effort: a group the user is not in cannot be set, and the export is still right.
        let _ = std::os::unix::fs::chown(temp.path(), None, Some(existing.gid()));
    }
    let _ = std::fs::set_permissions(temp.path(), existing.permissions());
}

/// Removes temporary files that runs of ours left in `dir` when they were killed outright
/// (SIGKILL, a power cut): ones whose process no longer exists. Where processes cannot be
/// looked up (no `/proc`), nothing is removed.
fn remove_stale_temporary_files(dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A file whose data is pushed to disk in the background every [`EarlySync::EVERY`] bytes, so
/// that the `fsync` before the rename finds little left to do: for a 71.5 MB export it took
/// 0.13 s at the end, time spent while nothing else happened. These syncs are only a head
/// start: their errors are ignored, and the final `fsync` of [`Target::commit`] still decides.
pub(crate) struct EarlySync {
    file: File,
    unsynced: u64,
    /// Asks the syncing thread to sync; a full channel means a sync is already pending.
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl EarlySync {
    const EVERY: u64 = 8 * 1024 * 1024;

    fn new(file: File) -> EarlySync {
        let worker = file.try_clone().ok().and_then(|handle| {
            let (wake, asked) = std::sync::mpsc::sync_channel::<()>(1);
            let thread = std::thread::Builder::new()
                .name("kiss-early-sync".into())
                .spawn(move || {
                    for () in asked {
                        let _ = handle.sync_data();
                    }
                })
                .ok()?;
            Some((wake, thread))
        });
        let (wake, worker) = worker.unzip();
        EarlySync {
            file,
            unsynced: 0,
            wake,
            worker,
        }
    }
}

impl std::io::Write for EarlySync {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= EarlySync::EVERY {
            self.unsynced = 0;
            if let Some(wake) = &self.wake {
                let _ = wake.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for EarlySync {
    fn drop(&mut self) {
        // Closing the channel ends the thread once its current sync (if any) is done.
        self.wake = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// A CSV cell made safe to open in a spreadsheet (`--csv-safe`): a cell that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a formula by Excel,
/// LibreOffice or Google Sheets, so it gets a leading `'`, which they show as text. A
/// plain number (`-1`, `+2.50`) is a number, not a formula, and is kept. Without the option
/// every cell is exactly the API's value.
pub(crate) fn spreadsheet_safe(cell: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let Some(&first) = cell.first() else {
        return std::borrow::Cow::Borrowed(cell);
    };
    if !matches!(first, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') || is_plain_number(cell) {
        return std::borrow::Cow::Borrowed(cell);
    }
    let mut safe = Vec::with_capacity(cell.len() + 1);
    safe.push(b'\'');
    safe.extend_from_slice(cell);
    std::borrow::Cow::Owned(safe)
}

/// `-1`, `+2.50`: a sign, digits, and at most one point between digits.
fn is_plain_number(cell: &[u8]) -> bool {
    let digits = match cell.first() {
        Some(b'-' | b'+') => &cell[1..],
        _ => cell,
    };
    let mut parts = digits.splitn(2, |&b| b == b'.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.iter().all(u8::is_ascii_digit)
        && fraction.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod spreadsheet_tests {
    use super::spreadsheet_safe;

    #[test]
    fn formula_prefixes_are_neutralised_and_numbers_and_text_kept() {
        let safe =
            |cell: &str| String::from_utf8(spreadsheet_safe(cell.as_bytes()).into_owned()).unwrap();
        assert_eq!(
            safe("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(safe("+1+cmd|' /C calc'!A0"), "'+1+cmd|' /C calc'!A0");
        assert_eq!(safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe("-2+3"), "'-2+3");
        assert_eq!(safe("\tx"), "'\tx");
        assert_eq!(safe("-1"), "-1");
        assert_eq!(safe("+2.50"), "+2.50");
        assert_eq!(safe("19.9500"), "19.9500");
        assert_eq!(safe("DRAC001"), "DRAC001");
        assert_eq!(safe(""), "");
        assert_eq!(safe("-"), "'-");
        assert_eq!(safe("-1."), "'-1.");
    }
}
