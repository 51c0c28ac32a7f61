//! The back office's pages: each handler asks the service layer on a blocking thread and
//! builds a [`Page`] of blocks.

use super::charts::{LineChart, Series, sparkline};
use super::*;
use crate::auth::own_store;
use crate::routes::blocking;
use axum::extract::Path;
use std::collections::BTreeMap;
use std::time::Instant;
use unico_app::kpi::{ALL_KPIS, Grain, Kpi, KpiRequest, KpiUnit, Row};

// ---- formatting ----

/// Digits grouped by thousands.
pub(crate) fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("−{out}") } else { out }
}

/// Cents as money: `1,234.56 EUR`.
pub(crate) fn money(cents: f64, currency: &str) -> String {
    let c = cents.round() as i64;
    let sign = if c < 0 { "−" } else { "" };
    format!("{sign}{}.{:02} {currency}", grouped((c / 100).abs()), (c % 100).abs())
}

/// A KPI's value in its unit.
pub(crate) fn kpi_value(kpi: Kpi, v: Option<f64>, currency: &str) -> String {
    let Some(v) = v else { return "—".into() };
    match kpi.unit() {
        KpiUnit::Cents => money(v, currency),
        KpiUnit::Count => grouped(v.round() as i64),
        KpiUnit::Share => format!("{:.1} %", v * 100.0),
        KpiUnit::Points => format!("{v:+.1} pts"),
        KpiUnit::PerCustomer => format!("{v:.2}"),
        KpiUnit::Score => format!("{v:.0}"),
    }
}

/// A change between two values of a KPI, in words.
fn change(kpi: Kpi, now: Option<f64>, before: Option<f64>, against: &str, currency: &str) -> Compare {
    let (Some(a), Some(b)) = (now, before) else {
        return Compare { class: "flat", text: format!("no data for {against}") };
    };
    let d = a - b;
    let good = if kpi.higher_is_better() { d > 0.0 } else { d < 0.0 };
    let arrow = if d > 0.0 {
        "▲"
    } else if d < 0.0 {
        "▼"
    } else {
        "="
    };
    let size = match kpi.unit() {
        KpiUnit::Share => format!("{:+.1} pts", d * 100.0),
        KpiUnit::Score | KpiUnit::Points => format!("{d:+.1}"),
        _ if b.abs() > 1e-9 => format!("{:+.1} %", d / b.abs() * 100.0),
        _ => kpi_value(kpi, Some(d), currency),
    };
    let class = if d == 0.0 {
        "flat"
    } else if good {
        "up"
    } else {
        "down"
    };
    Compare { class, text: format!("{arrow} {size} vs {against}") }
}

fn days(d: jiff::civil::Date, n: i64) -> jiff::civil::Date {
    d.checked_add(jiff::Span::new().days(n)).unwrap_or(d)
}

/// The page, or its error as a page.
pub(crate) fn finish(r: ApiResult<Page>, ctx: &Ctx, headers: &HeaderMap, path: &str, started: Instant) -> Response {
    match r {
        Ok(p) => p.render(started),
        Err(e) => error_page(e, Some(ctx), headers, path),
    }
}

pub(crate) fn currency(ctx: &Ctx) -> String {
    ctx.tenant.app.settings().currency.clone()
}

// ---- home: the daily review ----

/// The tiles of the home page: the programme's KPIs.
const TILES: &[(&str, &str)] = &[
    ("average_receipt_card_cents", "Average receipt with card"),
    ("average_receipt_no_card_cents", "Average receipt without card"),
    ("average_receipt_gap_cents", "Gap: with card minus without"),
    ("loyalty_share", "Loyalty share of revenue"),
    ("incremental_revenue_cents", "Incremental revenue (vs holdouts)"),
    ("incremental_margin_cents", "Incremental margin (vs holdouts)"),
    ("offers_redeemed", "Offers redeemed"),
    ("offer_discount_cents", "Discount cost of offers"),
    ("csat", "CSAT"),
    ("nps", "NPS"),
];

/// `GET /office/`: the daily review — goals with their trajectories, the programme's KPIs
/// against the previous four weeks and the same four weeks a year before.
#[utoipa::path(get, path = "/office/", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn home(Extension(ctx): Extension<Ctx>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let r = home_page(&ctx, &headers).await;
    finish(r, &ctx, &headers, "/office/", started)
}

async fn home_page(ctx: &Ctx, headers: &HeaderMap) -> ApiResult<Page> {
    let mut p = page(ctx, headers, "/office/", "Daily review");
    if ctx.caller.role == Role::Support {
        p.title = "Support".into();
        p.blocks.push(Block::para("Find a customer to answer their questions, or open the tickets shoppers sent."));
        p.blocks.push(Block::Links(vec![
            Link { href: "/office/customers".into(), label: "Customers".into() },
            Link { href: "/office/tickets".into(), label: "Tickets".into() },
        ]));
        return Ok(p);
    }
    let store = own_store(ctx, None)?;
    let app = ctx.tenant.app.clone();
    let cur = currency(ctx);
    let for_store = store.clone();
    let (review, goals) = match blocking(move || {
        let kpis: Vec<Kpi> = TILES.iter().filter_map(|(name, _)| Kpi::parse(name)).collect();
        let review = app.kpi_review(for_store.as_deref(), &kpis)?;
        let mut goals = app.goals_review(Some(&review.to.to_string()), false, &unico_app::Silent)?;
        if let Some(s) = &for_store {
            goals.goals.retain(|g| g.goal.scope_kind == "store" && g.goal.scope_value.as_deref() == Some(s.as_str()));
        }
        Ok((review, goals))
    })
    .await
    {
        Err(e) if e.code == Code::LakeEmpty => {
            p.blocks.push(Block::notice(
                "warn",
                "No receipts yet: import an export on the Data page, then build the model.",
            ));
            return Ok(p);
        }
        r => r?,
    };
    let to = review.to;
    let scope = match &store {
        Some(s) => format!("store {s}"),
        None => "the whole chain".into(),
    };
    p.blocks.push(Block::para(format!(
        "Data up to {to} for {scope}. Each figure covers the last four weeks ({} to {to}), against the four weeks before and the same four weeks a year earlier.",
        days(to, -27)
    )));
    // Goals.
    p.blocks.push(Block::heading("Goals"));
    if goals.goals.is_empty() {
        p.blocks.push(Block::para(
            "No goals yet: set one with `unico goals add` or POST /api/v1/goals (a KPI, a target, a deadline).",
        ));
    }
    for g in &goals.goals {
        if let Some(view) = goal_view(g, to, &cur) {
            p.blocks.push(Block::Goal(view));
        }
    }
    // Tiles.
    p.blocks.push(Block::heading("The programme"));
    let mut tiles = Vec::new();
    for (r, (name, label)) in review.kpis.iter().zip(TILES) {
        let Some(kpi) = Kpi::parse(name) else { continue };
        tiles.push(Tile {
            label: label.to_string(),
            href: Some(format!("/office/kpis?kpi={name}")),
            value: kpi_value(kpi, r.now, &cur),
            compare: vec![
                change(kpi, r.now, r.previous, "the 4 weeks before", &cur),
                change(kpi, r.now, r.last_year, "a year ago", &cur),
            ],
            spark: sparkline(&format!("{label}, last 13 weeks"), &r.weekly),
        });
    }
    p.blocks.push(Block::Tiles(tiles));
    Ok(p)
}

fn goal_view(g: &unico_app::kpi::GoalStatusRow, as_of: jiff::civil::Date, cur: &str) -> Option<GoalView> {
    let kpi = Kpi::parse(&g.goal.kpi)?;
    let deadline: jiff::civil::Date = g.goal.deadline.parse().ok()?;
    let x = |d: jiff::civil::Date| (d - as_of).get_days() as f64;
    let s = &g.status;
    let scope = match (g.goal.scope_kind.as_str(), g.goal.scope_value.as_deref()) {
        ("store", Some(v)) => format!(" in store {v}"),
        ("segment", Some(v)) => format!(" in segment {v}"),
        _ => String::new(),
    };
    let (label, class) = match s.state.name() {
        "on_track" => ("on track", "ok"),
        "at_risk" => ("at risk", "warn"),
        "off_track" => ("off track", "bad"),
        "met" => ("met", "ok"),
        "missed" => ("missed", "bad"),
        _ => ("not enough data yet", "flat"),
    };
    let mut series = vec![Series {
        name: "actual (7 days)".into(),
        points: g.history.iter().filter_map(|h| h.value.map(|v| (x(h.end), v))).collect(),
        dashed: false,
    }];
    let mut band = Vec::new();
    if let (Some(cur_v), Some(proj)) = (s.current, s.projected) {
        series.push(Series {
            name: "projection".into(),
            points: vec![(0.0, cur_v), (x(deadline), proj)],
            dashed: true,
        });
        // The 80 % band of the projection (±1.28 standard errors), widening from today.
        let se = s.projected_standard_error.unwrap_or(0.0);
        band = vec![(0.0, cur_v, cur_v), (x(deadline), proj - 1.2816 * se, proj + 1.2816 * se)];
    }
    let first = g.history.first().map(|h| h.end).unwrap_or(as_of);
    let fmt: fn(f64) -> String = match kpi.unit() {
        KpiUnit::Cents => |v| grouped((v / 100.0).round() as i64),
        KpiUnit::Share => |v| format!("{:.0} %", v * 100.0),
        _ => |v| format!("{v:.1}"),
    };
    let target = kpi_value(kpi, Some(g.goal.target), cur);
    let chart = LineChart {
        id: format!("goal{}", g.goal.id),
        title: format!("{}{scope}: trajectory to {target} by {deadline}", g.goal.kpi),
        desc: format!(
            "Weekly values from {first} to {as_of}, now {}; projected {} at the deadline {deadline} (80 % band shaded); target {target}.",
            kpi_value(kpi, s.current, cur),
            kpi_value(kpi, s.projected, cur)
        ),
        series,
        band,
        target: Some((g.goal.target, format!("target {target}"))),
        deadline: Some((x(deadline), format!("deadline {deadline}"))),
        x_labels: vec![(x(first), first.to_string()), (0.0, as_of.to_string()), (x(deadline), deadline.to_string())],
        y_format: fmt,
    };
    let probability = s.probability.map(|p| format!(", {:.0} % likely to be met", p * 100.0)).unwrap_or_default();
    let movers: Vec<String> = s
        .movers
        .iter()
        .take(6)
        .map(|m| {
            let c = match kpi.unit() {
                KpiUnit::Share => format!("{:+.2} pts", m.contribution * 100.0),
                KpiUnit::Cents => {
                    format!("{}{}", if m.contribution >= 0.0 { "+" } else { "" }, money(m.contribution, cur))
                }
                _ => format!("{:+.2}", m.contribution),
            };
            format!("{} {} {c}", m.dimension, m.name)
        })
        .collect();
    Some(GoalView {
        id: g.goal.id,
        title: format!("{}{scope}: {target} by {deadline}", kpi_label(kpi)),
        state: label.into(),
        state_class: class,
        summary: format!(
            "Last 7 days {}, the 7 before {}; projected {} at the deadline{probability}.",
            kpi_value(kpi, s.current, cur),
            kpi_value(kpi, s.previous_week, cur),
            kpi_value(kpi, s.projected, cur)
        ),
        svg: chart.svg(),
        caption: "Actual (solid), projection with its 80 % band (dashed, shaded), target (dashed line), deadline (vertical line).".into(),
        movers: movers.join("; "),
    })
}

