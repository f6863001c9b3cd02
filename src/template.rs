//! Handlebars templates: compiling with positioned syntax errors, finding the variables and
//! partials a template uses, and strict rendering of a compiled prompt.
//!
//! Prompts are not HTML, so nothing is escaped. Rendering is strict: a variable the template needs
//! and the caller did not give is an error, and the error lists every missing name at once rather
//! than the first one only.

use std::collections::HashSet;

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{Context, Handlebars, RenderErrorReason};
use serde_json::{Map, Value};

use crate::error::{Error, Result, TemplatePosition};
use crate::message::{Message, Role};

/// Compiles one message template; a syntax error names the message, line and column.
pub fn compile(message_index: usize, role: Role, source: &str) -> Result<Template> {
    Template::compile(source).map_err(|e| {
        let (reason, pos) = match explain_syntax_error(source, e.pos()) {
            Some((hint, pos)) => (hint, Some(pos)),
            None => (e.reason().to_string(), e.pos()),
        };
        match pos {
            Some((line, column)) => Error::TemplateSyntax {
                position: TemplatePosition {
                    message_index,
                    role: role.as_str().to_owned(),
                    line,
                    column,
                },
                reason,
            },
            None => Error::TemplateSyntaxNoPosition {
                message_index,
                role: role.as_str().to_owned(),
                reason,
            },
        }
    })
}

/// Turns the parser's list of expected grammar rules into a sentence for the common mistakes:
/// a block that is never closed (reported where it was opened), a closing tag without its
/// opening, mismatched blocks, and a `{{` without `}}`.
fn explain_syntax_error(
    source: &str,
    pos: Option<(usize, usize)>,
) -> Option<(String, (usize, usize))> {
    let line_col = |offset: usize| {
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    };
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while let Some(found) = source[i..].find("{{") {
        let start = i + found;
        let rest = source[start + 2..].trim_start_matches(['~', '{']);
        let Some(end) = source[start..].find("}}") else {
            let (l, c) = line_col(start);
            return Some((
                format!("the tag opened at line {l}, column {c} is never closed with '}}}}'"),
                (l, c),
            ));
        };
        if let Some(name) = rest
            .strip_prefix('#')
            .or_else(|| rest.strip_prefix("*inline").map(|_| "*inline"))
        {
            if !rest.starts_with("#>") {
                let name = name.trim_start_matches(['*', '>']);
                let name: String = name
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '~')
                    .collect();
                let name = if rest.starts_with("#*") || name == "*inline" {
                    "inline".to_owned()
                } else {
                    name
                };
                open.push((name, start));
            }
        } else if let Some(name) = rest.strip_prefix('/') {
            let name: String = name
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '~')
                .collect();
            match open.pop() {
                None => {
                    let (l, c) = line_col(start);
                    return Some((
                        format!("'{{{{/{name}}}}}' closes a block that was never opened"),
                        (l, c),
                    ));
                }
                Some((opened, at)) if opened != name => {
                    let (ol, oc) = line_col(at);
                    let (l, c) = line_col(start);
                    return Some((
                        format!(
                            "'{{{{/{name}}}}}' does not match '{{{{#{opened}}}}}' opened at line {ol}, column {oc}"
                        ),
                        (l, c),
                    ));
                }
                Some(_) => {}
            }
        }
        i = start + end + 2;
    }
    if let Some((name, at)) = open.pop() {
        let (l, c) = line_col(at);
        return Some((
            format!("'{{{{#{name}}}}}' is never closed with '{{{{/{name}}}}}'"),
            (l, c),
        ));
    }
    let _ = pos;
    None
}

/// Names a template refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TemplateRefs {
    /// Top-level variables, in order of first use.
    pub variables: Vec<String>,
    /// Slugs of prompts included as partials (`{{> slug}}`), in order of first use.
    pub partials: Vec<String>,
}

impl TemplateRefs {
    pub(crate) fn add_variable(&mut self, name: String) {
        if !self.variables.contains(&name) {
            self.variables.push(name);
        }
    }
    fn add_partial(&mut self, name: String) {
        if !self.partials.contains(&name) {
            self.partials.push(name);
        }
    }
    /// Adds the names of `other` not yet present, keeping first-use order.
    pub fn merge(&mut self, other: TemplateRefs) {
        for v in other.variables {
            self.add_variable(v);
        }
        for p in other.partials {
            self.add_partial(p);
        }
    }
}

