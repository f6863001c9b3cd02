//! Where Portolan keeps its data: `--data-dir`, else `PORTOLAN_HOME`, else the platform's data
//! directory (`~/.local/share/portolan` on Linux).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub fn resolve_data_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("PORTOLAN_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("dev", "portolan", "portolan")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(Error::NoDataDir)
}

/// Creates `dir` if needed; a new directory is readable by its owner only, since it holds the
/// database and possibly the master key file.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        // A directory made by an older Portolan, or by hand, is tightened to owner-only too.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0o700);
            if mode & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                    |e| Error::io(format!("could not make {} owner-only", dir.display()), e),
                )?;
            }
        }
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        Error::io(
            format!("could not create data directory {}", dir.display()),
            e,
        )
    })
}
