//! The operational store as a retailer relies on it, on SQLite and — when
//! `UNICO_TEST_DATABASE_URL` names a PostgreSQL server, as in CI — on PostgreSQL too.

use std::path::{Path, PathBuf};
use unico_core::{Pseudonymiser, SECRET_LEN};
use unico_lake::mapping::{Dataset, Mapping};
use unico_store::crypto::MasterKey;
use unico_store::customers::{CustomerImportOptions, import_customers};
use unico_store::{ErrorKind, Purpose, Store, dedupe};

const MASTER: &str = "5ad1e6c7a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091";

struct Db {
    url: String,
    label: &'static str,
    file: Option<PathBuf>,
}

/// A fresh SQLite file, and a fresh PostgreSQL database when the server is there.
async fn backends(dir: &Path) -> Vec<Db> {
    let mut out = vec![Db {
        url: format!("sqlite://{}", dir.join("store.db").display()),
        label: "sqlite",
        file: Some(dir.join("store.db")),
    }];
    let admin = std::env::var("UNICO_TEST_DATABASE_URL");
    assert!(admin.is_ok() || std::env::var_os("CI").is_none(), "CI must run the store's tests on PostgreSQL too");
    if let Ok(admin) = admin {
        sqlx::any::install_default_drivers();
        let name = format!("unico_test_{:016x}", rand_u64());
        let pool = sqlx::AnyPool::connect(&admin).await.expect("the PostgreSQL test server answers");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let (base, _) = admin.rsplit_once('/').expect("a URL with a database name");
        out.push(Db { url: format!("{base}/{name}"), label: "postgres", file: None });
    }
    out
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

async fn open(db: &Db) -> Store {
    Store::open(&db.url, MasterKey::from_hex(MASTER).unwrap()).await.unwrap_or_else(|e| panic!("{}: {e}", db.label))
}

fn options(dir: &Path) -> CustomerImportOptions {
    CustomerImportOptions {
        pseudonymiser: Pseudonymiser::new(&[3; SECRET_LEN]),
        mapping: Mapping::default(),
        rejects_dir: dir.join("rejects"),
        max_reject_rate: None,
        default_country: phonenumber::country::Id::IT,
        policy_version: "2025-01".into(),
    }
}

fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const HEADER: &str = "customer_id,first_name,last_name,email,phone,birth_date,address,postcode,city,tax_code,consent_marketing,consent_profiling\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_normalises_every_field_and_rejects_bad_rows_without_leaking_them() {
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let body = format!(
            "{HEADER}\
             1001,  GIULIA ,ROSSI, Giulia.Rossi@Libero.IT ,333 1234567,10/12/1985,\"Via  Roma 1\",184,MILANO,rssmra85t10a562s,sì,no\n\
             1002,Marco,Bianchi,marco@@x.it,,,,,,,,\n\
             1003,Anna,Verdi,,12,,,,,,,\n\
             1004,Anna,Verdi,,,,,2012A,,,,\n\
             1005,Anna,Verdi,,,,,,,RSSMRA85T10A562X,,\n\
             1006,Anna,Verdi,,,31/02/1990,,,,,,\n\
             ,Anna,Verdi,,,,,,,,,\n\
             1001,Giulia,Rossi,,,,,,,,,\n\
             1009,Luca,Neri,,,,,,,,forse,\n\
             1010,Sara,Galli,sara@galli.it,+39 347-765-4321,1990-04-01,Corso Italia 5,20121,Milano,,yes,yes\n"
        );
        let path = file(tmp.path(), &format!("c-{}.csv", db.label), &body);
        let s = import_customers(&store, &path, &options(tmp.path())).await.unwrap();
        assert_eq!((s.rows_read, s.rows_imported, s.rows_rejected()), (10, 2, 8), "{}", db.label);
        let text = std::fs::read_to_string(s.rejects_file.as_ref().unwrap()).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let got: Vec<(u64, String, String)> = r
            .records()
            .map(|x| x.unwrap())
            .map(|x| (x[0].parse().unwrap(), x[1].to_string(), x[3].to_string()))
            .collect();
        let want = [
            (3, "email", "bad_email"),
            (4, "phone", "bad_phone"),
            (5, "postcode", "bad_postcode"),
            (6, "tax_code", "bad_tax_code"),
            (7, "birth_date", "bad_date"),
            (8, "customer_id", "missing_value"),
            (9, "customer_id", "duplicate_key"),
            (10, "consent_marketing", "bad_flag"),
        ];
        let want: Vec<(u64, String, String)> =
            want.iter().map(|(l, c, r)| (*l, c.to_string(), r.to_string())).collect();
        assert_eq!(got, want, "{}", db.label);
        for leaked in ["marco@@x.it", "2012A", "RSSMRA85T10A562X", "31/02/1990", "Bianchi", "Verdi"] {
            assert!(!text.contains(leaked), "{}: the rejects file leaks {leaked}: {text}", db.label);
        }

        // Found by card, by e-mail in any case, by phone in any format.
        for reference in ["1001", "GIULIA.ROSSI@libero.it", "+39 333-123-4567", "3331234567"] {
            let v = store.view(reference).await.unwrap();
            let p = v.registrations[0].pii.clone().unwrap();
            assert_eq!(p.first_name.as_deref(), Some("Giulia"));
            assert_eq!(p.last_name.as_deref(), Some("Rossi"));
            assert_eq!(p.email.as_deref(), Some("giulia.rossi@libero.it"));
            assert_eq!(p.phone.as_deref(), Some("+393331234567"));
            assert_eq!(p.birth_date.as_deref(), Some("1985-12-10"));
            assert_eq!(p.address.as_deref(), Some("Via Roma 1"));
            assert_eq!(p.postcode.as_deref(), Some("00184"));
            assert_eq!(p.city.as_deref(), Some("Milano"));
            assert_eq!(p.tax_code.as_deref(), Some("RSSMRA85T10A562S"));
            assert_eq!(v.registrations[0].cards[0].card, "1001");
            assert_eq!(
                v.registrations[0].cards[0].customer_key,
                Pseudonymiser::new(&[3; SECRET_LEN]).key("1001").to_hex()
            );
        }
        let v = store.view("1001").await.unwrap();
        let state: Vec<(String, bool)> = v.consents.iter().map(|c| (c.purpose.clone(), c.granted)).collect();
        assert_eq!(state, vec![("marketing".to_string(), true), ("profiling".to_string(), false)]);
        assert_eq!(store.view("9999").await.unwrap_err().kind(), ErrorKind::NotFound);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reimport_updates_changed_people_and_appends_consent_history() {
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let first = format!("{HEADER}2001,Elena,Conti,elena@conti.it,,,,,,,yes,yes\n2002,Paolo,Riva,,,,,,,,no,no\n");
        let s = import_customers(&store, &file(tmp.path(), "a.csv", &first), &options(tmp.path())).await.unwrap();
        assert_eq!(s.rows_imported, 2);
        let again = import_customers(&store, &file(tmp.path(), "a.csv", &first), &options(tmp.path())).await.unwrap();
        assert_eq!((again.rows_imported, again.rows_updated, again.rows_already_in_lake), (0, 0, 2), "{}", db.label);
        let second =
            format!("{HEADER}2001,Elena,Conti,elena.conti@newmail.it,,,,,,,no,yes\n2002,Paolo,Riva,,,,,,,,no,no\n");
        let s = import_customers(&store, &file(tmp.path(), "b.csv", &second), &options(tmp.path())).await.unwrap();
        assert_eq!((s.rows_imported, s.rows_updated, s.rows_already_in_lake), (0, 1, 1), "{}", db.label);
        assert_eq!(store.view("elena.conti@newmail.it").await.unwrap().id, store.view("2001").await.unwrap().id);
        assert!(store.view("elena@conti.it").await.is_err(), "the old e-mail no longer finds her");
        store.set_consent("2001", Purpose::Marketing, true, "2026-03", "app").await.unwrap();
        let v = store.view("2001").await.unwrap();
        let marketing: Vec<(bool, &str)> = v
            .consent_history
            .iter()
            .filter(|c| c.purpose == "marketing")
            .map(|c| (c.granted, c.source.as_str()))
            .collect();
        assert_eq!(marketing.len(), 3, "{}: {marketing:?}", db.label);
        assert_eq!((marketing[0].0, marketing[1].0, marketing[2]), (true, false, (true, "app")));
        assert!(v.consents.iter().any(|c| c.purpose == "marketing" && c.granted && c.policy_version == "2026-03"));
        assert_eq!(
            v.consent_history.iter().filter(|c| c.purpose == "profiling").count(),
            1,
            "unchanged consents add nothing"
        );
        store.close().await;
    }
}

