//! The generated chain has the properties the simulator plants, and replays are consistent.

use std::collections::HashMap;
use std::path::Path;
use unico_sim::{ChainConfig, Offer, OfferValue, Target, World, generate, replay};

fn config(seed: u64) -> ChainConfig {
    ChainConfig {
        customers: 3_000,
        first_person: 0,
        stores: 6,
        products: 900,
        days: 365,
        start: jiff::civil::date(2025, 1, 1),
        seed,
        history: false,
        history_before_day: 0,
        shoppers: unico_sim::Shoppers::Basic,
    }
}

fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| h.iter().zip(rec.unwrap().iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let small = ChainConfig { customers: 300, days: 120, ..config(9) };
    generate(&small, &tmp.path().join("a"), &|_, _| {}).unwrap();
    generate(&small, &tmp.path().join("b"), &|_, _| {}).unwrap();
    generate(&ChainConfig { seed: 10, ..small.clone() }, &tmp.path().join("c"), &|_, _| {}).unwrap();
    for f in [
        "receipts.csv",
        "customers.csv",
        "products.csv",
        "stores.csv",
        "truth/people.csv",
        "truth/cycles.csv",
        "truth/params.json",
    ] {
        let a = std::fs::read(tmp.path().join("a").join(f)).unwrap();
        assert_eq!(a, std::fs::read(tmp.path().join("b").join(f)).unwrap(), "{f}");
    }
    assert_ne!(
        std::fs::read(tmp.path().join("a/receipts.csv")).unwrap(),
        std::fs::read(tmp.path().join("c/receipts.csv")).unwrap()
    );
}

/// A chain grown in two runs (people 0..n, then n..m) is the chain of one run of m people:
/// the same customers and receipts, byte for byte, once the two files are joined.
#[test]
fn people_added_later_are_the_people_a_larger_run_has() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = ChainConfig { customers: 120, days: 120, shoppers: unico_sim::Shoppers::Rich, ..config(5) };
    let first = ChainConfig { customers: 70, ..whole.clone() };
    let rest = ChainConfig { customers: 50, first_person: 70, ..whole.clone() };
    for (name, c) in [("whole", &whole), ("first", &first), ("rest", &rest)] {
        generate(c, &tmp.path().join(name), &|_, _| {}).unwrap();
    }
    for f in ["receipts.csv", "customers.csv", "truth/people.csv", "truth/cycles.csv"] {
        let read = |name: &str| std::fs::read_to_string(tmp.path().join(name).join(f)).unwrap();
        let (whole, first, rest) = (read("whole"), read("first"), read("rest"));
        let (header, tail) = rest.split_once('\n').unwrap();
        assert!(whole.starts_with(header), "{f}");
        assert!(tail.lines().count() > 10, "{f}: the later people have rows");
        assert_eq!(whole, format!("{first}{tail}"), "{f}");
    }
    // The later run knows its own people's cards, and not the earlier ones'.
    let world = World::new(&rest);
    let people = rows(&tmp.path().join("rest/truth/people.csv"));
    let card = |pid: u64| format!("{:010}", 4_000_000_000u64 + pid * 7 + 3);
    assert_eq!(people[0]["person_id"], "70");
    assert_eq!(world.person_of_card(&card(71)), Some(71));
    assert_eq!(world.person_of_card(&card(69)), None);
    assert_eq!(world.person_of_card(&card(120)), None);
}

