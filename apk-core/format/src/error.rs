//! The library's error type. Every error names the thing it is about (a file, an archive
//! entry, a repository) and what was wrong with it; the binaries print it as
//! `ERROR: <source>: <problem>`.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A text format (index, database, `.PKGINFO`, world, repositories) did not parse.
    #[error("{what}: line {line}: {msg}")]
    Parse {
        what: String,
        line: usize,
        msg: String,
    },
    /// An archive or package is malformed, hostile or inconsistent.
    #[error("{what}: {msg}")]
    Format { what: String, msg: String },
    /// A signature is missing, by an unknown key, or does not verify.
    #[error("{what}: {msg}")]
    Signature { what: String, msg: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_owned(),
            source,
        }
    }

    pub fn format(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Format {
            what: what.into(),
            msg: msg.into(),
        }
    }

    pub fn parse(what: impl Into<String>, line: usize, msg: impl Into<String>) -> Self {
        Error::Parse {
            what: what.into(),
            line,
            msg: msg.into(),
        }
    }

    /// The problem as apk-tools words it in its one-line warnings (`UNTRUSTED
    /// signature`, `file format is invalid or inconsistent`, an OS error's text).
    pub fn apk_reason(&self) -> String {
        match self {
            Error::Io { source, .. } => io_reason(source),
            Error::Signature { msg, .. } if msg.starts_with("UNTRUSTED") => {
                "UNTRUSTED signature".into()
            }
            Error::Signature { .. } => "BAD signature".into(),
            Error::Parse { .. } | Error::Format { .. } => {
                "file format is invalid or inconsistent".into()
            }
        }
    }

    pub fn signature(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Signature {
            what: what.into(),
            msg: msg.into(),
        }
    }

    /// Names the source of an error raised by a parser that only saw bytes.
    pub fn in_source(mut self, name: &str) -> Self {
        match &mut self {
            Error::Parse { what, .. }
            | Error::Format { what, .. }
            | Error::Signature { what, .. } => {
                if what.is_empty() {
                    *what = name.to_owned();
                } else {
                    *what = format!("{name}: {what}");
                }
            }
            Error::Io { .. } => {}
        }
        self
    }

    /// The problem without the name of its source, as `apk verify` prints it.
    pub fn reason(&self) -> String {
        match self {
            Error::Io { source, .. } => source.to_string(),
            Error::Parse { line, msg, .. } => format!("line {line}: {msg}"),
            Error::Format { msg, .. } | Error::Signature { msg, .. } => msg.clone(),
        }
    }
}

/// An OS error as `strerror` words it (without Rust's ` (os error N)`).
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
