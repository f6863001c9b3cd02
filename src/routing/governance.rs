//! The engine's side of governance: the PII guardrail on requests and answers, the worst-case
//! estimate a call reserves against budgets, and refusals turned into call errors.

use crate::chat::{ChatMessage, ChatRequest, ChatResponse, ContentPart, MessageContent};
use crate::guardrails::{PiiAction, PiiConfig, PiiScanner, Redactions};
use crate::pricing::{TokenUsage, cost_usd};
use crate::providers::estimate_tokens;
use crate::store::{Refusal, Reservation, Subject};

use super::config::RouteConfig;
use super::engine::Engine;
use super::settings::EngineSettings;

/// A PII guardrail ready to run.
pub(crate) struct Guard {
    pub config: PiiConfig,
    pub scanner: PiiScanner,
}

impl Guard {
    fn from(config: &PiiConfig) -> Result<Option<Guard>, String> {
        if config.action == PiiAction::Off {
            return Ok(None);
        }
        Ok(Some(Guard {
            scanner: PiiScanner::new(config)?,
            config: config.clone(),
        }))
    }

    /// The request guardrail: the config's, else the settings' default.
    pub fn input(config: &RouteConfig, settings: &EngineSettings) -> Result<Option<Guard>, String> {
        match config.input_guardrails.first() {
            Some(g) => Guard::from(g),
            None => {
                let mut g = PiiConfig::new(settings.pii);
                g.restore = settings.pii_restore;
                Guard::from(&g)
            }
        }
    }

    /// A guard that only restores placeholders (for answers served from the cache).
    pub fn restoring() -> Guard {
        let mut config = PiiConfig::new(PiiAction::Redact);
        config.restore = true;
        Guard {
            scanner: PiiScanner::new(&config).expect("built-in patterns"),
            config,
        }
    }

    pub fn output(config: &RouteConfig) -> Result<Option<Guard>, String> {
        match config.output_guardrails.first() {
            Some(g) => Guard::from(g),
            None => Ok(None),
        }
    }
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
    Deny { logged: ChatRequest, reason: String },
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
                reason: format!("the request contains personal data ({})", describe(&shadow)),
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

/// Restores input placeholders (if asked) and runs the output guardrail on a complete answer.
/// Returns the answer for the client, the answer for the log, and a refusal reason if `deny`
/// found something.
pub(crate) fn guard_output(
    response: ChatResponse,
    input: Option<&Guard>,
    redactions: &Redactions,
    output: Option<&Guard>,
) -> (ChatResponse, ChatResponse, Option<String>) {
    let logged = response.clone();
    let mut client = response;
    if input.is_some_and(|g| g.config.restore) {
        for c in &mut client.choices {
            map_text(&mut c.message, |t| redactions.restore(t));
        }
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
            Some(format!(
                "the answer contains personal data ({})",
                describe(&found)
            )),
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
    pub fn push(&mut self, guard: &Guard, piece: &str) -> Result<String, String> {
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
    pub fn finish(&mut self, guard: &Guard) -> Result<String, String> {
        let any = !guard.scanner.scan(&self.pending).is_empty();
        self.release(guard, self.pending.len(), any)
    }

    fn release(&mut self, guard: &Guard, cut: usize, found: bool) -> Result<String, String> {
        let ready: String = self.pending.drain(..cut).collect();
        if found {
            self.found.count(&guard.scanner, &ready);
        }
        match guard.config.action {
            PiiAction::Deny if found => Err(format!(
                "the answer contains personal data ({})",
                describe(&self.found)
            )),
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

/// Reserves a call's worst case against `subject`'s budgets and rate limits, in one transaction.
/// A subject with none (the common case) reserves nothing and takes no write lock: the
/// reservation is empty, and settling it is a no-op. `target` gives the provider and model to
/// price the estimate with; it is asked only when there is something to reserve.
pub(crate) fn reserve(
    engine: &Engine,
    subject: &Subject,
    request: &ChatRequest,
    target: impl FnOnce() -> (Option<String>, String),
) -> crate::Result<Result<Reservation, Refusal>> {
    if !engine.store().has_limits(subject)? {
        return Ok(Ok(Reservation::default()));
    }
    let (provider, model) = target();
    let (usd, tokens) = estimate(engine, request, provider.as_deref(), &model);
    engine.store().reserve(
        std::slice::from_ref(subject),
        usd,
        tokens,
        chrono::Utc::now(),
    )
}

/// Worst-case size of a call: estimated prompt tokens plus the completion limit (the request's
/// max_tokens, else the model's, else 4096), and what that would cost if the price is known.
pub(crate) fn estimate(
    engine: &Engine,
    request: &ChatRequest,
    provider: Option<&str>,
    model: &str,
) -> (Option<f64>, u64) {
    let prompt: u64 = request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.text()) + 3)
        .sum();
    let price = provider.and_then(|p| engine.prices().lookup(p, model));
    let max_out = request
        .max_output_tokens()
        .map(u64::from)
        .or_else(|| price.and_then(|p| p.max_output_tokens))
        .unwrap_or(4096);
    let usd = if provider == Some("demo") && price.is_none() {
        Some(0.0)
    } else {
        price.and_then(|p| {
            cost_usd(
                p,
                &TokenUsage {
                    prompt_tokens: prompt,
                    completion_tokens: max_out,
                    cached_prompt_tokens: 0,
                    cache_write_tokens: 0,
                },
            )
        })
    };
    (usd, prompt + max_out)
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
}
