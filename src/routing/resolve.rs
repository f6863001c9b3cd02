//! From a model string and a target's provider/key settings to an [`Endpoint`]: which provider,
//! which virtual key (decrypted only here), which base URL, which model name.
//!
//! Model strings: `gpt-4o-mini` (provider inferred from the price table), `anthropic/claude-…`
//! (explicit provider, served with that provider's default virtual key), `@my-key/model` (a
//! specific virtual key). A provider's default key is the key named after the provider, else its
//! oldest key.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::keys::VirtualKey;
use crate::pricing::PriceTable;
use crate::providers::{Endpoint, FailureKind, Protocol, Provider, ProviderError};
use crate::secrets::SecretString;
use crate::store::Catalog;

/// A model string taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub provider: Option<String>,
    pub key: Option<String>,
    pub model: String,
}

pub fn parse_model(text: &str) -> ModelRef {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('@')
        && let Some((key, model)) = rest.split_once('/')
    {
        return ModelRef {
            provider: None,
            key: Some(key.to_owned()),
            model: model.to_owned(),
        };
    }
    if let Some((prefix, model)) = text.split_once('/')
        && Provider::from_id(prefix).is_some()
    {
        let model = if prefix == Provider::Demo.id() {
            text.to_owned()
        } else {
            model.to_owned()
        };
        return ModelRef {
            provider: Some(prefix.to_owned()),
            key: None,
            model,
        };
    }
    ModelRef {
        provider: None,
        key: None,
        model: text.to_owned(),
    }
}

/// What a routing target says about where to send a call.
#[derive(Clone, Default)]
pub struct TargetSpec<'a> {
    pub provider: Option<&'a str>,
    pub virtual_key: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub custom_host: Option<&'a str>,
    /// Whether the caller may send a call to a custom host at all (the local user may; a gateway
    /// token only when created with `--allow-custom-host`).
    pub allow_custom_host: bool,
}

impl std::fmt::Debug for TargetSpec<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetSpec")
            .field("provider", &self.provider)
            .field("virtual_key", &self.virtual_key)
            .field("api_key", &self.api_key.map(|_| "***"))
            .field("custom_host", &self.custom_host)
            .field("allow_custom_host", &self.allow_custom_host)
            .finish()
    }
}

/// Infers the provider of a bare model name: the price table first, then name patterns.
pub fn infer_provider(prices: &PriceTable, model: &str) -> Option<Provider> {
    prices
        .provider_for_model(model)
        .and_then(Provider::from_id)
        .or_else(|| Provider::by_model_prefix(model))
}

/// Keeps decrypted keys and the key list for a few seconds, so a call does not query, decrypt
/// and write `last_used_at` every time. A key rotated or removed elsewhere is seen within
/// [`KEY_CACHE_TTL`]; `last_used_at` is written at most once a minute per key.
#[derive(Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<String, (VirtualKey, SecretString, Instant)>>,
    touched: RwLock<HashMap<String, Instant>>,
    list: RwLock<Option<(Vec<VirtualKey>, Instant)>>,
}

pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
const TOUCH_EVERY: Duration = Duration::from_secs(60);

impl KeyCache {
    async fn secret(
        &self,
        catalog: &dyn Catalog,
        name: &str,
    ) -> crate::Result<(VirtualKey, SecretString)> {
        let now = Instant::now();
        let cached = self.keys.read().ok().and_then(|m| {
            m.get(name)
                .filter(|(_, _, at)| now.duration_since(*at) < KEY_CACHE_TTL)
                .map(|(k, s, _)| (k.clone(), s.clone()))
        });
        let (key, secret) = match cached {
            Some(hit) => hit,
            None => {
                let (k, s) = catalog.open_key(name).await?;
                if let Ok(mut m) = self.keys.write() {
                    m.insert(name.to_owned(), (k.clone(), s.clone(), now));
                }
                (k, s)
            }
        };
        let due = self.touched.read().ok().is_none_or(|m| {
            m.get(&key.id)
                .is_none_or(|t| now.duration_since(*t) > TOUCH_EVERY)
        });
        if due {
            // Marked before the write, so calls arriving meanwhile do not write too.
            if let Ok(mut m) = self.touched.write() {
                m.insert(key.id.clone(), now);
            }
            catalog.touch_key(&key.id).await?;
        }
        Ok((key, secret))
    }

