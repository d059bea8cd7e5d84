//! Configuration: what the user wrote (`RawConfig`: flags and environment, through clap) and
//! what the server runs with (`Config`: validated once, passed in an `Arc`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::gomod::zip::MAX_ZIP_FILE;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
/// Default database file.
pub const DEFAULT_DB: &str = "./goshelf.redb";
/// Default and ceiling of `--max-upload`: the go command's own zip limit, 500 MiB.
pub const DEFAULT_MAX_UPLOAD: u64 = MAX_ZIP_FILE;
/// How long a request in flight may run on after SIGINT/SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// An upload that sends nothing for this long is abandoned (408).
pub const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the user asked for, before validation. Every field is optional.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub db: Option<PathBuf>,
    pub max_upload: Option<String>,
}

/// A configuration error, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--listen (GOSHELF_LISTEN): {0:?} is not an address like 0.0.0.0:8080")]
    Listen(String),
    #[error(
        "--max-upload (GOSHELF_MAX_UPLOAD): {0:?} is not a size like 100MiB, at most 500MiB \
         (524288000 bytes, the go command's limit)"
    )]
    MaxUpload(String),
    #[error("--db (GOSHELF_DB): {0}")]
    Db(String),
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Absolute path of the database file.
    pub db: PathBuf,
    pub max_upload: u64,
}

impl RawConfig {
    /// Validates and resolves: parses the address and size, makes the path absolute.
    ///
    /// # Errors
    /// A `ConfigError` naming the first bad setting.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let listen_text = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| ConfigError::Listen(listen_text.to_owned()))?;
        let max_upload = match &self.max_upload {
            None => DEFAULT_MAX_UPLOAD,
            Some(text) => match parse_size(text) {
                Some(n) if n > 0 && n <= MAX_ZIP_FILE => n,
                _ => return Err(ConfigError::MaxUpload(text.clone())),
            },
        };
        let db = self.db.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DB));
        if db.as_os_str().is_empty() {
            return Err(ConfigError::Db("empty path".into()));
        }
        let db = std::path::absolute(&db).map_err(|e| ConfigError::Db(e.to_string()))?;
        Ok(Config {
            listen,
            db,
            max_upload,
        })
    }
}

/// Parses `1234`, `64KiB`, `100MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, all binary).
#[must_use]
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_size_accepts_binary_units() {
        assert_eq!(parse_size("1234"), Some(1234));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("100MiB"), Some(100 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("12x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn resolve_rejects_upload_limit_above_go_limit() {
        let raw = RawConfig {
            max_upload: Some("501MiB".into()),
            ..RawConfig::default()
        };
        assert!(matches!(raw.resolve(), Err(ConfigError::MaxUpload(_))));
    }

    #[test]
    fn resolve_defaults_are_documented_values() {
        let c = RawConfig::default().resolve().unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.max_upload, 500 << 20);
        assert!(c.db.is_absolute());
        assert!(c.db.ends_with("goshelf.redb"));
    }
}
