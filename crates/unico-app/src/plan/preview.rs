//! A planned campaign as the back office previews it before publishing: the budgets and
//! what the plan expects to spend of each, the expected incremental margin, the offers by
//! segment, category and type, how many distinct personal sets, and a sample of customers
//! with their offers and reasons — read from the campaign's own files, so the preview is
//! exactly what the channels and the tills get.

use crate::App;
use crate::error::{Code, Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A campaign's preview.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignPreview {
    /// The campaign's id.
    pub id: String,
    /// The campaign directory.
    pub directory: PathBuf,
    /// The whole budget, cents (none when only supplier budgets bound the campaign).
    pub total_cents: i64,
    /// What the budget is counted on: `expected` or `worst_case`.
    pub basis: String,
    /// Expected cost of the discounts, cents.
    pub expected_cost_cents: i64,
    /// Cost if every offer were redeemed, cents.
    pub worst_cost_cents: i64,
    /// Expected incremental margin, cents.
    pub expected_incremental_margin_cents: i64,
    /// Each limited budget with its use.
    pub limits: Vec<Limit>,
    /// Customers by outcome (`personal`, `generic`, `holdout`, …).
    pub customers: BTreeMap<String, i64>,
    /// Offers made.
    pub offers: i64,
    /// Distinct offer sets among the customers with offers.
    pub distinct_offer_sets: i64,
    /// By RFM segment.
    pub by_segment: Vec<Breakdown>,
    /// By product category.
    pub by_category: Vec<Breakdown>,
    /// By offer type (why it is made: due, win-back, new product…).
    pub by_kind: Vec<Breakdown>,
    /// The first customers with personal offers, with their offers.
    pub sample: Vec<SampleCustomer>,
}

/// A limited budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limit {
    /// What it covers (`category Coffee`, `supplier Zeta Import`).
    pub scope: String,
    /// Its amount, cents.
    pub cents: i64,
    /// What the plan expects to use, cents (on the campaign's basis).
    pub used_cents: i64,
    /// Paid by the supplier.
    pub supplier_funded: bool,
}

/// Offers grouped one way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Breakdown {
    /// The group.
    pub name: String,
    /// Customers with at least one offer in it.
    pub customers: i64,
    /// Offers.
    pub offers: i64,
    /// Expected cost, cents.
    pub expected_cost_cents: i64,
    /// Expected incremental margin, cents.
    pub expected_incremental_margin_cents: i64,
}

/// One customer of the sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleCustomer {
    /// Their card.
    pub customer_id: String,
    /// Their segment.
    pub segment: String,
    /// Their offers, best first.
    pub offers: Vec<SampleOffer>,
}

/// One offer of the sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleOffer {
    /// The product or category.
    pub product: String,
    /// The offer type.
    pub kind: String,
    /// Percent off (0 for other mechanics).
    pub percent_off: i64,
    /// The discount if redeemed, cents.
    pub discount_cents: i64,
    /// The reason shown to the customer.
    pub reason: String,
}

#[derive(Deserialize)]
struct Summary {
    budget: Budget,
    customers: BTreeMap<String, i64>,
    offers: i64,
    distinct_offer_sets: i64,
    expected_incremental_margin_cents: i64,
}

#[derive(Deserialize)]
struct Budget {
    basis: String,
    expected_cost_cents: i64,
    worst_cost_cents: i64,
    total_cents: i64,
    limits: Vec<Limit>,
}

#[derive(Deserialize)]
struct OfferRow {
    customer_id: String,
    product: String,
    category: String,
    kind: String,
    percent_off: i64,
    discount_cents: i64,
    expected_cost_cents: i64,
    expected_incremental_margin_cents: i64,
    personal: String,
    reason: String,
}

#[derive(Deserialize)]
struct CustomerRow {
    customer_id: String,
    segment: String,
}

/// Customers shown in the sample.
const SAMPLE: usize = 8;

impl App {
    /// The preview of a campaign planned into a directory this data directory knows.
    pub fn campaign_preview(&self, id: &str) -> Result<CampaignPreview> {
        let dir = self
            .with_store(async |store| Ok(store.campaign_directory(id).await?))?
            .ok_or_else(|| Error::new(Code::NotFound, format!("no campaign files for {id:?}")))?;
        let dir = PathBuf::from(dir);
        let read = |name: &str| {
            std::fs::File::open(dir.join(name)).with_context(|| format!("cannot read {}", dir.join(name).display()))
        };
        let summary: Summary = serde_json::from_reader(std::io::BufReader::new(read("campaign.json")?))
            .map_err(|e| Error::new(Code::FileUnusable, format!("{}: {e}", dir.join("campaign.json").display())))?;
        let mut segments: BTreeMap<String, String> = BTreeMap::new();
        for row in csv::Reader::from_reader(read("customers.csv")?).deserialize::<CustomerRow>() {
            let row = row.map_err(|e| Error::new(Code::FileUnusable, format!("customers.csv: {e}")))?;
            segments.insert(row.customer_id, row.segment);
        }
        let mut groups: [BTreeMap<String, (Breakdown, std::collections::BTreeSet<String>)>; 3] = Default::default();
        let mut sample: BTreeMap<String, Vec<SampleOffer>> = BTreeMap::new();
        for row in csv::Reader::from_reader(read("offers.csv")?).deserialize::<OfferRow>() {
            let o = row.map_err(|e| Error::new(Code::FileUnusable, format!("offers.csv: {e}")))?;
            let segment = segments.get(&o.customer_id).cloned().unwrap_or_default();
            for (g, name) in groups.iter_mut().zip([&segment, &o.category, &o.kind]) {
                let (b, who) = g.entry(name.clone()).or_default();
                b.name.clone_from(name);
                b.offers += 1;
                b.expected_cost_cents += o.expected_cost_cents;
                b.expected_incremental_margin_cents += o.expected_incremental_margin_cents;
                who.insert(o.customer_id.clone());
            }
            let in_sample = sample.contains_key(&o.customer_id) || sample.len() < SAMPLE;
            if o.personal == "yes" && in_sample {
                sample.entry(o.customer_id.clone()).or_default().push(SampleOffer {
                    product: o.product,
                    kind: o.kind,
                    percent_off: o.percent_off,
                    discount_cents: o.discount_cents,
                    reason: o.reason,
                });
            }
        }
        let [by_segment, by_category, by_kind] = groups.map(|g| {
            let mut v: Vec<Breakdown> = g
                .into_values()
                .map(|(mut b, who)| {
                    b.customers = who.len() as i64;
                    b
                })
                .collect();
            v.sort_by(|a, b| b.offers.cmp(&a.offers).then_with(|| a.name.cmp(&b.name)));
            v
        });
        Ok(CampaignPreview {
            id: id.to_string(),
            directory: dir,
            total_cents: summary.budget.total_cents,
            basis: summary.budget.basis,
            expected_cost_cents: summary.budget.expected_cost_cents,
            worst_cost_cents: summary.budget.worst_cost_cents,
            expected_incremental_margin_cents: summary.expected_incremental_margin_cents,
            limits: summary.budget.limits,
            customers: summary.customers,
            offers: summary.offers,
            distinct_offer_sets: summary.distinct_offer_sets,
            by_segment,
            by_category,
            by_kind,
            sample: sample
                .into_iter()
                .map(|(customer_id, offers)| SampleCustomer {
                    segment: segments.get(&customer_id).cloned().unwrap_or_default(),
                    customer_id,
                    offers,
                })
                .collect(),
        })
    }
}
