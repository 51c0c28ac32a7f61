//! `unico kpi`, `unico measure`, `unico goals` and `unico outbox`: the programme's KPIs over
//! the lake and the store, campaign uplift against holdouts, goals and their alerts.

use crate::customers::runtime;
use crate::settings::DataDir;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use unico_kpi::cube::{self, ALL, CHANNELS, Cube, Group, Split};
use unico_kpi::days::{Grain, date_of, day_of};
use unico_kpi::goals;
use unico_kpi::kpis::{self, ALL_KPIS, Facts, Kpi, Measures};
use unico_kpi::measure::{self, Measurement};
use unico_kpi::snapshot::Profiles;
use unico_lake::Lake;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum By {
    Day,
    Week,
    Month,
}

impl By {
    fn grain(self) -> Grain {
        match self {
            By::Day => Grain::Day,
            By::Week => Grain::Week,
            By::Month => Grain::Month,
        }
    }
}

#[derive(Args)]
pub struct KpiArgs {
    /// First day (YYYY-MM-DD); default: 4 weeks, 12 weeks or 12 months before --to.
    #[arg(long)]
    from: Option<String>,
    /// Last day, inclusive; default: the last day with receipts in the lake.
    #[arg(long)]
    to: Option<String>,
    /// Period length.
    #[arg(long, value_enum, default_value_t = By::Week)]
    by: By,
    /// One row per store.
    #[arg(long)]
    by_store: bool,
    /// One row per purchase channel (offers and surveys go to the channel "any").
    #[arg(long)]
    by_channel: bool,
    /// One row per RFM segment of the model (purchases without a card form "no card").
    #[arg(long)]
    by_segment: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write to this file instead of the terminal.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct MeasureArgs {
    /// The campaign (its id, e.g. "January fortnight 2026-01-05"); default: every campaign
    /// that has started by --as-of.
    #[arg(long)]
    campaign: Option<String>,
    /// Measure with the data up to this day; default: the last day in the lake.
    #[arg(long)]
    as_of: Option<String>,
    /// Confidence level of the intervals (the sequential test's α is 1 − level).
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Subcommand)]
pub enum GoalsCommand {
    /// Add a goal: a KPI, a target and a deadline.
    Add {
        /// The KPI (see docs/kpis.md).
        #[arg(long)]
        kpi: String,
        /// The value to reach (KPI units: cents, a share between 0 and 1, a score).
        #[arg(long)]
        target: f64,
        /// The deadline (YYYY-MM-DD).
        #[arg(long)]
        by: String,
        /// `store:ID` or `segment:NAME`; default: the whole chain.
        #[arg(long)]
        scope: Option<String>,
        /// How often a change of state is announced.
        #[arg(long, value_enum, default_value_t = Review::Daily)]
        review: Review,
        /// Where alerts go: `mailto:ADDRESS` or an `https://` webhook (repeatable).
        #[arg(long)]
        notify: Vec<String>,
    },
    /// Where every goal stands: current value, projection to the deadline, state, what moved
    /// it; a change of state writes its alerts to the outbox.
    Status {
        /// Evaluate as of this day; default: the last day in the lake.
        #[arg(long)]
        as_of: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Review {
    Daily,
    Weekly,
}

fn parse_day(s: &str) -> Result<i32> {
    let d: jiff::civil::Date = s.parse().with_context(|| format!("{s:?} is not a date (YYYY-MM-DD)"))?;
    Ok(day_of(d))
}

fn last_day(lake: &Lake) -> Result<i32> {
    cube::last_day(lake)?.context("the lake holds no receipts yet: import some first (unico import receipts FILE)")
}

fn bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} lines ({per_sec}, {eta})")
            .expect("valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// The monthly KPI table of the last 12 months (what `unico demo` ends with).
pub fn monthly_report(data: &std::path::Path) -> Result<()> {
    let args = KpiArgs {
        from: None,
        to: None,
        by: By::Month,
        by_store: false,
        by_channel: false,
        by_segment: false,
        format: Format::Table,
        out: None,
    };
    kpi(data, &args)
}

/// The KPI report.
pub fn kpi(data: &std::path::Path, args: &KpiArgs) -> Result<()> {
    let dir = DataDir::open(data)?;
    let lake = Lake::open(dir.lake_dir())?;
    let grain = args.by.grain();
    let to = match &args.to {
        Some(t) => parse_day(t)?,
        None => last_day(&lake)?,
    };
    let from = match &args.from {
        Some(f) => parse_day(f)?,
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
        bail!("--from {} is after --to {}", date_of(from), date_of(to));
    }
    let split = Split { store: args.by_store, channel: args.by_channel, segment: args.by_segment };
    let profiles = Profiles::read(&dir.model_dir().join("profiles.parquet"))?;
    if split.segment && profiles.segments.names.is_empty() {
        bail!("--by-segment needs the model's segments: run `unico model build` first");
    }
    let costs = cube::unit_costs(&lake)?;
    let q = cube::Query { from, to, grain, split, costs: &costs, segments: &profiles.segments, threads: threads() };
    let started = std::time::Instant::now();
    let bar = bar(&format!("reading receipts up to {}", date_of(to)));
    let mut cube = cube::compute(&lake, &q, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let lake_seconds = started.elapsed().as_secs_f64();
    let facts = store_facts(
        &Sources { dir: &dir, lake: &lake, profiles: &profiles, costs: &costs },
        &mut cube,
        grain,
        split,
        to,
    )?;
    let rows = kpis::rows(&cube, &facts, grain, from, to);
    let snapshot = profiles.snapshot(|_, _| true);
    let out: Box<dyn std::io::Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = out;
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "from": date_of(from).to_string(),
                "to": date_of(to).to_string(),
                "by": grain.name(),
                "lines_read": cube.lines,
                "seconds": lake_seconds,
                "units": ALL_KPIS.iter().map(|k| (k.name(), k.unit())).collect::<BTreeMap<_, _>>(),
                "rows": rows,
                "model": if profiles.segments.names.is_empty() { serde_json::Value::Null } else {
                    serde_json::json!({"clv_months": profiles.clv_months, "all": snapshot, "by_segment": profiles.by_segment()})
                },
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header = vec!["period", "period_start", "days", "store", "channel", "segment"];
            header.extend(ALL_KPIS.iter().map(|k| k.name()));
            w.write_record(&header)?;
            for r in &rows {
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
        }
        Format::Table => {
            use std::io::Write;
            let money = |v: Option<f64>| v.map(|c| format!("{:.2}", c / 100.0)).unwrap_or_else(|| "-".into());
            let pct = |v: Option<f64>| v.map(|c| format!("{:.1}%", c * 100.0)).unwrap_or_else(|| "-".into());
            let n = |v: Option<f64>| v.map(|c| format!("{c:.0}")).unwrap_or_else(|| "-".into());
            writeln!(
                out,
                "KPIs {} to {} by {} ({} lines read in {:.1} s); money in {}, every KPI in --format json or csv",
                date_of(from),
                date_of(to),
                grain.name(),
                cube.lines,
                lake_seconds,
                dir.settings.currency
            )?;
            writeln!(
                out,
                "{:<10} {:<12} {:>12} {:>9} {:>9} {:>9} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>6} {:>5}",
                "period",
                "group",
                "revenue",
                "avg card",
                "avg none",
                "gap",
                "loyal",
                "mrg card",
                "active",
                "new",
                "retain",
                "offers",
                "redeem",
                "csat",
                "nps"
            )?;
            for r in &rows {
                let group = [r.store.as_deref(), r.channel.as_deref(), r.segment.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/");
                writeln!(
                    out,
                    "{:<10} {:<12} {:>12} {:>9} {:>9} {:>9} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>6} {:>5}",
                    r.period,
                    if group.is_empty() { "all".into() } else { group },
                    money(r.get(Kpi::Revenue)),
                    money(r.get(Kpi::AverageReceiptCard)),
                    money(r.get(Kpi::AverageReceiptNoCard)),
                    money(r.get(Kpi::AverageReceiptGap)),
                    pct(r.get(Kpi::LoyaltyShare)),
                    pct(r.get(Kpi::MarginRateCard)),
                    n(r.get(Kpi::ActiveCustomers)),
                    n(r.get(Kpi::NewCustomers)),
                    pct(r.get(Kpi::RetentionRate)),
                    n(r.get(Kpi::OffersIssued)),
                    pct(r.get(Kpi::RedemptionRate)),
                    pct(r.get(Kpi::Csat)),
                    r.get(Kpi::Nps).map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
                )?;
            }
            if snapshot.customers > 0 {
                writeln!(
                    out,
                    "model: {} scored cardholders, {} lapsed (P(alive) < 0.5, {:.1}%), average CLV over {} months {}",
                    snapshot.customers,
                    snapshot.lapsed,
                    snapshot.lapsed_share * 100.0,
                    profiles.clv_months,
                    money(Some(snapshot.average_clv_cents as f64))
                )?;
            }
        }
    }
    Ok(())
}

/// The store's facts (offers, surveys, measured campaigns) per period and group.
/// What the store's facts are read with.
struct Sources<'a> {
    dir: &'a DataDir,
    lake: &'a Lake,
    profiles: &'a Profiles,
    costs: &'a foldhash::HashMap<String, i64>,
}

fn store_facts(
    src: &Sources<'_>,
    cube: &mut Cube,
    grain: Grain,
    split: Split,
    to: i32,
) -> Result<BTreeMap<(i32, Group), Facts>> {
    let Sources { dir, lake, profiles, costs } = *src;
    let rt = runtime()?;
    let store = dir.store(&rt)?;
    // Facts start a period early too, so the first period has its previous one.
    let first = cube.first_period;
    let (first_s, to_s) = (date_of(first).to_string(), date_of(to).to_string());
    let offers = rt.block_on(store.offer_events(&first_s, &to_s))?;
    let answers = rt.block_on(store.survey_answers(&first_s, &to_s))?;
    let campaigns = rt.block_on(store.campaigns_between(&first_s, &to_s))?;
    let mut members = Vec::new();
    for (id, _, _) in &campaigns {
        members.push(rt.block_on(store.members_of(id))?);
    }
    rt.block_on(store.close());
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
    let inputs: Vec<measure::Campaign> = campaigns
        .iter()
        .zip(&members)
        .filter_map(|((id, f, t), m)| {
            Some(measure::Campaign {
                id: id.clone(),
                from: parse_day(f).ok()?,
                to: parse_day(t).ok()?,
                members: m.iter().map(|r| (r.customer_key.clone(), r.status != "holdout")).collect(),
            })
        })
        .filter(|c| c.from <= to)
        .collect();
    if !inputs.is_empty() {
        let outcomes = measure::outcomes(lake, &inputs, to, costs)?;
        for ((c, m), o) in inputs.iter().zip(&members).zip(&outcomes) {
            let mut by_group: BTreeMap<Group, (Vec<&measure::Outcome>, Vec<&measure::Outcome>)> = BTreeMap::new();
            for (row, out) in m.iter().zip(o) {
                let g = group_of(cube, row.store_id.as_deref(), Some(&row.segment));
                let arms = by_group.entry(g).or_default();
                if row.status == "holdout" { arms.1.push(out) } else { arms.0.push(out) }
            }
            for (g, (t, h)) in by_group {
                if t.len() < 2 || h.len() < 2 {
                    continue;
                }
                let r = measure::measure(&t, &h, 0.95);
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

/// `unico measure`.
pub fn measure(data: &std::path::Path, args: &MeasureArgs) -> Result<()> {
    if !(0.5..1.0).contains(&args.level) {
        bail!("--level is a confidence level between 0.5 and 1, e.g. 0.95");
    }
    let dir = DataDir::open(data)?;
    let lake = Lake::open(dir.lake_dir())?;
    let as_of = match &args.as_of {
        Some(d) => parse_day(d)?,
        None => last_day(&lake)?,
    };
    let rt = runtime()?;
    let store = dir.store(&rt)?;
    let all = rt.block_on(store.campaigns_between("0000-01-01", &date_of(as_of).to_string()))?;
    let chosen: Vec<_> = match &args.campaign {
        Some(id) => {
            let c: Vec<_> = all.into_iter().filter(|c| &c.0 == id).collect();
            if c.is_empty() {
                bail!("no campaign {id:?} has started by {}", date_of(as_of));
            }
            c
        }
        None => all,
    };
    if chosen.is_empty() && args.format == Format::Table {
        println!("no campaign has started by {}: plan one with `unico plan`", date_of(as_of));
    }
    let mut members = Vec::new();
    let mut redemptions = Vec::new();
    for (id, _, _) in &chosen {
        members.push(rt.block_on(store.members_of(id))?);
        redemptions.push(rt.block_on(store.campaign_redemptions(id))?);
    }
    rt.block_on(store.close());
    let inputs: Vec<measure::Campaign> = chosen
        .iter()
        .zip(&members)
        .map(|((id, f, t), m)| {
            Ok(measure::Campaign {
                id: id.clone(),
                from: parse_day(f)?,
                to: parse_day(t)?,
                members: m.iter().map(|r| (r.customer_key.clone(), r.status != "holdout")).collect(),
            })
        })
        .collect::<Result<_>>()?;
    let costs = cube::unit_costs(&lake)?;
    let outcomes = measure::outcomes(&lake, &inputs, as_of, &costs)?;
    let mut report = Vec::new();
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
                parts.push((kind.to_string(), measure::measure(&t, &h, args.level)));
            }
        }
        report.push(serde_json::json!({
            "campaign": c.id,
            "from": date_of(c.from).to_string(),
            "to": date_of(c.to).to_string(),
            "as_of": date_of(as_of).to_string(),
            "redeemed_offers": redeemed,
            "discount_cents": discount,
            "roi": parts.first().filter(|_| *discount > 0).map(|(_, r)| r.incremental_margin.effect / *discount as f64),
            "by_offer_type": parts.iter().map(|(k, r)| serde_json::json!({"offer_type": k, "measurement": r})).collect::<Vec<_>>(),
        }));
        if args.format == Format::Table {
            println!(
                "{} ({} to {}, measured to {}): {} offers redeemed, {} discount",
                c.id,
                date_of(c.from),
                date_of(c.to),
                date_of(as_of.min(c.to)),
                redeemed,
                unico_core::Money::from_cents(*discount)
            );
            for (k, r) in &parts {
                let e = &r.revenue_uplift_cuped;
                println!(
                    "  {k:<8} {} treated vs {} held out, {} days: spend per customer {} vs {}; uplift {} [{} .. {}] per customer at {:.0}% (CUPED: variance {:+.0}%), incremental revenue {} [{} .. {}], margin {} [{} .. {}]; always-valid p = {:.3}{}",
                    r.treated,
                    r.holdout,
                    r.days,
                    cents(r.treated_mean_revenue_cents),
                    cents(r.holdout_mean_revenue_cents),
                    cents(e.effect),
                    cents(e.low),
                    cents(e.high),
                    args.level * 100.0,
                    -r.variance_reduction * 100.0,
                    cents(r.incremental_revenue.effect),
                    cents(r.incremental_revenue.low),
                    cents(r.incremental_revenue.high),
                    cents(r.incremental_margin.effect),
                    cents(r.incremental_margin.low),
                    cents(r.incremental_margin.high),
                    r.sequential.p_value,
                    match r.sequential.rejected_at {
                        Some(d) => format!(" (significant since day {d})"),
                        None => String::new(),
                    }
                );
            }
        }
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Csv => bail!("measure writes table or json"),
        Format::Table => {}
    }
    Ok(())
}

fn cents(v: f64) -> String {
    if v.is_finite() { unico_core::Money::from_cents(v.round() as i64).to_string() } else { "-".into() }
}

/// `unico goals …`.
pub fn goals(data: &std::path::Path, command: &GoalsCommand) -> Result<()> {
    let dir = DataDir::open(data)?;
    let rt = runtime()?;
    let store = dir.store(&rt)?;
    let result = match command {
        GoalsCommand::Add { kpi, target, by, scope, review, notify } => {
            let k = Kpi::parse(kpi).with_context(|| {
                format!(
                    "unknown KPI {kpi:?}; goals can be set on: {}",
                    ALL_KPIS.iter().filter(|k| k.goal_allowed()).map(|k| k.name()).collect::<Vec<_>>().join(", ")
                )
            })?;
            if !k.goal_allowed() {
                bail!(
                    "{kpi} counts distinct customers or compares periods, which a week's value cannot be summed from; set the goal on a KPI from docs/kpis.md marked for goals"
                );
            }
            if k.unit() == kpis::Unit::Share && !(0.0..=1.0).contains(target) {
                bail!("{kpi} is a share between 0 and 1 (e.g. 0.65 for 65 %), got {target}");
            }
            let deadline = parse_day(by)?;
            let (scope_kind, scope_value) = match scope.as_deref() {
                None | Some("all") => ("all".to_string(), None),
                Some(s) => match s.split_once(':') {
                    Some(("store", v)) | Some(("segment", v)) if !v.is_empty() => {
                        (s.split_once(':').expect("checked").0.to_string(), Some(v.to_string()))
                    }
                    _ => bail!("--scope is store:ID or segment:NAME, got {s:?}"),
                },
            };
            for n in notify {
                if !(n.starts_with("mailto:") && n.contains('@')
                    || n.starts_with("https://")
                    || n.starts_with("http://"))
                {
                    bail!("--notify is mailto:ADDRESS or an http(s) URL, got {n:?}");
                }
            }
            let goal = unico_store::kpis::Goal {
                id: 0,
                kpi: k.name().to_string(),
                target: *target,
                deadline: date_of(deadline).to_string(),
                scope_kind,
                scope_value,
                review: match review {
                    Review::Daily => "daily",
                    Review::Weekly => "weekly",
                }
                .to_string(),
                notify: notify.join(","),
                state: None,
                checked_on: None,
            };
            let id = rt.block_on(store.add_goal(&goal))?;
            println!(
                "goal {id}: {} {} {} by {}",
                goal.kpi,
                if k.higher_is_better() { "≥" } else { "≤" },
                target,
                goal.deadline
            );
            Ok(())
        }
        GoalsCommand::Status { as_of, format } => goal_status(&dir, &rt, &store, as_of.as_deref(), *format),
    };
    rt.block_on(store.close());
    result
}

fn goal_status(
    dir: &DataDir,
    rt: &tokio::runtime::Runtime,
    store: &unico_store::Store,
    as_of: Option<&str>,
    format: Format,
) -> Result<()> {
    let goals = rt.block_on(store.goals())?;
    if goals.is_empty() {
        println!("no goals yet: add one with `unico goals add --kpi NAME --target VALUE --by DATE`");
        return Ok(());
    }
    let lake = Lake::open(dir.lake_dir())?;
    let as_of = match as_of {
        Some(d) => parse_day(d)?,
        None => last_day(&lake)?,
    };
    let from = as_of - goals::FIT_DAYS - 7;
    let profiles = Profiles::read(&dir.model_dir().join("profiles.parquet"))?;
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
    let bar = bar("reading receipts for the goals");
    let mut cube = cube::compute(&lake, &q, &|d, t| {
        bar.set_length(t);
        bar.set_position(d);
    })?;
    bar.finish_and_clear();
    let facts = store_facts(
        &Sources { dir, lake: &lake, profiles: &profiles, costs: &costs },
        &mut cube,
        Grain::Day,
        split,
        as_of,
    )?;
    let keys: std::collections::BTreeSet<(i32, Group)> = cube.cells.keys().chain(facts.keys()).copied().collect();
    let mut out = Vec::new();
    for g in &goals {
        let Some(kpi) = Kpi::parse(&g.kpi) else { continue };
        let deadline = parse_day(&g.deadline)?;
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
        // Weekly goals announce a change once a week at most.
        let due = g.review == "daily"
            || g.checked_on.as_deref().and_then(|d| parse_day(d).ok()).is_none_or(|c| as_of - c >= 7);
        let mut changed = false;
        if due {
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
            changed =
                rt.block_on(store.record_goal_state(g.id, status.state.name(), &date_of(as_of).to_string(), &alerts))?;
        }
        out.push((g.clone(), kpi, status, changed));
    }
    match format {
        Format::Json => {
            let doc: Vec<_> = out
                .iter()
                .map(|(g, _, s, changed)| serde_json::json!({"goal": g, "status": s, "changed": changed}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"as_of": date_of(as_of).to_string(), "goals": doc}))?
            );
        }
        _ => {
            println!("goals as of {}", date_of(as_of));
            for (g, kpi, s, changed) in &out {
                let v = |x: Option<f64>| x.map(|x| format_value(*kpi, x)).unwrap_or_else(|| "-".into());
                println!(
                    "  {:>3} {:<28} {:<16} target {} by {}: last 7 days {} (week before {}), projected {} ± {}, P(meet) {} → {}{}",
                    g.id,
                    g.kpi,
                    match &g.scope_value {
                        Some(v) => format!("{}:{v}", g.scope_kind),
                        None => "all".into(),
                    },
                    format_value(*kpi, g.target),
                    g.deadline,
                    v(s.current),
                    v(s.previous_week),
                    v(s.projected),
                    v(s.projected_standard_error),
                    s.probability.map(|p| format!("{:.0}%", p * 100.0)).unwrap_or_else(|| "-".into()),
                    s.state.name(),
                    if *changed { " (changed: alert written to the outbox)" } else { "" }
                );
                if !s.movers.is_empty() {
                    let m: Vec<String> = s
                        .movers
                        .iter()
                        .map(|m| {
                            let sign = if m.contribution >= 0.0 { "+" } else { "" };
                            format!("{} {} {sign}{}", m.dimension, m.name, format_value(*kpi, m.contribution))
                        })
                        .collect();
                    println!("      moved by (last week vs the one before): {}", m.join(", "));
                }
            }
        }
    }
    Ok(())
}

fn format_value(kpi: Kpi, v: f64) -> String {
    match kpi.unit() {
        kpis::Unit::Cents => format!("{:.2}", v / 100.0),
        kpis::Unit::Share => format!("{:.2}%", v * 100.0),
        kpis::Unit::Count => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// `unico outbox`.
pub fn outbox(data: &std::path::Path, all: bool) -> Result<()> {
    let dir = DataDir::open(data)?;
    let rt = runtime()?;
    let store = dir.store(&rt)?;
    let messages = rt.block_on(store.outbox(all))?;
    rt.block_on(store.close());
    if messages.is_empty() {
        println!("the outbox is empty");
    }
    for m in messages {
        println!(
            "{:>4} {} {} {:<28} {}{}",
            m.id,
            m.created_at.get(..19).unwrap_or(&m.created_at),
            m.kind,
            m.recipient,
            m.subject,
            m.sent_at.map(|s| format!(" (sent {s})")).unwrap_or_default()
        );
    }
    Ok(())
}
