//! `unico generate --into-lake`: the simulator streaming a chain straight into the lake.
//!
//! The simulated receipts go through the same import as a retailer's file — validation,
//! pseudonymisation, month partitions, dedupe, atomic publish — without a CSV in between,
//! so a chain of any size is generated in bounded memory and disk.

use std::borrow::Cow;
use unico_lake::Error;
use unico_lake::source::{FieldError, Row, Source, Value};
use unico_sim::{ChainConfig, SimReceipt, World};

/// The canonical receipt columns the simulator and the collected orders give the import.
pub(crate) const COLUMNS: [&str; 11] = [
    "receipt_id",
    "line_no",
    "ts",
    "store_id",
    "customer_id",
    "sku",
    "quantity",
    "unit_price",
    "discount",
    "net_amount",
    "channel",
];

/// The simulator as a [`Source`] of canonical receipt lines.
pub struct SimSource<'a> {
    pub config: ChainConfig,
    pub out: std::path::PathBuf,
    pub progress: &'a dyn Fn(u64, u64),
    pub columns: Vec<String>,
    /// Filled in when the generation has run.
    pub summary: &'a std::cell::RefCell<Option<unico_sim::GenerateSummary>>,
}

impl<'a> SimSource<'a> {
    pub fn new(
        config: ChainConfig,
        out: std::path::PathBuf,
        progress: &'a dyn Fn(u64, u64),
        summary: &'a std::cell::RefCell<Option<unico_sim::GenerateSummary>>,
    ) -> Self {
        SimSource { config, out, progress, columns: COLUMNS.iter().map(|c| c.to_string()).collect(), summary }
    }
}

/// A receipt line of [`COLUMNS`] handed to the import from memory.
pub(crate) struct CanonicalRow<'r> {
    /// Its number in the source.
    pub line: u64,
    /// The values, in [`COLUMNS`] order.
    pub values: [Value<'r>; 11],
    /// A column left out of the rejects file (a real card, which no file holds in clear).
    pub hidden: Option<usize>,
}

impl Row for CanonicalRow<'_> {
    fn line(&self) -> u64 {
        self.line
    }
    fn get(&self, index: usize) -> Result<Value<'_>, FieldError> {
        Ok(self.values.get(index).cloned().unwrap_or(Value::Null))
    }
    fn raw(&self) -> String {
        let shown = |(i, v): (usize, &Value<'_>)| if Some(i) == self.hidden { String::new() } else { v.display() };
        self.values.iter().enumerate().map(shown).collect::<Vec<_>>().join(",")
    }
}

fn cents(c: i64) -> Value<'static> {
    Value::Decimal { units: c, scale: 2 }
}

impl Source for SimSource<'_> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&dyn Row) -> Result<(), Error>) -> Result<(), Error> {
        let mut line = 0u64;
        let mut failure: Option<Error> = None;
        let mut sink = |world: &World, r: &SimReceipt| -> std::io::Result<()> {
            let (h, m, s) = r.time;
            let ts = r.date.to_datetime(jiff::civil::time(h as i8, m as i8, s as i8, 0));
            for (i, l) in r.lines.iter().enumerate() {
                line += 1;
                let (sku, _, _, _) = world.product(l.product);
                let row = CanonicalRow {
                    hidden: None,
                    line,
                    values: [
                        Value::Text(Cow::Borrowed(&r.receipt_id)),
                        Value::Int(i as i64 + 1),
                        Value::Civil(ts),
                        Value::Text(Cow::Borrowed(world.store_id(r.store))),
                        r.card.as_deref().map_or(Value::Null, |c| Value::Text(Cow::Borrowed(c))),
                        Value::Text(Cow::Borrowed(sku)),
                        Value::Int(l.quantity),
                        cents(l.unit_price_cents),
                        cents(l.discount_cents),
                        cents(l.net_cents),
                        Value::Text(Cow::Borrowed(r.channel)),
                    ],
                };
                if let Err(e) = f(&row) {
                    let msg = e.to_string();
                    failure = Some(e);
                    return Err(std::io::Error::other(msg));
                }
            }
            Ok(())
        };
        match unico_sim::generate_into(&self.config, &self.out, self.progress, &mut sink) {
            Ok(summary) => {
                *self.summary.borrow_mut() = Some(summary);
                Ok(())
            }
            Err(e) => Err(failure.unwrap_or_else(|| Error::new(unico_lake::ErrorKind::Io, format!("simulation: {e}")))),
        }
    }
}
