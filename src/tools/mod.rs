//! Tools and response schemas as a prompt version holds them: the OpenAI-vocabulary parameters
//! `tools`, `tool_choice`, `parallel_tool_calls` and `response_format`, checked at save time (a
//! function's `parameters` and a `json_schema` must be valid JSON Schemas; an error names where),
//! and the checks made on what a model answers: a tool call's arguments against its function's
//! schema, a final answer against the response schema.
//!
//! The parameters stay in the version's `params` map, in the words every OpenAI client already
//! uses, so they are part of the content hash, the prompt file's front matter and the gateway's
//! request without a second format; this module gives them types and rules.

pub mod simulate;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::chat::{Tool, ToolCall};
use crate::error::{Error, Result};
use crate::message::is_function_name;

/// Checks `tools`, `tool_choice`, `parallel_tool_calls` and `response_format` in `params`.
pub fn validate_params(params: &Map<String, Value>) -> Result<()> {
    let tools = match params.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => parse_tools(value)?,
    };
    if let Some(choice) = params.get("tool_choice") {
        validate_tool_choice(choice, &tools)?;
    }
    if let Some(value) = params.get("parallel_tool_calls")
        && !value.is_boolean()
    {
        return Err(invalid("parallel_tool_calls", "must be true or false"));
    }
    if let Some(format) = params.get("response_format") {
        response_schema(format)?;
    }
    Ok(())
}

/// The declared tools, each checked: a `function` type, a usable unique name, and parameters
/// that are a JSON Schema for an object.
pub fn parse_tools(value: &Value) -> Result<Vec<Tool>> {
    let Value::Array(items) = value else {
        return Err(invalid("tools", "must be a list of tool definitions"));
    };
    let mut tools: Vec<Tool> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("tools[{i}]");
        if let Some(kind) = item.get("type").and_then(Value::as_str)
            && kind != "function"
        {
            return Err(invalid(
                &at,
                &format!("type '{kind}' is not supported; tools are functions (type: function)"),
            ));
        }
        let tool: Tool = serde_json::from_value(item.clone()).map_err(|e| {
            invalid(
                &at,
                &format!("needs `function` with a `name` (and optionally `description` and `parameters`): {e}"),
            )
        })?;
        let name = &tool.function.name;
        if !is_function_name(name) {
            return Err(invalid(
                &format!("{at}.function.name"),
                &format!("'{name}' is not a function name (1–64 letters, digits, '_', '-' or '.')"),
            ));
        }
        if tools.iter().any(|t| &t.function.name == name) {
            return Err(invalid(
                &format!("{at}.function.name"),
                &format!("'{name}' is declared twice"),
            ));
        }
        if let Some(parameters) = &tool.function.parameters {
            let at = format!("{at}.function.parameters");
            check_schema(&at, parameters)?;
            if parameters.get("type").and_then(Value::as_str) != Some("object") {
                return Err(invalid(
                    &at,
                    "must be a schema of `type: object` (a function's arguments are an object)",
                ));
            }
        }
        tools.push(tool);
    }
    Ok(tools)
}

fn validate_tool_choice(choice: &Value, tools: &[Tool]) -> Result<()> {
    match choice {
        Value::String(s) if matches!(s.as_str(), "none" | "auto" | "required") => {
            if s == "required" && tools.is_empty() {
                return Err(invalid("tool_choice", "'required' needs at least one tool"));
            }
            Ok(())
        }
        Value::Object(_) => {
            let name = choice
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid(
                        "tool_choice",
                        "must be none, auto, required or {type: function, function: {name}}",
                    )
                })?;
            if tools.iter().any(|t| t.function.name == name) {
                Ok(())
            } else {
                Err(invalid(
                    "tool_choice",
                    &format!("names '{name}', which is not one of the prompt's tools"),
                ))
            }
        }
        _ => Err(invalid(
            "tool_choice",
            "must be none, auto, required or {type: function, function: {name}}",
        )),
    }
}

/// The schema a `response_format` asks the answer to follow (None for `text` and
/// `json_object`), checked.
pub fn response_schema(format: &Value) -> Result<Option<&Value>> {
    let schema = requested_schema(format)?;
    if let Some(schema) = schema {
        check_schema("response_format.json_schema.schema", schema)?;
    }
    Ok(schema)
}