/// The variables and partials all `messages` use.
pub fn references(messages: &[Message]) -> Result<TemplateRefs> {
    let mut refs = TemplateRefs::default();
    for (index, message) in messages.iter().enumerate() {
        refs.merge(references_in(index, message.role, &message.content)?);
        for call in &message.tool_calls {
            refs.merge(references_in(index, message.role, &call.arguments)?);
        }
    }
    Ok(refs)
}

/// The variables and partials one template source uses.
pub fn references_in(message_index: usize, role: Role, source: &str) -> Result<TemplateRefs> {
    let template = compile(message_index, role, source)?;
    let mut walker = Walker::default();
    walker.template(&template, 0);
    let inline: HashSet<String> = walker.inline_partials.iter().cloned().collect();
    walker.refs.partials.retain(|p| !inline.contains(p));
    Ok(walker.refs)
}

const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len", "raw",
];
/// Block helpers whose body is evaluated against a new context (the item, the object).
const SCOPING_HELPERS: &[&str] = &["each", "with"];

#[derive(Default)]
struct Walker {
    refs: TemplateRefs,
    inline_partials: Vec<String>,
}

impl Walker {
    fn template(&mut self, template: &Template, depth: usize) {
        for element in &template.elements {
            self.element(element, depth);
        }
    }

    fn element(&mut self, element: &TemplateElement, depth: usize) {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                let name = param_name(&h.name);
                let is_helper = !h.params.is_empty()
                    || !h.hash.is_empty()
                    || name.is_some_and(|n| BUILTIN_HELPERS.contains(&n) && n != "this");
                if is_helper {
                    self.params(h.params.iter().chain(h.hash.values()), depth);
                } else {
                    self.parameter(&h.name, depth);
                }
            }
            TemplateElement::HelperBlock(h) => {
                let name = param_name(&h.name).unwrap_or_default();
                let known = BUILTIN_HELPERS.contains(&name);
                let mut body_depth = depth;
                if known || !h.params.is_empty() {
                    self.params(h.params.iter().chain(h.hash.values()), depth);
                    if SCOPING_HELPERS.contains(&name) {
                        body_depth = depth + 1;
                    }
                } else {
                    // `{{#section}}…{{/section}}`: a mustache-style section over a variable.
                    self.parameter(&h.name, depth);
                    body_depth = depth + 1;
                }
                if h.block_param.is_some() {
                    // `as |item|` names live in the block, never at the root; the walker cannot
                    // tell them from root names by path alone, so the body keeps its depth and
                    // block-param names are filtered below.
                }
                if let Some(t) = &h.template {
                    let before = self.refs.variables.len();
                    self.template(t, body_depth);
                    if let Some(bp) = &h.block_param {
                        let names = block_param_names(bp);
                        let added: Vec<String> = self.refs.variables.drain(before..).collect();
                        for v in added {
                            if !names.contains(&v) {
                                self.refs.add_variable(v);
                            }
                        }
                    }
                }
                if let Some(t) = &h.inverse {
                    self.template(t, depth);
                }
            }
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                match &d.name {
                    Parameter::Name(n) => self.refs.add_partial(n.clone()),
                    Parameter::Path(p) => self.refs.add_partial(path_raw(p).to_owned()),
                    Parameter::Literal(Value::String(s)) => self.refs.add_partial(s.clone()),
                    _ => {}
                }
                self.params(d.params.iter().chain(d.hash.values()), depth);
                if let Some(t) = &d.template {
                    self.template(t, depth);
                }
            }
            TemplateElement::DecoratorExpression(d) | TemplateElement::DecoratorBlock(d) => {
                if param_name(&d.name) == Some("inline")
                    && let Some(Parameter::Literal(Value::String(name))) = d.params.first()
                {
                    self.inline_partials.push(name.clone());
                }
                if let Some(t) = &d.template {
                    self.template(t, depth);
                }
            }
            _ => {}
        }
    }

    fn params<'a>(&mut self, params: impl Iterator<Item = &'a Parameter>, depth: usize) {
        for p in params {
            self.parameter(p, depth);
        }
    }

    fn parameter(&mut self, param: &Parameter, depth: usize) {
        match param {
            Parameter::Path(p) => {
                if let Some(name) = root_variable(path_raw(p), depth) {
                    self.refs.add_variable(name);
                }
            }
            Parameter::Name(n) => {
                if let Some(name) = root_variable(n, depth) {
                    self.refs.add_variable(name);
                }
            }
            Parameter::Subexpression(sub) => self.element(sub.as_element(), depth),
            Parameter::Literal(_) => {}
            _ => {}
        }
    }
}