/// A KPI's name for people.
pub(crate) fn kpi_label(kpi: Kpi) -> String {
    TILES.iter().find(|(n, _)| *n == kpi.name()).map(|(_, l)| l.to_string()).unwrap_or_else(|| {
        let n = kpi.name().trim_end_matches("_cents").replace('_', " ");
        let mut c = n.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
    })
}

// ---- the KPI explorer ----

#[derive(Deserialize, Default)]
pub(crate) struct KpiQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    split: Option<String>,
    store: Option<String>,
    kpi: Option<String>,
}

fn kpi_request(ctx: &Ctx, q: &KpiQuery) -> ApiResult<KpiRequest> {
    let asked = q.store.as_deref().filter(|s| !s.is_empty() && *s != "all");
    let store = own_store(ctx, asked)?;
    let by = Grain::parse(q.by.as_deref().unwrap_or("week"))
        .ok_or_else(|| ApiError::new(Code::InputInvalid, "the period length is day, week or month").field("by"))?;
    let split = q.split.as_deref().unwrap_or("none");
    if !matches!(split, "none" | "store" | "channel" | "segment") {
        return Err(ApiError::new(Code::InputInvalid, "split is none, store, channel or segment").field("split"));
    }
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    Ok(KpiRequest {
        from: nonempty(&q.from),
        to: nonempty(&q.to),
        by,
        by_store: split == "store" && store.is_none(),
        by_channel: split == "channel",
        by_segment: split == "segment",
        store,
    })
}

/// `GET /office/kpis`: any KPI by period, store, channel or segment, as a chart and a table.
#[utoipa::path(get, path = "/office/kpis", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn kpis(Extension(ctx): Extension<Ctx>, headers: HeaderMap, q_: QueryIn<KpiQuery>) -> Response {
    let q = q_.ok();
    let started = Instant::now();
    let q = q.map(|q| q.0).unwrap_or_default();
    let r = kpis_page(&ctx, &headers, q).await;
    finish(r, &ctx, &headers, "/office/kpis", started)
}

