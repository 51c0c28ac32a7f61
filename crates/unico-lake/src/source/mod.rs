//! Reading source files record by record, whatever their format and encoding.
//!
//! Every format offers the same view of a record: a [`Row`] with its source line number
//! and typed [`Value`]s by source column. CSV and JSON Lines are decoded from their declared
//! encoding field by field, so one bad byte costs one row, never the file; Parquet values
//! arrive already typed. Sources stream: memory holds one batch, never the file.

mod csv;
mod jsonl;
mod parquet;
mod text;

pub use self::csv::{CsvRow, CsvShape, CsvSource, LineGuard, MAX_LINE_BYTES, MAX_RECORD_BYTES, MAX_RECORD_LINES};
pub use self::jsonl::JsonlSource;
pub use self::parquet::ParquetSource;
pub use text::decode;

use crate::error::Error;
use std::borrow::Cow;

/// A field's value as the source gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Missing or null.
    Null,
    /// Text (CSV fields are always text).
    Text(Cow<'a, str>),
    /// An integer (JSON, Parquet).
    Int(i64),
    /// A binary float (JSON, Parquet): amounts are rounded by their decimal text.
    Float(f64),
    /// An exact decimal: `units` × 10^-`scale` (Parquet DECIMAL, simulated cents).
    Decimal {
        /// The unscaled integer.
        units: i64,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// A boolean.
    Bool(bool),
    /// An exact instant (Parquet timestamps with a zone).
    Instant(jiff::Timestamp),
    /// A wall-clock time without a zone (Parquet timestamps without one).
    Civil(jiff::civil::DateTime),
}

impl Value<'_> {
    /// True for null and for text that is empty or white space.
    pub fn is_blank(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(t) => t.trim_ascii().is_empty(),
            _ => false,
        }
    }

    /// A printable form for rejects files.
    pub fn display(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(t) => t.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Decimal { units, scale } => decimal_text(*units as i128, *scale as i8),
            Value::Bool(b) => b.to_string(),
            Value::Instant(t) => t.to_string(),
            Value::Civil(d) => d.to_string(),
        }
    }
}

/// The exact text of `unscaled` × 10^-`scale`.
pub fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        return (unscaled * 10i128.pow((-scale) as u32)).to_string();
    }
    let neg = unscaled < 0;
    let abs = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{abs:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

/// A field that cannot be read at all (as opposed to one whose value is wrong).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What is wrong, in plain words.
    pub reason: String,
    /// The raw bytes, made printable.
    pub raw: String,
}

/// One record of a source.
pub trait Row {
    /// The line number in the file (CSV: the physical line where the record starts; JSON
    /// Lines: the line; Parquet: the 1-based row number).
    fn line(&self) -> u64;
    /// The value in source column `index`.
    fn get(&self, index: usize) -> Result<Value<'_>, FieldError>;
    /// The whole record as text, for the rejects file.
    fn raw(&self) -> String;
    /// How far into the file this record starts, in bytes (0 when unknown).
    fn offset(&self) -> u64 {
        0
    }
    /// A record-level problem (malformed JSON, wrong field count) that rejects the row.
    fn problem(&self) -> Option<String> {
        None
    }
}

/// A file read record by record.
pub trait Source {
    /// The source's column names (CSV header, Parquet schema, union of the first JSON keys).
    fn columns(&self) -> &[String];
    /// Calls `f` for every record, in file order.
    fn for_each(&mut self, f: &mut dyn FnMut(&dyn Row) -> Result<(), Error>) -> Result<(), Error>;
}
