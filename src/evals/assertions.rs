//! Assertions: what a good answer is, checked on every cell of an experiment. The syntax is
//! promptfoo's (`{type, value, threshold}`, any type negated with a `not-` prefix), so its
//! configs carry over. Deterministic checks run in-process; `similar` with `method: embedding`
//! and the model-graded ones (`judge`, `judge-reference`, `pairwise`) call models and live in
//! [`super::judge`].
//!
//! Arguments may use the row's variables as Handlebars (`contains: "{{customer_name}}"`). Every
//! assertion is compiled once before a run (regexes, JSON schemas, templates), so a typo fails
//! the run before any model is called.

use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::guardrails::{PiiConfig, PiiScanner};

/// The assertion types, as written in eval files.
pub const KINDS: &[&str] = &[
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "icontains-any",
    "contains-all",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "json-schema",
    "json-path",
    "length",
    "latency",
    "cost",
    "no-pii",
    "similar",
    "levenshtein",
    "judge",
    "llm-rubric",
    "judge-reference",
    "factuality",
    "model-graded-closedqa",
    "pairwise",
    "tool-called",
    "tool-args-valid",
    "final-json-schema",
];

/// An assertion as written: promptfoo's fields plus Portolan's (`gate`, `model`, `method`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AssertionSpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Pass mark of a scored check (`similar` 0.75 by default, a judge score 4 of 5…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// A name for reports (default: the type and its value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Makes this assertion a gate: `pass_rate >= 0.9`, `mean >= 4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// The judge model (model-graded types) or the embedding model (`similar` by embedding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `similar`: `levenshtein` (default), `jaro-winkler`, `token-jaccard` or `embedding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `judge`: the rubric, when not given as `value`; `score` asks for a 1–5 score instead of
    /// pass/fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<bool>,
    /// `length`: bounds in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// A judge prompt of the library other than the seeded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

impl AssertionSpec {
    pub fn new(kind: &str, value: Option<Value>) -> Self {
        AssertionSpec {
            kind: kind.into(),
            value,
            threshold: None,
            name: None,
            gate: None,
            model: None,
            method: None,
            rubric: None,
            score: None,
            min: None,
            max: None,
            prompt: None,
        }
    }

    /// `TYPE[=ARG]` as the CLI's `--assert` takes it (`contains=Paris`, `is-json`,
    /// `latency=2000`).
    pub fn parse_cli(text: &str) -> Result<AssertionSpec, AssertionError> {
        let (kind, arg) = match text.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (text.trim(), None),
        };
        let value = arg.map(|a| {
            // Numbers and JSON lists stay typed; the rest is text.
            match serde_json::from_str::<Value>(a) {
                Ok(
                    v @ (Value::Number(_) | Value::Array(_) | Value::Object(_) | Value::Bool(_)),
                ) => v,
                _ => Value::String(a.to_owned()),
            }
        });
        let spec = AssertionSpec::new(kind, value);
        Check::compile(&spec)?;
        Ok(spec)
    }

    /// The label reports use.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let value = self
            .value
            .clone()
            .or_else(|| self.rubric.clone().map(Value::String));
        match &value {
            None => self.kind.clone(),
            Some(Value::String(s)) => {
                let short: String = s.chars().take(40).collect();
                let dots = if s.chars().count() > 40 { "…" } else { "" };
                format!("{} \"{short}{dots}\"", self.kind)
            }
            Some(v) => format!("{} {v}", self.kind),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AssertionError {
    #[error("unknown assertion type '{0}' (known: {known})", known = KINDS.join(", "))]
    UnknownKind(String),
    #[error("assertion {kind}: {reason}")]
    Invalid { kind: String, reason: String },
}

fn invalid(kind: &str, reason: impl Into<String>) -> AssertionError {
    AssertionError::Invalid {
        kind: kind.into(),
        reason: reason.into(),
    }
}

/// What a call's arguments must match for `tool-called`.
#[derive(Debug, Clone)]
pub enum ArgsMatch {
    /// The value at a path (`$.city`) equals this.
    Path {
        path: Vec<PathStep>,
        expected: Value,
    },
    /// The arguments fit this JSON Schema.
    Schema(Arc<jsonschema::Validator>),
}

/// Text with the row's variables filled in (`{{name}}`), compiled once.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    templated: bool,
}

impl Template {
    fn new(kind: &str, text: &str) -> Result<Template, AssertionError> {
        let templated = text.contains("{{");
        if templated {
            let mut hb = handlebars::Handlebars::new();
            hb.register_template_string("t", text)
                .map_err(|e| invalid(kind, format!("the template {text:?} is invalid: {e}")))?;
        }
        Ok(Template {
            text: text.to_owned(),
            templated,
        })
    }

    pub fn render(&self, vars: &Map<String, Value>) -> Result<String, String> {
        if !self.templated {
            return Ok(self.text.clone());
        }
        let mut hb = handlebars::Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        hb.render_template(&self.text, vars)
            .map_err(|e| format!("could not fill in {:?}: {e}", self.text))
    }
}

fn text_arg(kind: &str, v: Option<&Value>) -> Result<Template, AssertionError> {
    match v {
        Some(Value::String(s)) => Template::new(kind, s),
        Some(Value::Number(n)) => Template::new(kind, &n.to_string()),
        _ => Err(invalid(kind, "needs a text value")),
    }
}

