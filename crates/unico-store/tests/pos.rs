//! Receipts at the till against the real store, on SQLite and (when `UNICO_TEST_DATABASE_URL`
//! names a server, as in CI) PostgreSQL: random sequences of confirms, retries, voids,
//! refunds, campaign stops and days out of validity, with the rules of docs/pos.md checked
//! after every step — retries answer the same and redeem nothing more (rule 2), no offer is
//! used twice and no capped budget overspent (3), a stopped or expired offer is never given
//! (6), states move forward and a void restores the counters exactly (7), refunds never
//! take back more than was given and refunding everything equals a void (8).

use proptest::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use unico_core::{Pseudonymiser, SECRET_LEN};
use unico_lake::mapping::Mapping;
use unico_offers::till::{Item, Line};
use unico_store::campaigns::{Campaign, Member, StoredOffer};
use unico_store::crypto::MasterKey;
use unico_store::customers::{CustomerImportOptions, import_customers};
use unico_store::pos::{ConfirmRequest, ReceiptKey};
use unico_store::{ErrorKind, Store};

const MASTER: &str = "5ad1e6c7a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091";
const CARD: &str = "9001";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Stores on SQLite and, when there, PostgreSQL, each with one cardholder.
async fn stores(dir: &Path) -> Vec<(&'static str, Store, String)> {
    let mut urls = vec![("sqlite", format!("sqlite://{}", dir.join("pos.db").display()))];
    let admin = std::env::var("UNICO_TEST_DATABASE_URL");
    assert!(admin.is_ok() || std::env::var_os("CI").is_none(), "CI must run the tills' tests on PostgreSQL too");
    if let Ok(admin) = admin {
        sqlx::any::install_default_drivers();
        let name = format!("unico_pos_{}", hex::encode(rand::random::<[u8; 6]>()));
        let pool = sqlx::AnyPool::connect(&admin).await.expect("the PostgreSQL test server answers");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let (base, _) = admin.rsplit_once('/').unwrap();
        urls.push(("postgres", format!("{base}/{name}")));
    }
    let mut out = Vec::new();
    for (label, url) in urls {
        let store = Store::open(&url, MasterKey::from_hex(MASTER).unwrap()).await.unwrap();
        let csv = dir.join(format!("{label}-customers.csv"));
        std::fs::write(
            &csv,
            "customer_id,first_name,last_name,email,phone,birth_date,address,postcode,city,tax_code,consent_marketing,consent_profiling\n\
             9001,Ada,Neri,ada.neri@example.it,,,,,,,yes,yes\n",
        )
        .unwrap();
        let options = CustomerImportOptions {
            pseudonymiser: Pseudonymiser::new(&[3; SECRET_LEN]),
            mapping: Mapping::default(),
            rejects_dir: dir.join("rejects"),
            max_reject_rate: None,
            default_country: phonenumber::country::Id::IT,
            policy_version: "2025-01".into(),
        };
        import_customers(&store, &csv, &options).await.unwrap();
        out.push((label, store, url));
    }
    out
}

fn key() -> String {
    Pseudonymiser::new(&[3; SECRET_LEN]).key(CARD).to_hex()
}

fn items() -> HashMap<String, Item> {
    [("P1", "X", 40), ("P2", "X", 100), ("P3", "Y", 30), ("P4", "Y", 200)]
        .into_iter()
        .map(|(s, c, cost)| (s.to_string(), Item { category: c.into(), unit_cost_cents: Some(cost) }))
        .collect()
}