/// One rule decides a consent's current state everywhere (the view, the export, the plan's
/// consents by key): the latest event by when it happened. A consent dated in the future is
/// refused: it would outrank every withdrawal until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_is_current_by_when_it_happened_and_never_dated_ahead() {
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let header = HEADER.replace("consent_profiling\n", "consent_profiling,consent_at\n");
        let text = format!("{header}3001,Ada,Neri,,,,,,,,yes,yes,2025-06-01\n3002,Bo,Neri,,,,,,,,yes,yes,2099-06-01\n");
        let s = import_customers(&store, &file(tmp.path(), "c.csv", &text), &options(tmp.path())).await.unwrap();
        assert_eq!(s.rows_imported, 1, "{}", db.label);
        assert_eq!(s.rejected.get("bad_date"), Some(&1), "{}: {:?}", db.label, s.rejected);
        // Withdrawn now, after the consent of 2025: withdrawn in every reader.
        store.set_consent("3001", Purpose::Marketing, false, "2026-03", "app").await.unwrap();
        // An import dated before the withdrawal does not bring the consent back.
        let late = format!("{header}3001,Ada,Neri,,,,,,,,yes,yes,2025-09-01\n");
        import_customers(&store, &file(tmp.path(), "d.csv", &late), &options(tmp.path())).await.unwrap();
        let v = store.view("3001").await.unwrap();
        let marketing = v.consents.iter().find(|c| c.purpose == "marketing").unwrap();
        assert!(!marketing.granted, "{}: {:?}", db.label, v.consent_history);
        let key = &v.registrations[0].cards[0].customer_key;
        let by_key = store.consents_by_key().await.unwrap();
        let mine = &by_key.iter().find(|(k, _)| k == key).unwrap().1;
        assert!(
            mine.contains(&(Purpose::Marketing, false)) && mine.contains(&(Purpose::Profiling, true)),
            "{}",
            db.label
        );
        let export = store.export("3001").await.unwrap().to_string();
        assert!(export.contains("\"granted\":false"), "{}", db.label);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_merge_with_evidence_and_unmerge() {
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let body = format!(
            "{HEADER}\
             3001,Nicolò,D'Angelo,nicolo.dangelo@gmail.com,333 1234567,1980-01-02,Corso Italia 15,20121,Milano,,yes,yes\n\
             3002,NICOLO,dangelo,NICOLO.DANGELO@GMAIL.COM,+39 333-123-4567,1980-01-02,C.so Italia 15,20121,MILANO,,yes,no\n\
             3003,Chiara,D'Angelo,nicolo.dangelo@gmail.com,,1984-06-30,Corso Italia 15,20121,Milano,,yes,yes\n\
             3004,Giulia,Rossi,giulia@rossi.it,,1980-01-02,Via Roma 1,00184,Roma,,yes,yes\n"
        );
        import_customers(&store, &file(tmp.path(), "d.csv", &body), &options(tmp.path())).await.unwrap();
        let review = dedupe::candidates(&store, 0.5).await.unwrap();
        assert_eq!((review[0].a, review[0].b), (1, 2), "{}: {review:?}", db.label);
        assert!(review[0].score >= 0.99 && review[0].evidence.same_email && review[0].evidence.same_birth_date);
        let merged = dedupe::merge_duplicates(&store, 0.9, false, &mut |_, _| {}).await.unwrap().0;
        assert_eq!(merged.len(), 1, "{}: only Nicolò's two registrations: {merged:?}", db.label);
        let v = store.view("3002").await.unwrap();
        assert_eq!(v.id, 1);
        assert_eq!(v.registrations.len(), 2);
        let cards: Vec<&str> = v.registrations.iter().flat_map(|r| r.cards.iter().map(|c| c.card.as_str())).collect();
        assert_eq!(cards, vec!["3001", "3002"]);
        assert_eq!(v.merges.len(), 1);
        assert!(v.merges[0].3.contains("\"same_phone\":true"), "evidence is logged: {:?}", v.merges[0]);
        assert!(!v.merges[0].3.contains("gmail"), "evidence holds no personal data");
        // Consents of the merged registration stay in the history.
        assert!(v.consent_history.iter().any(|c| c.purpose == "profiling" && !c.granted));

        let (from, restored) = dedupe::unmerge(&store, "3002").await.unwrap();
        assert_eq!((from, restored), (1, 2));
        assert_eq!(store.view("3002").await.unwrap().id, 2);
        assert_eq!(store.view("3001").await.unwrap().registrations.len(), 1);
        assert!(
            dedupe::merge_duplicates(&store, 0.9, false, &mut |_, _| {}).await.unwrap().0.is_empty(),
            "an undone merge is not redone"
        );
        assert!(dedupe::unmerge(&store, "3002").await.is_err());
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_personal_is_stored_in_clear_and_erasure_really_erases() {
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let body = format!(
            "{HEADER}4001,Ottavia,Zanzottera,ottavia.zanzottera@example.it,347 9876543,1971-07-21,Via Garibaldi 99,37121,Verona,,yes,yes\n"
        );
        import_customers(&store, &file(tmp.path(), "p.csv", &body), &options(tmp.path())).await.unwrap();
        let before = store.export("4001").await.unwrap().to_string();
        assert!(before.contains("Zanzottera") && before.contains("+393479876543") && before.contains("4001"));
        let id = store.erase("ottavia.zanzottera@example.it").await.unwrap();
        let after = store.export(&format!("#{id}")).await.unwrap();
        let text = after.to_string();
        for personal in
            ["Ottavia", "Zanzottera", "ottavia", "393479876543", "1971-07-21", "Garibaldi", "37121", "\"4001\""]
        {
            assert!(!text.contains(personal), "{}: export after erasure still holds {personal}: {text}", db.label);
        }
        assert!(after["registrations"][0]["erased_at"].is_string());
        assert!(after["audit"].as_array().unwrap().iter().any(|a| a["action"] == "erase"));
        let gone = store.view("4001").await.unwrap_err();
        assert_eq!(gone.kind(), ErrorKind::NotFound, "the card no longer leads anywhere");
        assert!(gone.to_string().contains("was erased on"), "{}: a lookup says the card was erased: {gone}", db.label);
        assert!(store.view("4002").await.unwrap_err().to_string().contains("no customer matches"));
        // Their history is still to be cut from the files, until it is.
        let pending = store.pending_erasures().await.unwrap();
        assert_eq!(pending.len(), 1, "{}", db.label);
        store.erasures_done(&pending).await.unwrap();
        assert!(store.pending_erasures().await.unwrap().is_empty());
        // The audit log is append-only.
        let tamper = sqlx::query("DELETE FROM audit").execute(&sqlx::AnyPool::connect(&db.url).await.unwrap()).await;
        assert!(tamper.is_err(), "{}: the audit log refused a delete", db.label);
        store.close().await;
        if let Some(file) = &db.file {
            let mut bytes = std::fs::read(file).unwrap();
            for extra in ["-wal", "-shm"] {
                if let Ok(b) = std::fs::read(format!("{}{extra}", file.display())) {
                    bytes.extend(b);
                }
            }
            for personal in ["Ottavia", "Zanzottera", "ottavia", "3479876543", "1971-07-21", "Garibaldi", "Verona"] {
                assert!(
                    !bytes.windows(personal.len()).any(|w| w == personal.as_bytes()),
                    "{personal} in the SQLite file"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_a_mapping_and_the_wrong_master_key() {
    let tmp = tempfile::tempdir().unwrap();
    let db = &backends(tmp.path()).await[0];
    let store = open(db).await;
    let body = "TESSERA;NOME;COGNOME;MAIL;NASCITA\n5001;Ugo;Foscolo;ugo@foscolo.it;06/02/1778\n5002;Ada;Negri;ada@negri.it;03/02/1970\n";
    let mut opts = options(tmp.path());
    opts.mapping = Mapping::from_toml(
        "[source]\ndelimiter=\";\"\ntimestamp_format=\"%d/%m/%Y\"\n[columns]\ncustomer_id=\"TESSERA\"\nfirst_name=\"NOME\"\nlast_name=\"COGNOME\"\nemail=\"MAIL\"\nbirth_date=\"NASCITA\"",
        Dataset::Customers,
    )
    .unwrap();
    let s = import_customers(&store, &file(tmp.path(), "m.csv", body), &opts).await.unwrap();
    assert_eq!((s.rows_imported, s.rows_rejected()), (1, 1), "1778 is not a plausible birth date");
    store.close().await;
    // A wrong key is refused when the store opens, saying so (not "no customer matches").
    let wrong = Store::open(&db.url, MasterKey::from_hex(&"00".repeat(32)).unwrap()).await.err().unwrap();
    assert_eq!(wrong.kind(), ErrorKind::Crypto);
    assert!(wrong.to_string().contains("not the one this store's personal data was sealed with"), "{wrong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_over_its_reject_limit_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let body = format!(
            "{HEADER}6001,Ivo,Pace,ivo@pace.it,,,,,,,,\n6002,Eva,Lupo,not-an-email,,,,,,,,\n6003,Ada,Sole,,12,,,,,,,\n"
        );
        let mut opts = options(tmp.path());
        opts.max_reject_rate = Some(0.5);
        let err = import_customers(&store, &file(tmp.path(), "r.csv", &body), &opts).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Input, "{}: {err}", db.label);
        assert!(err.to_string().contains("2 of 3 rows rejected"), "{err}");
        assert_eq!(
            store.view("6001").await.unwrap_err().kind(),
            ErrorKind::NotFound,
            "{}: nothing was stored",
            db.label
        );
        opts.max_reject_rate = Some(0.7);
        let s = import_customers(&store, &file(tmp.path(), "r.csv", &body), &opts).await.unwrap();
        assert_eq!(s.rows_imported, 1);
        assert!(store.view("6001").await.is_ok());
        store.close().await;
    }
}

fn profile(key: &str, segment: &str) -> unico_store::profiles::Profile {
    unico_store::profiles::Profile {
        customer_key: key.into(),
        as_of: "2025-09-30".into(),
        segment: segment.into(),
        r_score: 5,
        f_score: 4,
        m_score: 3,
        p_alive: 0.93,
        expected_purchases: 6.5,
        horizon_days: 90,
        clv_cents: 123_456,
        average_receipt_cents: 2_345,
        discount_share: 0.07,
        preferred_store_id: Some("S001".into()),
        preferred_channel: "store".into(),
        preferred_weekday: "saturday".into(),
        preferred_hour: 10,
        last_purchase_date: "2025-09-28".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_published_for_cardholders_replaced_whole_and_erased_with_the_customer() {
    use unico_store::profiles::DueItem;
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let body = format!(
            "{HEADER}5001,Ada,Bassi,ada.bassi@example.it,347 1112223,1980-01-02,Via Roma 1,20121,Milano,,yes,yes\n\
             5002,Bruno,Conti,bruno.conti@example.it,347 1112224,1975-03-04,Via Po 2,10121,Torino,,yes,no\n"
        );
        import_customers(&store, &file(tmp.path(), "p.csv", &body), &options(tmp.path())).await.unwrap();
        let pseudo = Pseudonymiser::new(&[3; SECRET_LEN]);
        let (ada, bruno) = (pseudo.key("5001").to_hex(), pseudo.key("5002").to_hex());
        let stranger = "0".repeat(32); // a key seen in the lake whose card is not in the master
        let due = |key: &str, sku: &str, date: &str| DueItem {
            customer_key: key.into(),
            sku: sku.into(),
            category: "Coffee".into(),
            purchase_days: 9,
            cycle_days: 12.5,
            next_due_date: date.into(),
        };
        let published = store
            .publish_profiles(
                &[profile(&ada, "champions"), profile(&bruno, "at_risk"), profile(&stranger, "new")],
                &[
                    due(&ada, "100002", "2025-10-09"),
                    due(&ada, "100001", "2025-10-02"),
                    due(&stranger, "1", "2025-10-01"),
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        assert_eq!((published.profiles, published.due_items, published.without_card), (2, 2, 1), "{}", db.label);
        let p = store.profiles_of("ada.bassi@example.it").await.unwrap();
        assert_eq!(p, vec![profile(&ada, "champions")], "{}: the profile reads back whole", db.label);
        let d = store.due_items_of("5001").await.unwrap();
        assert_eq!(d.iter().map(|d| d.sku.as_str()).collect::<Vec<_>>(), ["100001", "100002"], "soonest first");
        assert_eq!(d[0].cycle_days, 12.5);

        // A publication given up on (its reader failed) or dropped half-way changes nothing.
        let mut half = store.begin_publication().await.unwrap();
        half.add_profiles(&[profile(&bruno, "lost")]).await.unwrap();
        half.abort().await.unwrap();
        let mut dropped = store.begin_publication().await.unwrap();
        dropped.add_due_items(&[due(&bruno, "100003", "2025-10-03")]).await.unwrap();
        drop(dropped);
        assert_eq!(store.profiles_of("5001").await.unwrap(), vec![profile(&ada, "champions")], "{}", db.label);
        assert!(store.profiles_of("5002").await.unwrap()[0].segment == "at_risk", "{}", db.label);
        assert!(store.due_items_of("5002").await.unwrap().is_empty(), "{}", db.label);

        // A new build replaces the whole set.
        store.publish_profiles(&[profile(&bruno, "lost")], &[]).await.unwrap();
        assert!(store.profiles_of("5001").await.unwrap().is_empty());
        assert!(store.due_items_of("5001").await.unwrap().is_empty());
        assert_eq!(store.profiles_of("5002").await.unwrap()[0].segment, "lost");

        // Erasure deletes the profile, and a later build cannot bring it back.
        store.publish_profiles(&[profile(&ada, "champions")], &[due(&ada, "100001", "2025-10-02")]).await.unwrap();
        let id = store.erase("5001").await.unwrap();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let left: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT COUNT(*) FROM profiles WHERE customer_key = '{ada}') + (SELECT COUNT(*) FROM due_items WHERE customer_key = '{ada}')"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(left.0, 0, "{}: customer #{id}'s behaviour is erased", db.label);
        let again = store.publish_profiles(&[profile(&ada, "champions")], &[]).await.unwrap();
        assert_eq!((again.profiles, again.without_card), (0, 1), "{}", db.label);
        pool.close().await;
        store.close().await;
    }
}

#[tokio::test]
async fn campaigns_are_stored_once_read_by_card_and_erased_with_the_customer() {
    use unico_store::campaigns::{Campaign, Member, StoredOffer};
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let body = format!(
            "{HEADER}6001,Ada,Bassi,ada.bassi@example.it,347 1112223,1980-01-02,Via Roma 1,20121,Milano,,yes,yes\n\
             6002,Bruno,Conti,bruno.conti@example.it,347 1112224,1975-03-04,Via Po 2,10121,Torino,,yes,no\n"
        );
        import_customers(&store, &file(tmp.path(), "c.csv", &body), &options(tmp.path())).await.unwrap();
        let pseudo = Pseudonymiser::new(&[3; SECRET_LEN]);
        let (ada, bruno) = (pseudo.key("6001").to_hex(), pseudo.key("6002").to_hex());
        let offer = |code: &str, key: &str, rank: i64, sku: &str| StoredOffer {
            code: code.into(),
            customer_key: key.into(),
            rank,
            sku: sku.into(),
            kind: "due".into(),
            percent_off: 20,
            discount_cents: 90,
            valid_from: "2026-01-05".into(),
            valid_to: "2026-01-18".into(),
            p_redeem: 0.25,
            expected_cost_cents: 23,
            expected_incremental_margin_cents: 14,
            personal: true,
            reason: "buys coffee every 12 days; 20% off".into(),
            p0: 0.2,
            affinity: 0.6,
            band: 3,
            target: "product".into(),
            category: None,
            mechanic: "unit".into(),
            buy_units: 1,
            pay_units: 1,
            min_spend_cents: 0,
            budgets: "total".into(),
            max_times: 1,
        };
        let campaign = Campaign {
            id: "Jan 2026-01-05".into(),
            name: "Jan".into(),
            valid_from: "2026-01-05".into(),
            valid_to: "2026-01-18".into(),
            seed: 7,
            policy: "[campaign]".into(),
            summary: "{}".into(),
            directory: None,
            activation_required: false,
            stores: Vec::new(),
            min_margin: Some(0.05),
            budgets: vec![("total".into(), 100_000)],
        };
        // The second is a multi-buy on one item of a category: every field reads back.
        let offers = [
            StoredOffer {
                target: "category".into(),
                category: Some("Coffee".into()),
                mechanic: "multi_buy".into(),
                buy_units: 3,
                pay_units: 2,
                ..offer("AAAA-AAAA-AAA2", &ada, 2, "")
            },
            offer("AAAA-AAAA-AAA1", &ada, 1, "100001"),
        ];
        let members = [
            Member {
                customer_key: ada.clone(),
                status: "personal".into(),
                segment: "loyal".into(),
                store_id: Some("S1".into()),
                offer_type: "personal".into(),
            },
            Member {
                customer_key: bruno.clone(),
                status: "holdout".into(),
                segment: "loyal".into(),
                store_id: None,
                offer_type: "personal".into(),
            },
        ];
        store.store_campaign(&campaign, &offers, &members).await.unwrap_or_else(|e| panic!("{}: {e}", db.label));
        let err = store.store_campaign(&campaign, &offers, &members).await.unwrap_err();
        assert!(err.to_string().contains("already stored"), "{}: {err}", db.label);

        // A planned campaign reaches nobody until it is published.
        assert!(store.offers_of("ada.bassi@example.it", "2026-01-10").await.unwrap().is_empty(), "{}", db.label);
        let states = store.campaign_states().await.unwrap();
        assert_eq!((states[0].status.as_str(), states[0].offers), ("planned", 2));
        let stop = store.set_campaign_state("Jan 2026-01-05", false, "ana@example.com", None).await.unwrap_err();
        assert!(stop.to_string().contains("never published"), "{stop}");
        let published = store.set_campaign_state("Jan 2026-01-05", true, "ana@example.com", Some("10.0.0.1")).await;
        assert_eq!(published.unwrap().status, "published");
        let log = store.audit_log(1, None).await.unwrap();
        assert_eq!(
            (log[0].action.as_str(), log[0].actor.as_deref(), log[0].origin.as_deref()),
            ("publish_campaign", Some("ana@example.com"), Some("10.0.0.1")),
            "who published, from where"
        );

        // The app reads a customer's offers by card or e-mail, valid on the day, best first.
        let mine = store.offers_of("ada.bassi@example.it", "2026-01-10").await.unwrap();
        assert_eq!(mine.iter().map(|o| o.code.as_str()).collect::<Vec<_>>(), ["AAAA-AAAA-AAA1", "AAAA-AAAA-AAA2"]);
        assert_eq!(mine[0], offers[1], "{}: the offer reads back whole", db.label);
        assert_eq!(mine[1], offers[0], "{}: so does a category multi-buy", db.label);
        assert!(store.offers_of("6001", "2026-01-19").await.unwrap().is_empty(), "expired");
        assert!(store.offers_of("6002", "2026-01-10").await.unwrap().is_empty(), "the holdout has none");
        assert_eq!(store.offered_since("2025-12-08", "Feb 2026-02-01").await.unwrap().len(), 2, "for the cool-down");
        assert!(store.offered_since("2025-12-08", "Jan 2026-01-05").await.unwrap().is_empty(), "not its own");
        assert!(store.offered_since("2026-01-06", "Feb 2026-02-01").await.unwrap().is_empty(), "only since");
        // Stopped: no more offers, and never published again.
        store.set_campaign_state("Jan 2026-01-05", false, "ana@example.com", None).await.unwrap();
        assert!(store.offers_of("ada.bassi@example.it", "2026-01-10").await.unwrap().is_empty(), "stopped");
        let again = store.set_campaign_state("Jan 2026-01-05", true, "ana@example.com", None).await.unwrap_err();
        assert!(again.to_string().contains("was stopped"), "{again}");
        assert_eq!(
            store.campaign_members("Jan 2026-01-05").await.unwrap(),
            vec![("holdout".to_string(), 1), ("personal".to_string(), 1)]
        );

        // Ad audiences: the customers with offers, never the holdout — nor a customer with
        // offers by one card whose other card is in the holdout.
        let ids: std::collections::HashMap<String, i64> =
            store.cards().await.unwrap().into_iter().map(|(id, card, _)| (card, id)).collect();
        let (ada_id, bruno_id) = (ids["6001"], ids["6002"]);
        assert_eq!(store.audience_of_campaign("Jan 2026-01-05").await.unwrap(), vec![ada_id], "{}", db.label);
        let why = unico_store::dedupe::Candidate {
            a: ada_id,
            b: bruno_id,
            score: 1.0,
            evidence: unico_store::dedupe::Evidence {
                same_email: false,
                same_phone: false,
                same_tax_code: true,
                same_birth_date: false,
                name_similarity: 0.0,
                address_similarity: 0.0,
            },
        };
        unico_store::dedupe::merge(&store, ada_id, bruno_id, &why).await.unwrap();
        assert!(
            store.audience_of_campaign("Jan 2026-01-05").await.unwrap().is_empty(),
            "{}: one card held out",
            db.label
        );

        // Erasure deletes the customer's offers and membership.
        store.erase("6001").await.unwrap();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let left: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT COUNT(*) FROM offers WHERE customer_key = '{ada}') + (SELECT COUNT(*) FROM campaign_members WHERE customer_key = '{ada}')"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(left.0, 0, "{}: offers erased", db.label);
        pool.close().await;
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemptions_surveys_goals_and_the_outbox() {
    use unico_store::campaigns::{Campaign, Member, StoredOffer};
    use unico_store::kpis::{Goal, SurveyAnswer};
    let tmp = tempfile::tempdir().unwrap();
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let body = format!(
            "{HEADER}7001,Carla,Dini,carla.dini@example.it,347 1112225,1982-05-06,Via Roma 3,20121,Milano,,yes,yes\n"
        );
        import_customers(&store, &file(tmp.path(), "c.csv", &body), &options(tmp.path())).await.unwrap();
        let carla = Pseudonymiser::new(&[3; SECRET_LEN]).key("7001").to_hex();
        let campaign = Campaign {
            id: "Mar 2026-03-02".into(),
            name: "Mar".into(),
            valid_from: "2026-03-02".into(),
            valid_to: "2026-03-15".into(),
            seed: 1,
            policy: String::new(),
            summary: "{}".into(),
            directory: None,
            activation_required: false,
            stores: Vec::new(),
            min_margin: Some(0.05),
            budgets: vec![("total".into(), 100_000)],
        };
        let offer = StoredOffer {
            code: "BBBB-BBBB-BBB1".into(),
            customer_key: carla.clone(),
            rank: 1,
            sku: "100001".into(),
            kind: "due".into(),
            percent_off: 20,
            discount_cents: 90,
            valid_from: "2026-03-02".into(),
            valid_to: "2026-03-15".into(),
            p_redeem: 0.3,
            expected_cost_cents: 27,
            expected_incremental_margin_cents: 10,
            personal: true,
            reason: "r".into(),
            p0: 0.2,
            affinity: 0.5,
            band: 2,
            target: "product".into(),
            category: None,
            mechanic: "unit".into(),
            buy_units: 1,
            pay_units: 1,
            min_spend_cents: 0,
            budgets: "total".into(),
            max_times: 1,
        };
        let member = Member {
            customer_key: carla.clone(),
            status: "personal".into(),
            segment: "loyal".into(),
            store_id: Some("S1".into()),
            offer_type: "personal".into(),
        };
        store.store_campaign(&campaign, std::slice::from_ref(&offer), std::slice::from_ref(&member)).await.unwrap();
        assert_eq!(store.members_of("Mar 2026-03-02").await.unwrap()[0].offer_type, "personal");
        assert_eq!(store.campaigns_between("2026-03-10", "2026-04-01").await.unwrap().len(), 1);
        assert!(store.campaigns_between("2026-03-16", "2026-04-01").await.unwrap().is_empty());

        // Activated once; redeemed once even when two tills confirm at the same moment.
        assert!(store.activate_offer("BBBB-BBBB-BBB1", "2026-03-03T08:00:00Z").await.unwrap());
        assert!(!store.activate_offer("BBBB-BBBB-BBB1", "2026-03-03T09:00:00Z").await.unwrap());
        let tills: Vec<_> = (0..8)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move { s.redeem_offer("BBBB-BBBB-BBB1", "2026-03-04T10:00:00Z", 90 + i).await })
            })
            .collect();
        let mut won = 0;
        for t in tills {
            won += usize::from(t.await.unwrap().unwrap());
        }
        assert_eq!(won, 1, "{}: one till redeems the code, the others are refused", db.label);
        let (n, discount) = store.campaign_redemptions("Mar 2026-03-02").await.unwrap();
        assert_eq!(n, 1);
        assert!((90..98).contains(&discount));
        let events = store.offer_events("2026-03-01", "2026-03-04").await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].segment.as_deref(), Some("loyal"));
        assert!(events[0].redeemed_at.as_deref().is_some_and(|t| t.starts_with("2026-03-04")));

        // Survey answers: re-importing adds nothing; erasure unlinks them and drops the text.
        let answer = |id: &str, q: &str, score: i64, key: Option<&str>| SurveyAnswer {
            id: id.into(),
            answered_at: "2026-03-05T12:00:00Z".into(),
            answered_on: "2026-03-05".into(),
            question: q.into(),
            score,
            customer_key: key.map(String::from),
            store_id: Some("S1".into()),
            channel: Some("app".into()),
            comment: Some("the cashier was kind".into()),
        };
        let answers = [answer("a1", "csat", 5, Some(&carla)), answer("a2", "nps", 9, None)];
        assert_eq!(store.add_survey_answers(&answers).await.unwrap(), 2);
        assert_eq!(store.add_survey_answers(&answers).await.unwrap(), 0, "{}: no duplicates", db.label);
        assert_eq!(store.survey_answers("2026-03-05", "2026-03-05").await.unwrap(), answers.to_vec());

        // A goal's state change writes its alerts to the outbox once.
        let goal = Goal {
            id: 0,
            kpi: "loyalty_share".into(),
            target: 0.7,
            deadline: "2026-06-30".into(),
            scope_kind: "all".into(),
            scope_value: None,
            review: "daily".into(),
            notify: "mailto:crm@example.it".into(),
            state: None,
            checked_on: None,
        };
        let id = store.add_goal(&goal).await.unwrap();
        let alert = vec![("email".to_string(), "crm@example.it".to_string(), "at risk".to_string(), "…".to_string())];
        assert!(store.record_goal_state(id, "at_risk", "2026-03-05", &alert).await.unwrap());
        assert!(!store.record_goal_state(id, "at_risk", "2026-03-06", &alert).await.unwrap());
        assert_eq!(store.outbox(false).await.unwrap().len(), 1, "{}: one alert for one change", db.label);
        let stored = store.goals().await.unwrap();
        assert_eq!(
            (stored[0].state.as_deref(), stored[0].checked_on.as_deref()),
            (Some("at_risk"), Some("2026-03-06"))
        );

        store.erase("7001").await.unwrap();
        let left = store.survey_answers("2026-03-05", "2026-03-05").await.unwrap();
        assert_eq!(left.len(), 2, "the scores stay in the KPIs");
        assert!(left.iter().all(|a| a.customer_key.is_none() || a.customer_key.as_deref() != Some(carla.as_str())));
        assert!(
            left.iter().all(|a| a.id != "a1" || a.comment.is_none()),
            "{}: the erased customer's text is gone",
            db.label
        );
        store.close().await;
    }
}