async fn kpis_page(ctx: &Ctx, headers: &HeaderMap, q: KpiQuery) -> ApiResult<Page> {
    let mut p = page(ctx, headers, "/office/kpis", "KPI explorer");
    let req = kpi_request(ctx, &q)?;
    let kpi = match q.kpi.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => {
            Kpi::parse(k).ok_or_else(|| ApiError::new(Code::InputInvalid, format!("no KPI {k:?}")).field("kpi"))?
        }
        None => Kpi::parse("loyalty_share").expect("a KPI"),
    };
    let app = ctx.tenant.app.clone();
    let r = req.clone();
    let (report, stores) = blocking(move || {
        let stores = app.app_stores()?;
        Ok((app.kpis(&r, &unico_app::Silent)?, stores))
    })
    .await?;
    let cur = currency(ctx);
    let mut store_options = Vec::new();
    if ctx.caller.role != Role::StoreManager {
        store_options.push(("all".to_string(), "All stores".to_string()));
        store_options.extend(stores.iter().map(|s| (s.store_id.clone(), format!("{} {}", s.store_id, s.name))));
    } else if let Some(s) = &req.store {
        store_options.push((s.clone(), format!("store {s}")));
    }
    let opt = |v: &[&str]| v.iter().map(|s| (s.to_string(), s.to_string())).collect::<Vec<_>>();
    let kpi_options = ALL_KPIS.iter().map(|k| (k.name().to_string(), kpi_label(*k))).collect();
    let mut fields = vec![
        Field::select("kpi", "KPI", kpi.name(), kpi_options),
        Field::input("date", "from", "From", report.from.to_string()),
        Field::input("date", "to", "To", report.to.to_string()),
        Field::select("by", "Period", report.by, opt(&["day", "week", "month"])),
        Field::select("store", "Store", req.store.clone().unwrap_or_else(|| "all".into()), store_options),
    ];
    let split = q.split.clone().unwrap_or_else(|| "none".into());
    let splits: &[&str] =
        if req.store.is_some() { &["none", "channel", "segment"] } else { &["none", "store", "channel", "segment"] };
    fields.push(Field::select("split", "One line per", split.clone(), opt(splits)));
    p.blocks.push(Block::Form(Form::get("/office/kpis", "Show").fields(fields).inline()));
    let i = ALL_KPIS.iter().position(|k| *k == kpi).unwrap_or(0);
    // One series per group (at most eight, the largest by revenue).
    let group = |r: &Row| {
        [r.store.as_deref(), r.channel.as_deref(), r.segment.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut by_group: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &report.rows {
        by_group.entry(group(r)).or_default().push(r);
    }
    let mut groups: Vec<(String, Vec<&Row>)> = by_group.into_iter().collect();
    groups.sort_by_key(|(_, rows)| {
        -rows.iter().map(|r| r.measures.value(Kpi::Revenue, None).unwrap_or(0.0) as i64).sum::<i64>()
    });
    let periods: Vec<String> = {
        let mut v: Vec<String> = report.rows.iter().map(|r| r.period_start.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let xi = |r: &Row| periods.iter().position(|p| *p == r.period_start).unwrap_or(0) as f64;
    let series: Vec<Series> = groups
        .iter()
        .take(8)
        .map(|(name, rows)| Series {
            name: if name.is_empty() { "all".into() } else { name.clone() },
            points: rows.iter().filter_map(|r| r.values.get(i).copied().flatten().map(|v| (xi(r), v))).collect(),
            dashed: false,
        })
        .collect();
    let step = (periods.len() / 6).max(1);
    let x_labels =
        periods.iter().enumerate().filter(|(n, _)| n % step == 0).map(|(n, p)| (n as f64, p.clone())).collect();
    let fmt: fn(f64) -> String = match kpi.unit() {
        KpiUnit::Cents => |v| grouped((v / 100.0).round() as i64),
        KpiUnit::Share => |v| format!("{:.0} %", v * 100.0),
        _ => |v| format!("{v:.1}"),
    };
    let chart = LineChart {
        id: "kpi".into(),
        title: format!("{} by {}, {} to {}", kpi_label(kpi), report.by, report.from, report.to),
        desc: format!("{} periods, {} lines; the table below has every value.", periods.len(), series.len()),
        series,
        band: vec![],
        target: None,
        deadline: None,
        x_labels,
        y_format: fmt,
    };
    p.blocks.push(Block::Chart(Chart {
        svg: chart.svg(),
        caption: format!("{}: {} (unit: {})", kpi_label(kpi), kpi.definition(), unit_name(kpi.unit(), &cur)),
    }));
    let csv_query = format!(
        "from={}&to={}&by={}&split={}&store={}",
        report.from,
        report.to,
        report.by,
        url_encode(&split),
        url_encode(req.store.as_deref().unwrap_or("all"))
    );
    p.blocks.push(Block::Links(vec![Link {
        href: format!("/office/kpis.csv?{csv_query}"),
        label: "Download every KPI of this view as CSV".into(),
    }]));
    let shown = [
        "revenue_cents",
        "average_receipt_card_cents",
        "average_receipt_no_card_cents",
        "loyalty_share",
        "offers_redeemed",
    ];
    let mut columns = vec![kpi.name()];
    columns.extend(shown.iter().filter(|n| **n != kpi.name()));
    let labels: Vec<String> = columns.iter().filter_map(|n| Kpi::parse(n)).map(kpi_label).collect();
    let mut head = vec!["period", "group"];
    head.extend(labels.iter().map(String::as_str));
    let mut t = Table::new(format!("{} by {}", kpi_label(kpi), report.by), &head).empty("No receipts in this period.");
    for r in &report.rows {
        let mut row = vec![
            Cell::text(r.period.clone()),
            Cell::text({
                let g = group(r);
                if g.is_empty() { "all".into() } else { g }
            }),
        ];
        for name in &columns {
            let k = Kpi::parse(name).expect("a KPI");
            let j = ALL_KPIS.iter().position(|x| *x == k).unwrap_or(0);
            row.push(Cell::num(kpi_value(k, r.values.get(j).copied().flatten(), &cur)));
        }
        t.rows.push(row);
    }
    p.blocks.push(Block::Table(t));
    Ok(p)
}

fn unit_name(u: KpiUnit, cur: &str) -> String {
    match u {
        KpiUnit::Cents => cur.to_string(),
        KpiUnit::Count => "count".into(),
        KpiUnit::Share => "share, shown as %".into(),
        KpiUnit::Points => "percentage points".into(),
        KpiUnit::PerCustomer => "receipts per customer".into(),
        KpiUnit::Score => "score −100 to 100".into(),
    }
}

/// `GET /office/kpis.csv`: the explorer's view, every KPI, as CSV.
#[utoipa::path(get, path = "/office/kpis.csv", tag = "office", responses((status = 200, body = String, content_type = "text/csv")))]
pub(crate) async fn kpis_csv(Extension(ctx): Extension<Ctx>, headers: HeaderMap, q_: QueryIn<KpiQuery>) -> Response {
    let q = q_.ok();
    let q = q.map(|q| q.0).unwrap_or_default();
    let req = match kpi_request(&ctx, &q) {
        Ok(r) => r,
        Err(e) => return error_page(e, Some(&ctx), &headers, "/office/kpis.csv"),
    };
    let app = ctx.tenant.app.clone();
    let out = blocking(move || {
        let report = app.kpis(&req, &unico_app::Silent)?;
        let mut buf = Vec::new();
        report.write_csv(&mut buf)?;
        Ok((buf, report.from, report.to))
    })
    .await;
    match out {
        Ok((bytes, from, to)) => {
            let disposition = format!("attachment; filename=\"kpis-{from}-{to}.csv\"");
            let mut r = (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response();
            secure(&mut r, None);
            r
        }
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/kpis.csv"),
    }
}

// ---- campaigns ----

/// `GET /office/campaigns`: the campaigns, and the policy editor.
#[utoipa::path(get, path = "/office/campaigns", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn campaigns(Extension(ctx): Extension<Ctx>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let app = ctx.tenant.app.clone();
    let r = async {
        let (list, text) = blocking(move || {
            let list = app.campaigns()?;
            let text = match app.policy_versions()?.first() {
                Some(v) => app.policy_version(&v.id)?,
                None => EXAMPLE_POLICY.to_string(),
            };
            Ok((list, text))
        })
        .await?;
        let mut p = page(&ctx, &headers, "/office/campaigns", "Campaigns");
        let mut t = Table::new("Campaigns", &["campaign", "status", "from", "to", "offers", "planned"])
            .empty("No campaign yet: write a policy below and plan it.");
        for c in &list {
            t.rows.push(vec![
                Cell::link(c.id.clone(), format!("/office/campaigns/{}", segment(&c.id))),
                Cell::text(c.status.clone()),
                Cell::text(c.valid_from.clone()),
                Cell::text(c.valid_to.clone()),
                Cell::num(grouped(c.offers)),
                Cell::text(c.created_at.clone()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        p.blocks.push(Block::heading("Plan a campaign"));
        p.blocks.push(Block::para(
            "Write the commercial policy (docs/offers.md: budgets, limits, margins, exclusions, segments) or upload its file. Check shows each problem at its line; Plan checks, then computes every customer's offers for a preview before anything is published.",
        ));
        p.blocks.push(Block::Form(policy_form(&text)));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/campaigns", started)
}

/// The example policy, the editor's starting text before any is kept.
const EXAMPLE_POLICY: &str = include_str!("../../../../docs/examples/policy.toml");

fn policy_form(text: &str) -> Form {
    Form::post("/office/campaigns/plan", "Plan")
        .multipart()
        .fields(vec![
            Field::textarea("policy", "Policy (TOML)", text, 24),
            Field::input("file", "file", "Or upload a policy file", "")
                .help("An uploaded file replaces the text above."),
        ])
        .buttons(&[("Check", "action", "check"), ("Plan", "action", "plan")])
}

/// `POST /office/campaigns/plan`: checks a policy (problems at their lines) and, when asked
/// and it is sound, plans it as a job.
#[utoipa::path(post, path = "/office/campaigns/plan", tag = "office",
    request_body(content_type = "multipart/form-data", content = Object),
    responses((status = 303, description = "to the plan's job"), (status = 422, body = String, content_type = "text/html")))]
pub(crate) async fn plan(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let started = Instant::now();
    let path = "/office/campaigns";
    let r: ApiResult<Response> = async {
        let mut multipart = multipart.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
        let (mut text, mut action) = (String::new(), "check".to_string());
        let mut uploaded = None;
        while let Some(field) =
            multipart.next_field().await.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?
        {
            let name = field.name().unwrap_or_default().to_string();
            let value = field.text().await.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
            match name.as_str() {
                "policy" => text = value,
                "file" if !value.trim().is_empty() => uploaded = Some(value),
                "action" => action = value,
                _ => {}
            }
        }
        let text = uploaded.unwrap_or(text).replace("\r\n", "\n");
        let app = ctx.tenant.app.clone();
        let t = text.clone();
        let checked = tokio::task::spawn_blocking(move || app.check_policy_text(&t, "policy"))
            .await
            .map_err(|_| ApiError::new(Code::Internal, "the check failed unexpectedly"))?;
        let mut p = page(&ctx, &headers, path, "Plan a campaign");
        match checked {
            Err(e) if !e.problems().is_empty() || e.code() == Code::PolicyInvalid => {
                p.status = StatusCode::UNPROCESSABLE_ENTITY;
                let n = e.problems().len();
                p.blocks.push(Block::notice(
                    "error",
                    format!(
                        "The policy has {n} problem{}: each is shown at its line below. Nothing was planned.",
                        if n == 1 { "" } else { "s" }
                    ),
                ));
                if e.problems().is_empty() {
                    p.blocks.push(Block::notice("error", e.to_string()));
                }
                let mut lines: Vec<ListingLine> = text
                    .lines()
                    .enumerate()
                    .map(|(i, l)| ListingLine { number: i + 1, text: l.to_string(), problems: Vec::new() })
                    .collect();
                for prob in e.problems() {
                    match lines.get_mut(prob.line.max(1) - 1) {
                        Some(l) => l.problems.push(prob.message.clone()),
                        None => p.blocks.push(Block::notice("error", format!("line {}: {}", prob.line, prob.message))),
                    }
                }
                p.blocks.push(Block::Listing(Listing { caption: "The policy, line by line".into(), lines }));
                p.blocks.push(Block::Form(policy_form(&text)));
                Ok(p.render(started))
            }
            Err(e) => Err(ApiError::from(e)),
            Ok(c) if action != "plan" => {
                p.blocks.push(Block::notice(
                    "ok",
                    format!(
                        "The policy is sound: campaign “{}” from {} to {}, budget {}.",
                        c.campaign_id,
                        c.valid_from,
                        c.valid_to,
                        money(c.budget_cents as f64, &currency(&ctx))
                    ),
                ));
                p.blocks.push(Block::Form(policy_form(&text)));
                Ok(p.render(started))
            }
            Ok(_) => {
                let app = ctx.tenant.app.clone();
                let kept = text.clone();
                let policy = blocking(move || app.keep_policy(&kept)).await?;
                let out = ctx.tenant.app.root().join("campaigns").join(format!(
                    "{}-{}",
                    jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S"),
                    hex::encode(rand::random::<[u8; 3]>())
                ));
                let version = policy.file_stem().map(|s| s.to_string_lossy().into_owned());
                let request = serde_json::json!({"policy_version": version, "from": "office"});
                let plan = unico_app::plan::PlanRequest { policy, as_of: None, out, dry_run: false };
                let caller = ctx.caller.clone();
                let id = crate::jobs::start(&ctx, "plan", request, ctx.pause, move |app, progress| {
                    let planned = app.plan_campaign(&plan, progress)?;
                    let details = serde_json::json!({"campaign": planned.campaign_id, "dry_run": planned.dry_run});
                    app.record(&caller, "plan", None, &details)?;
                    serde_json::to_value(&planned).map_err(|e| unico_app::Error::new(Code::Internal, e.to_string()))
                })
                .await?;
                Ok(see_other(&format!("/office/jobs/{id}")))
            }
        }
    }
    .await;
    r.unwrap_or_else(|e| error_page(e, Some(&ctx), &headers, path))
}

/// `GET /office/jobs/{id}`: a job's progress (the page reloads itself until it ends).
#[utoipa::path(get, path = "/office/jobs/{id}", tag = "office", params(("id" = String, Path)),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn job(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let app = ctx.tenant.app.clone();
    let r = async {
        let job = blocking(move || app.job(&id)).await?;
        let mut p = page(&ctx, &headers, "/office/jobs", format!("Job: {}", job.kind));
        p.blocks.push(Block::para(format!("Started by {} at {}.", job.created_by, job.created_at)));
        match job.state.as_str() {
            "queued" | "running" => {
                p.refresh = Some(1);
                let percent = if job.total > 0 {
                    format!("{:.0} %", job.done as f64 / job.total as f64 * 100.0)
                } else {
                    "under way".into()
                };
                let label = if job.step.is_empty() { job.state.clone() } else { job.step.clone() };
                p.blocks.push(Block::Progress(ProgressView {
                    label,
                    done: job.done,
                    total: job.total.max(1),
                    percent,
                }));
                p.blocks.push(Block::para("This page reloads every second until the job ends."));
            }
            "done" => {
                let result = job.result.clone().unwrap_or_default();
                p.blocks.push(Block::notice("ok", format!("Done at {}.", job.finished_at.clone().unwrap_or_default())));
                let mut links = Vec::new();
                if let Some(c) = result.get("campaign_id").and_then(|v| v.as_str()) {
                    links.push(Link {
                        href: format!("/office/campaigns/{}", segment(c)),
                        label: format!("Preview campaign “{c}”"),
                    });
                }
                // An import: a row per file with its counts and the link to its rejected rows.
                let summaries = result.get("summaries").and_then(|v| v.as_array()).cloned().unwrap_or_default();
                let mut t = Table::new(
                    "Imported",
                    &["dataset", "rows read", "imported", "updated", "already there", "rejected", "rejected rows"],
                );
                for sum in &summaries {
                    let n = |k: &str| grouped(sum.get(k).and_then(|v| v.as_i64()).unwrap_or(0));
                    let rejected: i64 = sum
                        .get("rejected")
                        .and_then(|v| v.as_object())
                        .map(|m| m.values().filter_map(|v| v.as_i64()).sum())
                        .unwrap_or(0);
                    let file = sum
                        .get("rejects_file")
                        .and_then(|v| v.as_str())
                        .and_then(|f| std::path::Path::new(f).file_name())
                        .map(|n| n.to_string_lossy().into_owned());
                    t.rows.push(vec![
                        Cell::text(sum.get("dataset").and_then(|v| v.as_str()).unwrap_or("").to_string()),
                        Cell::num(n("rows_read")),
                        Cell::num(n("rows_imported")),
                        Cell::num(n("rows_updated")),
                        Cell::num(n("rows_already_in_lake")),
                        Cell::num(grouped(rejected)),
                        match file {
                            Some(f) => Cell::link(
                                "download, with lines and reasons",
                                format!("/office/data/rejects/{}", segment(&f)),
                            ),
                            None => Cell::text("none"),
                        },
                    ]);
                }
                if !links.is_empty() {
                    p.blocks.push(Block::Links(links));
                }
                if summaries.is_empty() {
                    p.blocks.push(Block::Pre(serde_json::to_string_pretty(&result).unwrap_or_default()));
                } else {
                    p.blocks.push(Block::Table(t));
                }
            }
            _ => {
                let message = job
                    .error
                    .as_ref()
                    .and_then(|e| e.get("message"))
                    .and_then(|m| m.as_str())
                    .unwrap_or("the job failed")
                    .to_string();
                p.blocks.push(Block::notice("error", message));
            }
        }
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/jobs", started)
}

/// `GET /office/campaigns/{id}`: a campaign's preview, its state, and its results against
/// the holdout.
#[utoipa::path(get, path = "/office/campaigns/{id}", tag = "office", params(("id" = String, Path)),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn campaign(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let app = ctx.tenant.app.clone();
    let path = format!("/office/campaigns/{}", segment(&id));
    let r = async {
        let cid = id.clone();
        let (state, preview, measured) = blocking(move || {
            let state = app
                .campaigns()?
                .into_iter()
                .find(|c| c.id == cid)
                .ok_or_else(|| unico_app::Error::new(Code::NotFound, format!("no campaign {cid:?}")))?;
            let preview = app.campaign_preview(&cid).ok();
            let req = unico_app::kpi::MeasureRequest { campaign: Some(cid.clone()), as_of: None, level: 0.95 };
            let measured = app.measure(&req).ok();
            Ok((state, preview, measured))
        })
        .await?;
        let cur = currency(&ctx);
        let mut p = page(&ctx, &headers, "/office/campaigns", format!("Campaign “{}”", state.name));
        p.blocks.push(Block::para(format!(
            "{} from {} to {}: {} offers, {}.",
            state.id,
            state.valid_from,
            state.valid_to,
            grouped(state.offers),
            match state.status.as_str() {
                "planned" => "planned, not published: no shopper sees it yet".to_string(),
                "published" => format!(
                    "published {}: the app shows the offers, the tills accept them",
                    state.published_at.clone().unwrap_or_default()
                ),
                s => format!("{s} {}", state.stopped_at.clone().unwrap_or_default()),
            }
        )));
        match state.status.as_str() {
            "planned" => p.blocks.push(Block::Form(
                Form::post(format!("/office/campaigns/{}/publish", segment(&id)), "Publish").inline(),
            )),
            "published" => p.blocks.push(Block::Form(
                Form::post(format!("/office/campaigns/{}/stop", segment(&id)), "Stop").danger().inline(),
            )),
            _ => {}
        }
        if let Some(pv) = &preview {
            p.blocks.push(Block::heading("The plan"));
            let mut t = Table::new("Budgets: expected use", &["budget", "amount", "expected use", "share"]);
            let pct =
                |a: i64, b: i64| if b > 0 { format!("{:.0} %", a as f64 / b as f64 * 100.0) } else { "—".into() };
            let used = if pv.basis == "worst_case" { pv.worst_cost_cents } else { pv.expected_cost_cents };
            t.rows.push(vec![
                Cell::text(format!("whole campaign (counted on {})", pv.basis.replace('_', " "))),
                Cell::num(money(pv.total_cents as f64, &cur)),
                Cell::num(money(used as f64, &cur)),
                Cell::num(pct(used, pv.total_cents)),
            ]);
            for l in &pv.limits {
                t.rows.push(vec![
                    Cell::text(format!("{}{}", l.scope, if l.supplier_funded { " (supplier-funded)" } else { "" })),
                    Cell::num(money(l.cents as f64, &cur)),
                    Cell::num(money(l.used_cents as f64, &cur)),
                    Cell::num(pct(l.used_cents, l.cents)),
                ]);
            }
            p.blocks.push(Block::Table(t));
            let c = |k: &str| pv.customers.get(k).copied().unwrap_or(0);
            p.blocks.push(Block::Tiles(vec![
                tile("Expected incremental margin", money(pv.expected_incremental_margin_cents as f64, &cur)),
                tile("Expected cost", money(pv.expected_cost_cents as f64, &cur)),
                tile("Cost if every offer were used", money(pv.worst_cost_cents as f64, &cur)),
                tile("Offers", grouped(pv.offers)),
                tile("Distinct personal sets", grouped(pv.distinct_offer_sets)),
                tile("Customers with personal offers", grouped(c("personal"))),
                tile("Held out (control group)", grouped(c("holdout"))),
                tile("Without marketing consent", grouped(c("no_consent"))),
            ]));
            for (caption, rows) in [
                ("Offers by segment", &pv.by_segment),
                ("Offers by category", &pv.by_category),
                ("Offers by type", &pv.by_kind),
            ] {
                let mut t = Table::new(
                    caption,
                    &["group", "customers", "offers", "expected cost", "expected incremental margin"],
                );
                for b in rows.iter().take(15) {
                    t.rows.push(vec![
                        Cell::text(b.name.clone()),
                        Cell::num(grouped(b.customers)),
                        Cell::num(grouped(b.offers)),
                        Cell::num(money(b.expected_cost_cents as f64, &cur)),
                        Cell::num(money(b.expected_incremental_margin_cents as f64, &cur)),
                    ]);
                }
                p.blocks.push(Block::Table(t));
            }
            let mut t = Table::new(
                "A sample of customers and their offers",
                &["card", "segment", "offer", "discount", "reason"],
            );
            for s in &pv.sample {
                for (i, o) in s.offers.iter().enumerate() {
                    t.rows.push(vec![
                        if i == 0 {
                            Cell::link(
                                s.customer_id.clone(),
                                format!("/office/customers/{}", url_encode(&s.customer_id)),
                            )
                        } else {
                            Cell::text("")
                        },
                        Cell::text(if i == 0 { s.segment.clone() } else { String::new() }),
                        Cell::text(format!(
                            "{} · {}{}",
                            o.product,
                            o.kind.replace('_', " "),
                            if o.percent_off > 0 { format!(" · {} % off", o.percent_off) } else { String::new() }
                        )),
                        Cell::num(money(o.discount_cents as f64, &cur)),
                        Cell::text(o.reason.clone()),
                    ]);
                }
            }
            p.blocks.push(Block::Table(t));
        } else {
            p.blocks.push(Block::para(
                "The campaign's files are not in this data directory: the preview is not available.",
            ));
        }
        p.blocks.push(Block::heading("Results against the holdout"));
        match measured.as_ref().and_then(|m| m.campaigns.iter().find(|c| c.campaign == id)) {
            None => p.blocks.push(Block::para("No results yet: the campaign has not started in the data.")),
            Some(m) => {
                p.blocks.push(Block::para(format!(
                    "Measured to {}: {} offers redeemed, {} of discount{}.",
                    m.as_of,
                    grouped(m.redeemed_offers),
                    money(m.discount_cents as f64, &cur),
                    m.roi.map(|r| format!(", {r:.2} of incremental margin per unit of discount")).unwrap_or_default()
                )));
                let mut t = Table::new(
                    "Uplift against the holdout (95 % intervals)",
                    &[
                        "offers",
                        "treated",
                        "held out",
                        "incremental revenue",
                        "incremental margin",
                        "always-valid test",
                    ],
                );
                for o in &m.by_offer_type {
                    let e = &o.measurement;
                    let interval = |x: &unico_app::kpi::Estimate| {
                        format!("{} ({} to {})", money(x.effect, &cur), money(x.low, &cur), money(x.high, &cur))
                    };
                    let test = match e.sequential.rejected_at {
                        Some(day) => format!("significant from look {day} (p = {:.3})", e.sequential.p_value),
                        None => format!(
                            "not yet significant (p = {:.3} after {} looks)",
                            e.sequential.p_value, e.sequential.looks
                        ),
                    };
                    t.rows.push(vec![
                        Cell::text(o.offer_type.clone()),
                        Cell::num(grouped(e.treated as i64)),
                        Cell::num(grouped(e.holdout as i64)),
                        Cell::text(interval(&e.incremental_revenue)),
                        Cell::text(interval(&e.incremental_margin)),
                        Cell::text(test),
                    ]);
                }
                p.blocks.push(Block::Table(t));
                // The always-valid test day by day, on all offers.
                if let Some(all) = m.by_offer_type.iter().find(|o| o.offer_type == "all") {
                    let daily = &all.measurement.daily;
                    let date = |d: u32| days(m.from, i64::from(d) - 1);
                    let chart = LineChart {
                        id: "sequential".into(),
                        title: "The always-valid p-value day by day".into(),
                        desc: format!(
                            "{} daily looks from {}; the test rejects \"no effect\" when the p-value falls under 0.05.",
                            daily.len(),
                            m.from
                        ),
                        series: vec![Series {
                            name: "p-value".into(),
                            points: daily.iter().map(|l| (f64::from(l.day), l.p_value)).collect(),
                            dashed: false,
                        }],
                        band: vec![],
                        target: Some((0.05, "α = 0.05".into())),
                        deadline: None,
                        x_labels: daily
                            .iter()
                            .filter(|l| l.day == 1 || l.day as usize == daily.len())
                            .map(|l| (f64::from(l.day), date(l.day).to_string()))
                            .collect(),
                        y_format: |v| format!("{v:.2}"),
                    };
                    p.blocks.push(Block::Chart(Chart { svg: chart.svg(), caption: "Under the α line, the uplift is significant; an always-valid test may be looked at every day without inflating false alarms.".into() }));
                    let mut t = Table::new("The always-valid test day by day (all offers)", &["day", "date", "uplift per treated customer so far", "p-value so far", "state"]);
                    for l in daily {
                        t.rows.push(vec![
                            Cell::num(l.day.to_string()),
                            Cell::text(date(l.day).to_string()),
                            Cell::num(money(l.effect_cents, &cur)),
                            Cell::num(format!("{:.3}", l.p_value)),
                            Cell::text(if l.rejected { "significant" } else { "not yet" }),
                        ]);
                    }
                    p.blocks.push(Block::Table(t));
                }
            }
        }
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, &path, started)
}

fn tile(label: &str, value: String) -> Tile {
    Tile { label: label.into(), href: None, value, compare: Vec::new(), spark: String::new() }
}

/// `POST /office/campaigns/{id}/publish`.
#[utoipa::path(post, path = "/office/campaigns/{id}/publish", tag = "office", params(("id" = String, Path)),
    responses((status = 303, description = "back to the campaign")))]
pub(crate) async fn publish(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    let cid = id.clone();
    match blocking(move || app.publish_campaign(&cid, &caller)).await {
        Ok(_) => see_other(&format!("/office/campaigns/{}", segment(&id))),
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/campaigns"),
    }
}

/// `POST /office/campaigns/{id}/stop`.
#[utoipa::path(post, path = "/office/campaigns/{id}/stop", tag = "office", params(("id" = String, Path)),
    responses((status = 303, description = "back to the campaign")))]
pub(crate) async fn stop(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    let cid = id.clone();
    match blocking(move || app.stop_campaign(&cid, &caller)).await {
        Ok(_) => see_other(&format!("/office/campaigns/{}", segment(&id))),
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/campaigns"),
    }
}

// ---- customers ----

#[derive(Deserialize, Default)]
pub(crate) struct SearchQuery {
    q: Option<String>,
}

/// `GET /office/customers`: find a customer by card, e-mail or phone.
#[utoipa::path(get, path = "/office/customers", tag = "office", responses((status = 200, body = String, content_type = "text/html"), (status = 303, description = "to the customer found")))]
pub(crate) async fn customers(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    q_: QueryIn<SearchQuery>,
) -> Response {
    let q = q_.ok();
    let started = Instant::now();
    let asked = q.and_then(|q| q.0.q).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut p = page(&ctx, &headers, "/office/customers", "Customers");
    if let Some(reference) = asked.clone() {
        let app = ctx.tenant.app.clone();
        match blocking(move || app.resolve_customer(&reference)).await {
            Ok(id) => return see_other(&format!("/office/customers/%23{id}")),
            Err(e) if e.code == Code::NotFound || e.code == Code::InputInvalid => {
                p.blocks.push(Block::notice(
                    "error",
                    format!("No customer matches “{}”.", asked.clone().unwrap_or_default()),
                ));
            }
            Err(e) => return error_page(e, Some(&ctx), &headers, "/office/customers"),
        }
    }
    p.blocks.push(Block::Form(
        Form::get("/office/customers", "Find")
            .fields(vec![Field::input("search", "q", "Card, e-mail or phone", asked.unwrap_or_default()).required()])
            .inline(),
    ));
    if matches!(ctx.caller.role, Role::Admin | Role::Support) {
        p.blocks
            .push(Block::Links(vec![Link { href: "/office/duplicates".into(), label: "Duplicates to review".into() }]));
    }
    p.render(started)
}

/// `GET /office/customers/{id}`: the single customer view (personal data for admin and
/// support; the behavioural profile for marketing).
#[utoipa::path(get, path = "/office/customers/{id}", tag = "office", params(("id" = String, Path)),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn customer(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let path = format!("/office/customers/{}", segment(&id));
    let r = customer_page(&ctx, &headers, id).await;
    finish(r, &ctx, &headers, &path, started)
}

