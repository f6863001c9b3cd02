//! Text embeddings for the semantic cache. The real embedders are models behind the routing
//! engine (OpenAI-compatible `/embeddings`, Ollama, Gemini). [`LocalHashEmbedder`] needs no model:
//! it hashes words and word pairs into a fixed vector. It catches near-verbatim repeats, not
//! paraphrases, and is always reported by its name, `local-hash-v1`, so nobody mistakes it for a
//! semantic model.

/// Name under which the local embedder's vectors are stored and reported.
pub const LOCAL_EMBEDDER: &str = "local-hash-v1";
const DIMS: usize = 512;

/// Feature-hashing embedder over lower-cased words and adjacent word pairs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalHashEmbedder;

fn fnv(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf29ce484222325u64 ^ seed;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl LocalHashEmbedder {
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.to_lowercase())
            .collect();
        let mut v = vec![0f32; DIMS];
        let mut add = |feature: &str, weight: f32| {
            let h = fnv(feature.as_bytes(), 0);
            let sign = if fnv(feature.as_bytes(), 1) & 1 == 0 {
                1.0
            } else {
                -1.0
            };
            v[(h % DIMS as u64) as usize] += sign * weight;
        };
        for w in &words {
            add(w, 1.0);
        }
        for pair in words.windows(2) {
            add(&format!("{} {}", pair[0], pair[1]), 0.5);
        }
        normalize(&mut v);
        v
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Cosine similarity of two unit vectors (their dot product); 0 for mismatched lengths.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

pub fn from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_repeats_are_close_and_others_far() {
        let e = LocalHashEmbedder;
        let a = e.embed("What is the capital of France?");
        let b = e.embed("what is the capital of france");
        let c = e.embed("Write a haiku about autumn leaves");
        assert!(cosine(&a, &b) > 0.99);
        assert!(cosine(&a, &c) < 0.3);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert_eq!(from_bytes(&to_bytes(&a)), a);
    }
}
