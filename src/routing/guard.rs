//! The PII guardrail as a step of a call: on the request before anything leaves the machine
//! (detect, redact with placeholders, or deny), and on the answer, complete or streamed (restore
//! placeholders, then detect, redact or deny what the model wrote). A refusal is a
//! [`GuardRefusal`]; the engine answers it with 446.

use crate::chat::{ChatChunk, ChatMessage, ChatRequest, ChatResponse, ContentPart, MessageContent};
use crate::guardrails::{GuardrailError, PiiAction, PiiConfig, PiiScanner, Redactions};

use super::config::RouteConfig;
use super::settings::EngineSettings;

/// Why a guardrail refused a request or an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GuardRefusal(pub String);

/// A PII guardrail ready to run.
pub(crate) struct Guard {
    pub config: PiiConfig,
    pub scanner: PiiScanner,
}

impl Guard {
    fn from(config: &PiiConfig) -> Result<Option<Guard>, GuardrailError> {
        if config.action == PiiAction::Off {
            return Ok(None);
        }
        Ok(Some(Guard {
            scanner: PiiScanner::new(config)?,
            config: config.clone(),
        }))
    }

    /// The request guardrail. The settings' (`portolan settings pii`) is a floor: a config may
    /// tighten it (a stricter action, custom patterns), not switch it off or weaken it, unless
    /// `may_weaken` (a gateway token created with `--allow-guardrail-override`).
    pub fn input(
        config: &RouteConfig,
        settings: &EngineSettings,
        may_weaken: bool,
    ) -> Result<Option<Guard>, GuardrailError> {
        let mut floor = PiiConfig::new(settings.pii);
        floor.restore = settings.pii_restore;
        match config.input_guardrails.first() {
            None => Guard::from(&floor),
            Some(g) if may_weaken => Guard::from(g),
            Some(g) => Guard::from(&at_least(g, &floor)),
        }
    }

    pub fn output(config: &RouteConfig) -> Result<Option<Guard>, GuardrailError> {
        match config.output_guardrails.first() {
            Some(g) => Guard::from(g),
            None => Ok(None),
        }
    }
}

fn strictness(a: PiiAction) -> u8 {
    match a {
        PiiAction::Off => 0,
        PiiAction::Detect => 1,
        PiiAction::Redact => 2,
        PiiAction::Deny => 3,
    }
}

/// A request's guardrail raised to the floor: the stricter action, every detector the floor
/// runs (all built-in ones) plus the request's custom patterns.
fn at_least(request: &PiiConfig, floor: &PiiConfig) -> PiiConfig {
    if floor.action == PiiAction::Off {
        return request.clone();
    }
    let mut out = request.clone();
    if strictness(floor.action) > strictness(request.action) {
        out.action = floor.action;
        out.restore = floor.restore;
    }
    out.types = None;
    for c in &floor.custom {
        if !out.custom.contains(c) {
            out.custom.push(c.clone());
        }
    }
    out
}

fn map_text(message: &mut ChatMessage, mut f: impl FnMut(&str) -> String) {
    match &mut message.content {
        Some(MessageContent::Text(t)) => *t = f(t),
        Some(MessageContent::Parts(parts)) => {
            for p in parts {
                if let ContentPart::Text { text } = p {
                    *text = f(text);
                }
            }
        }
        None => {}
    }
}

/// What the input guardrail decided.
pub(crate) enum InputOutcome {
    /// Go ahead; `logged` is the request as the log may keep it (never with the originals).
    Proceed { logged: ChatRequest },
    /// `deny` found something: refuse with this reason.
    Deny {
        logged: ChatRequest,
        reason: GuardRefusal,
    },
}

/// Runs the input guardrail: `redact` rewrites `request` itself; `detect` and `deny` leave it and
/// give a redacted copy for the log.
pub(crate) fn guard_input(
    guard: &Guard,
    request: &mut ChatRequest,
    redactions: &mut Redactions,
) -> InputOutcome {
    let mut logged = request.clone();
    let mut shadow = Redactions::default();
    for m in &mut logged.messages {
        map_text(m, |t| shadow.redact(&guard.scanner, t));
    }
    match guard.config.action {
        PiiAction::Redact => {
            for m in &mut request.messages {
                map_text(m, |t| redactions.redact(&guard.scanner, t));
            }
            InputOutcome::Proceed {
                logged: request.clone(),
            }
        }
        PiiAction::Deny if !shadow.is_empty() => {
            *redactions = shadow.clone();
            InputOutcome::Deny {
                logged,
                reason: GuardRefusal(format!(
                    "the request contains personal data ({})",
                    describe(&shadow)
                )),
            }
        }
        _ => {
            let mut counted = Redactions::default();
            counted.counts = shadow.counts.clone();
            *redactions = counted;
            InputOutcome::Proceed { logged }
        }
    }
}

fn describe(r: &Redactions) -> String {
    r.summary()
        .replace(':', " ×")
        .replace(',', ", ")
        .replace('_', " ")
}