async fn customer_page(ctx: &Ctx, headers: &HeaderMap, id: String) -> ApiResult<Page> {
    let personal = matches!(ctx.caller.role, Role::Admin | Role::Support);
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    let (cid, card, profile, (tickets, orders), p_alive, history, names) = blocking(move || {
        let cid = app.resolve_customer(&id)?;
        let who = format!("#{cid}");
        let card = if personal {
            let c = app.customer(&who, None)?;
            app.record(&caller, "read_customer", Some(cid), &serde_json::json!({"from": "office"}))?;
            Some(c)
        } else {
            None
        };
        let profile = app.customer_profile(&who, None)?;
        let p_alive = app.p_alive_history(&who, 26).unwrap_or_default();
        let history = app.offer_history(&who, 50)?;
        let skus: Vec<&str> = profile
            .due_items
            .iter()
            .map(|d| d.sku.as_str())
            .chain(profile.offers.iter().map(|o| o.sku.as_str()))
            .chain(history.iter().map(|o| o.sku.as_str()))
            .collect();
        let names = app.product_names(&skus)?;
        let (tickets, orders) = if personal {
            (app.store_tickets(None)?.into_iter().filter(|t| t.customer_id == cid).collect(), app.customer_orders(cid)?)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok((cid, card, profile, (tickets, orders), p_alive, history, names))
    })
    .await?;
    let cur = currency(ctx);
    // A product by its name, with its code.
    let product = |sku: &str| match names.get(sku) {
        Some(n) => format!("{n} ({sku})"),
        None => sku.to_string(),
    };
    let mut p = page(ctx, headers, "/office/customers", format!("Customer #{cid}"));
    if let Some(card) = &card {
        let mut t = Table::new(
            "Registrations and cards",
            &["registration", "name", "e-mail", "phone", "birth date", "city", "cards"],
        );
        for r in &card.view.registrations {
            let pii = r.pii.clone().unwrap_or_default();
            let name =
                [pii.first_name.clone(), pii.last_name.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ");
            t.rows.push(vec![
                Cell::text(format!("#{}{}", r.id, if r.erased_at.is_some() { " (erased)" } else { "" })),
                Cell::text(name),
                Cell::text(pii.email.unwrap_or_default()),
                Cell::text(pii.phone.unwrap_or_default()),
                Cell::text(pii.birth_date.unwrap_or_default()),
                Cell::text(pii.city.unwrap_or_default()),
                Cell::text(r.cards.iter().map(|c| c.card.clone()).collect::<Vec<_>>().join(", ")),
            ]);
        }
        p.blocks.push(Block::Table(t));
    } else {
        p.blocks.push(Block::para("Your role sees the behavioural profile, not the personal data."));
    }
    p.blocks.push(Block::heading("Profile"));
    let mut t = Table::new(
        "The model's profile (per card)",
        &[
            "as of",
            "segment",
            "R F M",
            "P(alive)",
            "expected purchases",
            "CLV",
            "average receipt",
            "bought on promotion",
            "store",
            "channel",
            "usual day and hour",
            "last purchase",
        ],
    )
    .empty("No profile: the model has not been built since this customer bought.");
    for pr in &profile.profiles {
        t.rows.push(vec![
            Cell::text(pr.as_of.clone()),
            Cell::text(pr.segment.clone()),
            Cell::text(format!("{} {} {}", pr.r_score, pr.f_score, pr.m_score)),
            Cell::num(format!("{:.0} %", pr.p_alive * 100.0)),
            Cell::num(format!("{:.1} in {} days", pr.expected_purchases, pr.horizon_days)),
            Cell::num(money(pr.clv_cents as f64, &cur)),
            Cell::num(money(pr.average_receipt_cents as f64, &cur)),
            Cell::num(format!("{:.0} %", pr.discount_share * 100.0)),
            Cell::text(pr.preferred_store_id.clone().unwrap_or_default()),
            Cell::text(pr.preferred_channel.clone()),
            Cell::text(format!("{} {}:00", pr.preferred_weekday, pr.preferred_hour)),
            Cell::text(pr.last_purchase_date.clone()),
        ]);
    }
    p.blocks.push(Block::Table(t));
    if let Some(longest) = p_alive.iter().map(|s| s.points.len()).max().filter(|n| *n >= 2) {
        let end = p_alive.iter().filter_map(|s| s.points.last()).map(|p| p.day).max().expect("points");
        let first = p_alive.iter().filter_map(|s| s.points.first()).map(|p| p.day).min().expect("points");
        let several = p_alive.len() > 1;
        let now: Vec<String> = p_alive
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let p = s.points.last()?;
                Some(if several {
                    format!("card {} {:.0} %", i + 1, p.p_alive * 100.0)
                } else {
                    format!("{:.0} %", p.p_alive * 100.0)
                })
            })
            .collect();
        let chart = LineChart {
            id: "palive".into(),
            title: "P(alive) over the last 26 weeks".into(),
            desc: format!(
                "The probability that the customer is still active, judged at the end of each of {longest} weeks from {first} to {end}; now {}.",
                now.join(", ")
            ),
            series: p_alive
                .iter()
                .enumerate()
                .map(|(i, s)| Series {
                    name: if several { format!("card {} (as in the profile table)", i + 1) } else { "P(alive)".into() },
                    points: s.points.iter().map(|h| ((h.day - end).get_days() as f64, h.p_alive)).collect(),
                    dashed: false,
                })
                .collect(),
            band: vec![],
            target: Some((0.5, "lapsed under 50 %".into())),
            deadline: None,
            x_labels: vec![((first - end).get_days() as f64, first.to_string()), (0.0, end.to_string())],
            y_format: |v| format!("{:.0} %", v * 100.0),
        };
        p.blocks.push(Block::Chart(Chart {
            svg: chart.svg(),
            caption: "P(alive) from the model's BG/NBD fit and each card's purchase days up to each week's end (the model scores each card apart): it falls while the customer stays away and rises when they buy.".into(),
        }));
    }
    let mut t = Table::new(
        "Habits: products and their next due date",
        &["product", "category", "bought on days", "cycle (days)", "next due"],
    )
    .empty("No regular purchases found.");
    for d in profile.due_items.iter().take(25) {
        t.rows.push(vec![
            Cell::text(product(&d.sku)),
            Cell::text(d.category.clone()),
            Cell::num(d.purchase_days.to_string()),
            Cell::num(format!("{:.1}", d.cycle_days)),
            Cell::text(d.next_due_date.clone()),
        ]);
    }
    p.blocks.push(Block::Table(t));
    let mut t = Table::new(
        format!("Offers valid on {}", profile.on),
        &["code", "product", "offer", "discount", "valid", "reason"],
    )
    .empty("No offer valid today.");
    for o in &profile.offers {
        t.rows.push(vec![
            Cell::text(o.code.clone()),
            Cell::text(product(&o.sku)),
            Cell::text(format!(
                "{}{}",
                o.kind.replace('_', " "),
                if o.percent_off > 0 { format!(", {} % off", o.percent_off) } else { String::new() }
            )),
            Cell::num(money(o.discount_cents as f64, &cur)),
            Cell::text(format!("{} to {}", o.valid_from, o.valid_to)),
            Cell::text(o.reason.clone()),
        ]);
    }
    p.blocks.push(Block::Table(t));
    let redeemed = history.iter().filter(|o| o.redeemed_at.is_some()).count();
    let mut t = Table::new(
        format!("Offers and redemptions: {} offers, {redeemed} redeemed", history.len()),
        &["campaign", "product", "offer", "discount", "valid", "redeemed"],
    )
    .empty("No offer made yet.");
    for o in &history {
        t.rows.push(vec![
            Cell::link(o.campaign_id.clone(), format!("/office/campaigns/{}", segment(&o.campaign_id))),
            Cell::text(product(&o.sku)),
            Cell::text(format!(
                "{}{}",
                o.kind.replace('_', " "),
                if o.percent_off > 0 { format!(", {} % off", o.percent_off) } else { String::new() }
            )),
            Cell::num(money(o.discount_cents as f64, &cur)),
            Cell::text(format!("{} to {}", o.valid_from, o.valid_to)),
            Cell::text(o.redeemed_at.clone().unwrap_or_else(|| "—".into())),
        ]);
    }
    p.blocks.push(Block::Table(t));
    if let Some(card) = &card {
        let mut t = Table::new("Consent history", &["when", "purpose", "given", "policy", "source"]);
        for c in &card.view.consent_history {
            t.rows.push(vec![
                Cell::text(c.at.clone()),
                Cell::text(c.purpose.clone()),
                Cell::text(if c.granted { "yes" } else { "withdrawn" }),
                Cell::text(c.policy_version.clone()),
                Cell::text(c.source.clone()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        let mut t = Table::new("Tickets", &["ticket", "store", "subject", "state", "updated"]).empty("No tickets.");
        for tk in &tickets {
            t.rows.push(vec![
                Cell::link(format!("#{}", tk.id), format!("/office/tickets/{}", tk.id)),
                Cell::text(tk.store_id.clone()),
                Cell::text(tk.subject.clone()),
                Cell::text(tk.state.clone()),
                Cell::text(tk.updated_at.clone()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        let mut t =
            Table::new("Click-and-collect orders", &["order", "store", "pickup", "state", "total"]).empty("No orders.");
        let admin = ctx.caller.role == Role::Admin;
        for o in &orders {
            let id = format!("#{}", o.id);
            t.rows.push(vec![
                if admin { Cell::link(id, format!("/office/orders/{}", o.id)) } else { Cell::text(id) },
                Cell::text(o.store_id.clone()),
                Cell::text(o.slot.starts_at.clone()),
                Cell::text(o.state.clone()),
                Cell::num(money(o.total_cents as f64, &cur)),
            ]);
        }
        p.blocks.push(Block::Table(t));
        p.blocks.push(Block::heading("Rights"));
        p.blocks.push(Block::Links(vec![
            Link {
                href: format!("/office/customers/{cid}/export"),
                label: "Export everything kept about this customer (JSON)".into(),
            },
            Link { href: format!("/office/customers/{cid}/erase"), label: "Erase this customer…".into() },
        ]));
    }
    Ok(p)
}

/// `GET /office/customers/{id}/export`: the right of access, as a JSON download.
#[utoipa::path(get, path = "/office/customers/{id}/export", tag = "office", params(("id" = i64, Path)),
    responses((status = 200, body = Object)))]
pub(crate) async fn customer_export(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    match blocking(move || {
        let v = app.export_customer(&format!("#{id}"))?;
        app.record(&caller, "export_customer", Some(id), &serde_json::json!({"from": "office"}))?;
        Ok(v)
    })
    .await
    {
        Ok(v) => {
            let body = serde_json::to_vec_pretty(&v).unwrap_or_default();
            let disposition = format!("attachment; filename=\"customer-{id}.json\"");
            let mut r = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, disposition)],
                body,
            )
                .into_response();
            secure(&mut r, None);
            r
        }
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/customers"),
    }
}

/// `GET /office/customers/{id}/erase`: the confirmation step before erasure.
#[utoipa::path(get, path = "/office/customers/{id}/erase", tag = "office", params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn erase_confirm(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let started = Instant::now();
    let mut p = page(&ctx, &headers, "/office/customers", format!("Erase customer #{id}"));
    p.blocks.push(Block::notice(
        "warn",
        "Erasure cannot be undone: the personal data is destroyed (its key shredded), the customer's receipts leave the lake and the model, their offers and tickets are deleted.",
    ));
    p.blocks.push(Block::Form(
        Form::post(format!("/office/customers/{id}/erase"), "Erase for good")
            .fields(vec![Field::input("text", "confirm", &format!("Type {id} to confirm"), "").required()])
            .danger(),
    ));
    p.blocks.push(Block::Links(vec![Link { href: format!("/office/customers/%23{id}"), label: "Cancel".into() }]));
    p.render(started)
}

#[derive(Deserialize)]
pub(crate) struct ConfirmForm {
    confirm: Option<String>,
}

/// `POST /office/customers/{id}/erase`: erases, once the id is typed back.
#[utoipa::path(post, path = "/office/customers/{id}/erase", tag = "office", params(("id" = i64, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn erase(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form_: FormIn<ConfirmForm>,
) -> Response {
    let form = form_.ok();
    let started = Instant::now();
    if form.and_then(|f| f.0.confirm).map(|c| c.trim().to_string()) != Some(id.to_string()) {
        let e = ApiError::new(Code::InputInvalid, format!("type {id} to confirm the erasure; nothing was erased"));
        return error_page(e, Some(&ctx), &headers, "/office/customers");
    }
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    match blocking(move || {
        let done = app.erase_customer(&format!("#{id}"), &unico_app::Silent)?;
        app.record(&caller, "erase_customer", Some(id), &serde_json::json!({"from": "office"}))?;
        Ok(done)
    })
    .await
    {
        Ok(done) => {
            let mut p = page(&ctx, &headers, "/office/customers", format!("Customer #{id} erased"));
            p.blocks.push(Block::notice(
                "ok",
                format!(
                    "Erased: {} receipt lines left the lake, {} model rows and {} campaign rows were removed.",
                    grouped(done.lake_lines as i64),
                    grouped(done.model_rows as i64),
                    grouped(done.campaign_rows as i64)
                ),
            ));
            p.render(started)
        }
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/customers"),
    }
}

/// `GET /office/duplicates`: likely duplicates with their evidence, to merge.
#[utoipa::path(get, path = "/office/duplicates", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn duplicates(Extension(ctx): Extension<Ctx>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    let r = async {
        let found = blocking(move || {
            let found = app.duplicates(0.5)?;
            app.record(&caller, "read_duplicates", None, &serde_json::json!({"pairs": found.len(), "from": "office"}))?;
            Ok(found)
        })
        .await?;
        let mut p = page(&ctx, &headers, "/office/duplicates", "Duplicates to review");
        let yes = |b: bool| if b { "same" } else { "—" };
        let mut t = Table::new(
            "Likely duplicate registrations",
            &["registration", "registration", "score", "e-mail", "phone", "tax code", "birth date", "name", "address"],
        )
        .empty("No likely duplicates.");
        for c in &found {
            let e = &c.evidence;
            t.rows.push(vec![
                Cell::link(format!("#{}", c.a), format!("/office/customers/%23{}", c.a)),
                Cell::link(format!("#{}", c.b), format!("/office/customers/%23{}", c.b)),
                Cell::num(format!("{:.2}", c.score)),
                Cell::text(yes(e.same_email)),
                Cell::text(yes(e.same_phone)),
                Cell::text(yes(e.same_tax_code)),
                Cell::text(yes(e.same_birth_date)),
                Cell::num(format!("{:.0} %", e.name_similarity * 100.0)),
                Cell::num(format!("{:.0} %", e.address_similarity * 100.0)),
            ]);
        }
        p.blocks.push(Block::Table(t));
        p.blocks.push(Block::Form(
            Form::post("/office/duplicates/merge", "Merge")
                .legend("Merge every pair scoring at least")
                .fields(vec![Field::input("number", "threshold", "Least score (0–1)", "0.9").required()]),
        ));
        p.blocks.push(Block::Form(Form::post("/office/duplicates/unmerge", "Unmerge").legend("Undo a merge").fields(
            vec![Field::input("text", "card", "A card of the registration to separate again", "").required()],
        )));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/duplicates", started)
}