fn list_arg(kind: &str, v: Option<&Value>) -> Result<Vec<Template>, AssertionError> {
    match v {
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|i| text_arg(kind, Some(i))).collect()
        }
        Some(Value::String(s)) => s
            .split(',')
            .map(|p| Template::new(kind, p.trim()))
            .collect(),
        _ => Err(invalid(kind, "needs a list of texts")),
    }
}

fn number_arg(kind: &str, spec: &AssertionSpec) -> Result<f64, AssertionError> {
    spec.threshold
        .or_else(|| spec.value.as_ref().and_then(Value::as_f64))
        .or_else(|| {
            spec.value
                .as_ref()
                .and_then(Value::as_str)
                .and_then(|s| s.trim().parse().ok())
        })
        .ok_or_else(|| invalid(kind, "needs a number (value or threshold)"))
}

/// How `similar` compares texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Similarity {
    /// 1 − Levenshtein distance ÷ the longer length, on characters.
    Levenshtein,
    /// Jaro–Winkler similarity (favours a shared beginning).
    JaroWinkler,
    /// Shared words ÷ all words (case-insensitive, punctuation ignored): order does not matter.
    TokenJaccard,
    /// Cosine of the two texts' embeddings (the configured embedding model, else the local
    /// hashing embedder); needs the engine.
    Embedding,
}

/// What the model-graded checks need (see [`super::judge`]).
#[derive(Debug, Clone)]
pub enum Graded {
    /// Pass/fail (or a 1–5 score) against a rubric.
    Rubric { rubric: Template, score: bool },
    /// Does the answer agree with the row's expected output.
    Reference,
    /// Which of two columns' answers is better, judged in both orders.
    Pairwise { rubric: Option<Template> },
}

/// A compiled assertion.
#[derive(Debug, Clone)]
pub enum Check {
    Equals(Template),
    Contains {
        needle: Template,
        fold: bool,
    },
    ContainsAny {
        needles: Vec<Template>,
        fold: bool,
    },
    ContainsAll {
        needles: Vec<Template>,
        fold: bool,
    },
    StartsWith(Template),
    Regex(Regex),
    IsJson,
    ContainsJson,
    JsonSchema(Arc<jsonschema::Validator>),
    JsonPath {
        path: Vec<PathStep>,
        expected: Value,
    },
    Length {
        min: Option<u64>,
        max: Option<u64>,
    },
    LatencyMs(f64),
    CostUsd(f64),
    NoPii(Arc<PiiScanner>),
    Similar {
        to: Option<Template>,
        method: Similarity,
        threshold: f64,
    },
    Graded(Graded),
    /// The exchange called a function (`name`, any when None) between `min` and `max` times,
    /// and (when given) at least one of those calls' arguments match.
    ToolCalled {
        name: Option<String>,
        min: usize,
        max: Option<usize>,
        arguments: Option<ArgsMatch>,
    },
    /// Every tool call's arguments fit the tool's schema.
    ToolArgsValid,
    /// The final answer (after any tool exchange) is JSON that fits this schema, or the
    /// prompt's `response_format` schema when None.
    FinalJsonSchema(Option<Arc<jsonschema::Validator>>),
}

/// A compiled assertion with its negation and pass mark.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub spec: AssertionSpec,
    pub check: Check,
    pub negate: bool,
}

impl Assertion {
    pub fn compile(spec: &AssertionSpec) -> Result<Assertion, AssertionError> {
        let (negate, _) = split_not(&spec.kind);
        Ok(Assertion {
            spec: spec.clone(),
            check: Check::compile(spec)?,
            negate,
        })
    }

    /// Whether this check calls a model (a judge, or similarity by embedding).
    pub fn calls_models(&self) -> bool {
        matches!(
            self.check,
            Check::Graded(_)
                | Check::Similar {
                    method: Similarity::Embedding,
                    ..
                }
        )
    }
}

fn split_not(kind: &str) -> (bool, &str) {
    match kind.strip_prefix("not-") {
        Some(k) => (true, k),
        None => (false, kind),
    }
}

/// One step of a JSON path (`$.a.b[0]`).
#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses the JSON-path subset Portolan reads: `$`, then `.key`, `["key"]` and `[index]` steps.
pub fn parse_path(path: &str) -> Result<Vec<PathStep>, String> {
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("a JSON path starts with $ (got {path:?})"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    key.push(n);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(format!("an empty key in {path:?}"));
                }
                steps.push(PathStep::Key(key));
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim();
                if let Some(q) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    steps.push(PathStep::Key(q.to_owned()));
                } else {
                    steps.push(PathStep::Index(inner.parse().map_err(|_| {
                        format!("[{inner}] in {path:?} is neither an index nor a quoted key")
                    })?));
                }
            }
            other => return Err(format!("unexpected {other:?} in {path:?}")),
        }
    }
    Ok(steps)
}

