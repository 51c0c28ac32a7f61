//! `unico model …`: thin calls into `unico-model`.

use crate::settings::DataDir;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;
use unico_lake::Lake;
use unico_model::build::{self, ModelParams, ModelSettings};
use unico_model::clv::{BgNbd, GammaGamma, Grouped, Summary, TimeUnit};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Read the lake up to a date and write per-customer profiles and model.json.
    Build {
        /// Last day of data to use (YYYY-MM-DD, chain's time zone). Default: the last day in the lake.
        #[arg(long)]
        as_of: Option<String>,
        /// Time unit of the models: days or weeks (default: the `[model]` setting).
        #[arg(long)]
        unit: Option<TimeUnit>,
        /// Print model.json instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Print the fitted population parameters of the last build.
    Params {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fit BG/NBD and Gamma-Gamma to a customer summary CSV (the `lifetimes` layout:
    /// customer_id, frequency, recency, T, monetary_value) and score every customer.
    FitSummary {
        /// The summary CSV.
        file: PathBuf,
        /// Unit of recency and T in the file: days or weeks.
        #[arg(long, default_value = "days")]
        unit: TimeUnit,
        /// Horizon of the expected purchases, in the file's unit.
        #[arg(long, default_value_t = 30.0)]
        horizon: f64,
        /// Write each customer's scores here (CSV).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(data: &std::path::Path, command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Build { as_of, unit, json } => {
            let dir = DataDir::open(data)?;
            let mut settings = dir.settings.model.clone();
            if let Some(u) = unit {
                settings.unit = u;
            }
            let params = build_model(&dir, as_of.as_deref(), &settings)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&params)?);
            } else {
                print_params(&params, &dir.model_dir());
            }
        }
        ModelCommand::Params { json } => {
            let dir = DataDir::open(data)?;
            let params = build::read_params(&dir.model_dir())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&params)?);
            } else {
                print_params(&params, &dir.model_dir());
            }
        }
        ModelCommand::FitSummary { file, unit, horizon, out } => fit_summary(&file, unit, horizon, out)?,
    }
    Ok(())
}

/// Builds the model of a data directory (used by `model build` and `demo`).
pub fn build_model(dir: &DataDir, as_of: Option<&str>, settings: &ModelSettings) -> Result<ModelParams> {
    let lake = Lake::open(dir.lake_dir())?;
    let as_of = match as_of {
        Some(d) => d.parse().with_context(|| format!("--as-of {d:?} is not a date (YYYY-MM-DD)"))?,
        None => build::last_day(&lake)?.context("the lake has no receipts: import some first")?,
    };
    let bar = lines_bar(as_of);
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let params = build::build(&lake, &dir.model_dir(), as_of, settings, &dir.chain_tz(), &progress);
    bar.finish_and_clear();
    let params = params?;
    let published = publish(dir, &params)?;
    eprintln!(
        "published {} profiles and {} due items to the operational store ({} keys without a card in the customer master left out)",
        published.profiles, published.due_items, published.without_card
    );
    Ok(params)
}

