//! `unico._native`: Unico's per-customer passes and models for Python, on Arrow record
//! batches handed over through the Arrow C data interface (no copy of the columns).
//!
//! What is here is a thin binding: every computation is `unico-model`'s own (the passes of
//! `unico_model::passes`, the fits of `unico_model::clv`, the RFM scores), so the package and
//! `unico model build` agree. The friendly API on pandas frames and the Spark job are in
//! Python (`python/unico/__init__.py`, `spark/unico_spark.py`); the GIL is released while
//! Rust works, so Spark's Python workers and notebook threads run in parallel.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray, UInt8Array};
use arrow_pyarrow::PyArrowType;
use arrow_schema::{DataType, Field, Schema};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;
use unico_model::build::ModelSettings;
use unico_model::clv::{BgNbd, GammaGamma, Grouped, ParetoNbd, Summary, TimeUnit};
use unico_model::habits::{Catalogue, habits_schema};
use unico_model::passes;

type Batch = PyArrowType<RecordBatch>;

fn err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn settings_of(json: Option<&str>) -> PyResult<ModelSettings> {
    match json {
        None => Ok(ModelSettings::default()),
        Some(text) => serde_json::from_str(text).map_err(|e| err(format!("model settings: {e}"))),
    }
}

fn day_of(date: &str) -> PyResult<i32> {
    let d: jiff::civil::Date = date.parse().map_err(|e| err(format!("as_of {date:?}: {e}")))?;
    Ok(unico_core::day::day_of(d))
}

fn unit_of(unit: &str) -> PyResult<TimeUnit> {
    unit.parse().map_err(err)
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> PyResult<&'a ArrayRef> {
    b.column_by_name(name).ok_or_else(|| err(format!("the batch has no column {name}")))
}

fn reals(b: &RecordBatch, name: &str) -> PyResult<Vec<f64>> {
    let c = column(b, name)?;
    if c.null_count() > 0 {
        return Err(err(format!("column {name} has missing values")));
    }
    match c.data_type() {
        DataType::Float64 => Ok(c.as_primitive::<Float64Type>().values().to_vec()),
        DataType::Int64 => Ok(c.as_primitive::<Int64Type>().values().iter().map(|&v| v as f64).collect()),
        t => Err(err(format!("column {name} is {t}, not a number (float64 or int64)"))),
    }
}

fn counts(b: &RecordBatch, name: &str) -> PyResult<Vec<u32>> {
    reals(b, name)?
        .into_iter()
        .map(|v| {
            if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
                Ok(v as u32)
            } else {
                Err(err(format!("column {name} holds {v}, not a count")))
            }
        })
        .collect()
}

fn weights(b: &RecordBatch) -> PyResult<Vec<f64>> {
    match b.column_by_name("weight") {
        Some(_) => reals(b, "weight"),
        None => Ok(vec![1.0; b.num_rows()]),
    }
}

/// Repeat-purchase summaries of a batch: `frequency`, `recency`, `T` and, when present,
/// `monetary_value`.
fn summaries(b: &RecordBatch) -> PyResult<Vec<Summary>> {
    let x = counts(b, "frequency")?;
    let recency = reals(b, "recency")?;
    let age = reals(b, "T")?;
    let monetary = match b.column_by_name("monetary_value") {
        Some(_) => reals(b, "monetary_value")?,
        None => vec![0.0; b.num_rows()],
    };
    Ok((0..b.num_rows())
        .map(|i| Summary { frequency: x[i], recency: recency[i], age: age[i], monetary: monetary[i] })
        .collect())
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(err)
}

/// Folds receipt lines sorted by `customer_key` into customer states (one row per customer).
#[pyclass(name = "ProfilePass", module = "unico._native")]
struct PyProfilePass(passes::ProfilePass);

#[pymethods]
impl PyProfilePass {
    #[new]
    #[pyo3(signature = (as_of, time_zone, settings=None))]
    fn new(as_of: &str, time_zone: &str, settings: Option<&str>) -> PyResult<Self> {
        let tz = jiff::tz::TimeZone::get(time_zone).map_err(|e| err(format!("time zone {time_zone:?}: {e}")))?;
        Ok(PyProfilePass(passes::ProfilePass::new(day_of(as_of)?, &settings_of(settings)?, tz)))
    }

