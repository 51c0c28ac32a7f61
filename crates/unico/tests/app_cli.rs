//! `unico app …` as a retailer's IT team runs it: the privacy policy published once per
//! version, promotions from CSV (a bad row refused with its line, nothing added), the flyer
//! sent only to customers who agreed, tickets listed.

mod common;
use common::{ok, unico};

#[test]
fn privacy_policies_promotions_and_flyers_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(unico(&data, &["init"]));
    let policy = tmp.path().join("policy.txt");
    std::fs::write(&policy, "We keep your card and what you buy with it.\n").unwrap();
    let p = policy.to_str().unwrap();
    assert!(
        ok(unico(&data, &["app", "privacy", "--policy-version", "2026-11", p])).contains("version 2026-11 published")
    );
    let again = unico(&data, &["app", "privacy", "--policy-version", "2026-11", p]);
    assert_eq!(again.status.code(), Some(5), "a version is published once");
    assert!(String::from_utf8_lossy(&again.stderr).contains("a change is a new version"));

    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "sku,title,price_cents,was_cents,valid_from,valid_to\n\
         P1,Pasta at 0.99,99,129,2026-12-01,2026-12-07\n\
         P2,Sauce,one euro,,2026-12-01,2026-12-07\n",
    )
    .unwrap();
    let refused = unico(&data, &["app", "promotions", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("line 3"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let backwards = tmp.path().join("backwards.csv");
    std::fs::write(
        &backwards,
        "sku,title,price_cents,was_cents,valid_from,valid_to\nP1,Pasta,99,,2026-12-07,2026-12-01\n",
    )
    .unwrap();
    assert_eq!(unico(&data, &["app", "promotions", backwards.to_str().unwrap()]).status.code(), Some(2));

    let good = tmp.path().join("good.csv");
    std::fs::write(
        &good,
        "sku,title,price_cents,was_cents,valid_from,valid_to\n\
         P1,Pasta at 0.99,99,129,2026-12-01,2026-12-07\n\
         P2,Sauce at 1.49,149,,2026-12-01,2026-12-07\n",
    )
    .unwrap();
    assert!(ok(unico(&data, &["app", "promotions", good.to_str().unwrap()])).contains("2 promotions added"));
    // The same file again replaces them: still two on the day.
    ok(unico(&data, &["app", "promotions", good.to_str().unwrap()]));
    let app = unico_app::App::open(&data).unwrap();
    let on = app.promotions_on("2026-12-03").unwrap();
    assert_eq!(on.len(), 2, "{on:?}");
    assert_eq!((on[0].sku.as_str(), on[0].was_cents), ("P1", Some(129)));
    assert_eq!(on[1].was_cents, None);
    assert!(app.promotions_on("2026-12-08").unwrap().is_empty());
    drop(app);

    // Nobody agreed to anything yet: no flyer goes out.
    assert!(ok(unico(&data, &["app", "send-flyer", "--channel", "sms"])).contains("0 flyer links queued"));
    assert_eq!(unico(&data, &["app", "send-flyer", "--channel", "fax"]).status.code(), Some(2));
    assert_eq!(ok(unico(&data, &["app", "tickets", "--format", "json"])).trim(), "[]");
}
