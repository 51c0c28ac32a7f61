//! Helpers shared by the command's integration tests.
#![allow(dead_code)]

use arrow_array::cast::AsArray;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the command on a data directory.
pub fn unico(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unico")).arg("--data").arg(data).args(args).output().expect("unico runs")
}

/// The standard output of a run that must succeed.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_symlink() {
            // `lake/receipt_lines` and `model/current` point into the version folders.
            continue;
        }
        if p.is_dir() { files_below(&p, out) } else { out.push(p) }
    }
}

/// Rows per value of `customer_key` (None: without a card) in every Parquet file below
/// `dir` that has the column, whatever version folder it is in.
pub fn keys_below(dir: &Path) -> HashMap<Option<String>, u64> {
    let mut files = Vec::new();
    files_below(dir, &mut files);
    let mut out = HashMap::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "parquet")) {
        let file = std::fs::File::open(f).unwrap();
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let Ok(i) = builder.schema().index_of("customer_key") else { continue };
        for batch in builder.build().unwrap() {
            for k in batch.unwrap().column(i).as_string::<i32>() {
                *out.entry(k.map(str::to_string)).or_default() += 1;
            }
        }
    }
    out
}