/// Copies what the server reads (profiles of cardholders, their due products) from the
/// model's Parquet files into the operational store.
fn publish(dir: &DataDir, params: &ModelParams) -> Result<unico_store::profiles::Published> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type, UInt8Type};
    use unico_model::features::day_to_date;
    use unico_store::profiles::{DueItem, Profile};
    let model_dir = dir.model_dir();
    // Batch by batch: the habits file holds a row per customer and category.
    let batches = |name: &str| -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
        let path = model_dir.join(name);
        let file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?)
    };
    let horizon = params.settings.horizon_days;
    let mut profiles = Vec::new();
    for b in batches(build::PROFILES_FILE)? {
        let b = b?;
        let col = |n: &str| b.column_by_name(n).cloned().with_context(|| format!("profiles have no column {n}"));
        let key = col("customer_key")?;
        let segment = col("segment")?;
        let scores = [col("r_score")?, col("f_score")?, col("m_score")?];
        let p_alive = col("p_alive")?;
        let expected = col(&format!("expected_purchases_{horizon}_days"))?;
        let clv = col(&format!("clv_{}_months_cents", params.settings.clv_months))?;
        let avg = col("average_receipt_cents")?;
        let disc = col("discount_share")?;
        let store = col("preferred_store_id")?;
        let channel = col("preferred_channel")?;
        let weekday = col("preferred_weekday")?;
        let hour = col("preferred_hour")?;
        let last = col("last_purchase_date")?;
        let s = |a: &arrow_array::ArrayRef, i: usize| a.as_string::<i32>().value(i).to_string();
        let u8v = |a: &arrow_array::ArrayRef, i: usize| i64::from(a.as_primitive::<UInt8Type>().value(i));
        let f = |a: &arrow_array::ArrayRef, i: usize| a.as_primitive::<Float64Type>().value(i);
        let n = |a: &arrow_array::ArrayRef, i: usize| a.as_primitive::<Int64Type>().value(i);
        for i in 0..b.num_rows() {
            profiles.push(Profile {
                customer_key: s(&key, i),
                as_of: params.as_of.clone(),
                segment: s(&segment, i),
                r_score: u8v(&scores[0], i),
                f_score: u8v(&scores[1], i),
                m_score: u8v(&scores[2], i),
                p_alive: f(&p_alive, i),
                expected_purchases: f(&expected, i),
                horizon_days: i64::from(horizon),
                clv_cents: n(&clv, i),
                average_receipt_cents: n(&avg, i),
                discount_share: f(&disc, i),
                preferred_store_id: store.is_valid(i).then(|| s(&store, i)),
                preferred_channel: s(&channel, i),
                preferred_weekday: s(&weekday, i),
                preferred_hour: u8v(&hour, i),
                last_purchase_date: day_to_date(last.as_primitive::<Date32Type>().value(i)).to_string(),
            });
        }
    }
    let mut due = Vec::new();
    for b in batches(unico_model::habits::HABITS_FILE)? {
        let b = b?;
        let col = |n: &str| b.column_by_name(n).cloned().with_context(|| format!("habits have no column {n}"));
        let (key, level, sku, category) = (col("customer_key")?, col("level")?, col("sku")?, col("category")?);
        let (days, cycle, next) = (col("purchase_days")?, col("cycle_days")?, col("next_due_date")?);
        for i in 0..b.num_rows() {
            if level.as_string::<i32>().value(i) != "product" || cycle.is_null(i) {
                continue;
            }
            due.push(DueItem {
                customer_key: key.as_string::<i32>().value(i).to_string(),
                sku: sku.as_string::<i32>().value(i).to_string(),
                category: category.as_string::<i32>().value(i).to_string(),
                purchase_days: days.as_primitive::<Int64Type>().value(i),
                cycle_days: cycle.as_primitive::<Float64Type>().value(i),
                next_due_date: day_to_date(next.as_primitive::<Date32Type>().value(i)).to_string(),
            });
        }
    }
    let rt = crate::customers::runtime()?;
    let store = dir.store(&rt)?;
    let published = rt.block_on(store.publish_profiles(&profiles, &due));
    rt.block_on(store.close());
    Ok(published?)
}

/// The progress bar of a pass over the lake's receipt lines.
fn lines_bar(as_of: jiff::civil::Date) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} lines ({per_sec}, {eta})")
            .expect("valid template"),
    );
    bar.set_message(format!("reading receipts up to {as_of}"));
    bar
}

