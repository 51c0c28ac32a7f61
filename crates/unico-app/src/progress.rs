//! How long work reports how far it is: the operation calls a [`Progress`] the edge
//! implements (a progress bar in the CLI, a job's progress in the server). Operations
//! never print.

/// What a step counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Bytes of an input file.
    Bytes,
    /// Receipt lines of the lake.
    Lines,
    /// Simulated people.
    People,
    /// Customers (a plan's).
    Customers,
    /// Files of the lake.
    Files,
    /// Passes over data whose number is not known before (a plan pricing its budgets).
    Passes,
    /// Rows of the model's files (profiles and habits on their way to the store).
    Rows,
}

/// The message of an import's last step, once its rows are checked: the new data is
/// being made visible at once.
pub const PUBLISHING: &str = "publishing";
/// The start of the message of an import step that checks a month for duplicates.
pub const DEDUPLICATING: &str = "checking month";
/// The message of an erasure once the store has forgotten the person, while their
/// history is cut from the lake, the model and the campaign files.
pub const ERASING_FILES: &str = "removing the history from the files";

/// Receives the progress of an operation. Called from the operation's threads, so it must
/// be cheap and must not block.
pub trait Progress: Sync {
    /// A new step begins: what it does, what it counts and how much there is (0 when not
    /// known yet).
    fn begin(&self, step: &str, unit: Unit, total: u64);
    /// How far the current step is (`total` may grow as the work finds more).
    fn update(&self, done: u64, total: u64);
    /// What the current step is doing now.
    fn message(&self, text: &str);
    /// The current step is over.
    fn finish(&self);
}

/// No progress shown (tests, nested operations).
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: Unit, _: u64) {}
    fn update(&self, _: u64, _: u64) {}
    fn message(&self, _: &str) {}
    fn finish(&self) {}
}
