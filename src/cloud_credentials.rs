//! The secrets of cloud providers: not one API key but a set of credentials, stored as one JSON
//! document sealed like any key's secret.
//!
//! - **AWS Bedrock**: an access key id, its secret, an optional session token (temporary
//!   credentials) and the region: `{"access_key_id", "secret_access_key", "session_token"?,
//!   "region"}`.
//! - **Google Vertex AI**: a service account's JSON key file as Google issues it, with the
//!   location (and optionally another project than the account's own): `{"service_account":
//!   {…}, "location", "project"?}`.
//!
//! The CLI and the desktop read them from a file or stdin (never the command line) with
//! [`bedrock_from_input`] and [`vertex_from_input`], which accept the shapes people have at hand
//! (the JSON `aws sts` prints, an AWS credentials file section, Google's key file), and store the
//! normalised JSON. Listings show [`mask`]: the access key id's ends or the service account's
//! email, never a secret.

use serde::{Deserialize, Serialize};

use crate::providers::Provider;

/// Why credentials cannot be used, as a sentence naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsError(pub String);

fn invalid(message: impl Into<String>) -> CredentialsError {
    CredentialsError(message.into())
}

/// AWS credentials and region for Bedrock.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    pub region: String,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The fields of Google's service-account key file that Portolan uses.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: String,
    #[serde(default)]
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// A service account, the location its calls go to, and the project they are billed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexCredentials {
    pub service_account: ServiceAccount,
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl VertexCredentials {
    /// The project calls are made in: the one given, else the service account's own.
    pub fn project(&self) -> &str {
        self.project
            .as_deref()
            .unwrap_or(&self.service_account.project_id)
    }
}

fn check_region(kind: &str, value: &str) -> Result<(), CredentialsError> {
    if value.is_empty() {
        return Err(invalid(format!(
            "no {kind}: give one (--region us-east-1 for Bedrock, --location us-central1 for Vertex AI)"
        )));
    }
    let ok = value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "the {kind} '{value}' is not valid (lower-case letters, digits and '-', e.g. us-east-1)"
        )))
    }
}

impl AwsCredentials {
    fn validate(&self) -> Result<(), CredentialsError> {
        if self.access_key_id.trim().is_empty() {
            return Err(invalid("the AWS credentials have no access key id"));
        }
        if self.secret_access_key.trim().is_empty() {
            return Err(invalid("the AWS credentials have no secret access key"));
        }
        check_region("AWS region", &self.region)
    }
}

impl VertexCredentials {
    fn validate(&self) -> Result<(), CredentialsError> {
        let sa = &self.service_account;
        if sa.kind != "service_account" {
            return Err(invalid(format!(
                "the Google credentials are of type '{}'; a service account key file (type \"service_account\") is needed",
                sa.kind
            )));
        }
        if sa.client_email.trim().is_empty() {
            return Err(invalid("the service account key has no client_email"));
        }
        if !sa.private_key.contains("-----BEGIN PRIVATE KEY-----") {
            return Err(invalid(
                "the service account key's private_key is not a PEM private key",
            ));
        }
        crate::providers::vertex::signing_key(&sa.private_key).map_err(invalid)?;
        if self.project().trim().is_empty() {
            return Err(invalid(
                "no Google Cloud project: the key file names none and none was given",
            ));
        }
        check_region("Vertex AI location", &self.location)
    }
}

/// Bedrock credentials from what a person pastes or points at: the JSON `aws sts
/// get-session-token`/`assume-role` prints (`{"Credentials": {"AccessKeyId", …}}`), a flat JSON
/// object with those names or snake_case ones, or an AWS credentials file section
/// (`aws_access_key_id = …`). `region` is the one given, else one found in the input.
pub fn bedrock_from_input(
    input: &str,
    region: Option<&str>,
) -> Result<AwsCredentials, CredentialsError> {
    let text = input.trim();
    let mut fields: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| invalid(format!("the AWS credentials are not valid JSON: {e}")))?;
        let v = v.get("Credentials").unwrap_or(&v);
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("the AWS credentials must be a JSON object"))?;
        for (k, val) in obj {
            if let Some(s) = val.as_str() {
                fields.insert(normalise_field(k), s.to_owned());
            }
        }
    } else {
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            if let Some((k, val)) = line.split_once('=') {
                fields.insert(normalise_field(k.trim()), val.trim().to_owned());
            }
        }
    }
    let take = |name: &str| fields.get(name).cloned().filter(|s| !s.is_empty());
    let creds = AwsCredentials {
        access_key_id: take("accesskeyid").unwrap_or_default(),
        secret_access_key: take("secretaccesskey").unwrap_or_default(),
        session_token: take("sessiontoken"),
        region: region
            .map(str::to_owned)
            .or_else(|| take("region"))
            .unwrap_or_default(),
    };
    if creds.region.is_empty() {
        return Err(invalid(
            "no AWS region: give one (--region us-east-1) or put \"region\" in the credentials",
        ));
    }
    creds.validate()?;
    Ok(creds)
}

