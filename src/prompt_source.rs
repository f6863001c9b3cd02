//! A prompt read from a file on disk, in either format Portolan accepts: its own `.prompt.md`
//! ([`crate::prompt_file`]) or Microsoft's `.prompty` ([`crate::prompty`]), chosen by extension.

use std::path::Path;

use crate::error::{Error, Result};
use crate::prompt_file::{self, PromptFile};

/// Reads a file from disk, choosing the format by extension (`.prompt.md` or `.prompty`).
pub fn read(path: &Path) -> Result<PromptFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("could not read {}", path.display()), e))?;
    parse(&text, path)
}

/// Parses `text` in the format `path`'s extension names.
pub fn parse(text: &str, path: &Path) -> Result<PromptFile> {
    let is_prompty = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("prompty"));
    if is_prompty {
        crate::prompty::parse(text, path)
    } else {
        prompt_file::parse(text, path)
    }
}
