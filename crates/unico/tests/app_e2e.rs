//! The shoppers' app end to end in a real browser: `e2e/app.mjs` drives Debian's headless
//! Chromium (playwright-core with `executablePath`, never a downloaded browser) on a
//! phone-sized screen against `unico serve`, on a retailer prepared here (a simulated chain,
//! a published campaign whose offers need booking, a till). `.ci/run` installs Chromium and
//! the e2e packages and sets UNICO_E2E=1, which makes this test required; elsewhere it
//! runs when both are there and says so when it cannot.

use std::ffi::OsStr;
use unico_app::App;
use unico_app::staff::{Caller, Role};

#[path = "common/e2e.rs"]
mod e2e;
use e2e::repo;

#[path = "../../unico-server/tests/common/chain.rs"]
mod chain;
use chain::{list_price, percent_offer, policy_from};

#[test]
fn the_shoppers_app_in_headless_chromium() {
    let Some(chromium) = e2e::chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let app = App::init(&data).unwrap();
    let config = unico_sim::ChainConfig { customers: 200, days: 90, seed: 11, ..Default::default() };
    let chain = tmp.path().join("chain");
    app.load_simulated_chain(&config, &chain, &unico_app::Silent, &mut |_| {}).unwrap();
    app.build_model(None, None, &unico_app::Silent).unwrap();
    app.seed_demo_app().unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, policy_from(app.today())).unwrap();
    let out = tmp.path().join("campaign");
    let req = unico_app::plan::PlanRequest { policy, as_of: None, out: out.clone(), dry_run: false };
    let planned = app.plan_campaign(&req, &unico_app::Silent).unwrap();
    app.publish_campaign(&planned.campaign_id, &Caller::cli()).unwrap();
    let (card, sku, code) = percent_offer(&out, true);
    let price = list_price(&chain, &sku);
    let (_, till) = app.terminal_add("S001", "T1").unwrap();
    app.add_user("admin@example.com", Role::Admin, None, Some("e2e admin password"), &Caller::cli()).unwrap();
    drop(app);

    let (mut server, base) = e2e::serve(&data, &tmp.path().join("server.log"), &[("UNICO_APP_BARCODE", "ean13")]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let login = agent
        .post(&format!("{base}/api/v1/auth/login"))
        .header("Content-Type", "application/json")
        .send(r#"{"email":"admin@example.com","password":"e2e admin password"}"#)
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let admin = serde_json::from_str::<serde_json::Value>(&login).unwrap()["token"].as_str().unwrap().to_string();

    let shots = repo().join("target/e2e");
    // This test's screenshots only (the back office's are in target/e2e/office).
    for f in std::fs::read_dir(&shots).into_iter().flatten().flatten() {
        if f.path().extension().is_some_and(|x| x == "png") {
            let _ = std::fs::remove_file(f.path());
        }
    }
    let price = price.to_string();
    let (passed, said) = e2e::run(
        "app.mjs",
        &[
            ("UNICO_BASE", OsStr::new(&base)),
            ("UNICO_CARD", OsStr::new(&card)),
            ("UNICO_SKU", OsStr::new(&sku)),
            ("UNICO_PRICE", OsStr::new(&price)),
            ("UNICO_OFFER", OsStr::new(&code)),
            ("UNICO_TILL", OsStr::new(&till)),
            ("UNICO_ADMIN", OsStr::new(&admin)),
            ("UNICO_E2E_OUT", shots.as_os_str()),
            ("CHROMIUM", OsStr::new(&chromium)),
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert!(passed, "e2e/app.mjs failed:\n{said}");
    // The server's log of all that: a line per request, and no card, e-mail, password,
    // code or token in any of them.
    let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap();
    assert!(log.lines().filter(|l| l.contains("/api/v1/app/")).count() > 20, "the requests are logged");
    for secret in [
        card.as_str(),
        "e2e-shopper@example.com",
        "a long enough password",
        "Your code is",
        till.as_str(),
        admin.split_once('.').unwrap().1,
    ] {
        assert!(!log.contains(secret), "the server's log holds {secret:?}");
    }
    for page in ["01-login", "04-card", "05-offers", "06-offline-card", "07-offline-offers", "13-privacy"] {
        assert!(shots.join(format!("{page}.png")).exists(), "no screenshot of {page}");
    }
}