/// `AccessKeyId`, `access_key_id`, `aws_access_key_id` → `accesskeyid`.
fn normalise_field(name: &str) -> String {
    let lower: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    lower
        .strip_prefix("aws")
        .map(str::to_owned)
        .unwrap_or(lower)
}

/// Vertex credentials from a service account key file's text, the location, and optionally
/// another project than the key's own.
pub fn vertex_from_input(
    input: &str,
    location: &str,
    project: Option<&str>,
) -> Result<VertexCredentials, CredentialsError> {
    let v: serde_json::Value = serde_json::from_str(input.trim()).map_err(|e| {
        invalid(format!(
            "the service account key is not valid JSON (expected Google's key file): {e}"
        ))
    })?;
    // Already stored shape (a key being rotated) or a bare key file.
    let (sa_value, stored_location, stored_project) = match v.get("service_account") {
        Some(sa) => (
            sa.clone(),
            v.get("location")
                .and_then(|l| l.as_str())
                .map(str::to_owned),
            v.get("project").and_then(|p| p.as_str()).map(str::to_owned),
        ),
        None => (v, None, None),
    };
    let service_account: ServiceAccount = serde_json::from_value(sa_value).map_err(|e| {
        invalid(format!(
            "the service account key is missing a field Portolan needs: {e}"
        ))
    })?;
    let location = if location.is_empty() {
        stored_location.unwrap_or_default()
    } else {
        location.to_owned()
    };
    let creds = VertexCredentials {
        service_account,
        location,
        project: project.map(str::to_owned).or(stored_project),
    };
    creds.validate()?;
    Ok(creds)
}

/// Parses a stored Bedrock secret (checked when it was stored: see [`validate_secret`]).
pub fn aws(secret: &str) -> Result<AwsCredentials, CredentialsError> {
    serde_json::from_str(secret).map_err(|_| {
        invalid("this Bedrock key's secret is not a set of AWS credentials; rotate it with `portolan keys rotate NAME --region REGION` and the credentials on stdin")
    })
}

/// Parses a stored Vertex secret (checked when it was stored, private key included: see
/// [`validate_secret`]; parsing the RSA key on every call would cost more than the call's JSON).
pub fn vertex(secret: &str) -> Result<VertexCredentials, CredentialsError> {
    serde_json::from_str(secret).map_err(|_| {
        invalid("this Vertex AI key's secret is not a service account with a location; rotate it with `portolan keys rotate NAME --location LOCATION` and the key file on stdin")
    })
}

/// What a listing shows of a stored secret: for cloud credentials, who they are (never a
/// secret part); for API keys, [`crate::keys::mask`].
pub fn mask(provider: &str, secret: &str) -> String {
    match Provider::from_id(provider) {
        Some(Provider::Bedrock) => match serde_json::from_str::<AwsCredentials>(secret) {
            Ok(c) => format!("{} ({})", crate::keys::mask(&c.access_key_id), c.region),
            Err(_) => crate::keys::mask(secret),
        },
        Some(Provider::Vertex) => match serde_json::from_str::<VertexCredentials>(secret) {
            Ok(c) => format!("{} ({})", c.service_account.client_email, c.location),
            Err(_) => crate::keys::mask(secret),
        },
        _ => crate::keys::mask(secret),
    }
}

/// What cloud credentials need beside the secret itself (none of it secret).
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudFields<'a> {
    /// AWS region (Bedrock).
    pub region: Option<&'a str>,
    /// Vertex AI location.
    pub location: Option<&'a str>,
    /// Google Cloud project, when not the service account's own (Vertex AI).
    pub project: Option<&'a str>,
}

