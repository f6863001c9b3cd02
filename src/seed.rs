//! The sample prompts in the repository's `prompts/` bundle, embedded in the binary and imported
//! once into a brand-new library so a first run has something real to try.

use std::path::Path;

use include_dir::{Dir, include_dir};

use crate::error::Result;
use crate::prompt_file::{self, EXTENSION};
use crate::store::Store;

static SAMPLES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/prompts");

/// The embedded sample files as `(file name, text)`, sorted by name.
pub fn sample_files() -> Vec<(&'static str, &'static str)> {
    let mut files: Vec<_> = SAMPLES
        .files()
        .filter_map(|f| {
            let name = f.path().file_name()?.to_str()?;
            name.ends_with(EXTENSION)
                .then(|| f.contents_utf8().map(|t| (name, t)))
                .flatten()
        })
        .collect();
    files.sort();
    files
}

/// Imports the samples: each becomes a prompt at version 1 carrying the file's labels.
pub(crate) fn import_samples(store: &Store) -> Result<usize> {
    let mut count = 0;
    for (name, text) in sample_files() {
        let file = prompt_file::parse(text, Path::new(name))?;
        let saved = store.create_prompt(
            &file.name,
            &file.content,
            Some("Sample prompt shipped with Portolan"),
        )?;
        for label in &file.labels {
            store.set_label(&saved.prompt_id, saved.version, label)?;
        }
        count += 1;
    }
    let conn = store.conn();
    store.meta_set(&conn, "samples_imported", &count.to_string())?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_canonical_and_valid() {
        let files = sample_files();
        assert!(files.len() >= 3);
        for (name, text) in files {
            let file = prompt_file::parse(text, Path::new(name)).unwrap();
            assert_eq!(prompt_file::file_name(&file.name), name);
            file.content.validate().unwrap();
            assert_eq!(
                prompt_file::render(&file),
                text,
                "{name} is not in canonical form"
            );
        }
    }
}
