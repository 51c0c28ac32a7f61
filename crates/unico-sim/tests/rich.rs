//! The richer shoppers plant each structure `unico_sim::rich` documents, and the basic ones
//! are the chain of earlier versions byte for byte. Each test fails if the simulator stops
//! planting its structure.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;
use unico_sim::{ChainConfig, Shoppers, generate};

fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| h.iter().zip(rec.unwrap().iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .collect()
}

/// One receipt line, as the tests need it.
struct Line {
    receipt: String,
    day: i64,
    card: String,
    sku: String,
    quantity: f64,
    gross: f64,
    discount: f64,
}

/// A rich chain generated once for all the tests, with its truth.
struct Chain {
    _dir: tempfile::TempDir,
    lines: Vec<Line>,
    products: Vec<HashMap<String, String>>,
    category_of: HashMap<String, String>,
    households: Vec<HashMap<String, String>>,
    person_of_card: HashMap<String, String>,
    favoured: HashSet<(String, String)>,
    switches: Vec<HashMap<String, String>>,
    promotions: Vec<HashMap<String, String>>,
    start: jiff::civil::Date,
}

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let config = ChainConfig {
            customers: 2_500,
            stores: 4,
            products: 900,
            days: 365,
            seed: 21,
            shoppers: Shoppers::Rich,
            ..Default::default()
        };
        generate(&config, dir.path(), &|_, _| {}).unwrap();
        let start = config.start;
        let lines = rows(&dir.path().join("receipts.csv"))
            .into_iter()
            .map(|r| {
                let date = jiff::civil::Date::strptime("%Y-%m-%d", &r["ts"][..10]).unwrap();
                let quantity: f64 = r["quantity"].parse().unwrap();
                Line {
                    receipt: r["receipt_id"].clone(),
                    day: (date - start).get_days() as i64,
                    card: r["customer_id"].clone(),
                    sku: r["sku"].clone(),
                    quantity,
                    gross: quantity * r["unit_price"].parse::<f64>().unwrap(),
                    discount: r["discount"].parse().unwrap(),
                }
            })
            .collect();
        let products = rows(&dir.path().join("truth/product_structure.csv"));
        let category_of = products.iter().map(|p| (p["sku"].clone(), p["category"].clone())).collect();
        let mut person_of_card = HashMap::new();
        for p in rows(&dir.path().join("truth/people.csv")) {
            for card in p["cards"].split('|').filter(|c| !c.is_empty()) {
                person_of_card.insert(card.to_string(), p["person_id"].clone());
            }
        }
        let favoured = rows(&dir.path().join("truth/household_products.csv"))
            .into_iter()
            .map(|r| (r["household"].clone(), r["sku"].clone()))
            .collect();
        Chain {
            lines,
            products,
            category_of,
            households: rows(&dir.path().join("truth/households.csv")),
            person_of_card,
            favoured,
            switches: rows(&dir.path().join("truth/brand_switches.csv")),
            promotions: rows(&dir.path().join("truth/chain_promotions.csv")),
            start,
            _dir: dir,
        }
    })
}

impl Chain {
    /// Card lines with the person who made them.
    fn by_person(&self) -> impl Iterator<Item = (&str, &Line)> {
        self.lines
            .iter()
            .filter(|l| !l.card.is_empty())
            .filter_map(|l| self.person_of_card.get(&l.card).map(|p| (p.as_str(), l)))
    }

    fn brand_of(&self) -> HashMap<&str, &str> {
        self.products.iter().map(|p| (p["sku"].as_str(), p["brand"].as_str())).collect()
    }
}

#[test]
fn basic_shoppers_are_the_earlier_chain_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let config = ChainConfig {
        customers: 300,
        stores: 6,
        products: 900,
        days: 120,
        seed: 9,
        shoppers: Shoppers::Basic,
        ..Default::default()
    };
    generate(&config, tmp.path(), &|_, _| {}).unwrap();
    // Fingerprints of the files the simulator wrote before the rich shoppers existed.
    for (file, sha) in [
        ("receipts.csv", "642ba113a91b0531aa849a2a98c6aa512402ac9ede7ec3908d5ac418dcbc7648"),
        ("customers.csv", "349aee85a5a3943b67f5006576ca682d947c8786e6b870b8d3b5631cce2a35b2"),
        ("products.csv", "9d6fa419c676e86ea9abc63bbee030d8680044317aacfd34e48f50b628637aa1"),
        ("truth/people.csv", "c2f036893f037a67bb73f8331fc922e6650949a6ec253ea602b95259fd4fdc7c"),
        ("truth/cycles.csv", "20d40a5b99029a69e3cd7794aa3726677d967734aa2332a58d97daa3cc3401e1"),
    ] {
        let bytes = std::fs::read(tmp.path().join(file)).unwrap();
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, sha, "{file} changed");
    }
    assert!(!tmp.path().join("truth/households.csv").exists(), "basic shoppers have no households");
}

