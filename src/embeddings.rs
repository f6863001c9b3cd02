//! Text embeddings for the semantic cache. Two run inside Portolan with no network and no
//! download:
//!
//! - [`LOCAL_MODEL`] (the default): a sentence model compiled into the binary, through the
//!   `pocket-encoder` crate — paraphrase-MiniLM-L3-v2 with 4-bit weights, 384 dimensions, pure
//!   Rust on candle. It understands paraphrases ("What is the capital of France?" / "Which city is
//!   France's capital?" score 0.89); about 6 ms per short text on one core (release build).
//! - [`LOCAL_EMBEDDER`]: a feature-hashing embedder over words and word pairs. It catches
//!   near-verbatim repeats only, and is always reported by its name, `local-hash-v1`.
//!
//! Other embedders are models behind the routing engine (OpenAI-compatible `/embeddings`, Ollama,
//! Gemini). Each embedder has its own similarity scale, so each has its own default threshold
//! ([`default_threshold`]), calibrated on the labelled pairs in `data/cache-pairs/`.

/// Name under which the hashing embedder's vectors are stored and reported.
pub const LOCAL_EMBEDDER: &str = "local-hash-v1";
/// Name of the sentence model compiled into the binary (the vectors of another model or another
/// quantisation would not be comparable, so the name says which).
pub const LOCAL_MODEL: &str = "local-minilm-l3-v2-q4";

/// Whether `name` is one of the embedders that run in-process.
pub fn is_local(name: &str) -> bool {
    name == LOCAL_EMBEDDER || name == LOCAL_MODEL
}

/// The similarity a semantic hit needs by default with `embedder` (a cache config's `threshold`
/// overrides it). For the sentence model it was chosen on `data/cache-pairs/calibration.jsonl`
/// with the near-miss check on (`cargo bench --bench cache` prints the sweep): the highest
/// threshold that still reaches the most paraphrase hits while letting at most one of the 25
/// near-misses through (0.74: 20 hits, no false hit; below it nothing more is gained). The README
/// gives what it yields on the held-out pairs.
pub fn default_threshold(embedder: &str) -> f32 {
    match embedder {
        LOCAL_EMBEDDER => 0.95,
        LOCAL_MODEL => LOCAL_MODEL_THRESHOLD,
        // Hosted models (OpenAI, Gemini, Ollama…): their scales differ; a cautious default.
        _ => 0.9,
    }
}

/// See [`default_threshold`].
pub const LOCAL_MODEL_THRESHOLD: f32 = 0.74;

/// Embeds texts with the compiled-in sentence model. Blocking (run it off the async threads);
/// the weights load once per process (about 80 ms).
pub fn embed_with_local_model(texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
    let encoder = pocket_encoder::Encoder::new().map_err(|e| e.to_string())?;
    // The encoder refuses blank text; a blank request embeds as a zero vector, which matches
    // nothing.
    let (blank, filled): (Vec<usize>, Vec<usize>) =
        (0..texts.len()).partition(|&i| texts[i].trim().is_empty());
    let inputs: Vec<&str> = filled.iter().map(|&i| texts[i].as_str()).collect();
    let mut vectors = if inputs.is_empty() {
        Vec::new()
    } else {
        encoder.embed(&inputs).map_err(|e| e.to_string())?
    };
    let dims = pocket_encoder::model_info().dimensions;
    let mut out = vec![Vec::new(); texts.len()];
    for (slot, v) in filled.iter().zip(vectors.drain(..)) {
        out[*slot] = v;
    }
    for i in blank {
        out[i] = vec![0.0; dims];
    }
    Ok(out)
}
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
    // Eight independent sums, so the compiler can keep them in one vector register (a single
    // running sum is a dependency chain it may not reorder); 5–8× faster than a plain fold on
    // 384 dimensions, which is what the cache's scans and its HNSW index spend their time on.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
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
    fn the_local_model_is_deterministic_and_understands_a_paraphrase() {
        let texts: Vec<String> = [
            "What is the capital of France?",
            "Which city is France's capital?",
            "Write a haiku about autumn leaves",
            "  ",
        ]
        .map(String::from)
        .to_vec();
        let a = embed_with_local_model(&texts).unwrap();
        let b = embed_with_local_model(&texts).unwrap();
        assert_eq!(a, b, "the same text gives the same vector");
        assert_eq!(a[0].len(), 384);
        assert!((cosine(&a[0], &a[0]) - 1.0).abs() < 1e-4, "unit length");
        assert!(cosine(&a[0], &a[1]) > 0.85, "{}", cosine(&a[0], &a[1]));
        assert!(cosine(&a[0], &a[2]) < 0.3, "{}", cosine(&a[0], &a[2]));
        assert!(a[3].iter().all(|x| *x == 0.0), "blank text embeds as zero");
    }

    /// The weights compiled in are the ones the threshold was calibrated on and stored vectors
    /// were made with. A crate upgrade that changes them must change [`LOCAL_MODEL`]'s name too
    /// (old vectors would not be comparable), so this test pins both their checksums and what
    /// they compute.
    #[test]
    fn the_shipped_model_is_the_calibrated_one() {
        let info = pocket_encoder::model_info();
        assert_eq!(
            info.revision,
            "sha256:dabb40d5d98a22372c8921acf048cb54bb8bf6d781b1233b2a360d5125789c7e",
            "the 4-bit weights changed: rename LOCAL_MODEL and recalibrate its threshold"
        );
        assert_eq!(
            info.tokenizer_sha256,
            "a9576e4dadfe7f78f071a1c00ba6902cc83ec6ed7e9b590ee974950bd4d54393"
        );
        assert_eq!(
            info.upstream_model,
            "sentence-transformers/paraphrase-MiniLM-L3-v2"
        );
        assert_eq!(info.dimensions, 384);
        let v = embed_with_local_model(&["What is the capital of France?".to_string()]).unwrap();
        let head: Vec<f32> = v[0][..6].to_vec();
        for (got, want) in head.iter().zip(GOLDEN_HEAD) {
            assert!(
                (got - want).abs() < 1e-3,
                "{head:?} differs from {GOLDEN_HEAD:?}"
            );
        }
    }
    // The first coordinates of "What is the capital of France?" (release and debug builds agree
    // to far better than the tolerance).
    const GOLDEN_HEAD: [f32; 6] = [
        0.034338, 0.020567, -0.163097, -0.003197, -0.000814, -0.006731,
    ];

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
