//! Prompt templates and their immutable versions: the content a version holds, how it is
//! validated, and the content hash that decides whether a save creates a new version.
//!
//! The database side (creating prompts, saving versions, moving labels) lives in
//! [`crate::store::prompts`]; this module is pure data and rules so the file format, the diff and
//! the renderer can share it without touching SQLite.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::template::{self, CompiledPrompt, TemplateRefs};

pub use crate::message::{Message, Role};

/// What the author says about a template variable: a default used when a caller leaves it out, and
/// a description shown next to its input field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// Declared variables by name, in the order written.
pub type VariableMap = IndexMap<String, VariableSpec>;

/// Everything one version of a prompt holds, apart from its number, commit message and time.
/// Two saves with equal content (see [`PromptContent::content_hash`]) are the same version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Model string as callers write it: `gpt-4o-mini`, `anthropic/claude-…`, `@my-key/model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model parameters in the OpenAI chat vocabulary (temperature, max_tokens, top_p, stop,
    /// response_format, …). Key order is kept as written.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
    /// Declared variables (defaults and descriptions), in the order the author wrote them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub variables: IndexMap<String, VariableSpec>,
    pub messages: Vec<Message>,
}

impl PromptContent {
    /// A stable hash of the content's meaning: object keys are sorted first, so reordering the
    /// parameters in a file is not a new version, while any change to text or a value is.
    pub fn content_hash(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        hex::encode(digest.as_ref())
    }

    /// Checks everything that can be checked without other prompts: at least one message,
    /// templates that compile (errors carry line and column), and well-typed known parameters.
    pub fn validate(&self) -> Result<()> {
        if self.messages.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        for (index, message) in self.messages.iter().enumerate() {
            template::compile(index, message.role, &message.content)?;
            for call in &message.tool_calls {
                template::compile(index, message.role, &call.arguments)?;
            }
            crate::images::validate_embedded(&message.content, index)?;
        }
        validate_tool_use(&self.messages)?;
        validate_params(&self.params)?;
        for (name, _) in &self.variables {
            validate_variable_name(name)?;
        }
        Ok(())
    }

    /// The variables and partials all messages use. Declared variables that no template
    /// mentions are appended at the end, so a form built from this list offers every input.
    pub fn references(&self) -> Result<TemplateRefs> {
        let mut refs = template::references(&self.messages)?;
        for name in self.variables.keys() {
            refs.add_variable(name.clone());
        }
        Ok(refs)
    }

    /// The messages compiled once (with `partials` as `(slug, template source)` pairs), over
    /// the declared defaults, to render many times.
    pub fn compile(&self, partials: &[(String, String)]) -> Result<CompiledPrompt> {
        CompiledPrompt::new(&self.messages, self.defaults(), partials)
    }