#[derive(Deserialize)]
pub(crate) struct MergeForm {
    threshold: Option<f64>,
    card: Option<String>,
}

/// `POST /office/duplicates/merge`.
#[utoipa::path(post, path = "/office/duplicates/merge", tag = "office",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn merge(Extension(ctx): Extension<Ctx>, headers: HeaderMap, form_: FormIn<MergeForm>) -> Response {
    let form = form_.ok();
    let started = Instant::now();
    let threshold = form.and_then(|f| f.0.threshold).filter(|t| (0.0..=1.0).contains(t));
    let Some(threshold) = threshold else {
        return error_page(
            ApiError::new(Code::InputInvalid, "the least score is between 0 and 1"),
            Some(&ctx),
            &headers,
            "/office/duplicates",
        );
    };
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    match blocking(move || {
        let merged = app.merge_duplicates(Some(threshold))?;
        app.record(&caller, "merge", None, &serde_json::json!({"from": "office"}))?;
        Ok(merged)
    })
    .await
    {
        Ok(m) => {
            let mut p = page(&ctx, &headers, "/office/duplicates", "Duplicates merged");
            p.blocks.push(Block::notice(
                "ok",
                format!("{} pairs merged at a score of at least {}.", m.merges.len(), m.threshold),
            ));
            p.blocks.push(Block::Links(vec![Link {
                href: "/office/duplicates".into(),
                label: "Back to the duplicates".into(),
            }]));
            p.render(started)
        }
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/duplicates"),
    }
}