fn param_name(p: &Parameter) -> Option<&str> {
    match p {
        Parameter::Name(n) => Some(n),
        Parameter::Path(p) => Some(path_raw(p)),
        _ => None,
    }
}

fn path_raw(path: &handlebars::Path) -> &str {
    match path {
        handlebars::Path::Relative((_, raw)) => raw,
        handlebars::Path::Local((_, _, raw)) => raw,
    }
}

fn block_param_names(bp: &handlebars::template::BlockParam) -> Vec<String> {
    use handlebars::template::BlockParam;
    let name = |p: &Parameter| param_name(p).map(str::to_owned);
    match bp {
        BlockParam::Single(p) => name(p).into_iter().collect(),
        BlockParam::Pair((a, b)) => name(a).into_iter().chain(name(b)).collect(),
        _ => Vec::new(),
    }
}

/// The root-context variable a path names, if it names one: `user.name` at depth 0 is `user`;
/// `title` inside an `#each` is the item's field, not a variable; `../x` climbs one scope;
/// `@root.x` is always the root; `@index` and other locals are never variables.
fn root_variable(raw: &str, depth: usize) -> Option<String> {
    let mut rest = raw;
    if let Some(r) = rest.strip_prefix("@root") {
        rest = r.trim_start_matches(['.', '/']);
        return first_segment(rest);
    }
    if rest.starts_with('@') {
        return None;
    }
    let mut ups = 0;
    while let Some(r) = rest.strip_prefix("../") {
        ups += 1;
        rest = r;
    }
    for prefix in ["this.", "this/", "./"] {
        if let Some(r) = rest.strip_prefix(prefix) {
            rest = r;
        }
    }
    if rest == "this" || rest == "." || rest.is_empty() || rest.starts_with('@') {
        return None;
    }
    if depth.saturating_sub(ups) > 0 {
        return None;
    }
    first_segment(rest)
}

fn first_segment(path: &str) -> Option<String> {
    let seg = path.split(['.', '/']).next()?.trim_matches(['[', ']']);
    if seg.is_empty() || seg == "this" {
        None
    } else {
        Some(seg.to_owned())
    }
}

/// A prompt compiled once and rendered many times. Holds one registry with every message
/// template and every partial it needs, so a render is pure template evaluation.
pub struct CompiledPrompt {
    registry: Handlebars<'static>,
    /// The tool calls' argument templates, in a registry of their own whose `{{x}}` is escaped
    /// as JSON string content (a value with a quote keeps the arguments JSON); `{{{x}}}` puts a
    /// value in as is. None when no message has tool calls.
    arguments: Option<Handlebars<'static>>,
    /// The messages as written; their texts and tool-call arguments are registered templates.
    shapes: Vec<Message>,
    defaults: Map<String, Value>,
    /// The markers around the image lines of user messages, when there are any.
    image_marks: Option<ImageMarks>,
}

/// Text put around each image line of a user message's template before it is compiled, so
/// the rendered text says which lines the template wrote as images. The markers hold a random
/// nonce and are taken out of the rendered text, so a variable's value cannot forge one.
struct ImageMarks {
    open: String,
    close: String,
    /// Per message: whether its template has image lines (and so markers).
    marked: Vec<bool>,
}

impl ImageMarks {
    fn new(message_count: usize) -> Self {
        let nonce = crate::ids::new_id("img");
        ImageMarks {
            open: format!("\u{E000}{nonce}\u{E001}"),
            close: format!("\u{E002}{nonce}\u{E003}"),
            marked: vec![false; message_count],
        }
    }

