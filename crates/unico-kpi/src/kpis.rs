//! The programme's KPIs: one definition each (also written in `docs/kpis.md`), one
//! implementation ([`Measures::value`]), used by the report, the goals and the tests alike.

use crate::cube::{ALL, CHANNELS, Cell, Cube, Group};
use crate::days::{Grain, date_of};
use serde::Serialize;
use serde::ser::SerializeMap;
use std::collections::{BTreeMap, BTreeSet};

/// What the operational store adds to a period and group: offers, surveys, and the
/// incremental revenue and margin measured against campaign holdouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Facts {
    /// Offers whose validity starts in the period.
    pub offers_issued: u64,
    /// Of them, those redeemed (at any time so far).
    pub issued_redeemed: u64,
    /// Offers activated (booked in the app) in the period.
    pub offers_activated: u64,
    /// Offers redeemed in the period.
    pub offers_redeemed: u64,
    /// Discount given on the offers redeemed in the period, cents.
    pub offer_discount_cents: i64,
    /// CSAT answers (1–5) in the period.
    pub csat_answers: u64,
    /// Of them, 4 or 5.
    pub csat_satisfied: u64,
    /// NPS answers (0–10).
    pub nps_answers: u64,
    /// Of them, 9 or 10.
    pub promoters: u64,
    /// Of them, 0 to 6.
    pub detractors: u64,
    /// Incremental revenue against the holdout, spread evenly over each campaign's days, cents.
    pub incremental_revenue_cents: f64,
    /// Incremental margin against the holdout, likewise, cents.
    pub incremental_margin_cents: f64,
    /// Whether any campaign was measured in the period.
    pub measured: bool,
}

impl Facts {
    /// Adds another period's or group's facts.
    pub fn add(&mut self, o: &Facts) {
        self.offers_issued += o.offers_issued;
        self.issued_redeemed += o.issued_redeemed;
        self.offers_activated += o.offers_activated;
        self.offers_redeemed += o.offers_redeemed;
        self.offer_discount_cents += o.offer_discount_cents;
        self.csat_answers += o.csat_answers;
        self.csat_satisfied += o.csat_satisfied;
        self.nps_answers += o.nps_answers;
        self.promoters += o.promoters;
        self.detractors += o.detractors;
        self.incremental_revenue_cents += o.incremental_revenue_cents;
        self.incremental_margin_cents += o.incremental_margin_cents;
        self.measured |= o.measured;
    }

    /// Records one survey answer: `csat` on 1–5 or `nps` on 0–10.
    pub fn add_answer(&mut self, question: &str, score: i64) {
        match question {
            "csat" => {
                self.csat_answers += 1;
                self.csat_satisfied += u64::from(score >= 4);
            }
            "nps" => {
                self.nps_answers += 1;
                self.promoters += u64::from(score >= 9);
                self.detractors += u64::from(score <= 6);
            }
            _ => {}
        }
    }
}

/// Everything a KPI is computed from, for one period and group (or a sum of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Measures {
    /// From the lake.
    pub cell: Cell,
    /// From the store.
    pub facts: Facts,
}

impl Measures {
    /// Adds another period's or group's measures (customer counts add up only across
    /// disjoint groups, never across periods).
    pub fn add(&mut self, o: &Measures) {
        self.cell.add(&o.cell);
        self.facts.add(&o.facts);
    }

