//! Configuration: what the user wrote (`RawConfig` layers: flags, environment, an optional
//! TOML file, with that precedence) and what the server runs with (`Config`: validated once,
//! passed in an `Arc`). Environment names derive from the keys (`GOSHELF_<KEY>`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::gomod::zip::MAX_ZIP_FILE;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
/// Default HTTPS listen address, when TLS is configured and `tls_listen` is not.
pub const DEFAULT_TLS_LISTEN: &str = "0.0.0.0:8443";
/// The value of `listen` that turns the plain HTTP listener off.
pub const LISTEN_OFF: &str = "off";
/// A client must finish its TLS handshake within this time.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default database file.
pub const DEFAULT_DB: &str = "./goshelf.redb";
/// Default and ceiling of `--max-upload`: the go command's own zip limit, 500 MiB.
pub const DEFAULT_MAX_UPLOAD: u64 = MAX_ZIP_FILE;
/// How long a request in flight may run on after SIGINT/SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default of `upload_idle_timeout`: an upload that sends nothing for this long is
/// abandoned (408).
pub const DEFAULT_UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `header_timeout`: a client must send its request headers within this time.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Ceiling of both timeouts: an hour.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

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
    /// Seconds an upload may send nothing before it is abandoned with 408.
    pub upload_idle_timeout: Option<String>,
    /// Seconds a client has to send its request headers.
    pub header_timeout: Option<String>,
    /// HTTPS listen address.
    pub tls_listen: Option<String>,
    /// PEM certificate chain file (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key file (with `tls_cert`).
    pub tls_key: Option<PathBuf>,
    /// Comma-separated host names and IPs for a certificate from a local CA kept in the
    /// database.
    pub tls_self_signed: Option<String>,
    /// Plain HTTP answers 308 to the HTTPS URL instead of serving (`true`/`false`).
    #[serde(default, deserialize_with = "bool_or_string")]
    pub redirect_http: Option<String>,
    /// Compact the file when the server stops, if holes left by redb's growth make it much
    /// longer than its blocks on disk (`true`/`false`).
    #[serde(default, deserialize_with = "bool_or_string")]
    pub compact_on_stop: Option<String>,
}

/// `redirect_http = true` and `redirect_http = "true"` both work in the file.
fn bool_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        Text(String),
    }
    let v: Option<BoolOrString> = serde::Deserialize::deserialize(d)?;
    Ok(v.map(|v| match v {
        BoolOrString::Bool(b) => b.to_string(),
        BoolOrString::Text(t) => t,
    }))
}

