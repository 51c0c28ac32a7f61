//! Learning from a campaign: its redemptions (codes from the tills or the web shop)
//! update the response model of every mechanic once, and are recorded in the store where
//! the KPIs count them. Unknown or repeated codes go to a rejects file with their line.

use crate::error::{Code, Context, Error, Result};
use crate::{App, bail};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use unico_offers::response::Arm;

/// A campaign's outcome to learn from.
#[derive(Debug, Clone, Serialize)]
pub struct LearnRequest {
    /// The campaign directory `unico plan` wrote.
    pub campaign: PathBuf,
    /// The redeemed offers: a CSV with a `code` column (`redeemed_at`, `discount_cents`
    /// optional). None: the redemptions the tills confirmed through the API, from the store.
    pub redemptions: Option<PathBuf>,
}

/// What a campaign taught.
#[derive(Debug, Clone, Serialize)]
pub struct Learned {
    /// The campaign.
    pub campaign_id: String,
    /// Offers learned from.
    pub offers: usize,
    /// Of them, redeemed.
    pub redeemed: u64,
    /// Redemptions newly recorded in the store.
    pub recorded: u64,
    /// Lines of the redemptions file.
    pub lines: u64,
    /// Lines rejected.
    pub rejected: usize,
    /// Where the rejected lines are, with their line numbers and reasons.
    pub rejects_file: Option<PathBuf>,
    /// The response model now, by band, mechanic and depth.
    pub cells: Vec<LearnedCell>,
}

/// The learned share of customers a discount moves, in one cell.
#[derive(Debug, Clone, Serialize)]
pub struct LearnedCell {
    /// Price-sensitivity band (0 = least sensitive).
    pub band: usize,
    /// The mechanic.
    pub arm: Arm,
    /// The depth, percent.
    pub depth_percent: u32,
    /// The share moved (g), posterior mean.
    pub g: f64,
    /// Offers it was learned from.
    pub offers: u64,
}

impl App {
    /// Learns from a campaign's redemptions, once.
    pub fn learn(&self, req: &LearnRequest) -> Result<Learned> {
        learn(self, req)
    }
}

/// `unico learn`: updates the response model with a campaign's outcome — every percent-off
/// offer it sent, redeemed or not. A campaign is learned from once.
pub(super) fn learn(app: &App, args: &LearnRequest) -> Result<Learned> {
    use unico_offers::response::Observation;
    let campaign: serde_json::Value =
        serde_json::from_slice(&std::fs::read(args.campaign.join("campaign.json")).map_err(|e| {
            Error::with_source(
                Code::InputInvalid,
                format!("{} is not a campaign directory (no campaign.json)", args.campaign.display()),
                e,
            )
        })?)?;
    let id = unico_offers::campaign_id(
        campaign["name"].as_str().unwrap_or_default(),
        campaign["valid_from"].as_str().unwrap_or_default(),
    );
    // The offers sent, by normalised code.
    let mut sent: HashMap<String, (Observation, bool)> = HashMap::new();
    let mut r = csv::Reader::from_path(args.campaign.join("offers.csv"))?;
    let h = r.headers()?.clone();
    let col = |n: &str| h.iter().position(|x| x == n).with_context(|| format!("offers.csv has no {n} column"));
    let (ci, pi, p0i, ai, bi) = (col("code")?, col("percent_off")?, col("p0")?, col("affinity")?, col("band")?);
    let di = col("discount_cents")?;
    // Offer types (campaigns planned before them have none of these columns: one-unit offers).
    let opt = |n: &str| h.iter().position(|x| x == n);
    let (mi, bui, pai, msi) = (opt("mechanic"), opt("buy_units"), opt("pay_units"), opt("min_spend_cents"));
    // Every code of the campaign with its discount on one unit, for the store's redemptions.
    let mut codes: HashMap<String, (String, i64)> = HashMap::new();
    for rec in r.records() {
        let rec = rec?;
        codes.insert(unico_offers::code::normalise(&rec[ci]), (rec[ci].to_string(), rec[di].parse()?));
        let percent: u32 = rec[pi].parse()?;
        let num = |i: Option<usize>| -> Result<i64> { Ok(i.map(|i| rec[i].parse()).transpose()?.unwrap_or(0)) };
        let (arm, depth_percent) = match mi.map(|i| &rec[i]) {
            Some("multi_buy") => {
                let (buy, pay) = (num(bui)? as u32, num(pai)? as u32);
                (Arm::MultiBuy { buy, pay }, unico_offers::plan::multi_buy_depth(buy, pay))
            }
            Some("spend_reward") => (Arm::Spend, unico_offers::plan::spend_depth(num(msi)?, rec[di].parse()?)),
            // Amounts off one unit: their depth differs by price, not learned per depth.
            _ if percent == 0 => continue,
            _ => (Arm::Percent, percent),
        };
        let o = Observation {
            band: rec[bi].parse()?,
            arm,
            depth_percent,
            p0: rec[p0i].parse()?,
            affinity: rec[ai].parse()?,
            redeemed: false,
        };
        sent.insert(unico_offers::code::normalise(&rec[ci]), (o, false));
    }
    // The redemptions; unknown codes go to the rejects file with their line.
    let campaign_end = campaign["valid_to"].as_str().unwrap_or_default().to_string();
    // (code, when, discount) of every redemption, recorded in the store for the KPIs.
    let mut to_store: Vec<(String, String, i64)> = Vec::new();
    let rejects_path = app.rejects_dir().join(format!(
        "redemptions-{}.csv",
        id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>()
    ));
    let mut rejects: Vec<(u64, String, String)> = Vec::new();
    let (mut redeemed, mut lines) = (0u64, 0u64);
    match &args.redemptions {
        None => {
            // The tills' redemptions are in the store already.
            let codes = app.with_store(async |store| Ok(store.redeemed_codes(&id).await?))?;
            for code in codes {
                lines += 1;
                redeemed += 1;
                if let Some((_, r)) = sent.get_mut(&unico_offers::code::normalise(&code)) {
                    *r = true;
                }
            }
        }
        Some(path) => read_redemptions(
            path,
            &codes,
            &campaign_end,
            &mut sent,
            &mut to_store,
            &mut rejects,
            (&mut redeemed, &mut lines),
        )?,
    }
    if !rejects.is_empty() {
        unico_core::fs::write_atomic_with(&rejects_path, |f| {
            let mut w = csv::Writer::from_writer(f);
            w.write_record(["line", "code", "reason"])?;
            for (line, code, why) in &rejects {
                w.write_record([line.to_string().as_str(), code, why])?;
            }
            w.flush()
        })
        .with_context(|| format!("cannot write {}", rejects_path.display()))?;
    }
    let observations: Vec<Observation> = sent.into_values().map(|(o, r)| Observation { redeemed: r, ..o }).collect();
    let mut model = super::read_response(&app.model_root())?;
    if !model.learn_campaign(&id, &observations) {
        bail!(Code::CampaignAlreadyLearned, "the campaign {id:?} was already learned from; nothing changed");
    }
    // The redemptions go to the store (each code once: a code redeemed at a till already
    // stays as it was), where the KPIs count them.
    let recorded = app.with_store(async |store| {
        let mut recorded = 0;
        for (code, at, discount) in &to_store {
            recorded += u64::from(store.redeem_offer(code, at, *discount).await?);
        }
        Ok(recorded)
    })?;
    super::write_response(&app.model_root(), &model)?;
    let cells = model
        .observations()
        .into_iter()
        .map(|((band, arm, depth_percent), offers)| LearnedCell {
            band,
            arm,
            depth_percent,
            g: model.mean_of(band, arm, depth_percent),
            offers,
        })
        .collect();
    Ok(Learned {
        campaign_id: id,
        offers: observations.len(),
        redeemed,
        recorded,
        lines,
        rejected: rejects.len(),
        rejects_file: (!rejects.is_empty()).then_some(rejects_path),
        cells,
    })
}

