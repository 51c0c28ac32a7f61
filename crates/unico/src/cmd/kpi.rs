//! `unico kpi`, `measure`, `goals` and `outbox`.

use super::sorted_json;
use crate::progress::Bars;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use unico_app::kpi::{GoalRequest, Grain, Kpi, KpiReport, KpiRequest, KpiUnit, MeasureRequest};
use unico_app::{App, Code, Context, Error, Result};

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
    /// One store only (its rows, without the chain-wide model figures).
    #[arg(long)]
    store: Option<String>,
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

/// The monthly KPI table of the last 12 months (what `unico demo` ends with).
pub fn monthly_report(app: &App) -> Result<()> {
    let req = KpiRequest {
        from: None,
        to: None,
        by: Grain::Month,
        by_store: false,
        by_channel: false,
        by_segment: false,
        store: None,
    };
    let report = app.kpis(&req, &Bars::new())?;
    print_table(&mut std::io::stdout().lock(), &report, &app.settings().currency)?;
    Ok(())
}

/// `unico kpi`.
pub fn kpi(app: &App, args: KpiArgs) -> Result<()> {
    let by = match args.by {
        By::Day => Grain::Day,
        By::Week => Grain::Week,
        By::Month => Grain::Month,
    };
    let req = KpiRequest {
        from: args.from,
        to: args.to,
        by,
        by_store: args.by_store,
        by_channel: args.by_channel,
        by_segment: args.by_segment,
        store: args.store,
    };
    let report = app.kpis(&req, &Bars::new())?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    match args.format {
        Format::Json => writeln!(out, "{}", sorted_json(&report))?,
        Format::Csv => report.write_csv(&mut out)?,
        Format::Table => print_table(&mut out, &report, &app.settings().currency)?,
    }
    out.flush()?;
    Ok(())
}

