//! The checks that call models: an LLM judge grading against a rubric (pass/fail with a reason,
//! or a 1–5 score), against the row's reference answer, or comparing two columns' answers
//! (pairwise, judged in both orders so a judge's preference for a position cancels out: when the
//! orders disagree it is a tie), and similarity by embedding.
//!
//! The judge prompts are ordinary library prompts (`judge-rubric`, `judge-reference`,
//! `judge-pairwise`, seeded and editable; an assertion may name another with `prompt`). Their
//! verdicts are JSON, parsed strictly: a verdict that is not the JSON the prompt asks for is an
//! error cell, never a pass. Judge calls go through the engine (budgets, log) with source `judge`,
//! and their cost is reported apart from the outputs'.

use serde_json::{Map, Value, json};

use super::assertions::{Assertion, CellView, Check, Graded, Similarity, Verdict};
use crate::chat::ChatRequest;
use crate::prompts::VersionSelector;
use crate::routing::{CallBody, CallOptions, Engine, PromptRef};

/// The seeded judge prompts.
pub const RUBRIC_PROMPT: &str = "judge-rubric";
pub const REFERENCE_PROMPT: &str = "judge-reference";
pub const PAIRWISE_PROMPT: &str = "judge-pairwise";

/// Where judge calls go and how they are tagged.
#[derive(Debug, Clone, Default)]
pub struct JudgeSettings {
    /// The judge model when an assertion names none (else the judge prompt's own model).
    pub model: Option<String>,
    /// Tags for the call log (the experiment's id…).
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A judge's answer: its text, and what the call cost.
struct Answer {
    text: String,
    cost_usd: Option<f64>,
}

async fn ask(
    engine: &Engine,
    prompt: &str,
    variables: Map<String, Value>,
    model: Option<&str>,
    settings: &JudgeSettings,
) -> Result<Answer, String> {
    let rendered = engine
        .catalog()
        .render(prompt, &VersionSelector::Default, &variables)
        .await
        .map_err(|e| format!("judge prompt '{prompt}': {e}"))?;
    let model = model
        .map(str::to_owned)
        .or_else(|| settings.model.clone())
        .or(rendered.model.clone())
        .ok_or_else(|| format!("judge prompt '{prompt}' names no model; give the judge a model"))?;
    let mut request = ChatRequest {
        model,
        messages: rendered
            .chat_messages(crate::images::ImageAccess::LocalFiles)
            .map_err(|e| format!("judge prompt '{prompt}': {e}"))?,
        ..Default::default()
    };
    let mut params = rendered.params.clone();
    params.remove("model");
    request
        .apply_params(&params)
        .map_err(|e| format!("judge prompt '{prompt}': {e}"))?;
    let mut metadata = settings.metadata.clone();
    metadata.insert("_judge".into(), prompt.to_owned());
    let options = CallOptions {
        metadata,
        prompt: Some(PromptRef {
            id: rendered.prompt_id.clone(),
            version: rendered.version,
        }),
        source: Some("judge".into()),
        ..Default::default()
    };
    let call = engine
        .chat(request, options)
        .await
        .map_err(|e| format!("the judge call failed: {}", e.message))?;
    let cost_usd = call.info.summary().and_then(|s| s.cost_usd);
    let text = match call.body {
        CallBody::Complete(answer) => answer.text(),
        CallBody::Stream(_) => return Err("the judge answered with a stream".into()),
    };
    Ok(Answer { text, cost_usd })
}

/// The verdict object in a judge's answer (JSON, possibly in a code fence), or why not.
fn verdict_object(text: &str) -> Result<Map<String, Value>, String> {
    match super::assertions::find_json(text) {
        Some(Value::Object(o)) => Ok(o),
        _ => Err(format!(
            "the judge's verdict is not the JSON object asked for: {:?}",
            text.chars().take(120).collect::<String>()
        )),
    }
}

fn reason_of(o: &Map<String, Value>) -> Result<String, String> {
    match o.get("reason") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err("the judge's verdict has no `reason` text".into()),
    }
}

/// Parses a pass/fail verdict: `{"reason": "...", "pass": true|false}`.
pub fn parse_pass(text: &str) -> Result<(bool, String), String> {
    let o = verdict_object(text)?;
    let reason = reason_of(&o)?;
    match o.get("pass") {
        Some(Value::Bool(b)) => Ok((*b, reason)),
        other => Err(format!(
            "the judge's verdict needs `pass`: true or false, not {}",
            other.map_or("nothing".into(), Value::to_string)
        )),
    }
}

/// Parses a score verdict: `{"reason": "...", "score": 1..5}`.
pub fn parse_score(text: &str) -> Result<(f64, String), String> {
    let o = verdict_object(text)?;
    let reason = reason_of(&o)?;
    match o.get("score").and_then(Value::as_f64) {
        Some(s) if (1.0..=5.0).contains(&s) && s.fract() == 0.0 => Ok((s, reason)),
        _ => Err(format!(
            "the judge's verdict needs `score`: a whole number from 1 to 5, not {}",
            o.get("score").map_or("nothing".into(), Value::to_string)
        )),
    }
}

