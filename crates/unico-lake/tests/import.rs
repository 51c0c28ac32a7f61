//! Behaviour of `import_file` that a retailer relies on: every mapping option, every
//! rejection reason with its exact line number, idempotent and overlapping re-imports,
//! encodings, and each input format.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use std::path::{Path, PathBuf};
use unico_core::{Pseudonymiser, SECRET_LEN};
use unico_lake::import::{ImportOptions, ImportSummary};
use unico_lake::{Dataset, Error, ErrorKind, Lake, Mapping, import_file, read};

struct Env {
    dir: tempfile::TempDir,
    lake: Lake,
}

#[derive(Debug, Clone, PartialEq)]
struct Line {
    receipt_id: String,
    line_no: i32,
    ts_us: i64,
    store_id: String,
    customer_key: Option<String>,
    sku: String,
    quantity: f64,
    unit_price_cents: Option<i64>,
    discount_cents: i64,
    net_amount_cents: i64,
    channel: String,
    source_line: i64,
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

    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn import_with(
        &self,
        dataset: Dataset,
        path: &Path,
        mapping: Mapping,
        max: Option<f64>,
    ) -> Result<ImportSummary, Error> {
        let progress = |_| {};
        let options = ImportOptions {
            mapping,
            chain_tz: jiff::tz::TimeZone::get("Europe/Rome").unwrap(),
            pseudonymiser: pseudo(),
            rejects_dir: self.dir.path().join("rejects"),
            max_reject_rate: max,
            plausible: jiff::civil::date(2000, 1, 1)..=jiff::civil::date(2030, 12, 31),
            progress: &progress,
        };
        import_file(&self.lake, dataset, path, &options)
    }

    fn import(&self, dataset: Dataset, name: &str, content: &str, mapping: &str) -> Result<ImportSummary, Error> {
        let path = self.file(name, content);
        let m = Mapping::from_toml(mapping, dataset).unwrap();
        self.import_with(dataset, &path, m, None)
    }

    fn lines(&self) -> Vec<Line> {
        let mut out = Vec::new();
        for f in self.lake.parquet_files(Dataset::Receipts).unwrap() {
            read::for_each_batch(&f, &[], |b| {
                for i in 0..b.num_rows() {
                    let s = |c: usize| b.column(c).as_string::<i32>().value(i).to_string();
                    let key = b.column(5).as_string::<i32>();
                    let price = b.column(8).as_primitive::<Int64Type>();
                    out.push(Line {
                        receipt_id: s(0),
                        line_no: b.column(1).as_primitive::<Int32Type>().value(i),
                        ts_us: b.column(2).as_primitive::<TimestampMicrosecondType>().value(i),
                        store_id: s(4),
                        customer_key: key.is_valid(i).then(|| key.value(i).to_string()),
                        sku: s(6),
                        quantity: b.column(7).as_primitive::<Float64Type>().value(i),
                        unit_price_cents: price.is_valid(i).then(|| price.value(i)),
                        discount_cents: b.column(9).as_primitive::<Int64Type>().value(i),
                        net_amount_cents: b.column(10).as_primitive::<Int64Type>().value(i),
                        channel: s(11),
                        source_line: b.column(12).as_primitive::<Int64Type>().value(i),
                    });
                }
                Ok(())
            })
            .unwrap();
        }
        out.sort_by(|a, b| (&a.receipt_id, a.line_no).cmp(&(&b.receipt_id, b.line_no)));
        out
    }

    /// The rejects file as (line, column, code) triples plus the full rows.
    fn rejects(&self, summary: &ImportSummary) -> Vec<(u64, String, String, String)> {
        let Some(path) = &summary.rejects_file else { return Vec::new() };
        let mut r = csv::Reader::from_path(path).unwrap();
        let headers = r.headers().unwrap().clone();
        assert_eq!(headers.iter().collect::<Vec<_>>(), ["line", "column", "value", "code", "reason", "record"]);
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[0].parse().unwrap(), rec[1].to_string(), rec[3].to_string(), rec[2].to_string())
            })
            .collect()
    }
}