/// Every configuration key, as written in the file; the environment variable is
/// `GOSHELF_` + the key in upper case, the flag `--` + the key with `-` for `_`.
pub const KEYS: [&str; 13] = [
    "listen",
    "db",
    "max_upload",
    "admin_token",
    "auth_failures_per_minute",
    "upload_idle_timeout",
    "header_timeout",
    "tls_listen",
    "tls_cert",
    "tls_key",
    "tls_self_signed",
    "redirect_http",
    "compact_on_stop",
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
            .field("upload_idle_timeout", &self.upload_idle_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("tls_listen", &self.tls_listen)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_self_signed", &self.tls_self_signed)
            .field("redirect_http", &self.redirect_http)
            .field("compact_on_stop", &self.compact_on_stop)
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
            "upload_idle_timeout" => self.upload_idle_timeout.clone(),
            "header_timeout" => self.header_timeout.clone(),
            "tls_listen" => self.tls_listen.clone(),
            "tls_cert" => self.tls_cert.as_ref().map(|p| p.display().to_string()),
            "tls_key" => self.tls_key.as_ref().map(|p| p.display().to_string()),
            "tls_self_signed" => self.tls_self_signed.clone(),
            "redirect_http" => self.redirect_http.clone(),
            "compact_on_stop" => self.compact_on_stop.clone(),
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
            upload_idle_timeout: get("upload_idle_timeout"),
            header_timeout: get("header_timeout"),
            tls_listen: get("tls_listen"),
            tls_cert: get("tls_cert").map(PathBuf::from),
            tls_key: get("tls_key").map(PathBuf::from),
            tls_self_signed: get("tls_self_signed"),
            redirect_http: get("redirect_http"),
            compact_on_stop: get("compact_on_stop"),
        }
    }

    /// The layer read from a TOML file. A relative `db`, `tls_cert` or `tls_key` is taken
    /// relative to the file.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, or an unknown key.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::File(path.to_owned(), e.to_string()))?;
        let mut raw: RawConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::File(path.to_owned(), e.to_string().trim().to_owned()))?;
        if let Some(dir) = path.parent() {
            for p in [&mut raw.db, &mut raw.tls_cert, &mut raw.tls_key]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
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
                "upload_idle_timeout" => merged.upload_idle_timeout = value,
                "header_timeout" => merged.header_timeout = value,
                "tls_listen" => merged.tls_listen = value,
                "tls_cert" => merged.tls_cert = value.map(PathBuf::from),
                "tls_key" => merged.tls_key = value.map(PathBuf::from),
                "tls_self_signed" => merged.tls_self_signed = value,
                "redirect_http" => merged.redirect_http = value,
                "compact_on_stop" => merged.compact_on_stop = value,
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
            "listen" => config
                .listen
                .map_or_else(|| LISTEN_OFF.to_owned(), |a| a.to_string()),
            "tls_listen" => config
                .tls
                .as_ref()
                .map_or_else(|| "(no TLS)".to_owned(), |t| t.listen.to_string()),
            "tls_cert" => match config.tls.as_ref().map(|t| &t.source) {
                Some(TlsSource::Files { cert, .. }) => cert.display().to_string(),
                _ => "(unset)".into(),
            },
            "tls_key" => match config.tls.as_ref().map(|t| &t.source) {
                Some(TlsSource::Files { key, .. }) => key.display().to_string(),
                _ => "(unset)".into(),
            },
            "tls_self_signed" => match config.tls.as_ref().map(|t| &t.source) {
                Some(TlsSource::SelfSigned { names }) => names.join(","),
                _ => "(unset)".into(),
            },
            "redirect_http" => config.redirect_http.to_string(),
            "compact_on_stop" => config.compact_on_stop.to_string(),
            "db" => config.db.display().to_string(),
            "max_upload" => config.max_upload.to_string(),
            "auth_failures_per_minute" => config.auth_failures_per_minute.to_string(),
            "upload_idle_timeout" => format!("{}s", config.upload_idle_timeout.as_secs()),
            "header_timeout" => format!("{}s", config.header_timeout.as_secs()),
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
    #[error(
        "{key} (--{flag}, {env}): {value:?} is not a number of seconds from 1 to 3600, like \
         60 or 60s"
    )]
    Timeout {
        key: &'static str,
        flag: String,
        env: String,
        value: String,
    },
    #[error("db (--db, GOSHELF_DB): {0}")]
    Db(String),
    #[error("{0}")]
    Tls(String),
    #[error("{key} (--{flag}, {env}): {value:?} is not true or false")]
    Bool {
        key: &'static str,
        flag: String,
        env: String,
        value: String,
    },
    #[error("configuration file {path}: {reason}", path = .0.display(), reason = .1)]
    File(PathBuf, String),
}

/// HTTPS serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub listen: SocketAddr,
    pub source: TlsSource,
}

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files given by the user (absolute paths).
    Files { cert: PathBuf, key: PathBuf },
    /// A local CA kept in the database, and a server certificate for these names (normalized
    /// by `tls::parse_names`).
    SelfSigned { names: Vec<String> },
}

