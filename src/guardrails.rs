//! Local PII guardrails: detectors for e-mail addresses, phone numbers, credit-card numbers
//! (Luhn-checked), IBANs (mod-97-checked), IP addresses, US social security numbers and
//! user-supplied patterns, with three actions: `detect` (record only), `redact` (replace with
//! typed placeholders like `[EMAIL_1]` before the request leaves the machine, optionally restored
//! in the answer) and `deny` (refuse the call). Everything runs in-process; nothing is sent to a
//! third party. One combined regex scans the text once.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    CreditCard,
    Iban,
    IpAddress,
    Ssn,
    Custom,
}

impl PiiKind {
    pub const ALL: [PiiKind; 6] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::CreditCard,
        PiiKind::Iban,
        PiiKind::IpAddress,
        PiiKind::Ssn,
    ];

    /// The detector's name, as configs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::CreditCard => "credit_card",
            PiiKind::Iban => "iban",
            PiiKind::IpAddress => "ip_address",
            PiiKind::Ssn => "ssn",
            PiiKind::Custom => "custom",
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::CreditCard => "CREDIT_CARD",
            PiiKind::Iban => "IBAN",
            PiiKind::IpAddress => "IP_ADDRESS",
            PiiKind::Ssn => "SSN",
            PiiKind::Custom => "CUSTOM",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiAction {
    #[default]
    Off,
    Detect,
    Redact,
    Deny,
}

impl std::str::FromStr for PiiAction {
    type Err = GuardrailError;
    fn from_str(s: &str) -> Result<Self, GuardrailError> {
        match s {
            "off" => Ok(PiiAction::Off),
            "detect" => Ok(PiiAction::Detect),
            "redact" => Ok(PiiAction::Redact),
            "deny" => Ok(PiiAction::Deny),
            other => Err(GuardrailError::UnknownAction(other.to_owned())),
        }
    }
}

/// A guardrail that cannot be set up as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardrailError {
    #[error("unknown guardrail type '{0}' (Portolan has 'pii')")]
    UnknownType(String),
    #[error("custom PII pattern '{pattern}': {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("PII action must be off, detect, redact or deny, not '{0}'")]
    UnknownAction(String),
}

/// A PII guardrail as configured (settings default, or a routing config's
/// `input_guardrails` / `output_guardrails` entry `{"type": "pii", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    #[serde(rename = "type", default = "pii_type")]
    pub kind: String,
    pub action: PiiAction,
    /// Detectors to run (default: all built-in ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<PiiKind>>,
    /// Extra patterns (regular expressions), reported as `custom`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<String>,
    /// Put the original values back into the answer where the model repeated a placeholder.
    #[serde(default)]
    pub restore: bool,
}

fn pii_type() -> String {
    "pii".into()
}

impl PiiConfig {
    pub fn new(action: PiiAction) -> Self {
        PiiConfig {
            kind: pii_type(),
            action,
            types: None,
            custom: Vec::new(),
            restore: false,
        }
    }

    pub fn validate(&self) -> Result<(), GuardrailError> {
        if self.kind != "pii" {
            return Err(GuardrailError::UnknownType(self.kind.clone()));
        }
        for p in &self.custom {
            Regex::new(p).map_err(|e| GuardrailError::BadPattern {
                pattern: p.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// One finding: where, what kind. The matched text itself is kept only in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

static DETECTOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<email>\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b)",
        r"|(?P<iban>\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b)",
        r"|(?P<card>\b(?:[0-9][ \-]?){12,18}[0-9]\b)",
        r"|(?P<ssn>\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b)",
        r"|(?P<ip>\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b)",
        r"|(?P<phone>(?:\+[1-9][0-9]{0,2}[ .\-]?)?(?:\([0-9]{2,4}\)[ .\-]?)?\b[0-9]{2,4}[ .\-][0-9]{2,4}[ .\-]?[0-9]{2,4}(?:[ .\-][0-9]{2,4})?\b)",
    ))
    .expect("built-in PII patterns compile")
});

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn valid_card(text: &str) -> bool {
    let digits: Vec<u8> = text
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    (13..=19).contains(&digits.len()) && luhn(&digits)
}

fn valid_iban(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        for d in if v >= 10 {
            vec![v / 10, v % 10]
        } else {
            vec![v]
        } {
            rem = (rem * 10 + d) % 97;
        }
    }
    rem == 1
}

