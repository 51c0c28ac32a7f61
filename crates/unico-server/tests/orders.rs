//! Click-and-collect over HTTP, on SQLite and PostgreSQL: the catalogue with the shopper's
//! usual products first, a basket priced with their personal offer by the tills' code, slots
//! set by the store, 20 shoppers racing for a slot's 3 places, placing repeated under one
//! `Idempotency-Key`, picking (a line missing, the total evaluated again), ready, collected
//! (the redemption confirmed once), and the batch step writing the order to the lake once,
//! where the KPI of channel `app` moves by exactly its total. Store managers reach their own
//! store's orders only; shoppers their own.

mod common;
use common::chain::percent_offers;
use common::*;
use std::sync::Arc;
use unico_app::kpi::{Grain, KpiRequest};
use unico_app::staff::{Caller, Role};

/// The `app` channel's net revenue on `day` (cents), as the KPI report gives it.
fn app_revenue(app: &unico_app::App, day: &str) -> i64 {
    let req = KpiRequest {
        from: Some(day.into()),
        to: Some(day.into()),
        by: Grain::Day,
        by_store: false,
        by_channel: true,
        by_segment: false,
        store: None,
    };
    let report = app.kpis(&req, &unico_app::Silent).unwrap();
    let i = unico_app::kpi::ALL_KPIS.iter().position(|k| k.name() == "revenue_cents").unwrap();
    report
        .rows
        .iter()
        .filter(|r| r.channel.as_deref() == Some("app"))
        .filter_map(|r| r.values[i])
        .map(|v| v.round() as i64)
        .sum()
}

fn lines(items: &[(&str, u32)]) -> serde_json::Value {
    items.iter().map(|(sku, q)| serde_json::json!({"sku": sku, "quantity": q})).collect()
}

fn place(s: &Running, token: &str, key: Option<&str>, body: &str) -> Answer {
    let mut req =
        s.agent.post(format!("{}/api/v1/app/orders", s.base)).header("Authorization", format!("Bearer {token}"));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let mut r = req.header("Content-Type", "application/json").send(body).unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        retry_after: None,
        location: None,
    }
}

