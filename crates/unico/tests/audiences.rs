//! `unico audiences export` as a marketing team runs it on the demo chain: the segment's and
//! the campaign's customers with the marketing consent, hashed as Meta and Google document,
//! never a contact in clear, never the campaign's holdout; a withdrawn consent moves a
//! customer to the suppression list, and so does an erasure (whose contacts are gone by then:
//! their hashes were kept).

mod common;
use common::{ok, unico};
use std::collections::{HashMap, HashSet};
use unico_store::audiences::sha256_hex;

/// What the master holds of a customer: current marketing consent, segment, status in the
/// demo's campaign, e-mails and phones (E.164).
struct Known {
    card: String,
    marketing: bool,
    segment: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
}

fn known(data: &std::path::Path) -> HashMap<i64, Known> {
    let app = unico_app::App::open(data).unwrap();
    let mut out: HashMap<i64, Known> = HashMap::new();
    for c in app.cards().unwrap() {
        if out.contains_key(&c.customer_id) {
            continue;
        }
        let view = app.customer(&c.card, None).unwrap().view;
        let profile = app.customer_profile(&c.card, None).unwrap();
        let marketing = view.consents.iter().any(|e| e.purpose == "marketing" && e.granted);
        let pii: Vec<_> = view.registrations.iter().filter_map(|r| r.pii.clone()).collect();
        out.insert(
            c.customer_id,
            Known {
                card: c.card.clone(),
                marketing,
                segment: profile.profiles.first().map(|p| p.segment.clone()),
                emails: pii.iter().filter_map(|p| p.email.clone()).collect(),
                phones: pii.iter().filter_map(|p| p.phone.clone()).collect(),
            },
        );
    }
    out
}

