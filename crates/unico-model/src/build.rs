//! `unico model build`: from the lake to per-customer profiles and the fitted population
//! parameters.
//!
//! One streaming pass ([`crate::features`]) folds the receipts into customer states; BG/NBD
//! and Gamma-Gamma are fitted on their repeat-purchase summaries; every customer is then
//! scored (RFM, P(alive), expected purchases, expected spend, CLV) in parallel chunks and the
//! profiles are written as Parquet next to `model.json`. Both files are written under
//! temporary names and renamed into place, so a reader sees the old model or the new one,
//! never half of either.

use crate::clv::{BgNbd, CLV_MONTH_DAYS, GammaGamma, Grouped, Summary, TimeUnit};
use crate::error::{Error, ErrorKind};
use crate::features::{self, Features};
use crate::habits::{self, Catalogue, HabitCounts, HabitSettings};
use crate::lines;
use crate::rfm::{self, RfmSettings, RfmValues};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use unico_core::day::day_of;
use unico_lake::Lake;

/// Settings of a model build (the `[model]` table of `unico.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Time unit of the buy-till-you-die models and of every time they report.
    pub unit: TimeUnit,
    /// RFM scoring.
    pub rfm: RfmSettings,
    /// RFM frequency and monetary value count the purchases of the last this many days.
    pub rfm_window_days: u32,
    /// Horizon of the per-customer expected purchases, in days.
    pub horizon_days: u32,
    /// Months of customer lifetime value.
    pub clv_months: u32,
    /// Monthly discount rate of the CLV (0.01 = 1 % a month).
    pub monthly_discount: f64,
    /// Habit detection.
    pub habits: HabitSettings,
    /// Recommendations.
    pub recommend: crate::recommend::RecommendSettings,
    /// Receipt lines held in memory at once by the per-product passes (habits,
    /// recommendations); beyond it they are split by customer and spilled to disk
    /// (20 bytes a line on disk, about 24 in memory).
    pub max_lines_in_memory: u64,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            unit: TimeUnit::Days,
            rfm: RfmSettings::default(),
            rfm_window_days: 365,
            horizon_days: 90,
            clv_months: 12,
            monthly_discount: 0.01,
            habits: HabitSettings::default(),
            recommend: crate::recommend::RecommendSettings::default(),
            max_lines_in_memory: 32_000_000,
        }
    }
}

/// What `model.json` holds: the fitted population and how it was built.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelParams {
    /// Last day of data the model saw (chain's time zone).
    pub as_of: String,
    /// Time unit of every model time.
    pub unit: TimeUnit,
    /// Customers with at least one purchase up to `as_of`.
    pub customers: u64,
    /// Customers with at least one repeat purchase day.
    pub repeat_customers: u64,
    /// Receipt lines with a card read.
    pub lines: u64,
    /// BG/NBD population parameters.
    pub bgnbd: BgNbd,
    /// Gamma-Gamma population parameters (currency units).
    pub gamma_gamma: GammaGamma,
    /// Customers per RFM segment.
    pub segments: BTreeMap<String, u64>,
    /// Habit rows written to `habits.parquet`.
    #[serde(default)]
    pub habits: HabitCounts,
    /// Wall time of each phase of the build, seconds (features, fit, score, profiles, habits).
    #[serde(default)]
    pub seconds: BTreeMap<String, f64>,
    /// The settings used.
    pub settings: ModelSettings,
}

/// File names inside the model folder.
pub const PROFILES_FILE: &str = "profiles.parquet";
/// The fitted parameters.
pub const PARAMS_FILE: &str = "model.json";

