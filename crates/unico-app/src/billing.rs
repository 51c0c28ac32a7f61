//! The results-based bill: `unico billing --month YYYY-MM`. A retailer that pays on results
//! pays for what Unico's campaigns measurably added, against their holdouts.
//!
//! A campaign is billed **in the month it ends**, on its whole measurement — the same
//! `unico measure` gives for it (all offer types, CUPED, 95 % intervals) — once the lake
//! holds its last day; a campaign still running at the month's end, or whose last days are
//! not in the lake yet, is listed and billed in its own month. Only campaigns that reached
//! customers are billed: published (or stopped) ones, or ones whose redemptions were
//! recorded. The month's totals add the campaigns' estimates, with an interval from their
//! standard errors (the campaigns' customers are measured apart). The fee follows the
//! tariff in `unico.toml` (`[billing]`): the monthly fee plus the share of the incremental
//! revenue, the share only, or the lower of the two; the share applies to the estimate or
//! to its interval's low end (`basis`), never below zero. See `docs/billing.md`.

use crate::App;
use crate::error::{Code, Error, Result};
use crate::kpi::MeasureRequest;
use askama::Template;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A measured amount, cents, with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Amount {
    /// The estimate.
    pub estimate_cents: f64,
    /// The interval's low end.
    pub low_cents: f64,
    /// The interval's high end.
    pub high_cents: f64,
}

/// A campaign billed this month.
#[derive(Debug, Clone, Serialize)]
pub struct BilledCampaign {
    /// Its id.
    pub campaign: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Treated customers and held-out ones.
    pub treated: u64,
    /// Held-out customers.
    pub holdout: u64,
    /// Offers redeemed.
    pub redeemed_offers: i64,
    /// Discount given, cents.
    pub discount_cents: i64,
    /// Incremental revenue against the holdout.
    pub incremental_revenue: Amount,
    /// Incremental margin against the holdout.
    pub incremental_margin: Amount,
}

/// A campaign that ran this month but is billed in another.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    /// Its id.
    pub campaign: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Why it is not billed this month.
    pub reason: String,
}

/// The bill of a month.
#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    /// `YYYY-MM`.
    pub month: String,
    /// The currency of every amount.
    pub currency: String,
    /// The tariff (`fee_plus_share`, `share`, `lower_of`).
    pub tariff: String,
    /// What the share applies to (`estimate`, `lower_bound`).
    pub basis: String,
    /// The monthly fee, cents.
    pub monthly_fee_cents: i64,
    /// The share of incremental revenue (0–1).
    pub revenue_share: f64,
    /// The interval's confidence level.
    pub level: f64,
    /// The campaigns billed: those that ended this month.
    pub campaigns: Vec<BilledCampaign>,
    /// Campaigns that ran this month and are billed later.
    pub pending: Vec<Pending>,
    /// Their incremental revenue, added up.
    pub incremental_revenue: Amount,
    /// Their incremental margin, added up.
    pub incremental_margin: Amount,
    /// The revenue the share applies to, cents (never below zero).
    pub billable_revenue_cents: i64,
    /// The share of it, cents.
    pub share_cents: i64,
    /// The fee for the month, cents.
    pub fee_cents: i64,
}

/// What `unico billing` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BillFiles {
    /// The bill.
    pub bill: Bill,
    /// The CSV.
    pub csv: PathBuf,
    /// The printable page.
    pub html: PathBuf,
}

fn amount(e: &unico_kpi::stats::Estimate) -> Amount {
    Amount { estimate_cents: e.effect, low_cents: e.low, high_cents: e.high }
}

/// The sum of independent estimates, its interval from their standard errors.
fn total(parts: &[(&unico_kpi::stats::Estimate, f64)]) -> Amount {
    let effect: f64 = parts.iter().map(|(e, _)| e.effect).sum();
    let se = parts.iter().map(|(e, _)| e.standard_error * e.standard_error).sum::<f64>().sqrt();
    let z = parts.first().map_or(0.0, |(_, z)| *z);
    Amount { estimate_cents: effect, low_cents: effect - z * se, high_cents: effect + z * se }
}

