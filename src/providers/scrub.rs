//! Secrets never travel back out in an error. A provider's error text can echo the key it was
//! sent (OpenAI's "Incorrect API key provided: sk-…", a proxy's dump of the request headers), and
//! that text is returned to the caller, logged and stored; before any of that, the key used and
//! anything shaped like a provider secret are replaced, and the text is capped.

use std::sync::LazyLock;

use regex::Regex;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// The most of an error message kept, in characters.
pub const MESSAGE_KEPT: usize = 1000;

/// Shapes of provider secrets and credentials: OpenAI/Anthropic/DeepSeek `sk-…`, Google
/// `AIza…`, Groq `gsk_…`, xAI `xai-…`, Fireworks `fw_…`, Portolan gateway tokens `pt_…`, AWS
/// access key ids, GitHub tokens, `Bearer …` values and `api_key=…`-style assignments.
static SECRET_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?x)
          \bsk-[A-Za-z0-9_\-]{12,}
        | \bAIza[0-9A-Za-z_\-]{30,}
        | \bgsk_[A-Za-z0-9]{16,}
        | \bxai-[A-Za-z0-9]{16,}
        | \bfw_[A-Za-z0-9]{16,}
        | \bpt_[A-Za-z0-9]{16,}
        | \bAKIA[0-9A-Z]{16}\b
        | \bgh[pousr]_[A-Za-z0-9]{20,}
        | (?i:bearer)\s+[A-Za-z0-9._~+/=\-]{12,}
        | (?i:api[_-]?key|x-api-key|authorization)["']?\s*[:=]\s*["']?[A-Za-z0-9._~+/=\-]{12,}
        "#,
    )
    .expect("the secret shapes are a valid expression")
});

/// `text` without `secret` (the key the call used, when there was one) or anything shaped like
/// a provider secret, cut to `limit` characters.
pub fn scrub(text: &str, secret: Option<&str>, limit: usize) -> String {
    let mut out = match secret.map(str::trim).filter(|s| s.len() >= 6) {
        Some(s) => text.replace(s, REDACTED),
        None => text.to_owned(),
    };
    if SECRET_SHAPES.is_match(&out) {
        out = SECRET_SHAPES.replace_all(&out, REDACTED).into_owned();
    }
    if out.chars().count() > limit {
        out = out.chars().take(limit).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_used_and_secret_shapes_are_replaced() {
        let key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345";
        let msg = format!("Incorrect API key provided: {key}. You can find your API key at …");
        let out = scrub(&msg, Some(key), 1000);
        assert!(!out.contains("abcdefghijkl"), "{out}");
        assert!(out.contains(REDACTED));
        for leak in [
            "got header Authorization: Bearer abcdefghijklmnop1234",
            "x-api-key: sk-ant-api03-0123456789abcdefghij",
            "key=AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "token pt_ABCDEFGHIJKLMNOPQRSTUVWX was used",
            "gsk_0123456789abcdefABCD and xai-0123456789abcdefABCD",
            "AKIAABCDEFGHIJKLMNOP",
        ] {
            let out = scrub(leak, None, 1000);
            assert!(out.contains(REDACTED), "{leak} → {out}");
        }
        // A secret that looks like nothing known is still removed when it is the key used.
        assert_eq!(
            scrub("echo: hunter2-local", Some("hunter2-local"), 100),
            "echo: [REDACTED]"
        );
        // Ordinary error text is left alone, and capped.
        assert_eq!(scrub("model not found", None, 1000), "model not found");
        assert_eq!(
            scrub(&"x".repeat(50), None, 10),
            format!("{}…", "x".repeat(10))
        );
    }
}