/// A published campaign `id` with five offers of every kind for the cardholder, capped
/// at `total` cents overall and `cat_x` on category X.
async fn campaign(store: &Store, id: &str, total: i64, cat_x: i64) -> Vec<String> {
    let base = StoredOffer {
        code: String::new(),
        customer_key: key(),
        rank: 1,
        sku: String::new(),
        kind: "due".into(),
        percent_off: 0,
        discount_cents: 0,
        valid_from: "2026-03-02".into(),
        valid_to: "2026-03-15".into(),
        p_redeem: 0.3,
        expected_cost_cents: 10,
        expected_incremental_margin_cents: 5,
        personal: true,
        reason: "r".into(),
        p0: 0.2,
        affinity: 0.5,
        band: 1,
        target: "product".into(),
        category: None,
        mechanic: "unit".into(),
        buy_units: 1,
        pay_units: 1,
        min_spend_cents: 0,
        budgets: "total".into(),
        max_times: 1,
    };
    let tag: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    let code = |n: u32| format!("{tag}-{n}");
    let offers = vec![
        StoredOffer {
            code: code(1),
            sku: "P1".into(),
            percent_off: 30,
            discount_cents: 60,
            budgets: "total\ncategory:X".into(),
            ..base.clone()
        },
        StoredOffer {
            code: code(2),
            sku: "P2".into(),
            discount_cents: 150,
            budgets: "total\ncategory:X".into(),
            ..base.clone()
        },
        StoredOffer {
            code: code(3),
            sku: "P3".into(),
            mechanic: "multi_buy".into(),
            buy_units: 2,
            pay_units: 1,
            max_times: 2,
            ..base.clone()
        },
        StoredOffer {
            code: code(4),
            target: "category".into(),
            category: Some("Y".into()),
            percent_off: 20,
            ..base.clone()
        },
        StoredOffer {
            code: code(5),
            target: "basket".into(),
            mechanic: "spend_reward".into(),
            min_spend_cents: 1500,
            discount_cents: 250,
            ..base.clone()
        },
    ];
    let c = Campaign {
        id: id.into(),
        name: id.into(),
        valid_from: "2026-03-02".into(),
        valid_to: "2026-03-15".into(),
        seed: 1,
        policy: String::new(),
        summary: "{}".into(),
        directory: None,
        activation_required: false,
        stores: Vec::new(),
        min_margin: Some(0.1),
        budgets: vec![("total".into(), total), ("category:X".into(), cat_x)],
    };
    let member = Member {
        customer_key: key(),
        status: "personal".into(),
        segment: "loyal".into(),
        store_id: Some("S1".into()),
        offer_type: "personal".into(),
    };
    store.store_campaign(&c, &offers, &[member]).await.unwrap();
    store.set_campaign_state(id, true, "test", None).await.unwrap();
    offers.into_iter().map(|o| o.code).collect()
}

/// Baskets a till may send.
fn basket(n: usize) -> Vec<Line> {
    let l = |line_no: u32, sku: &str, qty: i64, price: i64| Line {
        line_no,
        sku: sku.into(),
        qty_milli: qty,
        unit_price_cents: price,
    };
    match n % 5 {
        0 => vec![l(1, "P1", 2000, 250), l(2, "P3", 4000, 120), l(3, "P4", 1000, 900)],
        1 => vec![l(1, "P2", 1000, 400), l(2, "P1", 350, 1000)],
        2 => vec![l(1, "P4", 3000, 700), l(2, "P3", 5000, 90), l(3, "P2", 2000, 300)],
        3 => vec![l(1, "P3", 1000, 120)],
        _ => vec![l(1, "P1", 1000, 250), l(2, "P2", 1000, 400), l(3, "P3", 2000, 120), l(4, "P4", 2000, 900)],
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Confirm receipt `r` with basket `b`, on a day in (or after) the validity.
    Confirm {
        r: usize,
        b: usize,
        card: bool,
        expired: bool,
    },
    /// Send a receipt's confirm again.
    Retry {
        r: usize,
    },
    Void {
        r: usize,
    },
    Refund {
        r: usize,
        refund: usize,
        line: u32,
        qty: i64,
    },
    /// Stop the campaign: nothing of it is given any more.
    Stop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..6usize, 0..5usize, proptest::bool::weighted(0.85), proptest::bool::weighted(0.1))
            .prop_map(|(r, b, card, expired)| Op::Confirm { r, b, card, expired }),
        2 => (0..6usize).prop_map(|r| Op::Retry { r }),
        2 => (0..6usize).prop_map(|r| Op::Void { r }),
        3 => (0..6usize, 0..3usize, 1u32..5, 1i64..3).prop_map(|(r, refund, line, qty)| Op::Refund { r, refund, line, qty }),
        1 => Just(Op::Stop),
    ]
}

