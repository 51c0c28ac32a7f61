//! Progress bars: the CLI's [`Progress`], drawn on standard error by indicatif.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use unico_app::progress::{self, Progress, Unit};

/// A progress bar per step of an operation; messages outside a step go to standard error.
#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    /// What the current step counts.
    unit: Mutex<Option<Unit>>,
    crash: Option<CrashPoint>,
}

impl Bars {
    /// Bars, with the crash-safety tests' hook when `UNICO_TEST_CRASH_AT` asks for it.
    pub fn new() -> Bars {
        Bars { bar: Mutex::new(None), unit: Mutex::new(None), crash: CrashPoint::from_env() }
    }

    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            f(bar);
        }
    }
}

impl Progress for Bars {
    fn begin(&self, step: &str, unit: Unit, total: u64) {
        let template = template(unit);
        *self.unit.lock().unwrap_or_else(|p| p.into_inner()) = Some(unit);
        let bar = ProgressBar::new(total).with_message(step.to_string());
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        if let Some(old) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).replace(bar) {
            old.finish_and_clear();
        }
    }

    fn update(&self, done: u64, total: u64) {
        if let Some(c) = &self.crash
            && c.0 == Stage::Reading
            && done > 0
            && *self.unit.lock().unwrap_or_else(|p| p.into_inner()) == Some(Unit::Bytes)
        {
            // Test hook (UNICO_TEST_CRASH_AT): die like a killed process, mid-import.
            std::process::abort();
        }
        self.with(|bar| {
            bar.set_length(total);
            bar.set_position(done);
        });
    }

    fn message(&self, text: &str) {
        if let Some(c) = &self.crash {
            let stage = if text == progress::PUBLISHING {
                Some(Stage::Publishing)
            } else if text.starts_with(progress::DEDUPLICATING) {
                Some(Stage::Deduplicating)
            } else if text == progress::ERASING_FILES {
                Some(Stage::Erasing)
            } else {
                None
            };
            if stage == Some(c.0) {
                std::process::abort();
            }
        }
        let mut shown = false;
        self.with(|bar| {
            bar.set_message(text.to_string());
            shown = true;
        });
        if !shown {
            eprintln!("{text}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Reading,
    Deduplicating,
    Publishing,
    Erasing,
}

/// Where `UNICO_TEST_CRASH_AT` asks the process to abort: `reading`, `deduplicating`,
/// `publishing` or `erasing` (for the crash-safety tests; never set in production).
struct CrashPoint(Stage);

impl CrashPoint {
    fn from_env() -> Option<CrashPoint> {
        match std::env::var("UNICO_TEST_CRASH_AT").ok()?.as_str() {
            "reading" => Some(CrashPoint(Stage::Reading)),
            "deduplicating" => Some(CrashPoint(Stage::Deduplicating)),
            "publishing" => Some(CrashPoint(Stage::Publishing)),
            "erasing" => Some(CrashPoint(Stage::Erasing)),
            _ => None,
        }
    }
}

/// The bar's look for each unit: counts with thousands separators, rates in whole units a
/// second ("4,280,761/s", not "4280760.6314/s").
fn template(unit: Unit) -> &'static str {
    match unit {
        Unit::Bytes => "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        Unit::Lines => "{msg} [{bar:40}] {human_pos}/{human_len} lines ({per_sec:0}, {eta})",
        Unit::People => "{msg} [{bar:40}] {human_pos}/{human_len} people ({per_sec:0}, {eta})",
        Unit::Customers => "{msg} [{bar:40}] {human_pos}/{human_len} customers ({per_sec:0}, {eta})",
        Unit::Files => "{msg} [{bar:40}] {pos}/{len} files ({eta})",
        Unit::Passes => "{msg}: {pos} passes ({elapsed})",
        Unit::Rows => "{msg} [{bar:40}] {human_pos}/{human_len} rows ({per_sec:0}, {eta})",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_has_a_valid_template_with_whole_rates() {
        for unit in [Unit::Bytes, Unit::Lines, Unit::People, Unit::Customers, Unit::Files, Unit::Passes, Unit::Rows] {
            let t = template(unit);
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
            assert!(!t.contains("{per_sec}"), "{t}: a rate with four decimals");
        }
    }
}
