//! The tills' API over HTTP as a till calls it, on SQLite and PostgreSQL: tokens bound to a
//! retailer and a store, evaluate pure, confirm once (retries replayed, another basket on
//! the same receipt refused), voids and refunds giving back exactly, redemptions reaching
//! learning and the webhooks, bad bodies answered 4xx with a code, and 64 tills racing
//! for one single-use offer.

mod common;
use common::chain::{list_price, percent_offer};
use common::*;
use std::sync::Arc;
use unico_app::App;
use unico_app::staff::Caller;

/// A retailer with a published campaign: (app, campaign id, campaign dir).
fn retailer(dir: &std::path::Path, database_url: Option<String>, seed: u64) -> (Arc<App>, String, std::path::PathBuf) {
    let app = tenant(dir, database_url, seed);
    let policy = dir.join("policy.toml");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/policy.toml"), &policy).unwrap();
    let out = dir.join("campaign");
    let req = unico_app::plan::PlanRequest { policy, as_of: None, out: out.clone(), dry_run: false };
    let planned = app.plan_campaign(&req, &unico_app::Silent).unwrap();
    app.publish_campaign(&planned.campaign_id, &Caller::cli()).unwrap();
    app.pos_refresh().unwrap();
    (app, planned.campaign_id, out)
}