    /// Reads a batch of lines; returns the states of the customers it finished.
    fn push(&mut self, py: Python<'_>, batch: Batch) -> PyResult<Batch> {
        let pass = &mut self.0;
        py.detach(|| pass.push(&batch.0)).map(PyArrowType).map_err(err)
    }

    /// The last customer's state, once every batch was pushed.
    fn finish(&mut self) -> PyResult<Batch> {
        self.0.finish().map(PyArrowType).map_err(err)
    }

    /// Card lines read up to the as-of day.
    #[getter]
    fn lines(&self) -> u64 {
        self.0.lines()
    }
}

/// Finds every customer's habits in receipt lines sorted by `customer_key`.
#[pyclass(name = "HabitPass", module = "unico._native")]
struct PyHabitPass(passes::HabitPass);

#[pymethods]
impl PyHabitPass {
    #[new]
    #[pyo3(signature = (products, as_of, settings=None))]
    fn new(products: Vec<Batch>, as_of: &str, settings: Option<&str>) -> PyResult<Self> {
        let batches: Vec<RecordBatch> = products.into_iter().map(|b| b.0).collect();
        let catalogue = Catalogue::from_batches(&batches).map_err(err)?;
        let settings = settings_of(settings)?;
        Ok(PyHabitPass(passes::HabitPass::new(catalogue, day_of(as_of)?, &settings.habits)))
    }

    /// Reads a batch of lines; returns the habit rows of the customers it finished.
    fn push(&mut self, py: Python<'_>, batch: Batch) -> PyResult<Batch> {
        let pass = &mut self.0;
        py.detach(|| pass.push(&batch.0)).map(PyArrowType).map_err(err)
    }

    /// The last customer's habits, once every batch was pushed.
    fn finish(&mut self) -> PyResult<Batch> {
        self.0.finish().map(PyArrowType).map_err(err)
    }
}

/// The default model settings, as JSON (the `[model]` table of `unico.toml`).
#[pyfunction]
fn default_settings() -> PyResult<String> {
    json(&ModelSettings::default())
}

/// The schema of the customer states a `ProfilePass` returns.
#[pyfunction]
#[pyo3(signature = (settings=None))]
fn state_schema(settings: Option<&str>) -> PyResult<PyArrowType<Schema>> {
    Ok(PyArrowType(passes::state_schema(settings_of(settings)?.unit).as_ref().clone()))
}

/// The schema of `profiles.parquet`.
#[pyfunction]
#[pyo3(signature = (settings=None))]
fn profile_schema(settings: Option<&str>) -> PyResult<PyArrowType<Schema>> {
    Ok(PyArrowType(passes::profile_schema(&settings_of(settings)?).as_ref().clone()))
}

/// The schema of `habits.parquet`.
#[pyfunction(name = "habits_schema")]
fn py_habits_schema() -> PyArrowType<Schema> {
    PyArrowType(habits_schema().as_ref().clone())
}

/// Fits BG/NBD on `frequency`, `recency`, `T` (and an optional `weight`: customers per
/// row, for grouped counts); returns the parameters as JSON.
#[pyfunction]
#[pyo3(signature = (batch, unit="days"))]
fn fit_bgnbd(py: Python<'_>, batch: Batch, unit: &str) -> PyResult<String> {
    let unit = unit_of(unit)?;
    let (x, recency, age, w) =
        (counts(&batch.0, "frequency")?, reals(&batch.0, "recency")?, reals(&batch.0, "T")?, weights(&batch.0)?);
    let model = py.detach(|| {
        let rows = (0..x.len()).map(|i| (x[i], recency[i], age[i], w[i]));
        BgNbd::fit_grouped(&Grouped::from_rows(rows), unit)
    });
    json(&model.map_err(err)?)
}

/// Fits Pareto/NBD on `frequency`, `recency`, `T`; returns the parameters as JSON.
#[pyfunction]
#[pyo3(signature = (batch, unit="days"))]
fn fit_pareto_nbd(py: Python<'_>, batch: Batch, unit: &str) -> PyResult<String> {
    let unit = unit_of(unit)?;
    let s = summaries(&batch.0)?;
    json(&py.detach(|| ParetoNbd::fit(&s, unit)).map_err(err)?)
}