/// Reads a redemptions file: every known code once, into `to_store` and `sent`; the
/// others into `rejects` with their line.
fn read_redemptions(
    path: &std::path::Path,
    codes: &HashMap<String, (String, i64)>,
    campaign_end: &str,
    sent: &mut HashMap<String, (unico_offers::response::Observation, bool)>,
    to_store: &mut Vec<(String, String, i64)>,
    rejects: &mut Vec<(u64, String, String)>,
    (redeemed, lines): (&mut u64, &mut u64),
) -> Result<()> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let h = r.headers()?.clone();
    let Some(code_col) = h.iter().position(|x| x.trim().eq_ignore_ascii_case("code")) else {
        bail!(Code::InputInvalid, "{} has no code column", path.display());
    };
    let at_col = h.iter().position(|x| x.trim().eq_ignore_ascii_case("redeemed_at"));
    let discount_col = h.iter().position(|x| x.trim().eq_ignore_ascii_case("discount_cents"));
    let mut seen_codes: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (i, rec) in r.records().enumerate() {
        let line = i as u64 + 2;
        *lines += 1;
        let rec = rec.with_context(|| format!("{} line {line}", path.display()))?;
        let code = rec.get(code_col).unwrap_or_default();
        let normal = unico_offers::code::normalise(code);
        if !seen_codes.insert(normal.clone()) {
            rejects.push((line, code.to_string(), "redeemed twice".into()));
            continue;
        }
        let Some((stored_code, planned_discount)) = codes.get(&normal) else {
            rejects.push((line, code.to_string(), "not an offer of this campaign".into()));
            continue;
        };
        let at = at_col.and_then(|i| rec.get(i)).filter(|s| !s.trim().is_empty()).unwrap_or(campaign_end);
        let discount = match discount_col.and_then(|i| rec.get(i)).filter(|s| !s.trim().is_empty()) {
            Some(d) => match d.trim().parse::<i64>() {
                Ok(d) => d,
                Err(_) => {
                    rejects.push((line, code.to_string(), format!("discount_cents {d:?} is not a whole number")));
                    continue;
                }
            },
            None => *planned_discount,
        };
        to_store.push((stored_code.clone(), at.trim().to_string(), discount));
        *redeemed += 1;
        if let Some((_, r)) = sent.get_mut(&normal) {
            *r = true; // amounts off are recorded, not learned per depth
        }
    }
    Ok(())
}