/// The normal quantile an estimate's interval was drawn with.
fn z_of(e: &unico_kpi::stats::Estimate) -> f64 {
    if e.standard_error > 0.0 { (e.high - e.effect) / e.standard_error } else { 1.959_963_984_540_054 }
}

impl App {
    /// The bill of `month` (`YYYY-MM`).
    pub fn bill(&self, month: &str) -> Result<Bill> {
        let first: jiff::civil::Date = format!("{month}-01")
            .parse()
            .map_err(|_| Error::new(Code::InputInvalid, format!("--month {month:?} is not YYYY-MM")))?;
        let last = first.last_of_month();
        let settings = self.settings().billing.clone();
        let lake_last = self.last_day().ok();
        let campaigns = self.campaigns()?;
        let mut billed = Vec::new();
        let mut pending = Vec::new();
        let mut estimates = Vec::new();
        for c in campaigns {
            let (Ok(from), Ok(to)) =
                (c.valid_from.parse::<jiff::civil::Date>(), c.valid_to.parse::<jiff::civil::Date>())
            else {
                continue;
            };
            if from > last || to < first {
                continue;
            }
            let pend = |reason: String| Pending {
                campaign: c.id.clone(),
                from: c.valid_from.clone(),
                to: c.valid_to.clone(),
                reason,
            };
            if to > last {
                pending.push(pend(format!("ends on {to}: billed in {}", &c.valid_to[..7])));
                continue;
            }
            if lake_last.is_none_or(|d| d < to) {
                pending.push(pend(format!(
                    "the lake's receipts end on {}: billed once they reach {to}",
                    lake_last.map_or("(none)".into(), |d| d.to_string())
                )));
                continue;
            }
            let req = MeasureRequest { campaign: Some(c.id.clone()), as_of: Some(c.valid_to.clone()), level: 0.95 };
            let report = self.measure(&req)?;
            let Some(m) = report.campaigns.into_iter().next() else { continue };
            if c.status == "planned" && m.redeemed_offers == 0 {
                // Stored, never published, no redemption recorded: it reached nobody.
                continue;
            }
            let Some(all) = m.by_offer_type.iter().find(|p| p.offer_type == "all").map(|p| p.measurement.clone())
            else {
                pending.push(pend("not measurable: fewer than two customers in an arm".into()));
                continue;
            };
            estimates.push((all.incremental_revenue, all.incremental_margin));
            billed.push(BilledCampaign {
                campaign: c.id.clone(),
                from: c.valid_from.clone(),
                to: c.valid_to.clone(),
                treated: all.treated,
                holdout: all.holdout,
                redeemed_offers: m.redeemed_offers,
                discount_cents: m.discount_cents,
                incremental_revenue: amount(&all.incremental_revenue),
                incremental_margin: amount(&all.incremental_margin),
            });
        }
        let revenue = total(&estimates.iter().map(|(r, _)| (r, z_of(r))).collect::<Vec<_>>());
        let margin = total(&estimates.iter().map(|(_, m)| (m, z_of(m))).collect::<Vec<_>>());
        let base = if settings.basis == "estimate" { revenue.estimate_cents } else { revenue.low_cents };
        let billable = base.max(0.0).round() as i64;
        let share = (settings.revenue_share * billable as f64).round() as i64;
        let fee = match settings.tariff.as_str() {
            "share" => share,
            "lower_of" => share.min(settings.monthly_fee_cents),
            _ => settings.monthly_fee_cents + share,
        };
        Ok(Bill {
            month: month.to_string(),
            currency: self.settings().currency.clone(),
            tariff: settings.tariff,
            basis: settings.basis,
            monthly_fee_cents: settings.monthly_fee_cents,
            revenue_share: settings.revenue_share,
            level: 0.95,
            campaigns: billed,
            pending,
            incremental_revenue: revenue,
            incremental_margin: margin,
            billable_revenue_cents: billable,
            share_cents: share,
            fee_cents: fee,
        })
    }

