//! The `unico` Python package and the Spark job, run from `cargo test`: pytest on
//! `crates/unico-py/tests` (the analyst's API against the published CDNOW fits, the passes on
//! sorted batches) and `spark/tests` (the Spark job in local mode, 1 and 4 partitions, finds
//! the profiles and habits `unico model build` finds on the same lake).
//!
//! Needs the package installed (`maturin build` then `pip install`, docs/scale-out.md),
//! pyspark, pytest and Java. `.ci/run` installs them and sets UNICO_PYTHON_TESTS=1, which
//! makes this test required; elsewhere it runs when they are there and says so when not.
//! UNICO_PYTHON names the interpreter (default `python3`).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_python_package_and_the_spark_job() {
    let python = std::env::var("UNICO_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var("UNICO_PYTHON_TESTS").is_ok_and(|v| v == "1");
    let ready = Command::new(&python)
        .args(["-c", "import unico, pyspark, pytest, pandas"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(!required, "UNICO_PYTHON_TESTS=1 but {python} cannot import unico, pyspark, pytest and pandas");
        eprintln!("skipped: {python} cannot import unico, pyspark, pytest and pandas (docs/scale-out.md)");
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "crates/unico-py/tests", "spark/tests"])
        .current_dir(&repo)
        .env("UNICO_BIN", env!("CARGO_BIN_EXE_unico"))
        .output()
        .expect("pytest runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest failed:\n{said}");
    assert!(!said.contains("skipped"), "a Python test was skipped:\n{said}");
    eprintln!("{said}");
}