    /// `source` with its image lines between markers; None when it has none.
    fn mark(&self, source: &str) -> Option<String> {
        let mut out = String::with_capacity(source.len() + 64);
        let mut any = false;
        for line in source.split_inclusive('\n') {
            let (body, end) = match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line, ""),
            };
            if crate::images::image_line(body).is_some() {
                any = true;
                out.push_str(&self.open);
                out.push_str(body);
                out.push_str(&self.close);
                out.push_str(end);
            } else {
                out.push_str(line);
            }
        }
        any.then_some(out)
    }

    /// Takes the markers out of a rendered message: its text and the lines that are images.
    fn take(&self, message_index: usize, rendered: String) -> Result<(String, Vec<usize>)> {
        if !rendered.contains(&self.open) {
            return Ok((rendered, Vec::new()));
        }
        let mut text = String::with_capacity(rendered.len());
        let mut lines = Vec::new();
        let mut line = 0;
        let mut rest = rendered.as_str();
        while let Some(start) = rest.find(&self.open) {
            let before = &rest[..start];
            line += before.matches('\n').count();
            text.push_str(before);
            let after = &rest[start + self.open.len()..];
            let end = after.find(&self.close).ok_or_else(|| Error::Render {
                message_index,
                role: Role::User.as_str().to_owned(),
                reason: "an image line was cut in two while rendering".into(),
            })?;
            let image = &after[..end];
            if image.contains('\n') {
                return Err(Error::Image(format!(
                    "message {}: the image line '{}' holds a line break once filled in (in its URL or alt text)",
                    message_index + 1,
                    image
                        .lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(80)
                        .collect::<String>()
                )));
            }
            lines.push(line);
            text.push_str(image);
            rest = &after[end + self.close.len()..];
        }
        text.push_str(rest);
        Ok((text, lines))
    }
}

impl std::fmt::Debug for CompiledPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPrompt")
            .field("messages", &self.shapes.len())
            .finish_non_exhaustive()
    }
}

const MESSAGE_TEMPLATE_NAMES: [&str; 16] = [
    "m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12", "m13", "m14",
    "m15",
];

fn tool_call_template_name(index: usize, call: usize) -> String {
    format!("m{index}.call{call}")
}

fn message_template_name(index: usize) -> std::borrow::Cow<'static, str> {
    match MESSAGE_TEMPLATE_NAMES.get(index) {
        Some(n) => std::borrow::Cow::Borrowed(n),
        None => std::borrow::Cow::Owned(format!("m{index}")),
    }
}

impl CompiledPrompt {
    /// Compiles `messages` with `partials` given as `(slug, template source)` pairs; `defaults`
    /// fill variables a render leaves out.
    pub fn new(
        messages: &[Message],
        defaults: Map<String, Value>,
        partials: &[(String, String)],
    ) -> Result<Self> {
        let new_registry = || {
            let mut registry = Handlebars::new();
            registry.set_strict_mode(true);
            registry.register_escape_fn(handlebars::no_escape);
            // Partials are other prompts' text; a `{{> slug}}` that resolves to nothing must
            // fail loudly instead of rendering as an empty string.
            registry.set_prevent_indent(false);
            registry
        };
        let mut registry = new_registry();
        let mut arguments = messages.iter().any(|m| !m.tool_calls.is_empty()).then(|| {
            let mut r = new_registry();
            r.register_escape_fn(json_string_content);
            r
        });
        let mut image_marks = ImageMarks::new(messages.len());
        for (index, message) in messages.iter().enumerate() {
            let marked = (message.role == Role::User && message.content.contains("!["))
                .then(|| image_marks.mark(&message.content))
                .flatten();
            // Compiled once: the marked text when it has image lines (a syntax error is then
            // reported from the text as written, so its line and column are the user's).
            let template = match &marked {
                Some(text) => match Template::compile(text) {
                    Ok(t) => {
                        image_marks.marked[index] = true;
                        t
                    }
                    Err(_) => {
                        compile(index, message.role, &message.content)?;
                        compile(index, message.role, text)?
                    }
                },
                None => compile(index, message.role, &message.content)?,
            };
            registry.register_template(&message_template_name(index), template);
            for (c, call) in message.tool_calls.iter().enumerate() {
                let template = compile(index, message.role, &call.arguments)?;
                if let Some(arguments) = &mut arguments {
                    arguments.register_template(&tool_call_template_name(index, c), template);
                }
            }
        }
        for (slug, source) in partials {
            for r in std::iter::once(&mut registry).chain(arguments.as_mut()) {
                r.register_partial(slug, source)
                    .map_err(|e| Error::Render {
                        message_index: 0,
                        role: format!("partial '{slug}'"),
                        reason: e.reason().to_string(),
                    })?;
            }
        }
        let any_images = image_marks.marked.contains(&true);
        Ok(CompiledPrompt {
            registry,
            arguments,
            shapes: messages.to_vec(),
            defaults,
            image_marks: any_images.then_some(image_marks),
        })
    }

