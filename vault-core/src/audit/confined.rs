//! Where a `file` device enabled through the API may write: only a file it
//! creates itself (mode 0600), directly inside the directory the daemon's
//! config names, never through a symbolic link and never a file that was there
//! before it. An API caller must not choose a file for the vault to write: a
//! device pointed at `/etc/ld.so.preload` runs code as the daemon's user
//! (HashiCorp's HCSEC-2024-16). A device declared in the daemon's config is the
//! operator's choice and is not confined.
//!
//! The directory is opened without following a link at its last component and
//! the file is opened relative to it (`openat`) with `O_NOFOLLOW`, so a link
//! swapped in at either place is refused rather than followed. A file that is
//! already there is written only if it is this device's log: the file it last
//! opened (a SIGHUP reopen), or, after a restart, a regular file with one name
//! whose last line is an intact audit entry.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::canonical::entry_hash;
use super::tail::last_complete_entry;

/// Why a `file_path` is refused for a device enabled through the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfinedPathError {
    /// The config names no directory for such files.
    #[error(
        "file audit devices enabled through the API are created only inside \
         allowed_audit_file_dir, which the server's config does not set"
    )]
    NoDirectory,
    /// A relative path (it would depend on the daemon's working directory).
    #[error("file_path {0:?} must be an absolute path")]
    NotAbsolute(PathBuf),
    /// Anywhere but directly inside the directory (`..`, a subdirectory, the
    /// directory itself).
    #[error("file_path {path:?} is not a file directly inside allowed_audit_file_dir ({dir:?})")]
    Outside {
        /// The path asked for.
        path: PathBuf,
        /// The directory allowed.
        dir: PathBuf,
    },
}

/// A file directly inside a directory, opened only as described above.
#[derive(Debug)]
pub(crate) struct ConfinedFile {
    dir: PathBuf,
    name: OsString,
    // The next open must create the file (a device being enabled through the
    // API): whatever is at the name already is refused.
    must_create: bool,
    // (device, inode) of the file this device last created or accepted.
    ours: Option<(u64, u64)>,
}

/// Opening for append (and reading the tail back): no controlling terminal,
/// and no wait on a FIFO someone put at the name.
fn append_flags() -> OFlags {
    OFlags::RDWR | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY
}

impl ConfinedFile {
    /// `path` as a file directly inside `dir`, or why it cannot be one.
    pub fn new(path: &Path, dir: &Path, must_create: bool) -> Result<Self, ConfinedPathError> {
        if !path.is_absolute() {
            return Err(ConfinedPathError::NotAbsolute(path.to_path_buf()));
        }
        let outside = || ConfinedPathError::Outside {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        };
        // Compared by components (`a/./b` is `a/b`); `..` is refused outright,
        // since what it names depends on links along the way.
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(outside());
        }
        let name = match path.components().next_back() {
            Some(Component::Normal(name)) => name.to_owned(),
            _ => return Err(outside()),
        };
        if path.parent() != Some(dir) {
            return Err(outside());
        }
        Ok(ConfinedFile {
            dir: dir.to_path_buf(),
            name,
            must_create,
            ours: None,
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    fn open_dir(&self) -> io::Result<OwnedFd> {
        rustix::fs::open(
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!(
                    "cannot open allowed_audit_file_dir {} (not followed if it is a link): {e}",
                    self.dir.display()
                ),
            )
        })
    }