fn ts(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

const CANONICAL: &str = "\
receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel
R1,1,2025-03-01 10:00:00,S1,CARD-1,A,2,1.50,0.00,3.00,store
R1,2,2025-03-01 10:00:00,S1,CARD-1,B,1,4.99,1.00,3.99,store
R2,1,2025-03-02T09:30:00Z,S2,,A,0.350,10.00,,3.50,ecommerce
";

#[test]
fn canonical_csv_imports_without_a_mapping() {
    let env = Env::new();
    let s = env.import(Dataset::Receipts, "r.csv", CANONICAL, "").unwrap();
    assert_eq!((s.rows_read, s.rows_imported, s.rows_rejected()), (3, 3, 0));
    assert_eq!(s.months, vec!["2025-03"]);
    let lines = env.lines();
    let card = pseudo().key("CARD-1").to_hex();
    assert_eq!(
        lines[0],
        Line {
            receipt_id: "R1".into(),
            line_no: 1,
            ts_us: ts("2025-03-01T09:00:00Z"), // Rome is UTC+1 in March
            store_id: "S1".into(),
            customer_key: Some(card.clone()),
            sku: "A".into(),
            quantity: 2.0,
            unit_price_cents: Some(150),
            discount_cents: 0,
            net_amount_cents: 300,
            channel: "store".into(),
            source_line: 2,
        }
    );
    assert_eq!(lines[1].discount_cents, 100);
    assert_eq!(lines[2].customer_key, None, "a purchase without a card keeps an empty key");
    assert_eq!(lines[2].quantity, 0.35);
    assert_eq!(lines[2].discount_cents, 0, "an empty discount is zero");
    assert_eq!(lines[2].channel, "ecommerce");
    assert_eq!(lines[2].ts_us, ts("2025-03-02T09:30:00Z"));
    // The card number itself is nowhere in the lake.
    for f in env.lake.parquet_files(Dataset::Receipts).unwrap() {
        let bytes = std::fs::read(f).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"CARD-1"));
    }
}

#[test]
fn the_italian_mapping_with_windows_1252_decimal_commas_and_local_times() {
    let env = Env::new();
    let mut body = b"SCONTRINO;DATA_ORA;PDV;CARTA;COD_ART;DESCR;QTA;IMPORTO\r\n".to_vec();
    body.extend_from_slice(b"1001;31/03/2025 01:30;PDV01;0042;CAF;Caff\xe8 \x80 espresso;1;1.234,56\r\n");
    body.extend_from_slice(b"1001;31/03/2025 01:30;PDV01;0042;ZUC;Zucchero;2,5;-0,99\r\n");
    let path = env.file("it.csv", body);
    let mapping = Mapping::from_toml(
        r#"
        [source]
        format = "csv"
        delimiter = ";"
        decimal = ","
        thousands = "."
        encoding = "windows-1252"
        timestamp_format = "%d/%m/%Y %H:%M"
        timezone = "Europe/Rome"
        [columns]
        receipt_id = "SCONTRINO"
        ts = "DATA_ORA"
        store_id = "PDV"
        customer_id = "CARTA"
        sku = "COD_ART"
        quantity = "QTA"
        net_amount = "IMPORTO"
        "#,
        Dataset::Receipts,
    )
    .unwrap();
    let s = env.import_with(Dataset::Receipts, &path, mapping, None).unwrap();
    assert_eq!((s.rows_imported, s.rows_rejected()), (2, 0));
    let lines = env.lines();
    assert_eq!(lines[0].net_amount_cents, 123456);
    assert_eq!(lines[1].net_amount_cents, -99);
    assert_eq!(lines[1].quantity, 2.5);
    // No line numbers in the source: numbered by position within the receipt.
    assert_eq!((lines[0].line_no, lines[1].line_no), (1, 2));
    // Summer time began on 30 March 2025: 01:30 in Rome on the 31st is 23:30 UTC on the 30th,
    // and the line still belongs to the chain's day of 31 March.
    assert_eq!(lines[0].ts_us, ts("2025-03-30T23:30:00Z"));
    assert_eq!(s.months, vec!["2025-03"]);
    assert_eq!(lines[0].customer_key.as_deref(), Some(pseudo().key("0042").to_hex().as_str()));
}

#[test]
fn headerless_files_map_columns_by_position_and_custom_quotes() {
    let env = Env::new();
    let s = env
        .import(
            Dataset::Receipts,
            "pos.txt",
            "X9|'2025-01-05 12:00:00'|S1|'SKU|1'|7.25\n",
            r#"
            [source]
            format = "csv"
            header = false
            delimiter = "|"
            quote = "'"
            [columns]
            receipt_id = 1
            ts = 2
            store_id = 3
            sku = 4
            net_amount = 5
            "#,
        )
        .unwrap();
    assert_eq!(s.rows_imported, 1);
    let l = &env.lines()[0];
    assert_eq!((l.sku.as_str(), l.net_amount_cents, l.source_line), ("SKU|1", 725, 1));
}

