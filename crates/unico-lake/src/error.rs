//! The lake crate's error: a kind a caller can match on, and a message a person can act on.
//!
//! Kinds separate the user's mistake (a mapping or a file that cannot be used) from the
//! environment failing (I/O) and from our own bug (internal), as DataFusion does.

use std::fmt;

/// What went wrong, for callers that react differently (exit codes, API codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The mapping file is wrong: unknown column, bad separator, unknown zone…
    Mapping,
    /// The input file cannot be imported at all (missing column, empty, wrong encoding).
    UnusableFile,
    /// More rows were rejected than the caller allows; nothing was published.
    TooManyRejects,
    /// The data directory is missing, locked or damaged.
    Lake,
    /// Reading or writing a file failed.
    Io,
    /// A bug in Unico.
    Internal,
}

impl ErrorKind {
    /// The stable machine code of this kind (as in docs/errors.md).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Mapping => "mapping.invalid",
            ErrorKind::UnusableFile => "file.unusable",
            ErrorKind::TooManyRejects => "import.too_many_rejects",
            ErrorKind::Lake | ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error from the lake crate.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The error this one comes from, kept as it is.
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message a person can act on.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// The kind of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An I/O error with what it was doing.
    pub fn io(context: impl fmt::Display, e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{context}: {e}")).caused_by(e)
    }

    pub(crate) fn parquet(context: impl fmt::Display, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::new(ErrorKind::Io, format!("{context}: {e}")).caused_by(e)
    }

    /// Keeps `e` as the cause of this error.
    pub fn caused_by(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(e));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}
