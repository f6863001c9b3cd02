//! Datasets: named, versioned tables of rows to evaluate prompts on. A row has variables (any
//! JSON), an optional expected output (the reference an evaluator compares with), tags, and
//! optionally assertions of its own (promptfoo's per-test `assert`). Versions are immutable, as
//! prompt versions are; saving identical rows is not a new version.
//!
//! Rows come from JSONL (one row per line: `{"vars": {…}, "expected": …, "tags": […]}`, or a flat
//! object whose other fields are the variables), CSV (the header names the variables; `expected`
//! and `tags` columns are recognised, `__expected` columns are promptfoo assertions), promptfoo's
//! `tests:` YAML (`vars`, `assert`, `description`), by hand, or from the call log (calls made
//! through a prompt keep the variables that rendered them). Every error names the line (or test)
//! it is about, and nothing is stored when one row is wrong.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One row of a dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Row {
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// The reference answer (text, or any JSON), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Assertions for this row only, in the eval file's assertion syntax.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assert: Vec<Value>,
    /// A label for reports (promptfoo's `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Row {
    /// The expected output as text (JSON other than a string is written as JSON).
    pub fn expected_text(&self) -> Option<String> {
        self.expected.as_ref().map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// Why rows could not be read, with where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasetError {
    #[error("{file}:{line}: {reason}")]
    At {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("{file} holds no rows")]
    Empty { file: String },
    #[error("dataset '{0}' does not exist")]
    NotFound(String),
    #[error("dataset '{name}' has no version {version} (latest is {latest})")]
    VersionNotFound {
        name: String,
        version: i64,
        latest: i64,
    },
    #[error("a dataset named '{0}' already exists (use `datasets add` for a new version)")]
    Duplicate(String),
    #[error("cannot tell the format of {0}: name it .jsonl, .csv or .yaml (promptfoo tests)")]
    UnknownFormat(String),
}

/// The formats rows are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    /// promptfoo's config or tests file.
    PromptfooYaml,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, DatasetError> {
        let name = path.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
            Ok(Format::Jsonl)
        } else if name.ends_with(".csv") {
            Ok(Format::Csv)
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            Ok(Format::PromptfooYaml)
        } else {
            Err(DatasetError::UnknownFormat(path.display().to_string()))
        }
    }
}

/// Reads rows from a file, in the format its name says.
pub fn read_file(path: &Path) -> Result<Vec<Row>, crate::error::Error> {
    let format = Format::of(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::error::Error::io(format!("could not read {}", path.display()), e))?;
    Ok(parse(&text, format, &path.display().to_string())?)
}

/// Rows from text in `format`; `file` names it in errors.
pub fn parse(text: &str, format: Format, file: &str) -> Result<Vec<Row>, DatasetError> {
    let rows = match format {
        Format::Jsonl => parse_jsonl(text, file)?,
        Format::Csv => parse_csv(text, file)?,
        Format::PromptfooYaml => parse_promptfoo(text, file)?,
    };
    if rows.is_empty() {
        return Err(DatasetError::Empty { file: file.into() });
    }
    Ok(rows)
}

/// A JSON object as a row: structured (`vars`, `expected`, `tags`, `assert`) or flat (every
/// other field a variable).
pub fn row_from_json(value: Value) -> Result<Row, String> {
    let Value::Object(mut o) = value else {
        return Err("a row must be a JSON object".into());
    };
    let expected = o.remove("expected").filter(|v| !v.is_null());
    let tags = match o.remove("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .into_iter()
            .map(|t| match t {
                Value::String(s) => Ok(s),
                other => Err(format!("tags must be strings, not {other}")),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => split_tags(&s),
        Some(other) => return Err(format!("`tags` must be a list of strings, not {other}")),
    };
    let assert = match o.remove("assert") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(format!("`assert` must be a list, not {other}")),
    };
    let description = match o.remove("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(format!("`description` must be text, not {other}")),
    };
    let vars = match o.remove("vars") {
        Some(Value::Object(vars)) => {
            if let Some(k) = o.keys().next() {
                return Err(format!(
                    "unknown field '{k}' beside `vars` (a row has vars, expected, tags, assert, description)"
                ));
            }
            vars
        }
        Some(Value::Null) => Map::new(),
        Some(other) => return Err(format!("`vars` must be an object, not {other}")),
        // A flat row: what is left are the variables.
        None => o,
    };
    Ok(Row {
        vars,
        expected,
        tags,
        assert,
        description,
    })
}

fn split_tags(s: &str) -> Vec<String> {
    s.split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_jsonl(text: &str, file: &str) -> Result<Vec<Row>, DatasetError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |reason: String| DatasetError::At {
            file: file.into(),
            line: i + 1,
            reason,
        };
        let value: Value =
            serde_json::from_str(line).map_err(|e| at(format!("not valid JSON: {e}")))?;
        rows.push(row_from_json(value).map_err(at)?);
    }
    Ok(rows)
}

