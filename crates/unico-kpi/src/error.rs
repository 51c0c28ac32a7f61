//! The KPI crate's error: a kind a caller can match on and a message a person can act on.

use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request cannot be answered (unknown KPI, empty range, bad goal).
    Input,
    /// The lake could not be read.
    Lake,
}

impl ErrorKind {
    /// The stable machine code of this kind (as in docs/errors.md).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Input => "input.invalid",
            ErrorKind::Lake => "io",
        }
    }
}

/// An error from the KPI crate.
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

impl From<unico_lake::Error> for Error {
    fn from(e: unico_lake::Error) -> Self {
        let message = e.to_string();
        Error { kind: ErrorKind::Lake, message, source: Some(Box::new(e)) }
    }
}
