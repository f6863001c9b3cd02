//! Imports the embedded sample prompts ([`crate::seed`]) into a brand-new library: each becomes
//! a prompt at version 1 with the id the sample bundle's manifest gives it, carrying its file's
//! labels, audited as the seed.

use std::path::Path;

use super::Store;
use super::audit::Actor;
use crate::error::Result;
use crate::prompt_file;

impl Store {
    pub(crate) fn import_samples(&self) -> Result<usize> {
        let mut count = 0;
        let ids = crate::seed::sample_ids();
        for (name, text) in crate::seed::sample_files() {
            let file = prompt_file::parse(text, Path::new(name))?;
            let saved = self.create_prompt_as(
                &file.name,
                ids.get(&file.name).map(String::as_str),
                &file.content,
                Some("Sample prompt shipped with Portolan"),
                chrono::Utc::now(),
                None,
                &Actor::Seed,
            )?;
            for label in &file.labels {
                self.set_label(&saved.prompt_id, saved.version, label, &Actor::Seed)?;
            }
            count += 1;
        }
        let conn = self.conn();
        self.meta_set(&conn, "samples_imported", &count.to_string())?;
        Ok(count)
    }
}