fn follow<'a>(mut v: &'a Value, path: &[PathStep]) -> Option<&'a Value> {
    for step in path {
        v = match step {
            PathStep::Key(k) => v.get(k)?,
            PathStep::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

impl Check {
    pub fn compile(spec: &AssertionSpec) -> Result<Check, AssertionError> {
        let (_, kind) = split_not(&spec.kind);
        let v = spec.value.as_ref();
        let check = match kind {
            "equals" => Check::Equals(text_arg(kind, v)?),
            "contains" | "icontains" => Check::Contains {
                needle: text_arg(kind, v)?,
                fold: kind == "icontains",
            },
            "contains-any" | "icontains-any" => Check::ContainsAny {
                needles: list_arg(kind, v)?,
                fold: kind.starts_with('i'),
            },
            "contains-all" | "icontains-all" => Check::ContainsAll {
                needles: list_arg(kind, v)?,
                fold: kind.starts_with('i'),
            },
            "starts-with" => Check::StartsWith(text_arg(kind, v)?),
            "regex" => {
                let pattern = v
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(kind, "needs a pattern"))?;
                Check::Regex(
                    Regex::new(pattern)
                        .map_err(|e| invalid(kind, format!("invalid pattern: {e}")))?,
                )
            }
            "is-json" => match v {
                // promptfoo's is-json may carry a schema.
                Some(schema @ Value::Object(_)) => Check::JsonSchema(Arc::new(
                    jsonschema::validator_for(schema)
                        .map_err(|e| invalid(kind, format!("invalid JSON schema: {e}")))?,
                )),
                _ => Check::IsJson,
            },
            "contains-json" => Check::ContainsJson,
            "json-schema" => {
                let schema = match v {
                    Some(Value::String(s)) => serde_json::from_str(s)
                        .map_err(|e| invalid(kind, format!("the schema is not JSON: {e}")))?,
                    Some(o @ Value::Object(_)) => o.clone(),
                    _ => return Err(invalid(kind, "needs a JSON schema as value")),
                };
                Check::JsonSchema(Arc::new(
                    jsonschema::validator_for(&schema)
                        .map_err(|e| invalid(kind, format!("invalid JSON schema: {e}")))?,
                ))
            }
            "tool-called" => compile_tool_called(kind, spec)?,
            "tool-args-valid" => Check::ToolArgsValid,
            "final-json-schema" => Check::FinalJsonSchema(match v {
                None | Some(Value::Null) => None,
                Some(schema) => {
                    let schema = match schema {
                        Value::String(s) => serde_json::from_str(s)
                            .map_err(|e| invalid(kind, format!("the schema is not JSON: {e}")))?,
                        other => other.clone(),
                    };
                    Some(Arc::new(
                        crate::tools::compile_schema("the schema", &schema)
                            .map_err(|e| invalid(kind, e.to_string()))?,
                    ))
                }
            }),
            "json-path" => {
                let o = v
                    .and_then(Value::as_object)
                    .ok_or_else(|| invalid(kind, "needs {path: \"$.a.b\", equals: value}"))?;
                let path = o
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(kind, "needs a path"))?;
                Check::JsonPath {
                    path: parse_path(path).map_err(|e| invalid(kind, e))?,
                    expected: o
                        .get("equals")
                        .cloned()
                        .ok_or_else(|| invalid(kind, "needs the value it `equals`"))?,
                }
            }
            "length" => {
                let (min, max) = (
                    spec.min
                        .or_else(|| v.and_then(|v| v.get("min")).and_then(Value::as_u64)),
                    spec.max
                        .or_else(|| v.and_then(|v| v.get("max")).and_then(Value::as_u64)),
                );
                if min.is_none() && max.is_none() {
                    return Err(invalid(kind, "needs min and/or max (characters)"));
                }
                Check::Length { min, max }
            }
            "latency" => Check::LatencyMs(number_arg(kind, spec)?),
            "cost" => Check::CostUsd(number_arg(kind, spec)?),
            "no-pii" => {
                let mut config = PiiConfig::new(crate::guardrails::PiiAction::Detect);
                if let Some(Value::Array(types)) = v {
                    config.types = Some(
                        serde_json::from_value(Value::Array(types.clone()))
                            .map_err(|e| invalid(kind, format!("unknown PII type: {e}")))?,
                    );
                }
                Check::NoPii(Arc::new(
                    PiiScanner::new(&config).map_err(|e| invalid(kind, e.to_string()))?,
                ))
            }
            "similar" | "levenshtein" => {
                let method = match (kind, spec.method.as_deref()) {
                    ("levenshtein", _) | (_, None | Some("levenshtein")) => Similarity::Levenshtein,
                    (_, Some("jaro-winkler")) => Similarity::JaroWinkler,
                    (_, Some("token-jaccard")) => Similarity::TokenJaccard,
                    (_, Some("embedding")) => Similarity::Embedding,
                    (_, Some(other)) => {
                        return Err(invalid(
                            kind,
                            format!(
                                "unknown method '{other}' (levenshtein, jaro-winkler, token-jaccard, embedding)"
                            ),
                        ));
                    }
                };
                Check::Similar {
                    to: v.map(|v| text_arg(kind, Some(v))).transpose()?,
                    method,
                    threshold: spec.threshold.unwrap_or(0.75),
                }
            }
            "judge" | "llm-rubric" => {
                let rubric = spec
                    .rubric
                    .as_deref()
                    .or_else(|| v.and_then(Value::as_str))
                    .ok_or_else(|| invalid(kind, "needs a rubric (value or rubric)"))?;
                Check::Graded(Graded::Rubric {
                    rubric: Template::new(kind, rubric)?,
                    score: spec.score.unwrap_or(false),
                })
            }
            "judge-reference" | "factuality" | "model-graded-closedqa" => {
                Check::Graded(Graded::Reference)
            }
            "pairwise" => Check::Graded(Graded::Pairwise {
                rubric: spec
                    .rubric
                    .as_deref()
                    .or_else(|| v.and_then(Value::as_str))
                    .map(|r| Template::new(kind, r))
                    .transpose()?,
            }),
            other => return Err(AssertionError::UnknownKind(other.to_owned())),
        };
        if let Some(gate) = &spec.gate {
            Gate::parse(gate).map_err(|e| invalid(&spec.kind, e))?;
        }
        Ok(check)
    }
}