#[test]
fn iso_8859_1_decodes_every_byte() {
    let env = Env::new();
    let mut body = b"receipt_id,ts,store_id,sku,net_amount\n".to_vec();
    body.extend_from_slice(b"R1,2025-01-05 12:00:00,Citt\xe0,A\x80,1\n");
    let path = env.file("l1.csv", body);
    let m = Mapping::from_toml("[source]\nencoding = \"ISO-8859-1\"", Dataset::Receipts).unwrap();
    env.import_with(Dataset::Receipts, &path, m, None).unwrap();
    let l = &env.lines()[0];
    assert_eq!(l.store_id, "Città");
    assert_eq!(l.sku, "A\u{80}");
}

#[test]
fn every_rejection_reason_with_its_exact_line() {
    let env = Env::new();
    // Line numbers are physical lines: the quoted field on line 3 spans two lines.
    let mut body =
        b"receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel\n".to_vec();
    body.extend_from_slice(b"R1,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store\n"); // 2 ok
    body.extend_from_slice(b"R1,2,2025-02-01 10:00:00,S1,C1,\"multi\nline\",1,1.00,0,1.00,store\n"); // 3-4 ok
    body.extend_from_slice(b",1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store\n"); // 5 missing receipt_id
    body.extend_from_slice(b"R3,1,01/02/2025,S1,C1,A,1,1.00,0,1.00,store\n"); // 6 bad timestamp
    body.extend_from_slice(b"R4,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1,00,store\n"); // 7 wrong field count
    body.extend_from_slice(b"R5,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,abc,store\n"); // 8 bad amount
    body.extend_from_slice(b"R6,1,2025-02-01 10:00:00,S1,C1,A,two,1.00,0,1.00,store\n"); // 9 bad quantity
    body.extend_from_slice(b"R7,x,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store\n"); // 10 bad line_no
    body.extend_from_slice(b"R8,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,fax\n"); // 11 bad channel
    body.extend_from_slice(b"R9,1,2025-02-01 10:00:00,S1,C1,Caff\xe8,1,1.00,0,1.00,store\n"); // 12 bad UTF-8
    body.extend_from_slice(b"R1,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store\n"); // 13 duplicate of line 2
    body.extend_from_slice(b"R10,1,2025-02-01 10:00:00,,C1,A,1,1.00,0,1.00,store\n"); // 14 missing store
    body.extend_from_slice(b"R11,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,,store\n"); // 15 missing net amount
    body.extend_from_slice(b"R12,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,2.00,store\n"); // 16 ok
    let path = env.file("bad.csv", body);
    let s = env.import_with(Dataset::Receipts, &path, Mapping::default(), None).unwrap();
    assert_eq!(s.rows_read, 14);
    assert_eq!(s.rows_imported, 3);
    let got: Vec<(u64, String, String)> = env.rejects(&s).into_iter().map(|(l, c, code, _)| (l, c, code)).collect();
    let want: Vec<(u64, &str, &str)> = vec![
        (5, "receipt_id", "missing_value"),
        (6, "ts", "bad_timestamp"),
        (7, "", "malformed_record"),
        (8, "net_amount", "bad_amount"),
        (9, "quantity", "bad_quantity"),
        (10, "line_no", "bad_number"),
        (11, "channel", "bad_channel"),
        (12, "sku", "bad_encoding"),
        (14, "store_id", "missing_value"),
        (15, "net_amount", "missing_value"),
        (13, "receipt_id+line_no", "duplicate_line"),
    ];
    let want: Vec<(u64, String, String)> =
        want.into_iter().map(|(l, c, r)| (l, c.to_string(), r.to_string())).collect();
    assert_eq!(got, want);
    assert_eq!(s.rejected["missing_value"], 3);
    assert_eq!(s.rows_rejected(), 11);
    // The rejects file keeps the record itself, so nothing is lost.
    let rows = env.rejects(&s);
    let path = s.rejects_file.as_ref().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("R5,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,abc,store"), "{text}");
    assert!(text.contains("byte 0xE8 at position 5 is not valid UTF-8"), "{text}");
    assert!(text.contains("same receipt_id and line_no as line 2"), "{text}");
    assert_eq!(rows[1].3, "01/02/2025");
}

