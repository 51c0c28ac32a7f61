//! The customer master: the single customer view, duplicates and merges, consents, the
//! right of access (export) and erasure, the list of cards.

use crate::error::{Code, Context, Error, Result};
use crate::import::Merged;
use crate::{App, bail};
use serde::Serialize;
use unico_store::{Purpose, dedupe};

/// Everything the back office shows of one customer.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerCard {
    /// Registrations, cards, consents and merges.
    #[serde(flatten)]
    pub view: unico_store::privacy::CustomerView,
    /// The model's profile of each card.
    pub profiles: Vec<unico_store::profiles::Profile>,
    /// Products due again.
    pub due_items: Vec<unico_store::profiles::DueItem>,
    /// The offers valid on `on`.
    pub offers: Vec<unico_store::campaigns::StoredOffer>,
    /// The day the offers are valid on.
    #[serde(skip)]
    pub on: jiff::civil::Date,
}

/// A consent recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentChange {
    /// Who, as the caller named them.
    pub customer: String,
    /// The purpose.
    pub purpose: Purpose,
    /// Given (true) or withdrawn.
    pub granted: bool,
}

/// A merge undone.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Unmerged {
    /// The customer the registration was merged into.
    pub from: i64,
    /// The registration separated again.
    pub restored: i64,
}

/// What an erased card becomes in the rejects files.
pub const ERASED: &str = "[erased]";

/// Replaces every occurrence of `cards` standing as a value of its own (not inside a longer
/// run of letters and digits) in the rejects files, each file rewritten atomically.
pub(crate) fn scrub_rejects(dir: &std::path::Path, cards: &[String]) -> Result<()> {
    let cards: Vec<&str> = cards.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    if cards.is_empty() {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let scrubbed = cards.iter().fold(text.clone(), |t, card| replace_value(&t, card));
        if scrubbed != text {
            unico_core::fs::write_atomic(&path, scrubbed.as_bytes())
                .with_context(|| format!("cannot rewrite {}", path.display()))?;
        }
    }
    Ok(())
}

/// `text` with `value` replaced by [`ERASED`] wherever it is not part of a longer word.
fn replace_value(text: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(value) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + value.len()..].chars().next();
        let alone =
            !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric());
        out.push_str(&rest[..i]);
        out.push_str(if alone { ERASED } else { value });
        rest = &rest[i + value.len()..];
    }
    out.push_str(rest);
    out
}

/// One card's P(alive) over time.
#[derive(Debug, Clone, Serialize)]
pub struct PAliveSeries {
    /// The card's pseudonymous key.
    pub customer_key: String,
    /// Week by week, oldest first.
    pub points: Vec<PAlivePoint>,
}

/// P(alive) on a day.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PAlivePoint {
    /// The day judged (the end of a week up to the model's date).
    pub day: jiff::civil::Date,
    /// The probability that the customer is still active then (0–1).
    pub p_alive: f64,
}

/// A card of the customer master.
#[derive(Debug, Clone, Serialize)]
pub struct CardRow {
    /// The customer's id.
    pub customer_id: i64,
    /// The card number.
    pub card: String,
    /// Its pseudonymous key in the lake.
    pub customer_key: String,
}

impl App {
    /// The single customer view of a customer found by card, e-mail, phone or `#id`, with
    /// the offers valid on `on` (default: today in the chain's zone).
    pub fn customer(&self, who: &str, on: Option<&str>) -> Result<CustomerCard> {
        let on = match on {
            Some(d) => d.parse().map_err(|_| Error::new(Code::InputInvalid, format!("--on {d:?} is not a date")))?,
            None => self.today(),
        };
        self.with_store(async |store| {
            Ok(CustomerCard {
                view: store.view(who).await?,
                profiles: store.profiles_of(who).await?,
                due_items: store.due_items_of(who).await?,
                offers: store.offers_of(who, &on.to_string()).await?,
                on,
            })
        })
    }