#[test]
fn households_share_tastes_across_every_category() {
    let c = chain();
    let household: HashMap<&str, &str> =
        c.households.iter().map(|h| (h["person_id"].as_str(), h["household"].as_str())).collect();
    // Per category: lines on the person's own household's favourites vs on another's
    // (the average of the nine others), over all card lines.
    let mut own: HashMap<&str, f64> = HashMap::new();
    let mut others: HashMap<&str, f64> = HashMap::new();
    for (pid, l) in c.by_person() {
        let h = household[pid];
        let cat = c.category_of[&l.sku].as_str();
        if c.favoured.contains(&(h.to_string(), l.sku.clone())) {
            *own.entry(cat).or_default() += 1.0;
        }
        let n = (0..10).filter(|o| o.to_string() != h && c.favoured.contains(&(o.to_string(), l.sku.clone()))).count();
        *others.entry(cat).or_default() += n as f64 / 9.0;
    }
    let mut lifted = 0;
    for (cat, o) in &others {
        let lift = own.get(cat).copied().unwrap_or(0.0) / o.max(1.0);
        if lift > 2.0 {
            lifted += 1;
        }
    }
    assert!(
        lifted as f64 >= 0.9 * others.len() as f64,
        "{lifted} of {} categories lean to the household",
        others.len()
    );
}

#[test]
fn loyal_shoppers_stay_with_their_brand_and_switches_change_it() {
    let c = chain();
    let cats: Vec<String> = {
        let mut v: Vec<String> = c.products.iter().map(|p| p["category"].clone()).collect();
        v.dedup();
        let mut seen = HashSet::new();
        v.retain(|x| seen.insert(x.clone()));
        v
    };
    // households.csv lists the favourite brands in the catalogue's category order, which
    // is the order categories first appear in product_structure.csv.
    let fav: HashMap<&str, (f64, Vec<&str>)> = c
        .households
        .iter()
        .map(|h| {
            (h["person_id"].as_str(), (h["brand_loyalty"].parse().unwrap(), h["favourite_brands"].split('|').collect()))
        })
        .collect();
    let brand_of = c.brand_of();
    let cat_index: HashMap<&str, usize> = cats.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let switched: HashSet<(&str, &str)> =
        c.switches.iter().map(|s| (s["person_id"].as_str(), s["category"].as_str())).collect();
    let (mut high, mut low) = ((0.0, 0.0), (0.0, 0.0));
    for (pid, l) in c.by_person() {
        let cat = c.category_of[&l.sku].as_str();
        if switched.contains(&(pid, cat)) {
            continue;
        }
        let (loyalty, brands) = &fav[pid];
        let on = f64::from(u8::from(brands[cat_index[cat]] == brand_of[l.sku.as_str()]));
        if *loyalty > 0.7 {
            high = (high.0 + on, high.1 + 1.0);
        } else if *loyalty < 0.3 {
            low = (low.0 + on, low.1 + 1.0);
        }
    }
    let (high, low) = (high.0 / high.1, low.0 / low.1);
    assert!(high > 1.4 * low && high > 0.35, "favourite brand's share: loyal {high:.3}, not loyal {low:.3}");

    // After a switch, the new brand's share of the category rises.
    let (mut before, mut after) = ((0.0, 0.0), (0.0, 0.0));
    let mut lines_of: HashMap<&str, Vec<&Line>> = HashMap::new();
    for (pid, l) in c.by_person() {
        lines_of.entry(pid).or_default().push(l);
    }
    for s in &c.switches {
        let day: f64 = s["day"].parse().unwrap();
        for l in lines_of.get(s["person_id"].as_str()).into_iter().flatten() {
            if c.category_of[&l.sku] != s["category"] {
                continue;
            }
            let on = f64::from(u8::from(brand_of[l.sku.as_str()] == s["to_brand"]));
            let slot = if (l.day as f64) < day.floor() { &mut before } else { &mut after };
            *slot = (slot.0 + on, slot.1 + 1.0);
        }
    }
    assert!(c.switches.len() > 100, "{} switches", c.switches.len());
    let (before, after) = (before.0 / before.1, after.0 / after.1);
    assert!(after > 2.0 * before, "the new brand's share: before the switch {before:.3}, after {after:.3}");
}