/// Which answer a pairwise judge preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    A,
    B,
    Tie,
}

/// Parses a pairwise verdict: `{"reason": "...", "winner": "A"|"B"|"tie"}`.
pub fn parse_winner(text: &str) -> Result<(Winner, String), String> {
    let o = verdict_object(text)?;
    let reason = reason_of(&o)?;
    let w = match o.get("winner").and_then(Value::as_str).map(str::trim) {
        Some("A" | "a") => Winner::A,
        Some("B" | "b") => Winner::B,
        Some(t) if t.eq_ignore_ascii_case("tie") => Winner::Tie,
        other => {
            return Err(format!(
                "the judge's verdict needs `winner`: \"A\", \"B\" or \"tie\", not {other:?}"
            ));
        }
    };
    Ok((w, reason))
}

fn add_cost(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Checks a cell with a check that calls a model (a rubric or reference judge, similarity by
/// embedding). `input` is what the cell's prompt asked, for the judge to read.
pub async fn grade(
    engine: &Engine,
    assertion: &Assertion,
    cell: &CellView<'_>,
    input: &str,
    settings: &JudgeSettings,
) -> Verdict {
    let v = grade_plain(engine, assertion, cell, input, settings).await;
    if assertion.negate && v.pass.is_some() {
        let mut n = v;
        n.pass = n.pass.map(|p| !p);
        n.reason = format!("not: {}", n.reason);
        n
    } else {
        v
    }
}

async fn grade_plain(
    engine: &Engine,
    assertion: &Assertion,
    cell: &CellView<'_>,
    input: &str,
    settings: &JudgeSettings,
) -> Verdict {
    let spec = &assertion.spec;
    match &assertion.check {
        Check::Similar {
            to,
            method: Similarity::Embedding,
            threshold,
        } => {
            let reference = match to {
                Some(t) => match t.render(cell.vars) {
                    Ok(s) => s,
                    Err(e) => return Verdict::error(e),
                },
                None => match cell.expected {
                    Some(e) => e.to_owned(),
                    None => return Verdict::error("`similar` needs a value or an expected output"),
                },
            };
            let model = spec
                .model
                .clone()
                .or_else(|| engine.settings().embedding_model.clone())
                .unwrap_or_else(|| crate::embeddings::LOCAL_EMBEDDER.into());
            match engine
                .embed(&model, &[cell.output.to_owned(), reference])
                .await
            {
                Err(e) => Verdict::error(format!("could not embed with {model}: {}", e.message)),
                Ok((vectors, embedder)) => {
                    let s = crate::embeddings::cosine(&vectors[0], &vectors[1]) as f64;
                    let mut v = if s >= *threshold {
                        Verdict::pass(format!("cosine {s:.2} ≥ {threshold} ({embedder})"))
                    } else {
                        Verdict::fail(format!("cosine {s:.2} < {threshold} ({embedder})"))
                    };
                    v.score = Some(s);
                    v
                }
            }
        }
        Check::Graded(Graded::Rubric { rubric, score }) => {
            let rubric = match rubric.render(cell.vars) {
                Ok(r) => r,
                Err(e) => return Verdict::error(e),
            };
            let prompt = spec.prompt.as_deref().unwrap_or(RUBRIC_PROMPT);
            let vars =
                json!({"rubric": rubric, "input": input, "output": cell.output, "score": score});
            let answer = match ask(
                engine,
                prompt,
                as_map(vars),
                spec.model.as_deref(),
                settings,
            )
            .await
            {
                Ok(a) => a,
                Err(e) => return Verdict::error(e),
            };
            let mut v = if *score {
                match parse_score(&answer.text) {
                    Ok((s, reason)) => {
                        let pass_mark = spec.threshold.unwrap_or(4.0);
                        Verdict {
                            pass: Some(s >= pass_mark),
                            score: Some(s),
                            reason,
                            error: None,
                            cost_usd: None,
                        }
                    }
                    Err(e) => Verdict::error(e),
                }
            } else {
                match parse_pass(&answer.text) {
                    Ok((true, reason)) => Verdict::pass(reason),
                    Ok((false, reason)) => Verdict::fail(reason),
                    Err(e) => Verdict::error(e),
                }
            };
            v.cost_usd = answer.cost_usd;
            v
        }
        Check::Graded(Graded::Reference) => {
            let Some(expected) = cell.expected else {
                return Verdict::error("this row has no expected output to grade against");
            };
            let prompt = spec.prompt.as_deref().unwrap_or(REFERENCE_PROMPT);
            let vars = json!({"input": input, "output": cell.output, "expected": expected});
            let answer = match ask(
                engine,
                prompt,
                as_map(vars),
                spec.model.as_deref(),
                settings,
            )
            .await
            {
                Ok(a) => a,
                Err(e) => return Verdict::error(e),
            };
            let mut v = match parse_pass(&answer.text) {
                Ok((true, reason)) => Verdict::pass(reason),
                Ok((false, reason)) => Verdict::fail(reason),
                Err(e) => Verdict::error(e),
            };
            v.cost_usd = answer.cost_usd;
            v
        }
        Check::Graded(Graded::Pairwise { .. }) => {
            Verdict::error("pairwise compares two columns; it is checked per row, not per cell")
        }
        _ => assertion.check(cell),
    }
}

/// A pairwise comparison of a candidate's answer with the baseline's for one row, judged in both
/// orders. Score 1 when the candidate wins both ways, 0 when the baseline does, 0.5 for a tie or
/// a disagreement between the orders.
pub async fn pairwise(
    engine: &Engine,
    assertion: &Assertion,
    vars: &Map<String, Value>,
    input: &str,
    baseline: &str,
    candidate: &str,
    settings: &JudgeSettings,
) -> Verdict {
    let Check::Graded(Graded::Pairwise { rubric }) = &assertion.check else {
        return Verdict::error("not a pairwise assertion");
    };
    let spec = &assertion.spec;
    let rubric = match rubric.as_ref().map(|r| r.render(vars)).transpose() {
        Ok(r) => r,
        Err(e) => return Verdict::error(e),
    };
    let prompt = spec.prompt.as_deref().unwrap_or(PAIRWISE_PROMPT);
    let ask_order = |a: &str, b: &str| {
        let mut vars = json!({"input": input, "a": a, "b": b});
        if let Some(r) = &rubric {
            vars["rubric"] = json!(r);
        }
        ask(
            engine,
            prompt,
            as_map(vars),
            spec.model.as_deref(),
            settings,
        )
    };
    // Baseline first, then candidate first.
    let (first, second) = tokio::join!(
        ask_order(baseline, candidate),
        ask_order(candidate, baseline)
    );
    let (first, second) = match (first, second) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(e), _) | (_, Err(e)) => return Verdict::error(e),
    };
    let cost = add_cost(first.cost_usd, second.cost_usd);
    let (w1, r1) = match parse_winner(&first.text) {
        Ok(w) => w,
        Err(e) => return Verdict::error(e),
    };
    let (w2, r2) = match parse_winner(&second.text) {
        Ok(w) => w,
        Err(e) => return Verdict::error(e),
    };
    let (pass, score, what) = combine(w1, w2);
    Verdict {
        pass: Some(pass),
        score: Some(score),
        reason: format!("{what}: {r1} / {r2}"),
        error: None,
        cost_usd: cost,
    }
}