    /// Pairs of registrations that may be one person, scoring at least `min_score`.
    pub fn duplicates(&self, min_score: f64) -> Result<Vec<dedupe::Candidate>> {
        self.with_store(async |store| Ok(dedupe::candidates(store, min_score).await?))
    }

    /// Merges the registrations scoring at least `threshold` (default: the setting),
    /// comparing the registrations new or changed since the last run.
    pub fn merge_duplicates(&self, threshold: Option<f64>) -> Result<Merged> {
        self.merge_duplicates_with(threshold, false, &crate::progress::Silent)
    }

    /// [`App::merge_duplicates`], comparing every registration again when `full`, with the
    /// passes (one per blocking key) shown on `progress`.
    pub fn merge_duplicates_with(
        &self,
        threshold: Option<f64>,
        full: bool,
        progress: &dyn crate::progress::Progress,
    ) -> Result<Merged> {
        let threshold = threshold.unwrap_or(self.settings().dedupe_threshold);
        if !(threshold > 0.0 && threshold <= 1.0) {
            bail!(Code::InputInvalid, "the merge threshold {threshold} must be above 0 and at most 1");
        }
        progress.begin("comparing registrations", crate::progress::Unit::People, 5);
        let mut on_key = |k: usize, what: &str| {
            progress.update(k as u64, 5);
            progress.message(&format!("comparing registrations by {what}"));
        };
        let (merges, run) =
            self.with_store(async |store| Ok(dedupe::merge_duplicates(store, threshold, full, &mut on_key).await?))?;
        progress.update(5, 5);
        Ok(Merged { threshold, merges, run })
    }

    /// Undoes the merge of the registration holding `card`.
    pub fn unmerge(&self, card: &str) -> Result<Unmerged> {
        let (from, restored) = self.with_store(async |store| Ok(dedupe::unmerge(store, card).await?))?;
        Ok(Unmerged { from, restored })
    }

    /// Records a consent given or withdrawn now (`source`: who recorded it, e.g.
    /// `back-office`).
    pub fn set_consent(
        &self,
        who: &str,
        purpose: &str,
        granted: bool,
        policy_version: Option<&str>,
        source: &str,
    ) -> Result<ConsentChange> {
        let p = Purpose::parse(purpose)
            .with_context(|| format!("unknown purpose {purpose:?} (marketing, profiling, email, sms, app)"))?;
        let version = policy_version.map_or_else(|| self.settings().privacy_policy_version.clone(), str::to_string);
        self.with_store(async |store| Ok(store.set_consent(who, p, granted, &version, source).await?))?;
        Ok(ConsentChange { customer: who.to_string(), purpose: p, granted })
    }

    /// Everything held about a person (right of access).
    pub fn export_customer(&self, who: &str) -> Result<serde_json::Value> {
        self.with_store(async |store| Ok(store.export(who).await?))
    }

    /// Every card with its customer id and lake key.
    pub fn cards(&self) -> Result<Vec<CardRow>> {
        let cards = self.with_store(async |store| Ok(store.cards().await?))?;
        Ok(cards
            .into_iter()
            .map(|(customer_id, card, customer_key)| CardRow { customer_id, card, customer_key })
            .collect())
    }
}

/// What the model and the campaigns hold about a customer, without their personal data.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerProfile {
    /// The customer's id.
    pub id: i64,
    /// The model's profile of each card.
    pub profiles: Vec<unico_store::profiles::Profile>,
    /// Products due again.
    pub due_items: Vec<unico_store::profiles::DueItem>,
    /// The offers valid on `on` (published campaigns only).
    pub offers: Vec<unico_store::campaigns::StoredOffer>,
    /// The day the offers are valid on.
    pub on: jiff::civil::Date,
}