    /// The KPI's value, `None` where it is undefined (a ratio over nothing, a change with no
    /// previous period). `previous` is the same group's previous period.
    pub fn value(&self, kpi: Kpi, previous: Option<&Measures>) -> Option<f64> {
        let c = &self.cell;
        let f = &self.facts;
        let ratio = |a: f64, b: f64| (b != 0.0).then(|| a / b);
        let avg_card = ratio(c.card.revenue_cents as f64, c.card.receipts as f64);
        let avg_no_card = ratio(c.no_card.revenue_cents as f64, c.no_card.receipts as f64);
        let revenue = (c.card.revenue_cents + c.no_card.revenue_cents) as f64;
        let share = ratio(c.card.revenue_cents as f64, revenue);
        let gap = |m: &Measures| m.value(Kpi::AverageReceiptCard, None).zip(m.value(Kpi::AverageReceiptNoCard, None));
        use Kpi::*;
        match kpi {
            Revenue => Some(revenue),
            RevenueCard => Some(c.card.revenue_cents as f64),
            RevenueNoCard => Some(c.no_card.revenue_cents as f64),
            ReceiptsCard => Some(c.card.receipts as f64),
            ReceiptsNoCard => Some(c.no_card.receipts as f64),
            AverageReceiptCard => avg_card,
            AverageReceiptNoCard => avg_no_card,
            AverageReceiptGap => avg_card.zip(avg_no_card).map(|(a, b)| a - b),
            AverageReceiptGapChange => {
                let now = gap(self)?;
                let before = gap(previous?)?;
                Some((now.0 - now.1) - (before.0 - before.1))
            }
            LoyaltyShare => share,
            LoyaltyShareChange => Some((share? - previous?.value(LoyaltyShare, None)?) * 100.0),
            Margin => Some((c.card.margin_cents() + c.no_card.margin_cents()) as f64),
            MarginCard => Some(c.card.margin_cents() as f64),
            MarginNoCard => Some(c.no_card.margin_cents() as f64),
            MarginRateCard => ratio(c.card.margin_cents() as f64, c.card.costed_revenue_cents as f64),
            MarginRateNoCard => ratio(c.no_card.margin_cents() as f64, c.no_card.costed_revenue_cents as f64),
            Discount => Some((c.card.discount_cents + c.no_card.discount_cents) as f64),
            ActiveCustomers => Some(c.active as f64),
            NewCustomers => Some(c.new as f64),
            ReturningCustomers => Some((c.active - c.new) as f64),
            RetentionRate => ratio(c.retained as f64, previous?.cell.active as f64),
            ChurnRate => previous.and_then(|p| ratio(c.retained as f64, p.cell.active as f64)).map(|r| 1.0 - r),
            PurchaseFrequency => ratio(c.card.receipts as f64, c.active as f64),
            OffersIssued => Some(f.offers_issued as f64),
            OffersActivated => Some(f.offers_activated as f64),
            OffersRedeemed => Some(f.offers_redeemed as f64),
            RedemptionRate => ratio(f.issued_redeemed as f64, f.offers_issued as f64),
            OfferDiscount => Some(f.offer_discount_cents as f64),
            IncrementalRevenue => f.measured.then_some(f.incremental_revenue_cents),
            IncrementalMargin => f.measured.then_some(f.incremental_margin_cents),
            SurveyAnswers => Some((f.csat_answers + f.nps_answers) as f64),
            Csat => ratio(f.csat_satisfied as f64, f.csat_answers as f64),
            Nps => ratio((f.promoters as f64 - f.detractors as f64) * 100.0, f.nps_answers as f64),
        }
    }
}

/// Units a KPI is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Money, integer cents.
    Cents,
    /// A count.
    Count,
    /// A fraction between 0 and 1.
    Share,
    /// Percentage points.
    Points,
    /// Receipts per customer.
    PerCustomer,
    /// A score from −100 to 100 (NPS).
    Score,
}

macro_rules! kpis {
    ($($variant:ident = $name:literal, $unit:ident, $higher:literal, $goal:literal, $text:literal;)*) => {
        /// A KPI.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kpi {
            $(#[doc = $text] $variant,)*
        }

        /// Every KPI, in report order.
        pub const ALL_KPIS: &[Kpi] = &[$(Kpi::$variant,)*];

        impl Kpi {
            /// Its name in reports, goals and `docs/kpis.md`.
            pub fn name(self) -> &'static str {
                match self { $(Kpi::$variant => $name,)* }
            }
            /// Its unit.
            pub fn unit(self) -> Unit {
                match self { $(Kpi::$variant => Unit::$unit,)* }
            }
            /// Whether more is better (for goals).
            pub fn higher_is_better(self) -> bool {
                match self { $(Kpi::$variant => $higher,)* }
            }
            /// Whether a goal can be set on it: its value over any run of days is computed
            /// from sums of daily measures (distinct-customer counts are not).
            pub fn goal_allowed(self) -> bool {
                match self { $(Kpi::$variant => $goal,)* }
            }
            /// The one-line definition.
            pub fn definition(self) -> &'static str {
                match self { $(Kpi::$variant => $text,)* }
            }
        }
    };
}

