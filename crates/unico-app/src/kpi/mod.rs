//! The programme's KPIs over the lake and the store: one streaming pass makes the cube of
//! receipts by day and group, the store adds offers, survey answers and the campaigns'
//! uplift against their holdouts; [`measure`] reports each campaign's uplift, [`goals`]
//! where each goal stands and where it is heading.

mod goals;
mod measure;
mod review;

pub use goals::{GoalAdded, GoalRequest, GoalStatusRow, GoalsStatus, HistoryPoint};
pub use measure::{CampaignMeasurement, MeasureReport, MeasureRequest, OfferTypeMeasurement};
pub use review::{KpiReview, ReviewedKpi};
pub use unico_kpi::days::Grain;
pub use unico_kpi::kpis::{ALL_KPIS, Kpi, Measures, Row, Unit as KpiUnit};
pub use unico_kpi::snapshot::Snapshot;
pub use unico_kpi::stats::Estimate;

use crate::error::{Code, Result};
use crate::progress::{Progress, Unit};
use crate::{App, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use unico_kpi::cube::{self, ALL, CHANNELS, Cube, Group, Split};
use unico_kpi::days::{date_of, day_of};
use unico_kpi::kpis::{self, Facts};
use unico_kpi::measure as uplift;
use unico_kpi::snapshot::Profiles;
use unico_lake::Lake;

/// What KPIs to report.
#[derive(Debug, Clone, Serialize)]
pub struct KpiRequest {
    /// First day (default: 4 weeks, 12 weeks or 12 months before `to`).
    pub from: Option<String>,
    /// Last day, inclusive (default: the lake's last day with receipts).
    pub to: Option<String>,
    /// Period length: `day`, `week` or `month`.
    pub by: Grain,
    /// One row per store.
    pub by_store: bool,
    /// One row per purchase channel.
    pub by_channel: bool,
    /// One row per RFM segment of the model.
    pub by_segment: bool,
    /// One store only: its rows, and no chain-wide figures (what a store manager sees).
    pub store: Option<String>,
}

/// The KPI report.
#[derive(Debug, Clone, Serialize)]
pub struct KpiReport {
    /// First day.
    pub from: jiff::civil::Date,
    /// Last day.
    pub to: jiff::civil::Date,
    /// Period length.
    pub by: &'static str,
    /// Receipt lines read.
    pub lines_read: u64,
    /// Seconds the lake pass took.
    pub seconds: f64,
    /// Each KPI's unit.
    pub units: BTreeMap<&'static str, KpiUnit>,
    /// A row per period and group.
    pub rows: Vec<Row>,
    /// The model's snapshot at its date (none before a model is built).
    pub model: Option<ModelSnapshot>,
}

/// What the model says at its date.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSnapshot {
    /// Months of the CLV.
    pub clv_months: u32,
    /// All scored cardholders.
    pub all: Snapshot,
    /// By RFM segment.
    pub by_segment: BTreeMap<String, Snapshot>,
}

impl App {
    /// The KPIs by period, store, channel or segment.
    pub fn kpis(&self, req: &KpiRequest, progress: &dyn Progress) -> Result<KpiReport> {
        let lake = self.lake_view()?;
        let grain = req.by;
        let to = match &req.to {
            Some(t) => parse_day("--to", t)?,
            None => self.last_plausible_day(&lake)?,
        };
        let from = match &req.from {
            Some(f) => parse_day("--from", f)?,
            None => match grain {
                Grain::Day => to - 27,
                Grain::Week => to - 7 * 12 + 1,
                Grain::Month => {
                    let mut m = Grain::Month.start(to);
                    for _ in 0..11 {
                        m = Grain::Month.previous(m);
                    }
                    m
                }
            },
        };
        if from > to {
            bail!(Code::InputInvalid, "--from {} is after --to {}", date_of(from), date_of(to));
        }
        let split =
            Split { store: req.by_store || req.store.is_some(), channel: req.by_channel, segment: req.by_segment };
        let profiles = self.kpi_profiles()?;
        if split.segment && profiles.segments.names.is_empty() {
            bail!(Code::ModelMissing, "--by-segment needs the model's segments: run `unico model build` first");
        }
        let costs = cube::unit_costs(&lake)?;
        let q = cube::Query { from, to, grain, split, costs: &costs, segments: &profiles.segments, threads: threads() };
        let started = std::time::Instant::now();
        progress.begin(&format!("reading receipts up to {}", date_of(to)), Unit::Lines, 0);
        let cube = cube::compute(&lake, &q, &|done, total| progress.update(done, total));
        progress.finish();
        let mut cube = cube?;
        let seconds = started.elapsed().as_secs_f64();
        let facts = store_facts(
            &Sources { app: self, lake: &lake, profiles: &profiles, costs: &costs },
            &mut cube,
            grain,
            split,
            to,
        )?;
        let mut rows = kpis::rows(&cube, &facts, grain, from, to);
        if let Some(s) = &req.store {
            rows.retain(|r| r.store.as_deref() == Some(s.as_str()));
        }
        let model = (!profiles.segments.names.is_empty() && req.store.is_none()).then(|| ModelSnapshot {
            clv_months: profiles.clv_months,
            all: profiles.snapshot(|_, _| true),
            by_segment: profiles.by_segment(),
        });
        Ok(KpiReport {
            from: date_of(from),
            to: date_of(to),
            by: grain.name(),
            lines_read: cube.lines,
            seconds,
            units: ALL_KPIS.iter().map(|k| (k.name(), k.unit())).collect(),
            rows,
            model,
        })
    }

