//! Generating a whole chain: catalogue, stores, people, their receipts, and the truth.

use crate::catalogue::{self, Product};
use crate::people::{self, Person, Population};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Simulated people (members and non-members).
    pub customers: u64,
    /// Physical stores (an online shop is added).
    pub stores: usize,
    /// Products in the catalogue.
    pub products: usize,
    /// Days simulated.
    pub days: u32,
    /// First simulated day (local time of the chain).
    pub start: jiff::civil::Date,
    /// The seed: same seed, same files.
    pub seed: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            customers: 2_000,
            stores: 8,
            products: 1_500,
            days: 365,
            start: jiff::civil::date(2025, 1, 1),
            seed: 42,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerateSummary {
    /// Receipts written.
    pub receipts: u64,
    /// Receipt lines written.
    pub lines: u64,
    /// Receipts without a card.
    pub receipts_without_card: u64,
    /// Customer-master records (cards).
    pub customer_records: u64,
    /// People registered twice.
    pub duplicate_people: u64,
}

/// Weekly shape (Monday first): Saturday busiest, Sunday quiet.
const WEEKDAY: [f64; 7] = [0.92, 0.85, 0.9, 0.95, 1.12, 1.38, 0.55];

/// Seasonality factor of day `d` after `start` (mean about 1).
fn season(start: jiff::civil::Date, d: f64) -> f64 {
    let date = start.checked_add(jiff::Span::new().days(d as i64)).unwrap_or(start);
    let wd = WEEKDAY[date.weekday().to_monday_zero_offset() as usize];
    let doy = date.day_of_year() as f64;
    let christmas = 0.35 * (-((doy - 355.0) / 10.0).powi(2)).exp();
    let august = -0.25 * (-((doy - 225.0) / 12.0).powi(2)).exp();
    wd * (1.0 + christmas + august)
}
const SEASON_MAX: f64 = 1.38 * 1.36;

fn hour(rng: &mut ChaCha8Rng) -> (u32, u32, u32) {
    const HOURS: [f64; 13] = [0.4, 0.8, 1.2, 1.4, 1.2, 0.8, 0.6, 0.7, 0.9, 1.3, 1.5, 1.1, 0.5];
    let h = 8 + people::weighted(&HOURS, rng) as u32;
    (h, rng.random_range(0..60), rng.random_range(0..60))
}

fn cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.unsigned_abs() / 100, c.unsigned_abs() % 100)
}

fn io(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    Ok(BufWriter::with_capacity(1 << 20, File::create(path).map_err(|e| io(path, e))?))
}

