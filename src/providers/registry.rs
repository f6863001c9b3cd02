//! The provider registry: everything Portolan knows about a provider, in one enum. Every list of
//! providers (the names a virtual key accepts, the CLI's help, the model listing, model-name
//! inference, the price table's prefixes, the desktop's key form) is derived from
//! [`Provider::ALL`], so they cannot disagree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    OpenAi,
    AzureOpenAi,
    Anthropic,
    Gemini,
    /// AWS Bedrock's Converse API, SigV4-signed.
    Bedrock,
    /// Google Vertex AI: Gemini and Anthropic models, with a service account's OAuth token.
    Vertex,
    /// Cohere's v2 Chat API.
    Cohere,
    Demo,
}

/// A provider Portolan can send calls to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "azure-openai")]
    AzureOpenAi,
    Anthropic,
    Gemini,
    Bedrock,
    Vertex,
    Cohere,
    Ollama,
    Groq,
    Mistral,
    Together,
    #[serde(rename = "openrouter")]
    OpenRouter,
    #[serde(rename = "deepseek")]
    DeepSeek,
    #[serde(rename = "xai")]
    XAi,
    Fireworks,
    #[serde(rename = "lmstudio")]
    LmStudio,
    Vllm,
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    Demo,
}

/// One provider's facts, as a table row (see [`Provider::spec`]).
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    /// The name used in model strings, keys and logs: `openai`, `azure-openai`, …
    pub id: &'static str,
    /// The name shown to people: `OpenAI`, `Azure OpenAI`, …
    pub label: &'static str,
    pub protocol: Protocol,
    /// Where calls go when the key names no base URL.
    pub default_base_url: Option<&'static str>,
    /// What to type as a base URL, for a form's placeholder.
    pub base_url_hint: Option<&'static str>,
    /// A virtual key for it must name a base URL (no fixed public endpoint).
    pub needs_base_url: bool,
    /// A virtual key for it must carry a secret (local servers usually run without one).
    pub needs_secret: bool,
    /// Bare model names starting with one of these belong to it (after the price table).
    pub model_prefixes: &'static [&'static str],
    /// Position when a bare model name is listed under several providers in the price table
    /// (first-party APIs before resellers and clouds); `None`: never inferred.
    pub inference_rank: Option<u8>,
    /// Key prefixes LiteLLM's price table uses for it where they differ from `"{id}/"`, longer
    /// first.
    pub price_prefixes: &'static [&'static str],
    /// Its models are listed by their bare names (`gpt-4o-mini`), not `provider/model`.
    pub bare_model_names: bool,
    /// A cheap model to test a key with (one token), when there is one everybody has.
    pub test_model: Option<&'static str>,
    /// Its secret is a set of cloud credentials (JSON, see `crate::cloud_credentials`) rather
    /// than one API key, and its address is derived from them unless the key names one.
    pub uses_credentials: bool,
}

const fn spec(id: &'static str, label: &'static str, protocol: Protocol) -> ProviderSpec {
    ProviderSpec {
        id,
        label,
        protocol,
        default_base_url: None,
        base_url_hint: None,
        needs_base_url: false,
        needs_secret: true,
        model_prefixes: &[],
        inference_rank: None,
        price_prefixes: &[],
        bare_model_names: false,
        test_model: None,
        uses_credentials: false,
    }
}