/// Builds the model from `lake` as of `as_of` into `out_dir`, spilling receipt lines
/// beyond the memory budget to `spill_dir`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    lake: &Lake,
    out_dir: &Path,
    spill_dir: &Path,
    as_of: jiff::civil::Date,
    settings: &ModelSettings,
    tz: &jiff::tz::TimeZone,
    progress: &dyn Fn(u64, u64),
) -> Result<ModelParams, Error> {
    let as_of_day = day_of(as_of);
    let window_start = as_of_day - settings.rfm_window_days as i32 + 1;
    let mut seconds = BTreeMap::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &str| {
        seconds.insert(name.to_string(), clock.elapsed().as_secs_f64());
        clock = std::time::Instant::now();
    };
    let f = features::compute(lake, as_of_day, window_start, tz, progress)?;
    lap("features");
    if f.customers.is_empty() {
        return Err(Error::new(
            ErrorKind::Input,
            format!("no purchase with a card on or before {as_of}: import receipts first"),
        ));
    }
    let unit = settings.unit;
    let summaries: Vec<Summary> = f.customers.iter().map(|c| summary_of(c, as_of_day, unit)).collect();
    // Both fits sum their rows in one canonical order, so the Spark job, which hands them
    // over in any order, fits the same model to the last bit (crate::passes).
    let bgnbd =
        BgNbd::fit_grouped(&Grouped::from_rows(summaries.iter().map(|s| (s.frequency, s.recency, s.age, 1.0))), unit)?;
    let gamma_gamma = GammaGamma::fit_grouped(summaries.iter().map(|s| (s.frequency, s.monetary, 1.0)))?;
    let rfm_values: Vec<RfmValues> = f
        .customers
        .iter()
        .map(|c| RfmValues {
            recency_days: as_of_day - c.last_day,
            frequency: c.window_days,
            monetary_cents: c.window_spend_cents,
        })
        .collect();
    let rfm_scores = rfm::score(&rfm_values, &settings.rfm);
    lap("fit");
    let scores = score_all(&bgnbd, &gamma_gamma, &summaries, settings);
    lap("score");

    let mut segments = BTreeMap::new();
    for s in &rfm_scores {
        *segments.entry(s.segment.name().to_string()).or_insert(0u64) += 1;
    }
    let params = ModelParams {
        as_of: as_of.to_string(),
        unit,
        customers: f.customers.len() as u64,
        repeat_customers: summaries.iter().filter(|s| s.frequency > 0).count() as u64,
        lines: f.lines_read,
        bgnbd,
        gamma_gamma,
        segments,
        habits: HabitCounts::default(),
        seconds: BTreeMap::new(),
        settings: settings.clone(),
    };
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir.display(), e))?;
    write_profiles(&out_dir.join(PROFILES_FILE), &f, as_of_day, &rfm_scores, &scores, settings)?;
    drop(f);
    lap("profiles");
    // Second pass: each customer's lines by product, for habits.
    let catalogue = Catalogue::load(lake)?;
    let parts = lines::scan(lake, i32::MIN, as_of_day, settings.max_lines_in_memory, spill_dir, progress)?;
    let mut params = params;
    lap("habits_read");
    params.habits = habits::write(&parts, &catalogue, as_of_day, &settings.habits, &out_dir.join(habits::HABITS_FILE))?;
    drop(parts);
    lap("habits");
    params.seconds = seconds;
    let json = serde_json::to_vec_pretty(&params).map_err(|e| Error::io("model.json", e))?;
    write_atomically(&out_dir.join(PARAMS_FILE), &json)?;
    Ok(params)
}

/// Reads `model.json` from a model folder.
pub fn read_params(out_dir: &Path) -> Result<ModelParams, Error> {
    let path = out_dir.join(PARAMS_FILE);
    let text = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(ErrorKind::Input, format!("{} not found: run `unico model build` first", path.display()))
        } else {
            Error::io(path.display(), e)
        }
    })?;
    serde_json::from_slice(&text).map_err(|e| Error::io(path.display(), e))
}

pub(crate) fn summary_of(c: &features::CustomerState, as_of_day: i32, unit: TimeUnit) -> Summary {
    let frequency = c.purchase_days - 1;
    let monetary = if frequency == 0 {
        0.0
    } else {
        (c.spend_cents - c.first_day_spend_cents) as f64 / 100.0 / f64::from(frequency)
    };
    Summary {
        frequency,
        recency: unit.from_days(f64::from(c.last_day - c.first_day)),
        age: unit.from_days(f64::from(as_of_day - c.first_day)),
        monetary,
    }
}

/// Per-customer model outputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scores {
    /// P(alive).
    pub p_alive: f64,
    /// Expected purchase days in the horizon.
    pub expected_purchases: f64,
    /// Expected net spend per purchase day, currency units.
    pub expected_spend: f64,
    /// Discounted CLV over the configured months, currency units.
    pub clv: f64,
}

