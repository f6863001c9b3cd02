//! Deterministic text helpers: token counts, reply text, stream pieces,
//! embedding vectors, base64 and query strings.
//!
//! Everything a test may assert on (token counts, default replies, vectors)
//! must be a pure function of the request, so it is computed here without
//! randomness or clocks.

/// A stand-in for a tokenizer: the number of whitespace-separated words.
pub(crate) fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Prompt tokens charged per message on top of its words.
pub(crate) const TOKENS_PER_MESSAGE: u64 = 3;

/// The built-in default reply for a request whose last user text is `last_user`.
pub(crate) fn default_reply(last_user: &str) -> String {
    let head: Vec<&str> = last_user.split_whitespace().take(8).collect();
    if head.is_empty() {
        "Fake reply to: (no user text)".to_string()
    } else {
        format!("Fake reply to: {}", head.join(" "))
    }
}

/// Splits `text` into one piece per word, each piece carrying the whitespace
/// before its word (the last one also any trailing whitespace), so that the
/// pieces concatenate back to `text` exactly. Empty text gives no piece.
pub(crate) fn split_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut ws_start = None;
    let mut seen_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            ws_start.get_or_insert(i);
            continue;
        }
        // A word starts here; cut before the whitespace that precedes it.
        if let Some(ws) = ws_start.take()
            && seen_word
        {
            pieces.push(text[start..ws].to_string());
            start = ws;
        }
        seen_word = true;
    }
    if start < text.len() {
        pieces.push(text[start..].to_string());
    }
    pieces
}

/// Ensures at least `min` pieces by appending `" partN"` pieces.
pub(crate) fn pad_pieces(mut pieces: Vec<String>, min: usize) -> Vec<String> {
    let mut n = 1;
    while pieces.len() < min {
        pieces.push(format!(" part{n}"));
        n += 1;
    }
    pieces
}

/// Cuts `pieces` so that they hold at most `limit` words. Returns the kept
/// pieces and whether anything was cut (the provider's "length" finish).
pub(crate) fn truncate_pieces(pieces: Vec<String>, limit: Option<u64>) -> (Vec<String>, bool) {
    let Some(limit) = limit else {
        return (pieces, false);
    };
    let mut kept = Vec::new();
    let mut used = 0u64;
    let mut iter = pieces.into_iter();
    for piece in iter.by_ref() {
        let w = words(&piece);
        if used + w <= limit {
            used += w;
            kept.push(piece);
            continue;
        }
        // Keep the first `limit - used` words of this piece, with their spacing.
        let allowed = (limit - used) as usize;
        if allowed > 0 {
            let mut end = 0;
            let mut seen = 0;
            let mut in_word = false;
            for (i, c) in piece.char_indices() {
                if c.is_whitespace() {
                    if in_word {
                        seen += 1;
                        in_word = false;
                        if seen == allowed {
                            end = i;
                            break;
                        }
                    }
                } else {
                    in_word = true;
                    end = i + c.len_utf8();
                }
            }
            kept.push(piece[..end].to_string());
        }
        return (kept, true);
    }
    (kept, false)
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 step: a well-mixed 64-bit value from a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Default embedding width.
pub(crate) const EMBEDDING_DIMS: usize = 64;

/// A unit-length vector of `dims` floats: the normalised sum of one fixed
/// pseudo-random vector per (lower-cased, punctuation-trimmed) word. Equal
/// texts give equal vectors; texts sharing words have a high cosine.
pub(crate) fn embedding(text: &str, dims: usize) -> Vec<f32> {
    let dims = dims.max(1);
    let mut acc = vec![0f64; dims];
    let mut any = false;
    for word in text.split_whitespace() {
        let w: String = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if w.is_empty() {
            continue;
        }
        any = true;
        add_word_vector(&mut acc, &w);
    }
    if !any {
        add_word_vector(&mut acc, "");
    }
    let norm = acc.iter().map(|v| v * v).sum::<f64>().sqrt();
    acc.iter()
        .map(|v| if norm > 0.0 { (v / norm) as f32 } else { 0.0 })
        .collect()
}

fn add_word_vector(acc: &mut [f64], word: &str) {
    let seed = fnv1a(word.as_bytes());
    for (i, slot) in acc.iter_mut().enumerate() {
        let r = splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Uniform in [-1, 1).
        *slot += (r >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
    }
}

/// Standard base64 (with padding) of the little-endian bytes of `v`, as the
/// OpenAI embeddings API returns for `encoding_format: "base64"`.
pub(crate) fn base64_f32(v: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let idx = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        out.push(ALPHABET[idx[0] as usize] as char);
        out.push(ALPHABET[idx[1] as usize] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[idx[2] as usize] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[idx[3] as usize] as char
        } else {
            '='
        });
    }
    out
}

/// The value of query parameter `name`, percent- and `+`-decoded.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 2;
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Byte index at or below `i` that is a char boundary of `s`.
pub(crate) fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_back() {
        let t = "  Hello big   world \n";
        let p = split_pieces(t);
        assert_eq!(p.concat(), t);
        assert_eq!(p, vec!["  Hello", " big", "   world \n"]);
        assert!(split_pieces("").is_empty());
    }

    #[test]
    fn truncation_counts_words() {
        let p = split_pieces("one two three four");
        let (k, cut) = truncate_pieces(p.clone(), Some(2));
        assert_eq!(k.concat(), "one two");
        assert!(cut);
        let (k, cut) = truncate_pieces(vec!["a b c".into(), " d".into()], Some(2));
        assert_eq!(k.concat(), "a b");
        assert!(cut);
        let (k, cut) = truncate_pieces(p, Some(10));
        assert_eq!(k.concat(), "one two three four");
        assert!(!cut);
    }

    #[test]
    fn embeddings_are_deterministic_and_similar() {
        let a = embedding("the quick brown fox", 64);
        let b = embedding("The quick brown fox!", 64);
        let c = embedding("quick brown fox jumps", 64);
        let d = embedding("completely unrelated sentence here", 64);
        assert_eq!(a, b);
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&a, &a) - 1.0).abs() < 1e-4);
        assert!(dot(&a, &c) > 0.5);
        assert!(dot(&a, &c) > dot(&a, &d));
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[]), "");
    }

    #[test]
    fn query_params_decode() {
        let q = Some("alt=sse&key=a%2Bb+c&api-version=2024-10-21");
        assert_eq!(query_param(q, "alt").as_deref(), Some("sse"));
        assert_eq!(query_param(q, "key").as_deref(), Some("a+b c"));
        assert_eq!(query_param(q, "api-version").as_deref(), Some("2024-10-21"));
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(query_param(None, "alt"), None);
    }
}