/// What one assertion said about one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Verdict {
    /// None when the check could not be made (an error cell: never a pass).
    pub pass: Option<bool>,
    /// 0–1 for deterministic checks (1 or 0, or the similarity), 1–5 for a scoring judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What checking it cost (judge calls), apart from the output's cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Verdict {
    pub fn pass(reason: impl Into<String>) -> Verdict {
        Verdict {
            pass: Some(true),
            score: Some(1.0),
            reason: reason.into(),
            error: None,
            cost_usd: None,
        }
    }

    pub fn fail(reason: impl Into<String>) -> Verdict {
        Verdict {
            pass: Some(false),
            score: Some(0.0),
            reason: reason.into(),
            error: None,
            cost_usd: None,
        }
    }

    pub fn error(reason: impl Into<String>) -> Verdict {
        let reason = reason.into();
        Verdict {
            pass: None,
            score: None,
            error: Some(reason.clone()),
            reason,
            cost_usd: None,
        }
    }

    fn of(pass: bool, ok: impl Into<String>, not_ok: impl Into<String>) -> Verdict {
        if pass {
            Verdict::pass(ok)
        } else {
            Verdict::fail(not_ok)
        }
    }

    /// The verdict of the negated check.
    fn negated(mut self) -> Verdict {
        if let Some(p) = self.pass {
            self.pass = Some(!p);
            self.score = self.score.map(|s| 1.0 - s.min(1.0));
            self.reason = format!("not: {}", self.reason);
        }
        self
    }
}

/// What a check looks at: one cell's output and measurements, and its row.
pub struct CellView<'a> {
    pub output: &'a str,
    pub vars: &'a Map<String, Value>,
    pub expected: Option<&'a str>,
    pub latency_ms: u64,
    pub cost_usd: Option<f64>,
    /// Earlier turns of a tool exchange, and the calls the answer ended with.
    pub steps: &'a [crate::tools::ToolStep],
    pub tool_calls: &'a [crate::tools::CheckedCall],
    /// The schema of the column's `response_format` (compiled once per column), for
    /// `final-json-schema` without a schema of its own.
    pub response_schema: Option<&'a jsonschema::Validator>,
}

impl CellView<'_> {
    /// A view of an answer alone (no tool use, no response format).
    pub fn of_text<'a>(
        output: &'a str,
        vars: &'a Map<String, Value>,
        expected: Option<&'a str>,
        latency_ms: u64,
        cost_usd: Option<f64>,
    ) -> CellView<'a> {
        CellView {
            output,
            vars,
            expected,
            latency_ms,
            cost_usd,
            steps: &[],
            tool_calls: &[],
            response_schema: None,
        }
    }

    /// Every call the exchange made, in order.
    pub fn calls(&self) -> impl Iterator<Item = &crate::tools::CheckedCall> {
        self.steps
            .iter()
            .flat_map(|s| s.calls.iter())
            .chain(self.tool_calls.iter())
    }
}

fn compile_tool_called(kind: &str, spec: &AssertionSpec) -> Result<Check, AssertionError> {
    let (name, o) = match &spec.value {
        None | Some(Value::Null) => (None, None),
        Some(Value::String(s)) => (Some(s.clone()), None),
        Some(Value::Object(o)) => (
            o.get("name").and_then(Value::as_str).map(str::to_owned),
            Some(o),
        ),
        Some(_) => {
            return Err(invalid(
                kind,
                "the value is a function name or {name, times, min, max, arguments}",
            ));
        }
    };
    let count = |key: &str| -> Result<Option<usize>, AssertionError> {
        match o.and_then(|o| o.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| invalid(kind, format!("`{key}` must be a whole number"))),
        }
    };
    let times = count("times")?;
    let min = times
        .or(count("min")?)
        .or(spec.min.map(|m| m as usize))
        .unwrap_or(1);
    let max = times.or(count("max")?).or(spec.max.map(|m| m as usize));
    if max.is_some_and(|m| m < min) {
        return Err(invalid(kind, "`max` is below `min`"));
    }
    let arguments = match o.and_then(|o| o.get("arguments")) {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) if a.contains_key("path") => {
            let path = a
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(kind, "arguments.path must be a text like $.city"))?;
            Some(ArgsMatch::Path {
                path: parse_path(path).map_err(|e| invalid(kind, e))?,
                expected: a
                    .get("equals")
                    .cloned()
                    .ok_or_else(|| invalid(kind, "arguments.path needs the value it `equals`"))?,
            })
        }
        Some(Value::Object(a)) if a.contains_key("schema") => Some(ArgsMatch::Schema(Arc::new(
            crate::tools::compile_schema("arguments.schema", &a["schema"])
                .map_err(|e| invalid(kind, e.to_string()))?,
        ))),
        Some(_) => {
            return Err(invalid(
                kind,
                "arguments is {path: \"$.city\", equals: value} or {schema: {…}}",
            ));
        }
    };
    Ok(Check::ToolCalled {
        name,
        min,
        max,
        arguments,
    })
}

