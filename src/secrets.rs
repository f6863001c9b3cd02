//! Envelope encryption for provider secrets. A random 32-byte master key lives in the OS keyring
//! when one answers, else in a 0600 `master.key` file in the data directory (or comes from
//! `PORTOLAN_MASTER_KEY`). Each secret is sealed with AES-256-GCM under a fresh random nonce, with
//! the record's id as associated data so a sealed value cannot be moved to another record.
//!
//! Sealed record layout: `b"PVK"`, a format version byte, the 12-byte nonce, then ciphertext and
//! the 16-byte tag.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::ids::random_bytes;

const MAGIC: &[u8; 3] = b"PVK";
const FORMAT_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + 1 + NONCE_LEN;
pub(crate) const MASTER_KEY_FILE: &str = "master.key";
const KEYRING_SERVICE: &str = "portolan";

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    Environment,
    Keyring { account: String },
    File(PathBuf),
}

impl MasterKeySource {
    /// Short name stored in the database, so a later open knows where to look.
    pub fn location(&self) -> &'static str {
        match self {
            MasterKeySource::Environment => "env",
            MasterKeySource::Keyring { .. } => "keyring",
            MasterKeySource::File(_) => "file",
        }
    }
}

impl fmt::Display for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::Environment => write!(f, "PORTOLAN_MASTER_KEY"),
            MasterKeySource::Keyring { account } => {
                write!(f, "OS keyring entry {KEYRING_SERVICE}/{account}")
            }
            MasterKeySource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// The key that seals every provider secret of one data directory.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    source: MasterKeySource,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32], source: MasterKeySource) -> Self {
        MasterKey {
            bytes: Zeroizing::new(bytes),
            source,
        }
    }

    /// Parses 64 hex digits or the base64 of 32 bytes.
    pub fn parse(text: &str, source: MasterKeySource) -> Result<Self> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .or_else(|| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(text)
                        .ok()
                })
        };
        let mut decoded = Zeroizing::new(decoded.ok_or_else(|| {
            Error::MasterKey(format!(
                "the master key in {source} is neither 64 hex digits nor base64"
            ))
        })?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::MasterKey(format!(
                "the master key in {source} is {} bytes long; it must be 32",
                decoded.len()
            ))
        })?;
        decoded.zeroize();
        Ok(MasterKey::from_bytes(bytes, source))
    }

    pub fn generate(source: MasterKeySource) -> Self {
        MasterKey::from_bytes(random_bytes::<32>(), source)
    }

    pub fn source(&self) -> &MasterKeySource {
        &self.source
    }

    fn hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.bytes))
    }

    /// An HMAC of a fixed string under the key: stored beside the sealed records so a wrong
    /// master key is told apart from a tampered record, without revealing anything of the key.
    pub fn check_value(&self) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.bytes.as_slice());
        let tag = ring::hmac::sign(&key, b"portolan master key check v1");
        hex::encode(tag.as_ref())
    }

    fn aead(&self) -> LessSafeKey {
        // AES_256_GCM takes exactly 32 bytes, which the type guarantees.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.bytes.as_slice()).expect("32-byte key"))
    }

    /// Seals `plaintext` for the record `record_id`.
    pub fn seal(&self, record_id: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&nonce_bytes);
        let mut body = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(record_id.as_bytes()),
                &mut body,
            )
            .expect("AES-GCM sealing only fails for inputs larger than 64 GiB");
        out.extend_from_slice(&body);
        body.zeroize();
        out
    }

    /// Opens a sealed record. `name` is the key's human name, for the error message.
    pub fn open(&self, record_id: &str, name: &str, sealed: &[u8]) -> Result<SecretString> {
        if sealed.len() < HEADER_LEN + TAG_LEN || &sealed[..3] != MAGIC {
            return Err(Error::SecretTampered {
                name: name.to_owned(),
            });
        }
        if sealed[3] != FORMAT_VERSION {
            return Err(Error::MasterKey(format!(
                "virtual key '{name}' is sealed with record format {}, which this Portolan does not know",
                sealed[3]
            )));
        }
        let nonce: [u8; NONCE_LEN] = sealed[4..HEADER_LEN].try_into().expect("length checked");
        let mut body = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
        let plain = self
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record_id.as_bytes()),
                &mut body,
            )
            .map_err(|_| Error::SecretTampered {
                name: name.to_owned(),
            })?;
        let text = std::str::from_utf8(plain)
            .map_err(|_| Error::SecretTampered {
                name: name.to_owned(),
            })?
            .to_owned();
        Ok(SecretString(Zeroizing::new(text)))
    }
}

/// A decrypted provider secret: wiped from memory on drop, never printed by `Debug`.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(s: String) -> Self {
        SecretString(Zeroizing::new(s))
    }
    /// The plaintext, for the one place that needs it: the request to the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Finds the master key for `data_dir`, creating one on first use.
