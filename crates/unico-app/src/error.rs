//! One error model for every edge: an [`Error`] carries a stable machine [`Code`] (what a
//! program reacts to), a message a person can act on, and the error it came from (kept,
//! not flattened to text). The CLI maps the code to its exit status, the server to an
//! HTTP status; `docs/errors.md` is the table of both, checked against [`Code::ALL`] by a
//! test.

use std::fmt;

/// A stable machine code: the same string in the CLI's JSON, the server's answers and
/// the docs. New codes may be added; existing ones never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Code {
    /// An argument or a value is not acceptable (a date that is not a date, `--k 0`).
    InputInvalid,
    /// A mapping file cannot be used.
    MappingInvalid,
    /// An input file cannot be imported at all (missing column, empty, wrong encoding).
    FileUnusable,
    /// More rows were rejected than allowed: nothing was imported.
    TooManyRejects,
    /// The commercial policy has problems (each with its line).
    PolicyInvalid,
    /// The data directory's settings are not valid.
    SettingsInvalid,
    /// The directory is not a Unico data directory.
    DataDirMissing,
    /// No customer matches the reference given.
    CustomerNotFound,
    /// No campaign has that id.
    CampaignNotFound,
    /// Something else that was asked for does not exist.
    NotFound,
    /// The campaign is already stored: rename it, or plan a dry run.
    CampaignAlreadyStored,
    /// The campaign's redemptions were already learned from.
    CampaignAlreadyLearned,
    /// The request conflicts with the current state (a directory already holding a
    /// campaign, a writer already at work).
    Conflict,
    /// The model is missing or built as of another day: build it first.
    ModelMissing,
    /// The lake holds no receipts yet.
    LakeEmpty,
    /// Stored personal data does not open with this master key.
    KeyInvalid,
    /// The operational store failed or refused.
    Storage,
    /// Reading or writing a file failed.
    Io,
    /// A bug in Unico.
    Internal,
    /// No valid login or token (the server's 401).
    Unauthorized,
    /// The caller's role does not allow this, or the thing belongs to someone else (403).
    Forbidden,
    /// Too many failed logins: wait, then try again (429 with `Retry-After`).
    RateLimited,
    /// The request or upload is larger than the server accepts (413).
    PayloadTooLarge,
    /// A job the server was running when it stopped: nothing of it was published.
    JobInterrupted,
    /// The receipt was confirmed with another basket, or its state allows no such change
    /// (a refunded receipt voided) (409).
    ReceiptConflict,
    /// No receipt with this store, till and number was confirmed (404).
    ReceiptNotFound,
    /// A basket line names a product the product master does not have (422).
    SkuUnknown,
    /// The pickup slot has no place left (409).
    SlotFull,
    /// The order's state allows no such change (a picked order cancelled) (409).
    OrderState,
}

impl Code {
    /// Every code, for the docs' table and its test.
    pub const ALL: [Code; 29] = [
        Code::InputInvalid,
        Code::MappingInvalid,
        Code::FileUnusable,
        Code::TooManyRejects,
        Code::PolicyInvalid,
        Code::SettingsInvalid,
        Code::DataDirMissing,
        Code::CustomerNotFound,
        Code::CampaignNotFound,
        Code::NotFound,
        Code::CampaignAlreadyStored,
        Code::CampaignAlreadyLearned,
        Code::Conflict,
        Code::ModelMissing,
        Code::LakeEmpty,
        Code::KeyInvalid,
        Code::Storage,
        Code::Io,
        Code::Internal,
        Code::Unauthorized,
        Code::Forbidden,
        Code::RateLimited,
        Code::PayloadTooLarge,
        Code::JobInterrupted,
        Code::ReceiptConflict,
        Code::ReceiptNotFound,
        Code::SkuUnknown,
        Code::SlotFull,
        Code::OrderState,
    ];

