//! Import of Microsoft Prompty `.prompty` files.
//!
//! Prompty's front matter (`name`, `description`, `model: {api, configuration, parameters}`,
//! `inputs`, `sample`, `tools`) maps onto a Portolan prompt: the deployment or model name becomes the model
//! string, `parameters` the model parameters, `inputs` the variables (with `sample` values as
//! defaults). The body uses the same role lines. Prompty templates are Jinja2; the simple
//! `{{ name }}` substitutions are valid Handlebars, while Jinja statements (`{% … %}`) and filters
//! are refused with the line to rewrite.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::prompt_file::{PromptFile, parse_body, split_front_matter};
use crate::prompts::{PromptContent, VariableSpec};

pub fn parse(text: &str, path: &Path) -> Result<PromptFile> {
    let (yaml, body, body_line) = split_front_matter(text, path)?;
    let front: Value = serde_norway::from_str(yaml).map_err(|e| Error::PromptFileAt {
        path: path.to_path_buf(),
        line: e.location().map_or(1, |l| l.line()) + 1,
        reason: format!("front matter: {e}"),
    })?;
    let str_at = |v: &Value, keys: &[&str]| -> Option<String> {
        let mut node = v;
        for k in keys {
            node = node.get(*k)?;
        }
        node.as_str().map(str::to_owned)
    };
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".prompty").to_owned())
        .unwrap_or_default();
    let name = str_at(&front, &["name"])
        .map(|n| crate::ids::slugify(&n))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| crate::ids::slugify(&stem));

    let model = ["azure_deployment", "name", "model", "deployment"]
        .iter()
        .find_map(|k| str_at(&front, &["model", "configuration", k]))
        .or_else(|| str_at(&front, &["model", "id"]))
        .or_else(|| str_at(&front, &["model"]));
    let mut params: Map<String, Value> = front
        .pointer("/model/parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // Newer Prompty files declare tools at the top level, flat (`name`, `description`,
    // `parameters`); they become OpenAI function tools unless the parameters already have some.
    if let Some(Value::Array(tools)) = front.get("tools")
        && !params.contains_key("tools")
    {
        let mapped: Vec<Value> = tools
            .iter()
            .map(|t| {
                if t.get("function").is_some() {
                    return t.clone();
                }
                let mut function = Map::new();
                for key in ["name", "description", "parameters"] {
                    if let Some(v) = t.get(key) {
                        function.insert(key.into(), v.clone());
                    }
                }
                serde_json::json!({"type": "function", "function": function})
            })
            .collect();
        params.insert("tools".into(), Value::Array(mapped));
    }

    let sample = front.get("sample").and_then(Value::as_object);
    let mut variables: IndexMap<String, VariableSpec> = IndexMap::new();
    if let Some(inputs) = front.get("inputs").and_then(Value::as_object) {
        for (k, spec) in inputs {
            let (description, default) = match spec {
                Value::Object(o) => (
                    o.get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    o.get("default").or_else(|| o.get("sample")).cloned(),
                ),
                other => (None, Some(other.clone())),
            };
            let default = default.or_else(|| sample.and_then(|s| s.get(k)).cloned());
            variables.insert(
                k.clone(),
                VariableSpec {
                    description,
                    default,
                },
            );
        }
    }
    if let Some(sample) = sample {
        for (k, v) in sample {
            variables.entry(k.clone()).or_insert_with(|| VariableSpec {
                description: None,
                default: Some(v.clone()),
            });
        }
    }

    for (i, line) in body.lines().enumerate() {
        if line.contains("{%") || line.contains("{#") && line.contains("#}") {
            return Err(Error::PromptFileAt {
                path: path.to_path_buf(),
                line: body_line + i,
                reason: "Jinja2 statements ({% … %}) are not Handlebars; rewrite them with \
                         {{#if}}, {{#each}} or {{#unless}}"
                    .into(),
            });
        }
        if line.contains("{{") && line.contains('|') {
            let inside = line
                .split("{{")
                .skip(1)
                .any(|s| s.split("}}").next().is_some_and(|t| t.contains('|')));
            if inside {
                return Err(Error::PromptFileAt {
                    path: path.to_path_buf(),
                    line: body_line + i,
                    reason: "Jinja2 filters ({{ x | f }}) are not Handlebars; remove the filter"
                        .into(),
                });
            }
        }
    }
    let messages = parse_body(body, body_line, path, true)?;
    Ok(PromptFile {
        name,
        content: PromptContent {
            description: str_at(&front, &["description"]),
            model,
            params,
            variables,
            messages,
        },
        labels: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::Role;
    use serde_json::json;

    const BASIC: &str = r#"---
name: Basic Prompt
description: A basic prompt that uses the chat API to answer questions
authors:
  - someone
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-35-turbo
  parameters:
    max_tokens: 128
    temperature: 0.2
inputs:
  question:
    type: string
    description: What to ask
sample:
  firstName: Jane
  question: What is the meaning of life?
---
system:
You are an AI assistant who helps people find information.
Address {{firstName}} by name.

# user:
{{ question }}
"#;

    #[test]
    fn maps_prompty_fields() {
        let f = parse(BASIC, Path::new("basic.prompty")).unwrap();
        assert_eq!(f.name, "basic-prompt");
        assert_eq!(f.content.model.as_deref(), Some("gpt-35-turbo"));
        assert_eq!(f.content.params["max_tokens"], json!(128));
        assert_eq!(
            f.content.variables["question"].description.as_deref(),
            Some("What to ask")
        );
        assert_eq!(
            f.content.variables["question"].default,
            Some(json!("What is the meaning of life?"))
        );
        assert_eq!(
            f.content.variables["firstName"].default,
            Some(json!("Jane"))
        );
        assert_eq!(f.content.messages.len(), 2);
        assert_eq!(f.content.messages[1].role, Role::User);
        assert_eq!(f.content.messages[1].content, "{{ question }}");
        f.content.validate().unwrap();
    }

    #[test]
    fn jinja_statements_are_refused_with_line() {
        let text = "---\nname: x\n---\nuser:\n{% for a in b %}{{a}}{% endfor %}\n";
        let e = parse(text, Path::new("x.prompty")).unwrap_err().to_string();
        assert!(e.starts_with("x.prompty:5:") && e.contains("Jinja2"), "{e}");
        let text = "---\nname: x\n---\nuser:\n{{ a | upper }}\n";
        assert!(parse(text, Path::new("x.prompty")).is_err());
    }

    #[test]
    fn a_heading_that_reads_like_a_tool_section_stays_text() {
        let text = "---\nname: x\n---\nsystem:\nUse the tools.\n# Tool usage:\nCall get_weather first.\n\n# User:\n{{ q }}\n";
        let f = parse(text, Path::new("x.prompty")).unwrap();
        assert_eq!(f.content.messages.len(), 2);
        assert_eq!(
            f.content.messages[0].content,
            "Use the tools.\n# Tool usage:\nCall get_weather first."
        );
        assert_eq!(f.content.messages[1].role, Role::User);
    }

    #[test]
    fn tools_and_schemas_come_along() {
        let text = "---\nname: weather\nmodel:\n  api: chat\n  configuration:\n    name: gpt-4o\n  parameters:\n    response_format:\n      type: json_schema\n      json_schema:\n        name: reply\n        schema:\n          type: object\ntools:\n- name: get_weather\n  description: Weather now\n  parameters:\n    type: object\n    properties:\n      city:\n        type: string\n---\nuser:\n{{ city }}\n";
        let f = parse(text, Path::new("weather.prompty")).unwrap();
        assert_eq!(
            f.content.params["tools"],
            json!([{"type": "function", "function": {"name": "get_weather",
                "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
        );
        assert_eq!(
            f.content.params["response_format"]["type"],
            json!("json_schema")
        );
        f.content.validate().unwrap();
    }
}
