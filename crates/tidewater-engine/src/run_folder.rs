//! A run's log folder, held open: an attempt's files are created, read and removed relative to
//! it, so the kernel resolves one name instead of walking the whole path from `/` each time
//! (`<project>/.tidewater/logs/<run>/`, six or more folders, two or three times per attempt).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};

#[derive(Debug)]
pub(crate) struct RunFolder {
    path: PathBuf,
    folder: OwnedFd,
    /// Whether [`RunFolder::open`] made the folder: then it holds only what was made in it
    /// since.
    made: bool,
}

impl RunFolder {
    /// Opens the folder at `path`, making it (and its parents) first if it is missing.
    pub(crate) fn open(path: &Path) -> io::Result<RunFolder> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let (folder, made) = match nix::fcntl::open(path, flags, Mode::empty()) {
            Err(nix::Error::ENOENT) => {
                std::fs::create_dir_all(path)?;
                (nix::fcntl::open(path, flags, Mode::empty())?, true)
            }
            result => (result?, false),
        };
        Ok(RunFolder {
            path: path.to_path_buf(),
            folder,
            made,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether opening made the folder, so that no file in it predates this handle.
    pub(crate) fn made(&self) -> bool {
        self.made
    }

    /// Whether the folder has been deleted since it was opened (one `fstat`, no path walk).
    pub(crate) fn is_deleted(&self) -> bool {
        nix::sys::stat::fstat(&self.folder).is_ok_and(|stat| stat.st_nlink == 0)
    }

    /// Creates (or empties) the file `name` for writing. Fails with `NotFound` when the
    /// folder has been deleted since it was opened.
    pub(crate) fn create(&self, name: &OsStr) -> io::Result<File> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
        let mode = Mode::from_bits_truncate(0o666);
        Ok(File::from(openat(&self.folder, name, flags, mode)?))
    }

    /// Opens the file `name` for reading.
    pub(crate) fn open_file(&self, name: &OsStr) -> io::Result<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        Ok(File::from(openat(
            &self.folder,
            name,
            flags,
            Mode::empty(),
        )?))
    }

    /// Removes the file `name`.
    pub(crate) fn remove(&self, name: &OsStr) -> io::Result<()> {
        Ok(unlinkat(&self.folder, name, UnlinkatFlags::NoRemoveDir)?)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn files_are_made_read_and_removed_inside_the_folder() {
        let root = tempfile::tempdir().expect("temporary folder");
        let path = root.path().join("logs").join("7");
        let folder = RunFolder::open(&path).expect("made and opened");
        assert_eq!(folder.path(), path);
        assert!(folder.made());
        assert!(!RunFolder::open(&path).expect("opened").made());
        folder
            .create(OsStr::new("a.log"))
            .and_then(|mut file| file.write_all(b"first"))
            .expect("written");
        folder
            .create(OsStr::new("a.log"))
            .and_then(|mut file| file.write_all(b"new"))
            .expect("emptied and written");
        assert_eq!(std::fs::read(path.join("a.log")).expect("read"), b"new");
        let mut text = String::new();
        folder
            .open_file(OsStr::new("a.log"))
            .and_then(|mut file| file.read_to_string(&mut text))
            .expect("read through the folder");
        assert_eq!(text, "new");
        folder.remove(OsStr::new("a.log")).expect("removed");
        assert!(!path.join("a.log").exists());
        let missing = folder.open_file(OsStr::new("a.log")).expect_err("gone");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_deleted_folder_reports_not_found_instead_of_writing_elsewhere() {
        let root = tempfile::tempdir().expect("temporary folder");
        let path = root.path().join("7");
        let folder = RunFolder::open(&path).expect("made and opened");
        assert!(!folder.is_deleted());
        std::fs::remove_dir(&path).expect("deleted");
        assert!(folder.is_deleted());
        let error = folder.create(OsStr::new("a.log")).expect_err("no folder");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(!path.exists());
    }
}
