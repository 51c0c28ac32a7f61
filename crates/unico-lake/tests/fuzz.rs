//! No input reaches a panic: random bytes shaped like CSV and JSON Lines exports (quotes,
//! separators, line ends of every kind, digits, dates, non-UTF-8 bytes) and random mapping
//! files go through the import, which answers with an import or an error, never a panic.
//! Bounded (256 cases each) so it runs in every `cargo test`.

use proptest::prelude::*;
use unico_core::{Pseudonymiser, SECRET_LEN};
use unico_lake::import::ImportOptions;
use unico_lake::{Dataset, Lake, Mapping, import_file};

fn import(bytes: &[u8], name: &str, mapping: Mapping) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake")).unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let progress = |_| {};
    let options = ImportOptions {
        mapping,
        chain_tz: jiff::tz::TimeZone::get("Europe/Rome").unwrap(),
        pseudonymiser: Pseudonymiser::new(&[3; SECRET_LEN]),
        rejects_dir: dir.path().join("rejects"),
        max_reject_rate: None,
        plausible: jiff::civil::date(2000, 1, 1)..=jiff::civil::date(2030, 1, 1),
        progress: &progress,
    };
    for dataset in [Dataset::Receipts, Dataset::Products] {
        let _ = import_file(&lake, dataset, &path, &options);
    }
}

/// Pieces an export is made of, glued at random.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(
            b"receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel\n"
                .to_vec()
        ),
        Just(b"sku,name,category,list_price,unit_cost\n".to_vec()),
        Just(b",".to_vec()),
        Just(b";".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"2025-02-01 10:00:00".to_vec()),
        Just(b"2025-02-01T10:00:00+25:00".to_vec()),
        Just(b"9999-12-31T23:59:59Z".to_vec()),
        Just(b"1,50".to_vec()),
        Just(b"-0.001".to_vec()),
        Just(b"99999999999999999999".to_vec()),
        Just(b"\xff\xfe\xe8".to_vec()),
        Just(b"{\"sku\":".to_vec()),
        Just(b"}".to_vec()),
        Just(b"store".to_vec()),
        "[A-Za-z0-9 ._:-]{0,12}".prop_map(|s| s.into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn csv_and_json_lines_never_panic(pieces in prop::collection::vec(piece(), 0..60)) {
        let bytes: Vec<u8> = pieces.concat();
        import(&bytes, "f.csv", Mapping::default());
        import(&bytes, "f.jsonl", Mapping::default());
    }

    #[test]
    fn mappings_never_panic(text in "(\\[source\\]|\\[columns\\]|delimiter|decimal|encoding|quote|header|timestamp_format|source_timezone|sku|ts| = |\"|[;,.%a-zA-Z0-9]|\n){0,40}") {
        if let Ok(m) = Mapping::from_toml(&text, Dataset::Receipts) {
            import(b"receipt_id,ts,store_id,sku,net_amount\nR1,2025-02-01 10:00:00,S1,A,1.00\n", "m.csv", m);
        }
    }
}