    /// Renders every message with `variables` over the declared defaults. Missing variables are
    /// collected across all messages and reported together.
    pub fn render(&self, variables: &Map<String, Value>) -> Result<Vec<Message>> {
        let mut data = self.defaults.clone();
        for (k, v) in variables {
            data.insert(k.clone(), v.clone());
        }
        let context = Context::from(Value::Object(data));
        match self.render_context(&context) {
            Ok(messages) => Ok(messages),
            Err(RenderFailure::Missing(first)) => Err(self.collect_missing(context, first)),
            Err(RenderFailure::Other(e)) => Err(e),
        }
    }

    fn render_context(
        &self,
        context: &Context,
    ) -> std::result::Result<Vec<Message>, RenderFailure> {
        let mut out = Vec::with_capacity(self.shapes.len());
        for (index, shape) in self.shapes.iter().enumerate() {
            let role = &shape.role;
            let render_in = |registry: &Handlebars<'static>, name: &str| {
                registry
                    .render_with_context(name, context)
                    .map_err(|e| match e.reason() {
                        RenderErrorReason::MissingVariable(path) => {
                            RenderFailure::Missing(path.clone().unwrap_or_else(|| "?".into()))
                        }
                        RenderErrorReason::PartialNotFound(name) => {
                            RenderFailure::Other(Error::UnknownPartial(name.clone()))
                        }
                        other => RenderFailure::Other(Error::Render {
                            message_index: index,
                            role: role.as_str().to_owned(),
                            reason: other.to_string(),
                        }),
                    })
            };
            let mut content = render_in(&self.registry, &message_template_name(index))?;
            let mut image_lines = Vec::new();
            if let Some(marks) = &self.image_marks
                && marks.marked[index]
            {
                (content, image_lines) =
                    marks.take(index, content).map_err(RenderFailure::Other)?;
            }
            let mut tool_calls = Vec::with_capacity(shape.tool_calls.len());
            for (c, call) in shape.tool_calls.iter().enumerate() {
                tool_calls.push(crate::message::ToolCallTemplate {
                    arguments: match &self.arguments {
                        Some(registry) => render_in(registry, &tool_call_template_name(index, c))?,
                        None => call.arguments.clone(),
                    },
                    ..call.clone()
                });
            }
            out.push(Message {
                role: *role,
                content,
                tool_calls,
                tool_call_id: shape.tool_call_id.clone(),
                image_lines,
            });
        }
        Ok(out)
    }

    /// Slow path, taken only on error: fill each missing path with a placeholder and render again
    /// until the templates render or a path cannot be filled, so the error lists every name.
    fn collect_missing(&self, context: Context, first: String) -> Error {
        let mut data = context.data().clone();
        let mut missing = vec![first];
        for _ in 0..256 {
            let last = missing.last().cloned().unwrap_or_default();
            if !fill_placeholder(&mut data, &last) {
                break;
            }
            match self.render_context(&Context::from(data.clone())) {
                Err(RenderFailure::Missing(path)) if !missing.contains(&path) => missing.push(path),
                _ => break,
            }
        }
        Error::MissingVariables(missing.into_iter().map(|p| p.replace('/', ".")).collect())
    }
}