const OPENAI: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.openai.com/v1"),
    model_prefixes: &["gpt-", "chatgpt-", "o1", "o3", "o4", "text-embedding-"],
    inference_rank: Some(0),
    bare_model_names: true,
    test_model: Some("gpt-4o-mini"),
    ..spec("openai", "OpenAI", Protocol::OpenAi)
};
const AZURE_OPENAI: ProviderSpec = ProviderSpec {
    base_url_hint: Some("https://<resource>.openai.azure.com"),
    needs_base_url: true,
    inference_rank: Some(13),
    price_prefixes: &["azure/"],
    test_model: Some("gpt-4o-mini"),
    ..spec("azure-openai", "Azure OpenAI", Protocol::AzureOpenAi)
};
const ANTHROPIC: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.anthropic.com"),
    model_prefixes: &["claude"],
    inference_rank: Some(1),
    bare_model_names: true,
    test_model: Some("claude-haiku-4-5"),
    ..spec("anthropic", "Anthropic", Protocol::Anthropic)
};
const GEMINI: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://generativelanguage.googleapis.com"),
    model_prefixes: &["gemini", "text-embedding-004"],
    inference_rank: Some(2),
    bare_model_names: true,
    test_model: Some("gemini-2.5-flash"),
    ..spec("gemini", "Google Gemini", Protocol::Gemini)
};
const BEDROCK: ProviderSpec = ProviderSpec {
    // The address follows the key's region: https://bedrock-runtime.{region}.amazonaws.com.
    base_url_hint: Some("https://bedrock-runtime.<region>.amazonaws.com"),
    // Its price entries are kept under "bedrock/" (see scripts/update-prices.py).
    test_model: Some("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
    uses_credentials: true,
    ..spec("bedrock", "AWS Bedrock", Protocol::Bedrock)
};
const VERTEX: ProviderSpec = ProviderSpec {
    // The address follows the key's location: https://{location}-aiplatform.googleapis.com.
    base_url_hint: Some("https://<location>-aiplatform.googleapis.com"),
    price_prefixes: &["vertex_ai/"],
    test_model: Some("gemini-2.5-flash"),
    uses_credentials: true,
    ..spec("vertex", "Google Vertex AI", Protocol::Vertex)
};
const COHERE: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.cohere.com"),
    model_prefixes: &["command-", "embed-english", "embed-multilingual", "embed-v"],
    inference_rank: Some(6),
    bare_model_names: true,
    test_model: Some("command-r7b-12-2024"),
    ..spec("cohere", "Cohere", Protocol::Cohere)
};
const OLLAMA: ProviderSpec = ProviderSpec {
    default_base_url: Some("http://127.0.0.1:11434/v1"),
    base_url_hint: Some("http://127.0.0.1:11434/v1"),
    needs_secret: false,
    ..spec("ollama", "Ollama", Protocol::OpenAi)
};
const GROQ: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.groq.com/openai/v1"),
    inference_rank: Some(7),
    test_model: Some("llama-3.1-8b-instant"),
    ..spec("groq", "Groq", Protocol::OpenAi)
};
const MISTRAL: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.mistral.ai/v1"),
    model_prefixes: &["mistral", "codestral"],
    inference_rank: Some(4),
    test_model: Some("mistral-small-latest"),
    ..spec("mistral", "Mistral", Protocol::OpenAi)
};
const TOGETHER: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.together.xyz/v1"),
    inference_rank: Some(9),
    price_prefixes: &["together_ai/"],
    test_model: Some("meta-llama/Llama-3.2-3B-Instruct-Turbo"),
    ..spec("together", "Together", Protocol::OpenAi)
};
const OPENROUTER: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://openrouter.ai/api/v1"),
    inference_rank: Some(12),
    test_model: Some("openai/gpt-4o-mini"),
    ..spec("openrouter", "OpenRouter", Protocol::OpenAi)
};
const DEEPSEEK: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.deepseek.com/v1"),
    model_prefixes: &["deepseek"],
    inference_rank: Some(3),
    test_model: Some("deepseek-chat"),
    ..spec("deepseek", "DeepSeek", Protocol::OpenAi)
};
const XAI: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.x.ai/v1"),
    model_prefixes: &["grok"],
    inference_rank: Some(5),
    test_model: Some("grok-3-mini"),
    ..spec("xai", "xAI", Protocol::OpenAi)
};
const FIREWORKS: ProviderSpec = ProviderSpec {
    default_base_url: Some("https://api.fireworks.ai/inference/v1"),
    inference_rank: Some(10),
    price_prefixes: &["fireworks_ai/accounts/fireworks/models/", "fireworks_ai/"],
    test_model: Some("accounts/fireworks/models/llama-v3p1-8b-instruct"),
    ..spec("fireworks", "Fireworks", Protocol::OpenAi)
};
const LMSTUDIO: ProviderSpec = ProviderSpec {
    default_base_url: Some("http://127.0.0.1:1234/v1"),
    base_url_hint: Some("http://127.0.0.1:1234/v1"),
    needs_secret: false,
    ..spec("lmstudio", "LM Studio", Protocol::OpenAi)
};
const VLLM: ProviderSpec = ProviderSpec {
    base_url_hint: Some("http://127.0.0.1:8000/v1"),
    needs_base_url: true,
    needs_secret: false,
    ..spec("vllm", "vLLM", Protocol::OpenAi)
};
const OPENAI_COMPATIBLE: ProviderSpec = ProviderSpec {
    base_url_hint: Some("http://127.0.0.1:8080/v1"),
    needs_base_url: true,
    needs_secret: false,
    ..spec("openai-compatible", "OpenAI-compatible", Protocol::OpenAi)
};
const DEMO: ProviderSpec = ProviderSpec {
    needs_secret: false,
    ..spec("demo", "Demo (local, no key)", Protocol::Demo)
};