fn fold(s: &str, on: bool) -> std::borrow::Cow<'_, str> {
    if on {
        std::borrow::Cow::Owned(s.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn short(s: &str) -> String {
    let t: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        format!("{t:?}…")
    } else {
        format!("{t:?}")
    }
}

/// The first JSON object or array inside `text` (models wrap JSON in prose and code fences).
pub fn find_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return Some(v);
    }
    for (i, c) in text.char_indices() {
        if c == '{' || c == '[' {
            let mut de = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
            if let Some(Ok(v)) = de.next() {
                return Some(v);
            }
        }
    }
    None
}

fn words(s: &str) -> std::collections::HashSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How similar two texts are, 0–1, by a text measure (not `Embedding`).
pub fn text_similarity(a: &str, b: &str, method: Similarity) -> f64 {
    match method {
        Similarity::Levenshtein | Similarity::Embedding => strsim::normalized_levenshtein(a, b),
        Similarity::JaroWinkler => strsim::jaro_winkler(a, b),
        Similarity::TokenJaccard => {
            let (x, y) = (words(a), words(b));
            if x.is_empty() && y.is_empty() {
                return 1.0;
            }
            x.intersection(&y).count() as f64 / x.union(&y).count() as f64
        }
    }
}

impl Assertion {
    /// Checks a cell with a deterministic check. Model-graded checks and similarity by embedding
    /// are made by [`super::judge`]; here they are an error.
    pub fn check(&self, cell: &CellView<'_>) -> Verdict {
        let v = self.check_plain(cell);
        if self.negate { v.negated() } else { v }
    }