    /// The lake's last day with receipts: the day the KPIs and goals are judged on.
    pub fn last_day(&self) -> Result<jiff::civil::Date> {
        self.last_day_of_receipts(&self.lake_view()?)
    }

    /// The lake's last day with receipts, within the plausible range.
    fn last_plausible_day(&self, lake: &Lake) -> Result<i32> {
        Ok(day_of(self.last_day_of_receipts(lake)?))
    }

    /// The model's profiles as the KPIs split and summarise them (empty before a build).
    fn kpi_profiles(&self) -> Result<Profiles> {
        let mut profiles = Profiles::default();
        let read = unico_model::profiles::for_each_profile(&self.model_dir(), |p| {
            profiles.push(&p.customer_key, &p.segment, p.preferred_store_id, p.p_alive, p.clv_cents)
        })?;
        if let Some(columns) = read {
            profiles.clv_months = columns.clv_months;
        }
        Ok(profiles)
    }
}

impl KpiReport {
    /// The rows as CSV: one column per KPI, in its output unit.
    pub fn write_csv(&self, out: impl std::io::Write) -> Result<()> {
        let mut w = csv::Writer::from_writer(out);
        let mut header = vec!["period", "period_start", "days", "store", "channel", "segment"];
        header.extend(ALL_KPIS.iter().map(|k| k.name()));
        w.write_record(&header)?;
        for r in &self.rows {
            let mut rec = vec![
                r.period.clone(),
                r.period_start.clone(),
                r.days.to_string(),
                r.store.clone().unwrap_or_default(),
                r.channel.clone().unwrap_or_default(),
                r.segment.clone().unwrap_or_default(),
            ];
            rec.extend(
                ALL_KPIS.iter().zip(&r.values).map(|(k, v)| v.map(|v| k.output(v).to_string()).unwrap_or_default()),
            );
            w.write_record(&rec)?;
        }
        w.flush()?;
        Ok(())
    }
}

fn parse_day(what: &str, s: &str) -> Result<i32> {
    Ok(day_of(crate::parse_date(what, s)?))
}

fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// What the store's facts are read with.
pub(super) struct Sources<'a> {
    pub(super) app: &'a App,
    pub(super) lake: &'a Lake,
    pub(super) profiles: &'a Profiles,
    pub(super) costs: &'a foldhash::HashMap<String, i64>,
}