#[test]
fn planted_properties_are_in_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let summary = generate(&config(42), out, &|_, _| {}).unwrap();

    // 10–40% of receipts without a card, as real chains have.
    let no_card = summary.receipts_without_card as f64 / summary.receipts as f64;
    assert!((0.10..=0.40).contains(&no_card), "share of receipts without card {no_card}");
    let receipts = rows(&out.join("receipts.csv"));
    let carded_receipts: std::collections::HashSet<&str> =
        receipts.iter().filter(|r| !r["customer_id"].is_empty()).map(|r| r["receipt_id"].as_str()).collect();
    let all_receipts: std::collections::HashSet<&str> = receipts.iter().map(|r| r["receipt_id"].as_str()).collect();
    assert_eq!(all_receipts.len() as u64, summary.receipts);
    assert!((1.0 - carded_receipts.len() as f64 / all_receipts.len() as f64 - no_card).abs() < 1e-9);

    // Duplicates: about 3% of members registered twice, recorded in the truth, and the two
    // records differ in spelling while the phone digits agree.
    let truth = rows(&out.join("truth/people.csv"));
    let members = truth.iter().filter(|t| t["member"] == "true").count() as f64;
    let dups = rows(&out.join("truth/duplicates.csv"));
    let share = dups.len() as f64 / members;
    let sd = (0.03 * 0.97 / members).sqrt();
    assert!((share - 0.03).abs() < 4.0 * sd, "duplicate share {share}");
    let customers: HashMap<String, HashMap<String, String>> =
        rows(&out.join("customers.csv")).into_iter().map(|c| (c["customer_id"].clone(), c)).collect();
    assert_eq!(customers.len() as f64, members + dups.len() as f64);
    for d in &dups {
        let (a, b) = (&customers[&d["card_a"]], &customers[&d["card_b"]]);
        let digits = |s: &str| s.chars().filter(|c| c.is_ascii_digit()).collect::<String>();
        assert_eq!(digits(&a["phone"]), digits(&b["phone"]).strip_prefix("39").unwrap());
        assert_eq!(a["birth_date"], b["birth_date"]);
        assert_ne!(
            (&a["first_name"], &a["last_name"], &a["email"], &a["address"]),
            (&b["first_name"], &b["last_name"], &b["email"], &b["address"])
        );
    }
    // An e-mail address is one person's: two registrations share one only when they are the
    // same person's two cards (3,000 people once drew from 300,000 addresses, and a dozen
    // pairs of strangers shared one).
    let mut by_email: HashMap<String, Vec<&str>> = HashMap::new();
    for (card, c) in &customers {
        by_email.entry(c["email"].to_lowercase()).or_default().push(card.as_str());
    }
    let pairs: std::collections::HashSet<(&str, &str)> = dups
        .iter()
        .flat_map(|d| [(d["card_a"].as_str(), d["card_b"].as_str()), (d["card_b"].as_str(), d["card_a"].as_str())])
        .collect();
    for (email, cards) in &by_email {
        assert!(
            cards.len() == 1 || (cards.len() == 2 && pairs.contains(&(cards[0], cards[1]))),
            "{email} is shared by {cards:?}"
        );
    }

    // Lapsing: each visit is followed by a lapse with the person's planted probability, so
    // the lapses observed match the sum of p over the visits made (a martingale, unbiased).
    let mut observed = 0.0;
    let (mut expected, mut variance) = (0.0, 0.0);
    for t in truth.iter().filter(|t| t["visits"] != "0") {
        let p: f64 = t["p_drop"].parse().unwrap();
        let v: f64 = t["visits"].parse().unwrap();
        observed += if t["dropped_out"] == "true" { 1.0 } else { 0.0 };
        expected += p * v;
        variance += p * (1.0 - p) * v;
    }
    let z = (observed - expected) / variance.sqrt();
    assert!(z.abs() < 4.0, "lapses observed {observed}, expected {expected:.0} (z = {z:.2})");
    // …and nobody who lapsed buys again: their last receipt is their last visit.
    let mut last_seen: HashMap<&str, String> = HashMap::new();
    for r in &receipts {
        if !r["customer_id"].is_empty() {
            let e = last_seen.entry(r["customer_id"].as_str()).or_default();
            if r["ts"] > *e {
                *e = r["ts"].clone();
            }
        }
    }
    let start = jiff::civil::date(2025, 1, 1);
    for t in truth.iter().filter(|t| t["dropped_out"] == "true" && !t["cards"].is_empty()) {
        let last: f64 = t["last_visit_day"].parse().unwrap();
        for card in t["cards"].split('|') {
            if let Some(ts) = last_seen.get(card) {
                let day = (jiff::civil::Date::strptime("%Y-%m-%d", &ts[..10]).unwrap() - start).get_days() as f64;
                assert!(day <= last.floor() + 1e-9, "{card} bought on day {day} after lapsing on day {last}");
            }
        }
    }

    // Repurchase cycles: for people who shop often, the median interval between purchases
    // of a staple is its planted cycle (within 30% for most), and across everyone the
    // observed intervals follow the planted ones.
    let rate: HashMap<&str, f64> =
        truth.iter().map(|t| (t["person_id"].as_str(), t["rate_per_day"].parse().unwrap())).collect();
    let mut days_bought: HashMap<(&str, &str), Vec<i32>> = HashMap::new();
    for r in receipts.iter().filter(|r| !r["customer_id"].is_empty()) {
        let d = (jiff::civil::Date::strptime("%Y-%m-%d", &r["ts"][..10]).unwrap() - start).get_days();
        days_bought.entry((r["customer_id"].as_str(), r["sku"].as_str())).or_default().push(d);
    }
    let mut pairs = Vec::new();
    for c in rows(&out.join("truth/cycles.csv")) {
        let Some(days) = days_bought.get(&(c["card_id"].as_str(), c["sku"].as_str())) else { continue };
        let mut days = days.clone();
        days.sort();
        days.dedup();
        if days.len() < 6 {
            continue;
        }
        let mut gaps: Vec<i32> = days.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort();
        let median = gaps[gaps.len() / 2] as f64;
        pairs.push((c["cycle_days"].parse::<f64>().unwrap(), median, rate[c["person_id"].as_str()]));
    }
    let frequent: Vec<_> = pairs.iter().filter(|p| p.2 > 0.25).collect();
    assert!(frequent.len() > 100, "{} frequent staple pairs", frequent.len());
    let close = frequent.iter().filter(|p| (p.1 - p.0).abs() / p.0 < 0.3).count() as f64 / frequent.len() as f64;
    assert!(close > 0.7, "only {close:.2} of frequent shoppers' staples within 30% of their cycle");
    let n = pairs.len() as f64;
    let (mx, my) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let corr = cov
        / (pairs.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>()
            * pairs.iter().map(|p| (p.1 - my).powi(2)).sum::<f64>())
        .sqrt();
    assert!(corr > 0.4, "planted vs observed cycles correlate at {corr:.2}");
}

