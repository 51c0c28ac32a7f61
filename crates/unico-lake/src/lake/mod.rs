//! The lake: pseudonymous Parquet datasets that any Parquet tool can read as they are.
//!
//! Layout under the lake root:
//!
//! ```text
//! receipt_lines -> _versions/receipt_lines/<import-id>     (a symlink: the published version)
//! products      -> _versions/products/<import-id>
//! stores        -> _versions/stores/<import-id>
//! _versions/<dataset>/<import-id>/month=YYYY-MM/part-<import-id>.parquet
//! _versions/<dataset>/<import-id>/_imports/<import-id>.json   (summaries, published with the data)
//! _versions/<dataset>/<import-id>.lease                       (readers of that version hold it shared)
//! .lock                                                     (one writer at a time)
//! ```
//!
//! An import builds a complete new version beside the published one — hard links to every
//! existing file plus its own new files — and publishes it by atomically renaming a new
//! symlink over the dataset's name. A reader (`read_parquet('lake/receipt_lines/*/*.parquet')`
//! in DuckDB) therefore sees either the old dataset or the new one, never half an import; a
//! crash before the rename leaves only an unreferenced folder, removed at the next write.
//! See `docs/decisions/0002-atomic-publish.md`.

mod schema;
mod version;
mod writer;

pub use schema::{
    PRODUCTS_SCHEMA_FIELDS, RECEIPT_LINES_SCHEMA_FIELDS, products_schema, receipt_lines_schema, stores_schema,
};
pub use version::{Draft, Lake, WriteLock};
pub use writer::PartitionWriter;

/// A calendar month in the chain's time zone, the lake's partition key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Year.
    pub year: i16,
    /// Month, 1–12.
    pub month: i8,
}

impl Month {
    /// The month a civil date falls in.
    pub fn of(date: jiff::civil::Date) -> Month {
        Month { year: date.year(), month: date.month() }
    }

    /// The partition folder name, `month=YYYY-MM`.
    pub fn dir_name(self) -> String {
        format!("month={:04}-{:02}", self.year, self.month)
    }

    /// Parses `month=YYYY-MM`.
    pub fn from_dir_name(name: &str) -> Option<Month> {
        let rest = name.strip_prefix("month=")?;
        let (y, m) = rest.split_once('-')?;
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12).contains(&month).then_some(Month { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}
