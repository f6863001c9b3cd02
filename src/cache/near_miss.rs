//! The near-miss check of the semantic cache. An embedding match says two requests are about the
//! same thing; it does not say they want the same answer: "Convert 100 Fahrenheit to Celsius"
//! and "… Celsius to Fahrenheit" score 0.99 with a sentence model, "HTTP 404" and "HTTP 500" look
//! alike to any embedder. So a semantic match is a hit only when the two requests also agree on
//! what makes answers differ:
//!
//! - **numbers and codes** (any token holding a digit: `100`, `3.12`, `15%`, `E1042`,
//!   `ORA-00942`) — the same ones, as many times;
//! - **quoted strings** (`'good morning'`, `"draft.txt"`) — the same ones;
//! - **named entities and units** (capitalised words that are not common words, acronyms,
//!   currency codes, unit words such as `celsius` or `miles`) — each one of either request must
//!   appear in the other;
//! - **negations** (`not`, `no`, `never`, `-n't`, `without`…) — as many in each;
//! - **order**: the distinguishing tokens the two share must come in the same order (F→C is not
//!   C→F; Berlin→Rome is not Rome→Berlin);
//! - **one-for-one substitutions**: when the two requests differ in exactly one content word each
//!   and agree on all the others ("Can dogs eat chocolate?" / "Can cats eat chocolate?"), they ask
//!   about different things.
//!
//! [`agrees`] says why not when they do not. It is a heuristic with a measured error rate on the
//! labelled pairs in `data/cache-pairs/` (see the README), not a parser.

use std::collections::{BTreeMap, BTreeSet};

/// Why two requests are not the same question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disagreement {
    Numbers,
    Quoted,
    Entity(String),
    Negation,
    Order,
    Substitution(String, String),
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disagreement::Numbers => f.write_str("different numbers or codes"),
            Disagreement::Quoted => f.write_str("different quoted text"),
            Disagreement::Entity(e) => write!(f, "'{e}' is in only one of them"),
            Disagreement::Negation => f.write_str("one of them is negated"),
            Disagreement::Order => f.write_str("the same terms in another order"),
            Disagreement::Substitution(a, b) => write!(f, "'{a}' where the other has '{b}'"),
        }
    }
}

/// Words that carry no distinguishing meaning (function words, question words, the verbs
/// requests start with). Capitalised, they are still not entities.
const COMMON: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "another",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "best",
    "better",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "explain",
    "find",
    "for",
    "from",
    "get",
    "give",
    "go",
    "had",
    "has",
    "have",
    "having",
    "he",
    "help",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "know",
    "let",
    "like",
    "list",
    "make",
    "me",
    "more",
    "most",
    "my",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "please",
    "recommend",
    "same",
    "say",
    "should",
    "show",
    "so",
    "some",
    "such",
    "suggest",
    "summarize",
    "summarise",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "translate",
    "under",
    "until",
    "up",
    "us",
    "use",
    "very",
    "was",
    "way",
    "ways",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "write",
    "compose",
    "you",
    "your",
    "yours",
    "there's",
    "what's",
    "how's",
    "where's",
    "who's",
    "it's",
    "let's",
    "i'm",
    "ok",
    "okay",
    "thanks",
    "thank",
    "want",
    "need",
    "really",
    "something",
    "anything",
    "one",
    "ones",
    "many",
    "much",
    "get",
    "set",
    "create",
    "take",
    "put",
    "new",
    "old",
    "good",
    "bad",
    "books",
    "book",
];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "without", "none", "nobody", "nothing", "neither", "nor", "cannot",
];

/// Units and currencies: lower-case words that still tell answers apart.
const UNITS: &[&str] = &[
    "celsius",
    "fahrenheit",
    "kelvin",
    "centigrade",
    "meter",
    "meters",
    "metre",
    "metres",
    "kilometer",
    "kilometers",
    "kilometre",
    "kilometres",
    "km",
    "mile",
    "miles",
    "foot",
    "feet",
    "inch",
    "inches",
    "yard",
    "yards",
    "centimeter",
    "centimeters",
    "cm",
    "millimeter",
    "mm",
    "gram",
    "grams",
    "kilogram",
    "kilograms",
    "kg",
    "pound",
    "pounds",
    "lb",
    "lbs",
    "ounce",
    "ounces",
    "oz",
    "ton",
    "tons",
    "tonne",
    "tonnes",
    "liter",
    "liters",
    "litre",
    "litres",
    "ml",
    "gallon",
    "gallons",
    "cup",
    "cups",
    "second",
    "seconds",
    "minute",
    "minutes",
    "hour",
    "hours",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "year",
    "years",
    "byte",
    "bytes",
    "kb",
    "mb",
    "gb",
    "tb",
    "usd",
    "eur",
    "gbp",
    "jpy",
    "chf",
    "cny",
    "dollar",
    "dollars",
    "euro",
    "euros",
    "yen",
    "yuan",
    "rupee",
    "rupees",
    "bitcoin",
    "percent",
    "degrees",
    "degree",
    "mph",
    "kmh",
    "watts",
    "volts",
];

