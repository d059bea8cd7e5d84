//! Configuration: what the user wrote (`RawConfig` layers: flags, environment, an optional
//! TOML file, with that precedence) and what the server runs with (`Config`: validated once,
//! passed in an `Arc`). Environment names derive from the keys (`GOSHELF_<KEY>`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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

/// Default of `auth_failures_per_minute`: failed authentications one address may make per
/// minute (and in a burst) before it gets 429.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 10;

/// What the user asked for, before validation: one layer (flags, environment or file).
/// Every field is optional; a missing one falls through to the next layer.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub db: Option<PathBuf>,
    pub max_upload: Option<String>,
    /// Token of `admin` on first start (secret: never printed).
    pub admin_token: Option<String>,
    /// Failed authentications per minute per address before 429; 0 turns the limit off.
    pub auth_failures_per_minute: Option<String>,
}

/// Every configuration key, as written in the file; the environment variable is
/// `GOSHELF_` + the key in upper case, the flag `--` + the key with `-` for `_`.
pub const KEYS: [&str; 5] = [
    "listen",
    "db",
    "max_upload",
    "admin_token",
    "auth_failures_per_minute",
];

/// Keys whose values are never printed.
const SECRET_KEYS: [&str; 1] = ["admin_token"];

/// The environment variable of a key.
#[must_use]
pub fn env_name(key: &str) -> String {
    format!("GOSHELF_{}", key.to_ascii_uppercase())
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConfig")
            .field("listen", &self.listen)
            .field("db", &self.db)
            .field("max_upload", &self.max_upload)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .finish()
    }
}

impl RawConfig {
    fn get(&self, key: &str) -> Option<String> {
        match key {
            "listen" => self.listen.clone(),
            "db" => self.db.as_ref().map(|p| p.display().to_string()),
            "max_upload" => self.max_upload.clone(),
            "admin_token" => self.admin_token.clone(),
            "auth_failures_per_minute" => self.auth_failures_per_minute.clone(),
            _ => None,
        }
    }

    /// The layer read from the environment (`GOSHELF_<KEY>`); empty values count as unset.
    #[must_use]
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| lookup(&env_name(k)).filter(|v| !v.trim().is_empty());
        Self {
            listen: get("listen"),
            db: get("db").map(PathBuf::from),
            max_upload: get("max_upload"),
            admin_token: get("admin_token"),
            auth_failures_per_minute: get("auth_failures_per_minute"),
        }
    }

    /// The layer read from a TOML file. A relative `db` is taken relative to the file.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, or an unknown key.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::File(path.to_owned(), e.to_string()))?;
        let mut raw: RawConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::File(path.to_owned(), e.to_string().trim().to_owned()))?;
        if let (Some(db), Some(dir)) = (&raw.db, path.parent()) {
            if db.is_relative() {
                raw.db = Some(dir.join(db));
            }
        }
        Ok(raw)
    }

    /// Merges layers by precedence: flags over environment over file over defaults. Returns
    /// the merged layer and, per key, where its value came from.
    #[must_use]
    pub fn layered(
        flags: &RawConfig,
        env: &RawConfig,
        file: Option<(&Path, &RawConfig)>,
    ) -> (RawConfig, Vec<(&'static str, Source)>) {
        let mut merged = RawConfig::default();
        let mut sources = Vec::new();
        for key in KEYS {
            let (value, source) = if let Some(v) = flags.get(key) {
                (Some(v), Source::Flag)
            } else if let Some(v) = env.get(key) {
                (Some(v), Source::Env(env_name(key)))
            } else if let Some(v) = file.and_then(|(_, f)| f.get(key)) {
                (
                    Some(v),
                    Source::File(file.map(|(p, _)| p.to_owned()).unwrap_or_default()),
                )
            } else {
                (None, Source::Default)
            };
            match key {
                "listen" => merged.listen = value,
                "db" => merged.db = value.map(PathBuf::from),
                "max_upload" => merged.max_upload = value,
                "auth_failures_per_minute" => merged.auth_failures_per_minute = value,
                _ => merged.admin_token = value,
            }
            sources.push((key, source));
        }
        (merged, sources)
    }
}