    /// Opens the file for appending; creates it (0600) when it is missing.
    pub fn open(&mut self) -> io::Result<File> {
        let dir = self.open_dir()?;
        if self.must_create {
            let file = self.create(&dir)?;
            self.must_create = false;
            return Ok(file);
        }
        match rustix::fs::openat(
            &dir,
            &self.name,
            append_flags() | OFlags::NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => {
                let mut file = File::from(fd);
                self.check_ours(&mut file)?;
                Ok(file)
            }
            Err(Errno::NOENT) => self.create(&dir),
            Err(Errno::LOOP) => {
                Err(self.refusal(io::ErrorKind::InvalidInput, "is a symbolic link"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the file, refusing anything already at the name (`O_EXCL`: a
    /// link too, even one to nowhere).
    fn create(&mut self, dir: &OwnedFd) -> io::Result<File> {
        let created = rustix::fs::openat(
            dir,
            &self.name,
            append_flags() | OFlags::CREATE | OFlags::EXCL,
            Mode::from_raw_mode(0o600),
        );
        let fd = match created {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                let what = match rustix::fs::statat(dir, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                        "is a symbolic link"
                    }
                    _ => "already exists",
                };
                return Err(self.refusal(
                    io::ErrorKind::AlreadyExists,
                    &format!(
                        "{what}: a device enabled through the API writes only a new file it creates"
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        // Make the new name durable, or a crash could lose the file with
        // entries already reported as recorded.
        rustix::fs::fsync(dir)?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        self.ours = Some((meta.dev(), meta.ino()));
        Ok(file)
    }

    /// An existing file is written only if it is this device's log.
    fn check_ours(&mut self, file: &mut File) -> io::Result<()> {
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(self.refusal(io::ErrorKind::InvalidInput, "is not a regular file"));
        }
        if meta.nlink() != 1 {
            return Err(self.refusal(
                io::ErrorKind::InvalidInput,
                "has more than one name (a hard link)",
            ));
        }
        let identity = (meta.dev(), meta.ino());
        let ours = self.ours == Some(identity)
            || last_complete_entry(file).is_some_and(|entry| {
                entry.get("hash").and_then(|h| h.as_str()) == Some(entry_hash(&entry).as_str())
            });
        if !ours {
            return Err(self.refusal(
                io::ErrorKind::AlreadyExists,
                "already exists and is not this device's audit log (it does not end with an \
                 audit entry): the vault writes only files it created",
            ));
        }
        self.ours = Some(identity);
        Ok(())
    }

    /// Opens the file to read its end, never through a link.
    pub fn open_read(&self) -> io::Result<File> {
        let dir = self.open_dir()?;
        let fd = rustix::fs::openat(
            &dir,
            &self.name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
            Mode::empty(),
        )?;
        let file = File::from(fd);
        if !file.metadata()?.file_type().is_file() {
            return Err(self.refusal(io::ErrorKind::InvalidInput, "is not a regular file"));
        }
        Ok(file)
    }

    /// The (device, inode) at the name now, a link's own rather than its
    /// target's: a link swapped in is a different file.
    pub fn identity_at_name(&self) -> Option<(u64, u64)> {
        std::fs::symlink_metadata(self.path())
            .ok()
            .map(|m| (m.dev(), m.ino()))
    }

    fn refusal(&self, kind: io::ErrorKind, why: &str) -> io::Error {
        io::Error::new(kind, format!("{} {why}", self.path().display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_name_directly_inside_the_directory() {
        let dir = Path::new("/var/log/vault");
        let ok = |p: &str| ConfinedFile::new(Path::new(p), dir, true).is_ok();
        assert!(ok("/var/log/vault/api.log"));
        assert!(ok("/var/log/vault/./api.log"));
        assert!(!ok("api.log"));
        assert!(!ok("/var/log/vault/../vault/api.log"));
        assert!(!ok("/var/log/vault/sub/api.log"));
        assert!(!ok("/var/log/vault"));
        assert!(!ok("/var/log/vault/"));
        assert!(!ok("/var/log/vault/.."));
        assert!(!ok("/etc/ld.so.preload"));
    }

    #[test]
    fn creates_new_refuses_links_and_strangers_and_reopens_its_own() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("allowed");
        std::fs::create_dir(&dir).unwrap();
        let outside = base.path().join("victim");
        std::fs::write(&outside, "keep\n").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link.log")).unwrap();
        std::fs::write(dir.join("stranger.log"), "keep\n").unwrap();

        for name in ["link.log", "stranger.log"] {
            let mut f = ConfinedFile::new(&dir.join(name), &dir, true).unwrap();
            let err = f.open().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{name}: {err}");
        }
        // Not new, as after a restart: still neither followed nor taken.
        for name in ["link.log", "stranger.log"] {
            let mut f = ConfinedFile::new(&dir.join(name), &dir, false).unwrap();
            assert!(f.open().is_err(), "{name}");
        }
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep\n");

        let path = dir.join("api.log");
        let mut f = ConfinedFile::new(&path, &dir, true).unwrap();
        // Held open, as the sink holds its file while it reopens: the inode
        // cannot be freed and reused by a stranger meanwhile.
        let held = f.open().unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Its own file, empty still: reopened (SIGHUP).
        let _reopened = f.open().unwrap();
        // Swapped for a stranger: refused.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        assert!(f.open().is_err());
        drop(held);
        // A fresh device (restart) takes a file ending with an intact entry.
        let mut entry = serde_json::json!({"seq": 1, "type": "checkpoint"});
        entry["hash"] = serde_json::json!(entry_hash(&entry));
        std::fs::write(&path, format!("{entry}\n")).unwrap();
        let mut again = ConfinedFile::new(&path, &dir, false).unwrap();
        drop(again.open().unwrap());
        // A hard link to it is not.
        std::fs::hard_link(&path, base.path().join("other-name")).unwrap();
        let mut linked = ConfinedFile::new(&path, &dir, false).unwrap();
        assert!(linked.open().is_err());
    }
}
