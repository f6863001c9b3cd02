pub const KNOWN_PROVIDERS: &[&str] = &["openai"];