/// The validated configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    /// The plain HTTP listener; `None` when turned off (`listen = "off"`, HTTPS only).
    pub listen: Option<SocketAddr>,
    /// The HTTPS listener and where its certificate comes from; `None` without TLS.
    pub tls: Option<TlsConfig>,
    /// Plain HTTP answers 308 to the HTTPS URL instead of serving.
    pub redirect_http: bool,
    /// Absolute path of the database file.
    pub db: PathBuf,
    pub max_upload: u64,
    /// `admin`'s token for a first start; `None` generates one.
    pub admin_token: Option<String>,
    /// Failed authentications per minute per address before 429; 0: no limit.
    pub auth_failures_per_minute: u32,
    /// An upload that sends nothing for this long is abandoned (408).
    pub upload_idle_timeout: Duration,
    /// A client must send its request headers within this time.
    pub header_timeout: Duration,
    /// Compact the file at a graceful stop when it is worth it (`store::FileSpace`).
    pub compact_on_stop: bool,
}

/// A yes/no setting: `true`/`false`, also `1`/`0`, `yes`/`no`, `on`/`off`; empty is `false`.
fn resolve_bool(key: &'static str, text: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::Bool {
            key,
            flag: key.replace('_', "-"),
            env: env_name(key),
            value: text.to_owned(),
        }),
    }
}

/// A timeout setting: whole seconds, with or without an `s` suffix, from 1 s to an hour.
fn resolve_timeout(
    key: &'static str,
    text: Option<&str>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(text) = text else {
        return Ok(default);
    };
    let t = text.trim();
    let digits = t.strip_suffix('s').unwrap_or(t).trim_end();
    match digits.parse::<u64>() {
        Ok(n) if n >= 1 && n <= MAX_TIMEOUT.as_secs() => Ok(Duration::from_secs(n)),
        _ => Err(ConfigError::Timeout {
            key,
            flag: key.replace('_', "-"),
            env: env_name(key),
            value: text.to_owned(),
        }),
    }
}

impl RawConfig {
    /// Validates and resolves: parses the address and size, makes the path absolute.
    ///
    /// # Errors
    /// A `ConfigError` naming the first bad setting.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let listen_text = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN).trim();
        let listen: Option<SocketAddr> = if listen_text.eq_ignore_ascii_case(LISTEN_OFF) {
            None
        } else {
            Some(
                listen_text
                    .parse()
                    .map_err(|_| ConfigError::Listen(listen_text.to_owned()))?,
            )
        };
        let (tls, redirect_http) = self.resolve_tls(listen.is_some())?;
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
        let upload_idle_timeout = resolve_timeout(
            "upload_idle_timeout",
            self.upload_idle_timeout.as_deref(),
            DEFAULT_UPLOAD_IDLE_TIMEOUT,
        )?;
        let header_timeout = resolve_timeout(
            "header_timeout",
            self.header_timeout.as_deref(),
            DEFAULT_HEADER_TIMEOUT,
        )?;
        let compact_on_stop =
            resolve_bool("compact_on_stop", self.compact_on_stop.as_deref(), true)?;
        Ok(Config {
            listen,
            tls,
            redirect_http,
            db,
            max_upload,
            admin_token,
            auth_failures_per_minute,
            upload_idle_timeout,
            header_timeout,
            compact_on_stop,
        })
    }
}