impl App {
    /// A customer's behavioural profile, products due and offers of the day, without opening
    /// their personal data (what marketing may see).
    pub fn customer_profile(&self, who: &str, on: Option<&str>) -> Result<CustomerProfile> {
        let on = match on {
            Some(d) => d.parse().map_err(|_| Error::new(Code::InputInvalid, format!("--on {d:?} is not a date")))?,
            None => self.today(),
        };
        self.with_store(async |store| {
            let id = store.resolve(who).await?;
            let who = format!("#{id}");
            Ok(CustomerProfile {
                id,
                profiles: store.profiles_of(&who).await?,
                due_items: store.due_items_of(&who).await?,
                offers: store.offers_of(&who, &on.to_string()).await?,
                on,
            })
        })
    }

    /// P(alive) of each of a customer's cards (the model scores each card's key apart) as
    /// the model's BG/NBD fit judges it at the end of each of the last `weeks` weeks up to
    /// the model's date, from that card's purchase days in the lake up to each week's end: a
    /// series per published profile, in the profiles' order, whose last point is that
    /// profile's P(alive). Reads the lake's keys and days once (two columns of every
    /// receipt file).
    pub fn p_alive_history(&self, who: &str, weeks: u32) -> Result<Vec<PAliveSeries>> {
        use arrow_array::Array;
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Date32Type, Int64Type};
        let profiles = self.with_store(async |store| Ok(store.profiles_of(who).await?))?;
        if profiles.is_empty() {
            return Ok(Vec::new());
        }
        let params = self.model_params()?;
        let as_of: jiff::civil::Date =
            params.as_of.parse().map_err(|_| Error::new(Code::Internal, format!("model date {:?}", params.as_of)))?;
        let end = unico_core::day::day_of(as_of);
        let mut days: std::collections::HashMap<String, Vec<(i32, f64)>> =
            profiles.iter().map(|p| (p.customer_key.clone(), Vec::new())).collect();
        let lake = self.lake_view()?;
        for file in lake.parquet_files(unico_lake::Dataset::Receipts)? {
            unico_lake::read::for_each_batch(&file, &["customer_key", "local_date", "net_amount_cents"], |b| {
                let k = b.column(0).as_string::<i32>();
                let d = b.column(1).as_primitive::<Date32Type>();
                let v = b.column(2).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    if !k.is_valid(i) || d.value(i) > end {
                        continue;
                    }
                    if let Some(list) = days.get_mut(k.value(i)) {
                        list.push((d.value(i), v.value(i) as f64 / 100.0));
                    }
                }
                Ok(())
            })?;
        }
        let unit = params.unit;
        Ok(profiles
            .iter()
            .map(|p| {
                let mine = &days[&p.customer_key];
                let points = (0..weeks)
                    .rev()
                    .filter_map(|w| {
                        let day = end - 7 * w as i32;
                        let s = unico_model::clv::summary::Summary::from_transactions(mine, day, unit)?;
                        Some(PAlivePoint { day: unico_core::day::date_of(day), p_alive: params.bgnbd.p_alive(&s) })
                    })
                    .collect();
                PAliveSeries { customer_key: p.customer_key.clone(), points }
            })
            .collect())
    }

    /// Every offer made to a customer in a published campaign, newest first (at most
    /// `limit`), with when it was redeemed.
    pub fn offer_history(&self, who: &str, limit: i64) -> Result<Vec<unico_store::campaigns::OfferRecord>> {
        self.with_store(async |store| Ok(store.offer_history(who, limit).await?))
    }

    /// The id of the customer a card, e-mail, phone or `#id` names (following merges),
    /// without opening their personal data.
    pub fn resolve_customer(&self, reference: &str) -> Result<i64> {
        self.with_store(async |store| Ok(store.resolve(reference).await?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_card_is_replaced_where_it_stands_alone() {
        let text = "line,record\n3,R1;2025-01-01;S1;4000000003;A\n4,R2;40000000031;x4000000003\n";
        assert_eq!(
            super::replace_value(text, "4000000003"),
            "line,record\n3,R1;2025-01-01;S1;[erased];A\n4,R2;40000000031;x4000000003\n"
        );
    }
}