fn offer(code: &str, card: String, target: Target, pct: u32, from: jiff::civil::Date, to: jiff::civil::Date) -> Offer {
    Offer {
        code: code.into(),
        card,
        target,
        value: OfferValue::PercentOff(pct),
        channel: None,
        valid_from: from,
        valid_to: to,
    }
}

#[test]
fn replay_without_offers_is_the_generated_chain_and_offers_change_only_their_people() {
    let cfg = ChainConfig { customers: 400, days: 200, ..config(5) };
    let world = World::new(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    generate(&cfg, tmp.path(), &|_, _| {}).unwrap();
    let (from, to) = (jiff::civil::date(2025, 1, 1), jiff::civil::date(2025, 7, 19));
    let everyone: Vec<u64> = (0..cfg.customers).collect();

    // No offers: treated and counterfactual are the same receipts, and they are the files.
    let r = replay(&world, &[], &everyone, from, to);
    assert_eq!(r.treated, r.baseline);
    let mut csv_again = Vec::new();
    let mut sorted = r.treated.clone();
    sorted.sort_by(|a, b| a.receipt_id.cmp(&b.receipt_id));
    let mut from_file = rows(&tmp.path().join("receipts.csv"));
    from_file.sort_by(|a, b| {
        (&a["receipt_id"], a["line_no"].parse::<u32>().unwrap())
            .cmp(&(&b["receipt_id"], b["line_no"].parse::<u32>().unwrap()))
    });
    for rc in &sorted {
        unico_sim::write_receipt_csv(&mut csv_again, &world, rc).unwrap();
    }
    let lines_again = String::from_utf8(csv_again).unwrap();
    assert_eq!(lines_again.lines().count(), from_file.len());
    assert!(r.people.iter().all(|p| p.revenue_cents == p.baseline_revenue_cents));

    // Offers to a few members: everyone else's receipts are untouched, and the treated
    // people's receipts before the offers' window too.
    let window = (jiff::civil::date(2025, 4, 1), jiff::civil::date(2025, 4, 30));
    let members: Vec<u64> = (0..cfg.customers)
        .filter(|&p| world.person_of_card(&format!("{:010}", 4_000_000_000u64 + p * 7 + 3)).is_some())
        .take(40)
        .collect();
    let offers: Vec<Offer> = members
        .iter()
        .map(|&p| {
            offer(
                &format!("O{p}"),
                format!("{:010}", 4_000_000_000u64 + p * 7 + 3),
                Target::Category("Coffee".into()),
                30,
                window.0,
                window.1,
            )
        })
        .collect();
    let with = replay(&world, &offers, &everyone, from, to);
    let treated: std::collections::HashSet<u64> = members.iter().copied().collect();
    let before = |rs: &Vec<unico_sim::SimReceipt>| rs.iter().filter(|r| r.date < window.0).cloned().collect::<Vec<_>>();
    assert_eq!(before(&with.treated), before(&with.baseline));
    for p in with.people.iter().filter(|p| !treated.contains(&p.person)) {
        assert_eq!(p.revenue_cents, p.baseline_revenue_cents);
    }
    // Every redemption is inside its window, carries its discount, and is counted.
    let redeemed = with.offers.iter().filter(|o| o.redeemed).count();
    assert!(redeemed > 0);
    let redeemed_lines: usize = with.treated.iter().map(|r| r.lines.iter().filter(|l| l.offer.is_some()).count()).sum();
    assert_eq!(redeemed_lines, redeemed, "each offer is used once");
    for r in &with.treated {
        for l in r.lines.iter().filter(|l| l.offer.is_some()) {
            assert!(window.0 <= r.date && r.date <= window.1);
            assert_eq!(l.discount_cents, (l.unit_price_cents * 30 + 50) / 100, "one unit discounted");
        }
    }
    let discount: i64 = with.offers.iter().map(|o| o.discount_cents).sum();
    assert!(discount > 0);
}

#[test]
fn deeper_discounts_bring_more_incremental_purchases_from_price_sensitive_people() {
    let cfg = ChainConfig { customers: 3_000, days: 120, ..config(11) };
    let world = World::new(&cfg);
    let window = (jiff::civil::date(2025, 3, 1), jiff::civil::date(2025, 3, 31));
    let cards: Vec<String> = (0..cfg.customers).map(|p| format!("{:010}", 4_000_000_000u64 + p * 7 + 3)).collect();
    let run = |pct: u32| {
        let offers: Vec<Offer> = cards
            .iter()
            .enumerate()
            .map(|(i, c)| offer(&format!("O{i}"), c.clone(), Target::Category("Wine".into()), pct, window.0, window.1))
            .collect();
        let r = replay(&world, &offers, &[], window.0, window.1);
        let incremental: i64 = r.offers.iter().map(|o| o.incremental_revenue_cents).sum();
        let redeemed = r.offers.iter().filter(|o| o.redeemed).count();
        (redeemed, incremental)
    };
    let (r5, _) = run(5);
    let (r40, inc40) = run(40);
    assert!(r40 as f64 > 1.3 * r5 as f64, "redemptions at 40% {r40} vs 5% {r5}");
    assert!(inc40 > 0, "a deep discount on wine brings purchases that would not have happened");
}

#[test]
fn a_multi_buy_is_taken_in_full_and_displaces_later_purchases_of_a_staple() {
    let cfg = ChainConfig { customers: 3_000, days: 200, ..config(13) };
    let world = World::new(&cfg);
    let cards: Vec<String> = (0..cfg.customers).map(|p| format!("{:010}", 4_000_000_000u64 + p * 7 + 3)).collect();
    let window = (jiff::civil::date(2025, 4, 1), jiff::civil::date(2025, 4, 14));
    // Each person gets "buy 3, pay 2" on the product they bought most in the months before.
    let before = replay(&world, &[], &(0..cfg.customers).collect::<Vec<_>>(), cfg.start, window.0);
    let mut most: HashMap<String, HashMap<usize, u32>> = HashMap::new();
    for r in &before.baseline {
        if let Some(c) = &r.card {
            for l in &r.lines {
                *most.entry(c.clone()).or_default().entry(l.product).or_default() += 1;
            }
        }
    }
    let offers: Vec<Offer> = cards
        .iter()
        .filter_map(|c| {
            let (&p, _) = most.get(c)?.iter().max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)))?;
            Some(Offer {
                code: format!("M{c}"),
                card: c.clone(),
                target: Target::Product(world.product(p).0.to_string()),
                value: OfferValue::MultiBuy { buy: 3, pay: 2 },
                channel: None,
                valid_from: window.0,
                valid_to: window.1,
            })
        })
        .collect();
    let after = jiff::civil::date(2025, 7, 19);
    let r = replay(&world, &offers, &[], window.0, after);
    let redeemed = r.offers.iter().filter(|o| o.redeemed).count();
    assert!(redeemed > 100, "{redeemed} of {} redeemed", offers.len());
    for rc in &r.treated {
        for l in rc.lines.iter().filter(|l| l.offer.is_some()) {
            assert!(l.quantity >= 3 && l.discount_cents == l.unit_price_cents, "{l:?}");
            assert!(window.0 <= rc.date && rc.date <= window.1);
        }
    }
    // Units of the offered products: more in the window, fewer in the weeks after (the
    // pantry is full).
    let offered: HashMap<&str, usize> = offers
        .iter()
        .map(|o| match &o.target {
            Target::Product(s) => (o.card.as_str(), world.product_index(s).unwrap()),
            _ => unreachable!(),
        })
        .collect();
    let units = |rs: &[unico_sim::SimReceipt], inside: bool| -> i64 {
        rs.iter()
            .filter(|r| (r.date <= window.1) == inside)
            .filter_map(|r| Some((offered.get(r.card.as_deref()?)?, r)))
            .map(|(p, r)| r.lines.iter().filter(|l| l.product == *p).map(|l| l.quantity).sum::<i64>())
            .sum()
    };
    let (in_t, in_b) = (units(&r.treated, true), units(&r.baseline, true));
    let (out_t, out_b) = (units(&r.treated, false), units(&r.baseline, false));
    assert!(in_t > in_b + 200, "in the window: {in_t} vs {in_b} units without the offer");
    assert!(out_t + 100 < out_b, "after the window: {out_t} vs {out_b} units without the offer");
}

