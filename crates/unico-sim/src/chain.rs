//! Generating a whole chain into files: master data, receipts, customers, and the truth.

use crate::catalogue;
use crate::history;
use crate::people;
use crate::rich;
use crate::shop::{SimReceipt, shop, shop_as};
use crate::world::{ChainConfig, Stream, World};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

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

pub(crate) fn cents(c: i64) -> Cents {
    Cents(c)
}

/// Displays cents as a decimal amount without allocating.
pub(crate) struct Cents(i64);

impl std::fmt::Display for Cents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.unsigned_abs() / 100, self.0.unsigned_abs() % 100)
    }
}

fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    create_with(path, 1 << 20)
}

fn create_with(path: &Path, capacity: usize) -> std::io::Result<BufWriter<File>> {
    let with_path = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(with_path)?;
    }
    Ok(BufWriter::with_capacity(capacity, File::create(path).map_err(with_path)?))
}

/// The header of receipts CSV files (the canonical import columns).
pub const RECEIPTS_HEADER: &str =
    "receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel";

/// Writes one receipt as canonical CSV lines; returns the number of lines.
pub fn write_receipt_csv(w: &mut impl Write, world: &World, r: &SimReceipt) -> std::io::Result<u64> {
    let (h, m, s) = r.time;
    let ts = format!("{} {h:02}:{m:02}:{s:02}", r.date);
    let store = &world.stores[r.store].id;
    let card = r.card.as_deref().unwrap_or("");
    for (i, l) in r.lines.iter().enumerate() {
        writeln!(
            w,
            "{},{},{ts},{store},{card},{},{},{},{},{},{}",
            r.receipt_id,
            i + 1,
            world.products[l.product].sku,
            l.quantity,
            cents(l.unit_price_cents),
            cents(l.discount_cents),
            cents(l.net_cents),
            r.channel
        )?;
    }
    Ok(r.lines.len() as u64)
}

/// Generates the chain into `out`: `stores.csv`, `products.csv`, `customers.csv`,
/// `receipts.csv` and `truth/`. `progress` is called with (people done, people in all).
pub fn generate(config: &ChainConfig, out: &Path, progress: &dyn Fn(u64, u64)) -> std::io::Result<GenerateSummary> {
    let mut receipts = create(&out.join("receipts.csv"))?;
    writeln!(receipts, "{RECEIPTS_HEADER}")?;
    let summary =
        generate_into(config, out, progress, &mut |world, r| write_receipt_csv(&mut receipts, world, r).map(|_| ()))?;
    receipts.flush()?;
    Ok(summary)
}