    async fn list(&self, catalog: &dyn Catalog) -> crate::Result<Vec<VirtualKey>> {
        let now = Instant::now();
        if let Some((keys, at)) = self.list.read().ok().and_then(|l| l.clone())
            && now.duration_since(at) < KEY_CACHE_TTL
        {
            return Ok(keys);
        }
        let keys = catalog.list_keys().await?;
        if let Ok(mut l) = self.list.write() {
            *l = Some((keys.clone(), now));
        }
        Ok(keys)
    }
}

async fn default_key(
    catalog: &dyn Catalog,
    cache: &KeyCache,
    provider: Provider,
) -> crate::Result<Option<VirtualKey>> {
    let keys = cache.list(catalog).await?;
    let id = provider.id();
    if let Some(k) = keys.iter().find(|k| k.name == id && k.provider == id) {
        return Ok(Some(k.clone()));
    }
    let mut of_provider: Vec<&VirtualKey> = keys.iter().filter(|k| k.provider == id).collect();
    of_provider.sort_by_key(|k| k.created_at);
    Ok(of_provider.first().map(|k| (*k).clone()))
}

/// The custom-host rule. A routing config's `custom_host` sends the call elsewhere, so:
/// - a stored virtual key's secret goes only to the host it was stored for (its base URL, else
///   its provider's default): a custom host elsewhere with a stored key is refused, whoever asks;
/// - a custom host at all (with the caller's own `api_key`, or for a provider that needs no key)
///   is open to the local user and to gateway tokens created with `--allow-custom-host`, so a
///   token cannot turn the gateway into an HTTP client for arbitrary addresses.
fn custom_host_allowed(
    spec: &TargetSpec<'_>,
    host: &str,
    stored_key: Option<&VirtualKey>,
    own_url: Option<&str>,
) -> Result<(), ProviderError> {
    let forbidden = |m: String| ProviderError::refused(FailureKind::Forbidden, m);
    if !spec.allow_custom_host {
        return Err(forbidden(format!(
            "this gateway token may not send calls to a custom host ({host}); create a token with --allow-custom-host for that"
        )));
    }
    let Some(k) = stored_key.filter(|_| spec.api_key.is_none()) else {
        return Ok(());
    };
    if own_url.is_some_and(|own| same_origin(own, host)) {
        return Ok(());
    }
    Err(forbidden(format!(
        "custom_host {host} would carry virtual key '{}' to a host it was not stored for ({}); a stored key's secret goes only to its own base URL (pass your own api_key in the config to call another host)",
        k.name,
        own_url.unwrap_or("no address")
    )))
}

/// Whether two URLs name the same scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str().map(str::to_ascii_lowercase)
                    == b.host_str().map(str::to_ascii_lowercase)
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

fn config_error(e: crate::Error) -> ProviderError {
    ProviderError::config(e.to_string())
}

