//! Click-and-collect end to end in a real browser: `e2e/shop.mjs` drives Debian's headless
//! Chromium on a phone-sized screen, where a shopper finds the product of their personal
//! offer, sees the discount in the basket, picks a pickup time and places the order; then,
//! on a laptop-sized screen, the store's manager opens the slot's orders and pick list in
//! the back office, marks the order ready and collected; the shopper sees it collected.
//! Afterwards the batch step writes it to the lake once. `.ci/run` sets UNICO_E2E=1, which
//! makes this test required.

use std::ffi::OsStr;
use unico_app::App;
use unico_app::shopper::{ConsentSet, Registration};
use unico_app::staff::{Caller, Role};

#[path = "common/e2e.rs"]
mod e2e;
use e2e::repo;

#[path = "../../unico-server/tests/common/chain.rs"]
mod chain;
use chain::{percent_offers, policy_from};

const SHOPPER: &str = "shopper@example.com";
const SHOPPER_PASSWORD: &str = "a long enough password";
const STAFF: &str = "store@example.com";
const STAFF_PASSWORD: &str = "the store's long password";

#[test]
fn click_and_collect_in_headless_chromium() {
    let Some(chromium) = e2e::chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let app = App::init(&data).unwrap();
    let config = unico_sim::ChainConfig { customers: 200, days: 90, seed: 11, ..Default::default() };
    app.load_simulated_chain(&config, &tmp.path().join("chain"), &unico_app::Silent, &mut |_| {}).unwrap();
    app.build_model(None, None, &unico_app::Silent).unwrap();
    app.seed_demo_app().unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, policy_from(app.today())).unwrap();
    let out = tmp.path().join("campaign");
    let req = unico_app::plan::PlanRequest { policy, as_of: None, out: out.clone(), dry_run: false };
    let planned = app.plan_campaign(&req, &unico_app::Silent).unwrap();
    app.publish_campaign(&planned.campaign_id, &Caller::cli()).unwrap();
    let (card, sku, code) = percent_offers(&out, true).into_iter().next().expect("a personal offer");

    // The shopper links the card with the code sent to the contact on file, and books the offer.
    let version = app.privacy_policy().unwrap().unwrap().0;
    let consents = ConsentSet { marketing: true, profiling: true, email: true, sms: false, app: true };
    let reg = Registration {
        email: SHOPPER.into(),
        password: SHOPPER_PASSWORD.into(),
        card: Some(card.clone()),
        policy_version: version,
        consents,
    };
    app.app_register(&reg).unwrap();
    let message = app.outbox(false).unwrap().into_iter().rev().find(|m| m.body.contains("Your code is")).unwrap();
    let at = message.body.find("Your code is ").unwrap() + 13;
    app.app_confirm(&card, &message.body[at..at + 6]).unwrap();
    let session = app.app_login(SHOPPER, SHOPPER_PASSWORD, 1).unwrap();
    let who = app.app_session(&session.token).unwrap().unwrap();
    app.app_activate(&who, &code).unwrap();
    app.app_logout(&session.token).unwrap();

    // The store: tomorrow's pickup slots, and its manager.
    let tomorrow = app.today().checked_add(jiff::Span::new().days(1)).unwrap().to_string();
    assert_eq!(app.add_slots("S001", &tomorrow, "10:00", "12:00", 60, 3).unwrap().len(), 2);
    app.add_user(STAFF, Role::StoreManager, Some("S001"), Some(STAFF_PASSWORD), &Caller::cli()).unwrap();
    drop(app);

    let (mut server, base) = e2e::serve(&data, &tmp.path().join("server.log"), &[]);
    let shots = repo().join("target/e2e/shop");
    let _ = std::fs::remove_dir_all(&shots);
    let (passed, said) = e2e::run(
        "shop.mjs",
        &[
            ("UNICO_BASE", OsStr::new(&base)),
            ("UNICO_SHOPPER", OsStr::new(SHOPPER)),
            ("UNICO_SHOPPER_PASSWORD", OsStr::new(SHOPPER_PASSWORD)),
            ("UNICO_STAFF", OsStr::new(STAFF)),
            ("UNICO_STAFF_PASSWORD", OsStr::new(STAFF_PASSWORD)),
            ("UNICO_SKU", OsStr::new(&sku)),
            ("UNICO_OFFER", OsStr::new(&code)),
            ("UNICO_E2E_OUT", shots.as_os_str()),
            ("CHROMIUM", OsStr::new(&chromium)),
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert!(passed, "e2e/shop.mjs failed:\n{said}");

    // The order was collected with the offer redeemed, and reaches the lake once.
    let app = App::open(&data).unwrap();
    let orders = app.store_orders(Some("S001"), None, &["collected"]).unwrap();
    assert_eq!(orders.len(), 1, "one order collected");
    assert!(orders[0].discounts.iter().any(|d| d.offer_code == code), "the personal offer was redeemed");
    assert_eq!(app.orders_to_lake(&unico_app::Silent).unwrap().orders, 1);
    assert_eq!(app.orders_to_lake(&unico_app::Silent).unwrap().orders, 0);
    let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap();
    for secret in [card.as_str(), SHOPPER, SHOPPER_PASSWORD, STAFF_PASSWORD] {
        assert!(!log.contains(secret), "the server's log holds {secret:?}");
    }
    for page in ["01-shop", "03-basket", "04-order", "07-office-order", "09-order-collected"] {
        assert!(shots.join(format!("{page}.png")).exists(), "no screenshot of {page}");
    }
}