#[test]
fn people_buy_one_of_two_substitutes() {
    let c = chain();
    let pair: HashMap<&str, &str> = c
        .products
        .iter()
        .filter(|p| !p["substitute_sku"].is_empty())
        .map(|p| (p["sku"].as_str(), p["substitute_sku"].as_str()))
        .collect();
    assert!(pair.len() > 100, "{} products in substitute pairs", pair.len());
    // Per (person, pair): purchases of each side.
    let mut counts: HashMap<(&str, &str), (f64, f64)> = HashMap::new();
    // Control: the next product of the same category that is not its pair.
    let skus: Vec<&str> = c.products.iter().map(|p| p["sku"].as_str()).collect();
    let mut control: HashMap<(&str, &str), (f64, f64)> = HashMap::new();
    let n_cat = 30;
    for (pid, l) in c.by_person() {
        let sku = l.sku.as_str();
        if let Some(other) = pair.get(sku) {
            let key = if sku < *other { (pid, sku) } else { (pid, *other) };
            let e = counts.entry(key).or_default();
            if sku < *other { e.0 += 1.0 } else { e.1 += 1.0 }
        }
        // Products i and i + n_cat are in the same category; take even/odd pairs of ranks
        // that are not substitutes of each other.
        let i = skus.iter().position(|s| *s == sku).unwrap();
        let rank = i / n_cat;
        let (lo, hi) = if rank % 2 == 0 { (i, i + n_cat) } else { (i - n_cat, i) };
        if hi < skus.len() && pair.get(skus[lo]) != Some(&skus[hi]) {
            let e = control.entry((pid, skus[lo])).or_default();
            if i == lo { e.0 += 1.0 } else { e.1 += 1.0 }
        }
    }
    let minority = |m: &HashMap<(&str, &str), (f64, f64)>| {
        let v: Vec<f64> = m.values().filter(|(a, b)| a + b >= 4.0).map(|(a, b)| a.min(*b) / (a + b)).collect();
        (v.iter().sum::<f64>() / v.len() as f64, v.len())
    };
    let (subs, n) = minority(&counts);
    let (ctrl, m) = minority(&control);
    assert!(n > 200 && m > 200, "{n} and {m} person-pairs");
    // The control pairs are less popular and less even than the best sellers' substitute
    // pairs, which lowers their share of the other product: still twice or more.
    assert!(subs < 0.06 && ctrl > 1.8 * subs, "share of the other product: substitutes {subs:.3}, control {ctrl:.3}");
}

#[test]
fn complements_come_together() {
    let c = chain();
    let complement: HashMap<&str, &str> = c
        .products
        .iter()
        .filter(|p| !p["complement_sku"].is_empty())
        .map(|p| (p["sku"].as_str(), p["complement_sku"].as_str()))
        .collect();
    assert!(complement.len() >= 100, "{} products with a complement", complement.len());
    let mut baskets: HashMap<&str, HashSet<&str>> = HashMap::new();
    for l in &c.lines {
        baskets.entry(l.receipt.as_str()).or_default().insert(l.sku.as_str());
    }
    let n = baskets.len() as f64;
    let mut holding: HashMap<&str, f64> = HashMap::new();
    for b in baskets.values() {
        for s in b {
            *holding.entry(s).or_default() += 1.0;
        }
    }
    // P(complement | driver) against P(complement), over drivers bought in 30+ baskets.
    let (mut lifts, mut with) = (Vec::new(), 0.0);
    for (driver, comp) in &complement {
        let d = holding.get(driver).copied().unwrap_or(0.0);
        if d < 30.0 {
            continue;
        }
        let both = baskets.values().filter(|b| b.contains(driver) && b.contains(comp)).count() as f64;
        with += both / d;
        lifts.push((both / d) / (holding.get(comp).copied().unwrap_or(0.0) / n));
    }
    lifts.sort_by(f64::total_cmp);
    let median = lifts[lifts.len() / 2];
    let with = with / lifts.len() as f64;
    assert!(median > 5.0, "median lift of a complement {median:.1}");
    assert!((0.3..0.6).contains(&with), "a complement joins its driver in {with:.2} of baskets (planted 0.4 or more)");
}

