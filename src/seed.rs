//! The sample prompts in the repository's `prompts/` bundle, embedded in the binary so a first
//! run has something real to try (the store imports them into a brand-new library), with the
//! ids its manifest gives them: a sample has the same id on every machine, so a call by id works
//! everywhere and a bundle exported from a fresh library is the sample bundle itself.

use include_dir::{Dir, include_dir};

use crate::prompt_file::EXTENSION;

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

/// The sample prompts' ids by slug, from the bundle's manifest.
pub fn sample_ids() -> std::collections::BTreeMap<String, String> {
    let Some(text) = SAMPLES
        .get_file("portolan.toml")
        .and_then(|f| f.contents_utf8())
    else {
        return Default::default();
    };
    let Ok(manifest) = text.parse::<toml::Table>() else {
        return Default::default();
    };
    manifest
        .get("prompts")
        .and_then(|p| p.as_table())
        .map(|prompts| {
            prompts
                .iter()
                .filter_map(|(slug, entry)| {
                    Some((slug.clone(), entry.get("id")?.as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt_file;
    use std::path::Path;

    #[test]
    fn samples_are_canonical_and_valid() {
        let files = sample_files();
        assert!(files.len() >= 3);
        for (name, text) in files {
            let file = prompt_file::parse(text, Path::new(name)).unwrap();
            assert_eq!(prompt_file::file_name(&file.name), name);
            file.content.validate().unwrap();
            assert!(
                sample_ids().contains_key(&file.name),
                "{name} has an id in prompts/portolan.toml"
            );
            assert_eq!(
                prompt_file::render(&file),
                text,
                "{name} is not in canonical form"
            );
        }
    }
}
