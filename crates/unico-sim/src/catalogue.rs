//! The product catalogue and the store network.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// (department, categories with (name, margin rate, typical price cents, durable)).
/// A category: name, margin rate, typical price in cents, durable.
type Category = (&'static str, f64, i64, bool);

pub(crate) const DEPARTMENTS: &[(&str, &[Category])] = &[
    (
        "Fresh",
        &[
            ("Fruit", 0.35, 250, false),
            ("Vegetables", 0.35, 200, false),
            ("Bakery", 0.45, 180, false),
            ("Meat", 0.25, 900, false),
            ("Fish", 0.28, 1200, false),
        ],
    ),
    (
        "Dairy",
        &[
            ("Milk", 0.18, 140, false),
            ("Yogurt", 0.30, 250, false),
            ("Cheese", 0.30, 450, false),
            ("Eggs", 0.22, 280, false),
        ],
    ),
    (
        "Grocery",
        &[
            ("Coffee", 0.28, 450, false),
            ("Pasta", 0.25, 120, false),
            ("Rice", 0.25, 220, false),
            ("Oil", 0.18, 750, false),
            ("Biscuits", 0.32, 260, false),
            ("Canned", 0.30, 180, false),
        ],
    ),
    (
        "Drinks",
        &[
            ("Water", 0.20, 90, false),
            ("Soft drinks", 0.30, 160, false),
            ("Wine", 0.35, 800, false),
            ("Beer", 0.30, 350, false),
        ],
    ),
    ("Frozen", &[("Ice cream", 0.40, 400, false), ("Frozen meals", 0.35, 450, false)]),
    ("Home", &[("Detergents", 0.35, 550, false), ("Paper", 0.30, 400, false)]),
    ("Personal care", &[("Shampoo", 0.40, 380, false), ("Toothpaste", 0.40, 250, false), ("Baby", 0.25, 1500, false)]),
    ("Pet", &[("Pet food", 0.30, 650, false)]),
    (
        "Non-food",
        &[("Small appliances", 0.30, 3500, true), ("Cookware", 0.45, 2200, true), ("Textiles", 0.50, 1200, true)],
    ),
];

const BRANDS: &[&str] = &[
    "Aurora",
    "Bellavista",
    "Campo",
    "Dolce",
    "Estella",
    "Fiore",
    "Gusto",
    "Il Borgo",
    "Luna",
    "Monte",
    "Nettuno",
    "Orto",
    "Primo",
    "Quercia",
    "Riva",
    "Sole",
];
const SUPPLIERS: &[&str] =
    &["Alfa Foods", "Beta Distribuzione", "Gamma Group", "Delta Spa", "Epsilon Srl", "Zeta Import"];

/// The index of a brand in the catalogue's brands.
pub(crate) fn brand_index(brand: &str) -> u8 {
    BRANDS.iter().position(|b| *b == brand).unwrap_or(0) as u8
}

/// The catalogue's brands.
pub(crate) fn brand_name(index: u8) -> &'static str {
    BRANDS.get(index as usize).copied().unwrap_or(BRANDS[0])
}

/// One product.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub sku: String,
    pub name: String,
    pub department: &'static str,
    pub category: &'static str,
    pub subcategory: String,
    pub brand: &'static str,
    pub supplier: &'static str,
    pub list_price_cents: i64,
    pub unit_cost_cents: i64,
    pub durable: bool,
    /// Relative popularity within its category (Zipf-like).
    pub weight: f64,
    category_index: usize,
}

impl Product {
    /// The category's index in [`categories`].
    pub fn category_index(&self) -> usize {
        self.category_index
    }
}

/// Categories flattened: (department, category, margin, price, durable).
pub(crate) fn categories() -> Vec<(&'static str, &'static str, f64, i64, bool)> {
    DEPARTMENTS.iter().flat_map(|(d, cats)| cats.iter().map(move |(c, m, p, dur)| (*d, *c, *m, *p, *dur))).collect()
}

/// Builds `n` products spread over the categories; returns them and, per category, the
/// indices of its products.
pub(crate) fn build(n: usize, rng: &mut ChaCha8Rng) -> (Vec<Product>, Vec<Vec<usize>>) {
    let cats = categories();
    let mut products = Vec::with_capacity(n);
    let mut by_cat = vec![Vec::new(); cats.len()];
    for i in 0..n {
        let ci = i % cats.len();
        let (dept, cat, margin, price, durable) = cats[ci];
        let rank = by_cat[ci].len() + 1;
        let price_factor: f64 = rng.random_range(0.5..2.0);
        let list = ((price as f64 * price_factor) / 10.0).round() as i64 * 10 - 1;
        let list = list.max(9);
        let m: f64 = (margin + rng.random_range(-0.08..0.08)).clamp(0.05, 0.7);
        let cost = ((list as f64) * (1.0 - m)).round() as i64;
        let brand = *BRANDS.choose(rng).expect("non-empty");
        let sub = format!("{cat} {}", ["classic", "premium", "value", "organic"][rng.random_range(0..4)]);
        products.push(Product {
            sku: format!("{:06}", 100_000 + i),
            name: format!("{brand} {} {}", cat.to_lowercase(), rank),
            department: dept,
            category: cat,
            subcategory: sub,
            brand,
            supplier: SUPPLIERS.choose(rng).expect("non-empty"),
            list_price_cents: list,
            unit_cost_cents: cost,
            durable,
            weight: 1.0 / (rank as f64).powf(0.9),
            category_index: ci,
        });
        by_cat[ci].push(i);
    }
    (products, by_cat)
}

/// One store.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub id: String,
    pub name: String,
    pub region: &'static str,
    pub format: &'static str,
    pub weight: f64,
}

const TOWNS: &[(&str, &str)] = &[
    ("Milano", "Lombardia"),
    ("Bergamo", "Lombardia"),
    ("Torino", "Piemonte"),
    ("Genova", "Liguria"),
    ("Bologna", "Emilia-Romagna"),
    ("Verona", "Veneto"),
    ("Padova", "Veneto"),
    ("Firenze", "Toscana"),
    ("Roma", "Lazio"),
    ("Napoli", "Campania"),
    ("Bari", "Puglia"),
    ("Palermo", "Sicilia"),
];

pub(crate) fn stores(n: usize, rng: &mut ChaCha8Rng) -> Vec<Store> {
    (0..n)
        .map(|i| {
            let (town, region) = TOWNS[i % TOWNS.len()];
            let format = ["hypermarket", "supermarket", "supermarket", "convenience"][rng.random_range(0..4)];
            let weight = match format {
                "hypermarket" => 3.0,
                "supermarket" => 1.5,
                _ => 0.6,
            };
            Store {
                id: format!("S{:03}", i + 1),
                name: format!("{town} {}", i / TOWNS.len() + 1),
                region,
                format,
                weight,
            }
        })
        .collect()
}