/// The same file with Windows line ends reports the same physical lines (the csv crate
/// counted a CRLF's '\n' in the next record: every line was one too small).
#[test]
fn rejected_lines_are_physical_lines_with_crlf_and_lf_line_ends() {
    let mut body =
        b"receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel\n".to_vec();
    for i in 0..39 {
        body.extend_from_slice(format!("R{i},1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store\n").as_bytes());
    }
    // Line 41 opens a quoted field that ends on line 42; line 43 is bad; line 45 too, after
    // a blank line.
    body.extend_from_slice(b"R40,1,2025-02-01 10:00:00,S1,C1,\"two\nlines\",1,1.00,0,1.00,store\n");
    body.extend_from_slice(b"R41,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,abc,store\n");
    body.extend_from_slice(b"\n");
    body.extend_from_slice(b"R42,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,fax\n");
    body.extend_from_slice(b"\"R43\",1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,\"store\"\n");
    let crlf: Vec<u8> = String::from_utf8(body.clone()).unwrap().replace('\n', "\r\n").into_bytes();
    for (name, bytes) in [("lf.csv", body), ("crlf.csv", crlf)] {
        let env = Env::new();
        let path = env.file(name, bytes);
        let s = env.import_with(Dataset::Receipts, &path, Mapping::default(), None).unwrap();
        let got: Vec<(u64, String)> = env.rejects(&s).into_iter().map(|(l, _, code, _)| (l, code)).collect();
        assert_eq!(got, vec![(43, "bad_amount".to_string()), (45, "bad_channel".to_string())], "{name}");
        assert_eq!(s.rows_imported, 41, "{name}");
        let lines = env.lines();
        let quoted = lines.iter().find(|l| l.receipt_id == "R40").unwrap();
        assert_eq!(quoted.sku, if name == "lf.csv" { "two\nlines" } else { "two\r\nlines" }, "{name}");
        assert_eq!(quoted.source_line, 41, "{name}");
        let last = lines.iter().find(|l| l.receipt_id == "R43").unwrap();
        assert_eq!((last.channel.as_str(), last.source_line), ("store", 46), "{name}: no '\\r' left on the last field");
    }
}

/// A rejected row of a Windows-1252 file is written as the text it was, decoded with the
/// declared encoding, so it can be fixed and imported again.
#[test]
fn a_rejected_row_keeps_its_characters_in_the_declared_encoding() {
    let env = Env::new();
    let mut body =
        b"receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel\r\n".to_vec();
    body.extend_from_slice(b"R1,1,2025-02-01 10:00:00,S1,C1,P\xe2t\xe9,1,1.00,0,abc,store\r\n");
    body.extend_from_slice(b"R2,1,2025-02-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store\r\n");
    let path = env.file("w1252.csv", body);
    let mapping = Mapping::from_toml("[source]\nencoding = \"windows-1252\"\n", Dataset::Receipts).unwrap();
    let s = env.import_with(Dataset::Receipts, &path, mapping, None).unwrap();
    let mut r = csv::Reader::from_path(s.rejects_file.as_ref().unwrap()).unwrap();
    let rec = r.records().next().unwrap().unwrap();
    assert_eq!(&rec[0], "2");
    assert_eq!(&rec[5], "R1,1,2025-02-01 10:00:00,S1,C1,Pâté,1,1.00,0,abc,store");
}