    fn check_plain(&self, cell: &CellView<'_>) -> Verdict {
        let out = cell.output;
        let render = |t: &Template| t.render(cell.vars);
        macro_rules! arg {
            ($t:expr) => {
                match render($t) {
                    Ok(s) => s,
                    Err(e) => return Verdict::error(e),
                }
            };
        }
        match &self.check {
            Check::Equals(t) => {
                let want = arg!(t);
                Verdict::of(
                    out.trim() == want.trim(),
                    "equals the expected text",
                    format!("{} is not {}", short(out), short(&want)),
                )
            }
            Check::Contains { needle, fold: f } => {
                let n = arg!(needle);
                Verdict::of(
                    fold(out, *f).contains(fold(&n, *f).as_ref()),
                    format!("contains {}", short(&n)),
                    format!("does not contain {}", short(&n)),
                )
            }
            Check::ContainsAny { needles, fold: f } => {
                let hay = fold(out, *f);
                let mut all = Vec::new();
                for t in needles {
                    let n = arg!(t);
                    if hay.contains(fold(&n, *f).as_ref()) {
                        return Verdict::pass(format!("contains {}", short(&n)));
                    }
                    all.push(n);
                }
                Verdict::fail(format!("contains none of {all:?}"))
            }
            Check::ContainsAll { needles, fold: f } => {
                let hay = fold(out, *f);
                let mut missing = Vec::new();
                for t in needles {
                    let n = arg!(t);
                    if !hay.contains(fold(&n, *f).as_ref()) {
                        missing.push(n);
                    }
                }
                Verdict::of(
                    missing.is_empty(),
                    "contains all",
                    format!("is missing {missing:?}"),
                )
            }
            Check::StartsWith(t) => {
                let n = arg!(t);
                Verdict::of(
                    out.trim_start().starts_with(&n),
                    format!("starts with {}", short(&n)),
                    format!("does not start with {}", short(&n)),
                )
            }
            Check::Regex(re) => Verdict::of(
                re.is_match(out),
                format!("matches /{}/", re.as_str()),
                format!("does not match /{}/", re.as_str()),
            ),
            Check::IsJson => match serde_json::from_str::<Value>(out.trim()) {
                Ok(_) => Verdict::pass("is JSON"),
                Err(e) => Verdict::fail(format!("is not JSON: {e}")),
            },
            Check::ContainsJson => Verdict::of(
                find_json(out).is_some(),
                "contains JSON",
                "contains no JSON object or array",
            ),
            Check::JsonSchema(validator) => match find_json(out) {
                None => Verdict::fail("is not JSON"),
                Some(doc) => {
                    let problem = crate::tools::schema_problem(validator, &doc);
                    Verdict::of(
                        problem.is_none(),
                        "matches the schema",
                        format!("does not match the schema: {}", problem.unwrap_or_default()),
                    )
                }
            },
            Check::ToolCalled {
                name,
                min,
                max,
                arguments,
            } => {
                let named: Vec<&crate::tools::CheckedCall> = cell
                    .calls()
                    .filter(|c| name.as_ref().is_none_or(|n| &c.name == n))
                    .collect();
                let what = name
                    .as_deref()
                    .map_or_else(|| "a tool".to_owned(), str::to_owned);
                let n = named.len();
                let range = match max {
                    Some(m) if m == min => format!("{min}"),
                    Some(m) => format!("{min}–{m}"),
                    None => format!("at least {min}"),
                };
                if n < *min || max.is_some_and(|m| n > m) {
                    return Verdict::fail(format!(
                        "called {what} {n} time{}, wanted {range}",
                        if n == 1 { "" } else { "s" }
                    ));
                }
                match arguments {
                    None => Verdict::pass(format!(
                        "called {what} {n} time{}",
                        if n == 1 { "" } else { "s" }
                    )),
                    Some(m) => {
                        let parsed: Vec<Option<Value>> = named
                            .iter()
                            .map(|c| serde_json::from_str::<Value>(&c.arguments).ok())
                            .collect();
                        let hit = parsed.iter().flatten().any(|args| match m {
                            ArgsMatch::Path { path, expected } => {
                                follow(args, path).is_some_and(|f| f == expected)
                            }
                            ArgsMatch::Schema(v) => v.is_valid(args),
                        });
                        let seen: Vec<String> =
                            named.iter().map(|c| short(&c.arguments)).take(3).collect();
                        Verdict::of(
                            hit,
                            format!("called {what} with matching arguments"),
                            format!(
                                "called {what}, but no call's arguments match (sent {})",
                                seen.join(", ")
                            ),
                        )
                    }
                }
            }
            Check::ToolArgsValid => {
                let calls: Vec<&crate::tools::CheckedCall> = cell.calls().collect();
                if calls.is_empty() {
                    return Verdict::fail("made no tool calls");
                }
                let bad: Vec<String> = calls
                    .iter()
                    .filter_map(|c| c.problem.as_ref().map(|p| format!("{}: {p}", c.name)))
                    .collect();
                Verdict::of(
                    bad.is_empty(),
                    format!(
                        "{} call{} with valid arguments",
                        calls.len(),
                        if calls.len() == 1 { "" } else { "s" }
                    ),
                    format!("invalid arguments: {}", bad.join("; ")),
                )
            }
            Check::FinalJsonSchema(schema) => {
                if !cell.tool_calls.is_empty() {
                    return Verdict::fail("the exchange ended on a tool call, not a final answer");
                }
                let Some(validator) = schema.as_deref().or(cell.response_schema) else {
                    return Verdict::error(
                        "no schema: give one as the value, or a response_format json_schema in the prompt",
                    );
                };
                match serde_json::from_str::<Value>(out.trim()) {
                    Err(e) => Verdict::fail(format!("the final answer is not JSON ({e})")),
                    Ok(doc) => match crate::tools::schema_problem(validator, &doc) {
                        None => Verdict::pass("the final answer fits the schema"),
                        Some(p) => {
                            Verdict::fail(format!("the final answer breaks the schema: {p}"))
                        }
                    },
                }
            }
            Check::JsonPath { path, expected } => match find_json(out) {
                None => Verdict::fail("is not JSON"),
                Some(doc) => match follow(&doc, path) {
                    None => Verdict::fail("the path is not in the answer"),
                    Some(found) => Verdict::of(
                        found == expected,
                        format!("the path holds {expected}"),
                        format!("the path holds {found}, not {expected}"),
                    ),
                },
            },
            Check::Length { min, max } => {
                let n = out.chars().count() as u64;
                let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
                Verdict::of(
                    ok,
                    format!("{n} characters"),
                    format!(
                        "{n} characters, outside {}–{}",
                        min.map_or("0".into(), |m| m.to_string()),
                        max.map_or("∞".into(), |m| m.to_string())
                    ),
                )
            }
            Check::LatencyMs(limit) => Verdict::of(
                (cell.latency_ms as f64) <= *limit,
                format!("{} ms", cell.latency_ms),
                format!("{} ms, over {limit} ms", cell.latency_ms),
            ),
            Check::CostUsd(limit) => match cell.cost_usd {
                None => Verdict::error("the call's cost is unknown (no price for the model)"),
                Some(c) => Verdict::of(
                    c <= *limit,
                    format!("${c:.6}"),
                    format!("${c:.6}, over ${limit}"),
                ),
            },
            Check::NoPii(scanner) => {
                let found = scanner.scan(out);
                if found.is_empty() {
                    Verdict::pass("no personal data found")
                } else {
                    let mut kinds: Vec<String> =
                        found.iter().map(|f| f.kind.as_str().to_owned()).collect();
                    kinds.dedup();
                    Verdict::fail(format!("found {}", kinds.join(", ")))
                }
            }
            Check::Similar {
                to,
                method,
                threshold,
            } => {
                if *method == Similarity::Embedding {
                    return Verdict::error("similarity by embedding is checked with the engine");
                }
                let reference = match to {
                    Some(t) => arg!(t),
                    None => match cell.expected {
                        Some(e) => e.to_owned(),
                        None => {
                            return Verdict::error(
                                "`similar` needs a value or the row's expected output",
                            );
                        }
                    },
                };
                let s = text_similarity(out.trim(), reference.trim(), *method);
                let mut v = Verdict::of(
                    s >= *threshold,
                    format!("similarity {s:.2} ≥ {threshold}"),
                    format!("similarity {s:.2} < {threshold}"),
                );
                v.score = Some(s);
                v
            }
            Check::Graded(_) => Verdict::error("model-graded checks are made with the engine"),
        }
    }
}

