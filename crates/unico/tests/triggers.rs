//! Triggered offers on the demo chain: a birthday offer issued once, on the birthday in the
//! chain's time zone, to a customer who agreed to marketing and not to one who withdrew; a
//! day run twice issues nothing twice; a trigger's holdout is drawn and `unico measure`
//! measures the trigger's day like any campaign. The offers are announced by e-mail through
//! a local SMTP server, only to customers who agreed to marketing and to e-mail, within the
//! weekly cap; the message's unsubscribe link, opened on `unico serve`, withdraws the e-mail
//! consent, and no e-mail follows.

mod common;
use common::{ok, unico};
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use unico_app::pos::{Basket, BasketLine};

#[path = "common/e2e.rs"]
#[allow(dead_code)]
mod e2e;

/// A mail: recipients and the DATA as received.
type Mail = (Vec<String>, String);

/// Requests a receiver got: headers and body.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A local HTTP receiver for the SMS gateway's webhook: the requests' headers and bodies.
fn sms_gateway() -> (String, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                loop {
                    let (mut head, mut line, mut length) = (String::new(), String::new(), 0usize);
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0u8; length];
                    std::io::Read::read_exact(&mut r, &mut body).unwrap();
                    store.lock().unwrap().push((head, String::from_utf8(body).unwrap()));
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, got)
}

/// A local SMTP server speaking the protocol's plain core: what it received.
fn smtp_server() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let _ = w.write_all(b"220 test ESMTP\r\n");
            let (mut rcpt, mut line) = (Vec::new(), String::new());
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let cmd = line.trim_end().to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                    b"250 test\r\n"
                } else if cmd.starts_with("RCPT TO:") {
                    rcpt.push(line.trim_end()[8..].trim_matches(|c| c == '<' || c == '>' || c == ' ').to_string());
                    b"250 OK\r\n"
                } else if cmd == "DATA" {
                    let _ = w.write_all(b"354 go on\r\n");
                    let mut data = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 || line == ".\r\n" {
                            break;
                        }
                        data.push_str(&line);
                    }
                    store.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                    b"250 queued\r\n"
                } else if cmd == "QUIT" {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 OK\r\n"
                };
                let _ = w.write_all(reply);
            }
        }
    });
    (port, got)
}

