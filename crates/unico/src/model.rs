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
/// Every card line up to `as_of`, split by customer (spilled beyond the settings' memory
/// budget), with a progress bar: the pass `recommend` and `plan` start from.
pub fn scan_lines(dir: &DataDir, lake: &Lake, as_of: jiff::civil::Date) -> Result<unico_model::lines::Partitioned> {
    let bar = lines_bar(as_of);
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let parts = unico_model::lines::scan(
        lake,
        i32::MIN,
        unico_model::features::date_to_day(as_of),
        dir.settings.model.max_lines_in_memory,
        &dir.model_dir().join("tmp"),
        &progress,
    );
    bar.finish_and_clear();
    Ok(parts?)
}

pub fn lines_bar(as_of: jiff::civil::Date) -> ProgressBar {
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
    let (ids, summaries) = read_summaries(file)?;
    let read_s = started.elapsed().as_secs_f64();
    let t = Instant::now();
    // Gamma-Gamma fits on its own thread while BG/NBD groups its rows and fits.
    let (grouped, model, group_s, bgnbd_s, spend, gamma_gamma_s) = std::thread::scope(|scope| -> Result<_> {
        let spend = scope.spawn(|| {
            let t = Instant::now();
            let fit = GammaGamma::fit(summaries.iter().map(|s| (s.frequency, s.monetary)));
            (fit, t.elapsed().as_secs_f64())
        });
        let grouped = Grouped::new(&summaries);
        let group_s = t.elapsed().as_secs_f64();
        let model = BgNbd::fit_grouped(&grouped, unit);
        let bgnbd_s = t.elapsed().as_secs_f64() - group_s;
        let (spend, gamma_gamma_s) = spend.join().expect("Gamma-Gamma fit");
        Ok((grouped, model?, group_s, bgnbd_s, spend?, gamma_gamma_s))
    })?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let settings =
        ModelSettings { unit, horizon_days: (horizon * unit.days()).round() as u32, ..ModelSettings::default() };
    let scores = build::score_all(&model, &spend, &summaries, &settings);
    let score_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    if let Some(out) = &out {
        write_scores(out, &ids, &scores)?;
    }
    let write_s = t.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "customers": summaries.len(),
        "unit": unit.name(),
        "horizon": horizon,
        "bgnbd": model,
        "gamma_gamma": spend,
        "distinct_rows": grouped.len(),
        "seconds": { "read": read_s, "fit": fit_s, "group": group_s, "fit_bgnbd": bgnbd_s, "fit_gamma_gamma": gamma_gamma_s, "score": score_s, "write": write_s },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Reads a customer summary CSV (`frequency`, `recency`, `T`, optional `customer_id` and
/// `monetary_value`): the ids and summaries in file order. Without quoted fields the file
/// is cut at line ends into one piece per core, parsed side by side.
fn read_summaries(file: &std::path::Path) -> Result<(Vec<String>, Vec<Summary>)> {
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let header_end = data.iter().position(|b| *b == b'\n').map_or(data.len(), |p| p + 1);
    let headers = csv::Reader::from_reader(&data[..header_end]).headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(fi), Some(ri), Some(ti)) = (col("frequency"), col("recency"), col("T")) else {
        bail!(
            "{} needs the columns frequency, recency and T (and optionally customer_id, monetary_value)",
            file.display()
        );
    };
    let columns =
        SummaryColumns { frequency: fi, recency: ri, age: ti, id: col("customer_id"), monetary: col("monetary_value") };
    let body = &data[header_end..];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    let pieces = if body.contains(&b'"') || body.len() < 1 << 20 { 1 } else { threads };
    // Cut points at line ends, and the file line each piece starts on.
    let mut cuts = vec![0];
    for k in 1..pieces {
        let from = (body.len() * k / pieces).max(*cuts.last().expect("a cut"));
        let cut = body[from..].iter().position(|b| *b == b'\n').map_or(body.len(), |p| from + p + 1);
        cuts.push(cut);
    }
    cuts.push(body.len());
    let newlines: Vec<u64> =
        cuts.windows(2).map(|w| body[w[0]..w[1]].iter().filter(|b| **b == b'\n').count() as u64).collect();
    let first_lines: Vec<u64> =
        newlines.iter().scan(2u64, |line, n| Some(std::mem::replace(line, *line + n))).collect();
    let parts: Vec<Result<(Vec<String>, Vec<Summary>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cuts
            .windows(2)
            .zip(&first_lines)
            .map(|(w, first)| {
                let piece = &body[w[0]..w[1]];
                let columns = &columns;
                scope.spawn(move || parse_summaries(piece, *first, columns, file))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("summary reader")).collect()
    });
    let rows = newlines.iter().sum::<u64>() as usize + 1;
    let (mut ids, mut summaries) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for part in parts {
        let (i, s) = part?;
        ids.extend(i);
        summaries.extend(s);
    }
    Ok((ids, summaries))
}

struct SummaryColumns {
    frequency: usize,
    recency: usize,
    age: usize,
    id: Option<usize>,
    monetary: Option<usize>,
}

/// Parses summary rows without a header; `first_line` is the file line of the first byte.
fn parse_summaries(
    piece: &[u8],
    first_line: u64,
    c: &SummaryColumns,
    file: &std::path::Path,
) -> Result<(Vec<String>, Vec<Summary>)> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(piece);
    let rows = piece.iter().filter(|b| **b == b'\n').count() + 1;
    let (mut ids, mut summaries) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record)? {
        let line = first_line + record.position().map_or(0, |p| p.line() - 1);
        let num = |i: usize| -> Result<f64> {
            let field = record.get(i).unwrap_or_default();
            std::str::from_utf8(field).ok().and_then(|v| v.trim().parse::<f64>().ok()).with_context(|| {
                format!("{} line {line}: {:?} is not a number", file.display(), String::from_utf8_lossy(field))
            })
        };
        let frequency = num(c.frequency)?;
        if frequency < 0.0 || frequency.fract() != 0.0 {
            bail!("{} line {line}: frequency must be a whole number of repeat purchases", file.display());
        }
        summaries.push(Summary {
            frequency: frequency as u32,
            recency: num(c.recency)?,
            age: num(c.age)?,
            monetary: c.monetary.map(num).transpose()?.unwrap_or(0.0),
        });
        let id = match c.id {
            Some(i) => String::from_utf8(record.get(i).unwrap_or_default().to_vec())
                .with_context(|| format!("{} line {line}: the customer id is not UTF-8", file.display()))?,
            None => (line - 1).to_string(),
        };
        ids.push(id);
    }
    Ok((ids, summaries))
}