/// Resolves one target for `model_string`.
pub async fn resolve(
    catalog: &dyn Catalog,
    cache: &KeyCache,
    prices: &PriceTable,
    spec: &TargetSpec<'_>,
    model_string: &str,
) -> Result<Endpoint, ProviderError> {
    let parsed = parse_model(model_string);
    if parsed.model.is_empty() {
        return Err(ProviderError::config(
            "no model given: set `model` in the request or the config",
        ));
    }
    let key_name = spec.virtual_key.map(str::to_owned).or(parsed.key.clone());
    let mut key: Option<(VirtualKey, SecretString)> = None;
    if let Some(name) = &key_name {
        key = Some(cache.secret(catalog, name).await.map_err(config_error)?);
    }
    let named = |p: &str| {
        Provider::from_id(p).ok_or_else(|| ProviderError::config(format!("unknown provider '{p}'")))
    };
    let provider = match (&key, spec.provider, &parsed.provider) {
        (Some((k, _)), explicit, _) => {
            if let Some(p) = explicit
                && p != k.provider
            {
                return Err(ProviderError::config(format!(
                    "virtual key '{}' is for {}, but the target says provider '{p}'",
                    k.name, k.provider
                )));
            }
            named(&k.provider)?
        }
        (None, Some(p), _) => named(p)?,
        (None, None, Some(p)) => named(p)?,
        (None, None, None) => infer_provider(prices, &parsed.model).ok_or_else(|| {
            ProviderError::config(format!(
                "cannot tell which provider serves model '{}'; write it as <provider>/{} or @<virtual-key>/{}",
                parsed.model, parsed.model, parsed.model
            ))
        })?,
    };
    let spec_of = provider.spec();
    if spec_of.protocol == Protocol::Demo {
        let model = if parsed.model.starts_with("demo/") {
            parsed.model.clone()
        } else {
            format!("demo/{}", parsed.model)
        };
        return Ok(Endpoint {
            provider,
            base_url: String::new(),
            api_key: None,
            key_name: None,
            key_id: None,
            model,
        });
    }
    if key.is_none() && spec.api_key.is_none() {
        if let Some(k) = default_key(catalog, cache, provider)
            .await
            .map_err(config_error)?
        {
            key = Some(cache.secret(catalog, &k.name).await.map_err(config_error)?);
        } else if spec_of.needs_secret {
            return Err(ProviderError::config(format!(
                "no virtual key for provider '{provider}'; add one with `portolan keys add <name> --provider {provider}`, or try the demo provider (model demo/small)"
            )));
        }
    }
    // Where a stored key (or a keyless provider) is served: its key's base URL, else the
    // provider's default.
    let own_url = key
        .as_ref()
        .and_then(|(k, _)| k.base_url.clone())
        .or_else(|| spec_of.default_base_url.map(str::to_owned))
        // Cloud providers derive their address from the key's region or location.
        .or_else(|| spec_of.uses_credentials.then(String::new));
    let base_url = match spec.custom_host {
        Some(host) => {
            custom_host_allowed(spec, host, key.as_ref().map(|(k, _)| k), own_url.as_deref())?;
            host.to_owned()
        }
        None => own_url.ok_or_else(|| {
            ProviderError::config(format!(
                "provider '{provider}' has no default address; give its virtual key a --base-url"
            ))
        })?,
    };
    let (key_name, key_id, api_key) = match (key, spec.api_key) {
        (_, Some(raw)) => (None, None, Some(SecretString::new(raw.to_owned()))),
        (Some((k, s)), None) => (Some(k.name), Some(k.id), Some(s)),
        (None, None) => (None, None, None),
    };
    Ok(Endpoint {
        provider,
        base_url,
        api_key,
        key_name,
        key_id,
        model: parsed.model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_strings() {
        assert_eq!(
            parse_model("gpt-4o-mini"),
            ModelRef {
                provider: None,
                key: None,
                model: "gpt-4o-mini".into()
            }
        );
        assert_eq!(
            parse_model("anthropic/claude-haiku-4-5"),
            ModelRef {
                provider: Some("anthropic".into()),
                key: None,
                model: "claude-haiku-4-5".into()
            }
        );
        assert_eq!(
            parse_model("@work-openai/gpt-4o"),
            ModelRef {
                provider: None,
                key: Some("work-openai".into()),
                model: "gpt-4o".into()
            }
        );
        assert_eq!(parse_model("demo/small").model, "demo/small");
        // Not a provider prefix: an OpenRouter-style model id stays whole.
        assert_eq!(
            parse_model("meta-llama/llama-3-8b").model,
            "meta-llama/llama-3-8b"
        );
    }

    #[test]
    fn inference() {
        let prices = PriceTable::builtin();
        assert_eq!(
            infer_provider(prices, "gpt-4o-mini"),
            Some(Provider::OpenAi)
        );
        assert_eq!(
            infer_provider(prices, "claude-some-future-model"),
            Some(Provider::Anthropic)
        );
        assert_eq!(
            infer_provider(prices, "gemini-9-ultra"),
            Some(Provider::Gemini)
        );
        assert_eq!(infer_provider(prices, "my-local-model"), None);
    }
}