struct Sent {
    lines: Vec<Line>,
    hash: String,
    response: String,
}

fn hash_of(lines: &[Line], card: bool, day: &str) -> String {
    unico_store::pos::digest(&format!("{lines:?}{card}{day}"))
}

/// Every invariant of the stored state, for one campaign.
async fn check(store: &Store, campaign: &str, codes: &[String], caps: (i64, i64), label: &str) {
    let pool_rows: Vec<(String, String, i64, i64, String)> = {
        let mut out = Vec::new();
        for r in 0..6 {
            let k = ReceiptKey { store_id: "S1".into(), till_id: "T1".into(), receipt_no: format!("{campaign}/{r}") };
            if let Ok((state, rows)) = store.pos_receipt(&k).await {
                for (code, _line, given, back) in rows {
                    out.push((state.clone(), code, given, back, k.receipt_no.clone()));
                }
            }
        }
        out
    };
    // Rule 3: each offer held by at most one live receipt.
    for code in codes {
        let holders: std::collections::BTreeSet<&String> = pool_rows
            .iter()
            .filter(|(state, c, ..)| c == code && (state == "confirmed" || state == "partially_refunded"))
            .map(|x| &x.4)
            .collect();
        assert!(holders.len() <= 1, "{label}: offer {code} redeemed by {holders:?}");
    }
    // Rules 3 and 7: budgets spent exactly what live receipts still give, within the caps.
    let budgets = store.campaign_budgets(campaign).await.unwrap();
    let live: i64 = pool_rows.iter().filter(|(s, ..)| s != "voided").map(|(_, _, given, back, _)| given - back).sum();
    let live_x: i64 = pool_rows
        .iter()
        .filter(|(s, c, ..)| s != "voided" && (c.ends_with("-1") || c.ends_with("-2")))
        .map(|(_, _, given, back, _)| given - back)
        .sum();
    for (name, cap, spent) in budgets {
        let expected = if name == "total" { live } else { live_x };
        assert_eq!(spent, expected, "{label}: budget {name} counts what live receipts give");
        assert!(
            spent <= cap && cap == if name == "total" { caps.0 } else { caps.1 },
            "{label}: {name} {spent} > {cap}"
        );
    }
    // Rule 8: never more taken back than given; a refunded receipt gave everything back.
    for (state, code, given, back, r) in &pool_rows {
        assert!(*back <= *given && *back >= 0, "{label}: {r} {code} took back {back} of {given}");
        if state == "refunded" || state == "voided" {
            assert_eq!(back, given, "{label}: {r} is {state} but keeps a discount");
        }
    }
}

