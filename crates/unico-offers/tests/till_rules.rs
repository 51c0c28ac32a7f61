//! The till's pricing rules (docs/pos.md), each a property over random baskets and offers.
//! The rules about stored state (retries, races, voids, refunds in the store) are tested
//! against SQLite and PostgreSQL in `crates/unico-server/tests/pos.rs`.

use proptest::prelude::*;
use std::collections::HashMap;
use unico_offers::till::{Item, Line, On, Priced, Reason, Terms, TillOffer, price, taken_back, value_back};

const SKUS: [&str; 5] = ["A1", "A2", "B1", "B2", "C1"];

fn category(sku: &str) -> String {
    sku[..1].to_string()
}

fn items(cost: [Option<i64>; 5]) -> HashMap<String, Item> {
    SKUS.iter().zip(cost).map(|(s, c)| (s.to_string(), Item { category: category(s), unit_cost_cents: c })).collect()
}

fn line() -> impl Strategy<Value = (usize, i64, i64)> {
    // sku, quantity (whole units mostly, sometimes weighed), unit price.
    (0..5usize, prop_oneof![3 => (1i64..6).prop_map(|u| u * 1000), 1 => 1i64..2500], 1i64..2000)
}

fn basket() -> impl Strategy<Value = Vec<Line>> {
    proptest::collection::vec(line(), 0..12).prop_map(|ls| {
        ls.into_iter()
            .enumerate()
            .map(|(i, (s, q, p))| Line {
                line_no: i as u32 + 1,
                sku: SKUS[s].to_string(),
                qty_milli: q,
                unit_price_cents: p,
            })
            .collect()
    })
}

fn offer() -> impl Strategy<Value = TillOffer> {
    let on_terms = prop_oneof![
        (0..5usize, 5u32..60).prop_map(|(s, p)| (On::Product(SKUS[s].into()), Terms::PercentOff(p))),
        (0..5usize, 10i64..900).prop_map(|(s, a)| (On::Product(SKUS[s].into()), Terms::AmountOff(a))),
        (0..5usize, 2u32..5, 1u32..4).prop_map(|(s, buy, max)| (
            On::Product(SKUS[s].into()),
            Terms::MultiBuy { buy, pay: buy - 1, max_times: max }
        )),
        (0..3usize, 5u32..40).prop_map(|(c, p)| (On::Category(["A", "B", "C"][c].into()), Terms::PercentOff(p))),
        (0i64..6000, 50i64..1500)
            .prop_map(|(m, r)| (On::Basket, Terms::SpendReward { min_spend_cents: m, reward_cents: r })),
    ];
    (on_terms, 0u32..1_000_000, proptest::option::of(0.0f64..0.3), any::<bool>(), 0..3usize).prop_map(
        |((on, terms), n, margin, used, budget)| TillOffer {
            code: format!("C{n:07}"),
            campaign_id: "Spring 2026-03-02".into(),
            on,
            terms,
            description: "offer".into(),
            valid_from: "2026-03-02".into(),
            valid_to: "2026-03-15".into(),
            stores: Vec::new(),
            activation_required: false,
            activated: false,
            used: used && n % 5 == 0,
            min_margin: margin,
            budgets: vec!["total".into(), format!("b{budget}")],
        },
    )
}

fn costs() -> impl Strategy<Value = [Option<i64>; 5]> {
    proptest::array::uniform5(proptest::option::of(1i64..1500))
}

fn budgets() -> impl Strategy<Value = HashMap<String, i64>> {
    (0i64..4000, 0i64..3000).prop_map(|(t, b)| {
        [("total".to_string(), t), ("b1".to_string(), b)].into_iter().collect() // b0, b2: no cap
    })
}

fn run(lines: &[Line], offers: &[TillOffer], items: &HashMap<String, Item>, budgets: &HashMap<String, i64>) -> Priced {
    price(lines, offers, items, budgets, "S1", "2026-03-05")
}