/// A quote never closed would swallow the rest of the file into one rejected row: the
/// file is refused, naming the line where the quote opens, and nothing is imported.
#[test]
fn a_quote_that_swallows_the_rest_of_the_file_refuses_the_file() {
    let env = Env::new();
    let mut body = String::from(
        "receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel\n",
    );
    for i in 0..3000 {
        let sku = if i == 1000 { "\"A" } else { "A" };
        body.push_str(&format!("R{i},1,2025-02-01 10:00:00,S1,C1,{sku},1,1.00,0,1.00,store\n"));
    }
    let path = env.file("stray.csv", body);
    let e = env.import_with(Dataset::Receipts, &path, Mapping::default(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnusableFile, "{e}");
    assert!(e.to_string().contains("line 1002") && e.to_string().contains("never closed"), "{e}");
    assert!(env.lines().is_empty(), "nothing imported");
}

/// A file without line ends (a binary file, `/dev/zero`) is refused after a bounded read,
/// as CSV and as JSON Lines.
#[test]
fn a_file_without_line_ends_is_refused_in_bounded_memory() {
    let env = Env::new();
    let blob = vec![0u8; (unico_lake::source::MAX_LINE_BYTES + (1 << 20)) as usize];
    for name in ["zeros.csv", "zeros.jsonl"] {
        let path = env.file(name, &blob);
        let e = env.import_with(Dataset::Receipts, &path, Mapping::default(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnusableFile, "{name}: {e}");
        assert!(e.to_string().contains("without a line end"), "{name}: {e}");
    }
}

/// What used to pass unseen: a quantity finer than a thousandth, a discount above the
/// price, a header naming a column twice.
#[test]
fn values_that_would_be_changed_or_misread_are_rejected_or_flagged() {
    let env = Env::new();
    let header = "receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel\n";
    let body = format!(
        "{header}R1,1,2025-02-01 10:00:00,S1,C1,A,1.0001,1.00,0,1.00,store\nR2,1,2025-02-01 10:00:00,S1,C1,A,2,1.00,5.00,-3.00,store\nR3,1,2025-02-01 10:00:00,S1,C1,A,0.350,10.00,0,3.50,store\n"
    );
    let path = env.file("fine.csv", body);
    let s = env.import_with(Dataset::Receipts, &path, Mapping::default(), None).unwrap();
    let rejects = env.rejects(&s);
    assert_eq!(rejects.len(), 1);
    assert_eq!((rejects[0].0, rejects[0].2.as_str()), (2, "bad_quantity"));
    assert_eq!(s.warnings.get("discount_over_price"), Some(&1));
    assert_eq!(s.rows_imported, 2);

    let twice =
        env.file("twice.csv", "receipt_id,ts,store_id,sku,net_amount,sku\nR1,2025-02-01 10:00:00,S1,A,1.00,B\n");
    let e = env.import_with(Dataset::Receipts, &twice, Mapping::default(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnusableFile);
    assert!(e.to_string().contains("\"sku\" twice (columns 4 and 6)"), "{e}");
}

/// Times no clock shows are refused; dates no till plausibly printed are kept and counted.
#[test]
fn impossible_times_are_rejected_and_implausible_dates_flagged() {
    let env = Env::new();
    let header = "receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel\n";
    let rows = [
        "R1,1,2025-02-01T10:00:00+25:00,S1,C1,A,1,1.00,0,1.00,store",
        "R2,1,2025-02-01T10:00:00+01:00[Mars/Base],S1,C1,A,1,1.00,0,1.00,store",
        "R3,1,2025-02-01T10:00:00+01:00[Europe/Rome],S1,C1,A,1,1.00,0,1.00,store",
        "R4,1,2205-03-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store",
        "R5,1,0000-01-01 10:00:00,S1,C1,A,1,1.00,0,1.00,store",
        "R6,1,2025-02-01T10:00:00-14:00,S1,C1,A,1,1.00,0,1.00,store",
    ];
    let path = env.file("times.csv", format!("{header}{}\n", rows.join("\n")));
    let s = env.import_with(Dataset::Receipts, &path, Mapping::default(), None).unwrap();
    let rejected: Vec<(u64, String)> = env.rejects(&s).into_iter().map(|(l, _, code, _)| (l, code)).collect();
    assert_eq!(rejected, vec![(2, "bad_timestamp".to_string()), (3, "bad_timestamp".to_string())]);
    assert_eq!(s.rows_imported, 4);
    assert_eq!(s.warnings.get("implausible_date"), Some(&2), "{:?}", s.warnings);
}

/// A reader's pinned view keeps the version it began with while an import publishes a
/// new one: a model build never mixes two versions of the lake.
#[test]
fn a_pinned_view_reads_one_version_while_a_writer_publishes_another() {
    let env = Env::new();
    env.import(Dataset::Receipts, "a.csv", CANONICAL, "").unwrap();
    let view = env.lake.pinned();
    let before: Vec<PathBuf> = view.parquet_files(Dataset::Receipts).unwrap();
    let more = format!("{CANONICAL}R3,1,2025-04-01 08:00:00,S1,CARD-2,C,1,2.00,0,2.00,app\n");
    env.import(Dataset::Receipts, "b.csv", &more, "").unwrap();
    assert_eq!(view.parquet_files(Dataset::Receipts).unwrap(), before, "the view did not move");
    assert_ne!(env.lake.parquet_files(Dataset::Receipts).unwrap(), before, "the lake did");
    let rows: usize = before
        .iter()
        .map(|f| {
            let mut n = 0;
            read::for_each_batch(f, &["receipt_id"], |b| {
                n += b.num_rows();
                Ok(())
            })
            .unwrap();
            n
        })
        .sum();
    assert_eq!(rows, 3, "the pinned version is still whole on disk");
}

#[test]
fn reimporting_the_same_or_an_overlapping_file_adds_nothing_twice() {
    let env = Env::new();
    let first = env.import(Dataset::Receipts, "a.csv", CANONICAL, "").unwrap();
    assert_eq!(first.rows_imported, 3);
    let again = env.import(Dataset::Receipts, "a.csv", CANONICAL, "").unwrap();
    assert_eq!((again.rows_imported, again.rows_already_in_lake, again.rows_rejected()), (0, 3, 0));
    let overlap = format!("{CANONICAL}R3,1,2025-04-01 08:00:00,S1,CARD-2,C,1,2.00,0,2.00,app\n");
    let third = env.import(Dataset::Receipts, "b.csv", &overlap, "").unwrap();
    assert_eq!((third.rows_imported, third.rows_already_in_lake), (1, 3));
    assert_eq!(third.months, vec!["2025-04"]);
    let lines = env.lines();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines.iter().filter(|l| l.receipt_id == "R1").count(), 2);
}

#[test]
fn a_file_the_mapping_cannot_read_is_refused_and_the_lake_stays_as_it_was() {
    let env = Env::new();
    env.import(Dataset::Receipts, "a.csv", CANONICAL, "").unwrap();
    let before = env.lines();

    let e = env.import(Dataset::Receipts, "empty.csv", "", "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnusableFile);
    assert!(e.to_string().contains("is empty"));

    let e = env.import(Dataset::Receipts, "m.csv", CANONICAL, "[columns]\nnet_amount = \"IMPORTO\"").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnusableFile);
    assert!(e.to_string().contains("reads net_amount from column \"IMPORTO\", which the file does not have"), "{e}");

    let e = env.import(Dataset::Receipts, "n.csv", "receipt_id,ts,store_id,sku\nR1,2025-01-01,S1,A\n", "").unwrap_err();
    assert!(e.to_string().contains("required column net_amount is missing"), "{e}");

    // A header that is not UTF-8: the encoding is wrong beyond repair.
    let path = env.file("enc.csv", b"receipt_id,ts,store_id,sku,net_\xe0mount\nR1,2025-01-01,S1,A,1\n");
    let e = env.import_with(Dataset::Receipts, &path, Mapping::default(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnusableFile);
    assert!(e.to_string().contains("declare the file's encoding"), "{e}");

    // Every row rejected.
    let e = env
        .import(Dataset::Receipts, "all.csv", "receipt_id,ts,store_id,sku,net_amount\nR1,never,S1,A,1\n", "")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnusableFile);

    assert_eq!(env.lines(), before);
}

#[test]
fn too_many_rejects_publish_nothing() {
    let env = Env::new();
    let body = "receipt_id,ts,store_id,sku,net_amount\nR1,2025-01-01,S1,A,1\nR2,bad,S1,A,1\nR3,2025-01-01,S1,A,x\n";
    let path = env.file("r.csv", body);
    let e = env.import_with(Dataset::Receipts, &path, Mapping::default(), Some(0.5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyRejects);
    assert!(e.to_string().contains("2 of 3 rows rejected"), "{e}");
    assert!(env.lines().is_empty());
    assert!(env.lake.current_version(Dataset::Receipts).is_none());
    // Within the limit it imports.
    let s = env.import_with(Dataset::Receipts, &path, Mapping::default(), Some(0.7)).unwrap();
    assert_eq!(s.rows_imported, 1);
}

#[test]
fn unknown_stores_and_products_are_kept_with_a_warning() {
    let env = Env::new();
    env.import(Dataset::Stores, "s.csv", "store_id,name,region,format\nS1,Milano 1,Lombardia,supermarket\n", "")
        .unwrap();
    env.import(
        Dataset::Products,
        "p.csv",
        "sku,name,category,unit_cost,list_price,durable\nA,Caffè,Coffee,2.10,3.49,no\n",
        "",
    )
    .unwrap();
    let s = env.import(Dataset::Receipts, "r.csv", CANONICAL, "").unwrap();
    assert_eq!(s.rows_imported, 3);
    assert_eq!(s.warnings.get("unknown_store"), Some(&1)); // S2
    assert_eq!(s.warnings.get("unknown_product"), Some(&1)); // B
}

#[test]
fn master_data_upserts_by_key_and_rejects_repeats_within_a_file() {
    let env = Env::new();
    let s = env
        .import(
            Dataset::Products,
            "p1.csv",
            "sku,name,unit_cost,list_price,durable\nA,Coffee,2.10,3.49,no\nB,Kettle,10,19.90,yes\nA,Coffee 2,1,1,no\n",
            "",
        )
        .unwrap();
    assert_eq!((s.rows_imported, s.rows_rejected()), (2, 1));
    assert_eq!(env.rejects(&s)[0].0, 4);
    assert_eq!(env.rejects(&s)[0].2, "duplicate_key");
    let s = env
        .import(
            Dataset::Products,
            "p2.csv",
            "sku,name,unit_cost,list_price,durable\nA,Coffee,2.10,3.59,no\nB,Kettle,10,19.90,yes\nC,Tea,1,2,\n",
            "",
        )
        .unwrap();
    assert_eq!((s.rows_imported, s.rows_updated, s.rows_already_in_lake), (1, 1, 1));
    let skus = read::string_column_set(&env.lake, Dataset::Products, "sku").unwrap();
    assert_eq!(skus.len(), 3);
    let bad = env.import(Dataset::Products, "p3.csv", "sku,durable,list_price\nD,perhaps,1\nE,yes,1\n", "").unwrap();
    assert_eq!(env.rejects(&bad)[0].2, "bad_flag");
}

#[test]
fn json_lines_with_numbers_and_nested_values() {
    let env = Env::new();
    let body = concat!(
        r#"{"receipt_id":"J1","line_no":1,"ts":"2025-05-01T10:00:00+02:00","store_id":"S1","customer_id":"C9","sku":"A","quantity":1,"net_amount":0.145}"#,
        "\n",
        r#"{"receipt_id":"J1","line_no":2,"ts":"2025-05-01T10:00:00+02:00","store_id":"S1","customer_id":null,"sku":{"x":1},"quantity":1,"net_amount":2}"#,
        "\n",
        "not json\n",
        r#"{"receipt_id":"J2","line_no":1,"ts":"2025-05-02","store_id":"S1","customer_id":"","sku":"B","quantity":3,"net_amount":12}"#,
        "\n",
        // A key twice: which value is meant is unclear, so the row is refused, not read as the last.
        r#"{"receipt_id":"J3","line_no":1,"ts":"2025-05-02","store_id":"S1","sku":"B","net_amount":12,"net_amount":1200}"#,
        "\n"
    );
    let s = env.import(Dataset::Receipts, "r.jsonl", body, "").unwrap();
    assert_eq!((s.rows_read, s.rows_imported), (5, 2));
    let codes: Vec<(u64, String)> = env.rejects(&s).into_iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(
        codes,
        vec![(2, "bad_encoding".to_string()), (3, "malformed_record".to_string()), (5, "malformed_record".to_string())]
    );
    let lines = env.lines();
    assert_eq!(lines[0].net_amount_cents, 15, "0.145 rounds by its decimal text");
    assert_eq!(lines[0].ts_us, ts("2025-05-01T08:00:00Z"));
    assert_eq!(lines[1].net_amount_cents, 1200);
}

#[test]
fn parquet_from_another_tool_with_floats_decimals_and_timestamps() {
    use arrow_array::{Decimal128Array, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let env = Env::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("SCONTRINO", DataType::Utf8, false),
        Field::new("QUANDO", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("PDV", DataType::Utf8, false),
        Field::new("ART", DataType::Utf8, false),
        Field::new("IMPORTO", DataType::Float64, true),
        Field::new("SCONTO", DataType::Decimal128(10, 3), true),
    ]));
    // 2025-07-01 08:00 wall clock (no zone) = 06:00Z in Rome's summer.
    let wall = ts("2025-07-01T08:00:00Z") / 1000;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["P1", "P2", "P3"])),
            Arc::new(TimestampMillisecondArray::from(vec![wall, wall, wall])),
            Arc::new(StringArray::from(vec!["S1", "S1", "S1"])),
            Arc::new(StringArray::from(vec!["A", "B", "C"])),
            Arc::new(Float64Array::from(vec![Some(2.675), Some(19.99), None])),
            Arc::new(Decimal128Array::from(vec![Some(125), Some(-5), None]).with_precision_and_scale(10, 3).unwrap()),
        ],
    )
    .unwrap();
    let path = env.dir.path().join("in.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let m = Mapping::from_toml(
        "[columns]\nreceipt_id=\"SCONTRINO\"\nts=\"QUANDO\"\nstore_id=\"PDV\"\nsku=\"ART\"\nnet_amount=\"IMPORTO\"\ndiscount=\"SCONTO\"",
        Dataset::Receipts,
    )
    .unwrap();
    let s = env.import_with(Dataset::Receipts, &path, m, None).unwrap();
    assert_eq!((s.rows_imported, s.rows_rejected()), (2, 1));
    assert_eq!(env.rejects(&s)[0].0, 3);
    let lines = env.lines();
    assert_eq!((lines[0].net_amount_cents, lines[0].discount_cents), (268, 13));
    assert_eq!((lines[1].net_amount_cents, lines[1].discount_cents), (1999, -1));
    assert_eq!(lines[0].ts_us, ts("2025-07-01T06:00:00Z"));
}

