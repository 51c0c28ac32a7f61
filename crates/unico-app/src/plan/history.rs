//! `unico learn --history`: the redemption model learned from the retailer's past
//! promotions (imported with `unico import campaigns|coupons|coupon-products|
//! campaign-members|redemptions`), its honest evaluation on the latest campaigns, and
//! predictions for chosen campaigns from what was known before each started.

use crate::error::{Code, Context, Result};
use crate::progress::{Progress, Unit};
use crate::{App, bail};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use unico_model::redemption::{self, Bin, Example, History, RedemptionModel};

/// The redemption model, in the model directory.
pub const REDEMPTION_FILE: &str = "redemption-model.json";

/// The L2 penalty per row on standardised features.
const LAMBDA: f64 = 1e-3;

/// What to do with the history.
#[derive(Debug, Clone, Default)]
pub struct HistoryRequest {
    /// Fit on all but the latest campaigns and test on those, instead of fitting on all.
    pub evaluate: bool,
    /// Predict for the members of these campaigns (fitted on the campaigns over before each).
    pub predict: Vec<String>,
    /// Where predictions go (CSV).
    pub out: Option<PathBuf>,
}

/// One scorer's results on the test campaigns.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    /// The scorer.
    pub name: String,
    /// ROC-AUC.
    pub auc: f64,
    /// Brier score, for scorers that give probabilities.
    pub brier: Option<f64>,
}

/// An evaluation on the latest campaigns.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Campaigns fitted on.
    pub train_campaigns: Vec<String>,
    /// Campaigns tested on.
    pub test_campaigns: Vec<String>,
    /// Rows (customer, campaign) fitted on.
    pub train_rows: usize,
    /// Rows tested on.
    pub test_rows: usize,
    /// Of them, redeemed.
    pub test_redeemed: usize,
    /// The model, then the baselines (past redemption rate alone; RFM rank).
    pub scores: Vec<Scored>,
    /// Reliability of the model's probabilities on the test rows.
    pub reliability: Vec<Bin>,
    /// Rows-weighted mean |predicted − observed| over the reliability bins.
    pub calibration_error: f64,
    /// The model fitted on the training campaigns.
    pub model: RedemptionModel,
}

/// What `learn --history` did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum HistoryOutcome {
    /// The model fitted on every campaign, saved for `unico plan`.
    Fitted {
        /// The model.
        model: RedemptionModel,
        /// Where it was saved.
        path: PathBuf,
        /// AUC on its own training rows (optimistic; `--evaluate` gives the honest one).
        training_auc: f64,
        /// History campaigns newly taught to the offers' response model (each once).
        response_campaigns: usize,
        /// Coupon offers they taught it.
        response_offers: usize,
    },
    /// An evaluation.
    Evaluated(Box<Evaluation>),
    /// Predictions written.
    Predicted {
        /// The CSV.
        out: PathBuf,
        /// Rows written.
        rows: usize,
        /// Per campaign: the campaigns its model was fitted on.
        fitted_on: Vec<(String, Vec<String>)>,
    },
}

fn ids(h: &History, which: &[usize]) -> Vec<String> {
    which.iter().map(|&c| h.campaigns[c].id.clone()).collect()
}

fn fit(h: &History, train: &[usize]) -> Result<(RedemptionModel, Vec<Example>)> {
    let rows = redemption::examples(h, train);
    let model = RedemptionModel::fit(&rows, LAMBDA, ids(h, train))?;
    Ok((model, rows))
}

