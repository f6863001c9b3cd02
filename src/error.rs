//! The engine's one error type. Every variant renders as a sentence a person can act on; the CLI
//! prints it as is and the desktop shell forwards it as a tagged value (`kind` + `message`).

use std::path::PathBuf;

/// Where in a template a syntax error sits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TemplatePosition {
    /// Index of the chat message (0-based) the template belongs to.
    pub message_index: usize,
    /// Role of that message.
    pub role: String,
    /// 1-based line inside the message template.
    pub line: usize,
    /// 1-based column inside that line.
    pub column: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no prompt with id or slug '{0}'")]
    PromptNotFound(String),

    #[error("prompt '{slug}' has no version {version} (latest is {latest})")]
    VersionNotFound {
        slug: String,
        version: i64,
        latest: i64,
    },

    #[error("prompt '{slug}' has no label '{label}'")]
    LabelNotFound { slug: String, label: String },

    #[error("a prompt with slug '{0}' already exists")]
    DuplicateSlug(String),

    #[error(
        "'{0}' is not a prompt id (prompt ids are `pr_` followed by letters, digits or `_`, at most 40 characters)"
    )]
    InvalidPromptId(String),

    #[error("the prompt id '{0}' already belongs to another prompt of this library")]
    PromptIdTaken(String),

    #[error("'{value}' is not a valid {what}: {rule}")]
    InvalidName {
        what: &'static str,
        value: String,
        rule: &'static str,
    },

    #[error("template syntax error in message {} ({}) at line {}, column {}: {reason}", .position.message_index + 1, .position.role, .position.line, .position.column)]
    TemplateSyntax {
        position: TemplatePosition,
        reason: String,
    },

    #[error("template syntax error in message {} ({}): {reason}", .message_index + 1, .role)]
    TemplateSyntaxNoPosition {
        message_index: usize,
        role: String,
        reason: String,
    },

    #[error("missing template variables: {}", .0.join(", "))]
    MissingVariables(Vec<String>),

    #[error("partial '{{{{> {0}}}}}' refers to no prompt with that slug")]
    UnknownPartial(String),

    #[error("partials include each other in a cycle: {}", .0.join(" -> "))]
    PartialCycle(Vec<String>),

    #[error("could not render message {} ({}): {reason}", .message_index + 1, .role)]
    Render {
        message_index: usize,
        role: String,
        reason: String,
    },

    #[error("a prompt needs at least one message")]
    EmptyPrompt,

    #[error("{}: {reason}", .path.display())]
    PromptFile { path: PathBuf, reason: String },

    #[error("{}:{line}: {reason}", .path.display())]
    PromptFileAt {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error("price file {}: {reason}", .path.display())]
    PriceTable { path: PathBuf, reason: String },

    #[error("invalid variables: {0}")]
    InvalidVariables(String),

    /// A tool definition, tool choice or response schema that cannot be sent: `at` is where in
    /// the prompt (`tools[0].function.parameters`), `reason` what is wrong there.
    #[error("{at}: {reason}")]
    InvalidSchema { at: String, reason: String },

    /// Tool calls and tool results in a template that do not fit together.
    #[error("tool use in the template: {0}")]
    InvalidToolUse(String),

    /// An image in a message that cannot be sent (too large, not an image, unreadable, or a
    /// local path where only URLs are allowed).
    #[error("image: {0}")]
    Image(String),

    #[error("no virtual key named '{0}'")]
    KeyNotFound(String),

    #[error("a virtual key named '{0}' already exists")]
    DuplicateKey(String),

    #[error("unknown provider '{name}' (known: {})", crate::providers::registry::Provider::key_provider_ids().join(", "))]
    UnknownProvider { name: String },

    #[error("provider '{provider}' needs --base-url (where its API is served)")]
    BaseUrlNeeded { provider: String },

    #[error("base URL '{url}' {reason}")]
    InvalidBaseUrl { url: String, reason: String },

    #[error("a budget must be a number ≥ 0, not {0}")]
    InvalidBudget(f64),

    #[error("--alert is a fraction of the budget between 0 and 1, not {0}")]
    InvalidAlertThreshold(f64),

    #[error("a rate limit must allow at least 1")]
    ZeroRateLimit,

    #[error("the secret for virtual key '{0}' is empty")]
    EmptySecret(String),

    #[error("the credentials for virtual key '{name}' cannot be used: {reason}")]
    InvalidCredentials { name: String, reason: String },

    #[error(
        "the master key ({source_desc}) is not the one this data directory's keys were sealed with; \
         set PORTOLAN_MASTER_KEY to the original key or restore master.key"
    )]
    WrongMasterKey { source_desc: String },

    #[error(
        "virtual key '{name}' could not be decrypted: its stored record was altered or corrupted"
    )]
    SecretTampered { name: String },

    #[error("master key problem: {0}")]
    MasterKey(String),

    #[error(
        "the database {} has schema version {found}, newer than this Portolan understands ({supported}); \
         upgrade Portolan or use another data directory",
        .path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("could not migrate the database: {0}")]
    Migration(String),

    /// The team gateway's shared store (PostgreSQL) failed or could not be reached.
    #[error("the shared store (PostgreSQL) {0}")]
    SharedStore(String),

    /// The team gateway's rate limiter (Redis) failed or could not be reached.
    #[error("the rate limiter (Redis) {0}")]
    RateLimiter(String),

    #[error("no data directory could be determined; set PORTOLAN_HOME or pass --data-dir")]
    NoDataDir,

    #[error("invalid feedback: {0}")]
    InvalidFeedback(String),

    #[error("no logged call has trace id '{0}'")]
    TraceNotFound(String),

    #[error("name at least one model to compare")]
    NoModels,

    #[error("the prompt's parameters do not fit a chat request: {0}")]
    PromptParams(String),

    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),

    #[error("no saved comparison run '{0}'")]
    RunNotFound(String),

    #[error("internal error: {0}")]
    Internal(String),

    #[error(transparent)]
    Bundle(#[from] BundleError),

    #[error(transparent)]
    Dataset(#[from] crate::datasets::DatasetError),

    #[error(transparent)]
    Eval(#[from] crate::evals::EvalError),

    #[error("git: {0}")]
    Git(String),

    #[error("a gateway token named '{0}' already exists")]
    DuplicateToken(String),

    #[error("no gateway token named '{0}'")]
    TokenNotFound(String),

    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Short stable identifier for the variant, used by the UI and the gateway to branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::PromptNotFound(_) => "prompt_not_found",
            Error::VersionNotFound { .. } => "version_not_found",
            Error::LabelNotFound { .. } => "label_not_found",
            Error::DuplicateSlug(_) => "duplicate_slug",
            Error::InvalidPromptId(_) => "invalid_prompt_id",
            Error::PromptIdTaken(_) => "prompt_id_taken",
            Error::InvalidName { .. } => "invalid_name",
            Error::TemplateSyntax { .. } | Error::TemplateSyntaxNoPosition { .. } => {
                "template_syntax"
            }
            Error::MissingVariables(_) => "missing_variables",
            Error::UnknownPartial(_) => "unknown_partial",
            Error::PartialCycle(_) => "partial_cycle",
            Error::Render { .. } => "render",
            Error::EmptyPrompt => "empty_prompt",
            Error::PromptFile { .. } | Error::PromptFileAt { .. } => "prompt_file",
            Error::PriceTable { .. } => "price_table",
            Error::InvalidVariables(_) => "invalid_variables",
            Error::InvalidSchema { .. } => "invalid_schema",
            Error::InvalidToolUse(_) => "invalid_tool_use",
            Error::Image(_) => "invalid_image",
            Error::KeyNotFound(_) => "key_not_found",
            Error::DuplicateKey(_) => "duplicate_key",
            Error::UnknownProvider { .. } => "unknown_provider",
            Error::EmptySecret(_) => "empty_secret",
            Error::InvalidCredentials { .. } => "invalid_credentials",
            Error::BaseUrlNeeded { .. } | Error::InvalidBaseUrl { .. } => "invalid_key_config",
            Error::InvalidBudget(_) | Error::InvalidAlertThreshold(_) | Error::ZeroRateLimit => {
                "invalid_limit"
            }
            Error::WrongMasterKey { .. } => "wrong_master_key",
            Error::SecretTampered { .. } => "secret_tampered",
            Error::MasterKey(_) => "master_key",
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::Migration(_) => "migration",
            Error::SharedStore(_) => "shared_store",
            Error::RateLimiter(_) => "rate_limiter",
            Error::NoDataDir => "no_data_dir",
            Error::InvalidFeedback(_) => "invalid_feedback",
            Error::TraceNotFound(_) => "trace_not_found",
            Error::HttpClient(_) => "http_client",
            Error::NoModels => "no_models",
            Error::PromptParams(_) => "prompt_params",
            Error::RunNotFound(_) => "run_not_found",
            Error::Internal(_) => "internal",
            Error::DuplicateToken(_) => "duplicate_token",
            Error::Bundle(_) => "bundle",
            Error::Dataset(crate::datasets::DatasetError::NotFound(_)) => "dataset_not_found",
            Error::Dataset(_) => "dataset",
            Error::Eval(_) => "eval",
            Error::Git(_) => "git",
            Error::TokenNotFound(_) => "token_not_found",
            Error::Db(_) => "database",
            Error::Io { .. } => "io",
            Error::Json(_) => "json",
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Git(e.message().to_owned())
    }
}

/// Why a prompt bundle cannot be read, written or imported.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: {reason}", .path.display())]
    Manifest { path: PathBuf, reason: String },
    #[error(
        "{} has bundle format version {found}; this Portolan reads version {supported}{}",
        .path.display(),
        if .found > .supported { " (upgrade Portolan to import it)" } else { "" }
    )]
    FormatVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("could not write the manifest: {0}")]
    ManifestWrite(String),
    #[error("--author must look like \"Name <mail@example.com>\", not '{0}'")]
    Author(String),
    #[error("{0} is not a folder or a git URL")]
    NotASource(String),
    #[error("{} holds no *.prompt.md files", .0.display())]
    Empty(PathBuf),
    /// Every file that failed validation, each with its place and reason.
    #[error(
        "the bundle was not imported; fix {}:\n  {}",
        if .0.len() == 1 { "this file" } else { "these files" },
        .0.join("\n  ")
    )]
    InvalidFiles(Vec<String>),
    #[error("{} is {kind}; a bundle's files must be plain files inside the bundle", .path.display())]
    NotAPlainFile { path: PathBuf, kind: &'static str },
    /// Partials that name no prompt, in the bundle or the library.
    #[error("the bundle was not imported:\n  {}", .0.join("\n  "))]
    Partials(Vec<String>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
