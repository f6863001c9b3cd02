//! Differences between two versions of a prompt, section by section (the settings, then each
//! message), as data a UI can colour and as text for a terminal: a unified line diff, with the
//! changed words inside changed lines marked, and a word-level inline diff.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use serde_json::{Map, Value};

use crate::prompt_file::settings_yaml;
use crate::prompts::{Message, PromptContent, PromptVersion};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tag {
    Equal,
    Delete,
    Insert,
}

impl From<ChangeTag> for Tag {
    fn from(t: ChangeTag) -> Self {
        match t {
            ChangeTag::Equal => Tag::Equal,
            ChangeTag::Delete => Tag::Delete,
            ChangeTag::Insert => Tag::Insert,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionChange {
    Unchanged,
    Modified,
    Added,
    Removed,
}

/// A piece of a line; `emphasized` marks the words that changed inside a changed line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub text: String,
    pub emphasized: bool,
}

/// One line of a line diff, with 1-based line numbers on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    pub tag: Tag,
    pub old_line: Option<usize>,
    pub new_line: Option<usize>,
    pub segments: Vec<Segment>,
}

/// A run of words that is the same, removed or added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WordChange {
    pub tag: Tag,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionDiff {
    /// `settings` or `message 2 (user)`.
    pub title: String,
    pub change: SectionChange,
    pub lines: Vec<DiffLine>,
    pub words: Vec<WordChange>,
    /// The section as a unified diff with 3 lines of context (empty when unchanged).
    pub unified: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionDiff {
    pub slug: String,
    pub from: i64,
    pub to: i64,
    pub changed: bool,
    pub sections: Vec<SectionDiff>,
}

/// Compares two versions (of the same prompt, normally).
pub fn diff_versions(old: &PromptVersion, new: &PromptVersion) -> VersionDiff {
    let mut sections = vec![diff_section(
        "settings".into(),
        Some(&settings_yaml(&without_tool_params(&old.content))),
        Some(&settings_yaml(&without_tool_params(&new.content))),
        old.version,
        new.version,
    )];
    // Tools one section each (by function name), then the tool choice and the response format.
    let (old_tools, new_tools) = (tool_sections(&old.content), tool_sections(&new.content));
    let mut names: Vec<&String> = old_tools.iter().map(|(n, _)| n).collect();
    for (n, _) in &new_tools {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for name in names {
        let find = |list: &[(String, String)]| {
            list.iter().find(|(n, _)| n == name).map(|(_, y)| y.clone())
        };
        sections.push(diff_section(
            format!("tool {name}"),
            find(&old_tools).as_deref(),
            find(&new_tools).as_deref(),
            old.version,
            new.version,
        ));
    }
    for (title, keys) in [
        ("tool choice", &["tool_choice", "parallel_tool_calls"][..]),
        ("response format", &["response_format"][..]),
    ] {
        let (a, b) = (
            params_yaml(&old.content, keys),
            params_yaml(&new.content, keys),
        );
        if a.is_some() || b.is_some() {
            sections.push(diff_section(
                title.into(),
                a.as_deref(),
                b.as_deref(),
                old.version,
                new.version,
            ));
        }
    }
    let n = old.content.messages.len().max(new.content.messages.len());
    for i in 0..n {
        let a = old.content.messages.get(i);
        let b = new.content.messages.get(i);
        let head = |m: &Message| match &m.tool_call_id {
            Some(id) => format!("{} {id}", m.role),
            None => m.role.to_string(),
        };
        let role = match (a, b) {
            (Some(a), Some(b)) if head(a) != head(b) => format!("{} → {}", head(a), head(b)),
            (Some(m), _) | (None, Some(m)) => head(m),
            (None, None) => unreachable!("i < max(len)"),
        };
        let title = format!("message {} ({role})", i + 1);
        let mut section = diff_section(
            title,
            a.map(message_text).as_deref(),
            b.map(message_text).as_deref(),
            old.version,
            new.version,
        );
        if section.change == SectionChange::Unchanged && a.map(head) != b.map(head) {
            section.change = SectionChange::Modified;
        }
        sections.push(section);
    }
    VersionDiff {
        slug: new.slug.clone(),
        from: old.version,
        to: new.version,
        changed: sections
            .iter()
            .any(|s| s.change != SectionChange::Unchanged),
        sections,
    }
}

/// The content without the tool parameters, which have sections of their own.
fn without_tool_params(content: &PromptContent) -> PromptContent {
    let mut c = content.clone();
    for key in TOOL_PARAMS {
        c.params.remove(*key);
    }
    c
}

const TOOL_PARAMS: &[&str] = &[
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
];

/// Each declared tool's definition as YAML, by function name.
fn tool_sections(content: &PromptContent) -> Vec<(String, String)> {
    let Some(Value::Array(tools)) = content.params.get("tools") else {
        return Vec::new();
    };
    tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let name = t
                .pointer("/function/name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{}", i + 1), str::to_owned);
            (name, serde_norway::to_string(t).unwrap_or_default())
        })
        .collect()
}

