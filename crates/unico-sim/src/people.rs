//! Simulated people: their planted behaviour and their customer-master records.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Gamma, LogNormal};

const FIRST: &[&str] = &[
    "Giulia",
    "Marco",
    "Francesca",
    "Luca",
    "Chiara",
    "Andrea",
    "Sara",
    "Matteo",
    "Elena",
    "Nicolò",
    "Martina",
    "Lorenzo",
    "Giorgia",
    "Davide",
    "Alessia",
    "Simone",
    "Federica",
    "Gabriele",
    "Anna",
    "Niccolò",
];
const LAST: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
    "Longo",
    "Gentile",
    "Martinelli",
    "Vitale",
    "Lombardo",
    "Serra",
    "Coppola",
    "De Santis",
    "D'Angelo",
    "Marchetti",
    "Parisi",
    "Villa",
    "Conte",
    "Ferraro",
    "Ferri",
    "Fabbri",
    "Bianco",
    "Marini",
    "Grasso",
    "Valentini",
    "Messina",
    "Sala",
    "De Angelis",
    "Gatti",
    "Pellegrini",
    "Palumbo",
    "Sanna",
    "Farina",
    "Rizzi",
    "Monti",
    "Cattaneo",
    "Morelli",
    "Amato",
    "Silvestri",
    "Mazza",
    "Testa",
    "Grassi",
    "Pellegrino",
    "Carbone",
    "Giuliani",
    "Benedetti",
    "Barone",
    "Rossetti",
    "Caputo",
    "Montanari",
    "Guerra",
    "Palmieri",
    "Bernardi",
    "Martino",
    "Fiore",
    "De Rosa",
    "Ferretti",
    "Bellini",
    "Basile",
    "Riva",
    "Donati",
    "Piras",
    "Vitali",
    "Battaglia",
    "Sartori",
    "Neri",
    "Costantini",
    "Milani",
    "Pagano",
    "Ruggiero",
    "Sorrentino",
    "D'Amico",
    "Orlando",
    "Damico",
    "Negri",
];
const STREETS: &[&str] = &[
    "Via Roma",
    "Via Garibaldi",
    "Via Mazzini",
    "Corso Italia",
    "Via Dante",
    "Via Verdi",
    "Viale Europa",
    "Via Cavour",
    "Piazza della Libertà",
    "Via San Giovanni",
];
const CITIES: &[(&str, &str)] = &[
    ("Milano", "20121"),
    ("Bergamo", "24121"),
    ("Torino", "10121"),
    ("Genova", "16121"),
    ("Bologna", "40121"),
    ("Verona", "37121"),
    ("Padova", "35121"),
    ("Firenze", "50121"),
    ("Roma", "00184"),
    ("Napoli", "80121"),
    ("Bari", "70121"),
    ("Palermo", "90133"),
];

/// Population parameters the people are drawn from (per day), written to `truth/params.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Population {
    /// Gamma shape of the visit rate.
    pub rate_shape: f64,
    /// Mean visits per day.
    pub rate_mean_per_day: f64,
    /// Beta(a, b) of the probability of lapsing after a visit.
    pub drop_a: f64,
    /// See `drop_a`.
    pub drop_b: f64,
    /// Share of shoppers who are not loyalty members (never show a card).
    pub non_member_share: f64,
    /// Beta parameters of a member's probability of showing the card.
    pub card_use_a: f64,
    /// See `card_use_a`.
    pub card_use_b: f64,
    /// Share of members registered twice with two cards.
    pub duplicate_share: f64,
}

impl Default for Population {
    fn default() -> Self {
        Population {
            rate_shape: 1.3,
            rate_mean_per_day: 1.0 / 9.0,
            drop_a: 1.2,
            drop_b: 40.0,
            non_member_share: 0.22,
            card_use_a: 9.0,
            card_use_b: 1.6,
            duplicate_share: 0.03,
        }
    }
}

/// A staple bought on a personal cycle.
#[derive(Debug, Clone)]
pub(crate) struct Staple {
    pub product: usize,
    pub cycle_days: f64,
    pub next_due: f64,
}