fn print_table(out: &mut dyn Write, report: &KpiReport, currency: &str) -> Result<()> {
    let money = |v: Option<f64>| v.map(|c| format!("{:.2}", c / 100.0)).unwrap_or_else(|| "-".into());
    let pct = |v: Option<f64>| v.map(|c| format!("{:.1}%", c * 100.0)).unwrap_or_else(|| "-".into());
    let n = |v: Option<f64>| v.map(|c| format!("{c:.0}")).unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "KPIs {} to {} by {} ({} lines read in {:.1} s); money in {}, every KPI in --format json or csv",
        report.from, report.to, report.by, report.lines_read, report.seconds, currency
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
    for r in &report.rows {
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
    if let Some(m) = report.model.as_ref().filter(|m| m.all.customers > 0) {
        let s = &m.all;
        writeln!(
            out,
            "model: {} scored cardholders, {} lapsed (P(alive) < 0.5, {:.1}%), average CLV over {} months {}",
            s.customers,
            s.lapsed,
            s.lapsed_share * 100.0,
            m.clv_months,
            money(Some(s.average_clv_cents as f64))
        )?;
    }
    Ok(())
}

fn cents(v: f64) -> String {
    if v.is_finite() { super::money(v.round() as i64) } else { "-".into() }
}

/// `unico measure`.
pub fn measure(app: &App, args: MeasureArgs) -> Result<()> {
    if args.format == Format::Csv {
        return Err(Error::new(Code::InputInvalid, "measure writes table or json"));
    }
    let report = app.measure(&MeasureRequest { campaign: args.campaign, as_of: args.as_of, level: args.level })?;
    if args.format == Format::Json {
        println!("{}", sorted_json(&report.campaigns));
        return Ok(());
    }
    if report.campaigns.is_empty() {
        println!("no campaign has started by {}: plan one with `unico plan`", report.as_of);
    }
    for c in &report.campaigns {
        println!(
            "{} ({} to {}, measured to {}): {} offers redeemed, {} discount",
            c.campaign,
            c.from,
            c.to,
            c.as_of.min(c.to),
            c.redeemed_offers,
            super::money(c.discount_cents)
        );
        for t in &c.by_offer_type {
            let r = &t.measurement;
            let e = &r.revenue_uplift_cuped;
            println!(
                "  {:<8} {} treated vs {} held out, {} days: spend per customer {} vs {}; uplift {} [{} .. {}] per customer at {:.0}% (CUPED: variance {:+.0}%), incremental revenue {} [{} .. {}], margin {} [{} .. {}]; always-valid p = {:.3}{}",
                t.offer_type,
                r.treated,
                r.holdout,
                r.days,
                cents(r.treated_mean_revenue_cents),
                cents(r.holdout_mean_revenue_cents),
                cents(e.effect),
                cents(e.low),
                cents(e.high),
                report.level * 100.0,
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
    Ok(())
}

/// `unico goals …`.
pub fn goals(app: &App, command: GoalsCommand) -> Result<()> {
    match command {
        GoalsCommand::Add { kpi, target, by, scope, review, notify } => {
            let review = match review {
                Review::Daily => "daily",
                Review::Weekly => "weekly",
            };
            let req = GoalRequest { kpi, target, by, scope, review: review.to_string(), notify };
            let added = app.add_goal(&req)?;
            let g = &added.goal;
            println!(
                "goal {}: {} {} {} by {}",
                g.id,
                g.kpi,
                if added.higher_is_better { "≥" } else { "≤" },
                target,
                g.deadline
            );
        }
        GoalsCommand::Status { as_of, format } => {
            let status = app.goal_status(as_of.as_deref(), &Bars::new())?;
            if status.goals.is_empty() {
                println!("no goals yet: add one with `unico goals add --kpi NAME --target VALUE --by DATE`");
                return Ok(());
            }
            if format == Format::Json {
                println!("{}", sorted_json(&status));
                return Ok(());
            }
            println!("goals as of {}", status.as_of);
            for row in &status.goals {
                let (g, s) = (&row.goal, &row.status);
                let Some(kpi) = Kpi::parse(&g.kpi) else { continue };
                let v = |x: Option<f64>| x.map(|x| format_value(kpi, x)).unwrap_or_else(|| "-".into());
                println!(
                    "  {:>3} {:<28} {:<16} target {} by {}: last 7 days {} (week before {}), projected {} ± {}, P(meet) {} → {}{}",
                    g.id,
                    g.kpi,
                    match &g.scope_value {
                        Some(v) => format!("{}:{v}", g.scope_kind),
                        None => "all".into(),
                    },
                    format_value(kpi, g.target),
                    g.deadline,
                    v(s.current),
                    v(s.previous_week),
                    v(s.projected),
                    v(s.projected_standard_error),
                    s.probability.map(|p| format!("{:.0}%", p * 100.0)).unwrap_or_else(|| "-".into()),
                    s.state.name(),
                    if row.changed { " (changed: alert written to the outbox)" } else { "" }
                );
                if !s.movers.is_empty() {
                    let m: Vec<String> = s
                        .movers
                        .iter()
                        .map(|m| {
                            let sign = if m.contribution >= 0.0 { "+" } else { "" };
                            format!("{} {} {sign}{}", m.dimension, m.name, format_value(kpi, m.contribution))
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
        KpiUnit::Cents => format!("{:.2}", v / 100.0),
        KpiUnit::Share => format!("{:.2}%", v * 100.0),
        KpiUnit::Count => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// `unico outbox`.
pub fn outbox(app: &App, all: bool, body: bool) -> Result<()> {
    let messages = app.outbox(all)?;
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
        if body {
            for line in m.body.lines() {
                println!("       {line}");
            }
        }
    }
    Ok(())
}

/// `unico billing`.
#[derive(clap::Args)]
pub struct BillingArgs {
    /// The month, YYYY-MM.
    #[arg(long)]
    pub month: String,
    /// Where the CSV and the printable page go (default: exports/ in the data directory).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Output format of the summary printed.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `unico billing`.
pub fn billing(app: &App, args: BillingArgs) -> Result<()> {
    let dir = args.out.unwrap_or_else(|| app.exports_dir());
    let files = app.write_bill(&args.month, &dir)?;
    let b = &files.bill;
    if args.format == Format::Json {
        super::print_json(&files);
        return Ok(());
    }
    let money = |c: f64| format!("{:.2}", c / 100.0);
    println!("Results-based bill for {} ({}):", b.month, b.currency);
    for c in &b.campaigns {
        println!(
            "  {:<40} {} to {}  incremental revenue {} ({} to {}), margin {} ({} to {})",
            c.campaign,
            c.from,
            c.to,
            money(c.incremental_revenue.estimate_cents),
            money(c.incremental_revenue.low_cents),
            money(c.incremental_revenue.high_cents),
            money(c.incremental_margin.estimate_cents),
            money(c.incremental_margin.low_cents),
            money(c.incremental_margin.high_cents)
        );
    }
    for p in &b.pending {
        println!("  {:<40} not billed this month: {}", p.campaign, p.reason);
    }
    println!(
        "  total incremental revenue {} ({} to {}); billable {}; share {}; fee {} ({})",
        money(b.incremental_revenue.estimate_cents),
        money(b.incremental_revenue.low_cents),
        money(b.incremental_revenue.high_cents),
        money(b.billable_revenue_cents as f64),
        money(b.share_cents as f64),
        money(b.fee_cents as f64),
        b.tariff
    );
    println!("Written: {} and {}", files.csv.display(), files.html.display());
    Ok(())
}