/// The store's facts (offers, surveys, measured campaigns) per period and group.
pub(super) fn store_facts(
    src: &Sources<'_>,
    cube: &mut Cube,
    grain: Grain,
    split: Split,
    to: i32,
) -> Result<BTreeMap<(i32, Group), Facts>> {
    let Sources { app, lake, profiles, costs } = *src;
    // Facts start a period early too, so the first period has its previous one.
    let first = cube.first_period;
    let (first_s, to_s) = (date_of(first).to_string(), date_of(to).to_string());
    let (offers, answers, campaigns, members) = app.with_store(async |store| {
        let offers = store.offer_events(&first_s, &to_s).await?;
        let answers = store.survey_answers(&first_s, &to_s).await?;
        let campaigns = store.campaigns_between(&first_s, &to_s).await?;
        let mut members = Vec::new();
        for (id, _, _) in &campaigns {
            members.push(store.members_of(id).await?);
        }
        Ok((offers, answers, campaigns, members))
    })?;
    let mut facts: BTreeMap<(i32, Group), Facts> = BTreeMap::new();
    let group_of = |cube: &mut Cube, store_id: Option<&str>, segment: Option<&str>| -> Group {
        Group {
            store: if split.store { cube::intern_name(&mut cube.stores, store_id.unwrap_or("unknown")) } else { ALL },
            channel: if split.channel { CHANNELS.len() as u16 } else { ALL },
            segment: if split.segment {
                cube::intern_name(&mut cube.segments, segment.unwrap_or(cube::UNSCORED_SEGMENT))
            } else {
                ALL
            },
        }
    };
    let day = |s: &str| s.get(..10).and_then(|d| d.parse::<jiff::civil::Date>().ok()).map(day_of);
    let in_range = |d: i32| d >= first && d <= to;
    for o in &offers {
        let g = group_of(cube, o.store_id.as_deref(), o.segment.as_deref());
        if let Some(d) = day(&o.valid_from).filter(|d| in_range(*d)) {
            let f = facts.entry((grain.start(d), g)).or_default();
            f.offers_issued += 1;
            f.issued_redeemed += u64::from(o.redeemed_at.is_some());
        }
        if let Some(d) = o.activated_at.as_deref().and_then(day).filter(|d| in_range(*d)) {
            facts.entry((grain.start(d), g)).or_default().offers_activated += 1;
        }
        if let Some(d) = o.redeemed_at.as_deref().and_then(day).filter(|d| in_range(*d)) {
            let f = facts.entry((grain.start(d), g)).or_default();
            f.offers_redeemed += 1;
            f.offer_discount_cents += o.redeemed_discount_cents.unwrap_or(0);
        }
    }
    for a in &answers {
        let segment = a
            .customer_key
            .as_deref()
            .and_then(|k| profiles.segments.of.get(&cube::key_hash(k)))
            .map(|i| profiles.segments.names[*i as usize].clone());
        let g = group_of(cube, a.store_id.as_deref(), segment.as_deref());
        if let Some(d) = day(&a.answered_on) {
            facts.entry((grain.start(d), g)).or_default().add_answer(&a.question, a.score);
        }
    }
    // Campaign uplift, measured within each group (the holdout is stratified by segment and
    // store, so each stratum is a randomised comparison of its own).
    let inputs: Vec<uplift::Campaign> = campaigns
        .iter()
        .zip(&members)
        .filter_map(|((id, f, t), m)| {
            Some(uplift::Campaign {
                id: id.clone(),
                from: parse_day("from", f).ok()?,
                to: parse_day("to", t).ok()?,
                members: m.iter().map(|r| (r.customer_key.clone(), r.status != "holdout")).collect(),
            })
        })
        .filter(|c| c.from <= to)
        .collect();
    if !inputs.is_empty() {
        let outcomes = uplift::outcomes(lake, &inputs, to, costs)?;
        for ((c, m), o) in inputs.iter().zip(&members).zip(&outcomes) {
            let mut by_group: BTreeMap<Group, (Vec<&uplift::Outcome>, Vec<&uplift::Outcome>)> = BTreeMap::new();
            for (row, out) in m.iter().zip(o) {
                let g = group_of(cube, row.store_id.as_deref(), Some(&row.segment));
                let arms = by_group.entry(g).or_default();
                if row.status == "holdout" { arms.1.push(out) } else { arms.0.push(out) }
            }
            for (g, (t, h)) in by_group {
                if t.len() < 2 || h.len() < 2 {
                    continue;
                }
                let r = uplift::measure(&t, &h, 0.95);
                let days = r.days.max(1) as f64;
                for d in c.from..c.from + r.days as i32 {
                    if !in_range(d) {
                        continue;
                    }
                    let f = facts.entry((grain.start(d), g)).or_default();
                    f.incremental_revenue_cents += r.incremental_revenue.effect / days;
                    f.incremental_margin_cents += r.incremental_margin.effect / days;
                    f.measured = true;
                }
            }
        }
    }
    Ok(facts)
}