    /// Default values of declared variables, as a JSON object.
    pub fn defaults(&self) -> Map<String, Value> {
        self.variables
            .iter()
            .filter_map(|(k, spec)| spec.default.clone().map(|v| (k.clone(), v)))
            .collect()
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Tool calls only on assistant messages, each with a unique id and a usable function name;
/// `tool` messages only after the call they answer (by id), each call answered at most once and
/// before the next message that is not a tool result (a template may end with open calls: the
/// caller's messages answer them).
fn validate_tool_use(messages: &[Message]) -> Result<()> {
    use crate::message::{is_function_name, is_tool_call_id};
    let mut open: Vec<&str> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let bad = |s: String| Err(Error::InvalidToolUse(s));
    for (i, m) in messages.iter().enumerate() {
        let n = i + 1;
        // Providers want every call answered right after the message that makes it.
        if m.role != Role::Tool && !open.is_empty() {
            return bad(format!(
                "message {n} ({}) comes before the result of {}; a tool message answering each call must follow the assistant message that makes it",
                m.role,
                open.iter()
                    .map(|id| format!("'{id}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !m.tool_calls.is_empty() && m.role != Role::Assistant {
            return bad(format!(
                "message {n} ({}) has tool calls; only assistant messages call tools",
                m.role
            ));
        }
        for call in &m.tool_calls {
            if !is_tool_call_id(&call.id) {
                return bad(format!(
                    "message {n}: '{}' is not a usable call id (letters, digits, '_' or '-')",
                    call.id
                ));
            }
            if !is_function_name(&call.name) {
                return bad(format!(
                    "message {n}: '{}' is not a function name",
                    call.name
                ));
            }
            if seen.contains(&call.id.as_str()) {
                return bad(format!(
                    "message {n}: the call id '{}' is used twice",
                    call.id
                ));
            }
            seen.push(&call.id);
            open.push(&call.id);
        }
        match (m.role, &m.tool_call_id) {
            (Role::Tool, None) => {
                return bad(format!(
                    "message {n} is a tool result without the id of the call it answers"
                ));
            }
            (Role::Tool, Some(id)) => match open.iter().position(|o| o == id) {
                Some(at) => {
                    open.remove(at);
                }
                None => {
                    return bad(format!(
                        "message {n} answers the call '{id}', which no earlier assistant message makes (or another result already answered)"
                    ));
                }
            },
            (_, Some(_)) => {
                return bad(format!(
                    "message {n} ({}) has a call id; only tool messages answer calls",
                    m.role
                ));
            }
            (_, None) => {}
        }
    }
    Ok(())
}

fn validate_variable_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidVariables(format!(
            "'{name}' is not a usable variable name (letters, digits, '_' or '-', not starting with a digit)"
        )))
    }
}

/// Known OpenAI-vocabulary parameters are type-checked so a typo'd value fails at save time rather
/// than at the provider, tools and the response format with their schemas
/// ([`crate::tools::validate_params`]). Unknown parameters pass through untouched (providers add
/// new ones often).
pub fn validate_params(params: &Map<String, Value>) -> Result<()> {
    let bad = |key: &str, want: &str| {
        Err(Error::InvalidVariables(format!(
            "model parameter '{key}' must be {want}"
        )))
    };
    for (key, value) in params {
        match key.as_str() {
            "temperature" => match value.as_f64() {
                Some(t) if (0.0..=2.0).contains(&t) => {}
                _ => return bad(key, "a number from 0 to 2"),
            },
            "top_p" => match value.as_f64() {
                Some(t) if (0.0..=1.0).contains(&t) => {}
                _ => return bad(key, "a number from 0 to 1"),
            },
            "presence_penalty" | "frequency_penalty" => match value.as_f64() {
                Some(t) if (-2.0..=2.0).contains(&t) => {}
                _ => return bad(key, "a number from -2 to 2"),
            },
            "max_tokens" | "max_completion_tokens" | "n" => match value.as_u64() {
                Some(n) if n > 0 => {}
                _ => return bad(key, "a positive whole number"),
            },
            "seed" if value.as_i64().is_none() => return bad(key, "a whole number"),
            "stop" => {
                let ok = value.is_string()
                    || value
                        .as_array()
                        .is_some_and(|a| a.len() <= 4 && a.iter().all(Value::is_string));
                if !ok {
                    return bad(key, "a string or a list of at most 4 strings");
                }
            }
            "messages" | "model" | "stream" => {
                return Err(Error::InvalidVariables(format!(
                    "'{key}' is not a model parameter: set it on the prompt itself or per request"
                )));
            }
            _ => {}
        }
    }
    // Tools, tool choice and the response format (with their JSON Schemas).
    crate::tools::validate_params(params)
}

/// A stored prompt: stable id, unique slug, and where its versions and labels stand.
#[derive(Debug, Clone, Serialize)]
pub struct Prompt {
    pub id: String,
    pub slug: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub latest_version: i64,
    pub description: Option<String>,
    pub model: Option<String>,
    pub labels: Vec<Label>,
}

/// A named pointer at one version of one prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub name: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// One immutable version.
#[derive(Debug, Clone, Serialize)]
pub struct PromptVersion {
    pub prompt_id: String,
    pub slug: String,
    pub version: i64,
    pub content: PromptContent,
    pub message: Option<String>,
    pub content_hash: String,
    pub created_at: DateTime<Utc>,
    /// Labels pointing at this version.
    pub labels: Vec<String>,
}

/// Which version of a prompt a caller wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// The newest version.
    Latest,
    /// What the gateway serves when nothing is asked for: the `production` label, else latest.
    Default,
    Number(i64),
    Label(String),
}

impl VersionSelector {
    pub fn from_options(version: Option<i64>, label: Option<String>) -> Self {
        match (version, label) {
            (Some(n), _) => VersionSelector::Number(n),
            (None, Some(l)) if l == "latest" => VersionSelector::Latest,
            (None, Some(l)) => VersionSelector::Label(l),
            (None, None) => VersionSelector::Latest,
        }
    }
}

/// What a save did.
#[derive(Debug, Clone, Serialize)]
pub struct SaveOutcome {
    pub prompt_id: String,
    pub slug: String,
    pub version: i64,
    /// False when the content equalled the latest version and nothing was written.
    pub created: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content() -> PromptContent {
        PromptContent {
            messages: vec![Message::new(Role::User, "Hello {{name}}")],
            ..Default::default()
        }
    }

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let mut a = content();
        a.params.insert("temperature".into(), json!(0.2));
        a.params.insert("max_tokens".into(), json!(100));
        let mut b = content();
        b.params.insert("max_tokens".into(), json!(100));
        b.params.insert("temperature".into(), json!(0.2));
        assert_eq!(a.content_hash(), b.content_hash());
        b.params.insert("temperature".into(), json!(0.3));
        assert_ne!(a.content_hash(), b.content_hash());
        let mut c = content();
        c.messages[0].content.push(' ');
        assert_ne!(content().content_hash(), c.content_hash());
    }

    #[test]
    fn params_are_type_checked() {
        let mut c = content();
        c.params.insert("temperature".into(), json!(3));
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("temperature"), "{err}");
        c.params.insert("temperature".into(), json!(1));
        c.params.insert("stop".into(), json!(["a", 1]));
        assert!(c.validate().is_err());
        c.params.insert("stop".into(), json!(["a", "b"]));
        c.params
            .insert("response_format".into(), json!({"type": "json_object"}));
        c.params
            .insert("vendor_specific".into(), json!({"anything": true}));
        c.validate().unwrap();
    }

