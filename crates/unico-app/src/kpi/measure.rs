//! Each campaign's uplift against its holdout: intention to treat on whole spend, per offer
//! type, with CUPED, intervals, ROI and the always-valid sequential test.

use super::parse_day;
use crate::error::{Code, Result};
use crate::{App, bail};
use serde::Serialize;
use unico_kpi::cube;
use unico_kpi::days::date_of;
use unico_kpi::measure::{self, Measurement};

/// What to measure.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureRequest {
    /// One campaign by id; default: every campaign started by `as_of`.
    pub campaign: Option<String>,
    /// Measure with the data up to this day; default: the lake's last.
    pub as_of: Option<String>,
    /// Confidence level of the intervals (the sequential test's α is 1 − level).
    pub level: f64,
}

/// The campaigns measured.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureReport {
    /// The day measured to.
    pub as_of: jiff::civil::Date,
    /// The confidence level.
    pub level: f64,
    /// Each campaign started by then.
    pub campaigns: Vec<CampaignMeasurement>,
}

/// One campaign's uplift.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignMeasurement {
    /// Its id.
    pub campaign: String,
    /// First day.
    pub from: jiff::civil::Date,
    /// Last day.
    pub to: jiff::civil::Date,
    /// Measured to.
    pub as_of: jiff::civil::Date,
    /// Offers redeemed.
    pub redeemed_offers: i64,
    /// Discount given, cents.
    pub discount_cents: i64,
    /// Incremental margin per cent of discount (all offer types).
    pub roi: Option<f64>,
    /// All, personal and generic offers against their holdouts.
    pub by_offer_type: Vec<OfferTypeMeasurement>,
}

/// The measurement of one offer type.
#[derive(Debug, Clone, Serialize)]
pub struct OfferTypeMeasurement {
    /// `all`, `personal` or `generic`.
    pub offer_type: String,
    /// The uplift.
    pub measurement: Measurement,
}

impl App {
    /// Measures campaigns against their holdouts.
    pub fn measure(&self, req: &MeasureRequest) -> Result<MeasureReport> {
        if !(0.5..1.0).contains(&req.level) {
            bail!(Code::InputInvalid, "--level is a confidence level between 0.5 and 1, e.g. 0.95");
        }
        let lake = self.lake_view()?;
        let as_of = match &req.as_of {
            Some(d) => parse_day("--as-of", d)?,
            None => self.last_plausible_day(&lake)?,
        };
        let all = self
            .with_store(async |store| Ok(store.campaigns_between("0000-01-01", &date_of(as_of).to_string()).await?))?;
        let chosen: Vec<_> = match &req.campaign {
            Some(id) => {
                let c: Vec<_> = all.into_iter().filter(|c| &c.0 == id).collect();
                if c.is_empty() {
                    bail!(Code::CampaignNotFound, "no campaign {id:?} has started by {}", date_of(as_of));
                }
                c
            }
            None => all,
        };
        let (members, redemptions) = self.with_store(async |store| {
            let (mut members, mut redemptions) = (Vec::new(), Vec::new());
            for (id, _, _) in &chosen {
                members.push(store.members_of(id).await?);
                redemptions.push(store.campaign_redemptions(id).await?);
            }
            Ok((members, redemptions))
        })?;
        let inputs: Vec<measure::Campaign> = chosen
            .iter()
            .zip(&members)
            .map(|((id, f, t), m)| {
                Ok(measure::Campaign {
                    id: id.clone(),
                    from: super::parse_day("from", f)?,
                    to: super::parse_day("to", t)?,
                    members: m.iter().map(|r| (r.customer_key.clone(), r.status != "holdout")).collect(),
                })
            })
            .collect::<Result<_>>()?;
        let costs = cube::unit_costs(&lake)?;
        let outcomes = measure::outcomes(&lake, &inputs, as_of, &costs)?;
        let mut campaigns = Vec::new();
        for (((c, m), o), (redeemed, discount)) in inputs.iter().zip(&members).zip(&outcomes).zip(&redemptions) {
            let mut parts: Vec<(String, Measurement)> = Vec::new();
            for kind in ["all", "personal", "generic"] {
                let pick = |holdout: bool| -> Vec<&measure::Outcome> {
                    m.iter()
                        .zip(o)
                        .filter(|(r, _)| (r.status == "holdout") == holdout && (kind == "all" || r.offer_type == kind))
                        .map(|(_, x)| x)
                        .collect()
                };
                let (t, h) = (pick(false), pick(true));
                if t.len() >= 2 && h.len() >= 2 {
                    parts.push((kind.to_string(), measure::measure(&t, &h, req.level)));
                }
            }
            let roi =
                parts.first().filter(|_| *discount > 0).map(|(_, r)| r.incremental_margin.effect / *discount as f64);
            campaigns.push(CampaignMeasurement {
                campaign: c.id.clone(),
                from: date_of(c.from),
                to: date_of(c.to),
                as_of: date_of(as_of),
                redeemed_offers: *redeemed,
                discount_cents: *discount,
                roi,
                by_offer_type: parts
                    .into_iter()
                    .map(|(offer_type, measurement)| OfferTypeMeasurement { offer_type, measurement })
                    .collect(),
            });
        }
        Ok(MeasureReport { as_of: date_of(as_of), level: req.level, campaigns })
    }
}