/// Customers with a card, the marketing and e-mail consents and a birth date: (card, birth date).
fn birthdays(app: &unico_app::App) -> Vec<(String, jiff::civil::Date)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in app.cards().unwrap() {
        if !seen.insert(c.customer_id) {
            continue;
        }
        let view = app.customer(&c.card, None).unwrap().view;
        let given = |p: &str| view.consents.iter().any(|e| e.purpose == p && e.granted);
        let marketing = given("marketing") && given("email");
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
         amount_off_cents = 300\nwithin_days = 366\nholdout_share = 0.5\n\n\
         [[trigger]]\nname = \"Birthday treat\"\nkind = \"birthday\"\nmonthly_budget_cents = 1000000\n\
         amount_off_cents = 200\ncool_down_days = 0\nholdout_share = 0.0\n\n\
         [[trigger]]\nname = \"Birthday extra\"\nkind = \"birthday\"\nmonthly_budget_cents = 1000000\n\
         amount_off_cents = 100\nholdout_share = 0.0\n",
    )
    .unwrap();
    assert!(ok(unico(&data, &["triggers", "check"])).contains("Birthday gift"));
    let (port, mails) = smtp_server();
    let smtp = format!("smtp://127.0.0.1:{port}");
    // The command with the mail server, the public address, and a weekly cap of `cap`.
    let with = |args: &[&str], cap: &str| -> String {
        ok(std::process::Command::new(env!("CARGO_BIN_EXE_unico"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .envs([
                ("UNICO_MAIL_SMTP_URL", smtp.as_str()),
                ("UNICO_APP_PUBLIC_URL", "http://unico.test"),
                ("UNICO_MESSAGES_MAX_PER_WEEK", cap),
            ])
            .output()
            .unwrap())
    };

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
        serde_json::from_str(&with(&["triggers", "run", "--as-of", &day.to_string(), "--format", "json"], "2")).unwrap()
    };
    let offers_of = |card: &str| -> Vec<serde_json::Value> {
        let app = unico_app::App::open(&data).unwrap();
        let history = app.offer_history(card, 100).unwrap();
        history
            .iter()
            .filter(|o| o.campaign_id.starts_with("Birthday gift"))
            .map(|o| serde_json::to_value(o).unwrap())
            .collect()
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
        // Dear enough that the gift's 20.00 threshold is met after the other birthday
        // offers (spend rewards are taken by offer code, a random order).
        lines: vec![BasketLine { line_no: 1, sku: sku.clone(), quantity: "1".into(), unit_price_cents: 5000 }],
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

    // Messages: A got offers from three birthday triggers (and perhaps the welcome), but the
    // weekly cap of 2 lets two e-mails through; sent, each to A's address with A's first name.
    let app = unico_app::App::open(&data).unwrap();
    let a = app.customer(&a_card, None).unwrap().view;
    let a_id = a.id;
    let a_pii = a.registrations[0].pii.clone().unwrap();
    let for_a = |app: &unico_app::App| -> Vec<unico_store::kpis::OutboxMessage> {
        app.outbox(true).unwrap().into_iter().filter(|m| m.recipient == format!("customer:#{a_id}")).collect()
    };
    assert_eq!(for_a(&app).len(), 2, "the weekly cap");
    let outbox_text = serde_json::to_string(&app.outbox(true).unwrap()).unwrap();
    assert!(!outbox_text.contains(a_pii.email.as_deref().unwrap()), "the outbox holds no address");
    drop(app);
    let sent = with(&["outbox", "--send"], "2");
    assert!(sent.contains("e-mails sent"), "{sent}");
    let got = mails.lock().unwrap().clone();
    let to_a: Vec<&Mail> = got.iter().filter(|(to, _)| to.contains(a_pii.email.as_ref().unwrap())).collect();
    assert_eq!(to_a.len(), 2, "{got:?}");
    let text = to_a[0].1.replace("=\r\n", "");
    assert!(text.contains(a_pii.first_name.as_deref().unwrap()) && text.contains("off a shop of"), "{text}");
    // Every e-mail went to a customer who agreed to marketing and to e-mail.
    let app = unico_app::App::open(&data).unwrap();
    let mut agreed = std::collections::HashSet::new();
    for c in app.cards().unwrap() {
        let view = app.customer(&c.card, None).unwrap().view;
        let given = |p: &str| view.consents.iter().any(|e| e.purpose == p && e.granted);
        if given("marketing") && given("email") {
            agreed.extend(view.registrations.iter().filter_map(|r| r.pii.as_ref().and_then(|p| p.email.clone())));
        }
    }
    // (The outbox's service e-mails — the demo's order confirmations, goal alerts — go to
    // whoever asked for them; the offers' e-mails, with their unsubscribe link, only here.)
    let offers_mails: Vec<&Mail> =
        got.iter().filter(|(_, d)| d.replace("=\r\n", "").contains("unico.test/u/")).collect();
    assert!(offers_mails.len() >= 2);
    assert!(
        offers_mails.iter().all(|(to, _)| to.iter().all(|t| agreed.contains(t))),
        "an offer to someone who did not agree"
    );

    // The unsubscribe link, opened on the server, withdraws A's e-mail consent; A's next
    // offer (another birthday trigger, a year on, no cap in the way) comes without an e-mail.
    let link =
        for_a(&app)[0].body.split_whitespace().find(|w| w.starts_with("http://unico.test/u/")).unwrap().to_string();
    drop(app);
    // Customers who agreed to SMS and not to e-mail got their offers by SMS: the server
    // sends them to the gateway, signed.
    let app = unico_app::App::open(&data).unwrap();
    let queued_sms =
        app.outbox(true).unwrap().into_iter().filter(|m| m.kind == "sms" && m.body.contains("/u/")).count();
    let mut sms_ok = std::collections::HashSet::new();
    for c in app.cards().unwrap() {
        let view = app.customer(&c.card, None).unwrap().view;
        let given = |p: &str| view.consents.iter().any(|e| e.purpose == p && e.granted);
        if given("marketing") && given("sms") {
            sms_ok.extend(view.registrations.iter().filter_map(|r| r.pii.as_ref().and_then(|p| p.phone.clone())));
        }
    }
    drop(app);
    assert!(queued_sms > 0, "some offers went by SMS");
    let (gateway, sms) = sms_gateway();
    let secret = "the gateway's shared secret";
    let (mut server, base) = e2e::serve(
        &data,
        &tmp.path().join("server.log"),
        &[("UNICO_SMS_WEBHOOK_URL", gateway.as_str()), ("UNICO_SMS_SECRET", secret)],
    );
    for _ in 0..100 {
        if sms.lock().unwrap().len() >= queued_sms {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let page =
        ureq::get(&link.replace("http://unico.test", &base)).call().unwrap().body_mut().read_to_string().unwrap();
    let forged = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(&format!("{}x", link.replace("http://unico.test", &base)))
        .call()
        .unwrap()
        .status()
        .as_u16();
    let _ = server.kill();
    let _ = server.wait();
    assert!(page.contains("You are unsubscribed"), "{page}");
    let sms = sms.lock().unwrap().clone();
    assert_eq!(sms.len(), queued_sms, "every SMS reached the gateway");
    for (head, body) in &sms {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let to = v["to"].as_str().unwrap();
        assert!(to.starts_with('+') && sms_ok.contains(to), "to a phone whose owner agreed to SMS: {to}");
        assert!(v["text"].as_str().unwrap().contains("http://unico.test/u/"), "{body}");
        let signed = head
            .lines()
            .find_map(|l| l.strip_prefix("x-unico-signature: ").or(l.strip_prefix("X-Unico-Signature: ")))
            .unwrap();
        let t: i64 = signed.trim().split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        assert_eq!(signed.trim(), unico_server::webhooks::signature(secret, t, body), "signed with the secret");
    }
    assert_eq!(forged, 404);
    let app = unico_app::App::open(&data).unwrap();
    let consents = app.customer(&a_card, None).unwrap().view.consents;
    assert!(consents.iter().any(|e| e.purpose == "email" && !e.granted && e.source == "unsubscribe"), "{consents:?}");
    drop(app);
    let next_year = a_day.checked_add(jiff::Span::new().years(1)).unwrap();
    let later: serde_json::Value =
        serde_json::from_str(&with(&["triggers", "run", "--as-of", &next_year.to_string(), "--format", "json"], "100"))
            .unwrap();
    assert!(later["triggers"][2]["issued"].as_u64().unwrap() >= 1, "{later}");
    let app = unico_app::App::open(&data).unwrap();
    assert_eq!(for_a(&app).len(), 2, "no e-mail after unsubscribing");
}
