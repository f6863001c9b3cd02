//! A chat message of a prompt template: who speaks, and what they say as a Handlebars template.
//! Shared by the prompt content model ([`crate::prompts`]) and the template engine
//! ([`crate::template`]), which knows messages but not the prompts they belong to.
//!
//! Besides text, a message can carry what tool use needs in a few-shot example: an assistant
//! message may hold tool calls (their arguments a template that renders to JSON), and a `tool`
//! message answers one of them by id. Images are written in the text as Markdown image lines
//! (`![alt](url)`, as Prompty does); see [`crate::images`].

use serde::{Deserialize, Serialize};

/// Who speaks in a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// The result of a tool call, answering the assistant's call with the same id.
    Tool,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::System, Role::User, Role::Assistant, Role::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One chat message whose content is a Handlebars template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Calls an assistant message makes (few-shot examples of tool use).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallTemplate>,
    /// On a `tool` message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// On a rendered user message: the lines of `content` (0-based) that are images, because
    /// the template wrote them as image lines. Text a variable or a model's answer brings in is
    /// never an image, whatever it looks like. Empty on a template's own messages.
    #[serde(skip)]
    pub image_lines: Vec<usize>,
}

/// A tool call written in a template: its id, the function, and its arguments as a template
/// that renders to a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ToolCallTemplate {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            image_lines: Vec::new(),
        }
    }

    /// A `tool` message answering the call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(id.into()),
            ..Message::new(Role::Tool, content)
        }
    }
}

/// Whether `id` can name a tool call in a prompt file (letters, digits, `_`, `-`; 1–64).
pub fn is_tool_call_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `name` is a function name providers accept (letters, digits, `_`, `-`, `.`; 1–64).
pub fn is_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Rendered messages as chat messages: the image lines rendering found become image parts (see
/// [`crate::images`]), tool calls carry their rendered arguments, which must be a JSON object.
pub fn to_chat_messages(
    messages: &[Message],
    access: crate::images::ImageAccess,
) -> crate::error::Result<Vec<crate::chat::ChatMessage>> {
    use crate::chat::{ChatMessage, FunctionCall, MessageContent, ToolCall};
    use crate::error::Error;
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let mut chat = ChatMessage::new(m.role.as_str(), m.content.clone());
        if let Some(parts) = crate::images::split_parts(&m.content, &m.image_lines, access)? {
            chat.content = Some(MessageContent::Parts(parts));
        }
        if !m.tool_calls.is_empty() {
            let mut calls = Vec::with_capacity(m.tool_calls.len());
            for call in &m.tool_calls {
                let args: serde_json::Value =
                    serde_json::from_str(&call.arguments).map_err(|e| {
                        Error::InvalidToolUse(format!(
                            "message {}: the arguments of {} ({}) are not JSON once filled in ({e}): {}",
                            i + 1,
                            call.name,
                            call.id,
                            call.arguments.chars().take(120).collect::<String>()
                        ))
                    })?;
                if !args.is_object() {
                    return Err(Error::InvalidToolUse(format!(
                        "message {}: the arguments of {} ({}) must be a JSON object",
                        i + 1,
                        call.name,
                        call.id
                    )));
                }
                calls.push(ToolCall {
                    id: call.id.clone(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: call.name.clone(),
                        arguments: args.to_string(),
                    },
                });
            }
            chat.tool_calls = Some(calls);
            if m.content.trim().is_empty() {
                chat.content = None;
            }
        }
        chat.tool_call_id = m.tool_call_id.clone();
        out.push(chat);
    }
    Ok(out)
}
