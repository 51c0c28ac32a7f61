//! The shoppers' app API over HTTP, on SQLite and PostgreSQL: registering with a new digital
//! card and with an existing card (linked only with the code sent to the contact on file),
//! logins, offers with reasons, an activation the till then applies, consents that take
//! personal offers away, the flyer and its signed link, products, tickets answered by the
//! store, surveys, export and deletion — and shopper A never reaching shopper B's data, nor
//! a shopper's token any other route.

mod common;
use common::chain::{list_price, percent_offer};
use common::*;
use std::sync::Arc;
use unico_app::staff::Caller;

thread_local! {
    static PRICE: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// A basket of one unit of `sku` at its list price.
fn basket(card: &str, sku: &str, receipt: Option<&str>) -> String {
    let price = PRICE.with(|p| p.get());
    let mut b = serde_json::json!({
        "card": card, "store_id": "S001", "till_id": "T1",
        "lines": [{"line_no": 1, "sku": sku, "quantity": "1", "unit_price_cents": price}],
    });
    if let Some(r) = receipt {
        b["receipt_no"] = r.into();
    }
    b.to_string()
}

fn applied(answer: &serde_json::Value, code: &str) -> bool {
    answer["discounts"].as_array().unwrap().iter().any(|d| d["offer_code"] == code)
}

fn not_applied(answer: &serde_json::Value, code: &str) -> Option<String> {
    answer["offers_not_applied"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["offer_code"] == code)
        .map(|n| n["reason"].as_str().unwrap().to_string())
}

fn codes(offers: &Answer) -> Vec<String> {
    offers.body["offers"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap().to_string()).collect()
}

fn whole_journey(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (app, campaign) = app_retailer(dir.path(), database_url);
    let (card, sku, code) = percent_offer(&campaign, true);
    PRICE.with(|p| p.set(list_price(&dir.path().join("chain"), &sku)));
    let (_, till) = app.terminal_add("S001", "T1").unwrap();
    app.pos_refresh().unwrap();
    // The tills' wallets follow the store only when told here (app.pos_refresh), so what
    // they see at once after a booking is the app's own update of their memory.
    let slow = unico_server::Config { pos_poll: std::time::Duration::from_secs(3600), ..config() };
    let s = Running::start(vec![("default".into(), app.clone())], slow);
    let admin = s.login("admin@example.com", None);

    // The policy shown at registration; an outdated version is refused.
    let p = s.call("GET", "/api/v1/app/privacy", None, None);
    assert_eq!((p.status, p.body["version"].as_str()), (200, Some("2026-11")));
    let mut old = serde_json::json!({"email": "x@example.com", "password": "a long enough password", "card": null,
        "policy_version": "2020-01", "consents": {}});
    assert_eq!(s.call("POST", "/api/v1/app/register", None, Some(&old.to_string())).status, 400);
    old["policy_version"] = "2026-11".into();
    old["password"] = "short".into();
    assert_eq!(s.call("POST", "/api/v1/app/register", None, Some(&old.to_string())).status, 400);

    // Shopper A: an existing card, linked only with the code sent to the contact on file.
    let all = serde_json::json!({"marketing": true, "profiling": true, "email": true, "sms": false, "app": true});
    let a = register(&s, "anna@example.com", Some(&card), all.clone());
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!((a.body["card"].as_str(), a.body["confirm_required"].as_bool()), (Some(card.as_str()), Some(true)));
    let body = serde_json::json!({"email": "anna@example.com", "password": "a long enough password"}).to_string();
    assert_eq!(s.call("POST", "/api/v1/app/login", None, Some(&body)).status, 403, "not linked before the code");
    let code_sent = code_from_outbox(&s, &admin);
    let outbox = s.call("GET", "/api/v1/outbox", Some(&admin), None).body.to_string();
    assert!(!outbox.contains("anna@example.com"), "the outbox names the customer, not their address");
    let wrong = if code_sent == "000000" { "111111" } else { "000000" };
    let bad = serde_json::json!({"card": card, "code": wrong}).to_string();
    assert_eq!(s.call("POST", "/api/v1/app/register/confirm", None, Some(&bad)).status, 400);
    let good = serde_json::json!({"card": card, "code": code_sent}).to_string();
    let linked = s.call("POST", "/api/v1/app/register/confirm", None, Some(&good));
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert_eq!(register(&s, "anna@example.com", None, all.clone()).status, 409, "one account per e-mail");
    let ta = app_login(&s, "anna@example.com");

    // Shopper B: a new digital card (EAN-13 with the in-store prefix), nothing ticked.
    let b = register(&s, "bruno@example.com", None, serde_json::json!({}));
    assert_eq!(b.status, 201, "{}", b.body);
    let b_card = b.body["card"].as_str().unwrap().to_string();
    assert_eq!(b_card.len(), 13);
    assert!(b_card.starts_with("29"));
    assert_eq!(unico_app::shopper::ean13_check(&b_card[..12]), b_card[12..].parse::<u32>().unwrap(), "a valid EAN-13");
    let tb = app_login(&s, "bruno@example.com");
    let me_b = s.call("GET", "/api/v1/app/me", Some(&tb), None);
    assert_eq!(me_b.body["card"].as_str(), Some(b_card.as_str()));
    assert_eq!(me_b.body["consents"]["profiling"], false, "consents are unticked by default");

    // A's offers with reasons; the till refuses the offer until A books it, then applies it.
    let offers = s.call("GET", "/api/v1/app/offers", Some(&ta), None);
    assert_eq!(offers.status, 200, "{}", offers.body);
    let mine: Vec<&serde_json::Value> =
        offers.body["offers"].as_array().unwrap().iter().filter(|o| o["code"] == code.as_str()).collect();
    assert_eq!(mine.len(), 1, "{}", offers.body);
    let o = mine[0];
    assert!(o["title"].as_str().unwrap().contains('%'), "{o}");
    assert!(!o["reason"].as_str().unwrap().is_empty());
    assert!(o["value"].as_i64().unwrap() > 0);
    assert_eq!((o["activation_required"].as_bool(), o["activated"].as_bool()), (Some(true), Some(false)));
    let before = s.call("POST", "/api/v1/pos/evaluate", Some(&till), Some(&basket(&card, &sku, None)));
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(not_applied(&before.body, &code).as_deref(), Some("not_activated"));
    let path = format!("/api/v1/app/offers/{code}/activate");
    assert_eq!(s.call("POST", &path, Some(&tb), None).status, 404, "B cannot book A's offer");
    for _ in 0..2 {
        let act = s.call("POST", &path, Some(&ta), None);
        assert_eq!((act.status, act.body["activated"].as_bool()), (200, Some(true)), "{}", act.body);
    }
    let now_booked = s.call("POST", "/api/v1/pos/evaluate", Some(&till), Some(&basket(&card, &sku, None)));
    assert!(applied(&now_booked.body, &code), "the till applies a booking at once: {}", now_booked.body);
    let confirmed = s.call("POST", "/api/v1/pos/confirm", Some(&till), Some(&basket(&card, &sku, Some("R-1"))));
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(applied(&confirmed.body, &code), "{}", confirmed.body);
    // The visit is A's to rate in the app, once; not B's.
    let visit = s.call("GET", "/api/v1/app/me", Some(&ta), None).body["visit_to_rate"].clone();
    assert_eq!(visit["visit_id"], confirmed.body["redemption_id"], "{visit}");
    assert_eq!(visit["store_id"], "S001");
    let rate = serde_json::json!({"question": "csat", "score": 5, "visit_id": visit["visit_id"]}).to_string();
    assert_eq!(s.call("POST", "/api/v1/app/surveys", Some(&tb), Some(&rate)).status, 404, "not B's visit");
    assert_eq!(s.call("POST", "/api/v1/app/surveys", Some(&ta), Some(&rate)).status, 201);
    assert_eq!(s.call("POST", "/api/v1/app/surveys", Some(&ta), Some(&rate)).status, 409, "one answer per visit");
    assert!(s.call("GET", "/api/v1/app/me", Some(&ta), None).body["visit_to_rate"].is_null());
    let after = s.call("GET", "/api/v1/app/offers", Some(&ta), None);
    let used = after.body["offers"].as_array().unwrap().iter().find(|o| o["code"] == code.as_str()).unwrap().clone();
    assert_eq!(used["used"], true);

    // B sees none of A's offers, tickets or data; tokens open their own routes only.
    let b_offers = s.call("GET", "/api/v1/app/offers", Some(&tb), None);
    assert!(!codes(&b_offers).iter().any(|c| codes(&after).contains(c)));
    assert_eq!(s.call("GET", "/api/v1/me", Some(&ta), None).status, 401, "a shopper token is no user's");
    assert_eq!(s.call("GET", "/api/v1/outbox", Some(&ta), None).status, 401);
    assert_eq!(s.call("GET", "/api/v1/app/offers", Some(&admin), None).status, 401, "a user's token is no shopper's");
    assert_eq!(s.call("GET", "/api/v1/app/offers", Some(&till), None).status, 401);
    assert_eq!(s.call("GET", "/api/v1/app/offers", None, None).status, 401);

    // Tickets: A writes to store S001; its manager answers and closes; B and another
    // store's manager see nothing of it.
    assert_eq!(s.call("PUT", "/api/v1/app/store", Some(&ta), Some(r#"{"store_id":"S001"}"#)).status, 204);
    assert_eq!(s.call("PUT", "/api/v1/app/store", Some(&ta), Some(r#"{"store_id":"NOPE"}"#)).status, 404);
    let t = s.call(
        "POST",
        "/api/v1/app/tickets",
        Some(&ta),
        Some(r#"{"subject":"Receipt missing a discount","body":"My coffee offer was not applied on Monday."}"#),
    );
    assert_eq!(t.status, 201, "{}", t.body);
    let tid = t.body["id"].as_i64().unwrap();
    assert_eq!(t.body["store_id"], "S001");
    assert_eq!(s.call("GET", &format!("/api/v1/app/tickets/{tid}"), Some(&tb), None).status, 404);
    let reply = format!("/api/v1/app/tickets/{tid}/messages");
    assert_eq!(s.call("POST", &reply, Some(&tb), Some(r#"{"body":"hi"}"#)).status, 404);
    assert!(s.call("GET", "/api/v1/app/tickets", Some(&tb), None).body.as_array().unwrap().is_empty());
    let manager = s.login("store@example.com", None);
    let inbox = s.call("GET", "/api/v1/tickets", Some(&manager), None);
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert_eq!(inbox.body[0]["subject"], "Receipt missing a discount");
    assert_eq!(s.call("GET", "/api/v1/tickets?store_id=S002", Some(&manager), None).status, 403);
    let marketing = s.login("marketing@example.com", None);
    assert_eq!(s.call("GET", "/api/v1/tickets", Some(&marketing), None).status, 403);
    let answered = s.call(
        "POST",
        &format!("/api/v1/tickets/{tid}/reply"),
        Some(&manager),
        Some(r#"{"body":"Sorry: we refunded the discount.","close":true}"#),
    );
    assert_eq!(answered.status, 200, "{}", answered.body);
    let seen = s.call("GET", &format!("/api/v1/app/tickets/{tid}"), Some(&ta), None);
    assert_eq!(seen.body["state"], "closed");
    assert_eq!(seen.body["messages"][1]["author"], "store");
    assert_eq!(seen.body["messages"][1]["body"], "Sorry: we refunded the discount.");
    let rate = format!(r#"{{"question":"csat","score":4,"ticket_id":{tid}}}"#);
    assert_eq!(s.call("POST", "/api/v1/app/surveys", Some(&ta), Some(&rate)).status, 201);
    assert_eq!(s.call("POST", "/api/v1/app/surveys", Some(&ta), Some(&rate)).status, 409, "one answer per ticket");
    assert_eq!(s.call("POST", "/api/v1/app/surveys", Some(&tb), Some(&rate)).status, 404, "not B's ticket");
    assert_eq!(s.call("POST", "/api/v1/app/surveys", Some(&ta), Some(r#"{"question":"nps","score":11}"#)).status, 400);
    let day = app.today().to_string();
    let store = app.store().unwrap();
    let answers = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(store.survey_answers(&day, &day))
        .unwrap();
    assert!(
        answers
            .iter()
            .any(|a| a.score == 4 && a.channel.as_deref() == Some("app") && a.store_id.as_deref() == Some("S001"))
    );
    assert!(
        answers.iter().any(|a| a.score == 5 && a.id.starts_with("app-visit-") && a.store_id.as_deref() == Some("S001"))
    );

    // The flyer: the week's promotions with A's first; a signed link opens it without login.
    let promo = serde_json::json!([
        {"sku": sku, "title": "Our best seller", "price_cents": 199, "was_cents": 299, "valid_from": day, "valid_to": day},
        {"sku": "NOT-BOUGHT", "title": "Something new", "price_cents": 99, "valid_from": day, "valid_to": day},
    ]);
    assert_eq!(s.call("POST", "/api/v1/promotions", Some(&manager), Some(&promo.to_string())).status, 403);
    let added = s.call("POST", "/api/v1/promotions", Some(&marketing), Some(&promo.to_string()));
    assert_eq!(added.status, 200, "{}", added.body);
    let flyer = s.call("GET", "/api/v1/app/flyer", Some(&ta), None);
    assert_eq!(flyer.status, 200, "{}", flyer.body);
    assert_eq!(flyer.body["promotions"].as_array().unwrap().len(), 2);
    let link = s.call("POST", "/api/v1/app/flyer/link", Some(&ta), None);
    let token = link.body["path"].as_str().unwrap().split_once('#').unwrap().1.to_string();
    let shared = s.call("GET", &format!("/api/v1/app/flyer/shared/{token}"), None, None);
    assert_eq!(shared.status, 200, "{}", shared.body);
    assert_eq!(shared.body["promotions"], flyer.body["promotions"]);
    assert!(!shared.body.to_string().contains(&card), "the shared flyer names no card");
    let forged = format!("{}0", &token[..token.len() - 1]);
    let forged = if forged == token { format!("{}1", &token[..token.len() - 1]) } else { forged };
    assert_eq!(s.call("GET", &format!("/api/v1/app/flyer/shared/{forged}"), None, None).status, 404);
    assert_eq!(s.call("POST", "/api/v1/app/flyer/send", Some(&ta), Some(r#"{"channel":"email"}"#)).status, 202);
    assert_eq!(
        s.call("POST", "/api/v1/app/flyer/send", Some(&tb), Some(r#"{"channel":"email"}"#)).status,
        409,
        "B has not agreed to marketing by e-mail"
    );

    // The retailer sends every customer who agreed to marketing by e-mail their flyer's link.
    assert_eq!(s.call("POST", "/api/v1/flyer/send", Some(&manager), Some(r#"{"channel":"email"}"#)).status, 403);
    let sent = s.call("POST", "/api/v1/flyer/send", Some(&marketing), Some(r#"{"channel":"email"}"#));
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body["queued"].as_u64().unwrap() >= 1);
    let (a_id, b_id) = (s.lookup(&admin, &card), s.lookup(&admin, &b_card));
    let outbox = s.call("GET", "/api/v1/outbox", Some(&admin), None);
    let flyers: Vec<&serde_json::Value> = outbox
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subject"] == "Your flyer this week" && m["kind"] == "email")
        .collect();
    assert_eq!(flyers.len() as u64, sent.body["queued"].as_u64().unwrap() + 1, "A's own request and the bulk send");
    assert!(flyers.iter().any(|m| m["recipient"] == format!("customer:#{a_id}").as_str()));
    assert!(flyers.iter().all(|m| m["recipient"] != format!("customer:#{b_id}").as_str()), "B agreed to nothing");
    let link_in_mail = flyers.last().unwrap()["body"].as_str().unwrap().split('#').nth(1).unwrap().to_string();
    assert_eq!(s.call("GET", &format!("/api/v1/app/flyer/shared/{link_in_mail}"), None, None).status, 200);

    // Products: search, with A's offers on each.
    let found = s.call("GET", &format!("/api/v1/app/products?q={sku}"), Some(&ta), None);
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body[0]["sku"].as_str(), Some(sku.as_str()));

    // Withdrawing profiling takes A's personal offers off the app and the tills.
    let personal_before = after.body["offers"].as_array().unwrap().iter().filter(|o| o["personal"] == true).count();
    assert!(personal_before > 0);
    let mut fewer = all.clone();
    fewer["profiling"] = false.into();
    let set =
        s.call("PUT", "/api/v1/app/consents", Some(&ta), Some(&serde_json::json!({"consents": fewer}).to_string()));
    assert_eq!((set.status, set.body["profiling"].as_bool()), (200, Some(false)), "{}", set.body);
    let now = s.call("GET", "/api/v1/app/offers", Some(&ta), None);
    assert!(now.body["offers"].as_array().unwrap().iter().all(|o| o["personal"] == false), "{}", now.body);
    app.pos_refresh().unwrap();
    let personal_codes: Vec<String> = after.body["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["personal"] == true && o["used"] == false)
        .map(|o| o["code"].as_str().unwrap().to_string())
        .collect();
    let till_now = s.call("POST", "/api/v1/pos/evaluate", Some(&till), Some(&basket(&card, &sku, None)));
    for c in &personal_codes {
        assert!(not_applied(&till_now.body, c).is_none() && !applied(&till_now.body, c), "{c} still at the till");
    }

    // A new privacy policy version: every shopper is asked to accept it again.
    assert_eq!(s.call("GET", "/api/v1/app/me", Some(&ta), None).body["must_accept_policy"], false);
    let v2 = r#"{"version":"2027-01","text":"Now also surveys."}"#;
    assert_eq!(s.call("POST", "/api/v1/privacy/policies", Some(&marketing), Some(v2)).status, 403);
    assert_eq!(s.call("POST", "/api/v1/privacy/policies", Some(&admin), Some(v2)).status, 201);
    assert_eq!(
        s.call("POST", "/api/v1/privacy/policies", Some(&admin), Some(v2)).status,
        409,
        "a version is published once"
    );
    let me = s.call("GET", "/api/v1/app/me", Some(&ta), None);
    assert_eq!(
        (me.body["must_accept_policy"].as_bool(), me.body["policy_version"].as_str()),
        (Some(true), Some("2027-01"))
    );
    assert_eq!(s.call("POST", "/api/v1/app/privacy/accept", Some(&ta), Some(r#"{"version":"2026-11"}"#)).status, 400);
    assert_eq!(s.call("POST", "/api/v1/app/privacy/accept", Some(&ta), Some(r#"{"version":"2027-01"}"#)).status, 204);
    assert_eq!(s.call("GET", "/api/v1/app/me", Some(&ta), None).body["must_accept_policy"], false);
    assert_eq!(s.call("GET", "/api/v1/app/me", Some(&tb), None).body["must_accept_policy"], true);

    // Export: A's data, not B's; deletion erases A and ends the session.
    let export = s.call("GET", "/api/v1/app/export", Some(&ta), None);
    assert_eq!(export.status, 200);
    let text = export.body.to_string();
    assert!(text.contains(&card) && text.contains("Receipt missing a discount") && !text.contains(&b_card));
    let history = export.body["consent_history"].as_array().unwrap();
    assert!(history.iter().any(|e| e["purpose"] == "profiling" && e["granted"] == false && e["source"] == "app"));
    assert!(history.iter().any(|e| e["purpose"] == "profiling" && e["granted"] == true && e["source"] == "app"));
    let gone = s.call("DELETE", "/api/v1/app/me", Some(&ta), None);
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(s.call("GET", "/api/v1/app/offers", Some(&ta), None).status, 401);
    assert_eq!(s.call("POST", "/api/v1/app/login", None, Some(&body)).status, 401);
    let looked = s.call(
        "POST",
        "/api/v1/customers/lookup",
        Some(&admin),
        Some(&serde_json::json!({"reference": card}).to_string()),
    );
    assert!(looked.body.to_string().contains("erased"), "{}", looked.body);
    assert_eq!(s.call("GET", &format!("/api/v1/tickets/{tid}"), Some(&admin), None).status, 404);
    assert_eq!(s.call("GET", &format!("/api/v1/app/flyer/shared/{token}"), None, None).status, 404);
    assert_eq!(s.call("GET", "/api/v1/app/me", Some(&tb), None).status, 200, "B is untouched");
}

#[test]
fn the_app_on_sqlite() {
    whole_journey(None);
}

#[test]
fn the_app_on_postgres() {
    let Some(url) = postgres() else {
        eprintln!("UNICO_TEST_DATABASE_URL is not set: the PostgreSQL run is skipped");
        return;
    };
    whole_journey(Some(url));
}

/// Sixteen registrations of one e-mail at once: one account, fifteen `conflict`s, on both
/// stores.
fn one_account_per_email_under_a_race(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let app = tenant(dir.path(), database_url, 9);
    app.publish_privacy_policy("2026-11", "The policy.", &Caller::cli()).unwrap();
    let s = Arc::new(Running::start(vec![("default".into(), app)], config()));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || register(&s, "same@example.com", None, serde_json::json!({})).status)
        })
        .collect();
    let mut statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses[0], 201);
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
}

#[test]
fn one_account_per_email_under_a_race_on_sqlite_and_postgres() {
    one_account_per_email_under_a_race(None);
    if let Some(url) = postgres() {
        one_account_per_email_under_a_race(Some(url));
    }
}

#[test]
fn logins_and_codes_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let (app, campaign) = app_retailer(dir.path(), None);
    let (card, _, _) = percent_offer(&campaign, true);
    let s = Running::start(vec![("default".into(), app)], unico_server::Config { logins_per_minute: 3, ..config() });
    let body = serde_json::json!({"email": "nobody@example.com", "password": "wrong wrong wrong"}).to_string();
    let statuses: Vec<u16> = (0..5).map(|_| s.call("POST", "/api/v1/app/login", None, Some(&body)).status).collect();
    assert_eq!(&statuses[..3], &[401, 401, 401]);
    let last = s.call("POST", "/api/v1/app/login", None, Some(&body));
    assert_eq!(last.status, 429);
    assert!(last.retry_after.is_some());
    let guess = serde_json::json!({"card": card, "code": "123456"}).to_string();
    let statuses: Vec<u16> =
        (0..5).map(|_| s.call("POST", "/api/v1/app/register/confirm", None, Some(&guess)).status).collect();
    assert_eq!(statuses[4], 429, "{statuses:?}");
}

#[test]
fn the_app_is_served_with_its_manifest_and_worker() {
    let dir = tempfile::tempdir().unwrap();
    let app = tenant(dir.path(), None, 5);
    let s = Running::start(vec![("default".into(), app)], config());
    let page = s.agent.get(&format!("{}/app/", s.base)).call().unwrap();
    let csp = page.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let manifest = s.call("GET", "/app/manifest.webmanifest", None, None);
    assert_eq!(manifest.status, 200);
    let m: serde_json::Value = match manifest.body {
        serde_json::Value::String(t) => serde_json::from_str(&t).unwrap(),
        v => v,
    };
    for key in ["name", "short_name", "start_url", "id", "scope"] {
        assert!(m[key].is_string(), "manifest {key}");
    }
    assert_eq!(m["display"], "standalone");
    let sizes: Vec<(&str, &str)> = m["icons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["sizes"].as_str().unwrap(), i["purpose"].as_str().unwrap()))
        .collect();
    assert!(
        sizes.contains(&("192x192", "any"))
            && sizes.contains(&("512x512", "any"))
            && sizes.contains(&("512x512", "maskable"))
    );
    for icon in m["icons"].as_array().unwrap() {
        let mut r = s.agent.get(&format!("{}{}", s.base, icon["src"].as_str().unwrap())).call().unwrap();
        let bytes = r.body_mut().read_to_vec().unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let (w, h) = (
            u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
        );
        assert_eq!(format!("{w}x{h}"), icon["sizes"].as_str().unwrap());
    }
    assert_eq!(s.call("GET", "/app/sw.js", None, None).status, 200);
    assert_eq!(s.call("GET", "/app/nothing.js", None, None).status, 404);
}