/// The hashes of a file's rows: (e-mail, phone) columns.
fn rows(path: &std::path::Path) -> (String, Vec<(String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows = lines
        .map(|l| {
            let (e, p) = l.split_once(',').unwrap();
            (e.to_string(), p.to_string())
        })
        .collect();
    (header, rows)
}

#[test]
fn audiences_hold_hashes_of_consenting_customers_only_and_suppress_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(unico(&data, &["demo", "--no-serve", "--customers", "300", "--days", "120"]));
    let people = known(&data);
    let source = std::fs::read_to_string(data.join("demo-source/customers.csv")).unwrap();

    // The segment with the most consenting customers, exported for Meta.
    let mut by_segment: HashMap<String, usize> = HashMap::new();
    for k in people.values().filter(|k| k.marketing) {
        *by_segment.entry(k.segment.clone().unwrap_or_default()).or_default() += 1;
    }
    let segment = by_segment.iter().filter(|(s, _)| !s.is_empty()).max_by_key(|(_, n)| **n).unwrap().0.clone();
    let meta = tmp.path().join("meta.csv");
    let said = ok(unico(
        &data,
        &["audiences", "export", "--segment", &segment, "--format", "meta", "--out", meta.to_str().unwrap()],
    ));
    let (header, got) = rows(&meta);
    assert_eq!(header, "email,phone");
    let expected: HashSet<(String, String)> = people
        .values()
        .filter(|k| k.marketing && k.segment.as_deref() == Some(segment.as_str()))
        .map(|k| {
            // Meta: the e-mail trimmed and in lower case; the phone as digits with its country code.
            let email = k.emails.first().map(|e| sha256_hex(&e.trim().to_lowercase())).unwrap_or_default();
            let phone = k.phones.first().map(|p| sha256_hex(p.trim_start_matches('+'))).unwrap_or_default();
            (email, phone)
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), expected, "exactly the segment's consenting customers");
    assert!(said.contains(&format!("{} customers with the marketing consent", expected.len())), "{said}");

    // No contact in clear in any file: every e-mail and phone of the source, in any form.
    let suppression = tmp.path().join("meta-suppression.csv");
    let files = [std::fs::read_to_string(&meta).unwrap(), std::fs::read_to_string(&suppression).unwrap()];
    let mut r = csv::Reader::from_reader(source.as_bytes());
    let h = r.headers().unwrap().clone();
    let (ei, pi) = (h.iter().position(|x| x == "email").unwrap(), h.iter().position(|x| x == "phone").unwrap());
    for rec in r.records().map(|r| r.unwrap()) {
        let email = rec[ei].trim().to_lowercase();
        let digits: String = rec[pi].chars().filter(char::is_ascii_digit).collect();
        for f in &files {
            assert!(email.is_empty() || !f.to_lowercase().contains(&email), "a clear e-mail in a file");
            assert!(digits.len() < 6 || !f.contains(&digits), "a clear phone in a file");
        }
    }

    // Withdrawing the marketing consent moves a customer to the suppression list; erasing one
    // does too, through the hashes kept when their contacts were destroyed.
    let mut members = people.iter().filter(|(_, k)| k.marketing && k.segment.as_deref() == Some(segment.as_str()));
    let (_, quits) = members.next().unwrap();
    let (_, erased) = members.next().unwrap();
    ok(unico(&data, &["customers", "consent", &quits.card, "--purpose", "marketing", "--withdraw"]));
    ok(unico(&data, &["customers", "erase", &erased.card, "--yes"]));
    let google = tmp.path().join("google.csv");
    ok(unico(
        &data,
        &["audiences", "export", "--segment", &segment, "--format", "google", "--out", google.to_str().unwrap()],
    ));
    let (header, audience) = rows(&google);
    assert_eq!(header, "Email,Phone");
    let (_, suppressed) = rows(&tmp.path().join("google-suppression.csv"));
    for gone in [quits, erased] {
        // Google: the phone in E.164, with its "+".
        let row = (sha256_hex(&gone.emails[0]), sha256_hex(&gone.phones[0]));
        assert!(!audience.contains(&row), "out of the audience");
        assert!(suppressed.contains(&row), "in the suppression list");
    }
    assert_eq!(audience.len(), expected.len() - 2);

    // A campaign's audience: its customers with offers, never its holdout.
    let campaigns: serde_json::Value =
        serde_json::from_str(&ok(unico(&data, &["campaigns", "list", "--format", "json"]))).unwrap();
    let id = campaigns[0]["id"].as_str().unwrap().to_string();
    let out = tmp.path().join("campaign.csv");
    ok(unico(&data, &["audiences", "export", "--campaign", &id, "--format", "meta", "--out", out.to_str().unwrap()]));
    let (_, in_campaign) = rows(&out);
    let members = std::fs::read_to_string(data.join("campaigns/demo/customers.csv")).unwrap();
    let mut r = csv::Reader::from_reader(members.as_bytes());
    let h = r.headers().unwrap().clone();
    let (ci, si) = (h.iter().position(|x| x == "customer_id").unwrap(), h.iter().position(|x| x == "status").unwrap());
    let status: HashMap<String, String> =
        r.records().map(|r| r.unwrap()).map(|r| (r[ci].to_string(), r[si].to_string())).collect();
    let hash_of = |k: &Known| k.emails.first().map(|e| sha256_hex(e)).unwrap_or_default();
    let holdout: HashSet<String> =
        people.values().filter(|k| status.get(&k.card).map(String::as_str) == Some("holdout")).map(hash_of).collect();
    assert!(!holdout.is_empty() && !in_campaign.is_empty());
    assert!(in_campaign.iter().all(|(e, _)| !holdout.contains(e)), "no holdout customer in a campaign's audience");
    let bad = unico(
        &data,
        &["audiences", "export", "--campaign", "nope", "--format", "meta", "--out", out.to_str().unwrap()],
    );
    assert_eq!(bad.status.code(), Some(4));
    let bad = unico(
        &data,
        &["audiences", "export", "--segment", &segment, "--format", "tiktok", "--out", out.to_str().unwrap()],
    );
    assert_eq!(bad.status.code(), Some(2));
}