/// A gate: an aggregate of one assertion that must hold (`pass_rate >= 0.9`, `mean >= 4`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gate {
    pub measure: GateMeasure,
    pub op: GateOp,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMeasure {
    PassRate,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GateOp {
    Ge,
    Gt,
    Le,
    Lt,
}

impl Gate {
    pub fn parse(text: &str) -> Result<Gate, String> {
        let t = text.replace(' ', "");
        let (measure, rest) = if let Some(r) = t.strip_prefix("pass_rate") {
            (GateMeasure::PassRate, r)
        } else if let Some(r) = t.strip_prefix("mean") {
            (GateMeasure::Mean, r)
        } else {
            return Err(format!(
                "a gate reads `pass_rate >= 0.9` or `mean >= 4`, not {text:?}"
            ));
        };
        let (op, num) = if let Some(n) = rest.strip_prefix(">=") {
            (GateOp::Ge, n)
        } else if let Some(n) = rest.strip_prefix("<=") {
            (GateOp::Le, n)
        } else if let Some(n) = rest.strip_prefix('>') {
            (GateOp::Gt, n)
        } else if let Some(n) = rest.strip_prefix('<') {
            (GateOp::Lt, n)
        } else {
            return Err(format!("a gate compares with >=, >, <= or <: {text:?}"));
        };
        let value: f64 = num
            .parse()
            .map_err(|_| format!("{num:?} in the gate {text:?} is not a number"))?;
        Ok(Gate { measure, op, value })
    }

    pub fn holds(&self, measured: f64) -> bool {
        match self.op {
            GateOp::Ge => measured >= self.value,
            GateOp::Gt => measured > self.value,
            GateOp::Le => measured <= self.value,
            GateOp::Lt => measured < self.value,
        }
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = match self.measure {
            GateMeasure::PassRate => "pass_rate",
            GateMeasure::Mean => "mean",
        };
        let op = match self.op {
            GateOp::Ge => ">=",
            GateOp::Gt => ">",
            GateOp::Le => "<=",
            GateOp::Lt => "<",
        };
        write!(f, "{m} {op} {}", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(kind: &str, value: Value, output: &str) -> Verdict {
        check_with(AssertionSpec::new(kind, Some(value)), output)
    }

    fn check_with(spec: AssertionSpec, output: &str) -> Verdict {
        let vars = json!({"name": "Ada", "city": "Paris"})
            .as_object()
            .unwrap()
            .clone();
        Assertion::compile(&spec).unwrap().check(&CellView::of_text(
            output,
            &vars,
            Some("The capital of France is Paris."),
            120,
            Some(0.002),
        ))
    }

    fn passes(v: Verdict) -> bool {
        v.pass.expect("a verdict, not an error")
    }

    #[test]
    fn text_checks_with_variables_and_negation() {
        assert!(passes(check("equals", json!("Hello Ada"), " Hello Ada\n")));
        assert!(passes(check("contains", json!("{{city}}"), "Lovely Paris")));
        assert!(!passes(check(
            "contains",
            json!("{{city}}"),
            "Lovely paris"
        )));
        assert!(passes(check(
            "icontains",
            json!("{{city}}"),
            "lovely paris"
        )));
        assert!(passes(check("not-contains", json!("Rome"), "Paris")));
        assert!(passes(check(
            "contains-any",
            json!(["Rome", "Paris"]),
            "Paris!"
        )));
        assert!(!passes(check(
            "contains-all",
            json!(["Rome", "Paris"]),
            "Paris!"
        )));
        assert!(passes(check(
            "icontains-all",
            json!("rome, paris"),
            "ROME and PARIS"
        )));
        assert!(passes(check(
            "starts-with",
            json!("Dear {{name}}"),
            "  Dear Ada,"
        )));
        assert!(passes(check("regex", json!("^\\d{3}$"), "123")));
        assert!(!passes(check("regex", json!("^\\d{3}$"), "1234")));
        // A variable the row lacks is an error, never a pass.
        let v = check("contains", json!("{{missing}}"), "x");
        assert_eq!(v.pass, None, "{v:?}");
    }

    #[test]
    fn json_checks() {
        assert!(passes(check("is-json", Value::Null, "{\"a\": 1}")));
        assert!(!passes(check("is-json", Value::Null, "Sure! {\"a\": 1}")));
        assert!(passes(check(
            "contains-json",
            Value::Null,
            "Sure!\n```json\n{\"a\": 1}\n```"
        )));
        let schema = json!({"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}});
        assert!(passes(check(
            "json-schema",
            schema.clone(),
            "{\"city\": \"Paris\"}"
        )));
        let v = check("json-schema", schema, "{\"city\": 3}");
        assert!(!passes(v.clone()) && v.reason.contains("/city"), "{v:?}");
        let path = json!({"path": "$.items[1].name", "equals": "b"});
        assert!(passes(check(
            "json-path",
            path.clone(),
            "{\"items\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}"
        )));
        assert!(!passes(check("json-path", path, "{\"items\": []}")));
    }

    #[test]
    fn measures_pii_and_similarity() {
        let mut len = AssertionSpec::new("length", None);
        len.max = Some(5);
        assert!(passes(check_with(len.clone(), "short")));
        assert!(!passes(check_with(len, "longer")));
        assert!(passes(check("latency", json!(200), "x")));
        assert!(!passes(check("latency", json!(100), "x")));
        assert!(passes(check("cost", json!(0.01), "x")));
        assert!(passes(check(
            "no-pii",
            Value::Null,
            "Nothing personal here."
        )));
        let v = check("no-pii", Value::Null, "Write to ada@example.com");
        assert!(!passes(v.clone()) && v.reason.contains("email"), "{v:?}");
        // Against the row's expected output by default.
        let mut sim = AssertionSpec::new("similar", None);
        sim.threshold = Some(0.8);
        assert!(passes(check_with(
            sim.clone(),
            "The capital of France is Paris!"
        )));
        assert!(!passes(check_with(sim.clone(), "I do not know.")));
        sim.method = Some("token-jaccard".into());
        assert!(passes(check_with(sim, "Paris is the capital of France")));
    }

    #[test]
    fn invalid_assertions_fail_before_anything_runs() {
        let e = Assertion::compile(&AssertionSpec::new("regex", Some(json!("(")))).unwrap_err();
        assert!(e.to_string().contains("invalid pattern"), "{e}");
        let e = Assertion::compile(&AssertionSpec::new("contian", Some(json!("x")))).unwrap_err();
        assert!(
            e.to_string().contains("unknown assertion type 'contian'"),
            "{e}"
        );
        let e = Assertion::compile(&AssertionSpec::new(
            "json-schema",
            Some(json!({"type": 12})),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("invalid JSON schema"), "{e}");
        let mut gated = AssertionSpec::new("is-json", None);
        gated.gate = Some("pass rate > 1".into());
        assert!(Assertion::compile(&gated).is_err());
        assert_eq!(
            AssertionSpec::parse_cli("latency=2000").unwrap().value,
            Some(json!(2000))
        );
        assert_eq!(
            AssertionSpec::parse_cli("contains=Paris").unwrap().value,
            Some(json!("Paris"))
        );
    }

    #[test]
    fn gates_parse_and_hold() {
        let g = Gate::parse("pass_rate >= 0.9").unwrap();
        assert!(g.holds(0.9) && !g.holds(0.89));
        assert_eq!(g.to_string(), "pass_rate >= 0.9");
        assert!(Gate::parse("mean>4").unwrap().holds(4.5));
        assert!(Gate::parse("median >= 1").is_err());
    }

    #[test]
    fn tool_use_evaluators_read_every_step() {
        use crate::tools::{CheckedCall, ToolResult, ToolStep};
        let call = |name: &str, args: &str, problem: Option<&str>| CheckedCall {
            id: "c".into(),
            name: name.into(),
            arguments: args.into(),
            problem: problem.map(str::to_owned),
        };
        let steps = vec![ToolStep {
            text: String::new(),
            calls: vec![
                call("get_weather", r#"{"city":"Oslo"}"#, None),
                call("get_weather", r#"{"city":"Bergen"}"#, None),
            ],
            results: vec![ToolResult {
                id: "c".into(),
                name: "get_weather".into(),
                content: "{}".into(),
            }],
            latency_ms: 5,
            cost_usd: None,
        }];
        let vars = Map::new();
        let format = crate::tools::response_validator(&json!({"type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object", "required": ["temp_c"]}}}))
        .unwrap();
        let view = |output: &'static str, finals: &'static [CheckedCall]| CellView {
            output,
            vars: &vars,
            expected: None,
            latency_ms: 1,
            cost_usd: None,
            steps: &steps,
            tool_calls: finals,
            response_schema: Some(&format),
        };
        let check = |spec: Value, v: &CellView<'_>| {
            let spec: AssertionSpec = serde_json::from_value(spec).unwrap();
            Assertion::compile(&spec).unwrap().check(v)
        };
        let answer = view(r#"{"temp_c": 21}"#, &[]);
        let pass = |spec: Value| check(spec, &answer).pass;
        assert_eq!(
            pass(json!({"type": "tool-called", "value": "get_weather"})),
            Some(true)
        );
        assert_eq!(
            pass(json!({"type": "tool-called", "value": "set_alarm"})),
            Some(false)
        );
        assert_eq!(
            pass(json!({"type": "tool-called", "value": {"name": "get_weather", "times": 1}})),
            Some(false)
        );
        assert_eq!(
            pass(
                json!({"type": "tool-called", "value": {"name": "get_weather",
                "arguments": {"path": "$.city", "equals": "Bergen"}}})
            ),
            Some(true)
        );
        let v = check(
            json!({"type": "tool-called", "value": {"name": "get_weather",
                "arguments": {"schema": {"type": "object", "required": ["country"]}}}}),
            &answer,
        );
        assert_eq!(v.pass, Some(false));
        assert!(
            v.reason.contains("no call's arguments match"),
            "{}",
            v.reason
        );
        assert_eq!(pass(json!({"type": "tool-args-valid"})), Some(true));
        // The schema comes from the prompt's response_format when the check gives none.
        assert_eq!(pass(json!({"type": "final-json-schema"})), Some(true));
        let v = check(
            json!({"type": "final-json-schema"}),
            &view(r#"{"temp": 21}"#, &[]),
        );
        assert!(v.reason.contains("breaks the schema"), "{}", v.reason);
        let v = check(
            json!({"type": "final-json-schema", "value": {"type": "array"}}),
            &answer,
        );
        assert_eq!(v.pass, Some(false));
        // An exchange that ends on a call (with bad arguments) has no final answer.
        static BAD: std::sync::LazyLock<Vec<CheckedCall>> = std::sync::LazyLock::new(|| {
            vec![CheckedCall {
                id: "d".into(),
                name: "get_weather".into(),
                arguments: "{}".into(),
                problem: Some("\"city\" is a required property".into()),
            }]
        });
        let ended = view("", &BAD);
        let v = check(json!({"type": "tool-args-valid"}), &ended);
        assert!(
            v.pass == Some(false) && v.reason.contains("city"),
            "{}",
            v.reason
        );
        let v = check(json!({"type": "final-json-schema"}), &ended);
        assert!(v.reason.contains("ended on a tool call"), "{}", v.reason);
        // Bad specs fail when compiled.
        for bad in [
            json!({"type": "tool-called", "value": 3}),
            json!({"type": "tool-called", "value": {"min": 3, "max": 1}}),
            json!({"type": "final-json-schema", "value": {"type": "nope"}}),
        ] {
            let spec: AssertionSpec = serde_json::from_value(bad.clone()).unwrap();
            assert!(Assertion::compile(&spec).is_err(), "{bad}");
        }
    }
}