/// PostgreSQL over TLS (`sslmode`, `sslrootcert` in `database_url`): with `verify-full` and the
/// server's root certificate the store opens and its connection is encrypted; a root that does
/// not vouch for the server is refused before anything is sent. `.ci/run` gives the local
/// server a self-signed certificate for localhost and names it in `UNICO_TEST_PG_ROOT_CERT`.
#[tokio::test]
async fn postgres_over_tls_checks_the_servers_certificate() {
    let root = std::env::var("UNICO_TEST_PG_ROOT_CERT");
    assert!(root.is_ok() || std::env::var_os("CI").is_none(), "CI must test PostgreSQL over TLS");
    let Ok(root) = root else { return };
    let dir = tempfile::tempdir().unwrap();
    let dbs = backends(dir.path()).await;
    let pg = dbs.iter().find(|d| d.label == "postgres").expect("the PostgreSQL test server");
    let verified = format!("{}?sslmode=verify-full&sslrootcert={root}", pg.url);
    Store::open(&verified, MasterKey::from_hex(MASTER).unwrap()).await.expect("the store opens over verified TLS");
    let pool = sqlx::AnyPool::connect(&verified).await.unwrap();
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetch_one(&pool).await.unwrap();
    assert!(ssl, "the connection is encrypted");
    pool.close().await;
    // A root that does not vouch for this server: the public CAs' bundle.
    let wrong = format!("{}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt", pg.url);
    if std::path::Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
        let refused = Store::open(&wrong, MasterKey::from_hex(MASTER).unwrap()).await.err().expect("refused");
        assert!(refused.to_string().to_lowercase().contains("certificate"), "{refused}");
    }
}