thread_local! {
    static PRICE: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// A basket of one line of `sku` at its list price (set per test in PRICE).
fn basket(card: Option<&str>, store: &str, sku: &str, qty: &str, receipt: Option<&str>) -> String {
    let price = PRICE.with(|p| p.get());
    let mut b = serde_json::json!({
        "card": card, "store_id": store, "till_id": "T3", "at": "2026-01-07T10:15:00+01:00",
        "lines": [{"line_no": 1, "sku": sku, "quantity": qty, "unit_price_cents": price}],
    });
    if let Some(r) = receipt {
        b["receipt_no"] = r.into();
    }
    b.to_string()
}

fn discount_on(answer: &serde_json::Value, code: &str) -> i64 {
    answer["discounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["offer_code"] == code)
        .map(|d| d["amount_cents"].as_i64().unwrap())
        .sum()
}

fn reason_of(answer: &serde_json::Value, code: &str) -> Option<String> {
    answer["offers_not_applied"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["offer_code"] == code)
        .map(|o| o["reason"].as_str().unwrap().to_string())
}

fn tills_on(database_url: Option<String>, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (north, campaign, dir) = retailer(&tmp.path().join("north"), database_url, 8);
    let (south, _, south_dir) = retailer(&tmp.path().join("south"), None, 9);
    north.add_webhook("http://127.0.0.1:9/hook", &["redemption".to_string()], &Caller::cli()).unwrap();
    let (_, s1) = north.terminal_add("S001", "T3").unwrap();
    let (t2, s2) = north.terminal_add("S002", "T1").unwrap();
    let (_, south_s1) = south.terminal_add("S001", "T3").unwrap();
    let server = Running::start(vec![("north".into(), north.clone()), ("south".into(), south.clone())], config());
    let (card, sku, code) = percent_offer(&dir, false);
    let price = list_price(&tmp.path().join("north/chain"), &sku);
    PRICE.with(|p| p.set(price));
    let post = |path: &str, token: &str, body: &str| server.call("POST", path, Some(token), Some(body));

    // Tokens: unknown, a user's session, a till's token elsewhere, another store.
    let body = basket(Some(&card), "S001", &sku, "2", None);
    assert_eq!(post("/api/v1/pos/evaluate", "till_nope", &body).status, 401, "{label}");
    let user = server.login("admin@example.com", Some("north"));
    assert_eq!(post("/api/v1/pos/evaluate", &user, &body).status, 401, "{label}: a user is not a till");
    assert_eq!(server.call("GET", "/api/v1/me", Some(&s1), None).status, 401, "{label}: a till is not a user");
    let other_store = post("/api/v1/pos/evaluate", &s2, &body);
    assert_eq!(
        (other_store.status, other_store.body["error"]["code"].as_str()),
        (403, Some("auth.forbidden")),
        "{label}"
    );
    // Another retailer's till prices with that retailer's offers only.
    let at_south = post("/api/v1/pos/evaluate", &south_s1, &body);
    assert_eq!(at_south.status, 200, "{label}: {}", at_south.body);
    assert_eq!(discount_on(&at_south.body, &code), 0, "{label}: north's offer is not south's");
    assert!(reason_of(&at_south.body, &code).is_none());
    let (south_card, ..) = percent_offer(&south_dir, false);
    let _ = south_card;

    // Evaluate: the discount, the same twice, nothing changed.
    let e1 = post("/api/v1/pos/evaluate", &s1, &body);
    assert_eq!(e1.status, 200, "{label}: {}", e1.body);
    assert_eq!(e1.body["card_known"], true);
    let amount = discount_on(&e1.body, &code);
    assert!(amount > 0, "{label}: {}", e1.body);
    assert_eq!(e1.body["subtotal_cents"], 2 * price);
    assert_eq!(e1.body["total_cents"].as_i64().unwrap(), 2 * price - e1.body["discount_cents"].as_i64().unwrap());
    assert_eq!(post("/api/v1/pos/evaluate", &s1, &body).body, e1.body, "{label}: evaluate is pure");
    for unknown in [Some("0000000000"), None] {
        let a = post("/api/v1/pos/evaluate", &s1, &basket(unknown, "S001", &sku, "2", None));
        assert_eq!(
            (a.status, &a.body["card_known"], a.body["discounts"].as_array().unwrap().len()),
            (200, &false.into(), 0)
        );
    }

    // Confirm: once; the retry replayed; another basket on the same receipt refused.
    let r1 = basket(Some(&card), "S001", &sku, "2", Some("0001-000123"));
    let c1 = post("/api/v1/pos/confirm", &s1, &r1);
    assert_eq!(c1.status, 200, "{label}: {}", c1.body);
    assert_eq!((c1.body["replayed"].as_bool(), discount_on(&c1.body, &code)), (Some(false), amount), "{label}");
    let again = post("/api/v1/pos/confirm", &s1, &r1);
    assert_eq!(again.body["replayed"], true, "{label}");
    assert_eq!(again.body["redemption_id"], c1.body["redemption_id"]);
    let other = post("/api/v1/pos/confirm", &s1, &basket(Some(&card), "S001", &sku, "3", Some("0001-000123")));
    assert_eq!((other.status, other.body["error"]["code"].as_str()), (409, Some("receipt.conflict")), "{label}");
    // Used: evaluate and another receipt say so.
    assert_eq!(reason_of(&post("/api/v1/pos/evaluate", &s1, &body).body, &code).as_deref(), Some("already_used"));
    let c2 = post("/api/v1/pos/confirm", &s1, &basket(Some(&card), "S001", &sku, "2", Some("0001-000124")));
    assert_eq!(
        (discount_on(&c2.body, &code), reason_of(&c2.body, &code).as_deref()),
        (0, Some("already_used")),
        "{label}"
    );

    // Void: usable again; idempotent; an unknown receipt is 404.
    let void = serde_json::json!({"store_id": "S001", "till_id": "T3", "receipt_no": "0001-000123"}).to_string();
    assert_eq!(post("/api/v1/pos/void", &s1, &void).status, 200, "{label}");
    assert_eq!(post("/api/v1/pos/void", &s1, &void).status, 200, "{label}: a void is idempotent");
    assert_eq!(discount_on(&post("/api/v1/pos/evaluate", &s1, &body).body, &code), amount, "{label}: usable again");
    let unknown = serde_json::json!({"store_id": "S001", "till_id": "T3", "receipt_no": "nope"}).to_string();
    let nf = post("/api/v1/pos/void", &s1, &unknown);
    assert_eq!((nf.status, nf.body["error"]["code"].as_str()), (404, Some("receipt.not_found")), "{label}");

    // Refunds: a unit at a time; the retry replayed; all back equals a void.
    let c3 = post("/api/v1/pos/confirm", &s1, &basket(Some(&card), "S001", &sku, "2", Some("0001-000125")));
    assert_eq!(discount_on(&c3.body, &code), amount, "{label}: {}", c3.body);
    // Every discount on the receipt (the card's other offers may apply to the line too).
    let given = c3.body["discount_cents"].as_i64().unwrap();
    let refund = |no: &str| {
        serde_json::json!({"store_id": "S001", "till_id": "T3", "receipt_no": "0001-000125", "refund_no": no,
            "lines": [{"line_no": 1, "quantity": "1"}]})
        .to_string()
    };
    let f1 = post("/api/v1/pos/refund", &s1, &refund("RF1"));
    assert_eq!((f1.status, f1.body["state"].as_str()), (200, Some("partially_refunded")), "{label}: {}", f1.body);
    let back1 = f1.body["discount_taken_back_cents"].as_i64().unwrap();
    assert!(back1 <= given && back1 * 2 >= given, "{label}: a unit takes back its share of {given}: {}", f1.body);
    assert_eq!(f1.body["refund_cents"].as_i64().unwrap(), price - back1);
    assert_eq!(post("/api/v1/pos/refund", &s1, &refund("RF1")).body["replayed"], true, "{label}");
    let f2 = post("/api/v1/pos/refund", &s1, &refund("RF2"));
    assert_eq!(f2.body["state"], "refunded", "{label}: {}", f2.body);
    assert_eq!(back1 + f2.body["discount_taken_back_cents"].as_i64().unwrap(), given, "{label}: all back = all given");
    let f3 = post("/api/v1/pos/refund", &s1, &refund("RF3"));
    assert_eq!(f3.status, 409, "{label}: nothing left to refund: {}", f3.body);
    assert_eq!(discount_on(&post("/api/v1/pos/evaluate", &s1, &body).body, &code), amount, "{label}");

    // A last redemption stays: learning, the webhook and the campaign's counts see it.
    let c4 = post("/api/v1/pos/confirm", &s1, &basket(Some(&card), "S001", &sku, "1", Some("0001-000126")));
    assert_eq!(discount_on(&c4.body, &code), amount, "{label}");
    let learned = north.learn(&unico_app::plan::LearnRequest { campaign: dir.clone(), redemptions: None }).unwrap();
    // Live: the second receipt (the card's other offers) and the last; the voided and the
    // refunded ones gave theirs back.
    let live: std::collections::BTreeSet<&str> = [&c2.body, &c4.body]
        .iter()
        .flat_map(|b| b["discounts"].as_array().unwrap().iter().map(|d| d["offer_code"].as_str().unwrap()))
        .collect();
    assert_eq!(learned.redeemed as usize, live.len(), "{label}: learn counts the tills' live redemptions");
    let month = unico_app::kpi::KpiRequest {
        from: Some("2026-01-01".into()),
        to: Some("2026-01-31".into()),
        by: unico_app::kpi::Grain::Month,
        by_store: false,
        by_channel: false,
        by_segment: false,
        store: None,
    };
    let report = serde_json::to_value(north.kpis(&month, &unico_app::Silent).unwrap()).unwrap();
    let counted: f64 =
        report["rows"].as_array().unwrap().iter().map(|r| r["offers_redeemed"].as_f64().unwrap_or(0.0)).sum();
    assert_eq!(counted as usize, live.len(), "{label}: unico kpi counts the tills' redemptions");
    let events: Vec<_> = north.deliveries(None, 100).unwrap().into_iter().filter(|m| m.event == "redemption").collect();
    assert!(events.len() >= 5, "{label}: every confirm, void and refund is announced: {}", events.len());
    assert!(events.iter().any(|m| m.body.contains("\"state\":\"voided\"")));
    let _ = campaign;

    // Bad bodies: a 4xx with a code, never a 500.
    let many: Vec<_> = (1..=10_000)
        .map(|i| serde_json::json!({"line_no": i, "sku": sku, "quantity": "1", "unit_price_cents": 100}))
        .collect();
    let huge = serde_json::json!({"card": card, "store_id": "S001", "till_id": "T3", "lines": many}).to_string();
    let line = |l: serde_json::Value| {
        serde_json::json!({"card": card, "store_id": "S001", "till_id": "T3", "lines": [l]}).to_string()
    };
    for (what, bad, status, code) in [
        ("malformed JSON", "{\"card\": ".to_string(), 400, "input.invalid"),
        ("no lines", serde_json::json!({"store_id": "S001", "till_id": "T3"}).to_string(), 400, "input.invalid"),
        (
            "negative quantity",
            line(serde_json::json!({"line_no": 1, "sku": sku, "quantity": "-1", "unit_price_cents": 1})),
            400,
            "input.invalid",
        ),
        (
            "quantity as a number",
            line(serde_json::json!({"line_no": 1, "sku": sku, "quantity": 1, "unit_price_cents": 1})),
            400,
            "input.invalid",
        ),
        (
            "negative price",
            line(serde_json::json!({"line_no": 1, "sku": sku, "quantity": "1", "unit_price_cents": -5})),
            400,
            "input.invalid",
        ),
        (
            "unknown sku",
            line(serde_json::json!({"line_no": 1, "sku": "NOPE-404", "quantity": "1", "unit_price_cents": 5})),
            422,
            "sku.unknown",
        ),
        ("10,000 lines", huge, 400, "input.invalid"),
        (
            "an unknown field",
            serde_json::json!({"store_id": "S001", "till_id": "T3", "lines": [], "coupon": 1}).to_string(),
            400,
            "input.invalid",
        ),
    ] {
        let a = post("/api/v1/pos/evaluate", &s1, &bad);
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (status, Some(code)), "{label}: {what}: {}", a.body);
    }
    let no_receipt = post("/api/v1/pos/confirm", &s1, &body);
    assert_eq!((no_receipt.status, no_receipt.body["error"]["field"].as_str()), (400, Some("receipt_no")), "{label}");

    // A revoked token stops working at the next refresh.
    north.terminal_revoke(t2.id).unwrap();
    north.pos_refresh().unwrap();
    let revoked = post("/api/v1/pos/evaluate", &s2, &basket(None, "S002", &sku, "1", None));
    assert_eq!(revoked.status, 401, "{label}: {}", revoked.body);
}

#[test]
fn tills_redeem_exactly_once_on_sqlite_and_postgres() {
    tills_on(None, "sqlite");
    if let Some(url) = postgres() {
        tills_on(Some(url), "postgres");
    }
}

fn race_on(database_url: Option<String>, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (app, _, dir) = retailer(tmp.path(), database_url, 8);
    let (_, token) = app.terminal_add("S001", "T0").unwrap();
    let server = Arc::new(Running::start(vec![("default".into(), app.clone())], config()));
    let (card, sku, code) = percent_offer(&dir, false);
    let price = list_price(&tmp.path().join("chain"), &sku);
    let threads: Vec<_> = (0..64)
        .map(|n| {
            let (server, token, card, sku, code) =
                (server.clone(), token.clone(), card.clone(), sku.clone(), code.clone());
            std::thread::spawn(move || {
                PRICE.with(|p| p.set(price));
                let body = basket(Some(&card), "S001", &sku, "1", Some(&format!("R-{n}")));
                let a = server.call("POST", "/api/v1/pos/confirm", Some(&token), Some(&body));
                assert_eq!(a.status, 200, "{}", a.body);
                discount_on(&a.body, &code) > 0
            })
        })
        .collect();
    let winners = threads.into_iter().map(|t| t.join().unwrap()).filter(|w| *w).count();
    assert_eq!(winners, 1, "{label}: 64 tills racing for one single-use offer: exactly one gets it");
}

#[test]
fn sixty_four_tills_racing_for_one_offer_give_it_once() {
    race_on(None, "sqlite");
    if let Some(url) = postgres() {
        race_on(Some(url), "postgres");
    }
}
