//! The shoppers' app in the service layer: registration (a new digital card, or an existing
//! card linked with a code sent to the contact on file), logins, the card, offers and their
//! activation, consents, the flyer and its signed link, products, the favourite store,
//! tickets with the store, surveys, the privacy policy, export and deletion.
//!
//! Every operation takes the [`Shopper`] a session names and reaches only that shopper's
//! customer: there is no parameter through which another customer could be named. See
//! `docs/app.md`.

use crate::error::{Code, Error, Result};
use crate::{App, bail};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use unico_store::Purpose;
use unico_store::shoppers::{Account, Promotion, Ticket};

/// How long a link code works.
const CODE_MINUTES: i64 = 30;
/// How long a flyer link works.
const FLYER_LINK_DAYS: i64 = 14;

/// The five consents, as the app gives them (all unticked unless said).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSet {
    /// Marketing communications at all.
    #[serde(default)]
    pub marketing: bool,
    /// Personal offers built from the purchases.
    #[serde(default)]
    pub profiling: bool,
    /// Contact by e-mail.
    #[serde(default)]
    pub email: bool,
    /// Contact by SMS.
    #[serde(default)]
    pub sms: bool,
    /// Notifications in the app.
    #[serde(default)]
    pub app: bool,
}

impl ConsentSet {
    fn list(self) -> Vec<(Purpose, bool)> {
        vec![
            (Purpose::Marketing, self.marketing),
            (Purpose::Profiling, self.profiling),
            (Purpose::Email, self.email),
            (Purpose::Sms, self.sms),
            (Purpose::App, self.app),
        ]
    }

    fn from_current(current: &[(String, bool)]) -> ConsentSet {
        let on = |p: Purpose| current.iter().any(|(q, g)| q == p.as_str() && *g);
        ConsentSet {
            marketing: on(Purpose::Marketing),
            profiling: on(Purpose::Profiling),
            email: on(Purpose::Email),
            sms: on(Purpose::Sms),
            app: on(Purpose::App),
        }
    }
}

/// A registration from the app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The e-mail to log in with.
    pub email: String,
    /// At least [`crate::staff::MIN_PASSWORD`] characters.
    pub password: String,
    /// An existing card to link, or none for a new digital card.
    #[serde(default)]
    pub card: Option<String>,
    /// The privacy policy version shown (must be the current one).
    pub policy_version: String,
    /// The consents given.
    pub consents: ConsentSet,
}

/// What a registration answers.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    /// The card: the new digital card, or the existing card once its code is confirmed.
    pub card: String,
    /// A code was sent to the contact on file: confirm it before logging in.
    pub confirm_required: bool,
}

/// A shopper's session opened.
#[derive(Debug, Clone, Serialize)]
pub struct ShopperSession {
    /// The bearer token (shown once; the store keeps its SHA-256).
    pub token: String,
    /// When it stops working (UTC).
    pub expires_at: String,
}

/// The shopper a session names.
#[derive(Debug, Clone)]
pub struct Shopper {
    /// The account.
    pub account: Account,
    /// The customer (merges followed).
    pub customer: i64,
}

/// The shopper's card and settings.
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    /// The card number.
    pub card: Option<String>,
    /// `code128` or `ean13`: how the app draws it.
    pub barcode: String,
    /// The favourite store.
    pub store_id: Option<String>,
    /// The consents as they stand.
    pub consents: ConsentSet,
    /// The current privacy policy version, and the one the shopper accepted.
    pub policy_version: Option<String>,
    /// The version accepted.
    pub accepted_policy_version: String,
    /// A newer policy waits for acceptance.
    pub must_accept_policy: bool,
    /// The latest visit with the card at a till in the last week, not rated yet.
    pub visit_to_rate: Option<Visit>,
}

/// A visit with the card (a receipt confirmed at a till), to rate.
#[derive(Debug, Clone, Serialize)]
pub struct Visit {
    /// The receipt's id (`visit_id` of a survey answer).
    pub visit_id: String,
    /// The store.
    pub store_id: String,
    /// The day.
    pub day: String,
}

/// An offer as the app shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppOffer {
    /// Its code.
    pub code: String,
    /// What it is, in words.
    pub title: String,
    /// Why the shopper gets it, in words.
    pub reason: String,
    /// What it is worth when used, cents (the discount of one use).
    pub value: i64,
    /// Percent off (0 for an amount).
    pub percent_off: i64,
    /// First day.
    pub valid_from: String,
    /// Last day, inclusive.
    pub valid_to: String,
    /// It applies only once activated ("booked").
    pub activation_required: bool,
    /// Activated.
    pub activated: bool,
    /// Used on a receipt.
    pub used: bool,
    /// The product it is on (empty for a category or the whole basket).
    pub sku: String,
    /// The category of a category offer.
    pub category: Option<String>,
    /// Built from the shopper's purchases (needs the profiling consent).
    pub personal: bool,
}