/// Puts the original values back where an answer repeats the request's placeholders.
pub(crate) fn restore_answer(response: &mut ChatResponse, redactions: &Redactions) {
    for c in &mut response.choices {
        map_text(&mut c.message, |t| redactions.restore(t));
    }
}

/// Restores input placeholders (if asked) and runs the output guardrail on a complete answer.
/// Returns the answer for the client, the answer for the log, and a refusal reason if `deny`
/// found something.
pub(crate) fn guard_output(
    response: ChatResponse,
    input: Option<&Guard>,
    redactions: &Redactions,
    output: Option<&Guard>,
) -> (ChatResponse, ChatResponse, Option<GuardRefusal>) {
    let logged = response.clone();
    let mut client = response;
    if input.is_some_and(|g| g.config.restore) {
        restore_answer(&mut client, redactions);
    }
    let Some(out) = output else {
        return (client, logged, None);
    };
    // The guardrail judges the answer as the client would get it (placeholders restored), as
    // it does for streams; the log's copy is the model's answer, redacted.
    let mut found = Redactions::default();
    for c in &client.choices {
        let mut m = c.message.clone();
        map_text(&mut m, |t| {
            found.count(&out.scanner, t);
            t.to_owned()
        });
    }
    let mut redacted_log = logged.clone();
    let mut log_redactions = Redactions::default();
    for c in &mut redacted_log.choices {
        map_text(&mut c.message, |t| log_redactions.redact(&out.scanner, t));
    }
    match out.config.action {
        PiiAction::Deny if !found.is_empty() => (
            client,
            redacted_log,
            Some(GuardRefusal(format!(
                "the answer contains personal data ({})",
                describe(&found)
            ))),
        ),
        PiiAction::Redact => {
            let mut r = Redactions::default();
            for c in &mut client.choices {
                map_text(&mut c.message, |t| r.redact(&out.scanner, t));
            }
            (client, redacted_log, None)
        }
        _ => (client, redacted_log, None),
    }
}

/// Restores placeholders in a streamed answer, holding back a possibly split placeholder.
#[derive(Default)]
pub(crate) struct StreamRestorer {
    pending: String,
}

impl StreamRestorer {
    pub fn push(&mut self, redactions: &Redactions, piece: &str) -> String {
        self.pending.push_str(piece);
        // Keep an unfinished `[…` (at most a placeholder's length) for the next piece.
        let cut = match self.pending.rfind('[') {
            Some(i) if !self.pending[i..].contains(']') && self.pending.len() - i <= 24 => i,
            _ => self.pending.len(),
        };
        let ready: String = self.pending.drain(..cut).collect();
        redactions.restore(&ready)
    }

    pub fn finish(&mut self, redactions: &Redactions) -> String {
        let rest = std::mem::take(&mut self.pending);
        redactions.restore(&rest)
    }
}

/// The output guardrail on a streamed answer. Text is held back until no finding can still be
/// growing into it: the last [`StreamGuard::HOLD`] bytes, and any finding that reaches into
/// them, wait for the next piece (or the end). `redact` replaces what it lets through, `deny`
/// stops the stream at the first finding (nothing of it reaches the client), `detect` counts.
#[derive(Default)]
pub(crate) struct StreamGuard {
    pending: String,
    redactions: Redactions,
    /// Everything found so far, for the log line.
    pub found: Redactions,
}

impl StreamGuard {
    /// Longer than any e-mail address, IBAN or card number worth catching in practice.
    const HOLD: usize = 96;

    /// Adds a piece; returns the text that may go out now, or the refusal for `deny`.
    pub fn push(&mut self, guard: &Guard, piece: &str) -> Result<String, GuardRefusal> {
        self.pending.push_str(piece);
        let findings = guard.scanner.scan(&self.pending);
        let mut cut = self.pending.len().saturating_sub(Self::HOLD);
        while !self.pending.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(f) = findings.iter().find(|f| f.start < cut && f.end > cut) {
            cut = f.start;
        }
        if guard.config.action == PiiAction::Deny && !findings.is_empty() {
            // Refuse at once: a value at the end may still grow, but it is personal data already.
            return self.release(guard, self.pending.len(), true);
        }
        let settled = findings.iter().any(|f| f.end <= cut);
        self.release(guard, cut, settled)
    }

    /// The end of the answer: everything still held back.
    pub fn finish(&mut self, guard: &Guard) -> Result<String, GuardRefusal> {
        let any = !guard.scanner.scan(&self.pending).is_empty();
        self.release(guard, self.pending.len(), any)
    }

    fn release(&mut self, guard: &Guard, cut: usize, found: bool) -> Result<String, GuardRefusal> {
        let ready: String = self.pending.drain(..cut).collect();
        if found {
            self.found.count(&guard.scanner, &ready);
        }
        match guard.config.action {
            PiiAction::Deny if found => Err(GuardRefusal(format!(
                "the answer contains personal data ({})",
                describe(&self.found)
            ))),
            PiiAction::Redact if found => Ok(self.redactions.redact(&guard.scanner, &ready)),
            _ => Ok(ready),
        }
    }
}