/// The secret to store for a key of `provider`, from what a person gave: an API key as it is;
/// for Bedrock and Vertex AI, the credentials read ([`bedrock_from_input`],
/// [`vertex_from_input`]) with `fields` (else, when rotating, the `previous` secret's region,
/// location and project), as one checked JSON document.
pub fn secret_for(
    provider: &str,
    raw: &str,
    fields: CloudFields<'_>,
    previous: Option<&str>,
) -> Result<String, CredentialsError> {
    fn given(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|s| !s.is_empty())
    }
    let (region, location, project) = (
        given(fields.region),
        given(fields.location),
        given(fields.project),
    );
    match Provider::from_id(provider) {
        Some(Provider::Bedrock) => {
            let before = previous.and_then(|p| aws(p).ok());
            let region = region.or(before.as_ref().map(|c| c.region.as_str()));
            to_json(&bedrock_from_input(raw, region)?)
        }
        Some(Provider::Vertex) => {
            let before = previous.and_then(|p| vertex(p).ok());
            let location = location
                .or(before.as_ref().map(|c| c.location.as_str()))
                .unwrap_or("");
            let project = project.or(before.as_ref().and_then(|c| c.project.as_deref()));
            to_json(&vertex_from_input(raw, location, project)?)
        }
        _ => {
            for (flag, value) in [
                ("region", region),
                ("location", location),
                ("project", project),
            ] {
                if value.is_some() {
                    return Err(invalid(format!(
                        "a {flag} is for Bedrock or Vertex AI keys, not {provider}"
                    )));
                }
            }
            Ok(raw.to_owned())
        }
    }
}

/// Credentials as the JSON stored for a key.
fn to_json<T: Serialize>(value: &T) -> Result<String, CredentialsError> {
    serde_json::to_string(value).map_err(|e| invalid(e.to_string()))
}

/// Checks a secret about to be stored for `provider`: cloud credentials must parse and be
/// complete.
pub fn validate_secret(provider: Provider, secret: &str) -> Result<(), CredentialsError> {
    match provider {
        Provider::Bedrock => aws(secret)?.validate(),
        Provider::Vertex => vertex(secret)?.validate(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_credentials_come_in_the_shapes_people_have() {
        let sts = r#"{"Credentials": {"AccessKeyId": "ASIAEXAMPLE123456789", "SecretAccessKey": "s3cr3t", "SessionToken": "tok", "Expiration": "2026-12-05T00:00:00Z"}}"#;
        let c = bedrock_from_input(sts, Some("us-east-1")).unwrap();
        assert_eq!(c.access_key_id, "ASIAEXAMPLE123456789");
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        let ini = "[default]\naws_access_key_id = AKIAEXAMPLE123456789\naws_secret_access_key = abc\nregion = eu-west-3\n";
        let c = bedrock_from_input(ini, None).unwrap();
        assert_eq!(
            (c.secret_access_key.as_str(), c.region.as_str()),
            ("abc", "eu-west-3")
        );
        assert!(c.session_token.is_none());
        let flat = r#"{"access_key_id": "AKIA1", "secret_access_key": "x", "region": "us-west-2"}"#;
        assert_eq!(bedrock_from_input(flat, None).unwrap().region, "us-west-2");

        let e = bedrock_from_input(flat.replace("us-west-2", "").as_str(), None).unwrap_err();
        assert!(e.0.contains("no AWS region"), "{e}");
        let e = bedrock_from_input(r#"{"AccessKeyId": "AKIA1"}"#, Some("us-east-1")).unwrap_err();
        assert!(e.0.contains("secret access key"), "{e}");
        let e = bedrock_from_input(flat, Some("US East")).unwrap_err();
        assert!(e.0.contains("not valid"), "{e}");
        assert!(bedrock_from_input("{not json", None).is_err());
    }

    #[test]
    fn masks_name_the_credentials_without_their_secrets() {
        let c = AwsCredentials {
            access_key_id: "AKIAEXAMPLE123456789".into(),
            secret_access_key: "very-secret-value".into(),
            session_token: Some("session-secret".into()),
            region: "us-east-1".into(),
        };
        let stored = serde_json::to_string(&c).unwrap();
        let m = mask("bedrock", &stored);
        assert_eq!(m, "AKI…6789 (us-east-1)");
        assert!(!format!("{c:?}").contains("very-secret"));
        assert!(aws(&stored).is_ok());
        assert!(validate_secret(Provider::Bedrock, &stored).is_ok());
        assert!(aws("sk-plain").unwrap_err().0.contains("keys rotate"));
    }
}