/// `POST /office/duplicates/unmerge`.
#[utoipa::path(post, path = "/office/duplicates/unmerge", tag = "office",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn unmerge(Extension(ctx): Extension<Ctx>, headers: HeaderMap, form_: FormIn<MergeForm>) -> Response {
    let form = form_.ok();
    let started = Instant::now();
    let Some(card) = form.and_then(|f| f.0.card).filter(|c| !c.trim().is_empty()) else {
        return error_page(
            ApiError::new(Code::InputInvalid, "give the card of the registration to separate"),
            Some(&ctx),
            &headers,
            "/office/duplicates",
        );
    };
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    match blocking(move || {
        let undone = app.unmerge(card.trim())?;
        app.record(&caller, "unmerge", Some(undone.restored), &serde_json::json!({"from": "office"}))?;
        Ok(undone)
    })
    .await
    {
        Ok(u) => {
            let mut p = page(&ctx, &headers, "/office/duplicates", "Merge undone");
            p.blocks
                .push(Block::notice("ok", format!("Registration #{} is separate from #{} again.", u.restored, u.from)));
            p.render(started)
        }
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/duplicates"),
    }
}

// ---- data ----

/// `GET /office/data`: upload an export, the jobs, the quality report, the model.
#[utoipa::path(get, path = "/office/data", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn data(Extension(ctx): Extension<Ctx>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let app = ctx.tenant.app.clone();
    let r = async {
        let (jobs, quality, params) = blocking(move || {
            let jobs = app.jobs(20)?;
            let quality = app.quality().ok();
            let params = app.model_params().ok();
            Ok((jobs, quality, params))
        })
        .await?;
        let cur = currency(&ctx);
        let mut p = page(&ctx, &headers, "/office/data", "Data");
        p.blocks.push(Block::Form(
            Form::post("/office/data/upload", "Upload and import")
                .multipart()
                .legend("Import an export")
                .fields(vec![
                    Field::select(
                        "dataset",
                        "What it holds",
                        "receipts",
                        unico_lake::Dataset::EVERY.iter().map(|d| (d.noun().to_string(), d.noun().to_string())).collect(),
                    ),
                    Field::input("file", "file", "The file (CSV, JSON Lines or Parquet)", "").required(),
                    Field::textarea("mapping", "Its mapping (TOML, optional: docs/import.md)", "", 6),
                ]),
        ));
        let mut t = Table::new("Recent jobs", &["job", "kind", "state", "step", "by", "started"]).empty("No jobs yet.");
        for j in &jobs {
            t.rows.push(vec![
                Cell::link(j.id.clone(), format!("/office/jobs/{}", segment(&j.id))),
                Cell::text(j.kind.clone()),
                Cell::text(j.state.clone()),
                Cell::text(j.step.clone()),
                Cell::text(j.created_by.clone()),
                Cell::text(j.created_at.clone()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        p.blocks.push(Block::heading("Data quality"));
        match &quality {
            Some(q) => {
                p.blocks.push(Block::para(format!(
                    "{} imports; {} cards; stores in receipts {} ({} without master data); products in receipts {} ({} without master data, {} lines).",
                    grouped(q.imports as i64),
                    grouped(q.cards as i64),
                    q.stores_in_receipts,
                    q.stores_without_master,
                    grouped(q.products_in_receipts as i64),
                    grouped(q.products_without_master as i64),
                    grouped(q.lines_without_product_master as i64)
                )));
                let mut t = Table::new("By month", &["month", "receipts", "lines", "revenue", "card share of revenue", "card share of receipts"]);
                for m in &q.months {
                    let pct = |a: f64, b: f64| if b > 0.0 { format!("{:.1} %", a / b * 100.0) } else { "—".into() };
                    t.rows.push(vec![
                        Cell::text(m.month.clone()),
                        Cell::num(grouped(m.receipts as i64)),
                        Cell::num(grouped(m.lines as i64)),
                        Cell::num(money(m.revenue_cents as f64, &cur)),
                        Cell::num(pct(m.card_revenue_cents as f64, m.revenue_cents as f64)),
                        Cell::num(pct(m.card_receipts as f64, m.receipts as f64)),
                    ]);
                }
                p.blocks.push(Block::Table(t));
            }
            None => p.blocks.push(Block::para("No receipts imported yet.")),
        }
        p.blocks.push(Block::heading("The model"));
        match &params {
            Some(m) => p.blocks.push(Block::Pre(serde_json::to_string_pretty(m).unwrap_or_default())),
            None => p.blocks.push(Block::para("Not built yet.")),
        }
        p.blocks.push(Block::Form(
            Form::post("/office/data/model", "Build the model")
                .legend("Build the model again")
                .fields(vec![Field::input("date", "as_of", "As of (default: the last day of data)", "")]),
        ));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/data", started)
}

/// `POST /office/data/upload`: an upload with its mapping, imported as a job.
#[utoipa::path(post, path = "/office/data/upload", tag = "office",
    request_body(content_type = "multipart/form-data", content = Object),
    responses((status = 303, description = "to the import's job")))]
pub(crate) async fn upload(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    use unico_lake::Dataset;
    let r: ApiResult<String> = async {
        let crate::routes::Upload { dir, file, mapping, fields } =
            crate::routes::save_upload(&ctx, multipart, &["dataset"]).await?;
        let cleanup = |e: ApiError| {
            let _ = std::fs::remove_dir_all(&dir);
            e
        };
        // A form without a file chosen still sends an empty file part.
        let file = file.filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0));
        let dataset = fields.get("dataset");
        let Some(dataset) = dataset.and_then(|d| Dataset::from_noun(d)) else {
            return Err(cleanup(ApiError::new(Code::InputInvalid, "choose what the file holds")));
        };
        let Some(file) = file else {
            return Err(cleanup(ApiError::new(Code::InputInvalid, "choose a file to upload")));
        };
        let req = unico_app::import::ImportRequest {
            dataset,
            files: vec![file],
            mapping,
            max_reject_rate: None,
            dedupe: dataset == Dataset::Customers,
        };
        let name = format!("{dataset:?}").to_lowercase();
        let caller = ctx.caller.clone();
        crate::jobs::start(
            &ctx,
            "import",
            serde_json::json!({"dataset": name, "from": "office"}),
            ctx.pause,
            move |app, progress| {
                let r = app.import(&req, progress, &mut |_| {});
                let _ = std::fs::remove_dir_all(&dir);
                let report = r?;
                app.record(&caller, "import", None, &serde_json::json!({"dataset": name}))?;
                serde_json::to_value(&report).map_err(|e| unico_app::Error::new(Code::Internal, e.to_string()))
            },
        )
        .await
    }
    .await;
    match r {
        Ok(id) => see_other(&format!("/office/jobs/{id}")),
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/data"),
    }
}