/// The planted truth of one person.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub member: bool,
    pub cards: Vec<String>,
    pub rate_per_day: f64,
    pub p_drop: f64,
    pub card_use: f64,
    pub price_sensitivity: f64,
    pub ecommerce_share: f64,
    pub basket_mean: f64,
    pub store: usize,
    pub category_prefs: Vec<f64>,
    pub staples: Vec<Staple>,
    /// Day (from the start) of the first visit.
    pub birth_day: f64,
    /// The richer shoppers' tastes (household, brands), if the chain has them.
    pub tastes: Option<crate::rich::Tastes>,
}

pub(crate) fn draw_person(
    pop: &Population,
    days: f64,
    n_stores: usize,
    store_weights: &[f64],
    category_popularity: &[f64],
    by_category: &[Vec<usize>],
    rng: &mut ChaCha8Rng,
) -> Person {
    let member = rng.random::<f64>() >= pop.non_member_share;
    let rate = Gamma::new(pop.rate_shape, pop.rate_mean_per_day / pop.rate_shape).expect("valid").sample(rng);
    let p_drop = Beta::new(pop.drop_a, pop.drop_b).expect("valid").sample(rng);
    let card_use = if member { Beta::new(pop.card_use_a, pop.card_use_b).expect("valid").sample(rng) } else { 0.0 };
    let price_sensitivity = Beta::new(1.5, 3.0).expect("valid").sample(rng);
    let ecommerce_share = Beta::new(0.4, 6.0).expect("valid").sample(rng);
    let basket_mean = 1.0 + Gamma::new(3.0, 7.0 / 3.0).expect("valid").sample(rng);
    let total: f64 = store_weights.iter().sum();
    let mut pick = rng.random::<f64>() * total;
    let mut store = 0;
    for (i, w) in store_weights.iter().enumerate().take(n_stores) {
        if pick < *w {
            store = i;
            break;
        }
        pick -= w;
    }
    // Dirichlet via normalised gammas: sparse, personal category preferences.
    let mut prefs: Vec<f64> = category_popularity
        .iter()
        .map(|p| Gamma::new(0.4 * p * category_popularity.len() as f64, 1.0).expect("valid").sample(rng).max(1e-12))
        .collect();
    let s: f64 = prefs.iter().sum();
    prefs.iter_mut().for_each(|p| *p /= s);
    let birth_day =
        if rng.random::<f64>() < 0.7 { rng.random::<f64>() * 30.0_f64.min(days) } else { rng.random::<f64>() * days };
    let n_staples = rng.random_range(2..=6);
    let cycle = LogNormal::new((14.0f64).ln(), 0.5).expect("valid");
    let mut staples: Vec<Staple> = Vec::new();
    for _ in 0..n_staples {
        // Staples come from the person's favourite categories (non-durable ones).
        let ci = weighted(&prefs, rng);
        let Some(&product) = by_category[ci].choose(rng) else {
            continue;
        };
        if staples.iter().any(|s| s.product == product) {
            continue;
        }
        let cycle_days = cycle.sample(rng).clamp(4.0, 60.0);
        staples.push(Staple { product, cycle_days, next_due: birth_day + rng.random::<f64>() * cycle_days });
    }
    Person {
        member,
        cards: Vec::new(),
        rate_per_day: rate,
        p_drop,
        card_use,
        price_sensitivity,
        ecommerce_share,
        basket_mean,
        store,
        category_prefs: prefs,
        staples,
        birth_day,
        tastes: None,
    }
}

pub(crate) fn weighted(weights: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// A customer-master record as a chain's CRM would export it.
pub(crate) struct MasterRecord {
    pub card: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub birth_date: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub registered_at: String,
    pub consents: [bool; 5],
}

fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'á' => 'a',
            'è' | 'é' => 'e',
            'ì' | 'í' => 'i',
            'ò' | 'ó' => 'o',
            'ù' | 'ú' => 'u',
            other => other,
        })
        .filter(|c| *c != '\'')
        .collect()
}