/// Like [`generate`], but hands every receipt to `receipts` (person by person, each
/// person's in time order) instead of writing `receipts.csv`: the way to stream a chain of
/// any size straight into the lake.
pub fn generate_into(
    config: &ChainConfig,
    out: &Path,
    progress: &dyn Fn(u64, u64),
    receipts: &mut dyn FnMut(&World, &SimReceipt) -> std::io::Result<()>,
) -> std::io::Result<GenerateSummary> {
    let world = World::new(config);
    let mut w = create(&out.join("stores.csv"))?;
    writeln!(w, "store_id,name,region,format")?;
    for s in &world.stores {
        writeln!(w, "{},{},{},{}", s.id, s.name, s.region, s.format)?;
    }
    w.flush()?;
    let mut w = create(&out.join("products.csv"))?;
    writeln!(w, "sku,name,department,category,subcategory,brand,supplier,unit_cost,list_price,durable")?;
    for p in &world.products {
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{}",
            p.sku,
            p.name,
            p.department,
            p.category,
            p.subcategory,
            p.brand,
            p.supplier,
            cents(p.unit_cost_cents),
            cents(p.list_price_cents),
            p.durable
        )?;
    }
    w.flush()?;

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
    let mut hist = if config.history { Some(HistoryFiles::create(&world, out)?) } else { None };
    let mut rich = match &world.structure {
        Some(st) => Some(RichFiles::create(&world, st, out)?),
        None => None,
    };

    let mut summary = GenerateSummary::default();
    for pid in config.first_person..config.first_person + config.customers {
        if pid % 1024 == 0 {
            progress(pid - config.first_person, config.customers);
        }
        let person = world.person(pid);
        if let (Some(files), Some(tastes)) = (rich.as_mut(), person.tastes.as_ref()) {
            let brands: Vec<&str> = tastes.brand.iter().map(|&b| catalogue::brand_name(b)).collect();
            writeln!(
                files.households,
                "{pid},{},{},{:.4},{}",
                person.cards.first().map_or("", |c| c.as_str()),
                tastes.household,
                tastes.loyalty,
                brands.join("|")
            )?;
        }
        if person.cards.len() > 1 {
            summary.duplicate_people += 1;
            writeln!(t_dups, "{pid},{},{}", person.cards[0], person.cards[1])?;
        }
        if person.member {
            let mut rng = world.rng(pid, Stream::Master);
            for r in people::master_records(&person, pid, config.start, &mut rng) {
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
            let pr = &world.products[s.product];
            writeln!(
                t_cycles,
                "{pid},{},{},{},{:.2}",
                person.cards.first().map_or("", |c| c.as_str()),
                pr.sku,
                pr.category,
                s.cycle_days
            )?;
        }
        let (which, offers) = match &hist {
            Some(h) if person.member => {
                let which: Vec<usize> =
                    (0..h.campaigns.len()).filter(|&c| history::receives(&world, pid, c, &h.campaigns[c])).collect();
                let offers = history::offers(&h.campaigns, &which, &person.cards[0]);
                (which, offers)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let mut redeemed: Vec<(usize, String)> = Vec::new();
        let (_, run) = shop_as(&world, pid, person.clone(), &offers, &mut |r| {
            if let Some(h) = hist.as_mut() {
                for l in r.lines.iter().filter(|l| l.offer.is_some()) {
                    let coupon = &offers[l.offer.expect("filtered")].code;
                    let c = h.campaign_of(coupon);
                    redeemed.push((c, coupon.clone()));
                    let (hh, m, sec) = r.time;
                    writeln!(
                        h.redemptions,
                        "{},{coupon},{},{} {hh:02}:{m:02}:{sec:02},{},{},{}",
                        person.cards[0],
                        h.campaigns[c].id,
                        r.date,
                        world.stores[r.store].id,
                        r.receipt_id,
                        cents(l.discount_cents)
                    )?;
                }
            }
            receipts(&world, &r)?;
            summary.lines += r.lines.len() as u64;
            summary.receipts += 1;
            if r.card.is_none() {
                summary.receipts_without_card += 1;
            }
            Ok(())
        })?;
        if let Some(files) = rich.as_mut() {
            let cats = catalogue::categories();
            for &(day, c, from, to) in &run.switches {
                writeln!(
                    files.switches,
                    "{pid},{day:.2},{},{},{}",
                    cats[c].1,
                    catalogue::brand_name(from),
                    catalogue::brand_name(to)
                )?;
            }
        }
        if let Some(h) = hist.as_mut()
            && !which.is_empty()
        {
            h.member(&world, pid, &person.cards[0], &which, &redeemed)?;
        }
        writeln!(
            t_people,
            "{pid},{},{},{:.6},{:.6},{:.2},{},{},{},{:.4},{:.4},{:.4},{:.3},{}",
            person.member,
            person.cards.join("|"),
            person.rate_per_day,
            person.p_drop,
            person.birth_day,
            run.last_visit.map(|d| format!("{d:.2}")).unwrap_or_default(),
            run.visits,
            run.dropped,
            person.card_use,
            person.price_sensitivity,
            person.ecommerce_share,
            person.basket_mean,
            world.stores[person.store].id
        )?;
    }
    progress(config.customers, config.customers);
    for w in [&mut customers, &mut t_people, &mut t_cycles, &mut t_dups] {
        w.flush()?;
    }
    if let Some(h) = hist.as_mut() {
        h.flush()?;
    }
    if let Some(files) = rich.as_mut() {
        files.households.flush()?;
        files.switches.flush()?;
    }
    let params = serde_json::json!({
        "time_unit": "days",
        "seed": config.seed,
        "start": config.start.to_string(),
        "days": config.days,
        "population": world.population,
        "shoppers": config.shoppers,
        "summary": summary,
    });
    std::fs::write(out.join("truth/params.json"), serde_json::to_vec_pretty(&params).map_err(std::io::Error::other)?)?;
    Ok(summary)
}

/// The richer shoppers' truth: the world's structure at once, people's tastes and brand
/// switches as they shop.
struct RichFiles {
    households: BufWriter<File>,
    switches: BufWriter<File>,
}

impl RichFiles {
    fn create(world: &World, st: &rich::Structure, out: &Path) -> std::io::Result<RichFiles> {
        let cats = catalogue::categories();
        let mut w = create_with(&out.join("truth/product_structure.csv"), 1 << 16)?;
        writeln!(
            w,
            "sku,category,brand,substitute_sku,complement_sku,season_peak_day_of_year,season_width_days,launch_date"
        )?;
        for (p, pr) in world.products.iter().enumerate() {
            let sku = |q: Option<usize>| q.map(|q| world.products[q].sku.clone()).unwrap_or_default();
            let (peak, width) = st.season[p].map(|(a, b)| (format!("{a:.1}"), format!("{b:.1}"))).unwrap_or_default();
            let launch = st.launch[p].map(|d| world.date_of(d).to_string()).unwrap_or_default();
            writeln!(
                w,
                "{},{},{},{},{},{peak},{width},{launch}",
                pr.sku,
                pr.category,
                pr.brand,
                sku(st.substitute[p]),
                sku(st.complement[p])
            )?;
        }
        w.flush()?;
        let mut w = create_with(&out.join("truth/household_products.csv"), 1 << 16)?;
        writeln!(w, "household,sku")?;
        for h in 0..rich::HOUSEHOLDS {
            for (p, pr) in world.products.iter().enumerate() {
                if st.favoured[p] & (1 << h) != 0 {
                    writeln!(w, "{h},{}", pr.sku)?;
                }
            }
        }
        w.flush()?;
        let mut w = create_with(&out.join("truth/household_tilts.csv"), 1 << 16)?;
        writeln!(w, "household,category,tilt")?;
        for h in 0..rich::HOUSEHOLDS {
            for (c, t) in st.tilt[h].iter().enumerate() {
                writeln!(w, "{h},{},{t:.4}", cats[c].1)?;
            }
        }
        w.flush()?;
        let mut w = create_with(&out.join("truth/chain_promotions.csv"), 1 << 16)?;
        writeln!(w, "week_start,week_end,category,percent_off")?;
        let weeks = i64::from((world.config.days + world.tail_days).div_ceil(7));
        for week in 0..weeks {
            if let Some((c, pct)) = st.event(week) {
                let from = world.date_of((week * 7) as f64);
                writeln!(w, "{from},{},{},{pct}", world.date_of((week * 7 + 6) as f64), cats[c].1)?;
            }
        }
        w.flush()?;
        let mut households = create_with(&out.join("truth/households.csv"), 1 << 16)?;
        writeln!(households, "person_id,card_id,household,brand_loyalty,favourite_brands")?;
        let mut switches = create_with(&out.join("truth/brand_switches.csv"), 1 << 16)?;
        writeln!(switches, "person_id,day,category,from_brand,to_brand")?;
        Ok(RichFiles { households, switches })
    }
}

/// The promotion history's files, written as the people shop.
struct HistoryFiles {
    campaigns: Vec<history::HistoryCampaign>,
    members: BufWriter<File>,
    redemptions: BufWriter<File>,
    truth: BufWriter<File>,
}

impl HistoryFiles {
    fn create(world: &World, out: &Path) -> std::io::Result<HistoryFiles> {
        let campaigns = history::campaigns(world);
        let mut w = create(&out.join("campaigns.csv"))?;
        writeln!(w, "campaign_id,name,kind,start,end")?;
        for c in &campaigns {
            writeln!(w, "{},Campaign {} ({}),{},{},{}", c.id, c.id, c.kind, c.kind, c.start, c.end)?;
        }
        w.flush()?;
        let mut w = create(&out.join("coupons.csv"))?;
        writeln!(w, "coupon_id,campaign_id,percent_off,amount_off,buy_units,pay_units,min_spend")?;
        for c in &campaigns {
            for k in &c.coupons {
                writeln!(w, "{},{},{},,,,", k.id, c.id, k.percent)?;
            }
        }
        w.flush()?;
        let mut w = create(&out.join("coupon_products.csv"))?;
        writeln!(w, "coupon_id,sku")?;
        for c in &campaigns {
            for k in &c.coupons {
                for &p in &k.products {
                    writeln!(w, "{},{}", k.id, world.products[p].sku)?;
                }
            }
        }
        w.flush()?;
        let mut members = create(&out.join("campaign_members.csv"))?;
        writeln!(members, "campaign_id,customer_id")?;
        let mut redemptions = create(&out.join("redemptions.csv"))?;
        writeln!(redemptions, "customer_id,coupon_id,campaign_id,ts,store_id,receipt_id,discount")?;
        let mut truth = create(&out.join("truth/history_response.csv"))?;
        writeln!(truth, "campaign_id,customer_id,person_id,p_redeem,redeemed")?;
        Ok(HistoryFiles { campaigns, members, redemptions, truth })
    }

    fn campaign_of(&self, coupon: &str) -> usize {
        self.campaigns.iter().position(|c| c.coupons.iter().any(|k| k.id == coupon)).expect("a coupon of the history")
    }

    /// A member's campaigns and the planted probability of each, from their visits as they
    /// would have been without the coupons.
    fn member(
        &mut self,
        world: &World,
        pid: u64,
        card: &str,
        which: &[usize],
        redeemed: &[(usize, String)],
    ) -> std::io::Result<()> {
        let mut baseline = Vec::new();
        let windows: Vec<_> = which.iter().map(|&c| (self.campaigns[c].start, self.campaigns[c].end)).collect();
        shop(world, pid, &[], &mut |r| {
            if windows.iter().any(|(a, b)| *a <= r.date && r.date <= *b) {
                baseline.push(r);
            }
            Ok(())
        })?;
        for &c in which {
            let campaign = &self.campaigns[c];
            writeln!(self.members, "{},{card}", campaign.id)?;
            let p = history::planted_probability(world, pid, campaign, &baseline);
            let did = redeemed.iter().any(|(rc, _)| *rc == c);
            writeln!(self.truth, "{},{card},{pid},{p:.6},{}", campaign.id, u8::from(did))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.members.flush()?;
        self.redemptions.flush()?;
        self.truth.flush()
    }
}