fn parse_csv(text: &str, file: &str) -> Result<Vec<Row>, DatasetError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| DatasetError::At {
            file: file.into(),
            line: 1,
            reason: e.to_string(),
        })?
        .iter()
        .map(str::to_owned)
        .collect();
    if headers.iter().any(String::is_empty) {
        return Err(DatasetError::At {
            file: file.into(),
            line: 1,
            reason: "every column needs a name in the header".into(),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            let reason = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!(
                    "this row has {len} fields but the header has {expected_len} (quote values that contain commas)"
                ),
                _ => e.to_string(),
            };
            DatasetError::At {
                file: file.into(),
                line,
                reason,
            }
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let mut row = Row::default();
        for (name, value) in headers.iter().zip(record.iter()) {
            match name.as_str() {
                "expected" => {
                    if !value.is_empty() {
                        row.expected = Some(Value::String(value.to_owned()))
                    }
                }
                "tags" => row.tags = split_tags(value),
                "description" => {
                    if !value.is_empty() {
                        row.description = Some(value.to_owned())
                    }
                }
                n if n.starts_with("__expected") => {
                    if !value.trim().is_empty() {
                        row.assert
                            .push(promptfoo_csv_assertion(value).map_err(|reason| {
                                DatasetError::At {
                                    file: file.into(),
                                    line,
                                    reason,
                                }
                            })?);
                    }
                }
                _ => {
                    row.vars
                        .insert(name.clone(), Value::String(value.to_owned()));
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A promptfoo CSV assertion cell (`contains: Paris`, `regex:^\d+$`, `is-json`, or plain text,
/// which promptfoo reads as `equals`).
fn promptfoo_csv_assertion(cell: &str) -> Result<Value, String> {
    let cell = cell.trim();
    let (kind, value) = match cell.split_once(':') {
        Some((k, v)) if is_assertion_name(k.trim()) => (k.trim(), Some(v.trim())),
        _ if is_assertion_name(cell) => (cell, None),
        _ => ("equals", Some(cell)),
    };
    let mut a = Map::new();
    a.insert("type".into(), Value::String(kind.to_owned()));
    if let Some(v) = value {
        a.insert("value".into(), Value::String(v.to_owned()));
    }
    Ok(Value::Object(a))
}

fn is_assertion_name(s: &str) -> bool {
    let s = s.strip_prefix("not-").unwrap_or(s);
    crate::evals::assertions::KINDS.contains(&s)
}

/// promptfoo's tests: a config with `tests:` (a list), or the list alone. Each test has `vars`,
/// `assert` and `description`; file references (`file://…`) are refused by name.
fn parse_promptfoo(text: &str, file: &str) -> Result<Vec<Row>, DatasetError> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        DatasetError::At {
            file: file.into(),
            line,
            reason: format!("not valid YAML: {e}"),
        }
    })?;
    let tests = match doc {
        Value::Array(list) => list,
        Value::Object(mut o) => match o.remove("tests") {
            Some(Value::Array(list)) => list,
            Some(Value::String(s)) => {
                return Err(DatasetError::File {
                    file: file.into(),
                    reason: format!("`tests: {s}` points at another file; import that file itself"),
                });
            }
            _ => {
                return Err(DatasetError::File {
                    file: file.into(),
                    reason: "no `tests:` list (promptfoo's tests, each with `vars` and `assert`)"
                        .into(),
                });
            }
        },
        _ => {
            return Err(DatasetError::File {
                file: file.into(),
                reason: "expected promptfoo's `tests:` list".into(),
            });
        }
    };
    let mut rows = Vec::new();
    for (i, test) in tests.into_iter().enumerate() {
        let at = |reason: String| DatasetError::File {
            file: file.into(),
            reason: format!("test {}: {reason}", i + 1),
        };
        if let Value::String(s) = &test {
            return Err(at(format!(
                "'{s}' refers to a file; Portolan imports tests written out"
            )));
        }
        if let Some(Value::Object(vars)) = test.get("vars") {
            for (k, v) in vars {
                if v.as_str().is_some_and(|s| s.starts_with("file://")) {
                    return Err(at(format!(
                        "variable '{k}' is a file reference ({}); write its value out",
                        v.as_str().unwrap_or_default()
                    )));
                }
            }
        }
        let mut row = row_from_json(test).map_err(at)?;
        // promptfoo writes an expected value as an `equals` assertion; keep it as the reference
        // too, so reference-based evaluators can use it.
        if row.expected.is_none()
            && let Some(v) = row
                .assert
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some("equals"))
                .and_then(|a| a.get("value"))
        {
            row.expected = Some(v.clone());
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Rows as JSONL (the bundle format and `datasets export`): one structured row per line.
pub fn to_jsonl(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        // A row always serialises.
        out.push_str(&serde_json::to_string(r).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Rows as CSV: the union of variable names (in first-seen order), then `expected` and `tags`.
/// Variables that are not text are written as JSON.
pub fn to_csv(rows: &[Row]) -> String {
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        for k in r.vars.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = names.clone();
    header.extend(["expected".to_owned(), "tags".to_owned()]);
    let _ = w.write_record(&header);
    for r in rows {
        let mut record: Vec<String> = names
            .iter()
            .map(|n| match r.vars.get(n) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            })
            .collect();
        record.push(r.expected_text().unwrap_or_default());
        record.push(r.tags.join(","));
        let _ = w.write_record(&record);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A stable hash of rows (a save with the same rows is not a new version).
pub fn rows_hash(rows: &[Row]) -> String {
    jsonl_hash(&to_jsonl(rows))
}

/// [`rows_hash`] of rows already written as [`to_jsonl`].
pub fn jsonl_hash(jsonl: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, jsonl.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jsonl_rows_are_structured_or_flat_and_errors_name_the_line() {
        let rows = parse(
            "{\"vars\": {\"q\": \"2+2\"}, \"expected\": \"4\", \"tags\": [\"math\"]}\n\n{\"q\": \"capital of France\", \"expected\": \"Paris\"}\n",
            Format::Jsonl,
            "rows.jsonl",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].vars["q"], "2+2");
        assert_eq!(rows[0].tags, ["math"]);
        assert_eq!(rows[1].vars["q"], "capital of France");
        assert_eq!(rows[1].expected_text().as_deref(), Some("Paris"));
        let e = parse("{\"q\": 1}\n{nope}\n", Format::Jsonl, "rows.jsonl").unwrap_err();
        assert!(
            e.to_string().starts_with("rows.jsonl:2: not valid JSON"),
            "{e}"
        );
        let e = parse("{\"vars\": {}, \"extra\": 1}\n", Format::Jsonl, "r.jsonl").unwrap_err();
        assert!(e.to_string().contains("unknown field 'extra'"), "{e}");
    }

    #[test]
    fn csv_rows_take_the_header_as_names_and_ragged_lines_are_named() {
        let rows = parse(
            "question,expected,tags,__expected\n\"Capital of France, please\",Paris,\"geo,easy\",contains: Paris\n2+2,4,,regex:^\\d+$\n",
            Format::Csv,
            "rows.csv",
        )
        .unwrap();
        assert_eq!(rows[0].vars["question"], "Capital of France, please");
        assert_eq!(rows[0].tags, ["geo", "easy"]);
        assert_eq!(
            rows[0].assert[0],
            json!({"type": "contains", "value": "Paris"})
        );
        assert_eq!(
            rows[1].assert[0],
            json!({"type": "regex", "value": "^\\d+$"})
        );
        let e = parse("a,b\n1,2\n3,4,5\n", Format::Csv, "rows.csv").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("rows.csv:3: this row has 3 fields but the header has 2"),
            "{e}"
        );
    }

    #[test]
    fn promptfoo_tests_become_rows_with_their_assertions() {
        let yaml = r#"
prompts: [prompt.txt]
providers: [openai:gpt-4o-mini]
tests:
  - description: capital
    vars:
      country: France
    assert:
      - type: equals
        value: Paris
      - type: icontains
        value: paris
  - vars: {country: Italy}
    assert:
      - type: contains-any
        value: [Rome, Roma]
"#;
        let rows = parse(yaml, Format::PromptfooYaml, "promptfooconfig.yaml").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].description.as_deref(), Some("capital"));
        assert_eq!(rows[0].expected, Some(json!("Paris")));
        assert_eq!(rows[0].assert.len(), 2);
        assert_eq!(rows[1].vars["country"], "Italy");
        let e = parse(
            "tests:\n  - vars: {doc: \"file://doc.txt\"}\n",
            Format::PromptfooYaml,
            "p.yaml",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("test 1: variable 'doc' is a file reference"),
            "{e}"
        );
        let e = parse("tests: tests.yaml\n", Format::PromptfooYaml, "p.yaml").unwrap_err();
        assert!(e.to_string().contains("points at another file"), "{e}");
    }

    #[test]
    fn rows_round_trip_through_jsonl_and_export_to_csv() {
        let rows = vec![Row {
            vars: json!({"q": "a", "n": 2}).as_object().unwrap().clone(),
            expected: Some(json!("b")),
            tags: vec!["t".into()],
            ..Default::default()
        }];
        let text = to_jsonl(&rows);
        assert_eq!(parse(&text, Format::Jsonl, "x.jsonl").unwrap(), rows);
        assert_eq!(to_csv(&rows), "q,n,expected,tags\na,2,b,t\n");
        assert_eq!(rows_hash(&rows), rows_hash(&rows.clone()));
    }
}