fn click_and_collect(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url =
        database_url.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("data/unico.db").display()));
    let (app, campaign) = app_retailer(dir.path(), database_url);
    app.add_user("south@example.com", Role::StoreManager, Some("S002"), Some(PASSWORD), &Caller::cli()).unwrap();
    // A cardholder with a personal offer and habits ("my usual products").
    let (card, sku, code) = percent_offers(&campaign, true)
        .into_iter()
        .find(|(card, _, _)| !app.customer(card, None).unwrap().due_items.is_empty())
        .expect("a customer with a personal offer and habits");
    let s = Arc::new(Running::start(vec![("default".into(), app.clone())], config()));
    let admin = s.login("admin@example.com", None);
    let north = s.login("store@example.com", None);
    let south = s.login("south@example.com", None);

    // The store sets tomorrow's slots: 10–11 and 11–12, three orders each; another store's
    // manager cannot.
    let tomorrow = app.today().checked_add(jiff::Span::new().days(1)).unwrap().to_string();
    let slots = serde_json::json!({"store_id": "S001", "day": tomorrow, "from": "10:00", "to": "12:00", "minutes": 60, "capacity": 3});
    assert_eq!(s.call("POST", "/api/v1/slots", Some(&south), Some(&slots.to_string())).status, 403);
    let added = s.call("POST", "/api/v1/slots", Some(&north), Some(&slots.to_string()));
    assert_eq!(added.status, 201, "{}", added.body);
    let ids: Vec<i64> = added.body.as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(added.body[0]["starts_at"].as_str().unwrap().contains("T10:00:00"), "local times: {}", added.body);
    let again = s.call("POST", "/api/v1/slots", Some(&north), Some(&slots.to_string()));
    assert_eq!(again.body.as_array().map(Vec::len), Some(0), "slots already there are kept: {}", again.body);
    let (race_slot, a_slot) = (ids[0], ids[1]);

    // Shopper A links the card holding a personal offer, and books it.
    let all = serde_json::json!({"marketing": true, "profiling": true, "email": true, "sms": false, "app": true});
    assert_eq!(register(&s, "anna@example.com", Some(&card), all.clone()).status, 201);
    let code_sent = code_from_outbox(&s, &admin);
    let good = serde_json::json!({"card": card, "code": code_sent}).to_string();
    assert_eq!(s.call("POST", "/api/v1/app/register/confirm", None, Some(&good)).status, 200);
    let ta = app_login(&s, "anna@example.com");
    let act = s.call("POST", &format!("/api/v1/app/offers/{code}/activate"), Some(&ta), None);
    assert_eq!(act.status, 200, "{}", act.body);

    // The catalogue: usual products first, the offer marked on its product.
    let cat = s.call("GET", "/api/v1/app/catalogue?limit=200", Some(&ta), None);
    assert_eq!(cat.status, 200, "{}", cat.body);
    let items = cat.body["items"].as_array().unwrap();
    let usual: Vec<bool> = items.iter().map(|i| i["usual"].as_bool().unwrap()).collect();
    assert!(usual[0], "A has habits: their usual products come first");
    assert!(usual.windows(2).all(|w| w[0] >= w[1]), "usual products before the rest");
    assert!(!cat.body["departments"].as_array().unwrap().is_empty());
    let found = s.call("GET", &format!("/api/v1/app/catalogue?q={sku}"), Some(&ta), None);
    let item = found.body["items"].as_array().unwrap().iter().find(|i| i["sku"] == sku.as_str()).unwrap().clone();
    assert!(item["offers"].as_array().unwrap().iter().any(|c| c == code.as_str()), "{item}");
    let price = item["price_cents"].as_i64().unwrap();
    let other = items.iter().map(|i| i["sku"].as_str().unwrap()).find(|x| *x != sku).unwrap().to_string();
    let dept = item["department"].as_str().unwrap();
    let in_dept = s.call("GET", &format!("/api/v1/app/catalogue?department={dept}&limit=200"), Some(&ta), None);
    assert!(in_dept.body["items"].as_array().unwrap().iter().all(|i| i["department"] == dept));

    // The basket shows the personal discount, priced by the tills' evaluate.
    let basket = serde_json::json!({"store_id": "S001", "lines": lines(&[(&sku, 1), (&other, 2)])});
    let priced = s.call("POST", "/api/v1/app/basket", Some(&ta), Some(&basket.to_string()));
    assert_eq!(priced.status, 200, "{}", priced.body);
    let discount: i64 = priced.body["discounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["offer_code"] == code.as_str())
        .map(|d| d["amount_cents"].as_i64().unwrap())
        .sum();
    assert!(discount > 0 && discount < price, "{}", priced.body);
    assert_eq!(
        priced.body["total_cents"].as_i64().unwrap(),
        priced.body["subtotal_cents"].as_i64().unwrap() - priced.body["discount_cents"].as_i64().unwrap()
    );

    // Placing: a double tap places one order; the key with another body is refused; no key
    // is refused.
    let order = serde_json::json!({"store_id": "S001", "slot_id": a_slot, "lines": lines(&[(&sku, 1), (&other, 2)])})
        .to_string();
    let first = place(&s, &ta, Some("tap-1"), &order);
    assert_eq!(first.status, 201, "{}", first.body);
    let second = place(&s, &ta, Some("tap-1"), &order);
    assert_eq!((second.status, second.body["replayed"].as_bool()), (200, Some(true)), "{}", second.body);
    assert_eq!(first.body["id"], second.body["id"]);
    let id = first.body["id"].as_i64().unwrap();
    let changed = order.replace("\"quantity\":2", "\"quantity\":3");
    assert_eq!(place(&s, &ta, Some("tap-1"), &changed).status, 409);
    assert_eq!(place(&s, &ta, None, &order).status, 400);
    assert_eq!(first.body["total_cents"], priced.body["total_cents"], "the order keeps the basket's prices");
    let mine = s.call("GET", "/api/v1/app/orders", Some(&ta), None);
    assert_eq!(mine.body.as_array().unwrap().len(), 1, "{}", mine.body);
    let export = s.call("GET", "/api/v1/app/export", Some(&ta), None);
    assert!(export.body["orders"].as_array().unwrap().iter().any(|o| o["id"] == id), "the export holds the order");

    // Twenty shoppers race for the three places of the first slot.
    let mut tokens = Vec::new();
    for i in 0..20 {
        let email = format!("racer{i}@example.com");
        assert_eq!(register(&s, &email, None, serde_json::json!({})).status, 201);
        tokens.push(app_login(&s, &email));
    }
    let race =
        serde_json::json!({"store_id": "S001", "slot_id": race_slot, "lines": lines(&[(&other, 1)])}).to_string();
    let threads: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (s, t, race) = (s.clone(), t.clone(), race.clone());
            std::thread::spawn(move || {
                let a = place(&s, &t, Some(&format!("race-{i}")), &race);
                (a.status, a.body["error"]["code"].as_str().map(str::to_string), a.body["id"].as_i64())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let placed: Vec<i64> = results.iter().filter(|r| r.0 == 201).filter_map(|r| r.2).collect();
    assert_eq!(placed.len(), 3, "{results:?}");
    assert!(
        results.iter().filter(|r| r.0 != 201).all(|r| r.0 == 409 && r.1.as_deref() == Some("slot.full")),
        "{results:?}"
    );
    let open = s.call("GET", "/api/v1/app/stores/S001/slots", Some(&ta), None);
    let left =
        |a: &Answer, id: i64| a.body.as_array().unwrap().iter().find(|x| x["id"] == id).unwrap()["left"].as_i64();
    assert_eq!(left(&open, race_slot), Some(0));
    // A racer who got a place cancels: the place is free again.
    let winner = results.iter().position(|r| r.0 == 201).unwrap();
    let c = s.call(
        "POST",
        &format!("/api/v1/app/orders/{}/cancel", results[winner].2.unwrap()),
        Some(&tokens[winner]),
        None,
    );
    assert_eq!((c.status, c.body["state"].as_str()), (200, Some("cancelled")), "{}", c.body);
    assert_eq!(left(&s.call("GET", "/api/v1/app/stores/S001/slots", Some(&ta), None), race_slot), Some(1));
    // Erasing a shopper who holds an open order deletes it and gives its place back.
    let other_winner = (0..results.len()).find(|i| results[*i].0 == 201 && *i != winner).unwrap();
    let gone = s.call("DELETE", "/api/v1/app/me", Some(&tokens[other_winner]), None);
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(left(&s.call("GET", "/api/v1/app/stores/S001/slots", Some(&ta), None), race_slot), Some(2));

    // A shopper sees their own orders only; a store manager their own store's.
    assert_eq!(s.call("GET", &format!("/api/v1/app/orders/{id}"), Some(&tokens[0]), None).status, 404);
    assert_eq!(s.call("POST", &format!("/api/v1/app/orders/{id}/cancel"), Some(&tokens[0]), None).status, 404);
    assert_eq!(s.call("GET", &format!("/api/v1/orders/{id}"), Some(&south), None).status, 404);
    assert_eq!(s.call("GET", "/api/v1/orders?store_id=S001", Some(&south), None).status, 403);
    let to_prepare = s.call("GET", &format!("/api/v1/orders?slot_id={a_slot}"), Some(&north), None);
    assert_eq!(to_prepare.body.as_array().unwrap().len(), 1, "{}", to_prepare.body);
    assert_eq!(s.call("GET", "/api/v1/orders", Some(&ta), None).status, 401, "a shopper is no staff");

    // Picking: the second line is missing; the total is evaluated again and A sees it.
    let missing =
        s.call("POST", &format!("/api/v1/orders/{id}/lines/2"), Some(&north), Some(r#"{"status":"missing"}"#));
    assert_eq!(missing.status, 200, "{}", missing.body);
    let seen = s.call("GET", &format!("/api/v1/app/orders/{id}"), Some(&ta), None);
    assert_eq!(seen.body["lines"][1]["status"], "missing");
    assert_eq!(seen.body["total_cents"].as_i64(), Some(price - discount), "{}", seen.body);
    assert_eq!(seen.body["can_cancel"], false);
    let late = s.call("POST", &format!("/api/v1/app/orders/{id}/cancel"), Some(&ta), None);
    assert_eq!((late.status, late.body["error"]["code"].as_str()), (409, Some("order.state")));
    let early = s.call("POST", &format!("/api/v1/orders/{id}/collected"), Some(&north), None);
    assert_eq!(early.status, 409, "only a ready order is collected");
    assert_eq!(s.call("POST", &format!("/api/v1/orders/{id}/ready"), Some(&north), None).status, 200);
    let outbox = s.call("GET", "/api/v1/outbox", Some(&admin), None).body.to_string();
    for subject in ["Your order is confirmed", "Your order has changed", "Your order is ready"] {
        assert!(outbox.contains(subject), "{subject} in the outbox");
    }

    // Collected: the redemption is confirmed as a till's, once however often it is asked.
    let before = app_revenue(&app, &app.today().to_string());
    let done = s.call("POST", &format!("/api/v1/orders/{id}/collected"), Some(&north), None);
    assert_eq!((done.status, done.body["state"].as_str()), (200, Some("collected")), "{}", done.body);
    let again = s.call("POST", &format!("/api/v1/orders/{id}/collected"), Some(&north), None);
    assert_eq!(again.body["redemption_id"], done.body["redemption_id"]);
    let key = unico_store::pos::ReceiptKey {
        store_id: "S001".into(),
        till_id: unico_app::orders::TILL.into(),
        receipt_no: format!("order-{id}"),
    };
    let (state, given) = app.pos_receipt(&key).unwrap();
    assert_eq!(state, "confirmed");
    assert_eq!(given.iter().map(|g| (g.0.as_str(), g.2)).collect::<Vec<_>>(), vec![(code.as_str(), discount)]);
    let offers = s.call("GET", "/api/v1/app/offers", Some(&ta), None);
    let o = offers.body["offers"].as_array().unwrap().iter().find(|o| o["code"] == code.as_str()).unwrap().clone();
    assert_eq!(o["used"], true);

    // The batch step writes it to the lake once: the app channel's revenue moves by its total.
    let wrote = app.orders_to_lake(&unico_app::Silent).unwrap();
    assert_eq!((wrote.orders, wrote.lines, wrote.lines_imported), (1, 1, 1));
    assert_eq!(app.orders_to_lake(&unico_app::Silent).unwrap().orders, 0, "never twice");
    let after = app_revenue(&app, &app.today().to_string());
    assert_eq!(after - before, price - discount);
    // A batch cut short after the lake's write and before the orders were marked: the next
    // run writes the order again and the lake finds its lines there already.
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query("UPDATE orders SET in_lake_at = NULL").execute(&pool).await.unwrap();
        pool.close().await;
    });
    let rerun = app.orders_to_lake(&unico_app::Silent).unwrap();
    assert_eq!((rerun.orders, rerun.lines, rerun.lines_imported), (1, 1, 0));
    assert_eq!(app_revenue(&app, &app.today().to_string()), after, "the order's receipt is in the lake once");
    assert_eq!(s.call("GET", &format!("/api/v1/app/orders/{id}"), Some(&ta), None).body["in_lake"], true);

    // The cut-off: with two days of it, tomorrow's slots take no more orders.
    let db = url.clone();
    let env: unico_app::Env = Arc::new(move |k: &str| match k {
        "UNICO_APP_ORDER_CUTOFF_MINUTES" => Some("2880".into()),
        "UNICO_DATABASE_URL" => Some(db.clone()),
        _ => None,
    });
    let strict = unico_app::App::open_with(&dir.path().join("data"), env).unwrap();
    assert!(strict.app_slots("S001").unwrap().is_empty(), "no slot open within the cut-off");
    let late = unico_app::orders::OrderIn {
        store_id: "S001".into(),
        slot_id: a_slot,
        lines: vec![unico_app::orders::ShopLine { sku: other.clone(), quantity: 1 }],
    };
    let customer = app.customer(&card, None).unwrap().view.id;
    let refused = strict.place_for(customer, &late, "late-1").unwrap_err();
    assert_eq!(refused.code(), unico_app::Code::NotFound, "{refused}");
    assert!(app.app_slots("S001").unwrap().iter().any(|s| s.id == a_slot), "open with the hour's cut-off");
}

#[test]
fn click_and_collect_on_sqlite() {
    click_and_collect(None);
}

#[test]
fn click_and_collect_on_postgres() {
    if let Some(url) = postgres() {
        click_and_collect(Some(url));
    }
}