impl Provider {
    /// Every provider, in the order lists show them.
    pub const ALL: [Provider; 19] = [
        Provider::OpenAi,
        Provider::AzureOpenAi,
        Provider::Anthropic,
        Provider::Gemini,
        Provider::Bedrock,
        Provider::Vertex,
        Provider::Cohere,
        Provider::Ollama,
        Provider::Groq,
        Provider::Mistral,
        Provider::Together,
        Provider::OpenRouter,
        Provider::DeepSeek,
        Provider::XAi,
        Provider::Fireworks,
        Provider::LmStudio,
        Provider::Vllm,
        Provider::OpenAiCompatible,
        Provider::Demo,
    ];

    /// The models of the built-in demo provider.
    pub const DEMO_MODELS: [&'static str; 3] = ["demo/small", "demo/large", "demo/fast"];

    pub const fn spec(self) -> &'static ProviderSpec {
        match self {
            Provider::OpenAi => &OPENAI,
            Provider::AzureOpenAi => &AZURE_OPENAI,
            Provider::Anthropic => &ANTHROPIC,
            Provider::Gemini => &GEMINI,
            Provider::Bedrock => &BEDROCK,
            Provider::Vertex => &VERTEX,
            Provider::Cohere => &COHERE,
            Provider::Ollama => &OLLAMA,
            Provider::Groq => &GROQ,
            Provider::Mistral => &MISTRAL,
            Provider::Together => &TOGETHER,
            Provider::OpenRouter => &OPENROUTER,
            Provider::DeepSeek => &DEEPSEEK,
            Provider::XAi => &XAI,
            Provider::Fireworks => &FIREWORKS,
            Provider::LmStudio => &LMSTUDIO,
            Provider::Vllm => &VLLM,
            Provider::OpenAiCompatible => &OPENAI_COMPATIBLE,
            Provider::Demo => &DEMO,
        }
    }

