//! Importing the promotion history: each of the five files validated row by row (rejects
//! with their line and reason), pseudonymised, idempotent on re-import, newest wins on an
//! overlapping export, and published whole or not at all.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use std::collections::BTreeMap;
use std::path::PathBuf;
use unico_core::{Pseudonymiser, SECRET_LEN};
use unico_lake::import::{ImportOptions, ImportSummary};
use unico_lake::{Dataset, Error, ErrorKind, Lake, Mapping, import_file, read};

struct Env {
    dir: tempfile::TempDir,
    lake: Lake,
}

fn pseudo() -> Pseudonymiser {
    Pseudonymiser::new(&[7; SECRET_LEN])
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake")).unwrap();
        Env { dir, lake }
    }

    fn import_mapped(
        &self,
        dataset: Dataset,
        name: &str,
        content: &str,
        mapping: &str,
    ) -> Result<ImportSummary, Error> {
        let path: PathBuf = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let progress = |_| {};
        let options = ImportOptions {
            mapping: Mapping::from_toml(mapping, dataset).unwrap(),
            chain_tz: jiff::tz::TimeZone::get("Europe/Rome").unwrap(),
            pseudonymiser: pseudo(),
            rejects_dir: self.dir.path().join("rejects"),
            max_reject_rate: None,
            plausible: jiff::civil::date(2000, 1, 1)..=jiff::civil::date(2030, 12, 31),
            progress: &progress,
        };
        import_file(&self.lake, dataset, &path, &options)
    }

    fn import(&self, dataset: Dataset, name: &str, content: &str) -> Result<ImportSummary, Error> {
        self.import_mapped(dataset, name, content, "")
    }

    /// Every row of a dataset, each column shown as text ("" for null).
    fn rows(&self, dataset: Dataset) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for f in self.lake.parquet_files(dataset).unwrap() {
            read::for_each_batch(&f, &[], |b| {
                for i in 0..b.num_rows() {
                    out.push(
                        (0..b.num_columns())
                            .map(|c| {
                                let a = b.column(c);
                                if a.is_null(i) {
                                    return String::new();
                                }
                                match a.data_type() {
                                    arrow_schema::DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
                                    arrow_schema::DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
                                    arrow_schema::DataType::Float64 => {
                                        a.as_primitive::<Float64Type>().value(i).to_string()
                                    }
                                    arrow_schema::DataType::Date32 => {
                                        unico_core::day::date_of(a.as_primitive::<Date32Type>().value(i)).to_string()
                                    }
                                    _ => jiff::Timestamp::from_microsecond(
                                        a.as_primitive::<TimestampMicrosecondType>().value(i),
                                    )
                                    .unwrap()
                                    .to_string(),
                                }
                            })
                            .collect(),
                    );
                }
                Ok(())
            })
            .unwrap();
        }
        out
    }

    fn rejects(&self, summary: &ImportSummary) -> Vec<(u64, String, String)> {
        let Some(path) = &summary.rejects_file else { return Vec::new() };
        csv::Reader::from_path(path)
            .unwrap()
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].parse().unwrap(), r[1].to_string(), r[3].to_string())
            })
            .collect()
    }
}

fn key(card: &str) -> String {
    pseudo().key(card).to_hex()
}