/// Writes `customer_id,p_alive,expected_purchases,expected_spend,clv`, rows formatted on
/// every core (shortest representation that reads back to the same number).
fn write_scores(out: &std::path::Path, ids: &[String], scores: &[build::Scores]) -> Result<()> {
    use std::io::Write;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    let chunk = scores.len().div_ceil(threads).max(1);
    let parts: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .zip(scores.chunks(chunk))
            .map(|(ids, scores)| {
                scope.spawn(move || -> Result<Vec<u8>> {
                    let mut w = csv::Writer::from_writer(Vec::with_capacity(ids.len() * 96));
                    w.write_record(["customer_id", "p_alive", "expected_purchases", "expected_spend", "clv"])?;
                    let mut f = [ryu::Buffer::new(), ryu::Buffer::new(), ryu::Buffer::new(), ryu::Buffer::new()];
                    for (id, s) in ids.iter().zip(scores) {
                        let [a, b, c, d] = &mut f;
                        w.write_record([
                            id.as_bytes(),
                            a.format(s.p_alive).as_bytes(),
                            b.format(s.expected_purchases).as_bytes(),
                            c.format(s.expected_spend).as_bytes(),
                            d.format(s.clv).as_bytes(),
                        ])?;
                    }
                    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("score writer")).collect::<Result<_>>()
    })?;
    let file = std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut file = std::io::BufWriter::new(file);
    for (i, part) in parts.iter().enumerate() {
        // Every part starts with the header line; only the first keeps it.
        let body = if i == 0 { &part[..] } else { &part[part.iter().position(|b| *b == b'\n').map_or(0, |p| p + 1)..] };
        file.write_all(body)?;
    }
    file.flush()?;
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
    let parts = scan_lines(&dir, &lake, as_of)?;
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
