//! Identifiers and names: random, URL-safe record ids (`pr_…`, `vk_…`) and the rules for the
//! human-chosen names (prompt slugs, label names, key names) that appear in URLs and files.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ID_LEN: usize = 12;

/// A new random id such as `pr_3f9k2m0q8zta`: a prefix naming the kind of record and 12 characters
/// from `[0-9a-z]` (about 62 bits of randomness; collisions are caught by the primary key anyway).
pub fn new_id(prefix: &str) -> String {
    let rng = SystemRandom::new();
    let mut bytes = [0u8; ID_LEN];
    // The system RNG only fails when the OS has no entropy source at all; nothing can work then.
    rng.fill(&mut bytes)
        .expect("the operating system's random number generator is unavailable");
    let mut id = String::with_capacity(prefix.len() + 1 + ID_LEN);
    id.push_str(prefix);
    id.push('_');
    for b in bytes {
        // 256 % 36 != 0 leaves a tiny bias; irrelevant for identifiers.
        id.push(ALPHABET[(b as usize) % ALPHABET.len()] as char);
    }
    id
}

/// A new id that sorts by creation time, such as `call_0mjk3c2xa8k2f0q9z1`: a prefix, the
/// Unix time in milliseconds in 9 base-36 digits (fixed width, so text order is time order
/// until the year 5188), then 8 random characters. Used for records written at a high rate
/// (calls, traces): new rows land at the end of their indexes instead of at random pages, which
/// keeps the log writer's page writes per call low.
pub fn new_sortable_id(prefix: &str) -> String {
    let ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    sortable_id_at(prefix, ms, random_bytes())
}

fn sortable_id_at(prefix: &str, mut ms: u64, random: [u8; 8]) -> String {
    const TIME_DIGITS: usize = 9;
    let mut time = [b'0'; TIME_DIGITS];
    for d in time.iter_mut().rev() {
        *d = ALPHABET[(ms % 36) as usize];
        ms /= 36;
    }
    let mut id = String::with_capacity(prefix.len() + 1 + TIME_DIGITS + random.len());
    id.push_str(prefix);
    id.push('_');
    id.extend(time.iter().map(|&b| b as char));
    id.extend(
        random
            .iter()
            .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char),
    );
    id
}

/// A new trace id: 32 lower-case hex digits, as W3C and OpenTelemetry write them, so a call's
/// trace is the same id in Portolan's logs and in an OpenTelemetry backend. Time-ordered: the
/// first 12 digits are the milliseconds since the epoch, the other 20 random.
pub fn new_trace_id() -> String {
    let ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let random: [u8; 10] = random_bytes();
    format!("{:012x}{}", ms & 0xffff_ffff_ffff, hex::encode(random))
}

/// Random bytes from the system RNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator is unavailable");
    bytes
}

/// The slug rule in words, for error messages (the desktop's forms show the same sentence).
pub const SLUG_RULE: &str =
    "use 1-64 characters: lowercase letters, digits, '-' or '_', starting with a letter or digit";

/// The slug rule as a regular expression, for forms that check as the user types.
pub const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

/// Prompt slugs and virtual key names: lowercase, URL- and file-name-safe.
pub fn validate_slug(what: &'static str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what,
            value: value.to_owned(),
            rule: SLUG_RULE,
        })
    }
}

/// Label names follow Langfuse's rule so labels move between tools: `^[a-z0-9_\-.]+$`, at most 36
/// characters. `latest` is implied by every prompt and cannot be set by hand.
pub fn validate_label(value: &str) -> Result<()> {
    if value == "latest" {
        return Err(Error::InvalidName {
            what: "label",
            value: value.to_owned(),
            rule: "'latest' always means the newest version and cannot be assigned",
        });
    }
    let ok = !value.is_empty()
        && value.len() <= 36
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "label",
            value: value.to_owned(),
            rule: "use 1-36 characters: lowercase letters, digits, '-', '_' or '.'",
        })
    }
}

/// Turns free text (a Prompty `name: Basic Prompt`) into a slug (`basic-prompt`).
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    let mut dash = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(c.to_ascii_lowercase());
        } else if c == '_' && !slug.is_empty() {
            slug.push('_');
            dash = false;
        } else {
            dash = true;
        }
    }
    slug.truncate(64);
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slug_pattern_says_what_validate_slug_does() {
        let pattern = regex::Regex::new(SLUG_PATTERN).unwrap();
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        for v in [
            "a",
            "summarize",
            "k-1",
            "x_y",
            "9lives",
            long.as_str(),
            "",
            "-a",
            "_a",
            "A",
            "a b",
            "a/b",
            "a@b",
            "é",
            too_long.as_str(),
        ] {
            assert_eq!(pattern.is_match(v), validate_slug("t", v).is_ok(), "{v:?}");
        }
    }

    #[test]
    fn sortable_ids_sort_by_time_and_differ() {
        let now = 1_796_000_000_000; // December 2026
        let earlier = sortable_id_at("call", now - 1, [255; 8]);
        let later = sortable_id_at("call", now, [0; 8]);
        assert!(earlier < later, "{earlier} then {later}");
        // Fixed width: 1 ms after a carry still sorts after.
        assert!(sortable_id_at("call", 35, [0; 8]) < sortable_id_at("call", 36, [0; 8]));
        assert_eq!(later.len(), "call_".len() + 17);
        let fresh = new_sortable_id("call");
        assert!(fresh[5..].bytes().all(|c| ALPHABET.contains(&c)), "{fresh}");
        assert_ne!(fresh, new_sortable_id("call"));
    }

    #[test]
    fn ids_have_prefix_and_alphabet() {
        let id = new_id("pr");
        assert_eq!(id.len(), 15);
        assert!(id.starts_with("pr_"));
        assert!(id[3..].bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(new_id("pr"), new_id("pr"));
    }

    #[test]
    fn slug_rules() {
        assert!(validate_slug("prompt slug", "support-reply_2").is_ok());
        for bad in ["", "-x", "Upper", "has space", "dots.no", &"x".repeat(65)] {
            assert!(validate_slug("prompt slug", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn label_rules() {
        assert!(validate_label("production").is_ok());
        assert!(validate_label("v1.2-beta_x").is_ok());
        assert!(validate_label("latest").is_err());
        assert!(validate_label("Prod").is_err());
        assert!(validate_label(&"a".repeat(37)).is_err());
    }

    #[test]
    fn slugify_text() {
        assert_eq!(slugify("Basic Prompt"), "basic-prompt");
        assert_eq!(slugify("  Chat: v2!! "), "chat-v2");
        assert_eq!(slugify("snake_case name"), "snake_case-name");
    }
}
