//! The prompt file format, `<slug>.prompt.md`, which is also the bundle format.
//!
//! Modelled on Microsoft's Prompty: YAML front matter between `---` lines, then the chat messages
//! as role sections, each opened by a line that is exactly `system:`, `user:` or `assistant:`.
//!
//! ```text
//! ---
//! name: support-reply
//! description: Answers a support ticket in a chosen tone.
//! model:
//!   id: gpt-4o-mini
//!   parameters:
//!     temperature: 0.4
//! variables:
//!   tone:
//!     description: How the reply should sound
//!     default: friendly
//! labels:
//! - production
//! ---
//! system:
//! You are a {{tone}} support agent.
//!
//! user:
//! {{ticket}}
//! ```
//!
//! Tool use is written as sections too: `tool_call <id> <function>:` opens a call's arguments (a
//! template rendering to a JSON object) attached to the assistant message before it, and
//! `tool <id>:` opens the result answering that call:
//!
//! ```text
//! assistant:
//! Let me look that up.
//!
//! tool_call call_1 get_weather:
//! {"city": "{{city}}"}
//!
//! tool call_1:
//! {"temp_c": 21}
//! ```
//!
//! Images are Markdown image lines in a message's text (`![chart](data:image/png;base64,…)` or
//! `![photo]({{photo}})`), see [`crate::images`].
//!
//! [`render`] writes the canonical form; [`parse`] reads it back to the same content, and a
//! canonical file parsed and rendered again gives the same bytes. Sections are separated by one
//! blank line, so a message's own trailing newlines survive the round trip. A message line that
//! would read as a role line is written with a leading backslash (`\user:`), removed on reading.

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::message::{ToolCallTemplate, is_function_name, is_tool_call_id};
use crate::prompts::{Message, PromptContent, Role, VariableSpec};

pub const EXTENSION: &str = ".prompt.md";

/// One prompt as a file holds it: its slug, one version's content, and the labels on that
/// version.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFile {
    pub name: String,
    pub content: PromptContent,
    pub labels: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<ModelField>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    variables: IndexMap<String, VariableSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    labels: Vec<String>,
}

/// `model: gpt-4o-mini` is accepted when editing by hand; the canonical form is the mapping.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ModelField {
    Id(String),
    Full(ModelSection),
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ModelSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    parameters: Map<String, Value>,
}

/// The settings part of a version (everything but messages) as canonical YAML; the diff uses it.
pub fn settings_yaml(content: &PromptContent) -> String {
    #[derive(Serialize)]
    struct Settings<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        description: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<ModelSection>,
        #[serde(skip_serializing_if = "IndexMap::is_empty")]
        variables: &'a IndexMap<String, VariableSpec>,
    }
    let yaml = serde_norway::to_string(&Settings {
        description: &content.description,
        model: model_section(content),
        variables: &content.variables,
    })
    .unwrap_or_default();
    if yaml.trim() == "{}" {
        String::new()
    } else {
        yaml
    }
}

fn model_section(content: &PromptContent) -> Option<ModelSection> {
    if content.model.is_none() && content.params.is_empty() {
        None
    } else {
        Some(ModelSection {
            id: content.model.clone(),
            parameters: content.params.clone(),
        })
    }
}

/// Writes the canonical file text.
pub fn render(file: &PromptFile) -> String {
    let front = FrontMatter {
        name: file.name.clone(),
        description: file.content.description.clone(),
        model: model_section(&file.content).map(ModelField::Full),
        variables: file.content.variables.clone(),
        labels: file.labels.clone(),
    };
    // Serialising plain strings, maps and JSON values to YAML cannot fail.
    let yaml = serde_norway::to_string(&front).expect("front matter serialises");
    let mut out = String::with_capacity(yaml.len() + 256);
    out.push_str("---\n");
    out.push_str(&yaml);
    out.push_str("---\n");
    let section = |out: &mut String, head: &str, text: &str| {
        if !out.ends_with("---\n") {
            out.push('\n');
        }
        out.push_str(head);
        out.push_str(":\n");
        for line in text.split_inclusive('\n') {
            if escaped_marker_depth(line.trim_end_matches('\n')).is_some() {
                out.push('\\');
            }
            out.push_str(line);
        }
        out.push('\n');
    };
    for message in &file.content.messages {
        let head = match (&message.role, &message.tool_call_id) {
            (Role::Tool, Some(id)) => format!("tool {id}"),
            (role, _) => role.as_str().to_owned(),
        };
        section(&mut out, &head, &message.content);
        for call in &message.tool_calls {
            section(
                &mut out,
                &format!("tool_call {} {}", call.id, call.name),
                &call.arguments,
            );
        }
    }
    out
}

