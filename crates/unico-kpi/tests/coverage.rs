//! The measurement's promises, checked against the simulator's truth: each simulated person
//! is replayed with offers and without (both potential outcomes are known), then the holdout
//! is drawn again and again at random.
//!
//! - the reported 95 % intervals contain the true uplift in about 95 % of campaigns;
//! - with no effect at all, the sequential test looked at every day of a four-week campaign
//!   rejects in at most 5 % of them — where the plain test looked at daily does not.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unico_kpi::measure::{self, Outcome};
use unico_kpi::stats::{self, Moments};
use unico_sim::{ChainConfig, Offer, OfferValue, SimReceipt, Target, World};

const PEOPLE: u64 = 2_500;
const DAYS: u32 = 140;
const CAMPAIGN_DAYS: i64 = 28;

/// Each person's outcome with the offers and without, and their pre-period spend.
fn potential_outcomes() -> (Vec<Outcome>, Vec<Outcome>) {
    let config =
        ChainConfig { customers: PEOPLE, stores: 4, products: 400, days: DAYS, seed: 11, ..Default::default() };
    let world = World::new(&config);
    let start = config.start.checked_add(jiff::Span::new().days(i64::from(DAYS) - CAMPAIGN_DAYS)).unwrap();
    let end = config.start.checked_add(jiff::Span::new().days(i64::from(DAYS) - 1)).unwrap();
    let pre = start.checked_sub(jiff::Span::new().days(i64::from(measure::PRE_PERIOD_DAYS))).unwrap();
    // A deep offer on three categories for every member: a clearly positive planted effect.
    let categories: Vec<String> = (0..3).map(|i| world.product(i * 37).1.to_string()).collect();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for pid in 0..PEOPLE {
        let card = format!("{:010}", 4_000_000_000u64 + pid * 7 + 3);
        let offers: Vec<Offer> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| Offer {
                code: format!("{pid}-{i}"),
                card: card.clone(),
                target: Target::Category(c.clone()),
                value: OfferValue::PercentOff(30),
                channel: None,
                valid_from: start,
                valid_to: end,
            })
            .collect();
        let r = unico_sim::replay(&world, &offers, &[pid], pre, end);
        let outcome = |receipts: &[SimReceipt]| {
            let mut o = Outcome {
                daily_revenue_cents: vec![0; CAMPAIGN_DAYS as usize],
                daily_margin_cents: vec![0; CAMPAIGN_DAYS as usize],
                ..Default::default()
            };
            for rc in receipts {
                let net: i64 = rc.lines.iter().map(|l| l.net_cents).sum();
                if rc.date < start {
                    o.pre_revenue_cents += net;
                } else {
                    let d = rc.date.since(start).unwrap().get_days() as usize;
                    o.daily_revenue_cents[d] += net;
                }
            }
            o
        };
        with.push(outcome(&r.treated));
        without.push(outcome(&r.baseline));
    }
    (with, without)
}

fn total(o: &Outcome) -> f64 {
    o.daily_revenue_cents.iter().sum::<i64>() as f64
}