/// A street written the short way a clerk would type it.
fn abbreviate(street: &str) -> String {
    for (long, short) in [("Via ", "V. "), ("Viale ", "V.le "), ("Corso ", "C.so "), ("Piazza ", "P.za ")] {
        if let Some(rest) = street.strip_prefix(long) {
            return format!("{short}{rest}");
        }
    }
    street.to_uppercase()
}

/// The person's master record(s): one per card, the second with the kind of variation a
/// second registration at another store produces. `pid` makes their e-mail their own: a
/// mailbox is one person's (or a household's), never a stranger's who happens to share a
/// name (with 20 first names, 30 surnames and a two-digit number, ten million people once
/// shared 300,000 addresses, and strangers with the same name, e-mail and birth date were
/// merged as one).
pub(crate) fn master_records(
    person: &Person,
    pid: u64,
    start: jiff::civil::Date,
    rng: &mut ChaCha8Rng,
) -> Vec<MasterRecord> {
    let first = FIRST.choose(rng).expect("non-empty").to_string();
    let last = LAST.choose(rng).expect("non-empty").to_string();
    let year = rng.random_range(1940..2006);
    let birth = format!("{year}-{:02}-{:02}", rng.random_range(1..=12), rng.random_range(1..=28));
    let (city, postcode) = *CITIES.choose(rng).expect("non-empty");
    let street = format!("{} {}", STREETS.choose(rng).expect("non-empty"), rng.random_range(1..200));
    // Prefixes of Italian mobile operators (libphonenumber refuses the unassigned ones).
    const MOBILE: [u32; 24] = [
        320, 324, 327, 328, 329, 330, 331, 333, 334, 335, 336, 337, 338, 339, 340, 342, 345, 346, 347, 348, 349, 366,
        380, 393,
    ];
    let mobile = format!("{}{:07}", MOBILE.choose(rng).expect("non-empty"), rng.random_range(0..10_000_000));
    let domain = ["gmail.com", "libero.it", "hotmail.it", "yahoo.it", "outlook.com"].choose(rng).expect("non-empty");
    // The same draw as ever (an i32: the stream of the draws after it is unchanged), made
    // the person's own by their number.
    let n: i32 = rng.random_range(1..99);
    let email = format!(
        "{}.{}{}@{domain}",
        fold(&first).to_lowercase(),
        fold(&last).to_lowercase().replace(' ', ""),
        pid * 100 + n.unsigned_abs() as u64
    );
    let registered = start.checked_add(jiff::Span::new().days(-(rng.random_range(0..1500) as i64))).unwrap_or(start);
    let consents = [
        rng.random::<f64>() < 0.7,
        rng.random::<f64>() < 0.6,
        rng.random::<f64>() < 0.6,
        rng.random::<f64>() < 0.4,
        rng.random::<f64>() < 0.5,
    ];
    let mut out = vec![MasterRecord {
        card: person.cards[0].clone(),
        first_name: first.clone(),
        last_name: last.clone(),
        email: email.clone(),
        phone: format!("{} {}", &mobile[..3], &mobile[3..]),
        birth_date: birth.clone(),
        address: street.clone(),
        postcode: postcode.into(),
        city: city.into(),
        registered_at: registered.to_string(),
        consents,
    }];
    if let Some(card) = person.cards.get(1) {
        let variant = rng.random_range(0..3);
        out.push(MasterRecord {
            card: card.clone(),
            first_name: if variant == 0 { fold(&first).to_uppercase() } else { first.clone() },
            last_name: if variant == 1 { fold(&last).to_lowercase() } else { last.to_uppercase() },
            email: if variant == 2 { email.to_uppercase() } else { email.clone() },
            phone: format!("+39 {}-{}-{}", &mobile[..3], &mobile[3..6], &mobile[6..]),
            birth_date: birth,
            address: abbreviate(&street),
            postcode: postcode.into(),
            city: city.to_uppercase(),
            registered_at: registered
                .checked_add(jiff::Span::new().days(rng.random_range(30..700) as i64))
                .unwrap_or(registered)
                .to_string(),
            consents: [consents[0], consents[1], rng.random::<f64>() < 0.5, consents[3], consents[4]],
        });
    }
    out
}