kpis! {
    Revenue = "revenue_cents", Cents, true, true, "Net revenue (what customers paid), with and without card.";
    RevenueCard = "revenue_card_cents", Cents, true, true, "Net revenue of purchases with a loyalty card or e-shop account.";
    RevenueNoCard = "revenue_no_card_cents", Cents, true, true, "Net revenue of purchases without a card.";
    ReceiptsCard = "receipts_card", Count, true, true, "Distinct receipts with a card.";
    ReceiptsNoCard = "receipts_no_card", Count, true, true, "Distinct receipts without a card.";
    AverageReceiptCard = "average_receipt_card_cents", Cents, true, true, "Revenue with a card divided by receipts with a card.";
    AverageReceiptNoCard = "average_receipt_no_card_cents", Cents, true, true, "Revenue without a card divided by receipts without a card.";
    AverageReceiptGap = "average_receipt_gap_cents", Cents, true, true, "Average receipt with a card minus average receipt without.";
    AverageReceiptGapChange = "average_receipt_gap_change_cents", Cents, true, false, "The gap minus the gap of the previous period.";
    LoyaltyShare = "loyalty_share", Share, true, true, "Revenue with a card divided by all revenue.";
    LoyaltyShareChange = "loyalty_share_change_points", Points, true, false, "Loyalty share minus that of the previous period, in percentage points.";
    Margin = "margin_cents", Cents, true, true, "Net revenue minus quantity times unit cost, over lines whose product has a unit cost.";
    MarginCard = "margin_card_cents", Cents, true, true, "Margin of purchases with a card.";
    MarginNoCard = "margin_no_card_cents", Cents, true, true, "Margin of purchases without a card.";
    MarginRateCard = "margin_rate_card", Share, true, true, "Margin with a card divided by the revenue of the same (costed) lines.";
    MarginRateNoCard = "margin_rate_no_card", Share, true, true, "Margin without a card divided by the revenue of the same (costed) lines.";
    Discount = "discount_cents", Cents, false, true, "Discounts on receipt lines (promotions and offers), with and without card.";
    ActiveCustomers = "active_customers", Count, true, false, "Cardholders with at least one purchase in the period.";
    NewCustomers = "new_customers", Count, true, false, "Active cardholders whose first purchase ever is in the period.";
    ReturningCustomers = "returning_customers", Count, true, false, "Active cardholders who had bought before the period.";
    RetentionRate = "retention_rate", Share, true, false, "Cardholders active in the previous period who are active again in this one, divided by those active in the previous period.";
    ChurnRate = "churn_rate", Share, false, false, "One minus the retention rate.";
    PurchaseFrequency = "purchase_frequency", PerCustomer, true, false, "Receipts with a card divided by active cardholders.";
    OffersIssued = "offers_issued", Count, true, true, "Offers whose validity starts in the period.";
    OffersActivated = "offers_activated", Count, true, true, "Offers booked in the app in the period.";
    OffersRedeemed = "offers_redeemed", Count, true, true, "Offers redeemed in the period.";
    RedemptionRate = "redemption_rate", Share, true, true, "Of the offers issued in the period, the share redeemed so far.";
    OfferDiscount = "offer_discount_cents", Cents, false, true, "Discount given on the offers redeemed in the period.";
    IncrementalRevenue = "incremental_revenue_cents", Cents, true, true, "Revenue the campaigns added against their holdouts (CUPED estimate per treated customer times treated customers), spread evenly over each campaign's days.";
    IncrementalMargin = "incremental_margin_cents", Cents, true, true, "Margin the campaigns added against their holdouts, likewise.";
    SurveyAnswers = "survey_answers", Count, true, true, "Survey answers (CSAT and NPS) in the period.";
    Csat = "csat", Share, true, true, "CSAT: answers of 4 or 5 (on 1 to 5) divided by CSAT answers.";
    Nps = "nps", Score, true, true, "NPS: promoters (9–10) minus detractors (0–6), divided by NPS answers, times 100.";
}

impl Kpi {
    /// Whether the KPI comes from the lake's receipt lines alone (the cube), not from the
    /// operational store's offers, campaigns and surveys.
    pub fn from_lake(self) -> bool {
        use Kpi::*;
        !matches!(
            self,
            OffersIssued
                | OffersActivated
                | OffersRedeemed
                | RedemptionRate
                | OfferDiscount
                | IncrementalRevenue
                | IncrementalMargin
                | SurveyAnswers
                | Csat
                | Nps
        )
    }

    /// The KPI named `name`.
    pub fn parse(name: &str) -> Option<Kpi> {
        ALL_KPIS.iter().copied().find(|k| k.name() == name)
    }

    /// Rounds a value for output: money and counts are whole numbers.
    pub fn output(self, v: f64) -> serde_json::Value {
        match self.unit() {
            Unit::Cents | Unit::Count => serde_json::Value::from(v.round() as i64),
            _ => serde_json::Value::from(v),
        }
    }
}