#[test]
fn seasonal_products_sell_in_season_and_new_ones_only_after_launch() {
    let c = chain();
    let mut units: HashMap<&str, Vec<(i64, f64)>> = HashMap::new();
    for l in &c.lines {
        units.entry(l.sku.as_str()).or_default().push((l.day, l.quantity));
    }
    let (mut in_season, mut total, mut window) = (0.0, 0.0, 0.0);
    let mut seasonal = 0;
    for p in c.products.iter().filter(|p| !p["season_peak_day_of_year"].is_empty()) {
        seasonal += 1;
        let peak: f64 = p["season_peak_day_of_year"].parse().unwrap();
        let width: f64 = p["season_width_days"].parse().unwrap();
        window += (2.0 * width / 365.0).min(1.0);
        for &(day, q) in units.get(p["sku"].as_str()).into_iter().flatten() {
            let doy = f64::from(c.start.checked_add(jiff::Span::new().days(day)).unwrap().day_of_year());
            let d = (doy - peak).abs();
            let d = d.min(365.0 - d);
            total += q;
            if d <= width {
                in_season += q;
            }
        }
    }
    assert!(seasonal > 40, "{seasonal} seasonal products");
    let share = in_season / total;
    let window = window / f64::from(seasonal);
    assert!(share > 0.7 && share > 2.5 * window, "{share:.2} of units in a season that is {window:.2} of the year");

    let mut launched = 0;
    let mut sold_after = 0;
    for p in c.products.iter().filter(|p| !p["launch_date"].is_empty()) {
        launched += 1;
        let launch = (jiff::civil::Date::strptime("%Y-%m-%d", &p["launch_date"]).unwrap() - c.start).get_days() as i64;
        let days: Vec<i64> = units.get(p["sku"].as_str()).into_iter().flatten().map(|(d, _)| *d).collect();
        assert!(days.iter().all(|&d| d >= launch), "{} sold before its launch on day {launch}", p["sku"]);
        if !days.is_empty() {
            sold_after += 1;
        }
    }
    assert!(launched > 20 && sold_after as f64 > 0.8 * launched as f64, "{sold_after} of {launched} new products sold");
}

#[test]
fn mass_promotions_move_shoppers_for_their_week_only() {
    let c = chain();
    let promo_weeks: HashMap<i64, &str> = c
        .promotions
        .iter()
        .map(|p| {
            let d = (jiff::civil::Date::strptime("%Y-%m-%d", &p["week_start"]).unwrap() - c.start).get_days() as i64;
            (d / 7, p["category"].as_str())
        })
        .collect();
    assert!((10..=14).contains(&promo_weeks.len()), "{} mass promotions in a year", promo_weeks.len());
    // Lines per (week, category) and per week.
    let mut by: HashMap<(i64, &str), f64> = HashMap::new();
    let mut week_lines: HashMap<i64, f64> = HashMap::new();
    for l in &c.lines {
        let w = l.day / 7;
        let cat = c.category_of[&l.sku].as_str();
        *by.entry((w, cat)).or_default() += 1.0;
        *week_lines.entry(w).or_default() += 1.0;
        if promo_weeks.get(&w) == Some(&cat) {
            assert!(l.discount >= 0.25 * l.gross - 0.011, "a line of the mass promotion without its 25 %: {}", l.sku);
        }
    }
    let share = |w: i64, cat: &str| by.get(&(w, cat)).copied().unwrap_or(0.0) / week_lines[&w];
    let (mut during, mut after) = (Vec::new(), Vec::new());
    for (&w, &cat) in &promo_weeks {
        if w < 2 || w + 2 > 52 {
            continue;
        }
        let before = (share(w - 2, cat) + share(w - 1, cat)) / 2.0;
        during.push(share(w, cat) / before);
        after.push(share(w + 1, cat) / before);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&during) > 1.25, "the promoted category's share rises {:.2}×", mean(&during));
    assert!((0.85..1.12).contains(&mean(&after)), "and is back the week after: {:.2}×", mean(&after));
}