#[test]
fn each_history_file_imports_with_rejects_by_line_and_reason() {
    let env = Env::new();
    let s = env
        .import(
            Dataset::Campaigns,
            "campaigns.csv",
            "campaign_id,name,kind,start,end\n\
             C1,Spring,targeted,2025-03-01,2025-03-14\n\
             C2,Summer,mass,15/06/2025,30/06/2025\n\
             C3,Backwards,mass,2025-05-10,2025-05-01\n\
             ,No id,mass,2025-05-10,2025-05-11\n\
             C4,Bad date,mass,2025-13-01,2025-05-11\n\
             C1,Again,mass,2025-03-01,2025-03-14\n",
        )
        .unwrap();
    assert_eq!((s.rows_read, s.rows_imported, s.rows_rejected()), (6, 2, 4));
    assert_eq!(
        env.rejects(&s),
        [
            (4, "end".into(), "out_of_range".into()),
            (5, "campaign_id".into(), "missing_value".into()),
            (6, "start".into(), "bad_date".into()),
            (7, "campaign_id".into(), "duplicate_key".into()),
        ]
    );
    assert_eq!(
        env.rows(Dataset::Campaigns),
        [
            ["C1", "Spring", "targeted", "2025-03-01", "2025-03-14"],
            ["C2", "Summer", "mass", "2025-06-15", "2025-06-30"],
        ]
    );

    let s = env
        .import(
            Dataset::Coupons,
            "coupons.csv",
            "coupon_id,campaign_id,percent_off,amount_off,buy_units,pay_units,min_spend\n\
             K1,C1,20,,,,\n\
             K2,C1,12.5%,,,,\n\
             K3,C2,,1.50,,,10.00\n\
             K4,C2,,,3,2,\n\
             K5,C2,150,,,,\n\
             K6,C2,,,2,2,\n\
             K7,C2,,,3,,\n\
             K8,C9,10,,,,\n",
        )
        .unwrap();
    assert_eq!(
        env.rejects(&s),
        [
            (6, "percent_off".into(), "out_of_range".into()),
            (7, "pay_units".into(), "out_of_range".into()),
            (8, "buy_units".into(), "missing_value".into()),
        ]
    );
    assert_eq!(s.warnings, BTreeMap::from([("unknown_campaign".to_string(), 1)]), "K8 names a campaign not imported");
    let rows = env.rows(Dataset::Coupons);
    assert_eq!(rows[1], ["K2", "C1", "12.5", "", "", "", ""]);
    assert_eq!(rows[2], ["K3", "C2", "", "150", "", "", "1000"], "money in cents");
    assert_eq!(rows[3], ["K4", "C2", "", "", "3", "2", ""]);

    let s = env.import(Dataset::CouponProducts, "cp.csv", "coupon_id,sku\nK1,A\nK1,B\nK2,A\nK1,A\nK9,A\n").unwrap();
    assert_eq!(env.rejects(&s), [(5, "coupon_id".into(), "duplicate_key".into())]);
    assert_eq!(s.warnings, BTreeMap::from([("unknown_coupon".to_string(), 1)]));
    assert_eq!(env.rows(Dataset::CouponProducts).len(), 4);

    let s = env
        .import(
            Dataset::CampaignMembers,
            "members.csv",
            "campaign_id,customer_id\nC1,CARD-1\nC1,CARD-2\nC2,CARD-1\nC2,\n",
        )
        .unwrap();
    assert_eq!(env.rejects(&s), [(5, "customer_id".into(), "missing_value".into())]);
    let members = env.rows(Dataset::CampaignMembers);
    assert!(members.contains(&vec!["C1".to_string(), key("CARD-1")]), "cards become customer keys");
    let files: Vec<u8> = env
        .lake
        .parquet_files(Dataset::CampaignMembers)
        .unwrap()
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(!files.windows(6).any(|w| w == b"CARD-1"), "no card id in the lake");

    let s = env
        .import(
            Dataset::Redemptions,
            "redemptions.csv",
            "customer_id,coupon_id,campaign_id,ts,store_id,receipt_id,discount\n\
             CARD-1,K1,C1,2025-03-05 10:00:00,S1,R1,0.40\n\
             CARD-2,,C1,2025-03-06T08:00:00Z,,,\n\
             CARD-1,,,2025-03-07 10:00:00,S1,R3,0.40\n\
             CARD-1,K1,C1,yesterday,S1,R4,0.40\n\
             CARD-1,K1,C1,2025-03-05 10:00:00,S1,R1,0.40\n",
        )
        .unwrap();
    assert_eq!(
        env.rejects(&s),
        [
            (4, "coupon_id".into(), "missing_value".into()),
            (5, "ts".into(), "bad_timestamp".into()),
            (6, "customer_id".into(), "duplicate_key".into()),
        ]
    );
    let rows = env.rows(Dataset::Redemptions);
    let first = rows.iter().find(|r| r[4] == "R1").unwrap();
    assert_eq!(first[0], key("CARD-1"));
    assert_eq!(first[3], "2025-03-05T09:00:00Z", "a local time in the chain's zone, stored in UTC");
    assert_eq!(first[5], "2025-03-05");
    assert_eq!(first[7], "40");
}

