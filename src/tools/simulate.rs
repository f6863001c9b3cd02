//! Simulated tool results, so a tool-using prompt runs to its final answer on every model
//! without the real functions: per tool, a fixed JSON result, the value of one of the row's
//! variables, or a small Handlebars template over the call's arguments (and the row's
//! variables under `row`). The loop that sends the results back lives with the matrix runner
//! ([`crate::compare::runner`]); this module says what each result is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::chat::ToolCall;
use crate::error::{Error, Result};

/// The most model calls a simulated exchange makes unless told otherwise.
pub const DEFAULT_MAX_STEPS: u32 = 4;
/// The most a run may ask for.
pub const MAX_STEPS_LIMIT: u32 = 16;

/// Where one tool's simulated result comes from. Written as a one-key map (`{fixed: …}`,
/// `{from_variable: name}`, `{template: "…"}`) in JSON and YAML alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "snake_case",
    try_from = "SourceFields",
    into = "SourceFields"
)]
pub enum ToolResultSource {
    /// This JSON, whatever the arguments.
    Fixed(Value),
    /// The row's variable of this name (text as is, anything else as JSON).
    FromVariable(String),
    /// A Handlebars template over the arguments (`{{city}}`) and the row (`{{row.name}}`).
    Template(String),
}

/// [`ToolResultSource`] as its map (YAML has no map form for enums of its own).
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SourceFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from_variable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<String>,
}

impl TryFrom<SourceFields> for ToolResultSource {
    type Error = String;
    fn try_from(f: SourceFields) -> std::result::Result<Self, String> {
        match (f.fixed, f.from_variable, f.template) {
            (Some(v), None, None) => Ok(ToolResultSource::Fixed(v)),
            (None, Some(n), None) => Ok(ToolResultSource::FromVariable(n)),
            (None, None, Some(t)) => Ok(ToolResultSource::Template(t)),
            _ => Err("a simulated result is one of {fixed: JSON}, {from_variable: NAME} or {template: TEXT}".into()),
        }
    }
}

impl From<ToolResultSource> for SourceFields {
    fn from(s: ToolResultSource) -> Self {
        match s {
            ToolResultSource::Fixed(v) => SourceFields {
                fixed: Some(v),
                ..Default::default()
            },
            ToolResultSource::FromVariable(n) => SourceFields {
                from_variable: Some(n),
                ..Default::default()
            },
            ToolResultSource::Template(t) => SourceFields {
                template: Some(t),
                ..Default::default()
            },
        }
    }
}

/// Simulated results per tool and how many model calls an exchange may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ToolSimulation {
    #[serde(default)]
    #[cfg_attr(
        feature = "ts",
        ts(
            type = "Record<string, { fixed: unknown } | { from_variable: string } | { template: string }>"
        )
    )]
    pub results: BTreeMap<String, ToolResultSource>,
    #[serde(default = "default_steps")]
    pub max_steps: u32,
}

fn default_steps() -> u32 {
    DEFAULT_MAX_STEPS
}

impl Default for ToolSimulation {
    fn default() -> Self {
        ToolSimulation {
            results: BTreeMap::new(),
            max_steps: DEFAULT_MAX_STEPS,
        }
    }
}

impl ToolSimulation {
    /// Whether any tool has a simulated result.
    pub fn is_active(&self) -> bool {
        !self.results.is_empty()
    }

    /// Checks the step count and compiles every template, so a broken one fails before any
    /// model is called.
    pub fn validate(&self) -> Result<()> {
        self.compile().map(|_| ())
    }

    /// The simulation ready to run: step count checked, every template compiled once (strict:
    /// a name the arguments and the row lack is an error, not an empty string).
    pub fn compile(&self) -> Result<SimulatedResults> {
        if self.max_steps == 0 || self.max_steps > MAX_STEPS_LIMIT {
            return Err(Error::InvalidToolUse(format!(
                "max_steps must be from 1 to {MAX_STEPS_LIMIT}, not {}",
                self.max_steps
            )));
        }
        let mut templates = handlebars::Handlebars::new();
        templates.set_strict_mode(true);
        templates.register_escape_fn(handlebars::no_escape);
        for (name, source) in &self.results {
            if let ToolResultSource::Template(t) = source {
                let template = handlebars::Template::compile(t).map_err(|e| {
                    Error::InvalidToolUse(format!(
                        "the simulated result of '{name}' is not a valid template: {e}"
                    ))
                })?;
                templates.register_template(name, template);
            }
        }
        Ok(SimulatedResults {
            spec: self.clone(),
            templates,
        })
    }

    /// Parses the command line's `NAME=JSON`, `NAME=var:VARIABLE` or `NAME=template:TEXT`.
    pub fn parse_cli(&mut self, text: &str) -> Result<()> {
        let (name, rest) = text.split_once('=').ok_or_else(|| {
            Error::InvalidToolUse(format!(
                "'{text}': write NAME=JSON, NAME=var:VARIABLE or NAME=template:TEXT"
            ))
        })?;
        let source = if let Some(v) = rest.strip_prefix("var:") {
            ToolResultSource::FromVariable(v.trim().to_owned())
        } else if let Some(t) = rest.strip_prefix("template:") {
            ToolResultSource::Template(t.to_owned())
        } else {
            ToolResultSource::Fixed(serde_json::from_str(rest).map_err(|e| {
                Error::InvalidToolUse(format!(
                    "the result for '{name}' is not JSON ({e}); to fill it in per call, write {name}=template:TEXT"
                ))
            })?)
        };
        self.results.insert(name.trim().to_owned(), source);
        self.validate()
    }
}