    /// The code as programs see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InputInvalid => "input.invalid",
            Code::MappingInvalid => "mapping.invalid",
            Code::FileUnusable => "file.unusable",
            Code::TooManyRejects => "import.too_many_rejects",
            Code::PolicyInvalid => "policy.invalid",
            Code::SettingsInvalid => "settings.invalid",
            Code::DataDirMissing => "data_dir.missing",
            Code::CustomerNotFound => "customer.not_found",
            Code::CampaignNotFound => "campaign.not_found",
            Code::NotFound => "not_found",
            Code::CampaignAlreadyStored => "campaign.already_stored",
            Code::CampaignAlreadyLearned => "campaign.already_learned",
            Code::Conflict => "conflict",
            Code::ModelMissing => "model.missing",
            Code::LakeEmpty => "lake.empty",
            Code::KeyInvalid => "key.invalid",
            Code::Storage => "storage",
            Code::Io => "io",
            Code::Internal => "internal",
            Code::Unauthorized => "auth.unauthorized",
            Code::Forbidden => "auth.forbidden",
            Code::RateLimited => "auth.rate_limited",
            Code::PayloadTooLarge => "request.too_large",
            Code::JobInterrupted => "job.interrupted",
            Code::ReceiptConflict => "receipt.conflict",
            Code::ReceiptNotFound => "receipt.not_found",
            Code::SkuUnknown => "sku.unknown",
            Code::SlotFull => "slot.full",
            Code::OrderState => "order.state",
        }
    }

    /// The CLI's exit status: 2 the input is wrong, 3 too many rejected rows, 4 not found,
    /// 5 refused in the current state, 6 not allowed, 1 anything else.
    pub fn exit_status(self) -> u8 {
        match self {
            Code::InputInvalid
            | Code::MappingInvalid
            | Code::FileUnusable
            | Code::PolicyInvalid
            | Code::SettingsInvalid
            | Code::DataDirMissing => 2,
            Code::TooManyRejects => 3,
            Code::CustomerNotFound | Code::CampaignNotFound | Code::NotFound => 4,
            Code::CampaignAlreadyStored
            | Code::CampaignAlreadyLearned
            | Code::Conflict
            | Code::ModelMissing
            | Code::LakeEmpty => 5,
            Code::KeyInvalid | Code::Storage | Code::Io | Code::Internal | Code::JobInterrupted => 1,
            Code::Unauthorized | Code::Forbidden | Code::RateLimited => 6,
            Code::PayloadTooLarge => 2,
            Code::ReceiptConflict => 5,
            Code::ReceiptNotFound => 4,
            Code::SkuUnknown => 2,
            Code::SlotFull | Code::OrderState => 5,
        }
    }

    /// The HTTP status the server answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Code::InputInvalid | Code::MappingInvalid => 400,
            Code::FileUnusable | Code::TooManyRejects | Code::PolicyInvalid => 422,
            Code::CustomerNotFound | Code::CampaignNotFound | Code::NotFound => 404,
            Code::CampaignAlreadyStored
            | Code::CampaignAlreadyLearned
            | Code::Conflict
            | Code::ModelMissing
            | Code::LakeEmpty => 409,
            Code::SettingsInvalid
            | Code::DataDirMissing
            | Code::KeyInvalid
            | Code::Storage
            | Code::Io
            | Code::Internal
            | Code::JobInterrupted => 500,
            Code::Unauthorized => 401,
            Code::Forbidden => 403,
            Code::RateLimited => 429,
            Code::PayloadTooLarge => 413,
            Code::ReceiptConflict => 409,
            Code::ReceiptNotFound => 404,
            Code::SkuUnknown => 422,
            Code::SlotFull | Code::OrderState => 409,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the service layer: a code, what went wrong in words, and its cause.
pub struct Error {
    code: Code,
    /// What went wrong; `None` when the cause says it (an error converted as it is).
    message: Option<String>,
    source: Option<Source>,
    /// Problems of an input file, each at its line (a policy's).
    problems: Vec<Problem>,
}

/// One problem of an input file, at its line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The service layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with its code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error { code, message: Some(message.into()), source: None, problems: Vec::new() }
    }

    /// The machine code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// An error listing the problems of an input file, each at its line.
    pub fn with_problems(code: Code, message: impl Into<String>, problems: Vec<Problem>) -> Self {
        Error { code, message: Some(message.into()), source: None, problems }
    }

    /// The problems of an input file, each at its line (empty for most errors).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Keeps `source` as the cause of an error with this code and message.
    pub fn with_source(code: Code, message: impl Into<String>, source: impl Into<Source>) -> Self {
        Error { code, message: Some(message.into()), source: Some(source.into()), problems: Vec::new() }
    }

    fn wrap(code: Code, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error { code, message: None, source: Some(Box::new(source)), problems: Vec::new() }
    }

    /// The cause, if it is of type `E` (at any depth of the chain).
    pub fn find<E: std::error::Error + 'static>(&self) -> Option<&E> {
        let mut next: Option<&(dyn std::error::Error + 'static)> = self.source.as_deref().map(|s| s as _);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<E>() {
                return Some(found);
            }
            if let Some(inner) = e.downcast_ref::<Error>() {
                return inner.find();
            }
            next = e.source();
        }
        None
    }

    /// The message and every cause, joined with ": " (what the CLI prints).
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            let text = e.to_string();
            if !text.is_empty() && !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = e.source();
        }
        out
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.chain(), self.code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.message, &self.source) {
            (Some(m), _) => f.write_str(m),
            (None, Some(s)) => fmt::Display::fmt(s, f),
            (None, None) => f.write_str(self.code.as_str()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match (&self.message, &self.source) {
            (Some(_), Some(s)) => Some(s.as_ref()),
            // Converted as it is: its Display is this error's, so the chain goes on below it.
            (None, Some(s)) => s.source(),
            _ => None,
        }
    }
}

