//! The behavioural model: building it from the lake (and publishing cardholders'
//! profiles to the operational store), its parameters, fitting a customer summary file,
//! and every customer's recommendations.

use crate::error::{Code, Context, Error, Result};
use crate::progress::{Progress, Unit};
use crate::{App, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use unico_model::build::{self, ModelParams, ModelSettings};
use unico_model::clv::{BgNbd, GammaGamma, Grouped, Summary, TimeUnit};

/// The link to the published model's version, in the model folder.
pub const CURRENT: &str = "current";
/// The folder of the model's versions.
const VERSIONS: &str = "versions";

/// A model built and published.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The fitted population and how it was built (model.json).
    pub params: ModelParams,
    /// What went to the operational store.
    pub published: unico_store::profiles::Published,
}

/// Every customer's recommendations, written.
#[derive(Debug, Clone, Serialize)]
pub struct Recommended {
    /// Customers recommended to.
    pub customers: u64,
    /// Products per customer.
    pub k: usize,
    /// The last day of data.
    pub as_of: jiff::civil::Date,
    /// The horizon of the probabilities, days.
    pub horizon_days: u32,
    /// Only products never bought before.
    pub exclude_purchased: bool,
    /// The file written.
    pub out: PathBuf,
    /// Customers written by their pseudonymous key for want of a card.
    pub without_card: u64,
    /// The weights chosen on a time split (`[model.recommend] tune_on_time_split`).
    pub tuning: Option<unico_model::recommend::Tuning>,
    /// Time spent: reading the lake, fitting, recommending (seconds).
    pub seconds: Seconds,
}

/// Customers `unico recommend` judges the blend's weights on (a sample; see
/// `unico_model::recommend::tune`).
pub const TUNING_CUSTOMERS: usize = unico_model::recommend::TUNING_CUSTOMERS;

/// Time spent by the steps of a pass, seconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Seconds {
    /// Reading.
    pub read: f64,
    /// Fitting.
    pub fit: f64,
    /// Scoring or recommending.
    pub score: f64,
}

/// What to recommend.
#[derive(Debug, Clone, Serialize)]
pub struct RecommendRequest {
    /// The last day of data (default: the lake's last).
    pub as_of: Option<String>,
    /// Products per customer.
    pub k: usize,
    /// Only products the customer never bought.
    pub exclude_purchased: bool,
    /// The CSV to write.
    pub out: PathBuf,
    /// Write pseudonymous keys, not card ids.
    pub by_key: bool,
}

/// BG/NBD and Gamma-Gamma fitted to a summary file.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    /// Customers in the file.
    pub customers: usize,
    /// The file's time unit.
    pub unit: &'static str,
    /// Horizon of the expected purchases, in the file's unit.
    pub horizon: f64,
    /// The purchase process.
    pub bgnbd: BgNbd,
    /// The spend per purchase.
    pub gamma_gamma: GammaGamma,
    /// Distinct (x, t_x, T) rows the fit ran over.
    pub distinct_rows: usize,
    /// Time spent, seconds.
    pub seconds: FitSeconds,
}

/// Time spent fitting a summary file, seconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FitSeconds {
    /// Reading the file.
    pub read: f64,
    /// Grouping and both fits.
    pub fit: f64,
    /// Grouping the rows.
    pub group: f64,
    /// The BG/NBD fit.
    pub fit_bgnbd: f64,
    /// The Gamma-Gamma fit (beside the BG/NBD one).
    pub fit_gamma_gamma: f64,
    /// Scoring every customer.
    pub score: f64,
    /// Writing the scores.
    pub write: f64,
}

impl App {
    /// Builds the model as of `as_of` (default: the lake's last day) and publishes the
    /// cardholders' profiles and due products to the operational store.
    pub fn build_model(&self, as_of: Option<&str>, unit: Option<TimeUnit>, progress: &dyn Progress) -> Result<Built> {
        let mut settings = self.settings().model.clone();
        if let Some(u) = unit {
            settings.unit = u;
        }
        self.build_model_with(as_of, &settings, progress)
    }

