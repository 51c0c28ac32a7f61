//! Triggered offers on the demo chain: a birthday offer issued once, on the birthday in the
//! chain's time zone, to a customer who agreed to marketing and not to one who withdrew; a
//! day run twice issues nothing twice; a trigger's holdout is drawn and `unico measure`
//! measures the trigger's day like any campaign.

mod common;
use common::{ok, unico};
use unico_app::pos::{Basket, BasketLine};

/// Customers with a card, the marketing consent and a birth date: (card, birth date).
fn birthdays(app: &unico_app::App) -> Vec<(String, jiff::civil::Date)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in app.cards().unwrap() {
        if !seen.insert(c.customer_id) {
            continue;
        }
        let view = app.customer(&c.card, None).unwrap().view;
        let marketing = view.consents.iter().any(|e| e.purpose == "marketing" && e.granted);
        let birth = view.registrations.first().and_then(|r| r.pii.as_ref()).and_then(|p| p.birth_date.clone());
        if let (true, Some(b)) = (marketing, birth.and_then(|b| b.parse().ok())) {
            out.push((c.card.clone(), b));
        }
    }
    out
}

#[test]
fn a_birthday_offer_is_issued_once_on_the_day_to_consenting_customers_with_a_holdout() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(unico(&data, &["demo", "--no-serve", "--customers", "400", "--days", "200"]));
    std::fs::write(
        data.join("triggers.toml"),
        "[[trigger]]\nname = \"Birthday gift\"\nkind = \"birthday\"\nmonthly_budget_cents = 1000000\n\
         amount_off_cents = 500\nmin_spend_cents = 2000\nvalid_days = 7\nholdout_share = 0.0\n\n\
         [[trigger]]\nname = \"Welcome\"\nkind = \"welcome\"\nmonthly_budget_cents = 10000000\n\
         amount_off_cents = 300\nwithin_days = 366\nholdout_share = 0.5\n",
    )
    .unwrap();
    assert!(ok(unico(&data, &["triggers", "check"])).contains("Birthday gift"));

    let app = unico_app::App::open(&data).unwrap();
    let last = app.last_day().unwrap();
    let people = birthdays(&app);
    // Two customers with birthdays in the lake's last months, on different days.
    let in_window = |b: jiff::civil::Date| -> Option<jiff::civil::Date> {
        let this_year = jiff::civil::date(last.year(), b.month(), b.day().min(28));
        let d =
            if this_year > last { jiff::civil::date(last.year() - 1, b.month(), b.day().min(28)) } else { this_year };
        (d.until(last).unwrap().get_days() >= 20 && b.day() <= 28).then_some(d)
    };
    let mut found: Vec<(String, jiff::civil::Date)> =
        people.iter().filter_map(|(card, b)| in_window(*b).map(|d| (card.clone(), d))).collect();
    found.sort_by_key(|x| x.1);
    found.dedup_by_key(|x| x.1);
    assert!(found.len() >= 2, "birthdays to try: {found:?}");
    let (a_card, a_day) = found[0].clone();
    let (c_card, c_day) = found[1].clone();
    drop(app);

    // The day before: nothing for A. The day: A's offer, once.
    let run = |day: jiff::civil::Date| -> serde_json::Value {
        serde_json::from_str(&ok(unico(&data, &["triggers", "run", "--as-of", &day.to_string(), "--format", "json"])))
            .unwrap()
    };
    let offers_of = |card: &str| -> Vec<serde_json::Value> {
        let app = unico_app::App::open(&data).unwrap();
        let history = app.offer_history(card, 100).unwrap();
        history.iter().filter(|o| o.kind == "birthday").map(|o| serde_json::to_value(o).unwrap()).collect()
    };
    let prior = run(a_day.yesterday().unwrap());
    assert!(offers_of(&a_card).is_empty(), "no offer before the birthday");
    let first = run(a_day);
    let birthday = &first["triggers"][0];
    assert!(birthday["issued"].as_u64().unwrap() >= 1, "{first}");
    let given = offers_of(&a_card);
    assert_eq!(given.len(), 1, "{given:?}");
    assert_eq!(given[0]["valid_from"], a_day.to_string());
    let again = run(a_day);
    assert_eq!(again["triggers"][0]["already_run"], true);
    assert_eq!(offers_of(&a_card).len(), 1, "a day run twice issues nothing twice");

    // The offer is valid from midnight of the birthday in the chain's zone (Europe/Rome),
    // not from midnight UTC: a till half an hour before it does not apply it, half an hour
    // after it does.
    let app = unico_app::App::open(&data).unwrap();
    let midnight =
        app.chain_tz().to_ambiguous_timestamp(a_day.to_datetime(jiff::civil::Time::midnight())).compatible().unwrap();
    let product = std::fs::read_to_string(data.join("demo-source/products.csv")).unwrap();
    let sku = product.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let at = |t: jiff::Timestamp| Basket {
        card: Some(a_card.clone()),
        store_id: "S001".into(),
        till_id: "T1".into(),
        at: Some(t.to_string()),
        lines: vec![BasketLine { line_no: 1, sku: sku.clone(), quantity: "1".into(), unit_price_cents: 2500 }],
    };
    let code = given[0]["code"].as_str().unwrap().to_string();
    let before = app.pos_evaluate(&at(midnight - jiff::SignedDuration::from_mins(30))).unwrap();
    assert!(!before.discounts.iter().any(|d| d.offer_code == code), "not before midnight in Rome: {before:?}");
    let after = app.pos_evaluate(&at(midnight + jiff::SignedDuration::from_mins(30))).unwrap();
    assert!(after.discounts.iter().any(|d| d.offer_code == code && d.amount_cents == 500), "{after:?}");
    drop(app);

    // C withdrew the marketing consent: on C's birthday, nothing for C.
    ok(unico(&data, &["customers", "consent", &c_card, "--purpose", "marketing", "--withdraw"]));
    run(c_day);
    assert!(offers_of(&c_card).is_empty(), "no offer without the marketing consent");

    // The welcome trigger held out about half of its customers, and its day is measured
    // against them like a campaign.
    let welcome = &prior["triggers"][1];
    let (issued, held) = (welcome["issued"].as_u64().unwrap(), welcome["held_out"].as_u64().unwrap());
    assert!(issued > 0 && held > 0, "{welcome}");
    let campaign = welcome["campaign"].as_str().unwrap();
    let measured: serde_json::Value = serde_json::from_str(&ok(unico(
        &data,
        &["measure", "--campaign", campaign, "--as-of", &last.to_string(), "--format", "json"],
    )))
    .unwrap();
    let m = &measured[0]["by_offer_type"][0]["measurement"];
    assert_eq!((m["treated"].as_u64(), m["holdout"].as_u64()), (Some(issued), Some(held)), "{measured}");
    assert!(m["incremental_revenue"]["low"].as_f64() <= m["incremental_revenue"]["high"].as_f64());
}