/// The log's copy of a streamed answer under an output guardrail: redacted, never the original.
pub(crate) fn redact_for_log(guard: &Guard, response: &mut ChatResponse) {
    let mut r = Redactions::default();
    for c in &mut response.choices {
        map_text(&mut c.message, |t| r.redact(&guard.scanner, t));
    }
}

/// Runs the streamed-output guardrail over one chunk's text (each choice held back on its own),
/// flushing what it held back when the choice finishes.
pub(crate) fn guard_chunk(
    guard: &Guard,
    states: &mut Vec<StreamGuard>,
    chunk: &mut ChatChunk,
) -> Result<(), GuardRefusal> {
    for c in &mut chunk.choices {
        let i = (c.index as usize).min(127);
        if states.len() <= i {
            states.resize_with(i + 1, StreamGuard::default);
        }
        let state = &mut states[i];
        let mut text = match &c.delta.content {
            Some(t) => state.push(guard, t)?,
            None => String::new(),
        };
        if c.finish_reason.is_some() {
            text.push_str(&state.finish(guard)?);
        }
        if c.delta.content.is_some() || !text.is_empty() {
            c.delta.content = Some(text);
        }
    }
    Ok(())
}

/// A last chunk with whatever the output guardrail still holds for choices that never
/// finished; `None` when nothing is held.
pub(crate) fn flush_held_back(
    guard: &Guard,
    states: &mut [StreamGuard],
    model: &str,
) -> Result<Option<ChatChunk>, GuardRefusal> {
    let mut choices = Vec::new();
    for (i, state) in states.iter_mut().enumerate() {
        let text = state.finish(guard)?;
        if !text.is_empty() {
            choices.push(crate::chat::ChunkChoice {
                index: i as u32,
                delta: crate::chat::Delta {
                    content: Some(text),
                    ..Default::default()
                },
                finish_reason: None,
            });
        }
    }
    Ok((!choices.is_empty()).then(|| {
        let mut chunk = ChatChunk::new(
            &crate::providers::new_completion_id(),
            model,
            chrono::Utc::now().timestamp(),
        );
        chunk.choices = choices;
        chunk
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::PiiAction;

    #[test]
    fn restorer_handles_split_placeholders() {
        let cfg = PiiConfig::new(PiiAction::Redact);
        let scanner = PiiScanner::new(&cfg).unwrap();
        let mut r = Redactions::default();
        assert_eq!(r.redact(&scanner, "ada@example.com"), "[EMAIL_1]");
        let mut s = StreamRestorer::default();
        let mut out = String::new();
        for piece in ["Sent to [EM", "AIL_1", "] today [x"] {
            out.push_str(&s.push(&r, piece));
        }
        out.push_str(&s.finish(&r));
        assert_eq!(out, "Sent to ada@example.com today [x");
    }

    #[test]
    fn a_streamed_answer_is_redacted_as_if_whole_however_it_is_cut() {
        let mut config = PiiConfig::new(PiiAction::Redact);
        config.restore = false;
        let guard = Guard {
            scanner: PiiScanner::new(&config).unwrap(),
            config,
        };
        let text =
            "Mail ada@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, \
                    then call +1 415 555 0100. "
                .repeat(3);
        let whole = Redactions::default().redact(&guard.scanner, &text);
        for size in [1, 2, 3, 7, 16, 50, 97, 400] {
            let mut g = StreamGuard::default();
            let mut out = String::new();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(size) {
                out.push_str(&g.push(&guard, &piece.iter().collect::<String>()).unwrap());
            }
            out.push_str(&g.finish(&guard).unwrap());
            assert_eq!(out, whole, "pieces of {size} characters");
        }
    }

    #[test]
    fn the_settings_guardrail_is_a_floor_a_request_can_only_raise() {
        let settings = EngineSettings {
            pii: PiiAction::Redact,
            ..Default::default()
        };
        let weaker = RouteConfig {
            input_guardrails: vec![{
                let mut g = PiiConfig::new(PiiAction::Detect);
                g.types = Some(vec![crate::guardrails::PiiKind::Email]);
                g
            }],
            ..Default::default()
        };
        let g = Guard::input(&weaker, &settings, false).unwrap().unwrap();
        assert_eq!(
            (g.config.action, g.config.types.clone()),
            (PiiAction::Redact, None)
        );
        let off = RouteConfig {
            input_guardrails: vec![PiiConfig::new(PiiAction::Off)],
            ..Default::default()
        };
        assert_eq!(
            Guard::input(&off, &settings, false)
                .unwrap()
                .unwrap()
                .config
                .action,
            PiiAction::Redact
        );
        // A token allowed to override may switch it off; a stricter request stays stricter.
        assert!(Guard::input(&off, &settings, true).unwrap().is_none());
        let deny = RouteConfig {
            input_guardrails: vec![PiiConfig::new(PiiAction::Deny)],
            ..Default::default()
        };
        assert_eq!(
            Guard::input(&deny, &settings, false)
                .unwrap()
                .unwrap()
                .config
                .action,
            PiiAction::Deny
        );
    }
}