/// A [`ToolSimulation`] compiled for a run: what the matrix runner asks for each call's result.
pub struct SimulatedResults {
    spec: ToolSimulation,
    /// The template results, registered under their tool's name.
    templates: handlebars::Handlebars<'static>,
}

impl std::fmt::Debug for SimulatedResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedResults")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl SimulatedResults {
    /// Whether any tool has a simulated result.
    pub fn is_active(&self) -> bool {
        self.spec.is_active()
    }

    /// The most model calls an exchange may take.
    pub fn max_steps(&self) -> u32 {
        self.spec.max_steps.max(1)
    }

    /// The result for `call` in a row with `vars`, as the text of a `tool` message; None when
    /// the tool has no simulated result (the exchange stops there). An error is a result the
    /// simulation cannot make (a missing variable, a template that fails).
    pub fn result(
        &self,
        call: &ToolCall,
        vars: &Map<String, Value>,
    ) -> Option<std::result::Result<String, String>> {
        let name = &call.function.name;
        Some(match self.spec.results.get(name)? {
            ToolResultSource::Fixed(v) => Ok(as_text(v)),
            ToolResultSource::FromVariable(var) => vars.get(var).map(as_text).ok_or_else(|| {
                format!("the row has no variable '{var}' for the result of '{name}'")
            }),
            ToolResultSource::Template(_) => {
                let args: Value =
                    serde_json::from_str(&call.function.arguments).unwrap_or_else(|_| json!({}));
                let mut context = match args {
                    Value::Object(m) => m,
                    other => Map::from_iter([("arguments".to_owned(), other)]),
                };
                context.insert("row".into(), Value::Object(vars.clone()));
                self.templates
                    .render(name, &Value::Object(context))
                    .map_err(|e| match e.reason() {
                        handlebars::RenderErrorReason::MissingVariable(Some(path)) => format!(
                            "the simulated result of '{name}' uses '{path}', which neither the call's arguments nor the row has"
                        ),
                        other => format!("the simulated result of '{name}' failed: {other}"),
                    })
            }
        })
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::FunctionCall;

    fn call(name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: "c".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: name.into(),
                arguments: args.into(),
            },
        }
    }

    #[test]
    fn each_source_makes_its_result() {
        let mut sim = ToolSimulation::default();
        sim.parse_cli(r#"get_weather={"temp_c": 21}"#).unwrap();
        sim.parse_cli("lookup=var:record").unwrap();
        sim.parse_cli(r#"echo=template:{"city": "{{city}}", "for": "{{row.user}}"}"#)
            .unwrap();
        let vars = Map::from_iter([
            ("record".to_owned(), json!({"id": 7})),
            ("user".to_owned(), json!("ana")),
        ]);
        let compiled = sim.compile().unwrap();
        let r = |name: &str, args: &str| compiled.result(&call(name, args), &vars);
        assert_eq!(r("get_weather", "{}"), Some(Ok(r#"{"temp_c":21}"#.into())));
        assert_eq!(r("lookup", "{}"), Some(Ok(r#"{"id":7}"#.into())));
        assert_eq!(
            r("echo", r#"{"city":"Oslo"}"#),
            Some(Ok(r#"{"city": "Oslo", "for": "ana"}"#.into()))
        );
        assert_eq!(r("unknown", "{}"), None);
        // Strict: a name neither the arguments nor the row has is an error, not "".
        let e = r("echo", r#"{"town":"Oslo"}"#).unwrap().unwrap_err();
        assert!(e.contains("uses 'city'"), "{e}");
        let missing = ToolSimulation {
            results: BTreeMap::from([(
                "lookup".to_owned(),
                ToolResultSource::FromVariable("nope".into()),
            )]),
            ..Default::default()
        };
        assert!(
            missing
                .compile()
                .unwrap()
                .result(&call("lookup", "{}"), &vars)
                .unwrap()
                .unwrap_err()
                .contains("no variable 'nope'")
        );
    }

    #[test]
    fn sources_read_as_one_key_maps_in_json_and_yaml() {
        let yaml = "results:\n  a: {fixed: {x: 1}}\n  b: {from_variable: v}\n  c: {template: 'x {{y}}'}\nmax_steps: 2\n";
        let sim: ToolSimulation = serde_norway::from_str(yaml).unwrap();
        assert_eq!(sim.results["a"], ToolResultSource::Fixed(json!({"x": 1})));
        assert_eq!(sim.results["b"], ToolResultSource::FromVariable("v".into()));
        let json_text = serde_json::to_string(&sim).unwrap();
        assert!(
            json_text.contains(r#""b":{"from_variable":"v"}"#),
            "{json_text}"
        );
        assert_eq!(
            serde_json::from_str::<ToolSimulation>(&json_text).unwrap(),
            sim
        );
        let e =
            serde_norway::from_str::<ToolSimulation>("results:\n  a: {fixed: 1, template: x}\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("one of"), "{e}");
    }

    #[test]
    fn bad_specs_are_refused_before_a_run() {
        let mut sim = ToolSimulation::default();
        assert!(
            sim.parse_cli("f={not json")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        assert!(sim.parse_cli("no-equals").is_err());
        assert!(
            sim.parse_cli("f=template:{{#if}}")
                .unwrap_err()
                .to_string()
                .contains("not a valid template")
        );
        let many = ToolSimulation {
            max_steps: 99,
            ..Default::default()
        };
        assert!(many.validate().is_err());
    }
}