pub fn print_params(p: &ModelParams, dir: &std::path::Path) {
    let unit = p.unit.name();
    println!(
        "model as of {} ({} customers, {} with a repeat purchase, {} lines)",
        p.as_of, p.customers, p.repeat_customers, p.lines
    );
    let b = &p.bgnbd;
    println!(
        "  BG/NBD ({unit}): r = {:.4}, alpha = {:.4} {unit}, a = {:.4}, b = {:.4}, log-likelihood = {:.1}",
        b.r, b.alpha, b.a, b.b, b.log_likelihood
    );
    let g = &p.gamma_gamma;
    println!(
        "  Gamma-Gamma: p = {:.4}, q = {:.4}, gamma = {:.4} (currency units), on {} repeat customers",
        g.p, g.q, g.gamma, g.customers
    );
    println!("  RFM segments:");
    for (segment, n) in &p.segments {
        println!("    {segment:<22} {n:>10}");
    }
    println!("  profiles: {}", dir.join(build::PROFILES_FILE).display());
    let h = &p.habits;
    println!(
        "  habits: {} customer x category, {} frequent products, {} with a cycle ({} overdue): {}",
        h.categories,
        h.products,
        h.with_cycle,
        h.overdue,
        dir.join(unico_model::habits::HABITS_FILE).display()
    );
}

