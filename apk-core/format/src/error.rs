//! The library's error type: what the error is about (a file, an archive entry, a
//! repository) and its [`ErrorKind`], which follows apk-tools' error codes (an untrusted
//! signature, a bad one, an invalid format, ...), so that callers decide on the kind and
//! never on the wording. The binaries print it as `ERROR: <source>: <problem>` and
//! word the kind as apk-tools does ([`Error::apk_reason`]).

use std::fmt;
use std::io;
use std::path::Path;

#[derive(Debug)]
pub struct Error {
    /// What the error is about: a file's path, an archive entry, a repository. May be
    /// empty for an error raised by a parser that only saw bytes (see
    /// [`Error::in_source`]).
    pub source: String,
    pub kind: ErrorKind,
}

/// What went wrong, by apk-tools' error classes.
#[derive(Debug)]
pub enum ErrorKind {
    /// The operating system refused (a file missing, no permission, ...).
    Io(io::Error),
    /// A text format (index, database, `.PKGINFO`, world, repositories) did not parse.
    Parse { line: usize, msg: String },
    /// A file is malformed, hostile or inconsistent (apk: "file format is invalid or
    /// inconsistent").
    Format(String),
    /// A stream that ends too early (apk: "unexpected end of file").
    Truncated(String),
    /// A package whose control stream apk refuses outright (an old `.INSTALL`
    /// script, a plain entry among the dotted ones; apk: "v2 package format error").
    PackageFormat(String),
    /// No signature by a trusted key (apk: "UNTRUSTED signature").
    Untrusted(String),
    /// A signature that does not verify, or that could not be made (apk: "BAD
    /// signature").
    BadSignature(String),
    /// A valid file in a format this build does not read (apk: "file format not
    /// supported").
    NotSupported(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Parse { line, msg } => write!(f, "{}: line {line}: {msg}", self.source),
            _ => write!(f, "{}: {}", self.source, self.reason()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    pub fn new(source: impl Into<String>, kind: ErrorKind) -> Self {
        Error {
            source: source.into(),
            kind,
        }
    }

    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Self::new(path.as_ref().display().to_string(), ErrorKind::Io(source))
    }

    pub fn format(what: impl Into<String>, msg: impl fmt::Display) -> Self {
        Self::new(what, ErrorKind::Format(msg.to_string()))
    }

    pub fn parse(what: impl Into<String>, line: usize, msg: impl fmt::Display) -> Self {
        Self::new(
            what,
            ErrorKind::Parse {
                line,
                msg: msg.to_string(),
            },
        )
    }

    /// A stream that ends too early; `msg` says which.
    pub fn truncated(what: impl Into<String>, msg: impl fmt::Display) -> Self {
        Self::new(what, ErrorKind::Truncated(msg.to_string()))
    }

    /// A read of a compressed stream that failed: [`ErrorKind::Truncated`] when it
    /// ended too early, else a format error (`prefix` then the reader's words).
    pub fn read_failed(what: impl Into<String>, prefix: &str, e: &io::Error) -> Self {
        let msg = format!("{prefix}{e}");
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Self::truncated(what, msg),
            _ => Self::format(what, msg),
        }
    }

    /// No signature by a trusted key; `msg` says which case.
    pub fn untrusted(what: impl Into<String>, msg: impl fmt::Display) -> Self {
        Self::new(what, ErrorKind::Untrusted(msg.to_string()))
    }

    /// A signature that does not verify or could not be made.
    pub fn signature(what: impl Into<String>, msg: impl fmt::Display) -> Self {
        Self::new(what, ErrorKind::BadSignature(msg.to_string()))
    }

    pub fn not_supported(what: impl Into<String>, msg: impl fmt::Display) -> Self {
        Self::new(what, ErrorKind::NotSupported(msg.to_string()))
    }

    /// The OS error behind this one, if that is what it is.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }

    /// The problem as apk-tools words it in its one-line warnings (`UNTRUSTED
    /// signature`, `file format is invalid or inconsistent`, an OS error's text).
    pub fn apk_reason(&self) -> String {
        match &self.kind {
            ErrorKind::Io(e) => io_reason(e),
            ErrorKind::Untrusted(_) => "UNTRUSTED signature".into(),
            ErrorKind::BadSignature(_) => "BAD signature".into(),
            ErrorKind::Parse { .. } | ErrorKind::Format(_) => {
                "file format is invalid or inconsistent".into()
            }
            ErrorKind::NotSupported(_) => "file format not supported".into(),
            ErrorKind::PackageFormat(_) => "v2 package format error".into(),
            ErrorKind::Truncated(_) => "unexpected end of file".into(),
        }
    }

    /// Names the source of an error raised by a parser that only saw bytes.
    pub fn in_source(mut self, name: &str) -> Self {
        if matches!(self.kind, ErrorKind::Io(_)) {
            return self;
        }
        if self.source.is_empty() {
            self.source = name.to_owned();
        } else {
            self.source = format!("{name}: {}", self.source);
        }
        self
    }

    /// The problem without the name of its source, as `apk verify` prints it.
    pub fn reason(&self) -> String {
        match &self.kind {
            ErrorKind::Io(e) => e.to_string(),
            ErrorKind::Parse { line, msg } => format!("line {line}: {msg}"),
            // As apk-tools words it wherever a stream ends too early.
            ErrorKind::Truncated(_) => "unexpected end of file".into(),
            ErrorKind::Format(msg)
            | ErrorKind::PackageFormat(msg)
            | ErrorKind::Untrusted(msg)
            | ErrorKind::BadSignature(msg)
            | ErrorKind::NotSupported(msg) => msg.clone(),
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