fn valid_ssn(text: &str) -> bool {
    let area: u32 = text[..3].parse().unwrap_or(0);
    let group: u32 = text[4..6].parse().unwrap_or(0);
    let serial: u32 = text[7..].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn valid_phone(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    (7..=15).contains(&digits)
}

/// A compiled guardrail: the built-in detector plus custom patterns.
#[derive(Debug)]
pub struct PiiScanner {
    kinds: Vec<PiiKind>,
    custom: Vec<Regex>,
}

impl PiiScanner {
    pub fn new(config: &PiiConfig) -> Result<Self, GuardrailError> {
        if config.kind != "pii" {
            return Err(GuardrailError::UnknownType(config.kind.clone()));
        }
        let custom = config
            .custom
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| GuardrailError::BadPattern {
                    pattern: p.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(PiiScanner {
            kinds: config
                .types
                .clone()
                .unwrap_or_else(|| PiiKind::ALL.to_vec()),
            custom,
        })
    }

    /// Every finding in `text`, in order, non-overlapping.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for caps in DETECTOR.captures_iter(text) {
            let (kind, m) = if let Some(m) = caps.name("email") {
                (PiiKind::Email, m)
            } else if let Some(m) = caps.name("iban") {
                if !valid_iban(m.as_str()) {
                    continue;
                }
                (PiiKind::Iban, m)
            } else if let Some(m) = caps.name("card") {
                if valid_card(m.as_str()) {
                    (PiiKind::CreditCard, m)
                } else if valid_phone(m.as_str())
                    && m.as_str().contains([' ', '-'])
                    && self.kinds.contains(&PiiKind::Phone)
                {
                    (PiiKind::Phone, m)
                } else {
                    continue;
                }
            } else if let Some(m) = caps.name("ssn") {
                if !valid_ssn(m.as_str()) {
                    continue;
                }
                (PiiKind::Ssn, m)
            } else if let Some(m) = caps.name("ip") {
                (PiiKind::IpAddress, m)
            } else if let Some(m) = caps.name("phone") {
                if !valid_phone(m.as_str()) {
                    continue;
                }
                (PiiKind::Phone, m)
            } else {
                continue;
            };
            if self.kinds.contains(&kind) {
                out.push(Finding {
                    kind,
                    start: m.start(),
                    end: m.end(),
                });
            }
        }
        for re in &self.custom {
            for m in re.find_iter(text) {
                if !out.iter().any(|f| f.start < m.end() && m.start() < f.end) {
                    out.push(Finding {
                        kind: PiiKind::Custom,
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
        out.sort_by_key(|f| f.start);
        out
    }
}

/// `text` with the built-in PII kinds replaced by placeholders, for copies of calls that leave
/// the machine apart from the call itself (exported telemetry).
pub fn redact_pii(text: &str) -> String {
    static SCANNER: LazyLock<Option<PiiScanner>> =
        LazyLock::new(|| PiiScanner::new(&PiiConfig::new(PiiAction::Redact)).ok());
    match SCANNER.as_ref() {
        Some(scanner) => Redactions::default().redact(scanner, text),
        // The built-in patterns always compile; should they not, nothing is exported as is.
        None => "[redacted]".to_owned(),
    }
}

/// Placeholders handed out during one call, so the same value gets the same placeholder in every
/// message and the answer can be restored.
#[derive(Debug, Default, Clone)]
pub struct Redactions {
    by_value: HashMap<String, String>,
    counters: BTreeMap<PiiKind, usize>,
    /// Findings per kind, for the log.
    pub counts: BTreeMap<PiiKind, usize>,
}

impl Redactions {
    /// `text` with every finding replaced by its placeholder.
    pub fn redact(&mut self, scanner: &PiiScanner, text: &str) -> String {
        let findings = scanner.scan(text);
        if findings.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for f in findings {
            let value = &text[f.start..f.end];
            *self.counts.entry(f.kind).or_default() += 1;
            let placeholder = match self.by_value.get(value) {
                Some(p) => p.clone(),
                None => {
                    let n = self.counters.entry(f.kind).or_default();
                    *n += 1;
                    let p = format!("[{}_{}]", f.kind.placeholder(), n);
                    self.by_value.insert(value.to_owned(), p.clone());
                    p
                }
            };
            out.push_str(&text[last..f.start]);
            out.push_str(&placeholder);
            last = f.end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// Counts findings without replacing anything (`detect`).
    pub fn count(&mut self, scanner: &PiiScanner, text: &str) -> usize {
        let findings = scanner.scan(text);
        for f in &findings {
            *self.counts.entry(f.kind).or_default() += 1;
        }
        findings.len()
    }

    /// Puts the original values back where `text` contains placeholders from this call.
    pub fn restore(&self, text: &str) -> String {
        if self.by_value.is_empty() || !text.contains('[') {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        for (value, placeholder) in &self.by_value {
            out = out.replace(placeholder.as_str(), value);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// `email:2,phone:1`, for the log's `_pii` tag.
    pub fn summary(&self) -> String {
        self.counts
            .iter()
            .map(|(k, n)| {
                format!(
                    "{}:{n}",
                    serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, String)> {
        let s = PiiScanner::new(&PiiConfig::new(PiiAction::Detect)).unwrap();
        s.scan(text)
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_owned()))
            .collect()
    }

    #[test]
    fn detectors_find_what_they_should() {
        assert_eq!(
            kinds("mail ada.lovelace+x@example.co.uk now"),
            [(PiiKind::Email, "ada.lovelace+x@example.co.uk".into())]
        );
        assert_eq!(
            kinds("card 4111 1111 1111 1111 ok"),
            [(PiiKind::CreditCard, "4111 1111 1111 1111".into())]
        );
        assert_eq!(
            kinds("card 5500-0000-0000-0004"),
            [(PiiKind::CreditCard, "5500-0000-0000-0004".into())]
        );
        assert_eq!(
            kinds("iban DE89 3704 0044 0532 0130 00."),
            [(PiiKind::Iban, "DE89 3704 0044 0532 0130 00".into())]
        );
        assert_eq!(
            kinds("GB82WEST12345698765432"),
            [(PiiKind::Iban, "GB82WEST12345698765432".into())]
        );
        assert_eq!(
            kinds("from 192.168.1.20 to 10.0.0.1"),
            [
                (PiiKind::IpAddress, "192.168.1.20".into()),
                (PiiKind::IpAddress, "10.0.0.1".into())
            ]
        );
        assert_eq!(
            kinds("ssn 123-45-6789"),
            [(PiiKind::Ssn, "123-45-6789".into())]
        );
        assert_eq!(
            kinds("call +44 20 7946 0958"),
            [(PiiKind::Phone, "+44 20 7946 0958".into())]
        );
        assert_eq!(
            kinds("call (555) 123-4567"),
            [(PiiKind::Phone, "(555) 123-4567".into())]
        );
    }

    #[test]
    fn look_alikes_are_not_reported() {
        // 16 digits that fail the Luhn check, and an order number.
        assert!(
            kinds("order 4111111111111112").is_empty(),
            "{:?}",
            kinds("order 4111111111111112")
        );
        assert!(kinds("ref 1234567812345678").is_empty());
        // An IBAN with a wrong check digit, an SSN with area 000 or 666, a version number.
        assert!(kinds("DE00 3704 0044 0532 0130 00").is_empty());
        assert!(kinds("000-12-3456 and 666-12-3456").is_empty());
        assert!(
            kinds("version 1.2.3 and 999.1.1.1").is_empty(),
            "{:?}",
            kinds("version 1.2.3 and 999.1.1.1")
        );
        assert!(kinds("not an email: user@localhost").is_empty());
        assert!(kinds("the year 2024 had 365 days").is_empty());
    }

    #[test]
    fn redaction_is_consistent_and_restorable() {
        let mut cfg = PiiConfig::new(PiiAction::Redact);
        cfg.custom = vec![r"EMP-\d{6}".into()];
        let s = PiiScanner::new(&cfg).unwrap();
        let mut r = Redactions::default();
        let a = r.redact(
            &s,
            "Write to ada@example.com or bob@example.org; employee EMP-123456.",
        );
        assert_eq!(a, "Write to [EMAIL_1] or [EMAIL_2]; employee [CUSTOM_1].");
        let b = r.redact(&s, "Again: ada@example.com");
        assert_eq!(b, "Again: [EMAIL_1]");
        assert_eq!(
            r.restore("Reply sent to [EMAIL_1]."),
            "Reply sent to ada@example.com."
        );
        assert_eq!(r.summary(), "email:3,custom:1");
        assert!(
            PiiScanner::new(&PiiConfig {
                custom: vec!["(".into()],
                ..cfg
            })
            .is_err()
        );
    }

    #[test]
    fn only_chosen_types_run() {
        let cfg = PiiConfig {
            types: Some(vec![PiiKind::Email]),
            ..PiiConfig::new(PiiAction::Redact)
        };
        let s = PiiScanner::new(&cfg).unwrap();
        let mut r = Redactions::default();
        assert_eq!(r.redact(&s, "a@b.com 123-45-6789"), "[EMAIL_1] 123-45-6789");
    }
}
