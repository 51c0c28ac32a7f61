//! `unico plan` and `unico learn`.

use crate::progress::Bars;
use std::path::PathBuf;
use unico_app::plan::{LearnRequest, PlanRequest};
use unico_app::{App, Result};
use unico_offers::plan::euros;
use unico_offers::response::Arm;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The policy file (TOML); see docs/offers.md.
    #[arg(long)]
    policy: PathBuf,
    /// The day the model was built as of (default: the model's); the plan refuses a model
    /// built as of another day.
    #[arg(long)]
    as_of: Option<String>,
    /// Directory to write the campaign to (created; must not hold a campaign already).
    #[arg(long)]
    out: PathBuf,
    /// Write the files only: do not store the campaign for the app and the tills (a trial).
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
pub struct LearnArgs {
    /// The campaign directory `unico plan` wrote.
    #[arg(long)]
    campaign: PathBuf,
    /// The redeemed offers: a CSV with a `code` column (from the tills or the web shop).
    /// Without it: the redemptions the tills confirmed through the API.
    #[arg(long)]
    redemptions: Option<PathBuf>,
}

/// `unico plan`.
pub fn plan(app: &App, args: PlanArgs) -> Result<()> {
    let req = PlanRequest { policy: args.policy, as_of: args.as_of, out: args.out, dry_run: args.dry_run };
    let p = app.plan_campaign(&req, &Bars::new())?;
    let s = &p.by_status;
    println!("campaign {:?}, {} to {}: {}", p.name, p.valid_from, p.valid_to, p.out.display());
    println!(
        "  {} customers: {} with personal offers, {} non-personal only (no profiling consent), {} held out, {} outside the policy, {} without marketing consent, {} with no offer worth its cost",
        p.customers, s.personal, s.generic, s.holdout, s.excluded, s.no_consent, s.no_offer
    );
    println!(
        "  {} offers, {} distinct offer sets among {} customers",
        p.offers,
        p.distinct_offer_sets,
        s.personal + s.generic
    );
    println!(
        "  budget {} (basis {}): expected cost {}, worst case {}; expected incremental margin {}",
        euros(p.budget_cents),
        p.basis,
        euros(p.expected_cost_cents),
        euros(p.worst_cost_cents),
        euros(p.expected_incremental_margin_cents)
    );
    if p.dry_run {
        println!("  dry run: not stored for the app and the tills");
    } else {
        println!("  stored as {:?}: the app shows the offers, the tills accept the codes", p.campaign_id);
    }
    eprintln!("planned in {:.1} s", p.seconds);
    Ok(())
}

/// `unico learn`.
pub fn learn(app: &App, args: LearnArgs) -> Result<()> {
    let l = app.learn(&LearnRequest { campaign: args.campaign, redemptions: args.redemptions })?;
    println!(
        "learned from {:?}: {} offers, {} redeemed ({} recorded in the store; {} redemption lines, {} rejected{})",
        l.campaign_id,
        l.offers,
        l.redeemed,
        l.recorded,
        l.lines,
        l.rejected,
        l.rejects_file.as_ref().map(|f| format!(": {}", f.display())).unwrap_or_default()
    );
    println!("share of customers moved by a discount (g), by price-sensitivity band and depth:");
    for c in &l.cells {
        let what = match c.arm {
            Arm::Percent => String::new(),
            Arm::MultiBuy { buy, pay } => format!(" ({buy} for {pay})"),
            Arm::Spend => " (spend reward)".to_string(),
        };
        println!("  band {} depth {:>2}%{what}: {:.3} ({} offers)", c.band + 1, c.depth_percent, c.g, c.offers);
    }
    Ok(())
}
