//! The simulated chain: catalogue, stores and the rules every person is drawn by.
//!
//! A [`World`] is built from a [`ChainConfig`] alone, so anything derived from it — a person,
//! their receipts, their reaction to an offer — can be recomputed from the seed without the
//! files. Each person has independent random streams (traits, master record, shopping,
//! reactions to offers): adding people or offers never changes anyone else, and a replay
//! with offers shares every baseline draw with the replay without them.

use crate::catalogue::{self, Product, Store};
use crate::people::{self, Person, Population};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Simulated people (members and non-members).
    pub customers: u64,
    /// The first person's number: the chain's people are `first_person..first_person +
    /// customers`. Each person draws from their own streams, so a chain generated as
    /// `0..n` and then `n..m` holds exactly the people and receipts of one `0..m` — the way
    /// to add people to a lake generated earlier.
    pub first_person: u64,
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
    /// Run the chain's own past campaigns during the period and write their history
    /// (campaigns, coupons, members, redemptions; see [`history`](crate::history)). Off,
    /// the chain is exactly the one earlier versions generated.
    pub history: bool,
    /// With `history`: the past campaigns end before this day of the period (0: anywhere
    /// in it), so that a later campaign window is free of them.
    pub history_before_day: u32,
    /// How much structure the shoppers have: [`Shoppers::Basic`] (staples, category
    /// preferences, popularity: the chain of earlier versions, byte for byte) or
    /// [`Shoppers::Rich`] (households, brands, substitutes, complements, seasons, launches,
    /// mass promotions: see [`rich`](crate::rich)).
    pub shoppers: Shoppers,
}

/// How much structure the simulated shoppers have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shoppers {
    /// Staples on a cycle, category preferences, product popularity.
    #[default]
    Basic,
    /// Basic, plus household tastes, brand loyalty and switching, substitutes, complements,
    /// seasonal and new products, and the chain's mass promotions.
    Rich,
}

impl std::str::FromStr for Shoppers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "basic" => Ok(Shoppers::Basic),
            "rich" => Ok(Shoppers::Rich),
            other => Err(format!("unknown shoppers `{other}` (basic or rich)")),
        }
    }
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            customers: 2_000,
            first_person: 0,
            stores: 8,
            products: 1_500,
            days: 365,
            start: jiff::civil::date(2025, 1, 1),
            seed: 42,
            history: false,
            history_before_day: 0,
            shoppers: Shoppers::Basic,
        }
    }
}

/// Which of a person's random streams.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Traits = 1,
    Master = 2,
    Shopping = 3,
    Offers = 4,
    Tastes = 5,
}

/// The chain and its population.
#[derive(Debug, Clone)]
pub struct World {
    pub(crate) config: ChainConfig,
    pub(crate) products: Vec<Product>,
    pub(crate) by_category: Vec<Vec<usize>>,
    pub(crate) stores: Vec<Store>,
    pub(crate) store_weights: Vec<f64>,
    pub(crate) online: usize,
    pub(crate) category_popularity: Vec<f64>,
    pub(crate) population: Population,
    /// Days people go on shopping after the configured period (for replays that look at
    /// what offers did after it); the people and the period's receipts do not change.
    pub(crate) tail_days: u32,
    /// The richer shoppers' structure, with [`Shoppers::Rich`].
    pub(crate) structure: Option<crate::rich::Structure>,
}

/// Card numbers are derived from the person: members get `4…`, a second registration `5…`.
pub(crate) fn card_of(pid: u64, second: bool) -> String {
    format!("{:010}", if second { 5_000_000_000u64 } else { 4_000_000_000u64 } + pid * 7 + 3)
}