/// The schema a `response_format` names, its shape checked (a usable name, a schema present)
/// but the schema itself not yet.
fn requested_schema(format: &Value) -> Result<Option<&Value>> {
    match format.get("type").and_then(Value::as_str) {
        Some("text" | "json_object") => Ok(None),
        Some("json_schema") => {
            let spec = format.get("json_schema").ok_or_else(|| {
                invalid(
                    "response_format",
                    "type json_schema needs `json_schema: {name, schema}`",
                )
            })?;
            match spec.get("name").and_then(Value::as_str) {
                Some(name) if is_schema_name(name) => {}
                Some(name) => {
                    return Err(invalid(
                        "response_format.json_schema.name",
                        &format!(
                            "'{name}' is not a usable name (1 to 64 letters, digits, '_' or '-')"
                        ),
                    ));
                }
                None => {
                    return Err(invalid(
                        "response_format.json_schema",
                        "needs a `name` (providers require one)",
                    ));
                }
            }
            let schema = spec.get("schema").ok_or_else(|| {
                invalid(
                    "response_format.json_schema",
                    "needs a `schema` (the JSON Schema the answer must follow)",
                )
            })?;
            Ok(Some(schema))
        }
        _ => Err(invalid(
            "response_format",
            "must be an object with type text, json_object or json_schema",
        )),
    }
}

/// Whether `name` can name a response schema: OpenAI takes letters, digits, `_` and `-`, up to
/// 64 (a function name may also hold `.`; a schema name may not).
fn is_schema_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The compiled schema a `response_format` asks for, if it asks for one (and it compiles; it
/// was checked when the version was saved). Compiled once: compiling is the check.
pub fn response_validator(format: &Value) -> Option<jsonschema::Validator> {
    let schema = requested_schema(format).ok()??;
    compile_schema("response_format", schema).ok()
}

/// Compiles `schema` (which also checks it against its meta-schema); an error says where in
/// the schema it is.
pub fn compile_schema(at: &str, schema: &Value) -> Result<jsonschema::Validator> {
    if !schema.is_object() {
        return Err(invalid(at, "must be a JSON Schema object"));
    }
    jsonschema::validator_for(schema).map_err(|e| {
        let path = e.instance_path().to_string();
        let place = if path.is_empty() || path == "/" {
            at.to_owned()
        } else {
            format!("{at} at {path}")
        };
        invalid(&place, &format!("not a valid JSON Schema: {e}"))
    })
}

fn check_schema(at: &str, schema: &Value) -> Result<()> {
    compile_schema(at, schema).map(|_| ())
}

fn invalid(at: &str, reason: &str) -> Error {
    Error::InvalidSchema {
        at: at.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A tool call as a person reads it: the function, its arguments parsed and pretty-printed,
/// and whether they fit the function's schema.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CheckedCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model sent them (JSON text, possibly broken).
    pub arguments: String,
    /// What is wrong with the arguments (not JSON, no such tool, or where they break the
    /// schema); None when they are valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl CheckedCall {
    /// The arguments pretty-printed when they are JSON, else as sent.
    pub fn pretty_arguments(&self) -> String {
        serde_json::from_str::<Value>(&self.arguments)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| self.arguments.clone())
    }
}

/// One model turn of a tool-using exchange that ended in calls, and the simulated results
/// sent back for them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ToolStep {
    /// What the model said alongside its calls (often nothing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    pub calls: Vec<CheckedCall>,
    pub results: Vec<ToolResult>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// A simulated result as sent back to the model.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ToolResult {
    pub id: String,
    pub name: String,
    pub content: String,
}

/// The declared tools' argument schemas, compiled once per run.
#[derive(Clone, Default)]
pub struct ToolSchemas {
    by_name: BTreeMap<String, Option<Arc<jsonschema::Validator>>>,
}

impl ToolSchemas {
    /// The compiled schemas of a request's tools, if it has any.
    pub fn of(tools: Option<&[Tool]>) -> ToolSchemas {
        tools.map(ToolSchemas::new).unwrap_or_default()
    }