/// The outcome of a pairwise check from its two orders: `first` judged (baseline, candidate),
/// `second` judged (candidate, baseline). The candidate wins only when both orders prefer it;
/// a disagreement (a judge preferring a position) is a tie.
pub fn combine(first: Winner, second: Winner) -> (bool, f64, &'static str) {
    match (first, second) {
        (Winner::B, Winner::A) => (true, 1.0, "better than the baseline in both orders"),
        (Winner::A, Winner::B) => (false, 0.0, "worse than the baseline in both orders"),
        (Winner::Tie, Winner::Tie) => (false, 0.5, "a tie"),
        _ => (false, 0.5, "a tie (the two orders disagreed)"),
    }
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_parsed_strictly() {
        assert_eq!(
            parse_pass("{\"reason\": \"ok\", \"pass\": true}").unwrap(),
            (true, "ok".into())
        );
        assert_eq!(
            parse_pass("Sure:\n```json\n{\"reason\": \"no\", \"pass\": false}\n```").unwrap(),
            (false, "no".into())
        );
        assert!(
            parse_pass("PASS")
                .unwrap_err()
                .contains("not the JSON object")
        );
        assert!(
            parse_pass("{\"reason\": \"x\", \"pass\": \"yes\"}")
                .unwrap_err()
                .contains("`pass`")
        );
        assert!(
            parse_pass("{\"pass\": true}")
                .unwrap_err()
                .contains("`reason`")
        );
        assert_eq!(
            parse_score("{\"reason\": \"r\", \"score\": 4}").unwrap().0,
            4.0
        );
        assert!(parse_score("{\"reason\": \"r\", \"score\": 7}").is_err());
        assert!(parse_score("{\"reason\": \"r\", \"score\": 3.5}").is_err());
        assert_eq!(
            parse_winner("{\"reason\": \"r\", \"winner\": \"tie\"}")
                .unwrap()
                .0,
            Winner::Tie
        );
        assert!(parse_winner("{\"reason\": \"r\", \"winner\": \"C\"}").is_err());
    }

    #[test]
    fn pairwise_orders_combine_into_win_loss_or_tie() {
        use Winner::*;
        assert_eq!(
            combine(B, A).1,
            1.0,
            "the candidate preferred in both orders"
        );
        assert_eq!(
            combine(A, B).1,
            0.0,
            "the baseline preferred in both orders"
        );
        assert_eq!(
            combine(B, B).1,
            0.5,
            "always the second answer: position bias, a tie"
        );
        assert_eq!(combine(A, A).1, 0.5, "always the first answer: a tie");
        assert_eq!(combine(Tie, A).1, 0.5);
        assert!(!combine(B, B).0 && combine(B, A).0);
    }
}