fn on_promo(sku_index: usize, week: i64, seed: u64) -> Option<u32> {
    let h = (sku_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (week as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ seed;
    let h = h ^ (h >> 31);
    let h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (h >> 11) as f64 / (1u64 << 53) as f64;
    (x < 0.10).then(|| 20 + ((h & 3) as u32) * 5)
}

/// Generates the chain into `out`: `stores.csv`, `products.csv`, `customers.csv`,
/// `receipts.csv` and `truth/`. `progress` is called with (people done, people in all).
pub fn generate(config: &ChainConfig, out: &Path, progress: &dyn Fn(u64, u64)) -> std::io::Result<GenerateSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (products, by_cat) = catalogue::build(config.products.max(catalogue::categories().len()), &mut rng);
    let mut stores = catalogue::stores(config.stores.max(1), &mut rng);
    let store_weights: Vec<f64> = stores.iter().map(|s| s.weight).collect();
    stores.push(catalogue::Store {
        id: "E01".into(),
        name: "Online shop".into(),
        region: "Online",
        format: "ecommerce",
        weight: 0.0,
    });
    let online = stores.len() - 1;
    let cats = catalogue::categories();
    let cat_pop: Vec<f64> = cats.iter().map(|c| if c.4 { 0.3 } else { 1.0 }).collect();
    let pop = Population::default();
    let days = config.days as f64;

    // Master data.
    let p = out.join("stores.csv");
    let mut w = create(&p)?;
    writeln!(w, "store_id,name,region,format")?;
    for s in &stores {
        writeln!(w, "{},{},{},{}", s.id, s.name, s.region, s.format)?;
    }
    w.flush()?;
    let p = out.join("products.csv");
    let mut w = create(&p)?;
    writeln!(w, "sku,name,department,category,subcategory,brand,supplier,unit_cost,list_price,durable")?;
    for pr in &products {
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{}",
            pr.sku,
            pr.name,
            pr.department,
            pr.category,
            pr.subcategory,
            pr.brand,
            pr.supplier,
            cents(pr.unit_cost_cents),
            cents(pr.list_price_cents),
            pr.durable
        )?;
    }
    w.flush()?;

    let mut receipts = create(&out.join("receipts.csv"))?;
    writeln!(
        receipts,
        "receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel"
    )?;
    let mut customers = create(&out.join("customers.csv"))?;
    writeln!(
        customers,
        "customer_id,first_name,last_name,email,phone,birth_date,address,postcode,city,registered_at,consent_marketing,consent_profiling,consent_email,consent_sms,consent_app"
    )?;
    let mut t_people = create(&out.join("truth/people.csv"))?;
    writeln!(
        t_people,
        "person_id,member,cards,rate_per_day,p_drop,first_visit_day,last_visit_day,visits,dropped_out,card_use,price_sensitivity,ecommerce_share,basket_mean,preferred_store"
    )?;
    let mut t_cycles = create(&out.join("truth/cycles.csv"))?;
    writeln!(t_cycles, "person_id,card_id,sku,category,cycle_days")?;
    let mut t_dups = create(&out.join("truth/duplicates.csv"))?;
    writeln!(t_dups, "person_id,card_a,card_b")?;

    let mut summary = GenerateSummary::default();
    let mut next_card: u64 = 1;
    for pid in 0..config.customers {
        if pid % 1024 == 0 {
            progress(pid, config.customers);
        }
        // Each person has their own stream: adding people never changes the earlier ones.
        let mut prng = ChaCha8Rng::seed_from_u64(config.seed);
        prng.set_stream(pid + 1);
        let mut person: Person =
            people::draw_person(&pop, days, stores.len() - 1, &store_weights, &cat_pop, &by_cat, &mut prng);
        if person.member {
            person.cards.push(format!("{:010}", 4_000_000_000u64 + next_card * 7 + 3));
            next_card += 1;
            if prng.random::<f64>() < pop.duplicate_share {
                person.cards.push(format!("{:010}", 4_000_000_000u64 + next_card * 7 + 3));
                next_card += 1;
                summary.duplicate_people += 1;
                writeln!(t_dups, "{pid},{},{}", person.cards[0], person.cards[1])?;
            }
            for r in people::master_records(&person, config.start, &mut prng) {
                let c = r.consents;
                writeln!(
                    customers,
                    "{},{},{},{},{},{},\"{}\",{},{},{},{},{},{},{},{}",
                    r.card,
                    r.first_name,
                    r.last_name,
                    r.email,
                    r.phone,
                    r.birth_date,
                    r.address,
                    r.postcode,
                    r.city,
                    r.registered_at,
                    c[0],
                    c[1],
                    c[2],
                    c[3],
                    c[4]
                )?;
                summary.customer_records += 1;
            }
        }
        for s in &person.staples {
            let pr = &products[s.product];
            writeln!(
                t_cycles,
                "{pid},{},{},{},{:.2}",
                person.cards.first().map_or("", |c| c.as_str()),
                pr.sku,
                pr.category,
                s.cycle_days
            )?;
        }

        // Visits: a thinned Poisson process with seasonality; after each visit the person
        // may lapse for good.
        let mut t = person.birth_day;
        let mut visits = 0u64;
        let mut last_visit = f64::NAN;
        let mut dropped = false;
        let mut first = true;
        while t < days {
            if !first {
                let gap = -(1.0 - prng.random::<f64>()).ln() / (person.rate_per_day * SEASON_MAX);
                t += gap;
                if t >= days {
                    break;
                }
                if prng.random::<f64>() > season(config.start, t) / SEASON_MAX {
                    continue;
                }
            }
            first = false;
            visits += 1;
            last_visit = t;
            write_receipt(
                &mut receipts,
                config,
                &mut person,
                &products,
                &by_cat,
                &stores,
                online,
                t,
                pid,
                visits,
                &mut prng,
                &mut summary,
            )?;
            if prng.random::<f64>() < person.p_drop {
                dropped = true;
                break;
            }
        }
        writeln!(
            t_people,
            "{pid},{},{},{:.6},{:.6},{:.2},{},{visits},{dropped},{:.4},{:.4},{:.4},{:.3},{}",
            person.member,
            person.cards.join("|"),
            person.rate_per_day,
            person.p_drop,
            person.birth_day,
            if visits > 0 { format!("{last_visit:.2}") } else { String::new() },
            person.card_use,
            person.price_sensitivity,
            person.ecommerce_share,
            person.basket_mean,
            stores[person.store].id
        )?;
    }
    progress(config.customers, config.customers);
    for w in [&mut receipts, &mut customers, &mut t_people, &mut t_cycles, &mut t_dups] {
        w.flush()?;
    }
    let params = serde_json::json!({
        "time_unit": "days",
        "seed": config.seed,
        "start": config.start.to_string(),
        "days": config.days,
        "population": pop,
        "summary": summary,
    });
    std::fs::write(out.join("truth/params.json"), serde_json::to_vec_pretty(&params).map_err(std::io::Error::other)?)?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn write_receipt(
    w: &mut impl Write,
    config: &ChainConfig,
    person: &mut Person,
    products: &[Product],
    by_cat: &[Vec<usize>],
    stores: &[catalogue::Store],
    online: usize,
    t: f64,
    pid: u64,
    visit: u64,
    rng: &mut ChaCha8Rng,
    summary: &mut GenerateSummary,
) -> std::io::Result<()> {
    let day = t.floor();
    let date = config.start.checked_add(jiff::Span::new().days(day as i64)).unwrap_or(config.start);
    let week = day as i64 / 7;
    let channel = if rng.random::<f64>() < person.ecommerce_share { "ecommerce" } else { "store" };
    let store = if channel == "ecommerce" {
        online
    } else if rng.random::<f64>() < 0.9 {
        person.store
    } else {
        rng.random_range(0..online)
    };
    let card = if person.cards.is_empty() || rng.random::<f64>() >= person.card_use {
        None
    } else {
        Some(person.cards[if person.cards.len() > 1 { rng.random_range(0..person.cards.len()) } else { 0 }].as_str())
    };
    let (h, m, s) = hour(rng);
    let ts = format!("{date} {h:02}:{m:02}:{s:02}");
    let receipt_id = format!("{}-{}-{:012x}", stores[store].id, date.strftime("%Y%m%d"), {
        let x = (pid << 20 ^ visit).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ config.seed.rotate_left(17);
        x >> 16
    });
    // Basket: staples that are due, then items from the person's favourite categories.
    let mut items: Vec<usize> = Vec::new();
    for s in person.staples.iter_mut() {
        if s.next_due <= t + 1.0 {
            items.push(s.product);
            s.next_due = t + s.cycle_days * rng.random_range(0.85..1.15);
        }
    }
    let extra = {
        // Poisson(basket_mean - 1) by inversion (small means).
        let lambda = (person.basket_mean - 1.0).max(0.0);
        let (mut k, mut p, l) = (0u32, 1.0f64, (-lambda).exp());
        loop {
            p *= rng.random::<f64>();
            if p <= l {
                break k;
            }
            k += 1;
        }
    };
    for _ in 0..extra {
        let ci = people::weighted(&person.category_prefs, rng);
        let cands = &by_cat[ci];
        // Price-sensitive people lean towards what is on promotion this week.
        let weights: Vec<f64> = cands
            .iter()
            .map(|&p| {
                products[p].weight
                    * if on_promo(p, week, config.seed).is_some() { 1.0 + 6.0 * person.price_sensitivity } else { 1.0 }
            })
            .collect();
        let product = cands[people::weighted(&weights, rng)];
        if !items.contains(&product) {
            items.push(product);
        }
    }
    if items.is_empty() {
        items.push(by_cat[people::weighted(&person.category_prefs, rng)][0]);
    }
    for (i, &p) in items.iter().enumerate() {
        let pr = &products[p];
        let qty: i64 = match rng.random::<f64>() {
            x if x < 0.78 => 1,
            x if x < 0.95 => 2,
            _ => 3,
        };
        let gross = pr.list_price_cents * qty;
        let discount = on_promo(p, week, config.seed).map_or(0, |pct| (gross * pct as i64 + 50) / 100);
        writeln!(
            w,
            "{receipt_id},{},{ts},{},{},{},{qty},{},{},{},{channel}",
            i + 1,
            stores[store].id,
            card.unwrap_or(""),
            pr.sku,
            cents(pr.list_price_cents),
            cents(discount),
            cents(gross - discount)
        )?;
        summary.lines += 1;
    }
    summary.receipts += 1;
    if card.is_none() {
        summary.receipts_without_card += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonality_has_a_saturday_peak_and_a_christmas_rush() {
        let start = jiff::civil::date(2025, 1, 1); // a Wednesday
        let sat = season(start, 3.0);
        let sun = season(start, 4.0);
        assert!(sat > 2.0 * sun);
        let dec20 = season(start, 352.0);
        let dec20_plain = WEEKDAY[jiff::civil::date(2025, 12, 19).weekday().to_monday_zero_offset() as usize];
        assert!(dec20 > 1.2 * dec20_plain);
        assert!((0..365).all(|d| season(start, d as f64) <= SEASON_MAX + 1e-9));
    }
}