/// One row of the report: a period and a group.
#[derive(Debug, Clone)]
pub struct Row {
    /// The period's label (`2025-03-14`, `2025-W11`, `2025-03`).
    pub period: String,
    /// Its first day.
    pub period_start: String,
    /// Days of the period inside the requested range.
    pub days: i32,
    /// Store id when split by store.
    pub store: Option<String>,
    /// Channel when split by channel.
    pub channel: Option<String>,
    /// Segment when split by segment.
    pub segment: Option<String>,
    /// The measures.
    pub measures: Measures,
    /// The values, in [`ALL_KPIS`] order.
    pub values: Vec<Option<f64>>,
}

impl Serialize for Row {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("period", &self.period)?;
        m.serialize_entry("period_start", &self.period_start)?;
        m.serialize_entry("days", &self.days)?;
        if let Some(v) = &self.store {
            m.serialize_entry("store", v)?;
        }
        if let Some(v) = &self.channel {
            m.serialize_entry("channel", v)?;
        }
        if let Some(v) = &self.segment {
            m.serialize_entry("segment", v)?;
        }
        for (k, v) in ALL_KPIS.iter().zip(&self.values) {
            m.serialize_entry(k.name(), &v.map(|v| k.output(v)))?;
        }
        m.end()
    }
}

impl Row {
    /// A KPI's value.
    pub fn get(&self, kpi: Kpi) -> Option<f64> {
        self.values[ALL_KPIS.iter().position(|k| *k == kpi).expect("every KPI is listed")]
    }
}

/// Rows of every period from `from` to `to` (day numbers) and every group with data.
pub fn rows(cube: &Cube, facts: &BTreeMap<(i32, Group), Facts>, grain: Grain, from: i32, to: i32) -> Vec<Row> {
    let mut keys: BTreeSet<(i32, Group)> = cube.cells.keys().copied().collect();
    keys.extend(facts.keys().copied());
    let measures = |k: &(i32, Group)| -> Option<Measures> {
        let cell = cube.cells.get(k).copied();
        let fact = facts.get(k).copied();
        (cell.is_some() || fact.is_some())
            .then(|| Measures { cell: cell.unwrap_or_default(), facts: fact.unwrap_or_default() })
    };
    let first = grain.start(from);
    let mut out = Vec::new();
    for k in keys.iter().filter(|k| k.0 >= first && k.0 <= to) {
        let m = measures(k).expect("a key of either");
        let prev = measures(&(grain.previous(k.0), k.1));
        let (p, g) = *k;
        let days = (grain.next(p) - 1).min(to) - p.max(from) + 1;
        let label = |i: u16, names: &[String]| (i != ALL).then(|| names.get(i as usize).cloned().unwrap_or_default());
        out.push(Row {
            period: grain.label(p),
            period_start: date_of(p).to_string(),
            days,
            store: label(g.store, &cube.stores),
            channel: (g.channel != ALL).then(|| CHANNELS.get(g.channel as usize).copied().unwrap_or("any").to_string()),
            segment: label(g.segment, &cube.segments),
            measures: m,
            values: ALL_KPIS.iter().map(|kpi| m.value(*kpi, prev.as_ref())).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cube::Sales;

    /// The KPIs said to come from the lake are those the store's facts never change.
    #[test]
    fn lake_kpis_are_those_the_facts_do_not_move() {
        let sales = Sales {
            receipts: 7,
            lines: 20,
            revenue_cents: 9_000,
            discount_cents: 300,
            costed_revenue_cents: 8_000,
            cost_cents: 5_000,
        };
        let cell = Cell {
            card: sales,
            no_card: Sales { receipts: 3, revenue_cents: 2_000, ..sales },
            active: 5,
            new: 2,
            retained: 1,
        };
        let bare = Measures { cell, facts: Facts::default() };
        let mut facts = Facts {
            offers_issued: 4,
            issued_redeemed: 1,
            offers_activated: 2,
            offers_redeemed: 1,
            offer_discount_cents: 90,
            csat_answers: 3,
            csat_satisfied: 2,
            nps_answers: 3,
            promoters: 2,
            detractors: 1,
            incremental_revenue_cents: 500.0,
            incremental_margin_cents: 200.0,
            measured: true,
        };
        facts.add(&Facts::default());
        let full = Measures { cell, facts };
        for k in ALL_KPIS {
            let same = bare.value(*k, Some(&bare)) == full.value(*k, Some(&full));
            assert_eq!(k.from_lake(), same, "{}", k.name());
        }
    }
}