#[test]
fn reimporting_adds_nothing_and_a_newer_export_wins() {
    let env = Env::new();
    let file = "campaign_id,name,kind,start,end\nC1,Spring,targeted,2025-03-01,2025-03-14\nC2,Summer,mass,2025-06-15,2025-06-30\n";
    let first = env.import(Dataset::Campaigns, "a.csv", file).unwrap();
    assert_eq!(first.rows_imported, 2);
    let again = env.import(Dataset::Campaigns, "a.csv", file).unwrap();
    assert_eq!((again.rows_imported, again.rows_already_in_lake, again.rows_updated), (0, 2, 0));
    let newer = env
        .import(
            Dataset::Campaigns,
            "b.csv",
            "campaign_id,name,kind,start,end\nC2,Summer sale,mass,2025-06-15,2025-06-30\nC3,Autumn,mass,2025-09-01,2025-09-14\n",
        )
        .unwrap();
    assert_eq!((newer.rows_imported, newer.rows_already_in_lake, newer.rows_updated), (1, 0, 1));
    let rows = env.rows(Dataset::Campaigns);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][1], "Summer sale");

    let coupons = "coupon_id,campaign_id,percent_off\nK1,C1,20\nK2,C1,30\n";
    env.import(Dataset::Coupons, "k.csv", coupons).unwrap();
    let again = env.import(Dataset::Coupons, "k.csv", coupons).unwrap();
    assert_eq!((again.rows_imported, again.rows_already_in_lake), (0, 2));
    let changed = env.import(Dataset::Coupons, "k2.csv", "coupon_id,campaign_id,percent_off\nK2,C1,35\n").unwrap();
    assert_eq!(changed.rows_updated, 1);
    assert_eq!(env.rows(Dataset::Coupons)[1][2], "35");
    let covered = "coupon_id,sku\nK1,A\nK1,B\n";
    env.import(Dataset::CouponProducts, "cp.csv", covered).unwrap();
    let again = env.import(Dataset::CouponProducts, "cp.csv", covered).unwrap();
    assert_eq!((again.rows_imported, again.rows_already_in_lake), (0, 2));
    assert_eq!(env.rows(Dataset::CouponProducts).len(), 2);

    let members = "campaign_id,customer_id\nC1,CARD-1\nC1,CARD-2\n";
    env.import(Dataset::CampaignMembers, "m.csv", members).unwrap();
    let again = env.import(Dataset::CampaignMembers, "m.csv", members).unwrap();
    assert_eq!((again.rows_imported, again.rows_already_in_lake), (0, 2));
    assert_eq!(env.rows(Dataset::CampaignMembers).len(), 2);
    let red = "customer_id,coupon_id,campaign_id,ts\nCARD-1,K1,C1,2025-03-05 10:00:00\n";
    env.import(Dataset::Redemptions, "r.csv", red).unwrap();
    let again = env.import(Dataset::Redemptions, "r.csv", red).unwrap();
    assert_eq!((again.rows_imported, again.rows_already_in_lake), (0, 1));
}

#[test]
fn a_mapping_renames_columns_and_a_refused_file_changes_nothing() {
    let env = Env::new();
    let s = env
        .import_mapped(
            Dataset::CampaignMembers,
            "m.csv",
            "promo;tessera\nC1;CARD-1\n",
            "[source]\ndelimiter = \";\"\n[columns]\ncampaign_id = \"promo\"\ncustomer_id = \"tessera\"\n",
        )
        .unwrap();
    assert_eq!(s.rows_imported, 1);
    let err = env.import(Dataset::CampaignMembers, "bad.csv", "campaign_id,customer_id\n,CARD-9\n").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnusableFile, "{err}");
    assert_eq!(env.rows(Dataset::CampaignMembers), [["C1".to_string(), key("CARD-1")]]);
    let err = env.import(Dataset::Campaigns, "c.csv", "campaign_id,name\nC1,x\n").unwrap_err();
    assert!(err.to_string().contains("required column start is missing"), "{err}");
}

#[test]
fn an_erased_customer_leaves_the_history_in_every_version() {
    let env = Env::new();
    env.import(Dataset::CampaignMembers, "m.csv", "campaign_id,customer_id\nC1,CARD-1\nC1,CARD-2\n").unwrap();
    env.import(Dataset::CampaignMembers, "m2.csv", "campaign_id,customer_id\nC2,CARD-1\n").unwrap();
    env.import(
        Dataset::Redemptions,
        "r.csv",
        "customer_id,coupon_id,campaign_id,ts\nCARD-1,K1,C1,2025-03-05 10:00:00\nCARD-2,K1,C1,2025-03-06 10:00:00\n",
    )
    .unwrap();
    let gone = key("CARD-1");
    let files_holding = |key: &str| {
        let mut n = 0;
        let mut stack = vec![env.dir.path().join("lake")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    n += usize::from(std::fs::read(&p).unwrap().windows(key.len()).any(|w| w == key.as_bytes()));
                }
            }
        }
        n
    };
    assert!(files_holding(&gone) >= 2, "the key is readable in the files before");
    let lock = env.lake.lock().unwrap();
    let keys = std::collections::HashSet::from([gone.clone()]);
    let f = unico_lake::forget::forget_in_lake(&env.lake, &lock, &keys, "erasure-1").unwrap();
    drop(lock);
    assert_eq!(f.history_rows, 3, "two memberships and a redemption");
    assert_eq!(env.rows(Dataset::CampaignMembers), [["C1".to_string(), key("CARD-2")]]);
    assert_eq!(env.rows(Dataset::Redemptions).len(), 1);
    assert_eq!(files_holding(&gone), 0, "no file of any version keeps the key");
    assert!(files_holding(&key("CARD-2")) >= 2);
}
