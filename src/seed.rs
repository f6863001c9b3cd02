//! The sample prompts in the repository's `prompts/` bundle, embedded in the binary so a first
//! run has something real to try (the store imports them into a brand-new library).

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
            assert_eq!(
                prompt_file::render(&file),
                text,
                "{name} is not in canonical form"
            );
        }
    }
}