/// What a section line opens.
#[derive(Debug, Clone, PartialEq)]
enum Marker {
    Role(Role),
    /// `tool <id>:`, the result of a call.
    ToolResult(String),
    /// `tool_call <id> <function>:`, a call of the assistant message before it.
    ToolCall {
        id: String,
        name: String,
    },
}

/// A line that reads as a role line once `n` leading backslashes are removed: `Some(n)`.
fn escaped_marker_depth(line: &str) -> Option<usize> {
    let stripped = line.trim_start_matches('\\');
    let depth = line.len() - stripped.len();
    marker(stripped).map(|_| depth)
}

fn marker(line: &str) -> Option<Marker> {
    let head = line.trim_end_matches([' ', '\t']);
    let head = head.strip_suffix(':')?;
    let mut words = head.split(' ');
    match (words.next()?, words.next(), words.next(), words.next()) {
        ("tool", Some(id), None, None) if is_tool_call_id(id) => {
            Some(Marker::ToolResult(id.to_owned()))
        }
        ("tool_call", Some(id), Some(name), None)
            if is_tool_call_id(id) && is_function_name(name) =>
        {
            Some(Marker::ToolCall {
                id: id.to_owned(),
                name: name.to_owned(),
            })
        }
        (role, None, None, None) if role != "tool" => Role::parse(role).map(Marker::Role),
        _ => None,
    }
}

/// Reads a prompt file. `path` is used in error messages only.
pub fn parse(text: &str, path: &Path) -> Result<PromptFile> {
    parse_located(text, path).map(|(f, _)| f)
}

/// As [`parse`], also returning the file line on which each message's text starts, so template
/// errors can be reported as `file:line:column`.
pub fn parse_located(text: &str, path: &Path) -> Result<(PromptFile, Vec<usize>)> {
    let (yaml, body, body_line) = split_front_matter(text, path)?;
    let front: FrontMatter = serde_norway::from_str(yaml).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line()) + 1;
        Error::PromptFileAt {
            path: path.to_path_buf(),
            line,
            reason: format!("front matter: {}", strip_location(&e.to_string())),
        }
    })?;
    let (messages, lines) = parse_body_located(body, body_line, path, false)?;
    let (model, params) = match front.model {
        None => (None, Map::new()),
        Some(ModelField::Id(id)) => (Some(id), Map::new()),
        Some(ModelField::Full(m)) => (m.id, m.parameters),
    };
    Ok((
        PromptFile {
            name: front.name,
            content: PromptContent {
                description: front.description,
                model,
                params,
                variables: front.variables,
                messages,
            },
            labels: front.labels,
        },
        lines,
    ))
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Splits `---\n<yaml>---\n<body>`; returns the YAML, the body and the body's first line number.
pub(crate) fn split_front_matter<'a>(
    text: &'a str,
    path: &Path,
) -> Result<(&'a str, &'a str, usize)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(|| Error::PromptFileAt {
            path: path.to_path_buf(),
            line: 1,
            reason: "a prompt file starts with a '---' line opening its YAML front matter".into(),
        })?;
    let mut offset = 0;
    for (line_no, line) in (2..).zip(rest.split_inclusive('\n')) {
        if line.trim_end() == "---" {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Ok((yaml, body, line_no + 1));
        }
        offset += line.len();
    }
    Err(Error::PromptFile {
        path: path.to_path_buf(),
        reason: "the front matter is never closed by a '---' line".into(),
    })
}