///
/// `expected` is where an earlier run kept it (recorded in the database): once a key lives in the
/// keyring, a keyring that does not answer is an error rather than a silent switch to a new file
/// key that could not open the existing secrets.
pub fn load_or_create_master_key(
    data_dir: &Path,
    use_keyring: bool,
    from_env: Option<&str>,
    expected: Option<&str>,
) -> Result<MasterKey> {
    if let Some(text) = from_env {
        return MasterKey::parse(text, MasterKeySource::Environment);
    }
    let file = data_dir.join(MASTER_KEY_FILE);
    if file.exists() {
        return read_key_file(&file);
    }
    let account = keyring_account(data_dir);
    match expected {
        Some("file") => {
            return Err(Error::MasterKey(format!(
                "the master key file {} is missing; restore it or set PORTOLAN_MASTER_KEY",
                file.display()
            )));
        }
        Some("keyring") => {
            return keyring_get(&account)?.ok_or_else(|| {
                Error::MasterKey(format!(
                    "the master key was kept in the OS keyring ({KEYRING_SERVICE}/{account}), \
                     which does not have it now; unlock the keyring or set PORTOLAN_MASTER_KEY"
                ))
            });
        }
        _ => {}
    }
    if use_keyring {
        match keyring_get(&account) {
            Ok(Some(key)) => return Ok(key),
            Ok(None) => {
                let key = MasterKey::generate(MasterKeySource::Keyring {
                    account: account.clone(),
                });
                if keyring_set(&account, &key).is_ok()
                    && matches!(keyring_get(&account), Ok(Some(_)))
                {
                    return Ok(key);
                }
                tracing::info!("OS keyring did not keep the master key; using a key file");
            }
            Err(e) => tracing::info!(error = %e, "no OS keyring; using a key file"),
        }
    }
    let key = MasterKey::generate(MasterKeySource::File(file.clone()));
    write_key_file(&file, &key)?;
    Ok(key)
}

fn keyring_account(data_dir: &Path) -> String {
    let canonical = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        canonical.to_string_lossy().as_bytes(),
    );
    format!("master-key-{}", &hex::encode(digest.as_ref())[..16])
}

fn keyring_get(account: &str) -> Result<Option<MasterKey>> {
    let entry = keyring::Entry::new(KEYRING_SERVICE, account)
        .map_err(|e| Error::MasterKey(format!("OS keyring unavailable: {e}")))?;
    match entry.get_password() {
        Ok(text) => {
            let text = Zeroizing::new(text);
            MasterKey::parse(
                &text,
                MasterKeySource::Keyring {
                    account: account.to_owned(),
                },
            )
            .map(Some)
        }
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(Error::MasterKey(format!("OS keyring unavailable: {e}"))),
    }
}

fn keyring_set(account: &str, key: &MasterKey) -> Result<()> {
    let entry = keyring::Entry::new(KEYRING_SERVICE, account)
        .map_err(|e| Error::MasterKey(format!("OS keyring unavailable: {e}")))?;
    entry
        .set_password(&key.hex())
        .map_err(|e| Error::MasterKey(format!("OS keyring refused the master key: {e}")))
}

fn read_key_file(path: &Path) -> Result<MasterKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("could not read {}", path.display()), e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::MasterKey(format!(
                "{} is readable by other users (mode {mode:o}); run: chmod 600 {}",
                path.display(),
                path.display()
            )));
        }
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("could not read {}", path.display()), e))?,
    );
    MasterKey::parse(&text, MasterKeySource::File(path.to_path_buf()))
}

/// Writes the key file atomically (temp file + rename), created with mode 0600 from the start so
/// the key is never on disk with wider permissions.
fn write_key_file(path: &Path, key: &MasterKey) -> Result<()> {
    let tmp = path.with_extension("key.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let io = |e| Error::io(format!("could not write {}", path.display()), e);
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(key.hex().as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename is durable only once the directory entry is: without this a crash right after
    // could leave no key file while sealed secrets already depend on the key.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::generate(MasterKeySource::Environment)
    }

    #[test]
    fn seal_and_open_round_trip_with_fresh_nonces() {
        let k = key();
        let a = k.seal("vk_1", b"sk-secret");
        let b = k.seal("vk_1", b"sk-secret");
        assert_ne!(a, b, "nonce must differ per record");
        assert_eq!(k.open("vk_1", "main", &a).unwrap().expose(), "sk-secret");
        assert!(!a.windows(9).any(|w| w == b"sk-secret"));
    }

    #[test]
    fn flipped_byte_wrong_record_and_wrong_key_fail() {
        let k = key();
        let sealed = k.seal("vk_1", b"sk-secret");
        for i in [HEADER_LEN, sealed.len() - 1, 5] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(matches!(
                k.open("vk_1", "main", &bad),
                Err(Error::SecretTampered { .. })
            ));
        }
        assert!(
            k.open("vk_2", "main", &sealed).is_err(),
            "bound to record id"
        );
        assert!(key().open("vk_1", "main", &sealed).is_err());
        let mut future = sealed.clone();
        future[3] = 9;
        let msg = k.open("vk_1", "main", &future).unwrap_err().to_string();
        assert!(msg.contains("record format 9"), "{msg}");
    }

    #[test]
    fn parse_hex_and_base64() {
        let hexkey = "00".repeat(32);
        assert!(MasterKey::parse(&hexkey, MasterKeySource::Environment).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(MasterKey::parse(&b64, MasterKeySource::Environment).is_ok());
        let short = MasterKey::parse("abcd", MasterKeySource::Environment).unwrap_err();
        assert!(short.to_string().contains("PORTOLAN_MASTER_KEY"), "{short}");
    }

    #[test]
    fn file_fallback_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_master_key(dir.path(), false, None, None).unwrap();
        assert!(matches!(a.source(), MasterKeySource::File(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = load_or_create_master_key(dir.path(), false, None, Some("file")).unwrap();
        assert_eq!(a.check_value(), b.check_value());
        std::fs::remove_file(dir.path().join(MASTER_KEY_FILE)).unwrap();
        let err = load_or_create_master_key(dir.path(), false, None, Some("file")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn debug_never_shows_secret() {
        let s = SecretString::new("sk-live-123".into());
        assert!(!format!("{s:?}").contains("sk-live"));
    }
}