/// Fits Gamma-Gamma on `frequency` and `monetary_value` (mean repeat value, currency units;
/// rows without a repeat purchase are left out) and an optional `weight`.
#[pyfunction]
fn fit_gamma_gamma(py: Python<'_>, batch: Batch) -> PyResult<String> {
    let (x, m, w) = (counts(&batch.0, "frequency")?, reals(&batch.0, "monetary_value")?, weights(&batch.0)?);
    let model = py.detach(|| GammaGamma::fit_grouped((0..x.len()).map(|i| (x[i], m[i], w[i]))));
    json(&model.map_err(err)?)
}

fn bgnbd_of(text: &str) -> PyResult<BgNbd> {
    serde_json::from_str(text).map_err(|e| err(format!("BG/NBD parameters: {e}")))
}

fn gamma_gamma_of(text: &str) -> PyResult<GammaGamma> {
    serde_json::from_str(text).map_err(|e| err(format!("Gamma-Gamma parameters: {e}")))
}

/// Per customer of a summary batch (`frequency`, `recency`, `T`, `monetary_value`):
/// P(alive), expected purchases within `horizon_days`, expected spend per purchase and the
/// discounted CLV over `clv_months` (currency units), with the fitted models.
#[pyfunction]
#[pyo3(signature = (batch, bgnbd, gamma_gamma, horizon_days=90, clv_months=12, monthly_discount=0.01))]
fn predict(
    py: Python<'_>,
    batch: Batch,
    bgnbd: &str,
    gamma_gamma: &str,
    horizon_days: u32,
    clv_months: u32,
    monthly_discount: f64,
) -> PyResult<Batch> {
    let (model, spend) = (bgnbd_of(bgnbd)?, gamma_gamma_of(gamma_gamma)?);
    let s = summaries(&batch.0)?;
    let settings = ModelSettings { unit: model.unit, horizon_days, clv_months, monthly_discount, ..Default::default() };
    let scores = py.detach(|| unico_model::build::score_all(&model, &spend, &s, &settings));
    let f = |name: String, v: Vec<f64>| (Field::new(name, DataType::Float64, false), Arc::new(Float64Array::from(v)));
    let columns = vec![
        f("p_alive".into(), scores.iter().map(|s| s.p_alive).collect()),
        f(format!("expected_purchases_{horizon_days}_days"), scores.iter().map(|s| s.expected_purchases).collect()),
        f("expected_spend".into(), scores.iter().map(|s| s.expected_spend).collect()),
        f(format!("clv_{clv_months}_months"), scores.iter().map(|s| s.clv).collect()),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().map(|(f, a)| (f, a as ArrayRef)).unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map(PyArrowType).map_err(err)
}

/// P(alive) and expected purchases within `t` (the model's unit) under a fitted Pareto/NBD.
#[pyfunction]
fn predict_pareto_nbd(py: Python<'_>, batch: Batch, pareto_nbd: &str, t: f64) -> PyResult<Batch> {
    let model: ParetoNbd = serde_json::from_str(pareto_nbd).map_err(|e| err(format!("Pareto/NBD parameters: {e}")))?;
    let s = summaries(&batch.0)?;
    let (alive, expected): (Vec<f64>, Vec<f64>) =
        py.detach(|| s.iter().map(|s| (model.p_alive(s), model.expected_purchases(s, t))).unzip());
    let schema = Schema::new(vec![
        Field::new("p_alive", DataType::Float64, false),
        Field::new("expected_purchases", DataType::Float64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(Float64Array::from(alive)) as ArrayRef, Arc::new(Float64Array::from(expected))],
    )
    .map(PyArrowType)
    .map_err(err)
}

/// The profiles of customer states that carry their `r_score`, `f_score` and `m_score`:
/// the rows of `profiles.parquet`, scored with the fitted models.
#[pyfunction]
#[pyo3(signature = (states, bgnbd, gamma_gamma, settings=None))]
fn score_profiles(
    py: Python<'_>,
    states: Batch,
    bgnbd: &str,
    gamma_gamma: &str,
    settings: Option<&str>,
) -> PyResult<Batch> {
    let (model, spend, settings) = (bgnbd_of(bgnbd)?, gamma_gamma_of(gamma_gamma)?, settings_of(settings)?);
    py.detach(|| passes::score_states(&states.0, &model, &spend, &settings)).map(PyArrowType).map_err(err)
}

/// RFM scores of `recency_days`, `frequency` and `monetary_cents` (ranks among the batch's
/// rows, `bins` levels): `r_score`, `f_score`, `m_score` and `segment`.
#[pyfunction]
#[pyo3(signature = (batch, bins=5, older_is_better=false))]
fn rfm_scores(batch: Batch, bins: u8, older_is_better: bool) -> PyResult<Batch> {
    use unico_model::rfm::{RecencyDirection, RfmSettings, RfmValues};
    let b = &batch.0;
    let (recency, frequency, monetary) =
        (counts(b, "recency_days")?, counts(b, "frequency")?, reals(b, "monetary_cents")?);
    let values: Vec<RfmValues> = (0..b.num_rows())
        .map(|i| RfmValues {
            recency_days: recency[i] as i32,
            frequency: frequency[i],
            monetary_cents: monetary[i].round() as i64,
        })
        .collect();
    let direction = if older_is_better { RecencyDirection::OlderIsBetter } else { RecencyDirection::RecentIsBetter };
    let s = unico_model::rfm::score(&values, &RfmSettings { bins, recency: direction });
    let schema = Schema::new(vec![
        Field::new("r_score", DataType::UInt8, false),
        Field::new("f_score", DataType::UInt8, false),
        Field::new("m_score", DataType::UInt8, false),
        Field::new("segment", DataType::Utf8, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt8Array::from_iter_values(s.iter().map(|s| s.r))),
        Arc::new(UInt8Array::from_iter_values(s.iter().map(|s| s.f))),
        Arc::new(UInt8Array::from_iter_values(s.iter().map(|s| s.m))),
        Arc::new(StringArray::from_iter_values(s.iter().map(|s| s.segment.name()))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).map(PyArrowType).map_err(err)
}

fn grain_of(by: &str) -> PyResult<unico_kpi::days::Grain> {
    unico_kpi::days::Grain::parse(by).ok_or_else(|| err(format!("by {by:?}: day, week or month")))
}

fn texts<'a>(b: &'a RecordBatch, name: &str) -> PyResult<&'a StringArray> {
    let c = column(b, name)?;
    c.as_string_opt::<i32>().ok_or_else(|| err(format!("column {name} is {}, not text", c.data_type())))
}

/// The KPI cube of one slice of the receipt lines (an iterable of batches with the lake's
/// columns, in any order): one row per period and group with additive counters. Cubes of
/// slices that keep each cardholder's lines, and each receipt without a card, together add
/// up row by row to the cube of the whole lake; `cube_kpis` reads such rows.
#[pyfunction]
#[pyo3(signature = (batches, from_day, to_day, by="week", by_store=false, by_channel=false, products=None, segments=None))]
#[allow(clippy::too_many_arguments)]
fn cube_part(
    py: Python<'_>,
    batches: &Bound<'_, PyAny>,
    from_day: &str,
    to_day: &str,
    by: &str,
    by_store: bool,
    by_channel: bool,
    products: Option<Vec<Batch>>,
    segments: Option<Vec<Batch>>,
) -> PyResult<Batch> {
    use unico_kpi::cube::{self, Segments, Split};
    let mut costs: foldhash::HashMap<String, i64> = foldhash::HashMap::default();
    for b in products.iter().flatten() {
        let (sku, cost) = (texts(&b.0, "sku")?, column(&b.0, "unit_cost_cents")?);
        let cost = cost.as_primitive_opt::<Int64Type>().ok_or_else(|| err("column unit_cost_cents is not int64"))?;
        for i in 0..b.0.num_rows() {
            if !cost.is_null(i) && !sku.is_null(i) {
                costs.insert(sku.value(i).to_string(), cost.value(i));
            }
        }
    }
    let mut seg = Segments::default();
    for b in segments.iter().flatten() {
        let (key, name) = (texts(&b.0, "customer_key")?, texts(&b.0, "segment")?);
        for i in 0..b.0.num_rows() {
            if !key.is_null(i) && !name.is_null(i) {
                let s = seg.intern(name.value(i));
                seg.of.insert(cube::key_hash(key.value(i)), s);
            }
        }
    }
    let split = Split { store: by_store, channel: by_channel, segment: segments.is_some() };
    let q = cube::Query {
        from: day_of(from_day)?,
        to: day_of(to_day)?,
        grain: grain_of(by)?,
        split,
        costs: &costs,
        segments: &seg,
        threads: 1,
    };
    if q.from > q.to {
        return Err(err(format!("from_day {from_day} is after to_day {to_day}")));
    }
    let mut pass = cube::CubePass::new(&q);
    for item in batches.try_iter()? {
        let b: Batch = item?.extract()?;
        py.detach(|| pass.push(&b.0)).map_err(err)?;
    }
    Ok(PyArrowType(py.detach(|| pass.finish().to_batch())))
}

/// The schema of `cube_part`'s rows.
#[pyfunction]
fn cube_schema() -> PyArrowType<Schema> {
    PyArrowType(unico_kpi::cube::Cube::schema().as_ref().clone())
}

/// The programme's KPIs that come from the receipt lines (revenue, receipts, average
/// receipt with and without card, loyalty share, margins, discounts, active, new and
/// retained cardholders, …: `unico kpi`'s columns and definitions, rounded alike) of cube
/// rows, summed by period and group first (the rows of several slices may simply be
/// concatenated). Periods from `from_day` to `to_day`.
#[pyfunction]
#[pyo3(signature = (rows, from_day, to_day, by="week"))]
fn cube_kpis(py: Python<'_>, rows: Vec<Batch>, from_day: &str, to_day: &str, by: &str) -> PyResult<Batch> {
    use arrow_array::{Date32Array, Int64Array};
    use unico_kpi::kpis::{ALL_KPIS, Unit};
    let (from, to, grain) = (day_of(from_day)?, day_of(to_day)?, grain_of(by)?);
    let first_period = grain.previous(grain.start(from));
    let batches: Vec<RecordBatch> = rows.into_iter().map(|b| b.0).collect();
    let rows = py.detach(|| {
        let cube = unico_kpi::cube::Cube::from_batches(first_period, &batches)?;
        Ok::<_, unico_kpi::Error>(unico_kpi::kpis::rows(&cube, &Default::default(), grain, from, to))
    });
    let rows = rows.map_err(err)?;
    let text = |f: &dyn Fn(&unico_kpi::kpis::Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let mut fields = vec![
        Field::new("period", DataType::Utf8, false),
        Field::new("period_start", DataType::Date32, false),
        Field::new("days", DataType::Int64, false),
        Field::new("store", DataType::Utf8, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("segment", DataType::Utf8, true),
    ];
    let mut columns: Vec<ArrayRef> =
        vec![
            text(&|r| Some(r.period.clone())),
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| {
                unico_core::day::day_of(r.period_start.parse::<jiff::civil::Date>().expect("a date we wrote"))
            }))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| i64::from(r.days)))),
            text(&|r| r.store.clone()),
            text(&|r| r.channel.clone()),
            text(&|r| r.segment.clone()),
        ];
    for (j, k) in ALL_KPIS.iter().enumerate().filter(|(_, k)| k.from_lake()) {
        let whole = matches!(k.unit(), Unit::Cents | Unit::Count);
        fields.push(Field::new(k.name(), DataType::Float64, true));
        columns.push(Arc::new(
            rows.iter().map(|r| r.values[j].map(|v| if whole { v.round() } else { v })).collect::<Float64Array>(),
        ));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map(PyArrowType).map_err(err)
}