impl RawConfig {
    fn resolve_tls(&self, plain: bool) -> Result<(Option<TlsConfig>, bool), ConfigError> {
        let err = |m: &str| Err(ConfigError::Tls(m.to_owned()));
        let redirect_http = resolve_bool("redirect_http", self.redirect_http.as_deref(), false)?;
        let source = match (&self.tls_cert, &self.tls_key, &self.tls_self_signed) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return err(
                    "tls_self_signed (--tls-self-signed) and tls_cert/tls_key (--tls-cert, \
                     --tls-key) exclude each other: choose your own certificate or a local CA",
                )
            }
            (Some(cert), Some(key), None) => Some(TlsSource::Files {
                cert: std::path::absolute(cert)
                    .map_err(|e| ConfigError::Tls(format!("tls_cert: {e}")))?,
                key: std::path::absolute(key)
                    .map_err(|e| ConfigError::Tls(format!("tls_key: {e}")))?,
            }),
            (Some(_), None, None) => {
                return err("tls_cert (--tls-cert) needs tls_key (--tls-key, GOSHELF_TLS_KEY)")
            }
            (None, Some(_), None) => {
                return err("tls_key (--tls-key) needs tls_cert (--tls-cert, GOSHELF_TLS_CERT)")
            }
            (None, None, Some(names)) => Some(TlsSource::SelfSigned {
                names: crate::tls::parse_names(names).map_err(|e| {
                    ConfigError::Tls(format!(
                        "tls_self_signed (--tls-self-signed, GOSHELF_TLS_SELF_SIGNED): {e}"
                    ))
                })?,
            }),
            (None, None, None) => None,
        };
        let Some(source) = source else {
            if self.tls_listen.is_some() {
                return err(
                    "tls_listen (--tls-listen) needs a certificate: --tls-cert and --tls-key, \
                     or --tls-self-signed NAMES",
                );
            }
            if redirect_http {
                return err("redirect_http (--redirect-http) needs HTTPS to redirect to");
            }
            if !plain {
                return err(
                    "listen = off turns plain HTTP off, but no HTTPS is configured; nothing \
                     would be served",
                );
            }
            return Ok((None, false));
        };
        if redirect_http && !plain {
            return err("redirect_http (--redirect-http) needs the plain listener (listen is off)");
        }
        let text = self
            .tls_listen
            .as_deref()
            .unwrap_or(DEFAULT_TLS_LISTEN)
            .trim();
        let listen: SocketAddr = text.parse().map_err(|_| {
            ConfigError::Tls(format!(
                "tls_listen (--tls-listen, GOSHELF_TLS_LISTEN): {text:?} is not an address \
                 like 0.0.0.0:8443"
            ))
        })?;
        Ok((Some(TlsConfig { listen, source }), redirect_http))
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("redirect_http", &self.redirect_http)
            .field("db", &self.db)
            .field("max_upload", &self.max_upload)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .field("upload_idle_timeout", &self.upload_idle_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("compact_on_stop", &self.compact_on_stop)
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
    fn compact_on_stop_is_on_unless_turned_off() {
        let with = |v: Option<&str>| {
            RawConfig {
                compact_on_stop: v.map(str::to_owned),
                ..RawConfig::default()
            }
            .resolve()
        };
        assert!(with(None).unwrap().compact_on_stop);
        for on in ["true", "1", "YES", " on "] {
            assert!(with(Some(on)).unwrap().compact_on_stop, "{on}");
        }
        for off in ["false", "0", "no", "off"] {
            assert!(!with(Some(off)).unwrap().compact_on_stop, "{off}");
        }
        let e = with(Some("sometimes")).err().unwrap().to_string();
        assert_eq!(
            e,
            "compact_on_stop (--compact-on-stop, GOSHELF_COMPACT_ON_STOP): \"sometimes\" is \
             not true or false"
        );
        // The file may say it as a TOML boolean.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("goshelf.toml");
        std::fs::write(&p, "compact_on_stop = false\n").unwrap();
        let raw = RawConfig::from_file(&p).unwrap();
        assert!(!raw.resolve().unwrap().compact_on_stop);
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
        assert_eq!(c.listen.unwrap().to_string(), "127.0.0.1:1");
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
        assert_eq!(c.listen.unwrap().to_string(), DEFAULT_LISTEN);
        assert_eq!(c.tls, None);
        assert!(!c.redirect_http);
        assert_eq!(c.max_upload, 500 << 20);
        assert!(c.db.is_absolute());
        assert!(c.db.ends_with("goshelf.redb"));
        assert_eq!(c.upload_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.header_timeout, Duration::from_secs(30));
    }

    #[test]
    fn timeouts_take_seconds_with_or_without_s_and_refuse_the_rest() {
        let with = |idle: &str, header: &str| {
            RawConfig {
                upload_idle_timeout: Some(idle.into()),
                header_timeout: Some(header.into()),
                ..RawConfig::default()
            }
            .resolve()
        };
        let c = with("120", " 5s ").unwrap();
        assert_eq!(c.upload_idle_timeout, Duration::from_secs(120));
        assert_eq!(c.header_timeout, Duration::from_secs(5));
        assert_eq!(with("3600s", "1").unwrap().upload_idle_timeout, MAX_TIMEOUT);
        for bad in ["0", "3601", "-1", "1.5", "1m", "", "s", "ten"] {
            let e = with(bad, "30").unwrap_err().to_string();
            assert!(
                e.starts_with(
                    "upload_idle_timeout (--upload-idle-timeout, GOSHELF_UPLOAD_IDLE_TIMEOUT)"
                ),
                "{bad:?}: {e}"
            );
            let e = with("60", bad).unwrap_err().to_string();
            assert!(
                e.contains("header_timeout (--header-timeout, GOSHELF_HEADER_TIMEOUT): "),
                "{e}"
            );
            assert!(e.contains("1 to 3600"), "{e}");
        }
    }

    #[test]
    fn resolve_tls_combinations() {
        let ok = |raw: RawConfig| raw.resolve().unwrap();
        let bad = |raw: RawConfig| raw.resolve().unwrap_err().to_string();
        let c = ok(RawConfig {
            tls_self_signed: Some("localhost, 127.0.0.1".into()),
            ..RawConfig::default()
        });
        let tls = c.tls.unwrap();
        assert_eq!(tls.listen.to_string(), DEFAULT_TLS_LISTEN);
        assert_eq!(
            tls.source,
            TlsSource::SelfSigned {
                names: vec!["127.0.0.1".into(), "localhost".into()]
            }
        );
        let c = ok(RawConfig {
            listen: Some("OFF".into()),
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            tls_listen: Some("127.0.0.1:9443".into()),
            ..RawConfig::default()
        });
        assert_eq!(c.listen, None);
        assert!(matches!(
            c.tls.unwrap().source,
            TlsSource::Files { cert, key } if cert.is_absolute() && key.ends_with("k.pem")
        ));
        let c = ok(RawConfig {
            tls_self_signed: Some("localhost".into()),
            redirect_http: Some("yes".into()),
            ..RawConfig::default()
        });
        assert!(c.redirect_http);

        for (raw, needle) in [
            (
                RawConfig {
                    tls_cert: Some("c.pem".into()),
                    ..RawConfig::default()
                },
                "needs tls_key",
            ),
            (
                RawConfig {
                    tls_cert: Some("c.pem".into()),
                    tls_key: Some("k.pem".into()),
                    tls_self_signed: Some("localhost".into()),
                    ..RawConfig::default()
                },
                "exclude each other",
            ),
            (
                RawConfig {
                    tls_listen: Some("0.0.0.0:8443".into()),
                    ..RawConfig::default()
                },
                "needs a certificate",
            ),
            (
                RawConfig {
                    redirect_http: Some("true".into()),
                    ..RawConfig::default()
                },
                "needs HTTPS",
            ),
            (
                RawConfig {
                    listen: Some("off".into()),
                    ..RawConfig::default()
                },
                "nothing would be served",
            ),
            (
                RawConfig {
                    listen: Some("off".into()),
                    tls_self_signed: Some("localhost".into()),
                    redirect_http: Some("true".into()),
                    ..RawConfig::default()
                },
                "needs the plain listener",
            ),
            (
                RawConfig {
                    tls_self_signed: Some("nas lan".into()),
                    ..RawConfig::default()
                },
                "not a host name",
            ),
            (
                RawConfig {
                    tls_self_signed: Some("localhost".into()),
                    redirect_http: Some("maybe".into()),
                    ..RawConfig::default()
                },
                "not true or false",
            ),
        ] {
            let e = bad(raw);
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
        }
    }

    #[test]
    fn from_file_reads_tls_keys_and_boolean_redirect() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("goshelf.toml");
        std::fs::write(
            &p,
            "tls_cert = \"tls/c.pem\"\ntls_key = \"/k.pem\"\nredirect_http = true\n",
        )
        .unwrap();
        let raw = RawConfig::from_file(&p).unwrap();
        assert_eq!(raw.tls_cert, Some(dir.path().join("tls/c.pem")));
        assert_eq!(raw.tls_key, Some(PathBuf::from("/k.pem")));
        assert_eq!(raw.redirect_http.as_deref(), Some("true"));
    }
}