#[test]
fn a_spend_reward_needs_the_threshold_and_tops_up_baskets_that_fall_short() {
    let cfg = ChainConfig { customers: 3_000, days: 120, ..config(17) };
    let world = World::new(&cfg);
    let window = (jiff::civil::date(2025, 3, 1), jiff::civil::date(2025, 3, 14));
    let (min_spend, reward) = (4_000i64, 600i64);
    let offers: Vec<Offer> = (0..cfg.customers)
        .map(|p| Offer {
            code: format!("S{p}"),
            card: format!("{:010}", 4_000_000_000u64 + p * 7 + 3),
            target: Target::Basket,
            value: OfferValue::SpendReward { min_spend_cents: min_spend, reward_cents: reward },
            channel: None,
            valid_from: window.0,
            valid_to: window.1,
        })
        .collect();
    let r = replay(&world, &offers, &[], window.0, window.1);
    let redeemed = r.offers.iter().filter(|o| o.redeemed).count();
    assert!(redeemed > 200, "{redeemed} redeemed");
    // Each redemption takes the reward (less only when the basket's lines outside the
    // chain's promotions cannot absorb it) off a basket that reached the threshold.
    for o in r.offers.iter().filter(|o| o.redeemed) {
        assert!(0 < o.discount_cents && o.discount_cents <= reward, "{}: {}", o.code, o.discount_cents);
    }
    let full = r.offers.iter().filter(|o| o.discount_cents == reward).count();
    assert!(full * 10 >= redeemed * 9, "{full} of {redeemed} got the whole reward");
    for rc in r.treated.iter().filter(|rc| rc.lines.iter().any(|l| l.offer.is_some())) {
        let gross: i64 = rc.lines.iter().map(|l| l.net_cents + l.discount_cents).sum();
        let promo: i64 = rc.lines.iter().filter(|l| l.offer.is_none()).map(|l| l.discount_cents).sum();
        assert!(gross - promo >= min_spend, "a basket of {} redeemed", gross - promo);
    }
    // Some baskets were topped up: more revenue than without the offer, before the reward.
    let base: HashMap<&str, i64> =
        r.baseline.iter().map(|b| (b.receipt_id.as_str(), b.lines.iter().map(|l| l.net_cents).sum())).collect();
    let topped = r
        .treated
        .iter()
        .filter(|t| {
            let paid: i64 = t.lines.iter().map(|l| l.net_cents).sum();
            base.get(t.receipt_id.as_str()).is_some_and(|b| *b < min_spend && paid + reward >= min_spend)
        })
        .count();
    assert!(topped > 20, "{topped} baskets topped up");
}