    pub const fn id(self) -> &'static str {
        self.spec().id
    }

    pub const fn protocol(self) -> Protocol {
        self.spec().protocol
    }

    /// Providers a virtual key can be for (all but the built-in demo).
    pub fn with_keys() -> impl Iterator<Item = Provider> {
        Provider::ALL.into_iter().filter(|p| *p != Provider::Demo)
    }

    /// The ids of [`Provider::with_keys`], for messages and help texts.
    pub fn key_provider_ids() -> Vec<&'static str> {
        Provider::with_keys().map(Provider::id).collect()
    }

    pub fn from_id(id: &str) -> Option<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.id() == id)
            .or(match id {
                // Portkey's names for the same providers, so its configs work unchanged.
                "vertex-ai" => Some(Provider::Vertex),
                "google" => Some(Provider::Gemini),
                "together-ai" => Some(Provider::Together),
                "fireworks-ai" => Some(Provider::Fireworks),
                "mistral-ai" => Some(Provider::Mistral),
                "x-ai" => Some(Provider::XAi),
                _ => None,
            })
    }

    /// The provider a bare model name belongs to by its prefix (the longest prefix that
    /// matches), when the price table does not list it.
    pub fn by_model_prefix(model: &str) -> Option<Provider> {
        let m = model.to_ascii_lowercase();
        Provider::ALL
            .into_iter()
            .flat_map(|p| p.spec().model_prefixes.iter().map(move |pre| (p, *pre)))
            .filter(|(_, pre)| m.starts_with(pre))
            .max_by_key(|(_, pre)| pre.len())
            .map(|(p, _)| p)
    }

    /// Providers that can be inferred from a bare model name, in inference order.
    pub fn inference_order() -> Vec<Provider> {
        let mut v: Vec<Provider> = Provider::ALL
            .into_iter()
            .filter(|p| p.spec().inference_rank.is_some())
            .collect();
        v.sort_by_key(|p| p.spec().inference_rank);
        v
    }

    /// How a model of this provider is written in a model list: bare for the first-party APIs
    /// whose names are unambiguous, else `provider/model`.
    pub fn listed_model_id(self, model: &str) -> String {
        // A price-table key under another prefix (`vertex_ai/gemini-2.5-flash`) is listed under
        // the provider's own (`vertex/gemini-2.5-flash`).
        let model = self
            .spec()
            .price_prefixes
            .iter()
            .find_map(|p| model.strip_prefix(p))
            .unwrap_or(model);
        if self.spec().bare_model_names || model.starts_with(&format!("{}/", self.id())) {
            model.to_owned()
        } else {
            format!("{}/{model}", self.id())
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A name that is not a provider's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider '{0}'")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::from_id(s).ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_serde_and_from_str() {
        for p in Provider::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.id()), "{p:?}");
            assert_eq!(serde_json::from_str::<Provider>(&json).unwrap(), p);
            assert_eq!(p.id().parse::<Provider>().unwrap(), p);
        }
        assert!("nope".parse::<Provider>().is_err());
    }

    #[test]
    fn registry_rules_hold() {
        for p in Provider::ALL {
            let s = p.spec();
            // A provider without a fixed address must ask for one.
            if s.default_base_url.is_none() && s.protocol != Protocol::Demo && !s.uses_credentials {
                assert!(
                    s.needs_base_url,
                    "{p} has no address and does not ask for one"
                );
            }
        }
        assert!(!Provider::key_provider_ids().contains(&"demo"));
    }

    #[test]
    fn model_prefixes_pick_the_longest_match() {
        assert_eq!(Provider::by_model_prefix("gpt-4o"), Some(Provider::OpenAi));
        assert_eq!(
            Provider::by_model_prefix("claude-x"),
            Some(Provider::Anthropic)
        );
        assert_eq!(
            Provider::by_model_prefix("text-embedding-004"),
            Some(Provider::Gemini)
        );
        assert_eq!(
            Provider::by_model_prefix("text-embedding-3-small"),
            Some(Provider::OpenAi)
        );
        assert_eq!(Provider::by_model_prefix("my-model"), None);
        assert_eq!(
            Provider::by_model_prefix("command-a-03-2025"),
            Some(Provider::Cohere)
        );
        assert_eq!(
            Provider::Vertex.listed_model_id("vertex_ai/gemini-2.5-flash"),
            "vertex/gemini-2.5-flash"
        );
        assert_eq!(
            Provider::Bedrock.listed_model_id("bedrock/us.anthropic.claude-sonnet-4-6"),
            "bedrock/us.anthropic.claude-sonnet-4-6"
        );
        assert_eq!(Provider::from_id("vertex-ai"), Some(Provider::Vertex));
        let order = Provider::inference_order();
        assert_eq!(order[0], Provider::OpenAi);
        assert_eq!(order.last(), Some(&Provider::AzureOpenAi));
    }
}