#[test]
fn large_files_are_split_across_workers_without_losing_order_or_receipts() {
    // More rows than one chunk, no line numbers: receipts must never be split between chunks,
    // and rejects must come out in line order.
    let env = Env::new();
    let mut body = String::from("receipt_id,ts,store_id,sku,net_amount\n");
    let mut expected_rejects = Vec::new();
    for r in 0..12_000u64 {
        for l in 0..4 {
            let line = 2 + r * 4 + l;
            if r % 1000 == 7 && l == 2 {
                body.push_str(&format!("R{r},2025-06-01 10:00:00,S1,A{l},oops\n"));
                expected_rejects.push(line);
            } else {
                body.push_str(&format!("R{r},2025-06-{:02} 10:00:00,S1,A{l},1.00\n", 1 + r % 28));
            }
        }
    }
    let s = env.import(Dataset::Receipts, "big.csv", &body, "").unwrap();
    assert_eq!(s.rows_read, 48_000);
    assert_eq!(s.rows_imported, 48_000 - 12);
    let lines: Vec<u64> = env.rejects(&s).into_iter().map(|r| r.0).collect();
    assert_eq!(lines, expected_rejects);
    // Every receipt numbered 1..=4 by position (one line rejected leaves a gap, not a restart).
    let all = env.lines();
    let r7: Vec<i32> = all.iter().filter(|l| l.receipt_id == "R7").map(|l| l.line_no).collect();
    assert_eq!(r7, vec![1, 2, 4]);
    assert!(all.iter().all(|l| (1..=4).contains(&l.line_no)));
    // Re-import: everything is already there.
    let again = env.import(Dataset::Receipts, "big.csv", &body, "").unwrap();
    assert_eq!((again.rows_imported, again.rows_already_in_lake), (0, 48_000 - 12));
}

