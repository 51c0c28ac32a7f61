//! Parquet sources: typed columns, read batch by batch.

use super::{FieldError, Row, Source, Value, decimal_text};
use crate::error::{Error, ErrorKind};
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use std::borrow::Cow;
use std::fs::File;
use std::path::Path;

/// A Parquet file written by any tool (DuckDB, Spark, pandas, Unico).
pub struct ParquetSource {
    reader: ParquetRecordBatchReader,
    columns: Vec<String>,
    rows_read: u64,
    total_rows: u64,
    total_bytes: u64,
}

impl ParquetSource {
    /// Opens `path` and reads its schema.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            Error::new(ErrorKind::UnusableFile, format!("{} is not a readable Parquet file: {e}", path.display()))
        })?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let columns = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
        let reader = builder
            .with_batch_size(8192)
            .build()
            .map_err(|e| Error::new(ErrorKind::UnusableFile, format!("{}: {e}", path.display())))?;
        Ok(ParquetSource { reader, columns, rows_read: 0, total_rows, total_bytes })
    }
}

struct ParquetRow<'a> {
    batch: &'a RecordBatch,
    row: usize,
    line: u64,
    offset: u64,
}

fn nanos_to_instant(value: i64, unit: &TimeUnit) -> Option<jiff::Timestamp> {
    let nanos: i128 = match unit {
        TimeUnit::Second => value as i128 * 1_000_000_000,
        TimeUnit::Millisecond => value as i128 * 1_000_000,
        TimeUnit::Microsecond => value as i128 * 1_000,
        TimeUnit::Nanosecond => value as i128,
    };
    jiff::Timestamp::from_nanosecond(nanos).ok()
}

fn value_at(array: &ArrayRef, row: usize) -> Result<Value<'_>, FieldError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    let unsupported =
        |t: &DataType| FieldError { reason: format!("Parquet type {t} is not supported here"), raw: String::new() };
    Ok(match array.data_type() {
        DataType::Utf8 => Value::Text(Cow::Borrowed(array.as_string::<i32>().value(row))),
        DataType::LargeUtf8 => Value::Text(Cow::Borrowed(array.as_string::<i64>().value(row))),
        DataType::Utf8View => Value::Text(Cow::Borrowed(array.as_string_view().value(row))),
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Value::Int(array.as_primitive::<Int8Type>().value(row) as i64),
        DataType::Int16 => Value::Int(array.as_primitive::<Int16Type>().value(row) as i64),
        DataType::Int32 => Value::Int(array.as_primitive::<Int32Type>().value(row) as i64),
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::Int(array.as_primitive::<UInt8Type>().value(row) as i64),
        DataType::UInt16 => Value::Int(array.as_primitive::<UInt16Type>().value(row) as i64),
        DataType::UInt32 => Value::Int(array.as_primitive::<UInt32Type>().value(row) as i64),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(row);
            i64::try_from(v).map(Value::Int).unwrap_or(Value::Text(Cow::Owned(v.to_string())))
        }
        DataType::Float32 => Value::Float(array.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            Value::Text(Cow::Owned(decimal_text(array.as_primitive::<Decimal128Type>().value(row), *scale)))
        }
        DataType::Decimal64(_, scale) => {
            Value::Text(Cow::Owned(decimal_text(array.as_primitive::<Decimal64Type>().value(row) as i128, *scale)))
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            let date = jiff::Span::new()
                .try_days(days as i64)
                .and_then(|span| jiff::civil::date(1970, 1, 1).checked_add(span))
                .map_err(|e| FieldError { reason: format!("date out of range: {e}"), raw: days.to_string() })?;
            Value::Civil(date.to_datetime(jiff::civil::Time::midnight()))
        }
        DataType::Timestamp(unit, tz) => {
            let raw = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            let instant = nanos_to_instant(raw, unit)
                .ok_or_else(|| FieldError { reason: "timestamp out of range".into(), raw: raw.to_string() })?;
            if tz.is_some() {
                Value::Instant(instant)
            } else {
                // No zone: the numbers are a wall-clock reading, to be placed in the source's zone.
                Value::Civil(jiff::tz::TimeZone::UTC.to_datetime(instant))
            }
        }
        other => return Err(unsupported(other)),
    })
}

impl Row for ParquetRow<'_> {
    fn line(&self) -> u64 {
        self.line
    }
    fn get(&self, index: usize) -> Result<Value<'_>, FieldError> {
        match self.batch.columns().get(index) {
            None => Ok(Value::Null),
            Some(col) => value_at(col, self.row),
        }
    }
    fn offset(&self) -> u64 {
        self.offset
    }
    fn raw(&self) -> String {
        let fields: Vec<String> =
            (0..self.batch.num_columns()).map(|i| self.get(i).map(|v| v.display()).unwrap_or_else(|e| e.raw)).collect();
        fields.join(",")
    }
}

impl Source for ParquetSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&dyn Row) -> Result<(), Error>) -> Result<(), Error> {
        for batch in self.reader.by_ref() {
            let batch = batch.map_err(|e| {
                Error::new(ErrorKind::UnusableFile, format!("cannot read the Parquet file further: {e}"))
            })?;
            for row in 0..batch.num_rows() {
                self.rows_read += 1;
                let offset = (self.total_bytes * self.rows_read).checked_div(self.total_rows).unwrap_or(0);
                f(&ParquetRow { batch: &batch, row, line: self.rows_read, offset })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::source::decimal_text;

    #[test]
    fn decimals_print_exactly() {
        assert_eq!(decimal_text(1234, 2), "12.34");
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(7, -2), "700");
        assert_eq!(decimal_text(145, 3), "0.145");
    }
}