/// A product as the app shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppProduct {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Brand.
    pub brand: String,
    /// Category.
    pub category: String,
    /// List price, cents.
    pub price_cents: Option<i64>,
    /// The shopper's offers on it.
    pub offers: Vec<String>,
}

/// A promotion of the flyer, with why it is where it is.
#[derive(Debug, Clone, Serialize)]
pub struct FlyerItem {
    /// The promotion.
    #[serde(flatten)]
    pub promotion: Promotion,
    /// The product's category.
    pub category: String,
    /// `due` (the shopper buys it and is due again), `usual` (a category they buy) or empty.
    pub mine: String,
}

/// The flyer: the week's promotions by the shopper's habits, and their personal offers.
#[derive(Debug, Clone, Serialize)]
pub struct Flyer {
    /// The day it is for.
    pub day: String,
    /// Promotions, the shopper's first.
    pub promotions: Vec<FlyerItem>,
    /// The shopper's offers (title, value, dates; no card, no name).
    pub offers: Vec<AppOffer>,
}

/// A store to choose.
#[derive(Debug, Clone, Serialize)]
pub struct StoreEntry {
    /// Its id.
    pub store_id: String,
    /// Its name.
    pub name: String,
}

/// A survey answer from the app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyIn {
    /// `csat` (1–5) or `nps` (0–10).
    pub question: String,
    /// The score.
    pub score: i64,
    /// The store it is about (the favourite store when absent).
    #[serde(default)]
    pub store_id: Option<String>,
    /// A ticket it is about (one answer per ticket and question).
    #[serde(default)]
    pub ticket_id: Option<i64>,
    /// A visit it is about (`visit_to_rate` of `me`; one answer per visit and question).
    #[serde(default)]
    pub visit_id: Option<String>,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
}

fn check_email(email: &str) -> Result<String> {
    unico_store::normalise::email(email)
        .map_err(|_| Error::new(Code::InputInvalid, "email: this is not an e-mail address"))
}

/// The EAN-13 check digit of twelve digits.
pub fn ean13_check(digits: &str) -> u32 {
    let sum: u32 =
        digits.bytes().take(12).enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 }).sum();
    (10 - sum % 10) % 10
}

