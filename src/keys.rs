//! Virtual keys: a provider secret entered once, sealed at rest, and referred to by name
//! everywhere else. Listings carry a mask (`sk-…abcd`), never the secret.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::providers::Provider;

/// A virtual key as everything outside the engine sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VirtualKey {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub base_url: Option<String>,
    pub notes: Option<String>,
    /// The first and last characters of the secret, for recognising it: `sk-…abcd`.
    pub mask: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What is needed to add a key, apart from the secret.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub name: String,
    pub provider: String,
    pub base_url: Option<String>,
    pub notes: Option<String>,
}

impl NewKey {
    /// Checks the name, provider and base URL; callers run this before asking for the secret.
    pub fn validate_fields(&self) -> Result<()> {
        self.validate_inner(None)
    }

    pub(crate) fn validate(&self, secret: &str) -> Result<()> {
        self.validate_inner(Some(secret))
    }

    fn validate_inner(&self, secret: Option<&str>) -> Result<()> {
        crate::ids::validate_slug("virtual key name", &self.name)?;
        let provider = Provider::from_id(&self.provider)
            .filter(|p| *p != Provider::Demo)
            .ok_or_else(|| Error::UnknownProvider {
                name: self.provider.clone(),
            })?;
        let spec = provider.spec();
        match &self.base_url {
            Some(url) => validate_base_url(url)?,
            None if spec.needs_base_url => {
                return Err(Error::BaseUrlNeeded {
                    provider: self.provider.clone(),
                });
            }
            None => {}
        }
        if secret.is_some_and(str::is_empty) && spec.needs_secret {
            return Err(Error::EmptySecret(self.name.clone()));
        }
        if let Some(secret) = secret {
            crate::cloud_credentials::validate_secret(provider, secret).map_err(|e| {
                Error::InvalidCredentials {
                    name: self.name.clone(),
                    reason: e.0,
                }
            })?;
        }
        Ok(())
    }
}

fn validate_base_url(text: &str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidBaseUrl {
        url: text.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(text).map_err(|e| invalid(format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid(
            "must be an http:// or https:// address with a host".into(),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "must not carry credentials; put the secret in the key itself".into(),
        ));
    }
    Ok(())
}

/// `sk-proj-abc…wxyz` → `sk-…wxyz`. Short secrets show less, so the mask never reveals a
/// meaningful share of them.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    match chars.len() {
        0 => "(none)".to_owned(),
        n if n < 12 => "…".to_owned() + &"•".repeat(4),
        n if n < 20 => format!("…{}", chars[n - 2..].iter().collect::<String>()),
        n => format!(
            "{}…{}",
            chars[..3].iter().collect::<String>(),
            chars[n - 4..].iter().collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_show_little() {
        assert_eq!(mask("sk-proj-0123456789abcdefwxyz"), "sk-…wxyz");
        assert_eq!(mask("short"), "…••••");
        assert_eq!(mask("0123456789abcd"), "…cd");
        assert_eq!(mask(""), "(none)");
    }

    #[test]
    fn new_key_rules() {
        let k = |p: &str, url: Option<&str>| NewKey {
            name: "main".into(),
            provider: p.into(),
            base_url: url.map(Into::into),
            notes: None,
        };
        assert!(k("openai", None).validate("sk-x").is_ok());
        assert!(matches!(
            k("nope", None).validate("x"),
            Err(Error::UnknownProvider { .. })
        ));
        assert!(k("azure-openai", None).validate("x").is_err());
        assert!(
            k("azure-openai", Some("https://r.openai.azure.com"))
                .validate("x")
                .is_ok()
        );
        assert!(k("openai", Some("ftp://x")).validate("x").is_err());
        assert!(k("openai", Some("https://u:p@x")).validate("x").is_err());
        assert!(matches!(
            k("openai", None).validate(""),
            Err(Error::EmptySecret(_))
        ));
        assert!(k("ollama", None).validate("").is_ok());
    }
}