/// Adds what was being done to an error, keeping its code and its cause.
pub trait Context<T> {
    /// With a fixed message.
    fn context(self, message: impl Into<String>) -> Result<T>;
    /// With a message made only on error.
    fn with_context<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, message: impl Into<String>) -> Result<T> {
        self.map_err(|e| {
            let e = e.into();
            Error {
                code: e.code,
                message: Some(message.into()),
                problems: e.problems.clone(),
                source: Some(Box::new(e)),
            }
        })
    }
    fn with_context<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| {
            let e = e.into();
            Error {
                code: e.code,
                message: Some(message().into()),
                problems: e.problems.clone(),
                source: Some(Box::new(e)),
            }
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, message: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| Error::new(Code::InputInvalid, message))
    }
    fn with_context<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T> {
        self.ok_or_else(|| Error::new(Code::InputInvalid, message()))
    }
}

/// Returns early with an error of this code.
#[macro_export]
macro_rules! bail {
    ($code:expr, $($arg:tt)*) => {
        return Err($crate::Error::new($code, format!($($arg)*)))
    };
}

impl From<unico_lake::Error> for Error {
    fn from(e: unico_lake::Error) -> Self {
        use unico_lake::ErrorKind as K;
        let code = match e.kind() {
            K::Mapping => Code::MappingInvalid,
            K::UnusableFile => Code::FileUnusable,
            K::TooManyRejects => Code::TooManyRejects,
            K::Lake | K::Io => Code::Io,
            _ => Code::Internal,
        };
        Error::wrap(code, e)
    }
}

impl From<unico_store::Error> for Error {
    fn from(e: unico_store::Error) -> Self {
        use unico_store::ErrorKind as K;
        let code = match e.kind() {
            K::Input => Code::InputInvalid,
            K::NotFound => Code::CustomerNotFound,
            K::Conflict => Code::Conflict,
            K::Database => Code::Storage,
            K::Crypto => Code::KeyInvalid,
            _ => Code::Internal,
        };
        Error::wrap(code, e)
    }
}

impl From<unico_model::Error> for Error {
    fn from(e: unico_model::Error) -> Self {
        use unico_model::ErrorKind as K;
        let code = match e.kind() {
            K::Io | K::Lake => Code::Io,
            K::Input => Code::InputInvalid,
            _ => Code::Internal,
        };
        Error::wrap(code, e)
    }
}

impl From<unico_kpi::Error> for Error {
    fn from(e: unico_kpi::Error) -> Self {
        use unico_kpi::ErrorKind as K;
        let code = match e.kind() {
            K::Input => Code::InputInvalid,
            K::Lake => Code::Io,
            _ => Code::Internal,
        };
        Error::wrap(code, e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::wrap(Code::Io, e)
    }
}

impl From<csv::Error> for Error {
    fn from(e: csv::Error) -> Self {
        let code = if e.is_io_error() { Code::Io } else { Code::InputInvalid };
        Error::wrap(code, e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        let code = if e.is_io() { Code::Io } else { Code::Internal };
        Error::wrap(code, e)
    }
}

impl From<jiff::Error> for Error {
    fn from(e: jiff::Error) -> Self {
        Error::wrap(Code::InputInvalid, e)
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::wrap(Code::Io, e)
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Self {
        Error::wrap(Code::InputInvalid, e)
    }
}

impl From<std::num::ParseFloatError> for Error {
    fn from(e: std::num::ParseFloatError) -> Self {
        Error::wrap(Code::InputInvalid, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_code_and_the_cause() {
        let lake = unico_lake::Error::new(unico_lake::ErrorKind::TooManyRejects, "12 of 20 rows rejected");
        let e: Result<()> = Err(lake).context("receipts.csv not imported");
        let e = e.unwrap_err();
        assert_eq!(e.code(), Code::TooManyRejects);
        assert_eq!(e.to_string(), "receipts.csv not imported");
        assert_eq!(e.chain(), "receipts.csv not imported: 12 of 20 rows rejected");
        assert_eq!(e.find::<unico_lake::Error>().map(|l| l.kind()), Some(unico_lake::ErrorKind::TooManyRejects));
    }

    #[test]
    fn a_library_error_keeps_its_own_cause() {
        let disk = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device");
        let e: Error = unico_lake::Error::io("cannot write lake/receipt_lines/part-1.parquet", disk).into();
        assert_eq!(e.code(), Code::Io);
        assert_eq!(e.find::<std::io::Error>().map(|io| io.kind()), Some(std::io::ErrorKind::StorageFull));
        assert_eq!(e.chain(), "cannot write lake/receipt_lines/part-1.parquet: no space left on device");
        let wrapped: Result<()> = Err(e).context("receipts.csv not imported");
        let wrapped = wrapped.unwrap_err();
        assert!(wrapped.find::<std::io::Error>().is_some());
        assert_eq!(
            wrapped.chain(),
            "receipts.csv not imported: cannot write lake/receipt_lines/part-1.parquet: no space left on device"
        );
    }

    #[test]
    fn codes_are_distinct_and_mapped() {
        let names: std::collections::HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for c in Code::ALL {
            assert!([400, 401, 403, 404, 409, 413, 422, 429, 500].contains(&c.http_status()), "{c}");
            assert!((1..=6).contains(&c.exit_status()), "{c}");
        }
    }
}
