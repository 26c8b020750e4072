//! One writer per root: an exclusive `flock` on `lib/apk/db/lock`, held until the
//! commit is done (released when the process exits, however it exits).

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};

use apk_format::error::{Error, Result};

pub const LOCK: &str = "lib/apk/db/lock";

#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock (the database directory must exist), waiting up to `wait` for another writer to finish. `on_wait` is
    /// called once if the lock is busy and waiting begins.
    pub fn acquire(root: &Path, wait: Duration, on_wait: &mut dyn FnMut()) -> Result<Lock> {
        let path = root.join(LOCK);
        use std::os::unix::fs::OpenOptionsExt;
        let file = fs::OpenOptions::new()
            .mode(0o600)
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    if start.elapsed() >= wait {
                        return Err(Error::io(
                            &path,
                            std::io::Error::new(
                                std::io::ErrorKind::WouldBlock,
                                "Unable to lock database: another apk holds it",
                            ),
                        ));
                    }
                    if !told {
                        on_wait();
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(Error::io(&path, e.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("lib/apk/db")).unwrap();
        let held = Lock::acquire(dir.path(), Duration::ZERO, &mut || {}).unwrap();
        let mut waited = false;
        let err = Lock::acquire(dir.path(), Duration::from_millis(120), &mut || {
            waited = true
        })
        .unwrap_err();
        assert!(waited);
        assert!(err.to_string().contains("Unable to lock database"), "{err}");
        drop(held);
        Lock::acquire(dir.path(), Duration::ZERO, &mut || {}).unwrap();
    }
}