#[test]
fn a_file_not_sorted_by_time_is_compacted_and_deduplicated_across_parts() {
    // 40 months in round-robin order and enough rows that each worker must close parts
    // (more months than it keeps open) and pass 2 must merge them; duplicates placed far
    // apart land in different parts.
    let env = Env::new();
    let months = 40usize;
    let receipts = 150_000usize;
    let mut body = String::with_capacity(receipts * 4 * 48);
    body.push_str("receipt_id,line_no,ts,store_id,sku,net_amount\n");
    for r in 0..receipts {
        let m = r % months;
        let (y, mo) = (2022 + m / 12, 1 + m % 12);
        for l in 1..=4 {
            body.push_str(&format!("R{r},{l},{y}-{mo:02}-15 10:00:00,S1,A,1.00\n"));
        }
    }
    // Three repeats of early lines at the very end.
    body.push_str(
        "R0,1,2022-01-15 10:00:00,S1,A,1.00\nR1,2,2022-02-15 10:00:00,S1,A,1.00\nR40,3,2022-01-15 10:00:00,S1,A,1.00\n",
    );
    let s = env.import(Dataset::Receipts, "shuffled.csv", &body, "").unwrap();
    assert_eq!(s.rows_read as usize, receipts * 4 + 3);
    assert_eq!(s.rows_imported as usize, receipts * 4);
    let dups: Vec<(u64, String)> = env.rejects(&s).into_iter().map(|r| (r.0, r.2)).collect();
    let last = (receipts * 4 + 1) as u64;
    assert_eq!(
        dups,
        vec![
            (last + 1, "duplicate_line".to_string()),
            (last + 2, "duplicate_line".to_string()),
            (last + 3, "duplicate_line".to_string())
        ]
    );
    // At most one part per worker and month; months a worker had to reopen were merged.
    let files = env.lake.parquet_files(Dataset::Receipts).unwrap();
    let mut per_month = std::collections::BTreeMap::<String, usize>::new();
    for f in &files {
        *per_month.entry(f.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned()).or_default() += 1;
    }
    assert_eq!(per_month.len(), months);
    assert!(per_month.values().all(|n| *n <= 2), "{per_month:?}");
    let merged = files
        .iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy() == format!("part-{}.parquet", s.import_id))
        .count();
    assert!(merged > 0, "some month was merged: {files:?}");
    let again = env.import(Dataset::Receipts, "shuffled.csv", &body, "").unwrap();
    assert_eq!(again.rows_imported, 0);
    assert_eq!(again.rows_already_in_lake as usize, receipts * 4 + 3);
}
