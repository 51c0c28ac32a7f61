//! Goals on KPIs: a target with a deadline, the trajectory with weekly seasonality, the
//! state (on track, at risk, off track), what moved it, and an alert in the outbox when
//! the state changes.

use super::{Sources, parse_day, store_facts, threads};
use crate::error::{Code, Error, Result};
use crate::progress::{Progress, Unit};
use crate::{App, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use unico_kpi::cube::{self, Group, Split};
use unico_kpi::days::{Grain, date_of};
use unico_kpi::goals::{self, Status as GoalStatus};
use unico_kpi::kpis::{self, ALL_KPIS, Kpi, Measures};

/// A goal to add.
#[derive(Debug, Clone, Serialize)]
pub struct GoalRequest {
    /// The KPI (docs/kpis.md).
    pub kpi: String,
    /// The value to reach, in the KPI's unit.
    pub target: f64,
    /// The deadline (YYYY-MM-DD).
    pub by: String,
    /// `store:ID` or `segment:NAME`; none for the whole chain.
    pub scope: Option<String>,
    /// `daily` or `weekly`: how often a change of state is announced.
    pub review: String,
    /// Where alerts go: `mailto:ADDRESS` or an http(s) webhook.
    pub notify: Vec<String>,
}

/// A goal added.
#[derive(Debug, Clone, Serialize)]
pub struct GoalAdded {
    /// The goal as stored.
    pub goal: unico_store::kpis::Goal,
    /// Whether the KPI is better higher (the target is a floor) or lower (a ceiling).
    pub higher_is_better: bool,
}

/// Where every goal stands.
#[derive(Debug, Clone, Serialize)]
pub struct GoalsStatus {
    /// The day evaluated.
    pub as_of: jiff::civil::Date,
    /// Each goal.
    pub goals: Vec<GoalStatusRow>,
}

/// One goal's state.
#[derive(Debug, Clone, Serialize)]
pub struct GoalStatusRow {
    /// The goal.
    pub goal: unico_store::kpis::Goal,
    /// Its state, trajectory and movers.
    pub status: GoalStatus,
    /// The state changed (alerts written to the outbox).
    pub changed: bool,
    /// The KPI over each seven days ending on every seventh day back from the day
    /// evaluated (oldest first): the trajectory so far.
    pub history: Vec<HistoryPoint>,
}

/// The KPI over the seven days ending on a day.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    /// The last day of the seven.
    pub end: jiff::civil::Date,
    /// The KPI over them (none without data).
    pub value: Option<f64>,
}

impl App {
    /// Adds a goal.
    pub fn add_goal(&self, req: &GoalRequest) -> Result<GoalAdded> {
        let GoalRequest { kpi, target, by, scope, review, notify } = req;
        if review != "daily" && review != "weekly" {
            bail!(Code::InputInvalid, "--review is daily or weekly, got {review:?}");
        }
        let k = Kpi::parse(kpi).ok_or_else(|| {
            Error::new(Code::InputInvalid, {
                format!(
                    "unknown KPI {kpi:?}; goals can be set on: {}",
                    ALL_KPIS.iter().filter(|k| k.goal_allowed()).map(|k| k.name()).collect::<Vec<_>>().join(", ")
                )
            })
        })?;
        if !k.goal_allowed() {
            bail!(
                Code::InputInvalid,
                "{kpi} counts distinct customers or compares periods, which a week's value cannot be summed from; set the goal on a KPI from docs/kpis.md marked for goals"
            );
        }
        if k.unit() == kpis::Unit::Share && !(0.0..=1.0).contains(target) {
            bail!(Code::InputInvalid, "{kpi} is a share between 0 and 1 (e.g. 0.65 for 65 %), got {target}");
        }
        let deadline = parse_day("--by", by)?;
        let (scope_kind, scope_value) = match scope.as_deref() {
            None | Some("all") => ("all".to_string(), None),
            Some(s) => match s.split_once(':') {
                Some(("store", v)) | Some(("segment", v)) if !v.is_empty() => {
                    (s.split_once(':').expect("checked").0.to_string(), Some(v.to_string()))
                }
                _ => bail!(Code::InputInvalid, "--scope is store:ID or segment:NAME, got {s:?}"),
            },
        };
        for n in notify {
            if !(n.starts_with("mailto:") && n.contains('@') || n.starts_with("https://") || n.starts_with("http://")) {
                bail!(Code::InputInvalid, "--notify is mailto:ADDRESS or an http(s) URL, got {n:?}");
            }
        }
        let goal = unico_store::kpis::Goal {
            id: 0,
            kpi: k.name().to_string(),
            target: *target,
            deadline: date_of(deadline).to_string(),
            scope_kind,
            scope_value,
            review: review.clone(),
            notify: notify.join(","),
            state: None,
            checked_on: None,
        };
        let id = self.with_store(async |store| Ok(store.add_goal(&goal).await?))?;
        Ok(GoalAdded { goal: unico_store::kpis::Goal { id, ..goal }, higher_is_better: k.higher_is_better() })
    }

    /// Where every goal stands as of `as_of` (default: the lake's last day); a change of
    /// state writes its alerts to the outbox in the same transaction.
    pub fn goal_status(&self, as_of: Option<&str>, progress: &dyn Progress) -> Result<GoalsStatus> {
        self.goals_review(as_of, true, progress)
    }