/// Scores every customer, split across the machine's cores.
pub fn score_all(model: &BgNbd, spend: &GammaGamma, summaries: &[Summary], settings: &ModelSettings) -> Vec<Scores> {
    // Expected purchases by t are `factor · (1 − tail(t))`, where the factor depends on the
    // customer and the tail (a 2F1 series) on (x, T) only. So the discounted CLV is
    // `spend · factor · Σ_i (tail(m_{i−1}) − tail(m_i)) / (1 + d)^i`, and that sum and the
    // horizon's tail are computed once per distinct (x, T): tens of thousands of pairs for a
    // million customers measured in whole days, each on one series for all month ends.
    let month = model.unit.from_days(CLV_MONTH_DAYS);
    let times: Vec<f64> = std::iter::once(model.unit.from_days(f64::from(settings.horizon_days)))
        .chain((1..=settings.clv_months).map(|i| month * f64::from(i)))
        .collect();
    let mut index: HashMap<(u32, u64), u32> = HashMap::default();
    let mut keys: Vec<(u32, f64)> = Vec::new();
    let row: Vec<u32> = summaries
        .iter()
        .map(|s| {
            *index.entry((s.frequency, s.age.to_bits())).or_insert_with(|| {
                keys.push((s.frequency, s.age));
                (keys.len() - 1) as u32
            })
        })
        .collect();
    drop(index);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    // Per key: (tail at the horizon, discounted sum of the monthly tail drops).
    let mut per_key = vec![(0.0, 0.0); keys.len()];
    std::thread::scope(|scope| {
        let per = keys.len().div_ceil(threads).max(1);
        for (keys, out) in keys.chunks(per).zip(per_key.chunks_mut(per)) {
            let times = &times;
            scope.spawn(move || {
                let mut tail = vec![0.0; times.len()];
                for ((x, age), out) in keys.iter().zip(out) {
                    model.tail_terms(*x, *age, times, &mut tail);
                    let (mut previous, mut discount, mut sum) = (1.0, 1.0, 0.0);
                    for t in &tail[1..] {
                        discount /= 1.0 + settings.monthly_discount;
                        sum += (previous - t) * discount;
                        previous = *t;
                    }
                    *out = (tail[0], sum);
                }
            });
        }
    });
    let one = |(s, row): (&Summary, &u32)| {
        let (tail, discounted) = per_key[*row as usize];
        let factor = model.purchase_factor(s);
        let expected_spend = spend.expected_spend(s.frequency, s.monetary);
        Scores {
            p_alive: model.p_alive(s),
            expected_purchases: factor * (1.0 - tail),
            expected_spend,
            clv: expected_spend * factor * discounted,
        }
    };
    let chunk = summaries.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = summaries
            .chunks(chunk)
            .zip(row.chunks(chunk))
            .map(|(part, rows)| {
                let one = &one;
                scope.spawn(move || part.iter().zip(rows).map(one).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("scoring worker")).collect()
    })
}

fn write_profiles(
    path: &Path,
    f: &Features,
    as_of_day: i32,
    rfm_scores: &[rfm::RfmScore],
    scores: &[Scores],
    settings: &ModelSettings,
) -> Result<(), Error> {
    let schema = crate::passes::profile_schema(settings);
    let out = unico_core::fs::AtomicFile::create(path).map_err(|e| Error::io(path.display(), e))?;
    let file = out.writer().map_err(|e| Error::io(path.display(), e))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| Error::io(path.display(), e))?;
    // Row groups of 128K customers keep the writer's buffers small. The rows are assembled
    // as the customer-sorted passes assemble them (crate::passes), so both write the same.
    const ROWS: usize = 128 * 1024;
    let mut states = crate::passes::StateColumns::new(settings.unit);
    for off in (0..f.customers.len()).step_by(ROWS) {
        let end = (off + ROWS).min(f.customers.len());
        for i in off..end {
            states.append(&f.keys[i], &f.customers[i], &f.stores, as_of_day, settings.unit);
        }
        let batch =
            crate::passes::profile_batch(&states.finish()?, &rfm_scores[off..end], &scores[off..end], settings)?;
        w.write(&batch).map_err(|e| Error::io(path.display(), e))?;
        w.flush().map_err(|e| Error::io(path.display(), e))?;
    }
    w.close().map_err(|e| Error::io(path.display(), e))?;
    out.commit().map_err(|e| Error::io(path.display(), e))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    unico_core::fs::write_atomic(path, bytes).map_err(|e| Error::io(path.display(), e))
}