fn run_sequence(ops: Vec<Op>, total: i64, cat_x: i64, case: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let rt = rt();
    rt.block_on(async {
        for (label, store, _) in stores(tmp.path()).await {
            let id = format!("Case {case} 2026-03-02");
            let codes = campaign(&store, &id, total, cat_x).await;
            let items = items();
            let card_hash = store.card_lookup(CARD);
            let mut sent: HashMap<usize, Sent> = HashMap::new();
            let mut states: HashMap<usize, String> = HashMap::new();
            let mut stopped = false;
            for op in &ops {
                let k = |r: usize| ReceiptKey {
                    store_id: "S1".into(),
                    till_id: "T1".into(),
                    receipt_no: format!("{id}/{r}"),
                };
                match op.clone() {
                    Op::Confirm { r, b, card, expired } => {
                        let lines = basket(b);
                        let day = if expired { "2026-03-16" } else { "2026-03-05" };
                        let hash = hash_of(&lines, card, day);
                        let req = ConfirmRequest {
                            key: &k(r),
                            request_hash: &hash,
                            card_hash: card.then_some(card_hash.as_str()),
                            at: &format!("{day}T10:00:00.000000Z"),
                            day,
                            lines: &lines,
                            items: &items,
                        };
                        let answer = |p: &unico_offers::till::Priced, id: &str, known: bool| {
                            serde_json::json!({"id": id, "known": known, "discounts": p.discounts.iter()
                                .map(|d| (d.offer_code.clone(), d.line_no, d.amount_cents)).collect::<Vec<_>>()})
                            .to_string()
                        };
                        let got = store.pos_confirm(&req, &answer).await;
                        match sent.get(&r) {
                            Some(s) if s.hash != hash => {
                                let e = got.unwrap_err();
                                assert_eq!(e.kind(), ErrorKind::Conflict, "{label}: same receipt, other basket");
                            }
                            Some(s) => {
                                let c = got.unwrap();
                                assert!(c.replayed && c.response == s.response, "{label}: rule 2");
                            }
                            None => {
                                let c = got.unwrap();
                                assert!(!c.replayed);
                                let v: serde_json::Value = serde_json::from_str(&c.response).unwrap();
                                let given = v["discounts"].as_array().unwrap();
                                // Rule 6: nothing from a stopped campaign or out of its days.
                                if stopped || expired || !card {
                                    assert!(given.is_empty(), "{label}: a stale discount {v}");
                                }
                                // Pricing rules hold on what the store gave.
                                let subtotal: i64 = lines.iter().map(Line::value_cents).sum();
                                let total: i64 = given.iter().map(|d| d[2].as_i64().unwrap()).sum();
                                assert!(total <= subtotal);
                                states.insert(r, "confirmed".into());
                                sent.insert(r, Sent { lines, hash, response: c.response });
                            }
                        }
                    }
                    Op::Retry { r } => {
                        let Some(s) = sent.get(&r) else { continue };
                        let day = "2026-03-05";
                        let req = ConfirmRequest {
                            key: &k(r),
                            request_hash: &s.hash,
                            card_hash: Some(card_hash.as_str()),
                            at: "2026-03-05T10:00:00.000000Z",
                            day,
                            lines: &s.lines,
                            items: &items,
                        };
                        let c = store.pos_confirm(&req, &|_, _, _| panic!("a retry prices nothing")).await.unwrap();
                        assert!(c.replayed && c.response == s.response, "{label}: rule 2 on retry");
                    }
                    Op::Void { r } => {
                        let got = store.pos_void(&k(r)).await;
                        match states.get(&r).map(String::as_str) {
                            None => assert_eq!(got.unwrap_err().kind(), ErrorKind::NotFound),
                            Some("confirmed") => {
                                assert!(got.unwrap().1);
                                states.insert(r, "voided".into());
                            }
                            Some("voided") => assert!(!got.unwrap().1, "{label}: a void is idempotent"),
                            Some(_) => assert_eq!(got.unwrap_err().kind(), ErrorKind::Conflict, "{label}: rule 7"),
                        }
                    }
                    Op::Refund { r, refund, line, qty } => {
                        let refund_no = format!("R{refund}");
                        let h = format!("{line}/{qty}");
                        let before = store.pos_receipt(&k(r)).await.ok();
                        let got = store.pos_refund(&k(r), &refund_no, &h, &[(line, qty * 1000)]).await;
                        let Some((state_before, rows_before)) = before else {
                            assert_eq!(got.unwrap_err().kind(), ErrorKind::NotFound);
                            continue;
                        };
                        let (state_after, rows_after) = store.pos_receipt(&k(r)).await.unwrap();
                        match got {
                            Ok((v, replayed)) => {
                                let v: serde_json::Value = serde_json::from_str(&v).unwrap();
                                if !replayed {
                                    assert!(state_before == "confirmed" || state_before == "partially_refunded");
                                    assert!(
                                        matches!(state_after.as_str(), "partially_refunded" | "refunded"),
                                        "{label}: rule 7"
                                    );
                                    let taken: i64 = rows_after.iter().map(|x| x.3).sum::<i64>()
                                        - rows_before.iter().map(|x| x.3).sum::<i64>();
                                    assert_eq!(v["discount_taken_back_cents"].as_i64(), Some(taken));
                                    assert!(v["refund_cents"].as_i64().unwrap() >= 0, "{label}: {v}");
                                } else {
                                    assert_eq!(rows_before, rows_after, "{label}: a retried refund changes nothing");
                                }
                                states.insert(r, state_after);
                            }
                            Err(e) => {
                                assert!(matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Input), "{label}: {e}");
                                assert_eq!(rows_before, rows_after, "{label}: a refused refund changes nothing");
                                assert_eq!(state_before, state_after);
                            }
                        }
                    }
                    Op::Stop => {
                        if !stopped {
                            store.set_campaign_state(&id, false, "test", None).await.unwrap();
                            stopped = true;
                        }
                    }
                }
                check(&store, &id, &codes, (total, cat_x), label).await;
            }
            store.close().await;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn receipts_keep_the_rules_under_any_sequence(ops in proptest::collection::vec(op(), 1..24),
                                                  total in 0i64..1200, cat_x in 0i64..400, case in any::<u64>()) {
        run_sequence(ops, total, cat_x, case);
    }
}

/// Many confirms of different receipts racing for the same offers: each offer is given
/// once, and no budget goes over its cap.
#[test]
fn concurrent_confirms_give_each_offer_once() {
    let tmp = tempfile::tempdir().unwrap();
    rt().block_on(async {
        for (label, store, url) in stores(tmp.path()).await {
            let codes = campaign(&store, "Race 2026-03-02", 100_000, 100_000).await;
            let items = std::sync::Arc::new(items());
            let card_hash = store.card_lookup(CARD);
            // Eight pools side by side, as eight server processes would be.
            let mut pools = vec![store.clone()];
            for _ in 1..8 {
                pools.push(Store::open(&url, MasterKey::from_hex(MASTER).unwrap()).await.unwrap());
            }
            let mut tasks = Vec::new();
            for n in 0..64 {
                let (store, items, card_hash) = (pools[n % 8].clone(), items.clone(), card_hash.clone());
                tasks.push(tokio::spawn(async move {
                    let lines = basket(4);
                    let key = ReceiptKey { store_id: "S1".into(), till_id: format!("T{n}"), receipt_no: "1".into() };
                    let req = ConfirmRequest {
                        key: &key,
                        request_hash: "h",
                        card_hash: Some(&card_hash),
                        at: "2026-03-05T10:00:00.000000Z",
                        day: "2026-03-05",
                        lines: &lines,
                        items: &items,
                    };
                    let c = store
                        .pos_confirm(&req, &|p, _, _| {
                            serde_json::to_string(&p.discounts.iter().map(|d| d.offer_code.clone()).collect::<Vec<_>>())
                                .unwrap()
                        })
                        .await
                        .unwrap();
                    serde_json::from_str::<Vec<String>>(&c.response).unwrap()
                }));
            }
            let mut given: HashMap<String, usize> = HashMap::new();
            for t in tasks {
                for code in t.await.unwrap().into_iter().collect::<std::collections::BTreeSet<_>>() {
                    *given.entry(code).or_default() += 1;
                }
            }
            for code in &codes {
                assert!(
                    given.get(code).copied().unwrap_or(0) <= 1,
                    "{label}: {code} given {:?} times",
                    given.get(code)
                );
            }
            assert!(given.values().sum::<usize>() >= 4, "{label}: the offers in the basket were given: {given:?}");
            // The wallets' change log keeps recent entries and forgets old ones.
            let logged = store.pos_changes(0).await.unwrap().len();
            assert!(logged > 0, "{label}: the redemptions are in the change log");
            assert_eq!(store.pos_prune_changes("2000-01-01T00:00:00.000000Z").await.unwrap(), 0);
            assert_eq!(store.pos_prune_changes("9999-01-01T00:00:00.000000Z").await.unwrap() as usize, logged);
            assert!(store.pos_changes(0).await.unwrap().is_empty());
            store.close().await;
        }
    });
}
