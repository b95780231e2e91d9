//! The API and application keys the backend accepts: generated once per state folder, or given.
//!
//! Datadog's formats are kept: an API key is 32 hex digits, an application key 40. The pair lives in
//! `<state>/keys.json`, created readable by its owner only.

use std::fmt;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// The keys a request may present.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keys {
    pub api_key: Secret,
    pub app_key: Secret,
}

/// The file the key pair is stored in, inside the state folder.
pub const KEYS_FILE: &str = "keys.json";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The key itself, for printing once to the user who owns the lab.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl Keys {
    /// Reads the key pair of `state_dir`, creating it on first use. Returns whether it was just created.
    pub fn load_or_create(state_dir: &Path) -> anyhow::Result<(Self, bool)> {
        use anyhow::Context as _;
        let path = state_dir.join(KEYS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let keys = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a key file", path.display()))?;
                Ok((keys, false))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self {
                    api_key: Secret(random_hex(16)?),
                    app_key: Secret(random_hex(20)?),
                };
                let text = serde_json::to_string_pretty(&keys)?;
                write_private(&path, text.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok((keys, true))
            }
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|err| anyhow::anyhow!("no randomness for a new key: {err}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates `path` with mode 0600 (owner only) and writes `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_in_datadog_formats() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, created) = Keys::load_or_create(dir.path()).unwrap();
        assert!(created);
        assert_eq!(keys.api_key.expose().len(), 32);
        assert_eq!(keys.app_key.expose().len(), 40);
        assert!(keys.api_key.expose().chars().all(|c| c.is_ascii_hexdigit()));
        let (again, created) = Keys::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.api_key, keys.api_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEYS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            format!("{keys:?}"),
            "Keys { api_key: ********, app_key: ******** }"
        );
    }

    #[test]
    fn matching() {
        let key = Secret::new("abc");
        assert!(key.matches("abc"));
        assert!(!key.matches("abd"));
        assert!(!key.matches("ab"));
    }
}