impl World {
    /// Builds the chain described by `config`.
    pub fn new(config: &ChainConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let (products, by_category) = catalogue::build(config.products.max(catalogue::categories().len()), &mut rng);
        let mut stores = catalogue::stores(config.stores.max(1), &mut rng);
        let store_weights: Vec<f64> = stores.iter().map(|s| s.weight).collect();
        stores.push(Store {
            id: "E01".into(),
            name: "Online shop".into(),
            region: "Online",
            format: "ecommerce",
            weight: 0.0,
        });
        let online = stores.len() - 1;
        let category_popularity = catalogue::categories().iter().map(|c| if c.4 { 0.3 } else { 1.0 }).collect();
        let structure = (config.shoppers == Shoppers::Rich)
            .then(|| crate::rich::Structure::new(&products, &by_category, config.days, config.seed));
        World {
            config: config.clone(),
            products,
            by_category,
            stores,
            store_weights,
            online,
            category_popularity,
            population: Population::default(),
            tail_days: 0,
            structure,
        }
    }

    /// Lets replays run `days` past the configured period, to see what offers at its end
    /// did afterwards (pantry loading, kept customers). Everything up to the period's end is
    /// unchanged.
    pub fn extend_beyond_end(&mut self, days: u32) {
        self.tail_days = days;
    }

    /// The configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// A person's random stream.
    pub(crate) fn rng(&self, pid: u64, stream: Stream) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(pid * 8 + stream as u64);
        rng
    }

    /// Person `pid`, drawn from their own stream.
    pub(crate) fn person(&self, pid: u64) -> Person {
        let mut rng = self.rng(pid, Stream::Traits);
        let mut p = people::draw_person(
            &self.population,
            self.config.days as f64,
            self.stores.len() - 1,
            &self.store_weights,
            &self.category_popularity,
            &self.by_category,
            &mut rng,
        );
        if p.member {
            p.cards.push(card_of(pid, false));
            if rand::Rng::random::<f64>(&mut rng) < self.population.duplicate_share {
                p.cards.push(card_of(pid, true));
            }
        }
        if let Some(st) = &self.structure {
            let mut rng = self.rng(pid, Stream::Tastes);
            st.shape(&self.products, &self.by_category, pid, &mut p, &mut rng);
        }
        p
    }

    /// The person holding a card, if the card belongs to this world.
    pub fn person_of_card(&self, card: &str) -> Option<u64> {
        let n: u64 = card.trim().parse().ok()?;
        let base = if (4_000_000_000..5_000_000_000).contains(&n) { 4_000_000_000 } else { 5_000_000_000 };
        let off = n.checked_sub(base)?.checked_sub(3)?;
        let pid = off / 7;
        let people = self.config.first_person..self.config.first_person + self.config.customers;
        (off % 7 == 0 && people.contains(&pid)).then_some(pid)
    }

    /// The planted response of person `pid` to an offer on a product: their price
    /// sensitivity `s` and their affinity `a` for its category. If they would not buy it
    /// anyway, a discount of depth `d` makes them buy with probability `a (1 − e^(−6 s d))`;
    /// if they would, they redeem with probability `0.75 + 0.25 s` (what the oracle of a
    /// campaign evaluation may know).
    pub fn offer_response(&self, pid: u64, sku: &str) -> Option<(f64, f64)> {
        let product = self.product_index(sku)?;
        let person = self.person(pid);
        let n_cat = self.by_category.len() as f64;
        let category = self.products[product].category_index();
        Some((person.price_sensitivity, (person.category_prefs[category] * n_cat * 0.5).clamp(0.05, 1.0)))
    }

    /// The index of a product by sku.
    pub fn product_index(&self, sku: &str) -> Option<usize> {
        let n: usize = sku.parse().ok()?;
        n.checked_sub(100_000).filter(|i| *i < self.products.len())
    }

    /// Sku, category, list price and unit cost (cents) of product `index`.
    pub fn product(&self, index: usize) -> (&str, &str, i64, i64) {
        let p = &self.products[index];
        (&p.sku, p.category, p.list_price_cents, p.unit_cost_cents)
    }

    /// The id of store `index`.
    pub fn store_id(&self, index: usize) -> &str {
        &self.stores[index].id
    }

    /// Number of products.
    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// The local calendar date of simulated day `day`.
    pub fn date_of(&self, day: f64) -> jiff::civil::Date {
        self.config.start.checked_add(jiff::Span::new().days(day.floor() as i64)).unwrap_or(self.config.start)
    }
}