fn floor(o: &TillOffer, cost: Option<i64>) -> i64 {
    match (o.min_margin, cost) {
        (Some(m), Some(c)) => (c as f64 / (1.0 - m)).ceil() as i64,
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Rule 1: the same request gives the same answer; permuting the lines or the stored
    /// offers changes nothing.
    #[test]
    fn rule1_pure_and_order_free(lines in basket(), offers in proptest::collection::vec(offer(), 0..8),
                                 cost in costs(), b in budgets(), seed in any::<u64>()) {
        let it = items(cost);
        let first = run(&lines, &offers, &it, &b);
        prop_assert_eq!(&first, &run(&lines, &offers, &it, &b));
        let mut l2 = lines.clone();
        let mut o2 = offers.clone();
        let mut rng = seed;
        for i in (1..l2.len()).rev() { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1); l2.swap(i, (rng >> 33) as usize % (i + 1)); }
        for i in (1..o2.len()).rev() { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1); o2.swap(i, (rng >> 33) as usize % (i + 1)); }
        prop_assert_eq!(first, run(&l2, &o2, &it, &b));
    }

    /// Rule 4: discounts never exceed the subtotal; no line's net price goes below zero nor
    /// below the floor of any offer discounting it; a spend reward's threshold counts the
    /// subtotal after line discounts. Rule 3 (in memory): no capped budget goes negative.
    #[test]
    fn rule4_bounds(lines in basket(), offers in proptest::collection::vec(offer(), 0..8), cost in costs(), b in budgets()) {
        let it = items(cost);
        let p = run(&lines, &offers, &it, &b);
        prop_assert!(p.discount_cents <= p.subtotal_cents);
        prop_assert_eq!(p.total_cents, p.subtotal_cents - p.discount_cents);
        prop_assert!(p.discounts.iter().all(|d| d.amount_cents > 0));
        for l in &lines {
            let given: i64 = p.discounts.iter().filter(|d| d.line_no == l.line_no).map(|d| d.amount_cents).sum();
            prop_assert!(given <= l.value_cents(), "line {} below zero", l.line_no);
            for d in p.discounts.iter().filter(|d| d.line_no == l.line_no) {
                let o = offers.iter().find(|o| o.code == d.offer_code).unwrap();
                let f = floor(o, it[&l.sku].unit_cost_cents);
                // The floor of every unit of the line holds after this offer's discount.
                let before: i64 = p.discounts.iter().take_while(|x| !std::ptr::eq(*x, d))
                    .filter(|x| x.line_no == l.line_no).map(|x| x.amount_cents).sum();
                prop_assert!(l.value_cents() - before - d.amount_cents >= (l.qty_milli * f + 999) / 1000,
                    "line {} under the floor of {}", l.line_no, o.code);
            }
        }
        // Spend rewards: the basket after the line discounts given before them reached the threshold.
        for o in offers.iter().filter(|o| matches!(o.on, On::Basket)) {
            if let Terms::SpendReward { min_spend_cents, reward_cents } = o.terms
                && p.discounts.iter().any(|d| d.offer_code == o.code) {
                let idx = p.discounts.iter().position(|d| d.offer_code == o.code).unwrap();
                let before: i64 = p.discounts[..idx].iter().map(|d| d.amount_cents).sum();
                prop_assert!(p.subtotal_cents - before >= min_spend_cents);
                let got: i64 = p.discounts.iter().filter(|d| d.offer_code == o.code).map(|d| d.amount_cents).sum();
                prop_assert!(got <= reward_cents);
            }
        }
        // Budgets.
        for (name, cap) in &b {
            let spent: i64 = p.discounts.iter()
                .filter(|d| offers.iter().find(|o| o.code == d.offer_code).unwrap().budgets.contains(name))
                .map(|d| d.amount_cents).sum();
            prop_assert!(spent <= *cap, "budget {} overspent", name);
        }
        // Every offer is either applied or listed with a reason, never both.
        for o in &offers {
            let applied = p.discounts.iter().any(|d| d.offer_code == o.code);
            let listed = p.not_applied.iter().filter(|(c, _)| *c == o.code).count();
            prop_assert!(applied as usize + listed == 1, "{} applied {applied}, listed {listed}", o.code);
            if o.used { prop_assert!(p.not_applied.contains(&(o.code.clone(), Reason::AlreadyUsed))); }
        }
    }

    /// Rule 5: a multi-buy applies ⌊units / buy⌋ times up to its cap, each unit at most once
    /// (without a floor, exactly the cheapest units go free); a category offer discounts one
    /// item.
    #[test]
    fn rule5_multibuy_and_category(lines in basket(), sku in 0..5usize, buy in 2u32..5, max_times in 1u32..4, pct in 5u32..50) {
        let it = items([None; 5]);
        let mb = TillOffer {
            code: "MB".into(), campaign_id: "c".into(), on: On::Product(SKUS[sku].into()),
            terms: Terms::MultiBuy { buy, pay: buy - 1, max_times }, description: String::new(),
            valid_from: "2026-03-02".into(), valid_to: "2026-03-15".into(), stores: vec![],
            activation_required: false, activated: false, used: false, min_margin: None, budgets: vec![],
        };
        let p = run(&lines, std::slice::from_ref(&mb), &it, &HashMap::new());
        let mut units: Vec<i64> = lines.iter().filter(|l| l.sku == SKUS[sku])
            .flat_map(|l| std::iter::repeat_n(l.unit_price_cents, (l.qty_milli / 1000) as usize)).collect();
        units.sort();
        let times = (units.len() as i64 / i64::from(buy)).min(i64::from(max_times));
        let expected: i64 = units.iter().take(times as usize).sum();
        prop_assert_eq!(p.discount_cents, expected);
        for l in lines.iter().filter(|l| l.sku == SKUS[sku]) {
            let d: i64 = p.discounts.iter().filter(|d| d.line_no == l.line_no).map(|d| d.amount_cents).sum();
            prop_assert!(d <= (l.qty_milli / 1000) * l.unit_price_cents, "a unit discounted twice");
        }
        let cat = TillOffer { code: "CAT".into(), on: On::Category(category(SKUS[sku])), terms: Terms::PercentOff(pct), ..mb };
        let p = run(&lines, std::slice::from_ref(&cat), &it, &HashMap::new());
        let in_cat: Vec<&Line> = lines.iter().filter(|l| category(&l.sku) == category(SKUS[sku])).collect();
        prop_assert!(p.discounts.len() <= 1);
        let item = |l: &Line| (l.qty_milli.min(1000) * l.unit_price_cents + 500) / 1000;
        let dearest = in_cat.iter().map(|l| item(l)).max();
        if let Some(d) = p.discounts.first() {
            let l = in_cat.iter().find(|l| l.line_no == d.line_no).unwrap();
            prop_assert_eq!(Some(item(l)), dearest);
            prop_assert!(d.amount_cents <= item(l));
        } else {
            // Nothing given: no category item, or one whose share rounds to zero.
            prop_assert!(dearest.is_none_or(|v| v * i64::from(pct) < 50));
        }
    }

    /// Rule 8 (the arithmetic): over any sequence of partial refunds of a line, what is taken
    /// back never exceeds what was given, the units kept never get cheaper than their share,
    /// and refunding everything takes back exactly the discount and the line's value.
    #[test]
    fn rule8_refund_shares(amount in 0i64..5000, qty in 1i64..20, price in 1i64..3000, steps in proptest::collection::vec(1i64..5, 1..8)) {
        let qty_milli = qty * 1000;
        let value = qty * price;
        let amount = amount.min(value);
        let mut back = 0i64;
        let (mut taken, mut paid_back) = (0i64, 0i64);
        for s in steps.iter().chain(std::iter::once(&qty)) {
            back = (back + s * 1000).min(qty_milli);
            let t = taken_back(amount, qty_milli, back);
            let v = value_back(value, qty_milli, back);
            prop_assert!(t >= taken && v >= paid_back, "a refund gave back a negative amount");
            taken = t;
            paid_back = v;
            prop_assert!(taken <= amount);
            // The discount left on the units kept is at most their share.
            let kept = qty_milli - back;
            prop_assert!((amount - taken) * qty_milli <= amount * kept);
            // Nobody is refunded more than they paid for the units returned.
            prop_assert!(v - t <= value - amount || back < qty_milli);
        }
        prop_assert_eq!(taken, amount);
        prop_assert_eq!(paid_back, value);
    }
}