/// The parameters `keys` as YAML, None when the version has none of them.
fn params_yaml(content: &PromptContent, keys: &[&str]) -> Option<String> {
    let picked: Map<String, Value> = keys
        .iter()
        .filter_map(|k| content.params.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect();
    (!picked.is_empty()).then(|| serde_norway::to_string(&picked).unwrap_or_default())
}

/// A message's text followed by its tool calls, written as in a prompt file.
fn message_text(m: &Message) -> String {
    let mut text = m.content.clone();
    for call in &m.tool_calls {
        text.push_str(&format!(
            "\n\ntool_call {} {}:\n{}",
            call.id, call.name, call.arguments
        ));
    }
    text
}

fn diff_section(
    title: String,
    old: Option<&str>,
    new: Option<&str>,
    from: i64,
    to: i64,
) -> SectionDiff {
    let change = match (old, new) {
        (None, Some(_)) => SectionChange::Added,
        (Some(_), None) => SectionChange::Removed,
        (Some(a), Some(b)) if a == b => SectionChange::Unchanged,
        _ => SectionChange::Modified,
    };
    let a = old.unwrap_or("");
    let b = new.unwrap_or("");
    let lines_diff = TextDiff::from_lines(a, b);
    let mut lines = Vec::new();
    for op in lines_diff.ops() {
        for change in lines_diff.iter_inline_changes(op) {
            lines.push(DiffLine {
                tag: change.tag().into(),
                old_line: change.old_index().map(|i| i + 1),
                new_line: change.new_index().map(|i| i + 1),
                segments: change
                    .iter_strings_lossy()
                    .map(|(emphasized, text)| Segment {
                        text: text.trim_end_matches('\n').to_owned(),
                        emphasized,
                    })
                    .filter(|s| !s.text.is_empty() || !s.emphasized)
                    .collect(),
            });
        }
    }
    let words_diff = TextDiff::from_words(a, b);
    let mut words: Vec<WordChange> = Vec::new();
    for change in words_diff.iter_all_changes() {
        let tag: Tag = change.tag().into();
        match words.last_mut() {
            Some(last) if last.tag == tag => last.text.push_str(change.value()),
            _ => words.push(WordChange {
                tag,
                text: change.value().to_owned(),
            }),
        }
    }
    let unified = if change == SectionChange::Unchanged {
        String::new()
    } else {
        lines_diff
            .unified_diff()
            .context_radius(3)
            .missing_newline_hint(false)
            .header(&format!("v{from}/{title}"), &format!("v{to}/{title}"))
            .to_string()
    };
    SectionDiff {
        title,
        change,
        lines,
        words,
        unified,
    }
}

/// Terminal colours for [`VersionDiff::to_text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Never,
    Ansi,
}