    /// Compiles the schemas of `tools` (already validated at save time; one that fails now is
    /// treated as having no schema).
    pub fn new(tools: &[Tool]) -> ToolSchemas {
        ToolSchemas {
            by_name: tools
                .iter()
                .map(|t| {
                    let v = t
                        .function
                        .parameters
                        .as_ref()
                        .and_then(|p| jsonschema::validator_for(p).ok())
                        .map(Arc::new);
                    (t.function.name.clone(), v)
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Checks one call.
    pub fn check(&self, call: &ToolCall) -> CheckedCall {
        let name = &call.function.name;
        let problem = match self.by_name.get(name) {
            None if self.by_name.is_empty() => None,
            None => Some(format!("'{name}' is not one of the prompt's tools")),
            Some(validator) => match serde_json::from_str::<Value>(&call.function.arguments) {
                Err(e) => Some(format!("the arguments are not JSON: {e}")),
                Ok(args) => validator.as_ref().and_then(|v| schema_problem(v, &args)),
            },
        };
        CheckedCall {
            id: call.id.clone(),
            name: name.clone(),
            arguments: call.function.arguments.clone(),
            problem,
        }
    }
}

/// Where `value` breaks `validator`'s schema, as one sentence (up to three places).
pub fn schema_problem(validator: &jsonschema::Validator, value: &Value) -> Option<String> {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .take(3)
        .map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn weather() -> Value {
        json!({"type": "function", "function": {
            "name": "get_weather",
            "description": "Weather now",
            "parameters": {"type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]}}})
    }

    #[test]
    fn good_tools_and_schema_pass() {
        validate_params(&params(json!({
            "tools": [weather()],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": {"type": "object"}}}
        })))
        .unwrap();
    }

    #[test]
    fn a_broken_schema_is_named_with_its_path() {
        let mut bad = weather();
        bad["function"]["parameters"]["properties"]["city"]["type"] = json!("strng");
        let e = validate_params(&params(json!({"tools": [bad]})))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("tools[0].function.parameters at /properties/city/type"),
            "{e}"
        );
        let e = validate_params(&params(json!({"response_format": {"type": "json_schema",
            "json_schema": {"name": "a", "schema": {"type": "object", "required": "x"}}}})))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("response_format.json_schema.schema at /required"),
            "{e}"
        );
    }

    #[test]
    fn names_choices_and_kinds_are_checked() {
        let cases = [
            (json!({"tools": [weather(), weather()]}), "declared twice"),
            (
                json!({"tools": [{"type": "function", "function": {"name": "get weather"}}]}),
                "not a function name",
            ),
            (
                json!({"tools": [{"type": "retrieval"}]}),
                "type 'retrieval' is not supported",
            ),
            (
                json!({"tools": [weather()], "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
                "not one of the prompt's tools",
            ),
            (
                json!({"tool_choice": "required"}),
                "needs at least one tool",
            ),
            (json!({"parallel_tool_calls": "yes"}), "true or false"),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]}),
                "type: object",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}),
                "needs a `name`",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "v1.answer", "schema": {}}}}),
                "'v1.answer' is not a usable name",
            ),
        ];
        for (p, want) in cases {
            let e = validate_params(&params(p.clone())).unwrap_err().to_string();
            assert!(e.contains(want), "{p}: {e}");
        }
    }

    #[test]
    fn calls_are_checked_against_their_schema() {
        let tools = parse_tools(&json!([weather()])).unwrap();
        let schemas = ToolSchemas::new(&tools);
        let call = |name: &str, args: &str| ToolCall {
            id: "c1".into(),
            kind: "function".into(),
            function: crate::chat::FunctionCall {
                name: name.into(),
                arguments: args.into(),
            },
        };
        assert_eq!(
            schemas
                .check(&call("get_weather", r#"{"city":"Oslo"}"#))
                .problem,
            None
        );
        let bad = schemas.check(&call("get_weather", r#"{"town":"Oslo"}"#));
        assert!(
            bad.problem
                .as_deref()
                .unwrap()
                .contains("\"city\" is a required"),
            "{bad:?}"
        );
        let bad = schemas.check(&call("get_weather", "{city"));
        assert!(bad.problem.unwrap().contains("not JSON"));
        let bad = schemas.check(&call("set_alarm", "{}"));
        assert!(
            bad.problem
                .unwrap()
                .contains("not one of the prompt's tools")
        );
        let pretty = schemas
            .check(&call("get_weather", r#"{"city":"Oslo"}"#))
            .pretty_arguments();
        assert_eq!(pretty, "{\n  \"city\": \"Oslo\"\n}");
    }
}