    pub(crate) fn build_model_with(
        &self,
        as_of: Option<&str>,
        settings: &ModelSettings,
        progress: &dyn Progress,
    ) -> Result<Built> {
        // An erasure a crash left halfway is finished before a model reads the lake.
        self.finish_pending_erasures()?;
        let lake = self.lake_view()?;
        let as_of = match as_of {
            Some(d) => crate::parse_date("--as-of", d)?,
            None => self.last_day_of_receipts(&lake)?,
        };
        // A build is written into a version of its own and published whole by one rename
        // of the link `model/current`: a build killed at any moment leaves the previous
        // model as it was, never profiles of one build beside habits of another.
        let versions = self.model_root().join(VERSIONS);
        std::fs::create_dir_all(&versions).with_context(|| format!("cannot create {}", versions.display()))?;
        let id = new_version_id();
        let dir = versions.join(&id);
        progress.begin(&format!("reading receipts up to {as_of}"), Unit::Lines, 0);
        let spill = self.model_root().join("tmp");
        let params =
            build::build(&lake, &dir, &spill, as_of, settings, &self.chain_tz(), &|d, t| progress.update(d, t));
        progress.finish();
        let params = match params {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        };
        progress.message(crate::progress::PUBLISHING);
        self.publish_model(&id)?;
        let published = self.publish(&dir, &params, progress)?;
        Ok(Built { params, published })
    }