/// `GET /office/data/rejects/{file}`: a rejects file (the rows an import refused, with
/// their lines and reasons).
#[utoipa::path(get, path = "/office/data/rejects/{file}", tag = "office", params(("file" = String, Path)),
    responses((status = 200, body = String, content_type = "text/csv")))]
pub(crate) async fn rejects(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let ok = !file.is_empty()
        && file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !file.starts_with('.');
    let path = ctx.tenant.app.rejects_dir().join(&file);
    match (ok, tokio::fs::read(&path).await) {
        (true, Ok(bytes)) => {
            let disposition = format!("attachment; filename=\"{file}\"");
            let mut r = (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response();
            secure(&mut r, None);
            r
        }
        _ => error_page(
            ApiError::new(Code::NotFound, format!("no rejects file {file:?}")),
            Some(&ctx),
            &headers,
            "/office/data",
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct BuildForm {
    as_of: Option<String>,
}

/// `POST /office/data/model`: builds the model as a job.
#[utoipa::path(post, path = "/office/data/model", tag = "office",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "to the build's job")))]
pub(crate) async fn build_model(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    form_: FormIn<BuildForm>,
) -> Response {
    let form = form_.ok();
    let as_of = form.and_then(|f| f.0.as_of).filter(|s| !s.trim().is_empty());
    let caller = ctx.caller.clone();
    let request = serde_json::json!({"as_of": as_of, "from": "office"});
    let started = crate::jobs::start(&ctx, "model_build", request, ctx.pause, move |app, progress| {
        let built = app.build_model(as_of.as_deref(), None, progress)?;
        app.record(&caller, "model_build", None, &serde_json::json!({"as_of": built.params.as_of}))?;
        serde_json::to_value(&built.params).map_err(|e| unico_app::Error::new(Code::Internal, e.to_string()))
    })
    .await;
    match started {
        Ok(id) => see_other(&format!("/office/jobs/{id}")),
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/data"),
    }
}

// ---- stores: tickets ----

/// `GET /office/tickets`: the ticket inbox (a store manager's store only).
#[utoipa::path(get, path = "/office/tickets", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn tickets(Extension(ctx): Extension<Ctx>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let r = async {
        let store = own_store(&ctx, None)?;
        let app = ctx.tenant.app.clone();
        let s = store.clone();
        let list = blocking(move || app.store_tickets(s.as_deref())).await?;
        let title = match &store {
            Some(s) => format!("Tickets of store {s}"),
            None => "Tickets".into(),
        };
        let mut p = page(&ctx, &headers, "/office/tickets", title);
        let mut t = Table::new("Inbox: open first", &["ticket", "store", "subject", "state", "messages", "updated"])
            .empty("No tickets.");
        let mut list = list;
        list.sort_by(|a, b| {
            (a.state != "open").cmp(&(b.state != "open")).then_with(|| b.updated_at.cmp(&a.updated_at))
        });
        for tk in &list {
            t.rows.push(vec![
                Cell::link(format!("#{}", tk.id), format!("/office/tickets/{}", tk.id)),
                Cell::text(tk.store_id.clone()),
                Cell::text(tk.subject.clone()),
                Cell::text(tk.state.clone()),
                Cell::num(tk.messages.len().to_string()),
                Cell::text(tk.updated_at.clone()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/tickets", started)
}

fn ticket_of_mine(ctx: &Ctx, t: &unico_store::shoppers::Ticket) -> ApiResult<()> {
    match own_store(ctx, None)? {
        Some(s) if s != t.store_id => Err(ApiError::new(Code::NotFound, format!("no ticket {}", t.id))),
        _ => Ok(()),
    }
}

/// `GET /office/tickets/{id}`: a ticket's messages and the answer form.
#[utoipa::path(get, path = "/office/tickets/{id}", tag = "office", params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn ticket(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let started = Instant::now();
    let r = async {
        let app = ctx.tenant.app.clone();
        let t = blocking(move || app.store_ticket(id)).await?;
        ticket_of_mine(&ctx, &t)?;
        let mut p = page(&ctx, &headers, "/office/tickets", format!("Ticket #{}: {}", t.id, t.subject));
        p.blocks.push(Block::para(format!(
            "Store {}, {} since {}; customer #{}.",
            t.store_id, t.state, t.created_at, t.customer_id
        )));
        let mut table = Table::new("Messages", &["when", "from", "message"]);
        for m in &t.messages {
            table.rows.push(vec![Cell::text(m.at.clone()), Cell::text(m.author.clone()), Cell::text(m.body.clone())]);
        }
        p.blocks.push(Block::Table(table));
        if t.state == "open" {
            p.blocks.push(Block::Form(
                Form::post(format!("/office/tickets/{id}/reply"), "Send").legend("Answer").fields(vec![
                    Field::textarea("body", "Your answer (the shopper is told in the app and by message)", "", 5),
                    Field::check("close", "Close the ticket with this answer", false),
                ]),
            ));
        }
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/tickets", started)
}

#[derive(Deserialize)]
pub(crate) struct ReplyForm {
    body: Option<String>,
    close: Option<String>,
}

/// `POST /office/tickets/{id}/reply`.
#[utoipa::path(post, path = "/office/tickets/{id}/reply", tag = "office", params(("id" = i64, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "back to the ticket")))]
pub(crate) async fn reply(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form_: FormIn<ReplyForm>,
) -> Response {
    let form = form_.ok();
    let r = async {
        let form = form.map(|f| f.0).unwrap_or(ReplyForm { body: None, close: None });
        let app = ctx.tenant.app.clone();
        let t = blocking(move || app.store_ticket(id)).await?;
        ticket_of_mine(&ctx, &t)?;
        let app = ctx.tenant.app.clone();
        let caller = ctx.caller.clone();
        let body = form.body.unwrap_or_default();
        let close = form.close.as_deref() == Some("yes");
        blocking(move || app.store_reply(id, &caller, &body, close)).await
    }
    .await;
    match r {
        Ok(_) => see_other(&format!("/office/tickets/{id}")),
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/tickets"),
    }
}

// ---- admin ----

/// `GET /office/admin`: users and roles, terminals, privacy policy versions, webhooks,
/// the audit log.
#[utoipa::path(get, path = "/office/admin", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn admin(Extension(ctx): Extension<Ctx>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let app = ctx.tenant.app.clone();
    let r = async {
        let (users, terminals, policy, hooks, audit, stores) = blocking(move || {
            Ok((
                app.users()?,
                app.terminals()?,
                app.privacy_policies()?,
                app.webhooks()?,
                app.audit_log(50, None)?,
                app.app_stores()?,
            ))
        })
        .await?;
        let mut p = page(&ctx, &headers, "/office/admin", "Admin");
        let mut t = Table::new("Users", &["e-mail", "role", "store", "since", "state", ""]);
        for u in &users {
            t.rows.push(vec![
                Cell::text(u.email.clone()),
                Cell::text(u.role.clone()),
                Cell::text(u.store_id.clone().unwrap_or_default()),
                Cell::text(u.created_at.clone()),
                Cell::text(if u.disabled_at.is_some() { "disabled" } else { "active" }),
                Cell::text(""),
            ]);
        }
        p.blocks.push(Block::Table(t));
        let roles = ["marketing", "store_manager", "support", "admin"]
            .iter()
            .map(|r| (r.to_string(), r.replace('_', " ")))
            .collect();
        let mut store_options = vec![(String::new(), "— (not a store manager)".to_string())];
        store_options.extend(stores.iter().map(|s| (s.store_id.clone(), format!("{} {}", s.store_id, s.name))));
        p.blocks.push(Block::Form(Form::post("/office/admin/users", "Add the user").legend("Add a user").fields(
            vec![
                Field::input("email", "email", "E-mail", "").required(),
                Field::select("role", "Role", "marketing", roles),
                Field::select("store_id", "Store (store managers)", "", store_options),
            ],
        )));
        p.blocks.push(Block::Form(
            Form::post("/office/admin/users/-/disable", "Disable")
                .legend("Disable a user")
                .fields(vec![Field::input("email", "email", "E-mail", "").required()])
                .danger(),
        ));
        let mut t = Table::new("Terminals (tills and web shops)", &["id", "store", "till", "since", "state"])
            .empty("No terminals: add one with `unico terminals add`.");
        for term in &terminals {
            t.rows.push(vec![
                Cell::num(term.id.to_string()),
                Cell::text(term.store_id.clone()),
                Cell::text(term.till_id.clone()),
                Cell::text(term.created_at.clone()),
                Cell::text(if term.revoked_at.is_some() { "revoked" } else { "active" }),
            ]);
        }
        p.blocks.push(Block::Table(t));
        let mut t = Table::new(
            "The privacy policy's versions (the newest is current)",
            &["version", "published", "app accounts on it"],
        )
        .empty("None published: shoppers cannot register until one is.");
        for (version, published, accepted) in &policy {
            t.rows.push(vec![
                Cell::text(version.clone()),
                Cell::text(published.clone()),
                Cell::num(grouped(*accepted)),
            ]);
        }
        p.blocks.push(Block::Table(t));
        p.blocks.push(Block::Form(
            Form::post("/office/admin/privacy", "Publish this version")
                .legend("Publish a new version of the privacy policy (shoppers are asked to accept it in the app)")
                .fields(vec![
                    Field::input("text", "version", "Version", "").required(),
                    Field::textarea("text", "Its text", "", 8).required(),
                ]),
        ));
        let mut t = Table::new("Webhooks", &["id", "address", "events", "since"]).empty("No webhooks.");
        for h in &hooks {
            t.rows.push(vec![
                Cell::num(h.id.to_string()),
                Cell::text(h.url.clone()),
                Cell::text(h.events.join(", ")),
                Cell::text(h.created_at.clone()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        let mut t =
            Table::new("Audit log: the last 50 actions", &["when", "who", "from", "action", "customer", "details"]);
        for a in &audit {
            t.rows.push(vec![
                Cell::text(a.at.clone()),
                Cell::text(a.actor.clone().unwrap_or_default()),
                Cell::text(a.origin.clone().unwrap_or_default()),
                Cell::text(a.action.clone()),
                Cell::text(a.customer_id.map(|c| format!("#{c}")).unwrap_or_default()),
                Cell::text(a.details.clone()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/admin", started)
}

#[derive(Deserialize)]
pub(crate) struct PolicyForm {
    version: Option<String>,
    text: Option<String>,
}

/// `POST /office/admin/privacy`: publishes a new version of the privacy policy.
#[utoipa::path(post, path = "/office/admin/privacy", tag = "office",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "back to admin")))]
pub(crate) async fn publish_privacy(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    form_: FormIn<PolicyForm>,
) -> Response {
    let form = form_.ok().map(|f| f.0);
    let (version, text) = form.map(|f| (f.version.unwrap_or_default(), f.text.unwrap_or_default())).unwrap_or_default();
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    match blocking(move || app.publish_privacy_policy(&version, &text, &caller)).await {
        Ok(()) => see_other("/office/admin"),
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/admin"),
    }
}

#[derive(Deserialize)]
pub(crate) struct UserForm {
    email: Option<String>,
    role: Option<String>,
    store_id: Option<String>,
}

/// `POST /office/admin/users`: adds a user; the one-time password is shown once.
#[utoipa::path(post, path = "/office/admin/users", tag = "office",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn add_user(Extension(ctx): Extension<Ctx>, headers: HeaderMap, form_: FormIn<UserForm>) -> Response {
    let form = form_.ok();
    let started = Instant::now();
    let r = async {
        let form = form.map(|f| f.0).ok_or_else(|| ApiError::new(Code::InputInvalid, "give an e-mail and a role"))?;
        let role = form
            .role
            .as_deref()
            .and_then(Role::parse)
            .ok_or_else(|| ApiError::new(Code::InputInvalid, "choose a role"))?;
        let email = form.email.unwrap_or_default();
        let store = form.store_id.filter(|s| !s.is_empty());
        let app = ctx.tenant.app.clone();
        let caller = ctx.caller.clone();
        let added = blocking(move || app.add_user(&email, role, store.as_deref(), None, &caller)).await?;
        let mut p = page(&ctx, &headers, "/office/admin", "User added");
        p.blocks.push(Block::notice(
            "ok",
            format!(
                "{} can log in as {} with the one-time password {} — give it to them privately; it is not shown again.",
                added.user.email,
                added.user.role.replace('_', " "),
                added.password.unwrap_or_default()
            ),
        ));
        p.blocks.push(Block::Links(vec![Link { href: "/office/admin".into(), label: "Back to admin".into() }]));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, "/office/admin", started)
}

/// `POST /office/admin/users/{email}/disable`: the e-mail in the path, or `-` with the
/// e-mail in the form.
#[utoipa::path(post, path = "/office/admin/users/{email}/disable", tag = "office", params(("email" = String, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "back to admin")))]
pub(crate) async fn disable_user(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(email): Path<String>,
    form_: FormIn<UserForm>,
) -> Response {
    let form = form_.ok();
    let email = match (email.as_str(), form.and_then(|f| f.0.email)) {
        ("-", Some(e)) => e,
        (e, _) => e.to_string(),
    };
    let app = ctx.tenant.app.clone();
    let caller = ctx.caller.clone();
    match blocking(move || app.disable_user(&email, &caller)).await {
        Ok(_) => see_other("/office/admin"),
        Err(e) => error_page(e, Some(&ctx), &headers, "/office/admin"),
    }
}