/// Every customer's top `k` products as `unico recommend` finds them (its recommender,
/// settings and reasons), from receipt lines (`local_date`, `customer_key`, `sku`,
/// `net_amount_cents`; batches in the lake's order give `unico recommend`'s very lists) up to
/// `as_of`, on this machine: rows `customer_key`, `rank`, `sku`, `score` (probability of a
/// purchase within the horizon), `reason`.
#[pyfunction]
#[pyo3(signature = (batches, products, as_of, k=10, exclude_purchased=false, settings=None))]
fn recommend(
    py: Python<'_>,
    batches: &Bound<'_, PyAny>,
    products: Vec<Batch>,
    as_of: &str,
    k: usize,
    exclude_purchased: bool,
    settings: Option<&str>,
) -> PyResult<Batch> {
    use arrow_array::UInt32Array;
    use arrow_array::types::Date32Type;
    use unico_model::lines::{LineRecord, Partitioned};
    use unico_model::recommend as rec;
    if k == 0 {
        return Err(err("k must be at least 1"));
    }
    let settings = settings_of(settings)?;
    let as_of_day = day_of(as_of)?;
    let catalogue = Catalogue::from_batches(&products.into_iter().map(|b| b.0).collect::<Vec<_>>()).map_err(err)?;
    let (mut keys, mut skus, mut records) = (Vec::<String>::new(), Vec::<String>::new(), Vec::<LineRecord>::new());
    let (mut key_index, mut sku_index) =
        (foldhash::HashMap::<String, u32>::default(), foldhash::HashMap::<String, u32>::default());
    use unico_model::features::intern;
    for item in batches.try_iter()? {
        let b: Batch = item?.extract()?;
        let b = &b.0;
        let date = column(b, "local_date")?
            .as_primitive_opt::<Date32Type>()
            .ok_or_else(|| err("column local_date is not a date (date32)"))?;
        let (key, sku) = (texts(b, "customer_key")?, texts(b, "sku")?);
        let net = column(b, "net_amount_cents")?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| err("column net_amount_cents is not int64"))?;
        for i in 0..b.num_rows() {
            if key.is_null(i) || date.is_null(i) || date.value(i) > as_of_day {
                continue;
            }
            let customer = intern(&mut key_index, &mut keys, key.value(i));
            let item = intern(&mut sku_index, &mut skus, sku.value(i));
            records.push(LineRecord { customer, item, day: date.value(i), net_cents: net.value(i) });
        }
    }
    let rows = py.detach(|| -> Result<_, unico_model::Error> {
        let parts = Partitioned::from_records(keys, skus, records);
        let category_of_item: Vec<u32> = parts.skus.iter().map(|s| catalogue.category_of(s)).collect();
        let (_, model) = rec::tune_and_fit(
            &parts,
            &category_of_item,
            &settings.recommend,
            &settings.habits,
            as_of_day,
            k,
            exclude_purchased,
        )?;
        let mut rows: Vec<(String, u32, String, f64, String)> = Vec::new();
        rec::recommend_all(&parts, &model, as_of_day, k, exclude_purchased, &settings.habits, |c, list| {
            for (rank, r) in list.iter().enumerate() {
                rows.push((
                    parts.keys[c as usize].clone(),
                    rank as u32 + 1,
                    parts.skus[r.item as usize].clone(),
                    r.score,
                    rec::reason_text(r, &parts, &catalogue, as_of_day),
                ));
            }
            Ok(())
        })?;
        Ok(rows)
    });
    let rows = rows.map_err(err)?;
    let schema = Schema::new(vec![
        Field::new("customer_key", DataType::Utf8, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("sku", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("reason", DataType::Utf8, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2.as_str()))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4.as_str()))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).map(PyArrowType).map_err(err)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyProfilePass>()?;
    m.add_class::<PyHabitPass>()?;
    m.add_function(wrap_pyfunction!(default_settings, m)?)?;
    m.add_function(wrap_pyfunction!(state_schema, m)?)?;
    m.add_function(wrap_pyfunction!(profile_schema, m)?)?;
    m.add_function(wrap_pyfunction!(py_habits_schema, m)?)?;
    m.add_function(wrap_pyfunction!(fit_bgnbd, m)?)?;
    m.add_function(wrap_pyfunction!(fit_pareto_nbd, m)?)?;
    m.add_function(wrap_pyfunction!(fit_gamma_gamma, m)?)?;
    m.add_function(wrap_pyfunction!(predict, m)?)?;
    m.add_function(wrap_pyfunction!(predict_pareto_nbd, m)?)?;
    m.add_function(wrap_pyfunction!(score_profiles, m)?)?;
    m.add_function(wrap_pyfunction!(rfm_scores, m)?)?;
    m.add_function(wrap_pyfunction!(cube_part, m)?)?;
    m.add_function(wrap_pyfunction!(cube_schema, m)?)?;
    m.add_function(wrap_pyfunction!(cube_kpis, m)?)?;
    m.add_function(wrap_pyfunction!(recommend, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
