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
}

impl Error {
    /// An error of `kind` with a message a person can act on.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
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

impl std::error::Error for Error {}

impl From<unico_lake::Error> for Error {
    fn from(e: unico_lake::Error) -> Self {
        Error::new(ErrorKind::Lake, e.to_string())
    }
}