    /// Publishes a model built elsewhere (the Spark job of `spark/`, docs/scale-out.md) like a
    /// build of its own: `from` must hold `model.json`, `profiles.parquet` and
    /// `habits.parquet` that Unico reads; they are copied into a version of their own, then
    /// `model/current` points at it and the cardholders' profiles reach the operational store.
    pub fn import_model(&self, from: &Path, progress: &dyn Progress) -> Result<Built> {
        let invalid = |what: String, e: unico_model::Error| Error::with_source(Code::InputInvalid, what, e);
        let params =
            build::read_params(from).map_err(|e| invalid(format!("{}: no readable model.json", from.display()), e))?;
        let found = unico_model::profiles::for_each_profile(from, |_| ())
            .map_err(|e| invalid(format!("{}: profiles.parquet is not a Unico profiles file", from.display()), e))?;
        if found.is_none() {
            return Err(Error::new(Code::InputInvalid, format!("{}: no profiles.parquet", from.display())));
        }
        unico_model::habits::for_each_due_product(from, |_| (), |_| ())
            .map_err(|e| invalid(format!("{}: habits.parquet is not a Unico habits file", from.display()), e))?;
        let versions = self.model_root().join(VERSIONS);
        std::fs::create_dir_all(&versions).with_context(|| format!("cannot create {}", versions.display()))?;
        let id = new_version_id();
        let dir = versions.join(&id);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for file in [build::PARAMS_FILE, build::PROFILES_FILE, unico_model::habits::HABITS_FILE] {
            if let Err(e) = std::fs::copy(from.join(file), dir.join(file)) {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e).with_context(|| format!("cannot copy {}", from.join(file).display()));
            }
        }
        unico_core::fs::sync_dir(&dir)?;
        self.publish_model(&id)?;
        let published = self.publish(&dir, &params, progress)?;
        Ok(Built { params, published })
    }

    /// Points `model/current` at version `id` (one atomic rename), then removes every
    /// version but it and the one before (a reader may still be on that one), and the
    /// files of a model from before versions.
    fn publish_model(&self, id: &str) -> Result<()> {
        let root = self.model_root();
        let link = root.join(CURRENT);
        let staged = root.join(format!(".{CURRENT}.{id}"));
        let _ = std::fs::remove_file(&staged);
        std::os::unix::fs::symlink(std::path::Path::new(VERSIONS).join(id), &staged)
            .with_context(|| format!("cannot create {}", staged.display()))?;
        let previous = std::fs::read_link(&link).ok().and_then(|t| t.file_name().map(|n| n.to_owned()));
        std::fs::rename(&staged, &link).with_context(|| format!("cannot publish {}", link.display()))?;
        unico_core::fs::sync_dir(&root)?;
        let versions = root.join(VERSIONS);
        for entry in std::fs::read_dir(&versions)?.flatten() {
            let name = entry.file_name();
            if name != *id && Some(&name) != previous.as_ref() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        for legacy in [build::PROFILES_FILE, build::PARAMS_FILE, unico_model::habits::HABITS_FILE] {
            let _ = std::fs::remove_file(root.join(legacy));
        }
        Ok(())
    }

    /// The parameters of the last build.
    pub fn model_params(&self) -> Result<ModelParams> {
        self.model_params_in(&self.model_dir())
    }

    /// The parameters of the build in `dir` (a resolved [`App::model_dir`]).
    pub(crate) fn model_params_in(&self, dir: &Path) -> Result<ModelParams> {
        build::read_params(dir)
            .map_err(|e| Error::with_source(Code::ModelMissing, "no model yet: run `unico model build` first", e))
    }

    /// The default last day of a model or a report: the lake's last day with receipts,
    /// but never past the plausible range (one receipt dated 2205 does not move it).
    pub(crate) fn last_day_of_receipts(&self, lake: &unico_lake::Lake) -> Result<jiff::civil::Date> {
        let end = unico_core::day::day_of(*self.plausible_days().end());
        let last = unico_lake::read::last_receipt_day(lake, end)?
            .ok_or_else(|| Error::new(Code::LakeEmpty, "the lake has no receipts: import some first"))?;
        Ok(unico_core::day::date_of(last))
    }

    /// Copies what the server reads (profiles of cardholders, their due products) from the
    /// model's Parquet files into the operational store: a thread reads the files batch by
    /// batch while this one stages the rows, then the store puts them in place in key
    /// order, in one transaction ([`unico_store::profiles::Publication`]). Memory is a few
    /// batches, whatever the number of customers.
    fn publish(
        &self,
        dir: &Path,
        params: &ModelParams,
        progress: &dyn Progress,
    ) -> Result<unico_store::profiles::Published> {
        use unico_store::profiles::{DueItem, Profile};
        const BATCH: usize = 4096;
        enum Batch {
            Profiles(Vec<Profile>),
            Due(Vec<DueItem>),
            /// Both files were read whole.
            End,
        }
        let total = unico_lake::read::rows_of(&dir.join(build::PROFILES_FILE))
            + unico_lake::read::rows_of(&dir.join(unico_model::habits::HABITS_FILE));
        progress.begin("publishing profiles and due products to the store", Unit::Rows, total);
        let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(4);
        let published = std::thread::scope(|scope| {
            let reader = scope.spawn(move || -> Result<()> {
                // A send fails once the writer has given up: the rest is read for nothing.
                let mut read = 0u64;
                let mut profiles = Vec::with_capacity(BATCH);
                unico_model::profiles::for_each_profile(dir, |p| {
                    read += 1;
                    profiles.push(Profile {
                        customer_key: p.customer_key,
                        as_of: params.as_of.clone(),
                        segment: p.segment,
                        r_score: i64::from(p.r_score),
                        f_score: i64::from(p.f_score),
                        m_score: i64::from(p.m_score),
                        p_alive: p.p_alive,
                        expected_purchases: p.expected_purchases,
                        horizon_days: i64::from(params.settings.horizon_days),
                        clv_cents: p.clv_cents,
                        average_receipt_cents: p.average_receipt_cents,
                        discount_share: p.discount_share,
                        preferred_store_id: p.preferred_store_id,
                        preferred_channel: p.preferred_channel,
                        preferred_weekday: p.preferred_weekday,
                        preferred_hour: i64::from(p.preferred_hour),
                        last_purchase_date: unico_core::day::date_of(p.last_purchase_day).to_string(),
                    });
                    if profiles.len() == BATCH {
                        let _ = tx.blocking_send(Batch::Profiles(std::mem::take(&mut profiles)));
                        progress.update(read, total);
                    }
                })?;
                let _ = tx.blocking_send(Batch::Profiles(profiles));
                let mut due = Vec::with_capacity(BATCH);
                unico_model::habits::for_each_due_product(
                    dir,
                    |d| {
                        due.push(DueItem {
                            customer_key: d.customer_key,
                            sku: d.sku,
                            category: d.category,
                            purchase_days: d.purchase_days,
                            cycle_days: d.cycle_days,
                            next_due_date: unico_core::day::date_of(d.next_due_day).to_string(),
                        });
                        if due.len() == BATCH {
                            let _ = tx.blocking_send(Batch::Due(std::mem::take(&mut due)));
                        }
                    },
                    |rows| {
                        read += rows as u64;
                        progress.update(read, total);
                    },
                )?;
                let _ = tx.blocking_send(Batch::Due(due));
                let _ = tx.blocking_send(Batch::End);
                Ok(())
            });
            let mut rx = rx;
            let written = self.with_store(async move |store| {
                let mut publication = store.begin_publication().await?;
                let mut staged = 0u64;
                loop {
                    let step = match rx.recv().await {
                        Some(Batch::Profiles(b)) => publication.add_profiles(&b).await.map(|_| b.len()),
                        Some(Batch::Due(b)) => publication.add_due_items(&b).await.map(|_| b.len()),
                        Some(Batch::End) => break,
                        // The reader failed: it says why.
                        None => {
                            publication.abort().await?;
                            return Ok(None);
                        }
                    };
                    match step {
                        Ok(n) => staged += n as u64,
                        Err(e) => {
                            drop(rx);
                            let _ = publication.abort().await;
                            return Err(e.into());
                        }
                    }
                    progress.message(&format!("publishing profiles and due products to the store: {staged} staged"));
                }
                progress.finish();
                progress.message("replacing the published profiles and due products, in key order, in one transaction");
                Ok(Some(publication.commit().await?))
            });
            let read = reader.join().unwrap_or_else(|_| Err(Error::new(Code::Internal, "the model reader panicked")));
            match (written, read) {
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => Err(e),
                (Ok(Some(p)), Ok(())) => Ok(p),
                (Ok(None), Ok(())) => Err(Error::new(Code::Internal, "the model reader stopped early")),
            }
        });
        progress.finish();
        published
    }

    /// Every card line up to `as_of`, split by customer (spilled beyond the settings'
    /// memory budget): the pass `recommend` and `plan` start from.
    pub(crate) fn scan_lines(
        &self,
        lake: &unico_lake::Lake,
        as_of: jiff::civil::Date,
        progress: &dyn Progress,
    ) -> Result<unico_model::lines::Partitioned> {
        progress.begin(&format!("reading receipts up to {as_of}"), Unit::Lines, 0);
        let parts = unico_model::lines::scan(
            lake,
            i32::MIN,
            unico_core::day::day_of(as_of),
            self.settings().model.max_lines_in_memory,
            &self.model_root().join("tmp"),
            &|d, t| progress.update(d, t),
        );
        progress.finish();
        Ok(parts?)
    }

    /// Every customer's top products, with the card id (or key) and a reason, written to
    /// a CSV (`customer_id,rank,sku,score,reason`) whole or not at all.
    pub fn recommend(&self, req: &RecommendRequest, progress: &dyn Progress) -> Result<Recommended> {
        use unico_model::habits::Catalogue;
        use unico_model::recommend;
        let started = Instant::now();
        let settings = &self.settings().model;
        let lake = self.lake_view()?;
        let as_of = match &req.as_of {
            Some(d) => crate::parse_date("--as-of", d)?,
            None => self.last_day_of_receipts(&lake)?,
        };
        if req.k == 0 {
            bail!(Code::InputInvalid, "--k must be at least 1");
        }
        // Card ids by lake key, from the customer master (the lake never holds them).
        let cards: std::collections::HashMap<String, String> = if req.by_key {
            Default::default()
        } else {
            self.cards()?.into_iter().map(|c| (c.customer_key, c.card)).collect()
        };
        let as_of_day = unico_core::day::day_of(as_of);
        let parts = self.scan_lines(&lake, as_of, progress)?;
        let read = started.elapsed().as_secs_f64();
        let catalogue = Catalogue::load(&lake)?;
        let category_of_item: Vec<u32> = parts.skus.iter().map(|s| catalogue.category_of(s)).collect();
        let (tuning, model) = recommend::tune_and_fit(
            &parts,
            &category_of_item,
            &settings.recommend,
            &settings.habits,
            as_of_day,
            req.k,
            req.exclude_purchased,
        )?;
        let fit = started.elapsed().as_secs_f64() - read;
        let (mut customers, mut without_card) = (0u64, 0u64);
        let mut failed: Option<unico_model::Error> = None;
        unico_core::fs::write_atomic_with(&req.out, |file| {
            let mut w = csv::Writer::from_writer(file);
            w.write_record(["customer_id", "rank", "sku", "score", "reason"])?;
            let result = recommend::recommend_all(
                &parts,
                &model,
                as_of_day,
                req.k,
                req.exclude_purchased,
                &settings.habits,
                |c, list| {
                    let key = &parts.keys[c as usize];
                    let id = match cards.get(key) {
                        Some(card) => card.as_str(),
                        None => {
                            without_card += u64::from(!req.by_key);
                            key.as_str()
                        }
                    };
                    customers += 1;
                    for (rank, r) in list.iter().enumerate() {
                        let reason = recommend::reason_text(r, &parts, &catalogue, as_of_day);
                        let rank = (rank + 1).to_string();
                        let score = format!("{:.4}", r.score);
                        w.write_record([id, &rank, &parts.skus[r.item as usize], &score, &reason]).map_err(|e| {
                            unico_model::Error::new(unico_model::ErrorKind::Io, format!("{}: {e}", req.out.display()))
                        })?;
                    }
                    Ok(())
                },
            );
            if let Err(e) = result {
                failed = Some(e);
                return Err(std::io::Error::other("the recommendations failed"));
            }
            w.flush()
        })
        .map_err(|e| match failed.take() {
            Some(m) => Error::from(m),
            None => Error::with_source(Code::Io, format!("cannot write {}", req.out.display()), e),
        })?;
        Ok(Recommended {
            customers,
            k: req.k,
            as_of,
            horizon_days: settings.recommend.horizon_days,
            exclude_purchased: req.exclude_purchased,
            out: req.out.clone(),
            without_card,
            tuning,
            seconds: Seconds { read, fit, score: started.elapsed().as_secs_f64() - read - fit },
        })
    }
}

