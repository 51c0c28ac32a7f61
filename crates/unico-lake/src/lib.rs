//! Unico's lake: importing a retailer's receipts and master data into pseudonymous Parquet.
//!
//! Read the modules in data-flow order: [`mapping`] says how a source file maps onto the
//! canonical columns; [`source`] reads CSV, JSON Lines and Parquet record by record in the
//! declared encoding; [`parse`] turns values into instants, cents and quantities;
//! [`import`] validates, writes rejects, pseudonymises, deduplicates and publishes;
//! [`lake`] is the versioned Parquet layout with its atomic publish; [`read`] scans it back
//! and [`quality`] reports on it. This crate never sees personal data other than card ids,
//! which it replaces with keyed hashes before anything is written.
#![warn(missing_docs)]

mod error;
pub mod forget;
pub mod import;
pub mod lake;
pub mod mapping;
pub mod parse;
pub mod quality;
pub mod read;
pub mod source;

pub use error::{Error, ErrorKind};
pub use import::{ImportOptions, ImportSummary, import_file};
pub use lake::Lake;
pub use mapping::{Dataset, Mapping};
