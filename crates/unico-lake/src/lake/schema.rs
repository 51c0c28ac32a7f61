//! The Arrow schemas of the lake's datasets: the contract with DuckDB, Spark and pandas.
//!
//! Money columns are integer cents and say so in their name; `ts` is an exact instant in
//! UTC, `local_date` the calendar day in the chain's zone (what "per day" KPIs group by).
//! `customer_key` is null for purchases without a card. `source_line` is the line of the
//! imported file a row came from; the import is named by the part file
//! (`part-<import-id>-<n>.parquet`, which DuckDB shows with `filename = true`).

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, LazyLock};

/// Column names of `receipt_lines`, in order.
pub const RECEIPT_LINES_SCHEMA_FIELDS: [&str; 13] = [
    "receipt_id",
    "line_no",
    "ts",
    "local_date",
    "store_id",
    "customer_key",
    "sku",
    "quantity",
    "unit_price_cents",
    "discount_cents",
    "net_amount_cents",
    "channel",
    "source_line",
];

/// Column names of `products`, in order.
pub const PRODUCTS_SCHEMA_FIELDS: [&str; 10] = [
    "sku",
    "name",
    "department",
    "category",
    "subcategory",
    "brand",
    "supplier",
    "unit_cost_cents",
    "list_price_cents",
    "durable",
];

static RECEIPT_LINES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("receipt_id", DataType::Utf8, false),
        Field::new("line_no", DataType::Int32, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("local_date", DataType::Date32, false),
        Field::new("store_id", DataType::Utf8, false),
        Field::new("customer_key", DataType::Utf8, true),
        Field::new("sku", DataType::Utf8, false),
        Field::new("quantity", DataType::Float64, false),
        Field::new("unit_price_cents", DataType::Int64, true),
        Field::new("discount_cents", DataType::Int64, false),
        Field::new("net_amount_cents", DataType::Int64, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("source_line", DataType::Int64, false),
    ]))
});

static PRODUCTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("sku", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("department", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("subcategory", DataType::Utf8, true),
        Field::new("brand", DataType::Utf8, true),
        Field::new("supplier", DataType::Utf8, true),
        Field::new("unit_cost_cents", DataType::Int64, true),
        Field::new("list_price_cents", DataType::Int64, true),
        Field::new("durable", DataType::Boolean, false),
    ]))
});

static STORES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("store_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("format", DataType::Utf8, true),
    ]))
});

/// The schema of `receipt_lines`.
pub fn receipt_lines_schema() -> SchemaRef {
    RECEIPT_LINES.clone()
}

/// The schema of `products`.
pub fn products_schema() -> SchemaRef {
    PRODUCTS.clone()
}

/// The schema of `stores`.
pub fn stores_schema() -> SchemaRef {
    STORES.clone()
}