/// Fits BG/NBD and Gamma-Gamma to a customer summary CSV (the `lifetimes` layout:
/// customer_id, frequency, recency, T, monetary_value) and scores every customer into
/// `out` when given. Needs no data directory.
pub fn fit_summary(file: &Path, unit: TimeUnit, horizon: f64, out: Option<&Path>) -> Result<FitReport> {
    let started = Instant::now();
    let (ids, summaries) = read_summaries(file)?;
    let read = started.elapsed().as_secs_f64();
    let t = Instant::now();
    // Gamma-Gamma fits on its own thread while BG/NBD groups its rows and fits.
    let (grouped, model, group, fit_bgnbd, spend, fit_gamma_gamma) = std::thread::scope(|scope| -> Result<_> {
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
    let fit = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let settings =
        ModelSettings { unit, horizon_days: (horizon * unit.days()).round() as u32, ..ModelSettings::default() };
    let scores = build::score_all(&model, &spend, &summaries, &settings);
    let score = t.elapsed().as_secs_f64();
    let t = Instant::now();
    if let Some(out) = out {
        write_scores(out, &ids, &scores)?;
    }
    let write = t.elapsed().as_secs_f64();
    Ok(FitReport {
        customers: summaries.len(),
        unit: unit.name(),
        horizon,
        bgnbd: model,
        gamma_gamma: spend,
        distinct_rows: grouped.len(),
        seconds: FitSeconds { read, fit, group, fit_bgnbd, fit_gamma_gamma, score, write },
    })
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
            Code::InputInvalid,
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
            std::str::from_utf8(field).ok().and_then(|v| v.trim().parse::<f64>().ok()).ok_or_else(|| {
                Error::new(
                    Code::InputInvalid,
                    format!("{} line {line}: {:?} is not a number", file.display(), String::from_utf8_lossy(field)),
                )
            })
        };
        let frequency = num(c.frequency)?;
        if frequency < 0.0 || frequency.fract() != 0.0 {
            bail!(
                Code::InputInvalid,
                "{} line {line}: frequency must be a whole number of repeat purchases",
                file.display()
            );
        }
        summaries.push(Summary {
            frequency: frequency as u32,
            recency: num(c.recency)?,
            age: num(c.age)?,
            monetary: c.monetary.map(num).transpose()?.unwrap_or(0.0),
        });
        let id = match c.id {
            Some(i) => String::from_utf8(record.get(i).unwrap_or_default().to_vec()).map_err(|_| {
                Error::new(Code::InputInvalid, format!("{} line {line}: the customer id is not UTF-8", file.display()))
            })?,
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
                    w.into_inner().map_err(|e| Error::with_source(Code::Io, "cannot format the scores", e.into_error()))
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

/// A file the server wrote for users to download (`exports/` in the data directory).
#[derive(Debug, Clone, Serialize)]
pub struct ExportFile {
    /// Its name.
    pub name: String,
    /// Its size, bytes.
    pub bytes: u64,
}

impl App {
    /// The folder of files written for download.
    pub fn exports_dir(&self) -> PathBuf {
        self.root().join("exports")
    }

    /// The files written for download, newest name first.
    pub fn exports(&self) -> Result<Vec<ExportFile>> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.exports_dir()) else { return Ok(out) };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            out.push(ExportFile { name, bytes: e.metadata().map(|m| m.len()).unwrap_or(0) });
        }
        out.sort_by(|a, b| b.name.cmp(&a.name));
        Ok(out)
    }

    /// The path of a file written for download, by name (nothing outside `exports/`).
    pub fn export_path(&self, name: &str) -> Result<PathBuf> {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let path = self.exports_dir().join(name);
        if !plain || !path.is_file() {
            return Err(Error::new(Code::NotFound, format!("no export {name:?}")));
        }
        Ok(path)
    }
}

/// A new model version's folder name: its time and a random tail.
fn new_version_id() -> String {
    format!("{}-{:06x}", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%6f"), rand::random::<u32>() & 0xff_ffff)
}