/// Splits a body into role sections. With `lenient_markers` (Prompty files) a role line may be
/// indented, prefixed by `#`, or capitalised; Prompty has no tool sections, so there `tool …:`
/// lines (a heading such as `# Tool usage:`) stay text.
pub(crate) fn parse_body(
    body: &str,
    first_line: usize,
    path: &Path,
    lenient_markers: bool,
) -> Result<Vec<Message>> {
    parse_body_located(body, first_line, path, lenient_markers).map(|(m, _)| m)
}

fn parse_body_located(
    body: &str,
    first_line: usize,
    path: &Path,
    lenient_markers: bool,
) -> Result<(Vec<Message>, Vec<usize>)> {
    let body = if body.contains('\r') {
        std::borrow::Cow::Owned(body.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(body)
    };
    let find_marker = |line: &str| -> Option<Marker> {
        if lenient_markers {
            let l = line
                .trim()
                .trim_start_matches('#')
                .trim()
                .to_ascii_lowercase();
            marker(&l).filter(|m| matches!(m, Marker::Role(_)))
        } else {
            marker(line)
        }
    };
    let mut messages: Vec<Message> = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut current: Option<(Marker, String)> = None;
    for (i, line) in body.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches('\n');
        if let Some(marker) = find_marker(bare) {
            if let Some((m, text)) = current.take() {
                close_section(&mut messages, m, finish_section(text, false));
            }
            // A call joins the assistant message before it; anything else starts a message.
            if !matches!(marker, Marker::ToolCall { .. })
                || !matches!(messages.last(), Some(m) if m.role == Role::Assistant)
            {
                starts.push(first_line + i + 1);
            }
            current = Some((marker, String::new()));
            continue;
        }
        match &mut current {
            Some((_, text)) => match escaped_marker_depth(bare) {
                Some(depth) if depth > 0 => text.push_str(&line[1..]),
                _ => text.push_str(line),
            },
            None if bare.trim().is_empty() => {}
            None => {
                return Err(Error::PromptFileAt {
                    path: path.to_path_buf(),
                    line: first_line + i,
                    reason: "text before the first role line; start each message with a line \
                             reading 'system:', 'user:' or 'assistant:'"
                        .into(),
                });
            }
        }
    }
    if let Some((m, text)) = current.take() {
        close_section(&mut messages, m, finish_section(text, true));
    }
    if messages.is_empty() {
        return Err(Error::PromptFile {
            path: path.to_path_buf(),
            reason: "no messages: add a line reading 'system:', 'user:' or 'assistant:' followed by its text".into(),
        });
    }
    Ok((messages, starts))
}

/// Adds a finished section: a message, or a tool call on the assistant message before it (a
/// call with no assistant message before it opens one with no text).
fn close_section(messages: &mut Vec<Message>, marker: Marker, text: String) {
    match marker {
        Marker::Role(role) => messages.push(Message::new(role, text)),
        Marker::ToolResult(id) => messages.push(Message::tool_result(id, text)),
        Marker::ToolCall { id, name } => {
            let call = ToolCallTemplate {
                id,
                name,
                arguments: text,
            };
            match messages.last_mut() {
                Some(m) if m.role == Role::Assistant => m.tool_calls.push(call),
                _ => {
                    let mut m = Message::new(Role::Assistant, "");
                    m.tool_calls.push(call);
                    messages.push(m);
                }
            }
        }
    }
}