    #[test]
    fn empty_prompt_is_refused() {
        assert!(matches!(
            PromptContent::default().validate(),
            Err(Error::EmptyPrompt)
        ));
    }

    #[test]
    fn tool_use_in_templates_must_fit_together() {
        use crate::message::ToolCallTemplate;
        let call = |id: &str| {
            let mut m = Message::new(Role::Assistant, "");
            m.tool_calls.push(ToolCallTemplate {
                id: id.into(),
                name: "lookup".into(),
                arguments: "{\"q\": \"{{q}}\"}".into(),
            });
            m
        };
        let with = |messages: Vec<Message>| PromptContent {
            messages,
            ..Default::default()
        };
        let ok = with(vec![
            Message::new(Role::User, "{{q}}"),
            call("c1"),
            Message::tool_result("c1", "{}"),
        ]);
        ok.validate().unwrap();
        assert_eq!(ok.references().unwrap().variables, ["q"]);
        let cases = [
            (
                vec![Message::tool_result("c9", "{}")],
                "no earlier assistant message makes",
            ),
            (
                vec![
                    call("c1"),
                    Message::tool_result("c1", ""),
                    Message::tool_result("c1", ""),
                ],
                "another result already answered",
            ),
            (
                vec![call("c1"), Message::tool_result("c1", ""), call("c1")],
                "used twice",
            ),
            (
                vec![call("c1"), Message::new(Role::User, "and?")],
                "message 2 (user) comes before the result of 'c1'",
            ),
            (vec![Message::new(Role::Tool, "{}")], "without the id"),
        ];
        for (messages, want) in cases {
            let e = with(messages).validate().unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let mut user_call = call("c1");
        user_call.role = Role::User;
        let e = with(vec![user_call]).validate().unwrap_err().to_string();
        assert!(e.contains("only assistant messages call tools"), "{e}");
        let mut broken = call("c1");
        broken.tool_calls[0].arguments = "{{#if x}}".into();
        assert!(matches!(
            with(vec![broken]).validate(),
            Err(Error::TemplateSyntax { .. } | Error::TemplateSyntaxNoPosition { .. })
        ));
    }
}
