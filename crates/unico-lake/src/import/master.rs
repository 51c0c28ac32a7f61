//! Importing master data (products, stores): validate, then upsert by key, newest wins.
//!
//! Master data is small (a large chain has a few hundred thousand products), so the merged
//! dataset is rebuilt in memory and published as one file per version. A key repeated
//! within one file is rejected (which of the two is right cannot be told); a key the lake
//! already holds with the same values is counted as already in the lake, with other values
//! as updated.

use super::{
    ImportOptions, ImportSummary, Phase, Progress, Reason, RejectsWriter, check_outcome, open_source, publish_whole,
    resolve::resolve,
};
use crate::error::{Error, ErrorKind};
use crate::lake::{Lake, WriteLock, products_schema, stores_schema};
use crate::mapping::Dataset;
use crate::parse;
use crate::read;
use crate::source::{Row, Value};
use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(Option<String>),
    Cents(Option<i64>),
    Flag(bool),
}

fn schema_of(dataset: Dataset) -> SchemaRef {
    match dataset {
        Dataset::Products => products_schema(),
        Dataset::Stores => stores_schema(),
        _ => unreachable!("not lake master data"),
    }
}

fn read_existing(lake: &Lake, dataset: Dataset, schema: &SchemaRef) -> Result<BTreeMap<String, Vec<Cell>>, Error> {
    let mut out = BTreeMap::new();
    for file in lake.parquet_files(dataset)? {
        read::for_each_batch(&file, &[], |batch| {
            for i in 0..batch.num_rows() {
                let mut row = Vec::with_capacity(schema.fields().len());
                for (c, field) in schema.fields().iter().enumerate() {
                    let col = batch.column(c);
                    row.push(match field.data_type() {
                        DataType::Utf8 => Cell::Text(
                            col.as_string::<i32>().is_valid(i).then(|| col.as_string::<i32>().value(i).to_string()),
                        ),
                        DataType::Int64 => Cell::Cents(
                            col.as_primitive::<Int64Type>()
                                .is_valid(i)
                                .then(|| col.as_primitive::<Int64Type>().value(i)),
                        ),
                        DataType::Boolean => Cell::Flag(col.as_boolean().value(i)),
                        other => {
                            return Err(Error::new(
                                ErrorKind::Internal,
                                format!("unexpected master column type {other}"),
                            ));
                        }
                    });
                }
                if let Cell::Text(Some(key)) = &row[0] {
                    out.insert(key.clone(), row);
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

struct Rejection {
    column: String,
    value: String,
    reason: Reason,
    message: String,
}

fn parse_row(
    row: &dyn Row,
    found: &[Option<usize>],
    schema: &SchemaRef,
    options: &ImportOptions<'_>,
    dataset: Dataset,
) -> Result<Vec<Cell>, Rejection> {
    if let Some(problem) = row.problem() {
        return Err(Rejection {
            column: String::new(),
            value: String::new(),
            reason: Reason::MalformedRecord,
            message: problem,
        });
    }
    let mut cells = Vec::with_capacity(found.len());
    for (c, field) in schema.fields().iter().enumerate() {
        let canon = dataset.columns()[c].0;
        let value = match found[c] {
            None => Value::Null,
            Some(i) => row.get(i).map_err(|e| Rejection {
                column: canon.into(),
                value: e.raw,
                reason: Reason::BadEncoding,
                message: e.reason,
            })?,
        };
        let bad = |reason, message| Rejection { column: canon.into(), value: value.display(), reason, message };
        cells.push(match field.data_type() {
            DataType::Utf8 => {
                if value.is_blank() {
                    if c == 0 {
                        return Err(bad(Reason::MissingValue, format!("{canon} is empty")));
                    }
                    Cell::Text(None)
                } else {
                    Cell::Text(Some(match &value {
                        Value::Text(t) => t.trim().to_string(),
                        other => other.display(),
                    }))
                }
            }
            DataType::Int64 => {
                if value.is_blank() {
                    Cell::Cents(None)
                } else {
                    Cell::Cents(Some(
                        parse::money(&value, options.mapping.decimal).map_err(|m| bad(Reason::BadAmount, m))?,
                    ))
                }
            }
            DataType::Boolean => Cell::Flag(parse::flag(&value).map_err(|m| bad(Reason::BadFlag, m))?),
            _ => unreachable!("master schemas hold text, cents and flags"),
        });
    }
    Ok(cells)
}

fn to_batch(schema: &SchemaRef, rows: &BTreeMap<String, Vec<Cell>>) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (c, field) in schema.fields().iter().enumerate() {
        columns.push(match field.data_type() {
            DataType::Utf8 => {
                let mut b = StringBuilder::new();
                for r in rows.values() {
                    match &r[c] {
                        Cell::Text(t) => b.append_option(t.as_deref()),
                        _ => unreachable!(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                for r in rows.values() {
                    match &r[c] {
                        Cell::Cents(v) => b.append_option(*v),
                        _ => unreachable!(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::new();
                for r in rows.values() {
                    match &r[c] {
                        Cell::Flag(v) => b.append_value(*v),
                        _ => unreachable!(),
                    }
                }
                Arc::new(b.finish())
            }
            _ => unreachable!(),
        });
    }
    RecordBatch::try_new(schema.clone(), columns).expect("cells match the schema")
}

pub(super) fn import(
    lake: &Lake,
    lock: &WriteLock,
    dataset: Dataset,
    import_id: &str,
    path: &Path,
    options: &ImportOptions<'_>,
) -> Result<ImportSummary, Error> {
    let started_at = jiff::Timestamp::now().to_string();
    let mut source = open_source(path, &options.mapping)?;
    let found = resolve(dataset, &options.mapping, source.columns())?;
    let schema = schema_of(dataset);
    let mut merged = read_existing(lake, dataset, &schema)?;
    let mut rejects = RejectsWriter::new(options.rejects_dir.join(format!("{import_id}.csv")));
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let (mut rows_read, mut imported, mut updated, mut already) = (0u64, 0u64, 0u64, 0u64);
    source.for_each(&mut |row| {
        rows_read += 1;
        match parse_row(row, &found, &schema, options, dataset) {
            Err(r) => rejects.reject(row.line(), &r.column, &r.value, r.reason, &r.message, &row.raw()),
            Ok(cells) => {
                let Cell::Text(Some(key)) = cells[0].clone() else { unreachable!("key checked non-empty") };
                if let Some(first) = first_line.get(&key) {
                    let canon = dataset.columns()[0].0;
                    return rejects.reject(
                        row.line(),
                        canon,
                        &key,
                        Reason::DuplicateKey,
                        &format!("{canon} {key:?} already appears at line {first}"),
                        &row.raw(),
                    );
                }
                first_line.insert(key.clone(), row.line());
                match merged.insert(key, cells.clone()) {
                    None => imported += 1,
                    Some(old) if old == cells => already += 1,
                    Some(_) => updated += 1,
                }
                Ok(())
            }
        }
    })?;
    let (rejects_file, rejected) = rejects.finish()?;
    let summary = ImportSummary {
        import_id: import_id.to_string(),
        dataset: dataset.noun().to_string(),
        file: path.display().to_string(),
        started_at,
        rows_read,
        rows_imported: imported,
        rows_already_in_lake: already,
        rows_updated: updated,
        rejected,
        warnings: BTreeMap::new(),
        rejects_file: rejects_file.map(|p| p.display().to_string()),
        months: Vec::new(),
    };
    check_outcome(&summary, options.max_reject_rate)?;
    (options.progress)(Progress { phase: Phase::Publishing, done: 0, total: 1 });
    publish_whole(lake, lock, dataset, schema.clone(), &summary, |w| w.write(&to_batch(&schema, &merged)))?;
    Ok(summary)
}
