//! Evaluations: say what a good answer is, and measure it across prompt versions × models ×
//! dataset rows. [`assertions`] are the checks (deterministic ones in-process, model-graded ones
//! in [`judge`]); [`experiment`] plans, runs and summarises a matrix; [`stats`] and [`summary`] give the
//! intervals and the plain-words comparison; [`file`] reads eval files (`evals/<name>.eval.yaml`)
//! and [`report`] writes summaries and JUnit XML.

pub mod assertions;
pub mod experiment;
pub mod file;
pub mod gate;
pub mod judge;
pub mod report;
pub mod stats;
pub mod summary;

pub use experiment::{Experiment, ExperimentSpec};

/// Why an evaluation cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Everything wrong with a run, found before anything was called.
    #[error(
        "the evaluation was not run; fix {}:\n  {}",
        if .0.len() == 1 { "this" } else { "these" },
        .0.join("\n  ")
    )]
    Invalid(Vec<String>),
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("no experiment '{0}' (see `portolan eval list`)")]
    ExperimentNotFound(String),
    #[error("no eval named '{0}' in the library or as a file")]
    EvalNotFound(String),
}