/// Removes what the writer added after a message: its line break and, between sections, the
/// blank separator line.
fn finish_section(mut text: String, last: bool) -> String {
    if !last && text.ends_with("\n\n") {
        text.pop();
    }
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

/// File name for a slug.
pub fn file_name(slug: &str) -> String {
    format!("{slug}{EXTENSION}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> PromptFile {
        let mut content = PromptContent {
            description: Some("Answers tickets.\nSecond line.".into()),
            model: Some("gpt-4o-mini".into()),
            messages: vec![
                Message::new(Role::System, "You are {{tone}}.\n\nBe brief."),
                Message::new(Role::User, "user:\n\\user:\n{{ticket}}\n"),
                Message::new(Role::Assistant, ""),
            ],
            ..Default::default()
        };
        content.params.insert("temperature".into(), json!(0.4));
        content.params.insert("max_tokens".into(), json!(300));
        content.params.insert("stop".into(), json!(["\n\n", "END"]));
        content
            .params
            .insert("response_format".into(), json!({"type": "json_object"}));
        content.variables.insert(
            "tone".into(),
            VariableSpec {
                description: Some("How to sound".into()),
                default: Some(json!("friendly")),
            },
        );
        content.variables.insert(
            "n".into(),
            VariableSpec {
                description: None,
                default: Some(json!(3)),
            },
        );
        PromptFile {
            name: "support".into(),
            content,
            labels: vec!["production".into(), "staging".into()],
        }
    }

    #[test]
    fn round_trip_is_lossless() {
        let file = sample();
        let text = render(&file);
        let parsed = parse(&text, Path::new("x.prompt.md")).unwrap();
        assert_eq!(parsed, file);
        assert_eq!(render(&parsed), text);
    }

    #[test]
    fn tool_use_and_images_round_trip() {
        let mut file = sample();
        file.content.params.insert(
            "tools".into(),
            json!([{"type": "function", "function": {"name": "get_weather",
                "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]}}}]),
        );
        file.content
            .params
            .insert("tool_choice".into(), json!("auto"));
        file.content.params.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": "reply",
                "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}}),
        );
        let mut call = Message::new(Role::Assistant, "Checking.");
        call.tool_calls.push(ToolCallTemplate {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: "{\"city\": \"{{city}}\"}".into(),
        });
        call.tool_calls.push(ToolCallTemplate {
            id: "call_2".into(),
            name: "get_weather".into(),
            arguments: "{\"city\": \"Oslo\"}".into(),
        });
        let mut silent = Message::new(Role::Assistant, "");
        silent.tool_calls.push(ToolCallTemplate {
            id: "call_3".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        });
        file.content.messages = vec![
            Message::new(
                Role::User,
                "What is in ![this](data:image/png;base64,AAAA)?\n![photo]({{photo}})",
            ),
            call,
            Message::tool_result("call_1", "{\"temp_c\": 21}"),
            Message::tool_result("call_2", "tool call_9:\nnot a marker"),
            silent,
            Message::tool_result("call_3", "{}"),
            Message::new(Role::Assistant, "It is 21 °C."),
        ];
        let text = render(&file);
        assert!(
            text.contains("assistant:\nChecking.\n\ntool_call call_1 get_weather:\n{\"city\": \"{{city}}\"}\n\ntool_call call_2 get_weather:"),
            "{text}"
        );
        assert!(text.contains("\ntool call_2:\n\\tool call_9:\n"), "{text}");
        let parsed = parse(&text, Path::new("x.prompt.md")).unwrap();
        assert_eq!(parsed, file);
        assert_eq!(render(&parsed), text);
        let (_, starts) = parse_located(&text, Path::new("x.prompt.md")).unwrap();
        assert_eq!(starts.len(), file.content.messages.len());
    }

    #[test]
    fn role_lines_in_content_are_escaped() {
        let text = render(&sample());
        assert!(text.contains("\nuser:\n\\user:\n\\\\user:\n"), "{text}");
    }

    #[test]
    fn shorthand_model_and_minimal_file() {
        let text = "---\nname: tiny\nmodel: gpt-4o\n---\nuser:\nHi {{who}}\n";
        let f = parse(text, Path::new("tiny.prompt.md")).unwrap();
        assert_eq!(f.content.model.as_deref(), Some("gpt-4o"));
        assert_eq!(
            f.content.messages,
            vec![Message::new(Role::User, "Hi {{who}}")]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let p = Path::new("bad.prompt.md");
        let e = parse("name: x\n", p).unwrap_err().to_string();
        assert!(e.starts_with("bad.prompt.md:1:"), "{e}");
        let e = parse("---\nname: x\nmodle: y\n---\nuser:\nhi\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.prompt.md:3:") && e.contains("modle"), "{e}");
        let e = parse("---\nname: x\n---\nhello\nuser:\nhi\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("bad.prompt.md:4:") && e.contains("before the first role"),
            "{e}"
        );
        let e = parse("---\nname: x\n---\n\n", p).unwrap_err().to_string();
        assert!(e.contains("no messages"), "{e}");
        let e = parse("---\nname: x\n", p).unwrap_err().to_string();
        assert!(e.contains("never closed"), "{e}");
    }
}
