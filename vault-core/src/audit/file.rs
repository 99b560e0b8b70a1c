//! The `file` device's sink: JSON lines appended to a file (mode 0600), made
//! durable with `fdatasync` before the request proceeds. The file is reopened on
//! SIGHUP (log rotation) and whenever its path no longer names the open file
//! (deleted or replaced behind the vault's back: checked by device and inode
//! before every write), so the vault never goes on writing to an unlinked file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::device::Sink;

/// How much of the end of an existing file is read to find its last entry.
const TAIL: u64 = 1 << 20;

/// An append-only audit file.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: File,
    identity: (u64, u64),
}

impl FileSink {
    /// Opens (creating, mode 0600) the file at `path` for appending.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<FileSink> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        let meta = file.metadata()?;
        Ok(FileSink {
            path,
            file,
            identity: (meta.dev(), meta.ino()),
        })
    }
}

impl Sink for FileSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.file.sync_data()
    }

    fn refresh(&mut self, force: bool) -> std::io::Result<bool> {
        let same = std::fs::metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.identity)
            .unwrap_or(false);
        if same && !force {
            return Ok(false);
        }
        *self = FileSink::open(&self.path)?;
        Ok(true)
    }

    fn last_entry(&mut self) -> Option<Value> {
        let mut file = File::open(&self.path).ok()?;
        let len = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).ok()?;
        // Only a complete line counts: a crash can leave half of one at the end.
        let end = tail.iter().rposition(|&b| b == b'\n')?;
        let start = tail[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        serde_json::from_slice(&tail[start..end]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_a_replaced_file_and_reads_its_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut sink = FileSink::open(&path).unwrap();
        sink.write_all(b"{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        assert_eq!(sink.last_entry().unwrap()["seq"], 2);
        assert!(!sink.refresh(false).unwrap());
        std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
        assert!(sink.refresh(false).unwrap(), "a moved file is noticed");
        sink.write_all(b"{\"seq\":3}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"seq\":3}\n");
        assert!(sink.refresh(true).unwrap(), "SIGHUP reopens");
    }
}