/// `text` escaped as the inside of a JSON string (quotes, backslashes, control characters).
fn json_string_content(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

enum RenderFailure {
    Missing(String),
    Other(Error),
}

fn fill_placeholder(data: &mut Value, path: &str) -> bool {
    let mut node = data;
    let segs: Vec<&str> = path.split(['.', '/']).filter(|s| !s.is_empty()).collect();
    if segs.is_empty() {
        return false;
    }
    for (i, seg) in segs.iter().enumerate() {
        let Value::Object(map) = node else {
            return false;
        };
        let last = i + 1 == segs.len();
        node = map.entry(seg.to_string()).or_insert_with(|| {
            if last {
                Value::String(String::new())
            } else {
                Value::Object(Map::new())
            }
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refs(src: &str) -> TemplateRefs {
        references_in(0, Role::User, src).unwrap()
    }

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn prompt(messages: &[(Role, &str)]) -> Vec<Message> {
        messages.iter().map(|(r, c)| Message::new(*r, *c)).collect()
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = compile(1, Role::User, "line one\nHello {{name\n").unwrap_err();
        match err {
            Error::TemplateSyntax { position, reason } => {
                assert_eq!(position.message_index, 1);
                assert_eq!((position.line, position.column), (2, 7));
                assert!(reason.contains("never closed"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let cases = [
            (
                "a\n  {{#if x}}b\nc",
                (2, 3),
                "'{{#if}}' is never closed with '{{/if}}'",
            ),
            (
                "x\n  {{/if}}",
                (2, 3),
                "closes a block that was never opened",
            ),
            (
                "{{#each a}}\n{{/if}}",
                (2, 1),
                "does not match '{{#each}}' opened at line 1, column 1",
            ),
            ("a\nb {{foo bar=}} c", (2, 13), "expected"),
        ];
        for (src, pos, want) in cases {
            match compile(0, Role::User, src).unwrap_err() {
                Error::TemplateSyntax { position, reason } => {
                    assert_eq!((position.line, position.column), pos, "{src:?}");
                    assert!(reason.contains(want), "{src:?}: {reason}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let msg = compile(0, Role::System, "{{#if x}}open")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("message 1 (system)"), "{msg}");
    }

    #[test]
    fn finds_variables_everywhere() {
        let r = refs(
            "Hi {{user.name}} {{#if premium}}VIP {{tier}}{{/if}}\n\
             {{#each items}}- {{title}} {{../currency}} {{@index}} {{@root.shop}}{{/each}}\n\
             {{#unless quiet}}{{lookup labels lang}}{{/unless}} {{> footer}} {{{raw_html}}}\n\
             {{#with address}}{{city}}{{/with}} {{!comment}} {{#each rows as |row|}}{{row.x}} {{limit}}{{/each}}",
        );
        assert_eq!(
            r.variables,
            [
                "user", "premium", "tier", "items", "currency", "shop", "quiet", "labels", "lang",
                "raw_html", "address", "rows"
            ]
        );
        assert_eq!(r.partials, ["footer"]);
    }

    #[test]
    fn inline_partials_are_not_external() {
        let r = refs("{{#*inline \"sig\"}}Bye {{name}}{{/inline}}{{> sig}}{{> shared}}");
        assert_eq!(r.partials, ["shared"]);
        assert_eq!(r.variables, ["name"]);
    }

    #[test]
    fn renders_without_escaping() {
        let c = prompt(&[
            (Role::System, "Be <terse> & {{style}}."),
            (Role::User, "{{q}}"),
        ]);
        let compiled = CompiledPrompt::new(&c, Map::new(), &[]).unwrap();
        let out = compiled
            .render(&vars(json!({"style": "kind", "q": "a < b?"})))
            .unwrap();
        assert_eq!(out[0].content, "Be <terse> & kind.");
        assert_eq!(out[1].content, "a < b?");
        assert_eq!(out[1].role, Role::User);
    }

    #[test]
    fn missing_variables_are_all_listed() {
        let c = prompt(&[
            (Role::System, "You are {{persona}}."),
            (
                Role::User,
                "{{question}} in {{lang}} {{user.name}} {{#if opt}}{{opt}}{{/if}}",
            ),
        ]);
        let compiled = CompiledPrompt::new(&c, Map::new(), &[]).unwrap();
        match compiled.render(&vars(json!({"lang": "en", "user": {}}))) {
            Err(Error::MissingVariables(names)) => {
                assert_eq!(names, ["persona", "question", "user.name"])
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_and_callers_win() {
        let c = prompt(&[(Role::User, "{{greeting}}, {{name}}")]);
        let compiled = CompiledPrompt::new(&c, vars(json!({"greeting": "Hello"})), &[]).unwrap();
        let out = compiled.render(&vars(json!({"name": "Ada"}))).unwrap();
        assert_eq!(out[0].content, "Hello, Ada");
        let out = compiled
            .render(&vars(json!({"name": "Ada", "greeting": "Hi"})))
            .unwrap();
        assert_eq!(out[0].content, "Hi, Ada");
    }

    #[test]
    fn partials_render_and_unknown_ones_fail() {
        let c = prompt(&[(Role::System, "{{> tone}} Answer {{q}}")]);
        let compiled =
            CompiledPrompt::new(&c, Map::new(), &[("tone".into(), "Be {{tone}}.".into())]).unwrap();
        let out = compiled
            .render(&vars(json!({"q": "why", "tone": "brief"})))
            .unwrap();
        assert_eq!(out[0].content, "Be brief. Answer why");
        let bare = CompiledPrompt::new(&c, Map::new(), &[]).unwrap();
        assert!(matches!(
            bare.render(&vars(json!({"q": "x"}))),
            Err(Error::UnknownPartial(p)) if p == "tone"
        ));
    }

    #[test]
    fn each_over_items_renders() {
        let c = prompt(&[(Role::User, "{{#each items}}[{{@index}}:{{this}}]{{/each}}")]);
        let compiled = CompiledPrompt::new(&c, Map::new(), &[]).unwrap();
        let out = compiled
            .render(&vars(json!({"items": ["a", "b"]})))
            .unwrap();
        assert_eq!(out[0].content, "[0:a][1:b]");
        assert!(matches!(
            compiled.render(&Map::new()),
            Err(Error::MissingVariables(n)) if n == ["items"]
        ));
    }

    #[test]
    fn image_lines_are_the_ones_the_template_writes() {
        let messages = prompt(&[
            (
                Role::System,
                "Answer in Markdown.\n![logo](https://x.test/logo.png)",
            ),
            (
                Role::User,
                "Compare:\n{{#each photos}}\n![photo {{@index}}]({{this}})\n{{/each}}\nNotes: {{notes}}",
            ),
        ]);
        let compiled = CompiledPrompt::new(&messages, Map::new(), &[]).unwrap();
        let out = compiled
            .render(&vars(json!({
                "photos": ["https://x.test/a.png", "/home/me/My Photos/b.png"],
                // Text that reads like an image line is text when a variable brings it.
                "notes": "see\n![x](/etc/passwd)",
            })))
            .unwrap();
        assert!(
            out[0].image_lines.is_empty(),
            "system messages hold no images"
        );
        assert_eq!(
            out[1].content,
            "Compare:\n![photo 0](https://x.test/a.png)\n![photo 1](/home/me/My Photos/b.png)\nNotes: see\n![x](/etc/passwd)"
        );
        assert_eq!(out[1].image_lines, [1, 2]);
        let chat =
            crate::message::to_chat_messages(&out[..1], crate::images::ImageAccess::UrlsOnly)
                .unwrap();
        assert!(matches!(
            chat[0].content,
            Some(crate::chat::MessageContent::Text(_))
        ));

        // A value with a line break cannot split an image line into text and image.
        let e = compiled
            .render(&vars(
                json!({"photos": ["https://x.test/a.png\n![y](/etc/passwd)"], "notes": ""}),
            ))
            .unwrap_err();
        assert!(matches!(e, Error::Image(_)), "{e:?}");
        assert!(e.to_string().contains("holds a line break"), "{e}");
    }

    #[test]
    fn tool_call_arguments_escape_values_as_json() {
        let mut assistant = Message::new(Role::Assistant, "");
        assistant.tool_calls.push(crate::message::ToolCallTemplate {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city": "{{city}}", "days": {{days}}, "raw": {{{filter}}}}"#.into(),
        });
        let messages = vec![Message::new(Role::User, "Weather in {{city}}?"), assistant];
        let compiled = CompiledPrompt::new(&messages, Map::new(), &[]).unwrap();
        let city = "Oslo \"centre\"\\north\n";
        let out = compiled
            .render(&vars(
                json!({"city": city, "days": 3, "filter": "{\"max\": 2}"}),
            ))
            .unwrap();
        // The message text is not escaped; the arguments stay JSON whatever the value holds.
        assert_eq!(out[0].content, format!("Weather in {city}?"));
        let args: Value = serde_json::from_str(&out[1].tool_calls[0].arguments).unwrap();
        assert_eq!(args, json!({"city": city, "days": 3, "raw": {"max": 2}}));
    }
}