/// The effective configuration as lines `key = value  (source)`, secrets redacted.
#[must_use]
pub fn describe(config: &Config, sources: &[(&'static str, Source)]) -> String {
    let mut out = String::new();
    for (key, source) in sources {
        let value = match *key {
            "listen" => config.listen.to_string(),
            "db" => config.db.display().to_string(),
            "max_upload" => config.max_upload.to_string(),
            "auth_failures_per_minute" => config.auth_failures_per_minute.to_string(),
            k if SECRET_KEYS.contains(&k) => {
                if config.admin_token.is_some() {
                    "***".into()
                } else {
                    "(unset)".into()
                }
            }
            _ => String::new(),
        };
        out.push_str(&format!("{key} = {value}  ({source})\n"));
    }
    out
}

/// A configuration error, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("listen (--listen, GOSHELF_LISTEN): {0:?} is not an address like 0.0.0.0:8080")]
    Listen(String),
    #[error(
        "max_upload (--max-upload, GOSHELF_MAX_UPLOAD): {0:?} is not a size like 100MiB, at \
         most 500MiB (524288000 bytes, the go command's limit)"
    )]
    MaxUpload(String),
    #[error(
        "auth_failures_per_minute (--auth-failures-per-minute, GOSHELF_AUTH_FAILURES_PER_MINUTE): \
         {0:?} is not a whole number (0 turns the limit off)"
    )]
    AuthFailures(String),
    #[error("db (--db, GOSHELF_DB): {0}")]
    Db(String),
    #[error("configuration file {path}: {reason}", path = .0.display(), reason = .1)]
    File(PathBuf, String),
}

/// The validated configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Absolute path of the database file.
    pub db: PathBuf,
    pub max_upload: u64,
    /// `admin`'s token for a first start; `None` generates one.
    pub admin_token: Option<String>,
    /// Failed authentications per minute per address before 429; 0: no limit.
    pub auth_failures_per_minute: u32,
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
        let admin_token = self.admin_token.clone().filter(|t| !t.trim().is_empty());
        let auth_failures_per_minute = match &self.auth_failures_per_minute {
            None => DEFAULT_AUTH_FAILURES_PER_MINUTE,
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| ConfigError::AuthFailures(text.clone()))?,
        };
        Ok(Config {
            listen,
            db,
            max_upload,
            admin_token,
            auth_failures_per_minute,
        })
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("db", &self.db)
            .field("max_upload", &self.max_upload)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .finish()
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
    fn layered_prefers_flags_then_env_then_file() {
        let flags = RawConfig {
            listen: Some("127.0.0.1:1".into()),
            ..RawConfig::default()
        };
        let env = RawConfig {
            listen: Some("127.0.0.1:2".into()),
            max_upload: Some("2MiB".into()),
            ..RawConfig::default()
        };
        let file = RawConfig {
            listen: Some("127.0.0.1:3".into()),
            max_upload: Some("3MiB".into()),
            db: Some("/data/g.redb".into()),
            ..RawConfig::default()
        };
        let (merged, sources) =
            RawConfig::layered(&flags, &env, Some((Path::new("/etc/goshelf.toml"), &file)));
        let c = merged.resolve().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:1");
        assert_eq!(c.max_upload, 2 << 20);
        assert_eq!(c.db, PathBuf::from("/data/g.redb"));
        assert_eq!(sources[0], ("listen", Source::Flag));
        assert_eq!(sources[1], ("db", Source::File("/etc/goshelf.toml".into())));
        assert_eq!(
            sources[2],
            ("max_upload", Source::Env("GOSHELF_MAX_UPLOAD".into()))
        );
        assert_eq!(sources[3], ("admin_token", Source::Default));
    }

    #[test]
    fn from_file_rejects_unknown_keys_and_resolves_relative_db() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("goshelf.toml");
        std::fs::write(&p, "db = \"data/g.redb\"\nmax_upload = \"1MiB\"\n").unwrap();
        let raw = RawConfig::from_file(&p).unwrap();
        assert_eq!(raw.db, Some(dir.path().join("data/g.redb")));
        std::fs::write(&p, "listne = \"x\"\n").unwrap();
        let err = RawConfig::from_file(&p).unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
    }

    #[test]
    fn describe_redacts_the_admin_token() {
        let raw = RawConfig {
            admin_token: Some("s3cret".into()),
            ..RawConfig::default()
        };
        let (merged, sources) = RawConfig::layered(&raw, &RawConfig::default(), None);
        let text = describe(&merged.resolve().unwrap(), &sources);
        assert!(text.contains("admin_token = ***  (flag)"), "{text}");
        assert!(!text.contains("s3cret"));
        assert!(text.contains("listen = 0.0.0.0:8080  (default)"), "{text}");
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
