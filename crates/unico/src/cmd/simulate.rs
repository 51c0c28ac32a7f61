//! `unico simulate-campaign`: a policy tried on a simulated chain.

use crate::progress::Bars;
use std::path::PathBuf;
use unico_app::import::ChainStep;
use unico_app::simulate::{AFTER_DAYS, Round, SimulateRequest};
use unico_app::{Result, process_env};
use unico_offers::plan::euros;

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The policy file (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// Simulated people.
    #[arg(long, default_value_t = 3_000)]
    customers: u64,
    /// Days of history before the campaign.
    #[arg(long, default_value_t = 365)]
    history_days: u32,
    /// Seed of the simulated chain.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keep the simulated chain's data directory here (default: a temporary one).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Campaigns run one after the other, each learning from the redemptions of the ones
    /// before (the window moves on by its own length each round).
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let the chain run its own campaigns during the history (a promotion history), and
    /// learn from them (`unico learn --history`) before the first campaign.
    #[arg(long)]
    history: bool,
}

/// `unico simulate-campaign`.
pub fn run(args: SimulateArgs) -> Result<()> {
    let req = SimulateRequest {
        policy: args.policy,
        customers: args.customers,
        history_days: args.history_days,
        seed: args.seed,
        work: args.work,
        rounds: args.rounds,
        out: args.out,
        history: args.history,
    };
    let on_chain = &mut |step: ChainStep<'_>| {
        if let ChainStep::Merged(m) = step {
            println!("merged {} duplicate registrations (score ≥ {})", m.merges.len(), m.threshold);
        }
    };
    unico_app::simulate::simulate_campaign(&req, process_env(), &Bars::new(), on_chain, &mut print_round)?;
    Ok(())
}

fn print_round(r: &Round) {
    let ratio = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
    println!(
        "campaign {}: {} to {} on {} simulated people ({} in the audience, same for every plan)",
        r.number, r.window.from, r.window.to, r.people, r.audience
    );
    println!(
        "{:<44} {:>7} {:>9} {:>12} {:>9} {:>10} {:>14} {:>14} {:>6} {:>14}",
        "plan",
        "offers",
        "customers",
        "planned cost",
        "redeemed",
        "cost",
        "incr. revenue",
        "incr. margin",
        "ROI",
        format!("+{AFTER_DAYS} days")
    );
    for o in &r.plans {
        println!(
            "{:<44} {:>7} {:>9} {:>12} {:>9} {:>10} {:>14} {:>14} {:>6.2} {:>14}",
            o.name,
            o.offers,
            o.customers,
            euros(o.planned_cost_cents),
            o.redeemed,
            euros(o.cost_cents),
            euros(o.incremental_revenue_cents),
            euros(o.incremental_margin_cents),
            o.roi,
            euros(o.incremental_margin_after_cents)
        );
    }
    let (u, f, o, w) = (&r.plans[0], &r.plans[1], &r.plans[3], &r.plans[4]);
    println!(
        "Unico's true incremental margin is {:.0} % of the oracle's ({:.0} % of the oracle without foresight) and {:.1}x the mass flyer's; {:.1} % of customers with personal offers have a set of their own",
        100.0 * ratio(u.incremental_margin_cents, o.incremental_margin_cents),
        100.0 * ratio(u.incremental_margin_cents, w.incremental_margin_cents),
        ratio(u.incremental_margin_cents, f.incremental_margin_cents),
        100.0 * r.distinct_offer_sets_share
    );
    match &r.ad_savings {
        Some(a) => println!(
            "Ad savings: Unico's plan matches the mass flyer's true incremental margin ({}) giving {} of discounts, {:.0} % of the flyer's {} (planned {} vs {}; the policy's budget x {:.3})",
            euros(a.flyer_margin_cents),
            euros(a.unico_cost_cents),
            100.0 * a.share_of_flyer_budget,
            euros(a.flyer_cost_cents),
            euros(a.unico_planned_cents),
            euros(a.flyer_planned_cents),
            a.budget_scale
        ),
        None => {
            println!("Ad savings: not measured (the flyer added no margin, or Unico's whole budget did not match it)")
        }
    }
    if r.unico_by_offer_type.len() > 1 {
        let list: Vec<String> = r
            .unico_by_offer_type
            .iter()
            .map(|t| {
                format!(
                    "{}: {} offers, {} redeemed ({:.0} expected), {}",
                    t.kind,
                    t.offers,
                    t.redeemed,
                    t.expected_redemptions,
                    euros(t.discount_cents)
                )
            })
            .collect();
        println!("Unico's offers by type: {}", list.join("; "));
    }
}