    /// Where every goal stands; with `announce`, a change of state is recorded and its
    /// alerts written to the outbox (the daily review), without it nothing is written (a
    /// page looking).
    pub fn goals_review(&self, as_of: Option<&str>, announce: bool, progress: &dyn Progress) -> Result<GoalsStatus> {
        let goals = self.with_store(async |store| Ok(store.goals().await?))?;
        if goals.is_empty() {
            return Ok(GoalsStatus { as_of: self.today(), goals: Vec::new() });
        }
        goal_status(self, &goals, as_of, announce, progress)
    }

    /// Messages waiting to be sent (or all, sent too).
    pub fn outbox(&self, all: bool) -> Result<Vec<unico_store::kpis::OutboxMessage>> {
        self.with_store(async |store| Ok(store.outbox(all).await?))
    }
}

fn goal_status(
    app: &App,
    goals: &[unico_store::kpis::Goal],
    as_of: Option<&str>,
    announce: bool,
    progress: &dyn Progress,
) -> Result<GoalsStatus> {
    let lake = app.lake_view()?;
    let as_of = match as_of {
        Some(d) => parse_day("--as-of", d)?,
        None => app.last_plausible_day(&lake)?,
    };
    let from = as_of - goals::FIT_DAYS - 7;
    let profiles = app.kpi_profiles()?;
    let costs = cube::unit_costs(&lake)?;
    // By store and segment: scopes, and what moved each goal, are read from the same cube.
    let split = Split { store: true, channel: false, segment: true };
    let q = cube::Query {
        from,
        to: as_of,
        grain: Grain::Day,
        split,
        costs: &costs,
        segments: &profiles.segments,
        threads: threads(),
    };
    progress.begin("reading receipts for the goals", Unit::Lines, 0);
    let cube = cube::compute(&lake, &q, &|d, t| progress.update(d, t));
    progress.finish();
    let mut cube = cube?;
    let facts = store_facts(
        &Sources { app, lake: &lake, profiles: &profiles, costs: &costs },
        &mut cube,
        Grain::Day,
        split,
        as_of,
    )?;
    let keys: std::collections::BTreeSet<(i32, Group)> = cube.cells.keys().chain(facts.keys()).copied().collect();
    let mut out = Vec::new();
    for g in goals {
        let Some(kpi) = Kpi::parse(&g.kpi) else { continue };
        let deadline = parse_day("deadline", &g.deadline)?;
        let mut daily: BTreeMap<i32, BTreeMap<u16, Measures>> = BTreeMap::new();
        let mut daily_by_segment: BTreeMap<i32, BTreeMap<u16, Measures>> = BTreeMap::new();
        for &k in &keys {
            let (day, grp) = k;
            let store_name = cube.stores.get(grp.store as usize).map(String::as_str);
            let segment_name = cube.segments.get(grp.segment as usize).map(String::as_str);
            let keep = match (g.scope_kind.as_str(), g.scope_value.as_deref()) {
                ("store", v) => store_name == v,
                ("segment", v) => segment_name == v,
                _ => true,
            };
            if !keep || day > as_of {
                continue;
            }
            let m = Measures {
                cell: cube.cells.get(&k).copied().unwrap_or_default(),
                facts: facts.get(&k).copied().unwrap_or_default(),
            };
            daily.entry(day).or_default().entry(grp.store).or_default().add(&m);
            daily_by_segment.entry(day).or_default().entry(grp.segment).or_default().add(&m);
        }
        let breakdowns = [
            goals::Breakdown { dimension: "store", daily: &daily, names: &cube.stores },
            goals::Breakdown { dimension: "segment", daily: &daily_by_segment, names: &cube.segments },
        ];
        let status = goals::evaluate(kpi, g.target, deadline, as_of, &breakdowns);
        let history = (0..)
            .map(|w| as_of - 7 * w)
            .take_while(|end| end - 6 >= from + 7)
            .map(|end| {
                let mut m = Measures::default();
                for (_, by_store) in daily.range(end - 6..=end) {
                    for s in by_store.values() {
                        m.add(s);
                    }
                }
                HistoryPoint { end: date_of(end), value: m.value(kpi, None) }
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        // Weekly goals announce a change once a week at most.
        let due = g.review == "daily"
            || g.checked_on.as_deref().and_then(|d| parse_day("checked_on", d).ok()).is_none_or(|c| as_of - c >= 7);
        let mut changed = false;
        if due && announce {
            let subject = format!("Goal {}: {} is {}", g.id, g.kpi, status.state.name().replace('_', " "));
            let body =
                serde_json::json!({"goal": g, "as_of": date_of(as_of).to_string(), "status": status}).to_string();
            let alerts: Vec<(String, String, String, String)> = g
                .notify
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|n| match n.strip_prefix("mailto:") {
                    Some(addr) => ("email".into(), addr.to_string(), subject.clone(), body.clone()),
                    None => ("webhook".into(), n.to_string(), subject.clone(), body.clone()),
                })
                .collect();
            let day = date_of(as_of).to_string();
            changed = app.with_store(async |store| {
                Ok(store.record_goal_state(g.id, status.state.name(), &day, &alerts).await?)
            })?;
        }
        out.push(GoalStatusRow { goal: g.clone(), status, changed, history });
    }
    Ok(GoalsStatus { as_of: date_of(as_of), goals: out })
}