fn is_common(w: &str) -> bool {
    COMMON.contains(&w)
}

/// A word reduced for comparison: lower case, a possessive dropped, a few suffixes stripped
/// (so "vaccines"/"vaccine" and "invented"/"inventor" meet).
fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    let w = w
        .strip_suffix("'s")
        .or_else(|| w.strip_suffix("’s"))
        .unwrap_or(&w)
        .to_owned();
    if w.chars().count() <= 4 || w.chars().any(|c| c.is_ascii_digit()) {
        return w;
    }
    let mut base = w.as_str();
    for suffix in [
        "ing", "ers", "ors", "ies", "ed", "er", "or", "es", "ly", "s",
    ] {
        if let Some(b) = base.strip_suffix(suffix)
            && b.chars().count() >= 3
        {
            base = b;
            break;
        }
    }
    // A final silent e ("vaccine" / "vaccines" → "vaccin").
    if base.chars().count() > 4 {
        base = base.strip_suffix('e').unwrap_or(base);
    }
    base.to_owned()
}

/// What a request says that tells its answer apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signature {
    /// Tokens holding a digit, in order.
    numbers: Vec<String>,
    quoted: Vec<String>,
    /// Entities and units (stemmed), in order.
    entities: Vec<String>,
    negations: usize,
    /// Content words (stemmed): not common, not numbers.
    content: BTreeSet<String>,
    /// Every word (stemmed), for "does the other mention it".
    words: BTreeSet<String>,
    /// The distinguishing tokens in order (numbers, entities, units, quoted).
    ordered: Vec<String>,
}

/// Splits quoted spans out (`'…'`, `"…"`, `“…”`, `` `…` ``): an opening quote follows a space, a
/// bracket or the start; apostrophes inside words (`France's`, `don't`) are not quotes.
fn quoted_spans(text: &str) -> (Vec<String>, String) {
    let chars: Vec<char> = text.chars().collect();
    let mut quoted = Vec::new();
    let mut rest = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let opens = matches!(c, '\'' | '"' | '“' | '‘' | '`')
            && (i == 0 || chars[i - 1].is_whitespace() || "([{:".contains(chars[i - 1]));
        if opens {
            let close = match c {
                '“' => '”',
                '‘' => '’',
                other => other,
            };
            if let Some(len) = chars[i + 1..]
                .iter()
                .position(|&x| x == close || (c == '‘' && x == '\''))
            {
                let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                if !inner.trim().is_empty() {
                    quoted.push(inner.trim().to_lowercase());
                    rest.push(' ');
                    i += len + 2;
                    continue;
                }
            }
        }
        rest.push(c);
        i += 1;
    }
    (quoted, rest)
}

/// The signature of a request's text.
pub fn signature(text: &str) -> Signature {
    let (quoted, rest) = quoted_spans(text);
    let mut s = Signature {
        quoted: quoted.clone(),
        ..Default::default()
    };
    // Sentences start after . ! ? : and at the beginning.
    let mut sentence_start = true;
    let mut ordered = Vec::new();
    for raw in rest.split_whitespace() {
        let ends_sentence = raw.ends_with(['.', '!', '?', ':']);
        // Keep inner punctuation that belongs to a token (3.12, ORA-00942, e-mail, don't).
        let token =
            raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '%' && c != '\'' && c != '’');
        let token = token.trim_matches(|c: char| c == '\'' || c == '’');
        if token.is_empty() {
            sentence_start = sentence_start || ends_sentence;
            continue;
        }
        let lower = token.to_lowercase();
        if token.chars().any(|c| c.is_ascii_digit()) {
            let n = lower.replace(',', "");
            s.numbers.push(n.clone());
            ordered.push(n);
        } else {
            for part in token.split(['-', '/']) {
                if part.is_empty() {
                    continue;
                }
                let pl = part.to_lowercase();
                let stemmed = stem(part);
                if NEGATIONS.contains(&pl.as_str()) || pl.ends_with("n't") || pl.ends_with("n’t")
                {
                    s.negations += 1;
                }
                s.words.insert(stemmed.clone());
                let capitalised = part.chars().next().is_some_and(char::is_uppercase);
                let acronym = part.len() >= 2 && part.chars().all(|c| c.is_uppercase());
                let entity = (acronym && !is_common(&pl))
                    || (capitalised && !sentence_start && !is_common(&pl))
                    || UNITS.contains(&pl.as_str());
                if entity {
                    s.entities.push(stemmed.clone());
                    ordered.push(stemmed.clone());
                } else if !is_common(&pl) && !NEGATIONS.contains(&pl.as_str()) {
                    s.content.insert(stemmed);
                }
            }
        }
        sentence_start = ends_sentence;
    }
    // Quoted spans take part in the order too, where they were (approximately: at the end).
    ordered.extend(quoted);
    s.ordered = ordered;
    s
}

fn counts(items: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.as_str()).or_insert(0) += 1;
    }
    m
}