#[test]
fn extending_a_world_beyond_its_end_changes_nothing_before_it() {
    let cfg = ChainConfig { customers: 300, days: 120, ..config(19) };
    let world = World::new(&cfg);
    let mut longer = World::new(&cfg);
    longer.extend_beyond_end(28);
    let everyone: Vec<u64> = (0..cfg.customers).collect();
    let end = jiff::civil::date(2025, 4, 30); // day 119
    let a = replay(&world, &[], &everyone, cfg.start, end);
    let b = replay(&longer, &[], &everyone, cfg.start, end);
    assert_eq!(a.treated, b.treated);
    let after = replay(&longer, &[], &everyone, end.tomorrow().unwrap(), jiff::civil::date(2025, 5, 28));
    assert!(after.treated.len() > 100, "people go on shopping: {} receipts", after.treated.len());
    assert!(replay(&world, &[], &everyone, end.tomorrow().unwrap(), jiff::civil::date(2025, 5, 28)).treated.is_empty());
}

#[test]
fn the_promotion_history_is_planted_in_the_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    generate(&ChainConfig { customers: 2_000, history: true, ..config(42) }, out, &|_, _| {}).unwrap();
    let campaigns = rows(&out.join("campaigns.csv"));
    assert_eq!(campaigns.len(), 7, "every six weeks from day 70 while two weeks fit in the year");
    assert_eq!(campaigns.iter().filter(|c| c["kind"] == "mass").count(), 2);
    let members = rows(&out.join("campaign_members.csv"));
    let cardholders = rows(&out.join("truth/people.csv")).into_iter().filter(|p| p["member"] == "true").count();
    for c in &campaigns {
        let n = members.iter().filter(|m| m["campaign_id"] == c["campaign_id"]).count() as f64;
        let share = n / cardholders as f64;
        match c["kind"].as_str() {
            "mass" => assert_eq!(n as usize, cardholders, "a mass campaign reaches every member"),
            _ => assert!((0.25..0.35).contains(&share), "a targeted campaign reaches 30 %: {share}"),
        }
    }
    // Every redemption is on a receipt of its window, as a discounted line.
    let receipts = rows(&out.join("receipts.csv"));
    let discounted: std::collections::HashSet<&str> =
        receipts.iter().filter(|r| r["discount"] != "0.00").map(|r| r["receipt_id"].as_str()).collect();
    let window: HashMap<&str, (&str, &str)> =
        campaigns.iter().map(|c| (c["campaign_id"].as_str(), (c["start"].as_str(), c["end"].as_str()))).collect();
    let redemptions = rows(&out.join("redemptions.csv"));
    assert!(redemptions.len() > 500, "{} redemptions", redemptions.len());
    for r in &redemptions {
        assert!(discounted.contains(r["receipt_id"].as_str()), "{r:?}");
        let (from, to) = window[r["campaign_id"].as_str()];
        let day = &r["ts"][..10];
        assert!(from <= day && day <= to, "{r:?} outside {from}..{to}");
    }
    // The planted probability is what happened, on average, and ranks who redeemed.
    let truth = rows(&out.join("truth/history_response.csv"));
    assert_eq!(truth.len(), members.len());
    let p: Vec<f64> = truth.iter().map(|t| t["p_redeem"].parse().unwrap()).collect();
    let y: Vec<bool> = truth.iter().map(|t| t["redeemed"] == "1").collect();
    let mean_p = p.iter().sum::<f64>() / p.len() as f64;
    let observed = y.iter().filter(|y| **y).count() as f64 / y.len() as f64;
    assert!((mean_p - observed).abs() < 0.02, "planted {mean_p} vs observed {observed}");
    let (mut right, mut pairs) = (0.0, 0.0);
    for (_, &pi) in p.iter().enumerate().filter(|(i, _)| y[*i]) {
        for (_, &pj) in p.iter().enumerate().filter(|(j, _)| !y[*j]) {
            pairs += 1.0;
            right += if pi > pj {
                1.0
            } else if pi == pj {
                0.5
            } else {
                0.0
            };
        }
    }
    assert!(right / pairs > 0.9, "planted AUC {}", right / pairs);
    let redeemed_pairs: std::collections::HashSet<(&str, &str)> =
        redemptions.iter().map(|r| (r["campaign_id"].as_str(), r["customer_id"].as_str())).collect();
    assert_eq!(redeemed_pairs.len(), y.iter().filter(|y| **y).count(), "the truth's redeemed are the redemptions'");
}