/// The simulator's customer file (people registered twice with typos, swapped names, old
/// addresses; `truth/duplicates.csv` lists them), split in two: nine in ten, and the rest.
fn simulated_customers(dir: &Path, people: u64) -> (PathBuf, PathBuf, Vec<(String, String)>) {
    let out = dir.join("chain");
    let config = unico_sim::ChainConfig { customers: people, days: 1, seed: 5, ..Default::default() };
    unico_sim::generate(&config, &out, &|_, _| {}).unwrap();
    let text = std::fs::read_to_string(out.join("customers.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    // Every tenth registration comes later (the simulator writes a person's cards together).
    let first: Vec<&str> = body.iter().enumerate().filter(|(i, _)| i % 10 != 9).map(|x| *x.1).collect();
    let second: Vec<&str> = body.iter().enumerate().filter(|(i, _)| i % 10 == 9).map(|x| *x.1).collect();
    let a = file(dir, "first.csv", &format!("{header}\n{}\n", first.join("\n")));
    let b = file(dir, "second.csv", &format!("{header}\n{}\n", second.join("\n")));
    let truth = std::fs::read_to_string(out.join("truth/duplicates.csv")).unwrap();
    let pairs = truth
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_string(), f[2].to_string())
        })
        .collect();
    (a, b, pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_found_block_by_block_in_the_database_are_todays_and_incremental_runs_miss_none() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second, truth) = simulated_customers(tmp.path(), 4000);
    assert!(truth.len() >= 50, "planted pairs: {}", truth.len());
    for db in backends(tmp.path()).await {
        let store = open(&db).await;
        let quiet = &mut |_: usize, _: &str| {};
        // The first part, compared in full (everything is new).
        import_customers(&store, &first, &options(tmp.path())).await.unwrap();
        let blocked = dedupe::candidates(&store, 0.5).await.unwrap();
        let in_memory = dedupe::candidates_in_memory(&store, 0.5).await.unwrap();
        assert!(blocked.len() > 30, "{}: {} pairs", db.label, blocked.len());
        assert_eq!(blocked, in_memory, "{}: the same pairs, scores and order as every key in memory", db.label);
        let (merged, run) = dedupe::merge_duplicates(&store, 0.9, false, quiet).await.unwrap();
        assert!(run.full && !merged.is_empty(), "{}: {run:?}", db.label);

        // The second part: only its registrations are compared with the rest.
        let s = import_customers(&store, &second, &options(tmp.path())).await.unwrap();
        let (more, run) = dedupe::merge_duplicates(&store, 0.9, false, quiet).await.unwrap();
        assert!(!run.full && run.pending == s.rows_imported, "{}: {run:?}", db.label);
        assert!(!more.is_empty(), "{}: people registered in both parts are found", db.label);
        let (_, idle) = dedupe::merge_duplicates(&store, 0.9, false, quiet).await.unwrap();
        assert_eq!((idle.pending, idle.scored), (0, 0), "{}: nothing new, nothing compared", db.label);
        // A full run on the result finds nothing the incremental one missed.
        let (missed, run) = dedupe::merge_duplicates(&store, 0.9, true, quiet).await.unwrap();
        assert!(run.full && missed.is_empty(), "{}: {missed:?}", db.label);
        assert_eq!(
            dedupe::candidates(&store, 0.5).await.unwrap(),
            dedupe::candidates_in_memory(&store, 0.5).await.unwrap()
        );

        // Against the planted truth: every pair registered twice is one customer.
        let mut found = 0;
        for (a, b) in &truth {
            found += usize::from(store.view(a).await.unwrap().id == store.view(b).await.unwrap().id);
        }
        assert!(found as f64 >= 0.99 * truth.len() as f64, "{}: recall {found} of {}", db.label, truth.len());

        // A changed registration is compared again: one card's registration comes back
        // with the personal data of another customer's.
        let rows = |p: &Path| -> Vec<String> {
            std::fs::read_to_string(p).unwrap().lines().skip(1).map(str::to_string).collect()
        };
        let (x, ys) = (rows(&first)[0].clone(), rows(&second));
        let card = |row: &str| row.split(',').next().unwrap().to_string();
        let x_id = store.view(&card(&x)).await.unwrap().id;
        let mut y = None;
        for row in &ys {
            if store.view(&card(row)).await.unwrap().id != x_id {
                y = Some(row.clone());
                break;
            }
        }
        let y = y.unwrap();
        let header = std::fs::read_to_string(&first).unwrap().lines().next().unwrap().to_string();
        let changed = format!("{header}\n{},{}\n", card(&x), y.split_once(',').unwrap().1);
        let s =
            import_customers(&store, &file(tmp.path(), "changed.csv", &changed), &options(tmp.path())).await.unwrap();
        assert_eq!(s.rows_updated, 1, "{}", db.label);
        let (last, run) = dedupe::merge_duplicates(&store, 0.9, false, quiet).await.unwrap();
        assert_eq!((run.full, run.pending, last.len()), (false, 1, 1), "{}: {run:?} {last:?}", db.label);
        assert_eq!(store.view(&card(&x)).await.unwrap().id, store.view(&card(&y)).await.unwrap().id, "{}", db.label);
        store.close().await;
    }
}