/// Whether two requests ask the same question, as far as their distinguishing tokens tell.
pub fn agrees(a: &str, b: &str) -> Result<(), Disagreement> {
    agrees_with(&signature(a), b)
}

/// [`agrees`], with the first request's signature made once (a lookup checks several cached
/// candidates against the same request).
pub fn agrees_with(sa: &Signature, b: &str) -> Result<(), Disagreement> {
    let sb = signature(b);
    let sb = &sb;
    if counts(&sa.numbers) != counts(&sb.numbers) {
        return Err(Disagreement::Numbers);
    }
    if counts(&sa.quoted) != counts(&sb.quoted) {
        return Err(Disagreement::Quoted);
    }
    for (x, other) in [(sa, sb), (sb, sa)] {
        for e in &x.entities {
            if !other.words.contains(e) && !other.entities.contains(e) {
                return Err(Disagreement::Entity(e.clone()));
            }
        }
    }
    if sa.negations != sb.negations {
        return Err(Disagreement::Negation);
    }
    // The shared distinguishing tokens, in each one's order.
    let shared: BTreeSet<&String> = sa
        .ordered
        .iter()
        .filter(|t| sb.ordered.contains(t))
        .collect();
    let seq = |s: &Signature| -> Vec<String> {
        let mut seen = BTreeSet::new();
        s.ordered
            .iter()
            .filter(|t| shared.contains(t) && seen.insert(t.as_str()))
            .cloned()
            .collect()
    };
    if seq(sa) != seq(sb) {
        return Err(Disagreement::Order);
    }
    let only_a: Vec<&String> = sa.content.difference(&sb.content).collect();
    let only_b: Vec<&String> = sb.content.difference(&sa.content).collect();
    if only_a.len() == 1 && only_b.len() == 1 && sa.content.len() >= 2 {
        return Err(Disagreement::Substitution(
            only_a[0].clone(),
            only_b[0].clone(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn differ(a: &str, b: &str) -> Disagreement {
        agrees(a, b).expect_err(&format!("{a:?} / {b:?} should differ"))
    }

    #[test]
    fn each_kind_of_distinguishing_token_is_caught() {
        assert_eq!(
            differ("What does HTTP 404 mean?", "What does HTTP 500 mean?"),
            Disagreement::Numbers
        );
        assert_eq!(
            differ("Explain error ORA-00942.", "Explain error ORA-01017."),
            Disagreement::Numbers
        );
        assert_eq!(
            differ(
                "How do I install Python 3.12?",
                "How do I install Python 3.8?"
            ),
            Disagreement::Numbers
        );
        assert_eq!(
            differ(
                "Translate 'hello' into Italian.",
                "Translate 'goodbye' into Italian."
            ),
            Disagreement::Quoted
        );
        assert!(matches!(
            differ(
                "What is the capital of Austria?",
                "What is the capital of Australia?"
            ),
            Disagreement::Entity(_)
        ));
        assert_eq!(
            differ("I do not want a refund.", "I want a refund."),
            Disagreement::Negation
        );
        assert_eq!(
            differ("Is coffee bad for you?", "Isn't coffee bad for you?"),
            Disagreement::Negation
        );
        assert_eq!(
            differ(
                "Convert 100 Fahrenheit to Celsius",
                "Convert 100 Celsius to Fahrenheit"
            ),
            Disagreement::Order
        );
        assert_eq!(
            differ(
                "convert 5 miles to kilometers",
                "convert 5 kilometers to miles"
            ),
            Disagreement::Order
        );
        assert_eq!(
            differ(
                "Find flights from Berlin to Rome",
                "Find flights from Rome to Berlin"
            ),
            Disagreement::Order
        );
        assert!(matches!(
            differ("Can dogs eat chocolate?", "Can cats eat chocolate?"),
            Disagreement::Substitution(..)
        ));
    }

    #[test]
    fn paraphrases_agree() {
        for (a, b) in [
            (
                "What is the capital of France?",
                "Which city is France's capital?",
            ),
            (
                "How do I reverse a list in Python?",
                "Python: how can I reverse a list?",
            ),
            (
                "What does HTTP 404 mean?",
                "What is the meaning of an HTTP 404 error?",
            ),
            (
                "Who invented the telephone?",
                "Who was the inventor of the telephone?",
            ),
            ("How do vaccines work?", "Explain how a vaccine works."),
            (
                "Translate 'good morning' into Spanish.",
                "How do you say 'good morning' in Spanish?",
            ),
            (
                "What's the CSS to center a div?",
                "How do I center a div in CSS?",
            ),
        ] {
            assert_eq!(agrees(a, b), Ok(()), "{a:?} / {b:?}");
        }
    }

    #[test]
    fn apostrophes_inside_words_are_not_quotes() {
        let s = signature("What's France's capital? Don't guess.");
        assert!(s.quoted.is_empty(), "{s:?}");
        assert_eq!(s.negations, 1);
        assert_eq!(s.entities, ["franc"]);
    }
}
