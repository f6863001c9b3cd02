//! Eval files (`evals/<name>.eval.yaml`): an experiment written down, kept in the bundle beside
//! the prompts and run in CI.
//!
//! ```yaml
//! name: support-quality
//! prompts:                      # each prompt reference × each model is a column
//!   - support-reply@production
//!   - support-reply@3
//!   - {prompt: support-reply, version: 4, model: gpt-4o, params: {temperature: 0}}
//! models: [gpt-4o-mini]         # default: each prompt's own model
//! dataset: support-tickets      # or {name: support-tickets, version: 2}, or `rows:` inline
//! assert:
//!   - type: contains
//!     value: "{{customer_name}}"
//!     gate: pass_rate >= 0.9
//!   - type: judge
//!     rubric: Apologises once and gives a next step.
//! gates: ["pass_rate >= 0.8"]   # on the share of rows passing every check
//! judge_model: gpt-4o-mini
//! repeats: 1
//! tools:                        # simulated tool results: tool-using prompts run to an answer
//!   results:
//!     get_weather: {template: '{"city": "{{city}}", "temp_c": 21}'}
//!     lookup_order: {from_variable: order}
//!   max_steps: 4
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::EvalError;
use super::assertions::AssertionSpec;
use super::experiment::{ColumnSpec, DatasetRef, ExperimentSpec};
use crate::datasets::Row;
use crate::error::{Error, Result};
use crate::store::Store;

/// The file name suffix of eval files.
pub const EXTENSION: &str = ".eval.yaml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PromptEntry {
    /// `slug`, `slug@12`, `slug@label`.
    Reference(String),
    Column {
        prompt: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        params: Map<String, Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DatasetEntry {
    Name(String),
    Version { name: String, version: i64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub prompts: Vec<PromptEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Value>,
    #[serde(default, rename = "assert", skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<AssertionSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<u32>,
    /// The baseline column (1-based, as people count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<crate::tools::simulate::ToolSimulation>,
}

impl EvalFile {
    /// Parses an eval file's text; `file` names it in errors (with the line of a YAML error).
    pub fn parse(text: &str, file: &str) -> Result<EvalFile> {
        serde_norway::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}", l.line()))
                .unwrap_or_default();
            Error::Eval(EvalError::File {
                file: format!("{file}{at}"),
                reason: e.to_string(),
            })
        })
    }

    pub fn read(path: &Path) -> Result<EvalFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("could not read {}", path.display()), e))?;
        let mut file = EvalFile::parse(&text, &path.display().to_string())?;
        if file.name.is_none() {
            file.name = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(EXTENSION))
                .map(str::to_owned);
        }
        Ok(file)
    }

    /// The columns: each prompt entry × each model (an entry naming its model is one column).
    pub fn columns(&self) -> Vec<ColumnSpec> {
        let mut out = Vec::new();
        for p in &self.prompts {
            let (base, fixed_model) = match p {
                PromptEntry::Reference(r) => (ColumnSpec::parse_reference(r), None),
                PromptEntry::Column {
                    prompt,
                    version,
                    model,
                    params,
                } => (
                    ColumnSpec {
                        prompt: prompt.clone(),
                        version: version.as_ref().map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        }),
                        model: None,
                        params: params.clone(),
                    },
                    model.clone(),
                ),
            };
            match (fixed_model, self.models.is_empty()) {
                (Some(m), _) => out.push(ColumnSpec {
                    model: Some(m),
                    ..base
                }),
                (None, true) => out.push(base),
                (None, false) => {
                    for m in &self.models {
                        out.push(ColumnSpec {
                            model: Some(m.clone()),
                            ..base.clone()
                        });
                    }
                }
            }
        }
        out
    }

    /// The experiment this file describes, with its dataset read from the library.
    pub fn to_spec(&self, store: &Store) -> Result<ExperimentSpec> {
        let (rows, dataset) = match &self.dataset {
            Some(d) => {
                let (name, version) = match d {
                    DatasetEntry::Name(n) => (n.as_str(), None),
                    DatasetEntry::Version { name, version } => (name.as_str(), Some(*version)),
                };
                let v = store.get_dataset(name, version)?;
                (
                    v.rows,
                    Some(DatasetRef {
                        name: v.name,
                        version: v.version,
                    }),
                )
            }
            None => {
                let mut rows = Vec::new();
                for (i, r) in self.rows.iter().enumerate() {
                    rows.push(crate::datasets::row_from_json(r.clone()).map_err(|e| {
                        Error::Eval(EvalError::File {
                            file: self.name.clone().unwrap_or_else(|| "eval".into()),
                            reason: format!("row {}: {e}", i + 1),
                        })
                    })?);
                }
                (rows, None)
            }
        };
        Ok(ExperimentSpec {
            name: self.name.clone().unwrap_or_else(|| "eval".into()),
            columns: self.columns(),
            rows,
            dataset,
            assertions: self.assertions.clone(),
            gates: self.gates.clone(),
            repeats: self.repeats.unwrap_or(1),
            baseline: self.baseline.unwrap_or(1).saturating_sub(1),
            judge_model: self.judge_model.clone(),
            seed: self.seed.unwrap_or(1),
            per_provider_concurrency: self.concurrency.unwrap_or(8),
            metadata: self.metadata.clone(),
            tools: self.tools.clone().unwrap_or_default(),
            ..Default::default()
        })
    }

    /// The file as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }
}

/// Rows given inline in an eval file, as dataset rows.
pub fn inline_rows(file: &EvalFile) -> std::result::Result<Vec<Row>, String> {
    file.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            crate::datasets::row_from_json(r.clone()).map_err(|e| format!("row {}: {e}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_files_expand_prompts_times_models_and_name_bad_lines() {
        let f = EvalFile::parse(
            r#"
name: demo
prompts:
  - summarize@production
  - summarize:2
  - {prompt: summarize, version: 3, model: gpt-4o, params: {temperature: 0}}
models: [demo/fast, demo/small]
rows:
  - {text: "a"}
assert:
  - type: contains
    value: "-"
    gate: pass_rate >= 0.9
repeats: 2
"#,
            "demo.eval.yaml",
        )
        .unwrap();
        let cols = f.columns();
        assert_eq!(cols.len(), 5);
        assert_eq!(cols[0].version.as_deref(), Some("production"));
        assert_eq!(cols[1].model.as_deref(), Some("demo/small"));
        assert_eq!(cols[2].version.as_deref(), Some("2"));
        assert_eq!(
            (cols[4].version.as_deref(), cols[4].model.as_deref()),
            (Some("3"), Some("gpt-4o"))
        );
        assert_eq!(inline_rows(&f).unwrap()[0].vars["text"], "a");
        let e = EvalFile::parse("prompts: [a]\nasserts: []\n", "x.eval.yaml").unwrap_err();
        assert!(e.to_string().starts_with("x.eval.yaml:2:"), "{e}");
        assert!(e.to_string().contains("asserts"), "{e}");
    }
}