fn fit_summary(file: &std::path::Path, unit: TimeUnit, horizon: f64, out: Option<PathBuf>) -> Result<()> {
    let started = Instant::now();
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("cannot read {}", file.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(fi), Some(ri), Some(ti)) = (col("frequency"), col("recency"), col("T")) else {
        bail!(
            "{} needs the columns frequency, recency and T (and optionally customer_id, monetary_value)",
            file.display()
        );
    };
    let (idi, mi) = (col("customer_id"), col("monetary_value"));
    let mut ids = Vec::new();
    let mut summaries = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1u64;
    while reader.read_record(&mut record)? {
        line += 1;
        let num = |i: usize| -> Result<f64> {
            record[i]
                .trim()
                .parse::<f64>()
                .with_context(|| format!("{} line {line}: {:?} is not a number", file.display(), &record[i]))
        };
        let frequency = num(fi)?;
        if frequency < 0.0 || frequency.fract() != 0.0 {
            bail!("{} line {line}: frequency must be a whole number of repeat purchases", file.display());
        }
        summaries.push(Summary {
            frequency: frequency as u32,
            recency: num(ri)?,
            age: num(ti)?,
            monetary: mi.map(num).transpose()?.unwrap_or(0.0),
        });
        ids.push(idi.map(|i| record[i].to_string()).unwrap_or_else(|| (line - 1).to_string()));
    }
    let read_s = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let grouped = Grouped::new(&summaries);
    let group_s = t.elapsed().as_secs_f64();
    let model = BgNbd::fit_grouped(&grouped, unit)?;
    let bgnbd_s = t.elapsed().as_secs_f64() - group_s;
    let spend = GammaGamma::fit(summaries.iter().map(|s| (s.frequency, s.monetary)))?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let settings =
        ModelSettings { unit, horizon_days: (horizon * unit.days()).round() as u32, ..ModelSettings::default() };
    let scores = build::score_all(&model, &spend, &summaries, &settings);
    let score_s = t.elapsed().as_secs_f64();
    if let Some(out) = &out {
        let mut w = csv::Writer::from_path(out).with_context(|| format!("cannot write {}", out.display()))?;
        w.write_record(["customer_id", "p_alive", "expected_purchases", "expected_spend", "clv"])?;
        for (id, s) in ids.iter().zip(&scores) {
            w.write_record([
                id.as_str(),
                &format!("{:.9e}", s.p_alive),
                &format!("{:.9e}", s.expected_purchases),
                &format!("{:.9e}", s.expected_spend),
                &format!("{:.9e}", s.clv),
            ])?;
        }
        w.flush()?;
    }
    let report = serde_json::json!({
        "customers": summaries.len(),
        "unit": unit.name(),
        "horizon": horizon,
        "bgnbd": model,
        "gamma_gamma": spend,
        "distinct_rows": grouped.len(),
        "seconds": { "read": read_s, "fit": fit_s, "group": group_s, "fit_bgnbd": bgnbd_s, "fit_gamma_gamma": fit_s - group_s - bgnbd_s, "score": score_s },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(clap::Args)]
pub struct RecommendArgs {
    /// Last day of data to learn from (YYYY-MM-DD). Default: the last day in the lake.
    #[arg(long)]
    as_of: Option<String>,
    /// Products per customer.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Only products the customer has never bought.
    #[arg(long)]
    exclude_purchased: bool,
    /// The CSV to write: customer_id,rank,sku,score,reason.
    #[arg(long)]
    out: PathBuf,
    /// Write the pseudonymous customer key instead of the card id (for analysis that must
    /// not see card numbers; needs no customer master).
    #[arg(long)]
    by_key: bool,
}

/// `unico recommend`: every customer's top products, with the card id and a reason.
pub fn recommend(data: &std::path::Path, args: &RecommendArgs) -> Result<()> {
    use unico_model::features::date_to_day;
    use unico_model::habits::Catalogue;
    use unico_model::recommend::{self, Recommender};
    let started = Instant::now();
    let dir = DataDir::open(data)?;
    let settings = &dir.settings.model;
    let lake = Lake::open(dir.lake_dir())?;
    let as_of: jiff::civil::Date = match &args.as_of {
        Some(d) => d.parse().with_context(|| format!("--as-of {d:?} is not a date (YYYY-MM-DD)"))?,
        None => build::last_day(&lake)?.context("the lake has no receipts: import some first")?,
    };
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    // Card ids by lake key, from the customer master (the lake never holds them).
    let cards: std::collections::HashMap<String, String> = if args.by_key {
        Default::default()
    } else {
        let rt = crate::customers::runtime()?;
        let store = dir.store(&rt)?;
        let cards = rt.block_on(store.cards());
        rt.block_on(store.close());
        cards?.into_iter().map(|(_, card, key)| (key, card)).collect()
    };
    let as_of_day = date_to_day(as_of);
    let bar = lines_bar(as_of);
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let parts = unico_model::lines::scan(
        &lake,
        i32::MIN,
        as_of_day,
        settings.max_lines_in_memory,
        &dir.model_dir().join("tmp"),
        &progress,
    );
    bar.finish_and_clear();
    let parts = parts?;
    let read_s = started.elapsed().as_secs_f64();
    let catalogue = Catalogue::load(&lake)?;
    let category_of_item: Vec<u32> = parts.skus.iter().map(|s| catalogue.category_of(s)).collect();
    let model = Recommender::fit(&parts, &category_of_item, &settings.recommend)?;
    let fit_s = started.elapsed().as_secs_f64() - read_s;

    let tmp = args.out.with_extension("csv.tmp");
    let mut w = csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    w.write_record(["customer_id", "rank", "sku", "score", "reason"])?;
    let (mut customers, mut without_card) = (0u64, 0u64);
    recommend::recommend_all(
        &parts,
        &model,
        as_of_day,
        args.k,
        args.exclude_purchased,
        &settings.habits,
        |c, list| {
            let key = &parts.keys[c as usize];
            let id = match cards.get(key) {
                Some(card) => card.as_str(),
                None => {
                    without_card += u64::from(!args.by_key);
                    key.as_str()
                }
            };
            customers += 1;
            for (rank, r) in list.iter().enumerate() {
                let reason = recommend::reason_text(r, &parts, &catalogue, as_of_day);
                let rank = (rank + 1).to_string();
                let score = format!("{:.4}", r.score);
                w.write_record([id, &rank, &parts.skus[r.item as usize], &score, &reason]).map_err(|e| {
                    unico_model::Error::new(unico_model::ErrorKind::Io, format!("{}: {e}", tmp.display()))
                })?;
            }
            Ok(())
        },
    )?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, &args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "{customers} customers, {} products each, as of {as_of} (horizon {} days){}: {}",
        args.k,
        settings.recommend.horizon_days,
        if args.exclude_purchased { ", never bought before" } else { "" },
        args.out.display()
    );
    if without_card > 0 {
        eprintln!(
            "{without_card} customers have no card in the customer master: written by their pseudonymous key (import customers to get card ids)"
        );
    }
    eprintln!(
        "read {:.1} s, fit {:.1} s, recommend {:.1} s",
        read_s,
        fit_s,
        started.elapsed().as_secs_f64() - read_s - fit_s
    );
    Ok(())
}
