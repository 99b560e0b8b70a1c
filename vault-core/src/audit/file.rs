//! The `file` device's sink: JSON lines appended to a file (mode 0600), made
//! durable with `fdatasync` when the device syncs a group. The file is reopened on
//! SIGHUP (log rotation) and whenever its path no longer names the open file
//! (deleted or replaced behind the vault's back: checked by device and inode
//! before every write), so the vault never goes on writing to an unlinked file.
//! The device's sync thread syncs whichever file is open through a
//! [`FileSyncer`], which follows reopens.
//! A device enabled through the API writes only as [`super::confined`] allows.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::confined::{ConfinedFile, ConfinedPathError};
use super::device::Sink;
use super::syncer::Syncer;
use super::tail::last_complete_entry;

/// An append-only audit file, opened lazily: a file that cannot be opened now
/// (a directory not mounted yet) is tried again before every write.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    open: Option<(Arc<File>, (u64, u64))>,
    // The open file, for the sync thread.
    current: Arc<Mutex<Option<Arc<File>>>>,
    // Lines were appended to the open file since its last sync.
    unsynced: bool,
    // Set for a device enabled through the API: how its file may be opened.
    confined: Option<ConfinedFile>,
}

impl FileSink {
    /// A sink for the file at `path` (created mode 0600 when first written).
    pub fn new(path: impl AsRef<Path>) -> FileSink {
        FileSink {
            path: path.as_ref().to_path_buf(),
            open: None,
            current: Arc::default(),
            unsynced: false,
            confined: None,
        }
    }

    /// A sink for a device enabled through the API: `path` must be a file
    /// directly inside `dir`, and is created new when `must_create` (the device
    /// is being enabled now), else is the device's own log or created new.
    pub(crate) fn confined(
        path: &Path,
        dir: Option<&Path>,
        must_create: bool,
    ) -> Result<FileSink, ConfinedPathError> {
        let dir = dir.ok_or(ConfinedPathError::NoDirectory)?;
        Ok(FileSink {
            path: path.to_path_buf(),
            open: None,
            current: Arc::default(),
            unsynced: false,
            confined: Some(ConfinedFile::new(path, dir, must_create)?),
        })
    }

    fn open_file(&mut self) -> std::io::Result<()> {
        let file = self.open_at_path()?;
        let meta = file.metadata()?;
        let file = Arc::new(file);
        if let Ok(mut current) = self.current.lock() {
            *current = Some(Arc::clone(&file));
        }
        self.open = Some((file, (meta.dev(), meta.ino())));
        Ok(())
    }

    fn open_at_path(&mut self) -> std::io::Result<File> {
        if let Some(confined) = self.confined.as_mut() {
            return confined.open();
        }
        let existed = self.path.exists();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        if !existed {
            // Make the new file's name durable too, or a crash could lose the
            // file with entries already reported as recorded.
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
        }
        Ok(file)
    }
}

/// Syncs whichever file a [`FileSink`] has open.
#[derive(Debug)]
struct FileSyncer {
    current: Arc<Mutex<Option<Arc<File>>>>,
}

impl Syncer for FileSyncer {
    fn sync(&self) -> std::io::Result<()> {
        let file = self.current.lock().ok().and_then(|c| c.clone());
        match file {
            Some(file) => file.sync_data(),
            None => Err(std::io::Error::other("the audit file is not open")),
        }
    }
}

impl Sink for FileSink {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let Some((file, _)) = self.open.as_ref() else {
            return Err(std::io::Error::other("the audit file is not open"));
        };
        let before = file.metadata()?.len();
        let written = (&**file).write_all(bytes);
        match written {
            Ok(()) => self.unsynced = true,
            // Take back a partly written group, so no half line or repeated
            // sequence number stays in the file; the chain did not advance.
            Err(_) => {
                let _ = file.set_len(before).and_then(|()| file.sync_data());
            }
        }
        written
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        match self.open.as_ref() {
            Some((file, _)) => file.sync_data()?,
            None => return Err(std::io::Error::other("the audit file is not open")),
        }
        self.unsynced = false;
        Ok(())
    }

    fn refresh(&mut self, force: bool) -> std::io::Result<bool> {
        let at_name = match &self.confined {
            Some(confined) => confined.identity_at_name(),
            None => std::fs::metadata(&self.path)
                .ok()
                .map(|m| (m.dev(), m.ino())),
        };
        let same = match &self.open {
            Some((_, identity)) => at_name == Some(*identity),
            None => false,
        };
        if same && !force {
            return Ok(false);
        }
        // The old file stays open until the new one is: its inode cannot be
        // freed and handed to another file meanwhile (a confined reopen
        // recognises its own file by inode).
        // Entries written to the old file but not yet synced are made durable
        // before it is left: the next sync reaches only the new one (here or
        // on the sync thread).
        self.sync()?;
        let _old = self.open.take();
        self.open_file()?;
        Ok(true)
    }

    fn syncer(&self) -> Option<Arc<dyn Syncer>> {
        Some(Arc::new(FileSyncer {
            current: Arc::clone(&self.current),
        }))
    }

    fn last_entry(&mut self) -> Option<Value> {
        let mut file = match &self.confined {
            Some(confined) => confined.open_read().ok()?,
            None => File::open(&self.path).ok()?,
        };
        last_complete_entry(&mut file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_a_replaced_file_and_reads_its_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut sink = FileSink::new(&path);
        assert!(
            sink.append(b"x\n").is_err(),
            "not open before the first refresh"
        );
        assert!(sink.refresh(false).unwrap(), "the first refresh opens it");
        sink.append(b"{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        assert_eq!(sink.last_entry().unwrap()["seq"], 2);
        assert!(!sink.refresh(false).unwrap());
        std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
        assert!(sink.refresh(false).unwrap(), "a moved file is noticed");
        sink.append(b"{\"seq\":3}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"seq\":3}\n");
        assert!(sink.refresh(true).unwrap(), "SIGHUP reopens");
    }
}