impl App {
    /// Registers a shopper. Without a card: a new digital card (the settings' prefix, random
    /// digits, an EAN-13 check digit), linked at once. With a card: a code goes to the
    /// contact on file, and [`App::app_confirm`] links it.
    pub fn app_register(&self, r: &Registration) -> Result<Registered> {
        let email = check_email(&r.email)?;
        if r.password.chars().count() < crate::staff::MIN_PASSWORD {
            return Err(Error::new(
                Code::InputInvalid,
                format!("the password needs at least {} characters", crate::staff::MIN_PASSWORD),
            ));
        }
        let current = self.with_store(async |s| Ok(s.privacy_policy().await?))?;
        let Some((version, _, _)) = current else {
            bail!(Code::Conflict, "the retailer has not published its privacy policy yet: registration opens then");
        };
        if r.policy_version != version {
            return Err(Error::new(
                Code::InputInvalid,
                format!("the privacy policy is now version {version}: read it and accept it to register"),
            ));
        }
        let hash = crate::staff::hash_password(&r.password)?;
        let consents = r.consents.list();
        match r.card.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => {
                let card = self.new_card_number()?;
                let key = self.pseudonymiser()?.key(&card).to_hex();
                self.with_store(async |s| {
                    Ok(s.register_new_card(&email, &hash, &card, &key, &consents, &version).await?)
                })?;
                Ok(Registered { card, confirm_required: false })
            }
            Some(card) => {
                let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
                let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(CODE_MINUTES);
                self.with_store(async |s| {
                    s.register_existing_card(
                        &email,
                        &hash,
                        card,
                        &consents,
                        &version,
                        &code,
                        &unico_store::stamp(expires),
                    )
                    .await
                    .map_err(|e| match e.kind() {
                        unico_store::ErrorKind::NotFound => Error::new(Code::NotFound, e.to_string()),
                        _ => e.into(),
                    })
                })?;
                Ok(Registered { card: card.to_string(), confirm_required: true })
            }
        }
    }

    fn new_card_number(&self) -> Result<String> {
        let prefix = &self.settings.app.card_prefix;
        for _ in 0..32 {
            let mut digits = prefix.clone();
            while digits.len() < 12 {
                digits.push(char::from(b'0' + rand::random::<u8>() % 10));
            }
            digits.push(char::from_digit(ean13_check(&digits), 10).expect("a digit"));
            if !self.with_store(async |s| Ok(s.card_taken(&digits).await?))? {
                return Ok(digits);
            }
        }
        bail!(Code::Internal, "no free card number after 32 tries: the card prefix's range is full")
    }

    /// Confirms the code sent for an existing card: the account is linked to it.
    pub fn app_confirm(&self, card: &str, code: &str) -> Result<()> {
        self.with_store(async |s| Ok(s.confirm_card(card, code).await?))?;
        Ok(())
    }

    /// Logs a shopper in for `days`.
    pub fn app_login(&self, email: &str, password: &str, days: i64) -> Result<ShopperSession> {
        let wrong = || Error::new(Code::Unauthorized, "wrong e-mail or password");
        let Ok(email) = unico_store::normalise::email(email) else {
            return Err(wrong());
        };
        let found = self.with_store(async |s| Ok(s.account_by_email(&email).await?))?;
        let Some((account, hash)) = found else {
            crate::staff::password_matches(password, &crate::staff::DECOY);
            return Err(wrong());
        };
        if !crate::staff::password_matches(password, &hash) {
            return Err(wrong());
        }
        if account.customer_id.is_none() {
            bail!(Code::Forbidden, "confirm the code sent to the contact on file for your card first");
        }
        let token = hex::encode(rand::random::<[u8; 32]>());
        let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days.max(1));
        let expires_at = unico_store::stamp(expires);
        let token_hash = crate::pos::token_hash(&token);
        self.with_store(async |s| Ok(s.open_app_session(&token_hash, account.id, &expires_at).await?))?;
        Ok(ShopperSession { token, expires_at })
    }

    /// The shopper of a live session, if it is one.
    pub fn app_session(&self, token: &str) -> Result<Option<Shopper>> {
        let hash = crate::pos::token_hash(token);
        self.with_store(async |s| {
            let Some(account) = s.app_session(&hash).await? else { return Ok(None) };
            let Some(reg) = account.customer_id else { return Ok(None) };
            let customer = s.resolve(&format!("#{reg}")).await?;
            Ok(Some(Shopper { account, customer }))
        })
    }

    /// Ends a shopper's session.
    pub fn app_logout(&self, token: &str) -> Result<()> {
        let hash = crate::pos::token_hash(token);
        self.with_store(async |s| Ok(s.end_app_session(&hash).await?))
    }

    pub(crate) fn current_consents(&self, customer: i64) -> Result<ConsentSet> {
        let view = self.with_store(async |s| Ok(s.view(&format!("#{customer}")).await?))?;
        let current: Vec<(String, bool)> = view.consents.iter().map(|c| (c.purpose.clone(), c.granted)).collect();
        Ok(ConsentSet::from_current(&current))
    }

    /// The shopper's card, consents and policy state.
    pub fn app_me(&self, who: &Shopper) -> Result<Me> {
        let week_ago = self.today().checked_sub(jiff::Span::new().days(7)).unwrap_or(self.today()).to_string();
        let (cards, policy, visit) = self.with_store(async |s| {
            Ok((
                s.cards_of(who.customer).await?,
                s.privacy_policy().await?,
                s.visit_to_rate(who.customer, &week_ago).await?,
            ))
        })?;
        let consents = self.current_consents(who.customer)?;
        let current = policy.map(|p| p.0);
        Ok(Me {
            card: cards.into_iter().next(),
            barcode: self.settings.app.barcode.clone(),
            store_id: who.account.store_id.clone(),
            consents,
            must_accept_policy: current.as_ref().is_some_and(|v| *v != who.account.policy_version),
            policy_version: current,
            accepted_policy_version: who.account.policy_version.clone(),
            visit_to_rate: visit.map(|(visit_id, store_id, day)| Visit { visit_id, store_id, day }),
        })
    }

    /// The shopper's offers valid today, of published campaigns, that their consents allow
    /// (a personal offer needs the profiling consent), best first.
    pub fn app_offers(&self, who: &Shopper) -> Result<Vec<AppOffer>> {
        let day = self.today().to_string();
        let (offers, states) = self.with_store(async |s| {
            Ok((s.offers_of(&format!("#{}", who.customer), &day).await?, s.offer_states(who.customer).await?))
        })?;
        let skus: Vec<&str> = offers.iter().map(|o| o.sku.as_str()).collect();
        let names = self.product_names(&skus)?;
        Ok(offers
            .into_iter()
            .map(|o| {
                let (activation_required, activated, used) = states
                    .get(&o.code)
                    .map(|(r, a, u)| (*r, a.is_some(), u.is_some()))
                    .unwrap_or((false, false, false));
                AppOffer {
                    title: title(&o, &names),
                    code: o.code,
                    reason: o.reason,
                    value: o.discount_cents,
                    percent_off: o.percent_off,
                    valid_from: o.valid_from,
                    valid_to: o.valid_to,
                    activation_required,
                    activated,
                    used,
                    sku: o.sku,
                    category: o.category,
                    personal: o.personal,
                }
            })
            .collect())
    }

    /// Activates ("books") one of the shopper's offers: from now on the tills apply it.
    /// Activating it again changes nothing. Another shopper's code is not found.
    pub fn app_activate(&self, who: &Shopper, code: &str) -> Result<AppOffer> {
        let mine = self.app_offers(who)?;
        let Some(offer) = mine.into_iter().find(|o| o.code == code) else {
            bail!(Code::NotFound, "you have no offer {code:?} valid today");
        };
        if !offer.activated {
            let at = unico_store::stamp(jiff::Timestamp::now());
            self.with_store(async |s| Ok(s.activate_offer(code, &at).await?))?;
            self.pos_activated(who.customer, code);
        }
        Ok(AppOffer { activated: true, ..offer })
    }

    /// Sets the shopper's consents (one event per change, source `app`).
    pub fn app_set_consents(&self, who: &Shopper, consents: ConsentSet, policy_version: &str) -> Result<ConsentSet> {
        self.with_store(async |s| Ok(s.set_consents(who.customer, &consents.list(), policy_version, "app").await?))?;
        self.current_consents(who.customer)
    }

    /// Records that the shopper accepted the current privacy policy.
    pub fn app_accept_policy(&self, who: &Shopper, version: &str) -> Result<()> {
        let current = self.with_store(async |s| Ok(s.privacy_policy().await?)).map(|p| p.map(|p| p.0))?;
        if current.as_deref() != Some(version) {
            return Err(Error::new(Code::InputInvalid, "this is not the current privacy policy version"));
        }
        self.with_store(async |s| Ok(s.accept_policy(who.account.id, version).await?))
    }

    /// Everything held about the shopper, as `unico customers export` gives it (with the
    /// app account and the tickets).
    pub fn app_export(&self, who: &Shopper) -> Result<serde_json::Value> {
        self.export_customer(&format!("#{}", who.customer))
    }

    /// Deletes the shopper's account and erases them, as `unico customers erase` does.
    pub fn app_delete(&self, who: &Shopper) -> Result<crate::erasure::Erasure> {
        self.erase_customer(&format!("#{}", who.customer), &crate::progress::Silent)
    }

    /// Sets the favourite store (it must be one of the chain's).
    pub fn app_set_store(&self, who: &Shopper, store_id: Option<&str>) -> Result<()> {
        if let Some(s) = store_id {
            self.known_store(s)?;
        }
        self.with_store(async |s| Ok(s.set_favourite_store(who.account.id, store_id).await?))
    }

    /// `not_found` unless `store` is one of the chain's (any store, before any is imported).
    pub(crate) fn known_store(&self, store: &str) -> Result<()> {
        let stores = self.stores_in_memory()?;
        if !stores.is_empty() && !stores.iter().any(|e| e.store_id == store) {
            bail!(Code::NotFound, "no store {store:?}");
        }
        Ok(())
    }

    /// The chain's stores, by name (the lake's stores dataset, held in memory with the
    /// tills' product master and reloaded with it).
    pub fn app_stores(&self) -> Result<Vec<StoreEntry>> {
        Ok(self.stores_in_memory()?.as_ref().clone())
    }

    /// Products whose name, brand or category holds every word of `q`, the shopper's
    /// offers on each; at most `limit`.
    pub fn app_products(&self, who: &Shopper, q: &str, limit: usize) -> Result<Vec<AppProduct>> {
        let words: Vec<String> = q.split_whitespace().map(|w| w.to_lowercase()).collect();
        let offers = self.app_offers(who)?;
        let catalogue = self.catalogue()?;
        let mut out = Vec::new();
        for p in catalogue.iter() {
            let hay = format!("{} {} {} {}", p.name, p.brand, p.category, p.sku).to_lowercase();
            if !words.iter().all(|w| hay.contains(w)) {
                continue;
            }
            let covering = offers
                .iter()
                .filter(|o| o.sku == p.sku || o.category.as_deref() == Some(p.category.as_str()))
                .map(|o| o.code.clone())
                .collect();
            out.push(AppProduct {
                sku: p.sku.clone(),
                name: p.name.clone(),
                brand: p.brand.clone(),
                category: p.category.clone(),
                price_cents: p.list_price_cents,
                offers: covering,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The flyer of a customer: today's promotions, those they are due to buy again first,
    /// then those of categories they buy, then the rest; and their offers.
    fn flyer_of(&self, customer: i64, offers: Vec<AppOffer>) -> Result<Flyer> {
        let day = self.today().to_string();
        let (promotions, habits) =
            self.with_store(async |s| Ok((s.promotions_on(&day).await?, s.habits_of(customer).await?)))?;
        let catalogue = self.catalogue()?;
        let category: HashMap<&str, &str> = catalogue.iter().map(|p| (p.sku.as_str(), p.category.as_str())).collect();
        let due: HashMap<&str, &str> = habits.iter().map(|(sku, _, d)| (sku.as_str(), d.as_str())).collect();
        let usual: HashSet<&str> = habits.iter().map(|(_, c, _)| c.as_str()).collect();
        let mut items: Vec<(u8, String, FlyerItem)> = promotions
            .into_iter()
            .map(|p| {
                let cat = category.get(p.sku.as_str()).copied().unwrap_or("").to_string();
                let (rank, mine, when) = match due.get(p.sku.as_str()) {
                    Some(d) => (0, "due", d.to_string()),
                    None if usual.contains(cat.as_str()) => (1, "usual", String::new()),
                    None => (2, "", String::new()),
                };
                (rank, when, FlyerItem { promotion: p, category: cat, mine: mine.into() })
            })
            .collect();
        items.sort_by(|a, b| (a.0, &a.1, &a.2.promotion.sku).cmp(&(b.0, &b.1, &b.2.promotion.sku)));
        Ok(Flyer { day, promotions: items.into_iter().map(|i| i.2).collect(), offers })
    }

    /// The shopper's flyer.
    pub fn app_flyer(&self, who: &Shopper) -> Result<Flyer> {
        let offers = self.app_offers(who)?;
        self.flyer_of(who.customer, offers)
    }

    /// A signed link to the shopper's flyer, working for two weeks without a login:
    /// `<tenant>.<customer>.<expiry, Unix seconds>.<keyed signature>`.
    pub fn flyer_token(&self, tenant: &str, customer: i64) -> Result<String> {
        let expires = jiff::Timestamp::now().as_second() + FLYER_LINK_DAYS * 86_400;
        let payload = format!("{tenant}.{customer}.{expires}");
        let mac = self.store()?.flyer_mac(&payload);
        Ok(format!("{payload}.{mac}"))
    }

    /// The flyer a signed link names (its tenant checked by the caller), or `not_found`
    /// for a link that is forged, expired or of an erased customer.
    pub fn flyer_by_token(&self, token: &str) -> Result<Flyer> {
        let gone = || Error::new(Code::NotFound, "this flyer link is not valid or has expired");
        let (payload, mac) = token.rsplit_once('.').ok_or_else(gone)?;
        let expected = self.store()?.flyer_mac(payload);
        if expected.len() != mac.len() || !expected.bytes().zip(mac.bytes()).all(|(a, b)| a == b) {
            return Err(gone());
        }
        let mut parts = payload.rsplitn(3, '.');
        let expires: i64 = parts.next().and_then(|t| t.parse().ok()).ok_or_else(gone)?;
        let customer: i64 = parts.next().and_then(|t| t.parse().ok()).ok_or_else(gone)?;
        if expires < jiff::Timestamp::now().as_second() {
            return Err(gone());
        }
        let shopper = self.with_store(async |s| Ok(s.resolve(&format!("#{customer}")).await.ok()))?.ok_or_else(gone)?;
        let erased = self.with_store(async |s| Ok(s.cards_of(shopper).await?.is_empty()))?;
        if erased {
            return Err(gone());
        }
        let who = Shopper {
            account: Account {
                id: 0,
                customer_id: Some(shopper),
                policy_version: String::new(),
                store_id: None,
                created_at: String::new(),
            },
            customer: shopper,
        };
        let offers = self.app_offers(&who)?;
        self.flyer_of(shopper, offers)
    }

    /// Sends the shopper's flyer link by e-mail or SMS through the outbox, if they consent
    /// to marketing on that channel.
    pub fn app_send_flyer(&self, who: &Shopper, tenant: &str, channel: &str) -> Result<()> {
        let purpose = match channel {
            "email" => Purpose::Email,
            "sms" => Purpose::Sms,
            _ => bail!(Code::InputInvalid, "channel must be email or sms"),
        };
        let consents = self.current_consents(who.customer)?;
        let allowed = consents.marketing
            && match purpose {
                Purpose::Email => consents.email,
                _ => consents.sms,
            };
        if !allowed {
            bail!(Code::Conflict, "you have not agreed to marketing by {channel}: change it under Privacy first");
        }
        let base = self.settings.app.public_url.trim_end_matches('/');
        let link = format!("{base}/app/flyer.html#{}", self.flyer_token(tenant, who.customer)?);
        self.with_store(async |s| {
            Ok(s.queue_message(
                channel,
                &format!("customer:#{}", who.customer),
                "Your flyer this week",
                &format!("This week's offers, yours first: {link}"),
            )
            .await?)
        })
    }

    /// Sends every customer who consents to marketing on `channel` (`email` or `sms`) the
    /// signed link to their own flyer, through the outbox (the seed's "flyer by SMS").
    /// Returns how many messages were queued.
    pub fn send_flyers(&self, tenant: &str, channel: &str, by: &crate::staff::Caller) -> Result<u64> {
        let purpose = match channel {
            "email" => Purpose::Email,
            "sms" => Purpose::Sms,
            _ => bail!(Code::InputInvalid, "channel must be email or sms"),
        };
        let base = self.settings.app.public_url.trim_end_matches('/').to_string();
        let customers = self.with_store(async |s| Ok(s.marketing_recipients(purpose).await?))?;
        let mut messages = Vec::with_capacity(customers.len());
        for c in customers {
            let link = format!("{base}/app/flyer.html#{}", self.flyer_token(tenant, c)?);
            messages.push((
                format!("customer:#{c}"),
                "Your flyer this week".to_string(),
                format!("This week's offers, yours first: {link}"),
            ));
        }
        let n = self.with_store(async |s| Ok(s.queue_messages(channel, &messages).await?))?;
        self.record(by, "flyers_sent", None, &serde_json::json!({"channel": channel, "messages": n}))?;
        Ok(n)
    }

    /// The shopper's tickets, newest first.
    pub fn app_tickets(&self, who: &Shopper) -> Result<Vec<Ticket>> {
        self.with_store(async |s| Ok(s.tickets(Some(who.customer), None).await?))
    }

    /// One of the shopper's tickets with its messages.
    pub fn app_ticket(&self, who: &Shopper, id: i64) -> Result<Ticket> {
        let t = self.with_store(async |s| Ok(s.ticket(id).await?)).map_err(not_found_ticket(id))?;
        if t.customer_id != who.customer {
            return Err(Error::new(Code::NotFound, format!("no ticket {id}")));
        }
        Ok(t)
    }

    /// Opens a ticket with a store (the favourite one when none is said).
    pub fn app_open_ticket(&self, who: &Shopper, store_id: Option<&str>, subject: &str, body: &str) -> Result<Ticket> {
        let store = store_id.map(str::to_string).or_else(|| who.account.store_id.clone());
        let Some(store) = store else {
            return Err(Error::new(Code::InputInvalid, "choose the store the ticket is for"));
        };
        if subject.trim().is_empty() || body.trim().is_empty() || subject.len() > 200 || body.len() > 4000 {
            bail!(Code::InputInvalid, "a ticket needs a subject (up to 200 characters) and a message (up to 4,000)");
        }
        self.known_store(&store)?;
        let id =
            self.with_store(async |s| Ok(s.open_ticket(who.customer, &store, subject.trim(), body.trim()).await?))?;
        self.app_ticket(who, id)
    }

    /// The shopper replies to (or closes) one of their tickets.
    pub fn app_reply(&self, who: &Shopper, id: i64, body: &str, close: bool) -> Result<Ticket> {
        self.app_ticket(who, id)?;
        if body.len() > 4000 || (body.trim().is_empty() && !close) {
            bail!(Code::InputInvalid, "a message is 1 to 4,000 characters");
        }
        self.with_store(async |s| Ok(s.ticket_message(id, "shopper", body.trim(), close).await?))
    }

    /// Tickets of a store (every store's when `store` is none), for the back office.
    pub fn store_tickets(&self, store: Option<&str>) -> Result<Vec<Ticket>> {
        self.with_store(async |s| Ok(s.tickets(None, store).await?))
    }

    /// A ticket for the back office (a store manager's own store is checked by the caller).
    pub fn store_ticket(&self, id: i64) -> Result<Ticket> {
        self.with_store(async |s| Ok(s.ticket(id).await?)).map_err(not_found_ticket(id))
    }

    /// The store answers a ticket (and may close it); the shopper is told through the outbox.
    pub fn store_reply(&self, id: i64, by: &crate::staff::Caller, body: &str, close: bool) -> Result<Ticket> {
        if body.len() > 4000 || (body.trim().is_empty() && !close) {
            bail!(Code::InputInvalid, "a message is 1 to 4,000 characters");
        }
        let t = self
            .with_store(async |s| Ok(s.ticket_message(id, &by.user.email, body.trim(), close).await?))
            .map_err(not_found_ticket(id))?;
        self.record(
            by,
            if close { "ticket_closed" } else { "ticket_answered" },
            Some(t.customer_id),
            &serde_json::json!({"ticket_id": id}),
        )?;
        Ok(t)
    }

    /// A survey answer from the app: stored as the answers the KPIs count (channel `app`),
    /// once per ticket and question.
    pub fn app_survey(&self, who: &Shopper, s: &SurveyIn) -> Result<()> {
        let range = match s.question.as_str() {
            "csat" => 1..=5,
            "nps" => 0..=10,
            _ => bail!(Code::InputInvalid, "question must be csat (1-5) or nps (0-10)"),
        };
        if !range.contains(&s.score) {
            bail!(Code::InputInvalid, "a {} score is {} to {}", s.question, range.start(), range.end());
        }
        if s.comment.as_ref().is_some_and(|c| c.len() > 2000) {
            bail!(Code::InputInvalid, "a comment is up to 2,000 characters");
        }
        let store = match (s.ticket_id, &s.visit_id) {
            (Some(_), Some(_)) => bail!(Code::InputInvalid, "a survey answer is about a ticket or a visit, not both"),
            (Some(t), None) => Some(self.app_ticket(who, t)?.store_id),
            (None, Some(v)) => {
                let store = self.with_store(async |st| Ok(st.visit_of(who.customer, v).await?))?;
                Some(store.ok_or_else(|| Error::new(Code::NotFound, "no such visit of yours"))?)
            }
            (None, None) => s.store_id.clone().or_else(|| who.account.store_id.clone()),
        };
        let now = jiff::Timestamp::now();
        // One answer per ticket or visit: its id says which; otherwise a fresh one.
        let id = match (s.ticket_id, &s.visit_id) {
            (Some(t), _) => format!("app-ticket-{t}-{}", s.question),
            (None, Some(v)) => format!("app-visit-{v}-{}", s.question),
            (None, None) => format!("app-{}", hex::encode(rand::random::<[u8; 12]>())),
        };
        let key = self.with_store(async |st| Ok(st.key_of(who.customer).await?))?;
        let answer = unico_store::kpis::SurveyAnswer {
            id,
            answered_at: unico_store::stamp(now),
            answered_on: self.chain_tz().to_datetime(now).date().to_string(),
            question: s.question.clone(),
            score: s.score,
            customer_key: key,
            store_id: store,
            channel: Some("app".into()),
            comment: s.comment.clone().filter(|c| !c.trim().is_empty()),
        };
        let added = self.with_store(async |st| Ok(st.add_survey_answers(&[answer]).await?))?;
        if added == 0 {
            bail!(Code::Conflict, "you have answered this survey already");
        }
        Ok(())
    }

    /// Every published version of the privacy policy, newest first: (version, published at,
    /// app accounts that accepted it last).
    pub fn privacy_policies(&self) -> Result<Vec<(String, String, i64)>> {
        self.with_store(async |s| Ok(s.privacy_policies().await?))
    }

    /// The current privacy policy: (version, text, published at).
    pub fn privacy_policy(&self) -> Result<Option<(String, String, String)>> {
        self.with_store(async |s| Ok(s.privacy_policy().await?))
    }

    /// Publishes a new version of the privacy policy (shoppers are asked to accept it).
    pub fn publish_privacy_policy(&self, version: &str, text: &str, by: &crate::staff::Caller) -> Result<()> {
        let version = version.trim();
        if version.is_empty() || version.len() > 40 || text.trim().is_empty() {
            bail!(Code::InputInvalid, "a privacy policy needs a version (up to 40 characters) and its text");
        }
        self.with_store(async |s| Ok(s.publish_privacy_policy(version, text).await?))?;
        self.record(by, "privacy_published", None, &serde_json::json!({"version": version}))
    }

    /// Adds the chain's promotions (the flyer).
    pub fn add_promotions(&self, promotions: &[Promotion], by: &crate::staff::Caller) -> Result<u64> {
        for p in promotions {
            let days = (p.valid_from.parse::<jiff::civil::Date>(), p.valid_to.parse::<jiff::civil::Date>());
            let (Ok(from), Ok(to)) = days else {
                bail!(Code::InputInvalid, "promotion {}: valid_from and valid_to are dates (YYYY-MM-DD)", p.sku);
            };
            if to < from || p.sku.trim().is_empty() || p.title.trim().is_empty() || p.price_cents < 0 {
                bail!(
                    Code::InputInvalid,
                    "promotion {:?}: a product, a title, a price of 0 or more and valid_to on or after valid_from",
                    p.sku
                );
            }
        }
        let n = self.with_store(async |s| Ok(s.add_promotions(promotions).await?))?;
        self.record(by, "promotions_added", None, &serde_json::json!({"count": n}))?;
        Ok(n)
    }

    /// For a demo: a sample privacy policy (when none is published) and this week's flyer
    /// of twelve products at 20 % off. Returns the promotions added.
    pub fn seed_demo_app(&self) -> Result<u64> {
        let cli = crate::staff::Caller::cli();
        if self.privacy_policy()?.is_none() {
            self.publish_privacy_policy("demo-1", DEMO_POLICY, &cli)?;
        }
        let catalogue = self.catalogue()?;
        let today = self.today();
        let to = today.checked_add(jiff::Span::new().days(6)).unwrap_or(today);
        let promotions: Vec<Promotion> = catalogue
            .iter()
            .filter_map(|p| p.list_price_cents.filter(|c| *c >= 100).map(|c| (p, c)))
            .take(12)
            .map(|(p, c)| Promotion {
                sku: p.sku.clone(),
                title: format!("{} at 20% off", p.name),
                price_cents: c - c / 5,
                was_cents: Some(c),
                valid_from: today.to_string(),
                valid_to: to.to_string(),
            })
            .collect();
        self.add_promotions(&promotions, &cli)
    }

    /// The promotions valid on a day.
    pub fn promotions_on(&self, day: &str) -> Result<Vec<Promotion>> {
        self.with_store(async |s| Ok(s.promotions_on(day).await?))
    }
}

/// The demo's privacy policy: a sample, to be replaced by the retailer's own.
const DEMO_POLICY: &str = "This is a sample privacy policy of the demo chain.\n\n\
Who we are: the demo chain runs this loyalty programme.\n\
What we keep: your e-mail, your card, what you buy with it, and the choices below.\n\
Why: to run the programme; with your consent, to choose personal offers from what you buy \
(profiling) and to send you news by e-mail, SMS or in the app.\n\
Your rights: you can change each choice at any time in the app, download your data, \
and delete your account, which erases your data.\n";

fn not_found_ticket(id: i64) -> impl FnOnce(Error) -> Error {
    move |e| if e.code() == Code::CustomerNotFound { Error::new(Code::NotFound, format!("no ticket {id}")) } else { e }
}

/// What an offer is, in words.
fn title(o: &unico_store::campaigns::StoredOffer, names: &HashMap<String, String>) -> String {
    let euros = |c: i64| format!("€{}.{:02}", c / 100, c % 100);
    let what = match o.target.as_str() {
        "category" => format!("one item of {}", o.category.as_deref().unwrap_or("a category")),
        "basket" => "your shopping".to_string(),
        _ => names.get(&o.sku).cloned().unwrap_or_else(|| o.sku.clone()),
    };
    match o.mechanic.as_str() {
        "multi_buy" => format!("{} for {}: {what}", o.buy_units, o.pay_units),
        "spend_reward" => format!("{} off {what} when you spend {}", euros(o.discount_cents), euros(o.min_spend_cents)),
        _ if o.percent_off > 0 => format!("{}% off {what}", o.percent_off),
        _ => format!("{} off {what}", euros(o.discount_cents)),
    }
}

/// Reads promotions from a CSV file (sku, title, price_cents, was_cents, valid_from,
/// valid_to); a bad row is an error naming its line.
pub fn read_promotions(file: &std::path::Path) -> Result<Vec<Promotion>> {
    let mut reader = csv::Reader::from_path(file)
        .map_err(|e| Error::with_source(Code::FileUnusable, format!("cannot read {}", file.display()), e))?;
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<Promotion>().enumerate() {
        out.push(row.map_err(|e| Error::new(Code::InputInvalid, format!("{}: line {}: {e}", file.display(), i + 2)))?);
    }
    Ok(out)
}

/// The chain's stores from the lake, by name.
pub(crate) fn read_stores(lake: &unico_lake::Lake) -> Result<Vec<StoreEntry>> {
    let mut out = Vec::new();
    for file in lake.parquet_files(unico_lake::Dataset::Stores)? {
        unico_lake::read::for_each_batch(&file, &["store_id", "name"], |b| {
            use arrow_array::Array;
            use arrow_array::cast::AsArray;
            let ids = b.column(0).as_string::<i32>();
            let names = b.column(1).as_string::<i32>();
            for r in 0..b.num_rows() {
                let id = ids.value(r).to_string();
                let name = if names.is_valid(r) { names.value(r).to_string() } else { id.clone() };
                out.push(StoreEntry { store_id: id, name });
            }
            Ok(())
        })?;
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.store_id == b.store_id);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ean13_check_digits_match_published_barcodes() {
        // 4006381333931 (Stabilo pen, the Wikipedia example) and 9780306406157 (an ISBN).
        assert_eq!(ean13_check("400638133393"), 1);
        assert_eq!(ean13_check("978030640615"), 7);
    }
}