    /// The bill of `month` written to `dir` as `bill-<month>.csv` and `bill-<month>.html`.
    pub fn write_bill(&self, month: &str, dir: &Path) -> Result<BillFiles> {
        let bill = self.bill(month)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::with_source(Code::Io, format!("cannot create {}", dir.display()), e))?;
        let csv = dir.join(format!("bill-{month}.csv"));
        let html = dir.join(format!("bill-{month}.html"));
        write_whole(&csv, &bill_csv(&bill))?;
        let page = BillPage { b: &bill }.render().map_err(|e| Error::new(Code::Internal, e.to_string()))?;
        write_whole(&html, &page)?;
        Ok(BillFiles { bill, csv, html })
    }
}

fn write_whole(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Error::with_source(Code::Io, format!("cannot write {}", path.display()), e))
}

/// The bill as CSV: a line per campaign, then the month's total and the fee.
pub fn bill_csv(b: &Bill) -> String {
    let mut out = String::from(
        "line,campaign,from,to,treated,holdout,redeemed_offers,discount_cents,incremental_revenue_cents,\
         incremental_revenue_low_cents,incremental_revenue_high_cents,incremental_margin_cents,\
         incremental_margin_low_cents,incremental_margin_high_cents\n",
    );
    let r = |a: &Amount| format!("{:.0},{:.0},{:.0}", a.estimate_cents, a.low_cents, a.high_cents);
    for c in &b.campaigns {
        out.push_str(&format!(
            "campaign,\"{}\",{},{},{},{},{},{},{},{}\n",
            c.campaign.replace('"', "\"\""),
            c.from,
            c.to,
            c.treated,
            c.holdout,
            c.redeemed_offers,
            c.discount_cents,
            r(&c.incremental_revenue),
            r(&c.incremental_margin)
        ));
    }
    out.push_str(&format!("total,,{}-01,,,,,,{},{}\n", b.month, r(&b.incremental_revenue), r(&b.incremental_margin)));
    out.push_str(&format!(
        "fee,\"{} ({} of the {} of incremental revenue, {} monthly fee)\",,,,,,,{},,,{},,\n",
        b.tariff, b.revenue_share, b.basis, b.monthly_fee_cents, b.billable_revenue_cents, b.fee_cents
    ));
    out
}

/// The printable page of a bill.
#[derive(Template)]
#[template(path = "bill.html")]
struct BillPage<'a> {
    b: &'a Bill,
}

impl BillPage<'_> {
    fn money(&self, cents: &f64) -> String {
        let c = cents.round() as i64;
        format!("{}{}.{:02} {}", if c < 0 { "−" } else { "" }, (c / 100).abs(), (c % 100).abs(), self.b.currency)
    }
    fn cents(&self, cents: &i64) -> String {
        self.money(&(*cents as f64))
    }
    fn percent(&self) -> String {
        format!("{:.1} %", self.b.revenue_share * 100.0)
    }
    fn tariff_words(&self) -> &'static str {
        match self.b.tariff.as_str() {
            "share" => "a share of the incremental revenue",
            "lower_of" => "the lower of the monthly fee and the share of the incremental revenue",
            _ => "the monthly fee plus a share of the incremental revenue",
        }
    }
    fn basis_words(&self) -> &'static str {
        if self.b.basis == "estimate" {
            "the measured incremental revenue"
        } else {
            "the low end of the incremental revenue's 95 % interval (only what is surely there)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(effect: f64, se: f64) -> unico_kpi::stats::Estimate {
        unico_kpi::stats::Estimate {
            effect,
            standard_error: se,
            low: effect - 1.96 * se,
            high: effect + 1.96 * se,
            level: 0.95,
        }
    }

    #[test]
    fn independent_campaigns_add_their_estimates_and_their_variances() {
        let (a, b) = (e(1000.0, 300.0), e(-200.0, 400.0));
        let t = total(&[(&a, z_of(&a)), (&b, z_of(&b))]);
        assert!((t.estimate_cents - 800.0).abs() < 1e-9);
        // sqrt(300² + 400²) = 500.
        assert!((t.low_cents - (800.0 - 1.96 * 500.0)).abs() < 1e-6, "{t:?}");
        assert!((t.high_cents - (800.0 + 1.96 * 500.0)).abs() < 1e-6);
        let none = total(&[]);
        assert_eq!((none.estimate_cents, none.low_cents, none.high_cents), (0.0, 0.0, 0.0));
    }
}