impl VersionDiff {
    /// A unified diff of every changed section, or, with `words`, the sections' text with removed
    /// words as `[-old-]` and added words as `{+new+}` (git's word-diff notation).
    pub fn to_text(&self, words: bool, colour: Colour) -> String {
        let (red, green, bold, reset) = match colour {
            Colour::Ansi => ("\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m"),
            Colour::Never => ("", "", "", ""),
        };
        let mut out = String::new();
        if !self.changed {
            out.push_str(&format!(
                "{}: versions {} and {} are identical\n",
                self.slug, self.from, self.to
            ));
            return out;
        }
        for s in self
            .sections
            .iter()
            .filter(|s| s.change != SectionChange::Unchanged)
        {
            if words {
                out.push_str(&format!("{bold}== {} [{:?}]{reset}\n", s.title, s.change));
                for w in &s.words {
                    match w.tag {
                        Tag::Equal => out.push_str(&w.text),
                        Tag::Delete => out.push_str(&format!("{red}[-{}-]{reset}", w.text)),
                        Tag::Insert => out.push_str(&format!("{green}{{+{}+}}{reset}", w.text)),
                    }
                }
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            } else {
                for line in s.unified.lines() {
                    let painted = if line.starts_with("---") || line.starts_with("+++") {
                        format!("{bold}{line}{reset}")
                    } else if line.starts_with('-') {
                        format!("{red}{line}{reset}")
                    } else if line.starts_with('+') {
                        format!("{green}{line}{reset}")
                    } else {
                        line.to_owned()
                    };
                    out.push_str(&painted);
                    out.push('\n');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::{Message, PromptContent, Role};

    /// Each section's title and change.
    fn kinds(d: &VersionDiff) -> Vec<(&str, SectionChange)> {
        d.sections
            .iter()
            .map(|s| (s.title.as_str(), s.change))
            .collect()
    }

    fn version(n: i64, model: &str, messages: &[(Role, &str)]) -> PromptVersion {
        PromptVersion {
            prompt_id: "pr_x".into(),
            slug: "demo".into(),
            version: n,
            content: PromptContent {
                model: Some(model.into()),
                messages: messages.iter().map(|(r, c)| Message::new(*r, *c)).collect(),
                ..Default::default()
            },
            message: None,
            content_hash: String::new(),
            created_at: chrono::Utc::now(),
            labels: vec![],
        }
    }

    #[test]
    fn sections_lines_and_words() {
        let a = version(
            1,
            "gpt-4o-mini",
            &[
                (Role::System, "Be brief.\nUse English."),
                (Role::User, "{{q}}"),
            ],
        );
        let b = version(
            2,
            "gpt-4o",
            &[
                (Role::System, "Be very brief.\nUse English."),
                (Role::User, "{{q}}"),
                (Role::Assistant, "Sure"),
            ],
        );
        let d = diff_versions(&a, &b);
        assert!(d.changed);
        let kinds = kinds(&d);
        assert_eq!(
            kinds,
            [
                ("settings", SectionChange::Modified),
                ("message 1 (system)", SectionChange::Modified),
                ("message 2 (user)", SectionChange::Unchanged),
                ("message 3 (assistant)", SectionChange::Added),
            ]
        );
        let sys = &d.sections[1];
        let deleted = sys.lines.iter().find(|l| l.tag == Tag::Delete).unwrap();
        assert_eq!(deleted.old_line, Some(1));
        let inserted = sys.lines.iter().find(|l| l.tag == Tag::Insert).unwrap();
        assert!(
            inserted
                .segments
                .iter()
                .any(|s| s.emphasized && s.text.contains("very"))
        );
        assert!(
            sys.words
                .iter()
                .any(|w| w.tag == Tag::Insert && w.text.contains("very"))
        );
        let text = d.to_text(false, Colour::Never);
        assert!(
            text.contains("-model:") || text.contains("-  id: gpt-4o-mini"),
            "{text}"
        );
        assert!(text.contains("+Be very brief."), "{text}");
        let words = d.to_text(true, Colour::Never);
        assert!(
            words.contains("{+very +}") || words.contains("{+very+}"),
            "{words}"
        );
        assert!(words.contains("[-gpt-4o-mini-]"), "{words}");
    }

    #[test]
    fn identical_versions() {
        let a = version(1, "m", &[(Role::User, "x")]);
        let d = diff_versions(&a, &a);
        assert!(!d.changed);
        assert!(d.to_text(false, Colour::Never).contains("identical"));
    }

    #[test]
    fn tools_schema_and_calls_get_sections_of_their_own() {
        use serde_json::json;
        let tool = |name: &str, desc: &str| {
            json!({"type": "function", "function": {"name": name, "description": desc,
                "parameters": {"type": "object"}}})
        };
        let mut a = version(1, "m", &[(Role::User, "x")]);
        a.content.params.insert(
            "tools".into(),
            json!([tool("get_weather", "Weather"), tool("old", "Gone")]),
        );
        a.content.params.insert("temperature".into(), json!(0.2));
        let mut b = version(2, "m", &[(Role::User, "x")]);
        b.content.params.insert(
            "tools".into(),
            json!([tool("get_weather", "Weather now"), tool("new_one", "New")]),
        );
        b.content.params.insert("temperature".into(), json!(0.2));
        b.content.params.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}),
        );
        let mut call = Message::new(Role::Assistant, "");
        call.tool_calls.push(crate::message::ToolCallTemplate {
            id: "c1".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        });
        b.content.messages.push(call);
        b.content.messages.push(Message::tool_result("c1", "{}"));
        let d = diff_versions(&a, &b);
        let kinds = kinds(&d);
        assert_eq!(
            kinds,
            [
                ("settings", SectionChange::Unchanged),
                ("tool get_weather", SectionChange::Modified),
                ("tool old", SectionChange::Removed),
                ("tool new_one", SectionChange::Added),
                ("response format", SectionChange::Added),
                ("message 1 (user)", SectionChange::Unchanged),
                ("message 2 (assistant)", SectionChange::Added),
                ("message 3 (tool c1)", SectionChange::Added),
            ]
        );
        assert!(
            d.sections[1]
                .unified
                .contains("+  description: Weather now"),
            "{}",
            d.sections[1].unified
        );
        assert!(d.sections[6].unified.contains("+tool_call c1 get_weather:"));
    }
}