impl App {
    /// Learns from the promotion history (see [`HistoryRequest`]).
    pub fn learn_history(&self, req: &HistoryRequest, progress: &dyn Progress) -> Result<HistoryOutcome> {
        if !req.predict.is_empty() && req.out.is_none() {
            bail!(Code::InputInvalid, "--predict needs --out FILE.csv");
        }
        if req.evaluate && !req.predict.is_empty() {
            bail!(Code::InputInvalid, "--evaluate and --predict are separate runs");
        }
        let lake = self.lake()?;
        progress.begin("reading the promotion history and its members' receipts", Unit::Files, 0);
        let h = History::read(&lake, &|done, total| progress.update(done, total))?;
        progress.finish();
        if !req.predict.is_empty() {
            let out = req.out.as_deref().expect("checked");
            return predict(&h, &req.predict, out);
        }
        if req.evaluate {
            return evaluate(&h).map(|e| HistoryOutcome::Evaluated(Box::new(e)));
        }
        let all: Vec<usize> = (0..h.campaigns.len()).collect();
        let (model, rows) = fit(&h, &all)?;
        let p: Vec<f64> = rows.iter().map(|r| model.predict(&r.x)).collect();
        let y: Vec<bool> = rows.iter().map(|r| r.label).collect();
        let dir = self.model_root();
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(REDEMPTION_FILE);
        unico_core::fs::write_atomic(&path, &serde_json::to_vec_pretty(&model)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // The offers' response model learns from every past coupon, as from Unico's own
        // campaigns: in the cells (sensitivity band, depth) the history covers, `unico plan`
        // then plans with what the chain's shoppers did instead of the prior.
        let mut learned = super::read_response(&dir)?;
        let (mut response_campaigns, mut response_offers) = (0, 0);
        for c in 0..h.campaigns.len() {
            let obs = coupon_observations(&h, c);
            if learned.learn_campaign(&format!("history:{}", h.campaigns[c].id), &obs) {
                response_campaigns += 1;
                response_offers += obs.len();
            }
        }
        super::write_response(&dir, &learned)?;
        Ok(HistoryOutcome::Fitted {
            model,
            path,
            training_auc: redemption::auc(&p, &y),
            response_campaigns,
            response_offers,
        })
    }
}

fn evaluate(h: &History) -> Result<Evaluation> {
    let (train, test) = redemption::split(h);
    if train.is_empty() {
        bail!(
            Code::InputInvalid,
            "no campaign ended before the latest ones ({}) started: an evaluation needs earlier campaigns to learn from",
            ids(h, &test).join(", ")
        );
    }
    let (model, train_rows) = fit(h, &train)?;
    let rows = redemption::examples(h, &test);
    let y: Vec<bool> = rows.iter().map(|r| r.label).collect();
    let p: Vec<f64> = rows.iter().map(|r| model.predict(&r.x)).collect();
    let past: Vec<f64> = rows.iter().map(|r| r.x[6]).collect();
    let rfm = redemption::rfm_scores(&rows);
    let bins = redemption::reliability(&p, &y);
    Ok(Evaluation {
        train_campaigns: ids(h, &train),
        test_campaigns: ids(h, &test),
        train_rows: train_rows.len(),
        test_rows: rows.len(),
        test_redeemed: y.iter().filter(|y| **y).count(),
        scores: vec![
            Scored {
                name: "redemption model".into(),
                auc: redemption::auc(&p, &y),
                brier: Some(redemption::brier(&p, &y)),
            },
            Scored {
                name: "past redemption rate".into(),
                auc: redemption::auc(&past, &y),
                brier: Some(redemption::brier(&past, &y)),
            },
            Scored { name: "RFM rank".into(), auc: redemption::auc(&rfm, &y), brier: None },
        ],
        calibration_error: redemption::calibration_error(&bins),
        reliability: bins,
        model,
    })
}

fn predict(h: &History, campaigns: &[String], out: &Path) -> Result<HistoryOutcome> {
    let mut which = Vec::new();
    for id in campaigns {
        match h.campaign(id) {
            Some(c) => which.push(c),
            None => bail!(
                Code::CampaignNotFound,
                "campaign {id:?} is not in the promotion history: import it (unico import campaigns) and its members first"
            ),
        }
    }
    let mut lines: Vec<(usize, u32, f64)> = Vec::new();
    let mut fitted_on = Vec::new();
    for &c in &which {
        // Only campaigns over before this one started: their outcome was known then.
        let train = h.ended_before(h.campaigns[c].start);
        if train.is_empty() {
            bail!(
                Code::InputInvalid,
                "no campaign of the history ended before {} started: there is nothing to learn from",
                h.campaigns[c].id
            );
        }
        let (model, _) = fit(h, &train)?;
        for r in redemption::examples(h, &[c]) {
            lines.push((c, r.customer, model.predict(&r.x)));
        }
        fitted_on.push((h.campaigns[c].id.clone(), ids(h, &train)));
    }
    let mut body = Vec::new();
    writeln!(body, "campaign_id,customer_id,p_redeem")?;
    for (c, k, p) in &lines {
        writeln!(body, "{},{},{p:.6}", h.campaigns[*c].id, h.keys[*k as usize])?;
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    unico_core::fs::write_atomic(out, &body).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(HistoryOutcome::Predicted { out: out.to_path_buf(), rows: lines.len(), fitted_on })
}

/// Every percent-off coupon of campaign `c` sent to a member, as the offers' response model
/// learns from an offer: the member's price-sensitivity band (their share of spend bought
/// on promotion, ranked among the campaign's members, as `unico plan` ranks customers), the
/// chance they would have bought a covered product in the window anyway (their rate of
/// buying one in the year before), their affinity for its category (as `unico plan`
/// computes it), and whether they redeemed that coupon. Only what was dated before the
/// campaign started is read.
pub fn coupon_observations(h: &History, c: usize) -> Vec<unico_offers::response::Observation> {
    use unico_offers::response::{Arm, Observation, band};
    let campaign = &h.campaigns[c];
    let start = campaign.start;
    let window = f64::from(campaign.end - campaign.start + 1);
    let members = &h.members[c];
    struct Stats {
        promo: f64,
        spend: i64,
        by_category: std::collections::HashMap<u32, i64>,
    }
    let stats: Vec<Stats> = members
        .iter()
        .map(|&k| {
            let lines = &h.lines[k as usize];
            let before = &lines[..lines.partition_point(|l| l.day < start)];
            let year = &before[before.partition_point(|l| l.day < start - 365)..];
            let spend: i64 = year.iter().map(|l| l.net_cents.max(0)).sum();
            let promo: i64 = year.iter().filter(|l| l.discounted).map(|l| l.net_cents.max(0)).sum();
            let mut by_category = std::collections::HashMap::new();
            for l in year {
                *by_category.entry(h.category_of[l.item as usize]).or_insert(0) += l.net_cents.max(0);
            }
            Stats { promo: if spend > 0 { promo as f64 / spend as f64 } else { 0.0 }, spend, by_category }
        })
        .collect();
    let mut shares: Vec<f64> = stats.iter().map(|s| s.promo).collect();
    shares.sort_by(f64::total_cmp);
    let rank = |v: f64| super::prepare::mid_rank(&shares, v);
    let n_categories = h.categories.max(1) as f64;
    let mut out = Vec::new();
    for (coupon, (percent, items)) in campaign.coupons.iter().zip(&campaign.coupon_terms) {
        let Some(percent) = percent.filter(|p| *p >= 1.0) else { continue };
        // The coupon's category: the one most of its products are in.
        let mut count: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        for &i in items {
            *count.entry(h.category_of[i as usize]).or_default() += 1;
        }
        let category = count.into_iter().max_by_key(|(c, n)| (*n, std::cmp::Reverse(*c))).map(|(c, _)| c);
        for (m, &k) in members.iter().enumerate() {
            let st = &stats[m];
            let lines = &h.lines[k as usize];
            let before = &lines[..lines.partition_point(|l| l.day < start)];
            let year = &before[before.partition_point(|l| l.day < start - 365)..];
            let mut days: Vec<i32> =
                year.iter().filter(|l| items.binary_search(&l.item).is_ok()).map(|l| l.day).collect();
            days.dedup();
            let p0 = 1.0 - (-(days.len() as f64) / 365.0 * window).exp();
            let share = match (category, st.spend) {
                (Some(cat), spend) if spend > 0 => st.by_category.get(&cat).copied().unwrap_or(0) as f64 / spend as f64,
                _ => 0.0,
            };
            let r = share * n_categories;
            out.push(Observation {
                band: band(rank(st.promo)),
                arm: Arm::Percent,
                depth_percent: percent.round() as u32,
                p0,
                affinity: (r / (1.0 + r)).clamp(0.02, 0.95),
                redeemed: h.coupon_redeemed.contains(&(coupon.clone(), k)),
            });
        }
    }
    out
}