#[test]
fn intervals_cover_the_planted_uplift_and_daily_looks_keep_the_false_positive_rate() {
    let (with, without) = potential_outcomes();
    let n = with.len();
    // The truth: the mean effect over everyone (what a randomised comparison estimates).
    let truth = with.iter().zip(&without).map(|(a, b)| total(a) - total(b)).sum::<f64>() / n as f64;
    assert!(truth > 0.0, "the planted offers raise spend: {truth}");

    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let trials = 400;
    let (mut covered, mut covered_plain, mut reduction) = (0, 0, 0.0);
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..trials {
        order.shuffle(&mut rng);
        let (held, treated) = order.split_at(n * 3 / 10);
        let t: Vec<&Outcome> = treated.iter().map(|&i| &with[i]).collect();
        let h: Vec<&Outcome> = held.iter().map(|&i| &without[i]).collect();
        let m = measure::measure(&t, &h, 0.95);
        let e = &m.revenue_uplift_cuped;
        covered += usize::from(e.low <= truth && truth <= e.high);
        let p = &m.revenue_uplift;
        covered_plain += usize::from(p.low <= truth && truth <= p.high);
        reduction += m.variance_reduction / f64::from(trials);
    }
    let rate = covered as f64 / f64::from(trials);
    let plain = covered_plain as f64 / f64::from(trials);
    println!(
        "true uplift {truth:.0} cents per customer; 95 % intervals cover it in {:.1} % of {trials} campaigns (CUPED), {:.1} % (plain); CUPED removes {:.0} % of the variance",
        rate * 100.0,
        plain * 100.0,
        reduction * 100.0
    );
    // 400 campaigns: the binomial standard deviation at 95 % is 1.1 points.
    assert!((0.92..=0.985).contains(&rate), "CUPED coverage {rate}");
    assert!((0.92..=0.985).contains(&plain), "plain coverage {plain}");
    assert!(reduction > 0.05, "the pre-period explains some of the spend: {reduction}");

    // No effect: both arms from the world without offers, looked at every day.
    let alpha = 0.05;
    let trials = 400;
    let (mut msprt_rejects, mut naive_rejects) = (0, 0);
    let z = stats::normal_quantile(1.0 - alpha / 2.0);
    for _ in 0..trials {
        order.shuffle(&mut rng);
        let cut = rng.random_range(n / 5..n / 2);
        let (held, treated) = order.split_at(cut);
        let t: Vec<&Outcome> = treated.iter().map(|&i| &without[i]).collect();
        let h: Vec<&Outcome> = held.iter().map(|&i| &without[i]).collect();
        let m = measure::measure(&t, &h, 1.0 - alpha);
        msprt_rejects += usize::from(m.sequential.rejected_at.is_some());
        // The plain test at every daily look.
        let mut naive = false;
        let (mut ct, mut ch) = (vec![0.0; t.len()], vec![0.0; h.len()]);
        for d in 0..CAMPAIGN_DAYS as usize {
            for (c, o) in ct.iter_mut().zip(&t) {
                *c += o.daily_revenue_cents[d] as f64;
            }
            for (c, o) in ch.iter_mut().zip(&h) {
                *c += o.daily_revenue_cents[d] as f64;
            }
            let e = stats::difference(&Moments::of(ct.iter().copied()), &Moments::of(ch.iter().copied()), 1.0 - alpha);
            naive |= e.standard_error > 0.0 && (e.effect / e.standard_error).abs() > z;
        }
        naive_rejects += usize::from(naive);
    }
    let fpr = msprt_rejects as f64 / f64::from(trials);
    let naive = naive_rejects as f64 / f64::from(trials);
    println!(
        "no effect, looked at daily for {CAMPAIGN_DAYS} days: the mSPRT rejects in {:.1} % of {trials} campaigns, the plain test in {:.1} %",
        fpr * 100.0,
        naive * 100.0
    );
    assert!(fpr <= alpha + 0.02, "sequential false-positive rate {fpr}");
    assert!(naive > fpr, "peeking inflates the plain test ({naive}) more than the mSPRT ({fpr})");

    // Power: the same arms with a planted daily uplift for the treated, sized so that the
    // plain estimate at four weeks is five standard errors away from zero. The test must
    // see it (a test that never rejects would pass the check above).
    let (held, treated) = order.split_at(n * 3 / 10);
    let t: Vec<&Outcome> = treated.iter().map(|&i| &without[i]).collect();
    let h: Vec<&Outcome> = held.iter().map(|&i| &without[i]).collect();
    let se = measure::measure(&t, &h, 0.95).revenue_uplift.standard_error;
    let per_day = (5.0 * se / CAMPAIGN_DAYS as f64).round() as i64;
    let (mut found, mut days_to_find) = (0, 0);
    let trials = 100;
    for _ in 0..trials {
        order.shuffle(&mut rng);
        let (held, treated) = order.split_at(n * 3 / 10);
        let bumped: Vec<Outcome> = treated
            .iter()
            .map(|&i| {
                let mut o = without[i].clone();
                o.daily_revenue_cents.iter_mut().for_each(|d| *d += per_day);
                o
            })
            .collect();
        let t: Vec<&Outcome> = bumped.iter().collect();
        let h: Vec<&Outcome> = held.iter().map(|&i| &without[i]).collect();
        let m = measure::measure(&t, &h, 1.0 - alpha);
        if let Some(d) = m.sequential.rejected_at {
            found += 1;
            days_to_find += d;
        }
    }
    println!(
        "a planted uplift of {per_day} cents a day (5 standard errors at four weeks): found in {found} of {trials} campaigns, after {:.1} days on average",
        f64::from(days_to_find) / f64::from(found.max(1))
    );
    assert!(found >= trials * 8 / 10, "the sequential test finds a planted effect: {found} of {trials}");
}
