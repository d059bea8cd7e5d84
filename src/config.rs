//! Configuration: what the user wrote (`RawConfig`: one layer each from flags, the
//! environment and an optional TOML file, merged with that precedence) and what the server
//! runs with (`Config`: validated once, passed in an `Arc`).
//!
//! Every setting is declared once, in [`SETTINGS`] (the `settings!` table below): its name is
//! the file key, the environment variable (`GOSHELF_<NAME>`) and the flag (`--name-with-dashes`)
//! are derived from it, and the command line (`cli::ServeArgs`), the layering, `goshelf config
//! check` and the redaction of secrets all read the table. A key cannot be half-added: without a
//! table entry it does not exist, and with one it exists everywhere. `RawConfig::resolve` then
//! turns the strings into the typed `Config`.

use std::collections::BTreeMap;
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
/// Default of `upload_idle_timeout`: a request body that sends nothing for this long is
/// abandoned (408).
pub const DEFAULT_UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `header_timeout`: a client must send its request headers within this time.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `send_timeout`: a response write that makes no progress for this long ends the
/// connection.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Ceiling of every timeout: an hour.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default of `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of `max_connections_per_ip`.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// Ceiling of both connection caps.
pub const MAX_CONNECTIONS_CEILING: usize = 1 << 20;

/// Default of `auth_failures_per_minute`: failed authentications one address may make per
/// minute (and in a burst) before it gets 429.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 10;

/// The least strength, in bits, of an admin token the operator chooses.
pub const MIN_ADMIN_TOKEN_BITS: f64 = 128.0;

/// How a setting appears on the command line of `goshelf serve` and `goshelf config check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `--name VALUE`; the text is clap's value name.
    Value(&'static str),
    /// `--name` alone means `true`; `--name false` turns it off.
    Switch,
    /// A secret: environment and file only, never on a command line (`ps` shows those).
    None,
}

/// One setting, as the table declares it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: Key,
    /// The key in the file; the flag is `--` and this with `-` for `_`, the environment
    /// variable `GOSHELF_` and this in upper case.
    pub name: &'static str,
    pub flag: Flag,
    /// The default, as `--help`, `config check` and README show it.
    pub default: &'static str,
    /// One or two sentences for `--help`.
    pub help: &'static str,
    /// Never printed (`config check` shows `***`).
    pub secret: bool,
    /// A path: taken relative to the configuration file when set there.
    pub path: bool,
    /// The effective value for `config check`.
    pub show: fn(&Config) -> String,
}

impl Setting {
    /// `GOSHELF_<NAME>`.
    #[must_use]
    pub fn env(&self) -> String {
        env_name(self.name)
    }

    /// `name-with-dashes` (the flag without its `--`).
    #[must_use]
    pub fn flag_name(&self) -> String {
        self.name.replace('_', "-")
    }

    /// How an error message names the setting: `name (--flag, GOSHELF_NAME)`.
    #[must_use]
    pub fn label(&self) -> String {
        match self.flag {
            Flag::None => format!("{} ({})", self.name, self.env()),
            _ => format!("{} (--{}, {})", self.name, self.flag_name(), self.env()),
        }
    }
}

macro_rules! settings {
    ($( $variant:ident { $($field:ident : $value:expr),* $(,)? } )*) => {
        /// Every setting's identity; `Key::setting` gives its declaration.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Key { $($variant),* }

        /// Every setting, in the order `config check` and README list them.
        pub const SETTINGS: &[Setting] = &[
            $( Setting { key: Key::$variant, $($field: $value),* } ),*
        ];
    };
}

/// A size as `parse_size` reads it: `KiB` or `MiB` when whole.
fn size_text(n: u64) -> String {
    if n > 0 && n.is_multiple_of(1 << 20) {
        format!("{}MiB", n >> 20)
    } else if n > 0 && n.is_multiple_of(1 << 10) {
        format!("{}KiB", n >> 10)
    } else {
        n.to_string()
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

settings! {
    Listen {
        name: "listen", flag: Flag::Value("ADDR"), default: DEFAULT_LISTEN,
        help: "Plain HTTP address and port; port 0 picks a free one (printed at startup); `off` \
               serves HTTPS only.",
        secret: false, path: false,
        show: |c| c.listen.map_or_else(|| LISTEN_OFF.to_owned(), |a| a.to_string()),
    }
    Db {
        name: "db", flag: Flag::Value("FILE"), default: DEFAULT_DB,
        help: "The database file, created when absent (relative to the configuration file \
               when set there); one file holds everything.",
        secret: false, path: true,
        show: |c| c.db.display().to_string(),
    }
    MaxUpload {
        name: "max_upload", flag: Flag::Value("SIZE"), default: "500MiB",
        help: "Largest upload accepted, e.g. 100MiB; 500MiB (the go command's own limit for a \
               module zip) is also the ceiling.",
        secret: false, path: false,
        show: |c| c.max_upload.to_string(),
    }
    AdminToken {
        name: "admin_token", flag: Flag::None, default: "generated",
        help: "The token of `admin`, used only when the database has no user; at least 128 \
               bits' worth (e.g. `openssl rand -hex 16`).",
        secret: true, path: false,
        show: |c| if c.admin_token.is_some() { "***".into() } else { "(unset)".into() },
    }
    AuthFailuresPerMinute {
        name: "auth_failures_per_minute", flag: Flag::Value("N"), default: "10",
        help: "Failed authentications (and web sign-ins) one address (an IPv6 /64 counting as \
               one) may make per minute before it is answered 429 with Retry-After; 0 turns the \
               limit off.",
        secret: false, path: false,
        show: |c| c.auth_failures_per_minute.to_string(),
    }
    UploadIdleTimeout {
        name: "upload_idle_timeout", flag: Flag::Value("SECONDS"), default: "60",
        help: "Seconds a request body (an upload above all) may send nothing before it is \
               abandoned with 408; 1 to 3600.",
        secret: false, path: false,
        show: |c| secs(c.upload_idle_timeout),
    }
    HeaderTimeout {
        name: "header_timeout", flag: Flag::Value("SECONDS"), default: "30",
        help: "Seconds a client has to send its request headers, counted from the end of the \
               previous answer on a kept-alive connection (so an idle connection is closed \
               after it); small bodies (forms, JSON) must arrive within it too; 1 to 3600.",
        secret: false, path: false,
        show: |c| secs(c.header_timeout),
    }
    SendTimeout {
        name: "send_timeout", flag: Flag::Value("SECONDS"), default: "60",
        help: "Seconds a response may wait for the client to take any of its bytes before the \
               connection is closed; 1 to 3600.",
        secret: false, path: false,
        show: |c| secs(c.send_timeout),
    }
    MaxConnections {
        name: "max_connections", flag: Flag::Value("N"), default: "1024",
        help: "Connections served at once (plain and HTTPS together); at the cap idle \
               keep-alive connections are closed first, then new ones wait. Lowered to what \
               the open-file limit allows.",
        secret: false, path: false,
        show: |c| c.max_connections.to_string(),
    }
    MaxConnectionsPerIp {
        name: "max_connections_per_ip", flag: Flag::Value("N"), default: "256",
        help: "Connections one client address (an IPv6 /64 counting as one) may hold at once; \
               past it its idle ones are closed, else the new one is answered 503.",
        secret: false, path: false,
        show: |c| c.max_connections_per_ip.to_string(),
    }
    UploadConcurrency {
        name: "upload_concurrency", flag: Flag::Value("N"), default: "the CPU cores",
        help: "Uploads validated and stored at once; others wait their turn (their bytes wait \
               on disk, not in memory).",
        secret: false, path: false,
        show: |c| c.upload_concurrency.to_string(),
    }
    TlsListen {
        name: "tls_listen", flag: Flag::Value("ADDR"), default: "0.0.0.0:8443 (with a certificate)",
        help: "HTTPS listen address; needs --tls-cert/--tls-key or --tls-self-signed.",
        secret: false, path: false,
        show: |c| c.tls.as_ref().map_or_else(|| "(no TLS)".to_owned(), |t| t.listen.to_string()),
    }
    TlsCert {
        name: "tls_cert", flag: Flag::Value("FILE"), default: "",
        help: "PEM certificate chain, leaf first; with --tls-key (relative to the \
               configuration file when set there).",
        secret: false, path: true,
        show: |c| match c.tls.as_ref().map(|t| &t.source) {
            Some(TlsSource::Files { cert, .. }) => cert.display().to_string(),
            _ => "(unset)".into(),
        },
    }
    TlsKey {
        name: "tls_key", flag: Flag::Value("FILE"), default: "",
        help: "PEM private key: PKCS#8, RSA or EC; with --tls-cert.",
        secret: false, path: true,
        show: |c| match c.tls.as_ref().map(|t| &t.source) {
            Some(TlsSource::Files { key, .. }) => key.display().to_string(),
            _ => "(unset)".into(),
        },
    }
    TlsSelfSigned {
        name: "tls_self_signed", flag: Flag::Value("NAMES"), default: "",
        help: "Serve HTTPS with a certificate for these comma-separated host names and IPs, \
               issued by a local CA kept in the database (`goshelf ca export` prints it), e.g. \
               nas.lan,192.168.1.10,localhost,127.0.0.1.",
        secret: false, path: false,
        show: |c| match c.tls.as_ref().map(|t| &t.source) {
            Some(TlsSource::SelfSigned { names }) => names.join(","),
            _ => "(unset)".into(),
        },
    }
    RedirectHttp {
        name: "redirect_http", flag: Flag::Switch, default: "false",
        help: "Plain HTTP answers 308 to the HTTPS URL instead of serving; `--listen off` turns \
               plain HTTP off altogether.",
        secret: false, path: false,
        show: |c| c.redirect_http.to_string(),
    }
    PlainHttpSignin {
        name: "plain_http_signin", flag: Flag::Switch, default: "false",
        help: "With HTTPS served beside plain HTTP, let the web sign-in work over plain HTTP too \
               (by default it is redirected to HTTPS, so passwords never cross the LAN in clear).",
        secret: false, path: false,
        show: |c| c.plain_http_signin.to_string(),
    }
    CompactOnStop {
        name: "compact_on_stop", flag: Flag::Switch, default: "true",
        help: "At a graceful stop, compact the file when holes left by redb's growth make it \
               much longer than its blocks on disk (by more than 1/16 of them and 32 MiB); \
               such a stop takes seconds per GB.",
        secret: false, path: false,
        show: |c| c.compact_on_stop.to_string(),
    }
    QuickRepair {
        name: "quick_repair", flag: Flag::Switch, default: "true",
        help: "Every commit also records redb's allocator state, so that a start after a crash \
               or power loss is immediate. Off: each commit writes less (the state grows with \
               the file: about 100 KB per GB, on every upload), but the first start after a \
               crash reads and checks the whole file. Durability is the same either way.",
        secret: false, path: false,
        show: |c| c.quick_repair.to_string(),
    }
    RetentionSchedule {
        name: "retention_schedule", flag: Flag::Value("INTERVAL"), default: "off",
        help: "How often a running server applies the namespaces' retention rules \
               (`goshelf owner set-retention`), at its start and then every interval: 12h, 1d, \
               7d (from 1h), or `off` (run them with `goshelf retention run`).",
        secret: false, path: false,
        show: |c| c.retention_schedule.map_or_else(|| "off".to_owned(), |d| format!("{}h", d.as_secs() / 3600)),
    }
    SumdbName {
        name: "sumdb_name", flag: Flag::Value("NAME"),
        default: "<hostname>/sumdb/<8 hex chosen at first start>",
        help: "Name of the shelf's checksum database, used only when the log is made (first \
               start); a log keeps its name and key forever, since clients remember them \
               (`goshelf sumdb key` prints the GOSUMDB value).",
        secret: false, path: false,
        show: |c| c.sumdb_name.clone().unwrap_or_else(|| "<hostname>/sumdb/<8 hex chosen at first start>".into()),
    }
    SumdbReaders {
        name: "sumdb_readers", flag: Flag::Value("WHO"), default: "anyone",
        help: "`anyone`: versions of public namespaces are logged and anyone may read the log; \
               `signed-in`: every namespace is logged and only clients with a token may read \
               it (they need HTTPS, the go command sends credentials over HTTPS only).",
        secret: false, path: false,
        show: |c| c.sumdb_readers.as_str().to_owned(),
    }
    UpstreamSumdb {
        name: "upstream_sumdb", flag: Flag::Value("GOSUMDB"), default: "sum.golang.org",
        help: "Where lookups of public modules the shelf does not host are verified and \
               appended from, in GOSUMDB syntax (`sum.golang.org`, `<vkey>`, `<vkey> <url>`), \
               or `off`.",
        secret: false, path: false,
        show: |c| c.upstream_sumdb.as_ref().map_or_else(|| "off".to_owned(), |u| u.to_string()),
    }
    Offline {
        name: "offline", flag: Flag::Switch, default: "false",
        help: "Fetch nothing from any upstream (an air-gapped shelf): modules and checksum \
               lookups not on the shelf are answered 404 saying so.",
        secret: false, path: false,
        show: |c| c.offline.to_string(),
    }
    UpstreamConnectTimeout {
        name: "upstream_connect_timeout", flag: Flag::Value("SECONDS"), default: "10s",
        help: "Seconds to connect to an upstream; 1 to 3600.",
        secret: false, path: false,
        show: |c| secs(c.upstream_connect_timeout),
    }
    UpstreamTimeout {
        name: "upstream_timeout", flag: Flag::Value("SECONDS"), default: "60s",
        help: "Seconds an upstream may send nothing before its request fails; 1 to 3600.",
        secret: false, path: false,
        show: |c| secs(c.upstream_timeout),
    }
    UpstreamConcurrency {
        name: "upstream_concurrency", flag: Flag::Value("N"), default: "16",
        help: "Upstream requests (module proxy fetches, checksum database lookups and their \
               tiles) made at once; further ones wait their turn, up to upstream_queue_timeout.",
        secret: false, path: false,
        show: |c| c.upstream_concurrency.to_string(),
    }
    UpstreamQueueTimeout {
        name: "upstream_queue_timeout", flag: Flag::Value("SECONDS"), default: "60s",
        help: "Seconds a lookup waits for its turn at the upstream before it is answered 503; \
               1 to 3600.",
        secret: false, path: false,
        show: |c| secs(c.upstream_queue_timeout),
    }
    Upstream {
        name: "upstream", flag: Flag::Value("URLS"), default: "https://proxy.golang.org",
        help: "The module proxies `/go` fetches public modules from, in GOPROXY syntax (`,`: \
               the next one after a not-found, `|`: after any error); `off`: only hosted and \
               cached modules. `direct` is refused: goshelf never runs version control tools.",
        secret: false, path: false,
        show: |c| c.upstream.iter().enumerate().map(|(i, u)| {
            let sep = if i + 1 == c.upstream.len() { "" } else if u.on_any_error { "|" } else { "," };
            format!("{}{sep}", u.url)
        }).collect(),
    }
    UpstreamNosumdb {
        name: "upstream_nosumdb", flag: Flag::Value("PATTERNS"), default: "",
        help: "Module path patterns (GOPRIVATE syntax) of upstream content no checksum database \
               covers: its hashes are pinned at the first fetch instead of verified.",
        secret: false, path: false,
        show: |c| c.upstream_nosumdb.clone(),
    }
    UpstreamCaFile {
        name: "upstream_ca_file", flag: Flag::Value("PEM"), default: "",
        help: "Certificates (PEM) an https upstream may also be signed by, such as another \
               goshelf's self-signed CA.",
        secret: false, path: true,
        show: |c| c.upstream_ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
    }
    UpstreamMinRate {
        name: "upstream_min_rate", flag: Flag::Value("SIZE"), default: "10KiB",
        help: "Bytes per second an upstream transfer must average after its first minute, or \
               it is cut; 0: no minimum.",
        secret: false, path: false,
        show: |c| size_text(c.upstream_min_rate),
    }
    ListTtl {
        name: "list_ttl", flag: Flag::Value("SECONDS"), default: "60s",
        help: "Seconds an upstream module's version list and @latest are used before they are \
               asked again; when the upstream fails, the last copy is served after it. Also the \
               max-age of every list and @latest answer, hosted ones included (what a cache in \
               front may keep).",
        secret: false, path: false,
        show: |c| secs(c.list_ttl),
    }
    NegativeTtl {
        name: "negative_ttl", flag: Flag::Value("SECONDS"), default: "60s",
        help: "Seconds an upstream's not-found for a module's list is remembered.",
        secret: false, path: false,
        show: |c| secs(c.negative_ttl),
    }
    NegativeVersionTtl {
        name: "negative_version_ttl", flag: Flag::Value("SECONDS"), default: "600s",
        help: "Seconds an upstream's not-found for a version is remembered.",
        secret: false, path: false,
        show: |c| secs(c.negative_version_ttl),
    }
    UpstreamPrivate {
        name: "upstream_private", flag: Flag::Value("URL"), default: "",
        help: "An https module proxy that needs credentials (such as another goshelf's \
               organisation base): only paths matching upstream_private_paths are asked of it, \
               and those never of any other upstream or checksum database. More than one: the \
               configuration file's `[[upstream_private]]` tables (`url`, `paths`, `token`, \
               `user`), after this one; a path goes to the first whose paths it matches.",
        secret: false, path: false,
        show: |c| c.upstream_private.iter().map(|p| p.url.as_str()).collect::<Vec<_>>().join(" "),
    }
    UpstreamPrivatePaths {
        name: "upstream_private_paths", flag: Flag::Value("PATTERNS"), default: "",
        help: "Module path patterns (GOPRIVATE syntax) fetched from upstream_private; needed \
               with it. Their hashes are pinned at the first fetch.",
        secret: false, path: false,
        show: |c| c.upstream_private.iter().map(|p| p.paths.as_str()).collect::<Vec<_>>().join(" "),
    }
    UpstreamPrivateToken {
        name: "upstream_private_token", flag: Flag::None, default: "",
        help: "The token sent to upstream_private (`Authorization: Bearer`, or the Basic \
               password with upstream_private_user; https only, never to another host); \
               environment or configuration file only.",
        secret: true, path: false,
        show: |c| if c.upstream_private.iter().any(|p| !p.token.is_empty()) { "***".into() } else { String::new() },
    }
    UpstreamPrivateUser {
        name: "upstream_private_user", flag: Flag::Value("NAME"), default: "",
        help: "With it, upstream_private_token is sent as the password of HTTP Basic \
               credentials for this user (as Gitea, Artifactory and goshelf accept a token), \
               not as a bearer token.",
        secret: false, path: false,
        show: |c| c.upstream_private.iter().filter_map(|p| p.user.as_deref()).collect::<Vec<_>>().join(" "),
    }
    UpstreamSumdbToken {
        name: "upstream_sumdb_token", flag: Flag::None, default: "",
        help: "A read token sent to the upstream_sumdb server (`Authorization: Bearer`; https \
               only, never to another host), for a central goshelf whose log is read with a \
               token: its server must be upstream_private's, whose paths are then verified \
               against that log instead of pinned, and this shelf must run sumdb_readers = \
               signed-in (what was read with a token is never readable anonymously here). \
               Environment or configuration file only.",
        secret: true, path: false,
        show: |c| if c.upstream_sumdb_token.is_some() { "***".into() } else { String::new() },
    }
    UpstreamReaders {
        name: "upstream_readers", flag: Flag::Value("WHO"), default: "signed-in",
        help: "Who may read what was fetched from upstream_private: `signed-in` or `admins`; \
               to anyone else its paths are 404.",
        secret: false, path: false,
        show: |c| if c.upstream_readers_admins { "admins".into() } else { "signed-in".into() },
    }
    CacheMaxBytes {
        name: "cache_max_bytes", flag: Flag::Value("SIZE"), default: "0",
        help: "Most bytes of zips the pull-through cache keeps; past it the least recently \
               used cached zips are dropped (fetched again when asked; hosted versions are \
               never touched). 0: no cap.",
        secret: false, path: false,
        show: |c| size_text(c.cache_max_bytes),
    }
    Private {
        name: "private", flag: Flag::Value("PATTERNS"), default: "",
        help: "Module path patterns (GOPRIVATE syntax, comma-separated) never asked of an \
               upstream: lookups of matching paths are answered from the shelf's own log only.",
        secret: false, path: false,
        show: |c| c.private.clone(),
    }
    SumdbLookupBudget {
        name: "sumdb_lookup_budget", flag: Flag::Value("N"), default: "5000",
        help: "Records one requester (a signed-in user, else an address, an IPv6 /64 as one) may \
               make the shelf fetch from the upstream checksum database and log, per hour (by \
               a lookup miss, or a version fetched through /go); past it such a miss is 503.",
        secret: false, path: false,
        show: |c| c.sumdb_lookup_budget.to_string(),
    }
    SumdbUpstreamMaxRecords {
        name: "sumdb_upstream_max_records", flag: Flag::Value("N"), default: "1000000",
        help: "Most records the log takes from the upstream checksum database in all; past it \
               a lookup miss is 503.",
        secret: false, path: false,
        show: |c| c.sumdb_upstream_max_records.to_string(),
    }
    TrustedProxies {
        name: "trusted_proxies", flag: Flag::Value("CIDRS"), default: "",
        help: "Addresses and ranges (comma-separated) of reverse proxies whose X-Forwarded-For \
               names the client, for the lookup budget.",
        secret: false, path: false,
        show: |c| c.trusted_proxies_text.clone(),
    }
    LanNamespaces {
        name: "lan_namespaces", flag: Flag::Value("ORGS"), default: "",
        help: "The organisations (comma-separated, in order) whose modules the LAN's one URL \
               (`/go`) serves; empty: every organisation, by name, but a deleted user's. \
               Personal namespaces never.",
        secret: false, path: false,
        show: |c| c.lan_namespaces.as_ref().map(|l| l.join(",")).unwrap_or_default(),
    }
    FastPath {
        name: "fast_path", flag: Flag::Switch, default: "true",
        help: "Answer anonymous GOPROXY reads with goshelf's own HTTP/1.1 reader (the go \
               command's requests), everything else through hyper; false sends every request \
               through hyper (for comparisons).",
        secret: false, path: false,
        show: |c| c.fast_path.to_string(),
    }
}

impl Key {
    /// This key's declaration.
    #[must_use]
    pub fn setting(self) -> &'static Setting {
        // Both come from the same list in the same order (`settings!`), so the discriminant
        // is the index; the fallback is never taken.
        SETTINGS
            .get(self as usize)
            .filter(|s| s.key == self)
            .unwrap_or(&SETTINGS[0])
    }

    /// The key whose file name is `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Key> {
        SETTINGS.iter().find(|s| s.name == name).map(|s| s.key)
    }
}

/// Every file key, in table order.
pub fn keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|s| s.name)
}

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

/// What the user asked for, before validation: one layer (flags, environment or file), or the
/// layers merged. A missing key falls through to the next layer.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    values: BTreeMap<Key, String>,
    /// The configuration file's `[[upstream_private]]` tables (more than one credentialed
    /// upstream): url, paths, token, user.
    more_private: Vec<[String; 4]>,
}

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.values {
            let shown = if key.setting().secret { "***" } else { value };
            map.entry(&key.setting().name, &shown);
        }
        map.finish()
    }
}

impl RawConfig {
    /// The value of `key` in this layer.
    #[must_use]
    pub fn get(&self, key: Key) -> Option<&str> {
        self.values.get(&key).map(String::as_str)
    }

    /// Sets `key` (an empty value counts as unset).
    pub fn set(&mut self, key: Key, value: impl Into<String>) {
        let value = value.into();
        if value.trim().is_empty() {
            self.values.remove(&key);
        } else {
            self.values.insert(key, value);
        }
    }

    /// This layer with `key` set.
    #[must_use]
    pub fn with(mut self, key: Key, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// This layer with the path `key` set.
    #[must_use]
    pub fn with_path(self, key: Key, path: &Path) -> Self {
        self.with(key, path.display().to_string())
    }

    /// The layer read from the environment (`GOSHELF_<KEY>`); empty values count as unset.
    #[must_use]
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut raw = Self::default();
        for s in SETTINGS {
            if let Some(v) = lookup(&s.env()) {
                raw.set(s.key, v);
            }
        }
        raw
    }

    /// The layer read from a TOML file: strings, whole numbers and booleans. A relative path
    /// setting (`db`, `tls_cert`, `tls_key`) is taken relative to the file.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, an unknown key, or a value of another type.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file_error = |reason: String| ConfigError::File(path.to_owned(), reason);
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| file_error(e.to_string().trim().to_owned()))?;
        let mut raw = Self::default();
        for (name, value) in table {
            let key = Key::from_name(&name).ok_or_else(|| {
                let known: Vec<&str> = keys().collect();
                file_error(format!(
                    "unknown key `{name}`; the keys are {}",
                    known.join(", ")
                ))
            })?;
            if let (Key::UpstreamPrivate, toml::Value::Array(tables)) = (key, &value) {
                for (i, t) in tables.iter().enumerate() {
                    let at = |what: &str| {
                        file_error(format!("[[upstream_private]] number {}: {what}", i + 1))
                    };
                    let table = t.as_table().ok_or_else(|| at("not a table"))?;
                    let mut one: [String; 4] = Default::default();
                    for (field, v) in table {
                        let slot = match field.as_str() {
                            "url" => 0,
                            "paths" => 1,
                            "token" => 2,
                            "user" => 3,
                            other => {
                                return Err(at(&format!(
                                    "unknown key `{other}`; the keys are url, paths, token, user"
                                )))
                            }
                        };
                        one[slot] = v
                            .as_str()
                            .ok_or_else(|| at(&format!("`{field}` must be a string")))?
                            .to_owned();
                    }
                    raw.more_private.push(one);
                }
                continue;
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(file_error(format!(
                        "`{name}` must be a string, a whole number or true/false, not a {}",
                        other.type_str()
                    )))
                }
            };
            let text = match (key.setting().path, path.parent()) {
                (true, Some(dir)) if Path::new(&text).is_relative() => {
                    dir.join(&text).display().to_string()
                }
                _ => text,
            };
            raw.set(key, text);
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
    ) -> (RawConfig, Vec<(Key, Source)>) {
        let mut merged = RawConfig::default();
        let mut sources = Vec::new();
        for s in SETTINGS {
            let source = if let Some(v) = flags.get(s.key) {
                merged.set(s.key, v);
                Source::Flag
            } else if let Some(v) = env.get(s.key) {
                merged.set(s.key, v);
                Source::Env(s.env())
            } else if let Some((p, v)) = file.and_then(|(p, f)| Some((p, f.get(s.key)?))) {
                merged.set(s.key, v);
                Source::File(p.to_owned())
            } else {
                Source::Default
            };
            sources.push((s.key, source));
        }
        if let Some((_, f)) = file {
            merged.more_private.clone_from(&f.more_private);
        }
        (merged, sources)
    }
}

/// The effective configuration as lines `key = value  (source)`, secrets redacted.
#[must_use]
pub fn describe(config: &Config, sources: &[(Key, Source)]) -> String {
    let mut out = String::new();
    for (key, source) in sources {
        let s = key.setting();
        out.push_str(&format!("{} = {}  ({source})\n", s.name, (s.show)(config)));
    }
    out
}

/// The settings as README's Markdown table (`goshelf config reference` prints it; a test keeps
/// README's copy equal to it).
#[must_use]
pub fn reference_table() -> String {
    let mut out =
        String::from("| key (file) | flag | env | default | meaning |\n|---|---|---|---|---|\n");
    for s in SETTINGS {
        let flag = match s.flag {
            Flag::Value(v) => format!("`--{} {v}`", s.flag_name()),
            Flag::Switch => format!("`--{}[=false]`", s.flag_name()),
            Flag::None => String::new(),
        };
        let default = if s.default.is_empty() {
            String::new()
        } else {
            format!("`{}`", s.default)
        };
        out.push_str(&format!(
            "| `{}` | {flag} | `{}` | {default} | {} |\n",
            s.name,
            s.env(),
            s.help.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out
}

/// A configuration error, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is out of range; the text names the setting.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Tls(String),
    #[error("configuration file {path}: {reason}", path = .0.display(), reason = .1)]
    File(PathBuf, String),
}

/// `upstream_sumdb_token` goes only where it belongs: over https, to the `upstream_sumdb`
/// server, which must also be `upstream_private`'s (the chain case: a site reading its
/// central shelf's log), and only into a log that is itself read with a token.
fn check_sumdb_token(config: &Config) -> Result<(), ConfigError> {
    if config.upstream_sumdb_token.is_none() {
        return Ok(());
    }
    let why = |what: &str| Err(invalid(Key::UpstreamSumdbToken, "***", what));
    let Some(sumdb) = &config.upstream_sumdb else {
        return why("needs upstream_sumdb: there is no checksum database to send it to");
    };
    if !sumdb.url.starts_with("https://") {
        return why("needs an https upstream_sumdb (credentials never go over plain HTTP)");
    }
    let host = |url: &str| {
        url.parse::<http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()))
    };
    let sumdb_host = host(&sumdb.url);
    if !config
        .upstream_private
        .iter()
        .any(|p| host(&p.url) == sumdb_host)
    {
        return why(
            "goes only to a checksum database on the server of upstream_private (the \
             credentialed upstream), which is not the case here",
        );
    }
    if config.sumdb_readers != crate::store::sumdb::Readers::SignedIn {
        return why(
            "needs sumdb_readers = signed-in: records read with a token must not become \
             readable anonymously in this shelf's log",
        );
    }
    Ok(())
}

/// A credentialed upstream checked (the flat keys or one `[[upstream_private]]` table): a user
/// only with a token, one https URL, paths needed and valid. A refusal names the key it is
/// about (`UpstreamPrivateUser`, `UpstreamPrivate`, `UpstreamPrivatePaths`), the value, and why.
fn check_private_upstream(
    url: &str,
    paths: &str,
    token: &str,
    user: Option<&str>,
) -> Result<PrivateUpstream, (Key, String, String)> {
    if let Some(u) = user {
        if token.is_empty() || u.contains(':') || u.chars().any(char::is_control) {
            return Err((
                Key::UpstreamPrivateUser,
                u.to_owned(),
                "needs upstream_private_token (the password sent with it) and may hold no `:`"
                    .into(),
            ));
        }
    }
    if !url.starts_with("https://") || url.contains(['?', '#', ',', '|']) {
        return Err((
            Key::UpstreamPrivate,
            url.to_owned(),
            "is not one https:// URL (credentials are never sent over plain HTTP)".into(),
        ));
    }
    if paths.is_empty() {
        return Err((
            Key::UpstreamPrivatePaths,
            String::new(),
            "is needed with upstream_private: only paths matching it are asked of it".into(),
        ));
    }
    for p in paths.split(',').filter(|p| !p.is_empty()) {
        if let Err(e) = crate::gomod::patterns::check_pattern(p) {
            return Err((
                Key::UpstreamPrivatePaths,
                paths.to_owned(),
                format!("has {e}"),
            ));
        }
    }
    Ok(PrivateUpstream {
        url: url.trim_end_matches('/').to_owned(),
        paths: paths.to_owned(),
        token: token.to_owned(),
        user: user.map(str::to_owned),
    })
}

fn invalid(key: Key, value: &str, what: &str) -> ConfigError {
    ConfigError::Invalid(format!("{}: {value:?} {what}", key.setting().label()))
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
    /// With HTTPS beside plain HTTP, the web sign-in also works over plain HTTP.
    pub plain_http_signin: bool,
    /// Absolute path of the database file.
    pub db: PathBuf,
    pub max_upload: u64,
    /// `admin`'s token for a first start; `None` generates one.
    pub admin_token: Option<String>,
    /// Failed authentications per minute per address before 429; 0: no limit.
    pub auth_failures_per_minute: u32,
    /// A request body that sends nothing for this long is abandoned (408).
    pub upload_idle_timeout: Duration,
    /// A client must send its request headers within this time (and an idle connection is
    /// closed after it).
    pub header_timeout: Duration,
    /// A response write that makes no progress for this long ends the connection.
    pub send_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one address may hold at once.
    pub max_connections_per_ip: usize,
    /// Uploads validated and stored at once.
    pub upload_concurrency: usize,
    /// Compact the file at a graceful stop when it is worth it (`store::FileSpace`).
    pub compact_on_stop: bool,
    /// Commits record redb's allocator state (`Store::with_quick_repair`).
    pub quick_repair: bool,
    /// Anonymous GOPROXY reads are answered by `http::conn`, not hyper.
    pub fast_path: bool,
    /// The checksum database's name for a log made now; `None`: the default.
    pub sumdb_name: Option<String>,
    /// Which namespaces are logged and who may read the log.
    pub sumdb_readers: crate::store::sumdb::Readers,
    /// The upstream checksum database; `None`: off.
    pub upstream_sumdb: Option<crate::http::upstream::UpstreamConfig>,
    /// Nothing is fetched from any upstream.
    pub offline: bool,
    pub upstream_connect_timeout: Duration,
    pub upstream_timeout: Duration,
    /// GOPRIVATE-syntax patterns never asked of an upstream.
    pub private: String,
    /// The module proxies `/go` fetches from (empty: none).
    pub upstream: Vec<crate::pull::Upstream>,
    /// Patterns of upstream content pinned at the first fetch, not verified.
    pub upstream_nosumdb: String,
    /// More certificates an https upstream may be signed by.
    pub upstream_ca_file: Option<PathBuf>,
    /// Bytes per second an upstream transfer averages after its first minute, or is cut.
    pub upstream_min_rate: u64,
    /// How long an upstream list or `@latest` is used.
    pub list_ttl: Duration,
    /// How long an upstream's not-found for a module is remembered.
    pub negative_ttl: Duration,
    /// How long an upstream's not-found for a version is remembered.
    pub negative_version_ttl: Duration,
    /// Most bytes of cached zips; 0: no cap.
    pub cache_max_bytes: u64,
    /// The upstreams that need credentials, each with its paths and token: the flat
    /// `upstream_private*` keys first, then the configuration file's `[[upstream_private]]`
    /// tables. A path goes to the first whose paths it matches, and to no other upstream.
    pub upstream_private: Vec<PrivateUpstream>,
    /// How often the retention rules run; `None`: never by themselves.
    pub retention_schedule: Option<Duration>,
    /// The read token of the upstream checksum database (`upstream_sumdb_token`): checked
    /// to go to `upstream_private`'s server only, over https, with `sumdb_readers` signed-in.
    pub upstream_sumdb_token: Option<String>,
    /// Only admins may read what was fetched from `upstream_private` (else anyone signed in).
    pub upstream_readers_admins: bool,
    /// Upstream lookups made at once.
    pub upstream_concurrency: usize,
    /// How long a lookup waits for its turn at the upstream.
    pub upstream_queue_timeout: Duration,
    /// Upstream records one requester may cause per hour.
    pub sumdb_lookup_budget: u64,
    /// Upstream records the log takes in all.
    pub sumdb_upstream_max_records: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::http::budget::Cidr>,
    /// `trusted_proxies` as written.
    pub trusted_proxies_text: String,
    /// The organisations `/go` serves, in order (`None`: every organisation, by name).
    pub lan_namespaces: Option<Vec<String>>,
    /// The memory the process may use (`memory::available`), which sizes the caches and the
    /// default pools below 1 GiB.
    pub memory: Option<u64>,
}

/// An upstream module proxy that needs credentials (`upstream_private`).
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateUpstream {
    /// Its https base URL, without a trailing `/`.
    pub url: String,
    /// The module path patterns asked of it (GOPRIVATE syntax), and of no other upstream.
    pub paths: String,
    /// The token sent to it; may be empty.
    pub token: String,
    /// With it, the token is the password of Basic credentials for this user.
    pub user: Option<String>,
}

impl PrivateUpstream {
    /// The `Authorization` value sent to it: `Bearer <token>`, or `Basic` with `user` and the
    /// token as password; none without a token.
    #[must_use]
    pub fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        if self.token.is_empty() {
            return None;
        }
        Some(match &self.user {
            None => format!("Bearer {}", self.token),
            Some(user) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", self.token))
            ),
        })
    }
}

impl std::fmt::Debug for PrivateUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateUpstream")
            .field("url", &self.url)
            .field("paths", &self.paths)
            .field("token", &"***")
            .finish()
    }
}

impl Config {
    /// redb's page cache for this memory (the server opens its store with it).
    #[must_use]
    pub fn page_cache_bytes(&self) -> usize {
        crate::memory::scaled(crate::store::CACHE_BYTES, 2 << 20, self.memory)
    }

    /// Password checks run at once (the CPU cores, fewer on a small machine).
    #[must_use]
    pub fn password_checks(&self) -> usize {
        crate::memory::scaled(cores(), 1, self.memory)
    }

    /// What the memory the process may use made of the caches and default pools, for
    /// `goshelf config check` and the start-up log.
    #[must_use]
    pub fn memory_summary(&self) -> String {
        let mib = |b: usize| format!("{} MiB", b >> 20);
        let mem = self
            .memory
            .map_or_else(|| "unknown".to_owned(), |m| format!("{} MiB", m >> 20));
        format!(
            "memory available: {mem}; page cache {}, answer cache {}, small zips held in \
             memory {}, upload_concurrency {}, upstream_concurrency {} (below 1 GiB, caches \
             and default pools shrink in proportion)",
            mib(self.page_cache_bytes()),
            mib(crate::http::fast::answer_budget(self.memory)),
            mib(crate::ingest::SpoolBudget::bytes_for(self.memory)),
            self.upload_concurrency,
            self.upstream_concurrency
        )
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for s in SETTINGS {
            map.entry(&s.name, &(s.show)(self));
        }
        map.finish()
    }
}

/// The number of CPU cores this process may use (1 when unknown): the default of bounds on
/// CPU-heavy work.
#[must_use]
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A yes/no setting: `true`/`false`, also `1`/`0`, `yes`/`no`, `on`/`off`.
fn resolve_bool(key: Key, text: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(key, text, "is not true or false")),
    }
}

/// A timeout setting: whole seconds, with or without an `s` suffix, from 1 s to an hour.
fn resolve_timeout(
    key: Key,
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
        _ => Err(invalid(
            key,
            text,
            "is not a number of seconds from 1 to 3600, like 60 or 60s",
        )),
    }
}

/// `retention_schedule`: `off`, or hours or days (`12h`, `1d`), at least an hour.
fn resolve_schedule(text: Option<&str>) -> Result<Option<Duration>, ConfigError> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty() && *t != "off") else {
        return Ok(None);
    };
    let bad = || {
        invalid(
            Key::RetentionSchedule,
            t,
            "is not `off` or an interval of hours or days like 12h, 1d or 7d (at least 1h)",
        )
    };
    let (n, unit) = t.split_at(t.len().saturating_sub(1));
    let hours: u64 = match (n.parse::<u64>(), unit) {
        (Ok(n), "h") => n,
        (Ok(n), "d") => n.checked_mul(24).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if hours == 0 || hours > 24 * 366 {
        return Err(bad());
    }
    Ok(Some(Duration::from_secs(hours * 3600)))
}

/// A count from `min` to `max`.
fn resolve_count(
    key: Key,
    text: Option<&str>,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(
            key,
            text,
            &format!("is not a whole number from {min} to {max}"),
        )),
    }
}

/// An estimate of the strength of a secret someone chose, in bits: its length times the bits
/// of the smallest alphabet that covers it (lower case, upper case, digits, other printable
/// ASCII; anything else counts as 8 bits), but no more than 8 bits per distinct character
/// times the length over 2 (so `aaaa...` or `abab...` of any length stays weak). Generous to
/// random strings, strict with words and repeats.
#[must_use]
pub fn token_bits(token: &str) -> f64 {
    let (mut lower, mut upper, mut digit, mut other, mut wide) =
        (false, false, false, false, false);
    let mut distinct = std::collections::BTreeSet::new();
    for c in token.chars() {
        distinct.insert(c);
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            c if c.is_ascii_graphic() => other = true,
            _ => wide = true,
        }
    }
    let alphabet = [
        (lower, 26),
        (upper, 26),
        (digit, 10),
        (other, 32),
        (wide, 256),
    ]
    .iter()
    .filter(|(used, _)| *used)
    .map(|(_, n)| n)
    .sum::<u32>();
    if alphabet == 0 {
        return 0.0;
    }
    let len = token.chars().count() as f64;
    let by_alphabet = len * f64::from(alphabet).log2();
    let by_repeats = (distinct.len() as f64).log2() * len / 2.0 + 8.0 * distinct.len() as f64;
    by_alphabet.min(by_repeats)
}

impl RawConfig {
    /// Validates and resolves: parses addresses, sizes, times and counts, makes paths
    /// absolute.
    ///
    /// # Errors
    /// A `ConfigError` naming the first bad setting.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let memory = crate::memory::available();
        let listen_text = self.get(Key::Listen).unwrap_or(DEFAULT_LISTEN).trim();
        let listen: Option<SocketAddr> = if listen_text.eq_ignore_ascii_case(LISTEN_OFF) {
            None
        } else {
            Some(listen_text.parse().map_err(|_| {
                invalid(
                    Key::Listen,
                    listen_text,
                    "is not an address like 0.0.0.0:8080",
                )
            })?)
        };
        let (tls, redirect_http) = self.resolve_tls(listen.is_some())?;
        let max_upload = match self.get(Key::MaxUpload) {
            None => DEFAULT_MAX_UPLOAD,
            Some(text) => match parse_size(text) {
                Some(n) if n > 0 && n <= MAX_ZIP_FILE => n,
                _ => {
                    return Err(invalid(
                        Key::MaxUpload,
                        text,
                        "is not a size like 100MiB, at most 500MiB (524288000 bytes, the go \
                         command's limit)",
                    ))
                }
            },
        };
        let db = PathBuf::from(self.get(Key::Db).unwrap_or(DEFAULT_DB));
        let db = std::path::absolute(&db)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", Key::Db.setting().label())))?;
        let admin_token = self.get(Key::AdminToken).map(|t| t.trim().to_owned());
        if let Some(token) = &admin_token {
            let bits = token_bits(token);
            if bits < MIN_ADMIN_TOKEN_BITS {
                return Err(ConfigError::Invalid(format!(
                    "{}: too weak (about {bits:.0} bits; at least {MIN_ADMIN_TOKEN_BITS:.0} are \
                     needed): use a random value such as the output of `openssl rand -hex 16`, \
                     or leave it unset and goshelf prints a generated token at the first start",
                    Key::AdminToken.setting().label()
                )));
            }
        }
        let auth_failures_per_minute = match self.get(Key::AuthFailuresPerMinute) {
            None => DEFAULT_AUTH_FAILURES_PER_MINUTE,
            Some(text) => text.trim().parse().map_err(|_| {
                invalid(
                    Key::AuthFailuresPerMinute,
                    text,
                    "is not a whole number (0 turns the limit off)",
                )
            })?,
        };
        let timeout = |key: Key, default| resolve_timeout(key, self.get(key), default);
        let count =
            |key: Key, default, min, max| resolve_count(key, self.get(key), default, min, max);
        let max_connections = count(
            Key::MaxConnections,
            DEFAULT_MAX_CONNECTIONS,
            16,
            MAX_CONNECTIONS_CEILING,
        )?;
        let config = Config {
            listen,
            tls,
            redirect_http,
            plain_http_signin: resolve_bool(
                Key::PlainHttpSignin,
                self.get(Key::PlainHttpSignin),
                false,
            )?,
            db,
            max_upload,
            admin_token,
            auth_failures_per_minute,
            upload_idle_timeout: timeout(Key::UploadIdleTimeout, DEFAULT_UPLOAD_IDLE_TIMEOUT)?,
            header_timeout: timeout(Key::HeaderTimeout, DEFAULT_HEADER_TIMEOUT)?,
            send_timeout: timeout(Key::SendTimeout, DEFAULT_SEND_TIMEOUT)?,
            max_connections,
            max_connections_per_ip: count(
                Key::MaxConnectionsPerIp,
                DEFAULT_MAX_CONNECTIONS_PER_IP.min(max_connections),
                1,
                MAX_CONNECTIONS_CEILING,
            )?,
            upload_concurrency: count(
                Key::UploadConcurrency,
                crate::memory::scaled(cores(), 1, memory),
                1,
                1024,
            )?,
            compact_on_stop: resolve_bool(Key::CompactOnStop, self.get(Key::CompactOnStop), true)?,
            quick_repair: resolve_bool(Key::QuickRepair, self.get(Key::QuickRepair), true)?,
            fast_path: resolve_bool(Key::FastPath, self.get(Key::FastPath), true)?,
            sumdb_name: match self.get(Key::SumdbName) {
                None => None,
                Some(n) => {
                    crate::sumdb::note::check_go_sumdb_name(n).map_err(|e| {
                        invalid(Key::SumdbName, n, &format!("is not a usable name: {e}"))
                    })?;
                    Some(n.to_owned())
                }
            },
            upstream_sumdb: crate::http::upstream::UpstreamConfig::parse(
                self.get(Key::UpstreamSumdb).unwrap_or("sum.golang.org"),
            )
            .map_err(|e| {
                invalid(
                    Key::UpstreamSumdb,
                    self.get(Key::UpstreamSumdb).unwrap_or(""),
                    &format!("is not usable: {e}"),
                )
            })?,
            offline: resolve_bool(Key::Offline, self.get(Key::Offline), false)?,
            upstream_connect_timeout: timeout(
                Key::UpstreamConnectTimeout,
                Duration::from_secs(10),
            )?,
            upstream_timeout: timeout(Key::UpstreamTimeout, Duration::from_secs(60))?,
            private: {
                let list = self.get(Key::Private).unwrap_or("").trim();
                for p in list.split(',').filter(|p| !p.is_empty()) {
                    crate::gomod::patterns::check_pattern(p)
                        .map_err(|e| invalid(Key::Private, list, &format!("has {e}")))?;
                }
                list.to_owned()
            },
            upstream: crate::pull::parse_upstreams(
                self.get(Key::Upstream)
                    .unwrap_or("https://proxy.golang.org"),
            )
            .map_err(|e| {
                invalid(
                    Key::Upstream,
                    self.get(Key::Upstream).unwrap_or(""),
                    &format!("is not usable: {e}"),
                )
            })?,
            upstream_nosumdb: {
                let list = self.get(Key::UpstreamNosumdb).unwrap_or("").trim();
                for p in list.split(',').filter(|p| !p.is_empty()) {
                    crate::gomod::patterns::check_pattern(p)
                        .map_err(|e| invalid(Key::UpstreamNosumdb, list, &format!("has {e}")))?;
                }
                list.to_owned()
            },
            upstream_ca_file: self
                .get(Key::UpstreamCaFile)
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from),
            upstream_min_rate: match self.get(Key::UpstreamMinRate) {
                None => 10 << 10,
                Some(text) => parse_size(text).ok_or_else(|| {
                    invalid(
                        Key::UpstreamMinRate,
                        text,
                        "is not a size per second like 10KiB (0: no minimum)",
                    )
                })?,
            },
            list_ttl: timeout(Key::ListTtl, Duration::from_secs(60))?,
            negative_ttl: timeout(Key::NegativeTtl, Duration::from_secs(60))?,
            negative_version_ttl: timeout(Key::NegativeVersionTtl, Duration::from_secs(600))?,
            upstream_private: self.resolve_private_upstreams()?,
            retention_schedule: resolve_schedule(self.get(Key::RetentionSchedule))?,
            upstream_sumdb_token: self
                .get(Key::UpstreamSumdbToken)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            upstream_readers_admins: match self.get(Key::UpstreamReaders).map(str::trim) {
                None | Some("signed-in") => false,
                Some("admins") => true,
                Some(other) => {
                    return Err(invalid(
                        Key::UpstreamReaders,
                        other,
                        "is not `signed-in` or `admins`",
                    ))
                }
            },
            cache_max_bytes: match self.get(Key::CacheMaxBytes) {
                None => 0,
                Some(text) => parse_size(text).ok_or_else(|| {
                    invalid(
                        Key::CacheMaxBytes,
                        text,
                        "is not a size like 20GiB (0: no cap)",
                    )
                })?,
            },
            upstream_concurrency: count(
                Key::UpstreamConcurrency,
                crate::memory::scaled(16, 2, memory),
                1,
                1024,
            )?,
            upstream_queue_timeout: timeout(Key::UpstreamQueueTimeout, Duration::from_secs(60))?,
            sumdb_lookup_budget: count(Key::SumdbLookupBudget, 5000, 0, usize::MAX)? as u64,
            sumdb_upstream_max_records: count(
                Key::SumdbUpstreamMaxRecords,
                1_000_000,
                0,
                usize::MAX,
            )? as u64,
            trusted_proxies: crate::http::budget::parse_trusted(
                self.get(Key::TrustedProxies).unwrap_or(""),
            )
            .map_err(|e| {
                invalid(
                    Key::TrustedProxies,
                    self.get(Key::TrustedProxies).unwrap_or(""),
                    &format!("is not a list of addresses and ranges: {e}"),
                )
            })?,
            trusted_proxies_text: self
                .get(Key::TrustedProxies)
                .unwrap_or("")
                .trim()
                .to_owned(),
            memory,
            lan_namespaces: {
                let list = self.get(Key::LanNamespaces).unwrap_or("").trim();
                let mut names = Vec::new();
                for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let name = crate::auth::normalize_owner(n).ok_or_else(|| {
                        invalid(
                            Key::LanNamespaces,
                            list,
                            &format!("has {n:?}, not an owner name"),
                        )
                    })?;
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                (!names.is_empty()).then_some(names)
            },
            sumdb_readers: match self.get(Key::SumdbReaders) {
                None => crate::store::sumdb::Readers::Anyone,
                Some(w) => crate::store::sumdb::Readers::parse(w.trim()).ok_or_else(|| {
                    invalid(Key::SumdbReaders, w, "is not `anyone` or `signed-in`")
                })?,
            },
        };
        // Upstream content is verified against a checksum database, or pinned where none
        // covers it: switching verification off needs the patterns of what is pinned.
        if !config.upstream.is_empty()
            && !config.offline
            && config.upstream_sumdb.is_none()
            && config.upstream_nosumdb.is_empty()
        {
            return Err(invalid(
                Key::UpstreamSumdb,
                "off",
                "leaves what `upstream` sends unverified: set upstream_nosumdb to the \
                 patterns of the modules no checksum database covers, or set upstream to \
                 off",
            ));
        }
        check_sumdb_token(&config)?;
        Ok(config)
    }

    /// `upstream_private` with its paths (required) and token, then the file's
    /// `[[upstream_private]]` tables; https only.
    fn resolve_private_upstreams(&self) -> Result<Vec<PrivateUpstream>, ConfigError> {
        let mut all = Vec::new();
        if let Some(first) = self.resolve_private_upstream()? {
            all.push(first);
        }
        for [url, paths, token, user] in &self.more_private {
            let user = Some(user.trim()).filter(|u| !u.is_empty());
            let one = check_private_upstream(url.trim(), paths.trim(), token.trim(), user)
                .map_err(|(key, value, why)| {
                    let field = match key {
                        Key::UpstreamPrivateUser => "user",
                        Key::UpstreamPrivatePaths => "paths",
                        _ => "url",
                    };
                    let value = if value.is_empty() {
                        String::new()
                    } else {
                        format!("{value:?} ")
                    };
                    ConfigError::Invalid(format!(
                        "[[upstream_private]] {url:?}: {field} {value}{why}"
                    ))
                })?;
            all.push(one);
        }
        Ok(all)
    }

    /// The flat `upstream_private*` keys.
    fn resolve_private_upstream(&self) -> Result<Option<PrivateUpstream>, ConfigError> {
        let paths = self.get(Key::UpstreamPrivatePaths).unwrap_or("").trim();
        let token = self.get(Key::UpstreamPrivateToken).unwrap_or("").trim();
        let user = self
            .get(Key::UpstreamPrivateUser)
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let Some(url) = self.get(Key::UpstreamPrivate).map(str::trim) else {
            if !paths.is_empty() || !token.is_empty() || user.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "{}, {} and {} need {}",
                    Key::UpstreamPrivatePaths.setting().label(),
                    Key::UpstreamPrivateToken.setting().label(),
                    Key::UpstreamPrivateUser.setting().label(),
                    Key::UpstreamPrivate.setting().label()
                )));
            }
            return Ok(None);
        };
        check_private_upstream(url, paths, token, user)
            .map(Some)
            .map_err(|(key, value, why)| invalid(key, &value, &why))
    }

    fn resolve_tls(&self, plain: bool) -> Result<(Option<TlsConfig>, bool), ConfigError> {
        let err = |m: &str| Err(ConfigError::Tls(m.to_owned()));
        let redirect_http = resolve_bool(Key::RedirectHttp, self.get(Key::RedirectHttp), false)?;
        let (cert, key, names) = (
            self.get(Key::TlsCert),
            self.get(Key::TlsKey),
            self.get(Key::TlsSelfSigned),
        );
        let source = match (cert, key, names) {
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
            if self.get(Key::TlsListen).is_some() {
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
            .get(Key::TlsListen)
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

    fn raw(pairs: &[(Key, &str)]) -> RawConfig {
        pairs
            .iter()
            .fold(RawConfig::default(), |r, (k, v)| r.with(*k, *v))
    }

    /// A `goshelf.toml` in a fresh directory, for the tests that read a config file.
    struct TomlFile {
        dir: tempfile::TempDir,
        path: PathBuf,
    }

    impl TomlFile {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("goshelf.toml");
            Self { dir, path }
        }

        /// Writes `text` to the file and reads it as `goshelf serve --config` does.
        fn read(&self, text: &str) -> Result<RawConfig, ConfigError> {
            std::fs::write(&self.path, text).unwrap();
            RawConfig::from_file(&self.path)
        }

        /// `path` relative to the file's directory, as a resolved path key reads.
        fn beside(&self, path: &str) -> String {
            self.dir.path().join(path).display().to_string()
        }
    }

    /// README's table of settings is the one the table makes (`goshelf config reference`):
    /// a setting added, renamed or documented anew shows in README or fails here.
    #[test]
    fn readme_lists_every_setting_as_the_table_says() {
        let readme = include_str!("../README.md");
        let begin = "<!-- settings: begin (goshelf config reference) -->\n";
        let end = "<!-- settings: end -->";
        let start = readme
            .find(begin)
            .expect("README lacks the settings markers")
            + begin.len();
        let stop = readme[start..]
            .find(end)
            .expect("README lacks the end marker")
            + start;
        assert_eq!(
            &readme[start..stop],
            reference_table(),
            "README's settings table differs from `goshelf config reference`"
        );
    }

    /// `upstream_sumdb_token` goes over https to the credentialed upstream's own server
    /// only, and only into a log read with a token.
    #[test]
    fn the_sumdb_token_goes_only_to_the_credentialed_upstreams_log() {
        let key = "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6";
        let sumdb = format!("{key} https://central.example:8443/sumdb/central.example");
        let base = [
            (
                Key::UpstreamPrivate,
                "https://Central.example:8443/api/packages/corp/go",
            ),
            (Key::UpstreamPrivatePaths, "corp.example"),
            (Key::UpstreamPrivateToken, "t"),
            (Key::UpstreamSumdbToken, "t"),
            (Key::SumdbReaders, "signed-in"),
        ];
        let with = |extra: &[(Key, &str)], sumdb: &str| {
            let mut pairs: Vec<(Key, &str)> = base.to_vec();
            pairs.push((Key::UpstreamSumdb, sumdb));
            pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            pairs.extend_from_slice(extra);
            raw(&pairs).resolve().map_err(|e| e.to_string())
        };
        let ok = with(&[], &sumdb).unwrap();
        assert_eq!(ok.upstream_sumdb_token.as_deref(), Some("t"));
        let err = |extra: &[(Key, &str)], sumdb: &str| with(extra, sumdb).err().unwrap();
        assert!(err(&[(Key::SumdbReaders, "anyone")], &sumdb)
            .contains("needs sumdb_readers = signed-in"));
        let plain = format!("{key} http://central.example:8443/sumdb/central.example");
        assert!(err(&[], &plain).contains("needs an https upstream_sumdb"));
        let elsewhere = format!("{key} https://other.example:8443/sumdb/central.example");
        assert!(err(&[], &elsewhere).contains("server of upstream_private"));
        let other_port = format!("{key} https://central.example:9443/sumdb/central.example");
        assert!(err(&[], &other_port).contains("server of upstream_private"));
        let no_private = raw(&[
            (Key::UpstreamSumdb, sumdb.as_str()),
            (Key::UpstreamSumdbToken, "t"),
            (Key::SumdbReaders, "signed-in"),
        ])
        .resolve()
        .err()
        .unwrap()
        .to_string();
        assert!(
            no_private.contains("server of upstream_private"),
            "{no_private}"
        );
        assert!(err(
            &[(Key::UpstreamSumdb, "off"), (Key::UpstreamNosumdb, "x")],
            "off"
        )
        .contains("needs upstream_sumdb"));
        // The secret is never shown.
        assert!(!err(&[], &plain).contains(": \"t\""));
    }

    #[test]
    fn a_private_upstream_gets_a_bearer_token_or_basic_credentials() {
        let mut p = PrivateUpstream {
            url: "https://central.example".into(),
            paths: "corp.example".into(),
            token: "t0k".into(),
            user: None,
        };
        assert_eq!(p.authorization().as_deref(), Some("Bearer t0k"));
        p.user = Some("site".into());
        // base64("site:t0k")
        assert_eq!(p.authorization().as_deref(), Some("Basic c2l0ZTp0MGs="));
        p.token.clear();
        assert_eq!(p.authorization(), None);
        let user_without_token = raw(&[
            (
                Key::UpstreamPrivate,
                "https://central.example/api/packages/corp/go",
            ),
            (Key::UpstreamPrivatePaths, "corp.example"),
            (Key::UpstreamPrivateUser, "site"),
        ])
        .resolve()
        .err()
        .unwrap()
        .to_string();
        assert!(
            user_without_token.contains("needs upstream_private_token"),
            "{user_without_token}"
        );
        let colon = raw(&[
            (
                Key::UpstreamPrivate,
                "https://central.example/api/packages/corp/go",
            ),
            (Key::UpstreamPrivatePaths, "corp.example"),
            (Key::UpstreamPrivateUser, "a:b"),
            (Key::UpstreamPrivateToken, "t"),
        ])
        .resolve()
        .err()
        .unwrap()
        .to_string();
        assert!(colon.contains("may hold no `:`"), "{colon}");
    }

    #[test]
    fn the_retention_schedule_is_off_or_hours_or_days() {
        assert_eq!(resolve_schedule(None).unwrap(), None);
        assert_eq!(resolve_schedule(Some("off")).unwrap(), None);
        assert_eq!(
            resolve_schedule(Some("12h")).unwrap(),
            Some(Duration::from_secs(12 * 3600))
        );
        assert_eq!(
            resolve_schedule(Some(" 7d ")).unwrap(),
            Some(Duration::from_secs(7 * 86_400))
        );
        // Up to a year and a day: 366d is the longest.
        assert_eq!(
            resolve_schedule(Some("30d")).unwrap(),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            resolve_schedule(Some("366d")).unwrap(),
            Some(Duration::from_secs(366 * 86_400))
        );
        for bad in ["0h", "30m", "1", "d", "-1d", "1.5d", "367d", "999d"] {
            let e = resolve_schedule(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("retention_schedule"), "{bad}: {e}");
        }
    }

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
    fn the_table_derives_every_name_from_the_key() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert_eq!(s.key as usize, i, "{}", s.name);
            assert_eq!(s.key.setting().name, s.name);
            assert_eq!(Key::from_name(s.name), Some(s.key));
            assert_eq!(s.env(), format!("GOSHELF_{}", s.name.to_ascii_uppercase()));
            assert!(!s.flag_name().contains('_'), "{}", s.name);
            assert!(!s.help.is_empty(), "{}", s.name);
            // Only secrets stay off the command line, and every secret does.
            assert_eq!(s.secret, s.flag == Flag::None, "{}", s.name);
        }
        let names: std::collections::BTreeSet<&str> = keys().collect();
        assert_eq!(names.len(), SETTINGS.len(), "a name is used twice");
    }

    #[test]
    fn compact_on_stop_is_on_unless_turned_off() {
        let with = |v: Option<&str>| match v {
            Some(v) => raw(&[(Key::CompactOnStop, v)]).resolve(),
            None => RawConfig::default().resolve(),
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
        let raw = TomlFile::new().read("compact_on_stop = false\n").unwrap();
        assert!(!raw.resolve().unwrap().compact_on_stop);
    }

    #[test]
    fn resolve_rejects_upload_limit_above_go_limit() {
        let e = raw(&[(Key::MaxUpload, "501MiB")]).resolve().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("max_upload (--max-upload, GOSHELF_MAX_UPLOAD): \"501MiB\""),
            "{e}"
        );
    }

    #[test]
    fn resolve_rejects_a_private_pattern_that_would_match_nothing() {
        let e = raw(&[(Key::Private, "corp.example.com,x[a-")])
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("malformed glob"), "{e}");
        let ok = raw(&[(Key::Private, "corp.example.com,,*.lab.example")]).resolve();
        assert_eq!(ok.unwrap().private, "corp.example.com,,*.lab.example");
    }

    #[test]
    fn layered_prefers_flags_then_env_then_file() {
        let flags = raw(&[(Key::Listen, "127.0.0.1:1")]);
        let env = raw(&[(Key::Listen, "127.0.0.1:2"), (Key::MaxUpload, "2MiB")]);
        let file = raw(&[
            (Key::Listen, "127.0.0.1:3"),
            (Key::MaxUpload, "3MiB"),
            (Key::Db, "/data/g.redb"),
        ]);
        let (merged, sources) =
            RawConfig::layered(&flags, &env, Some((Path::new("/etc/goshelf.toml"), &file)));
        let c = merged.resolve().unwrap();
        assert_eq!(c.listen.unwrap().to_string(), "127.0.0.1:1");
        assert_eq!(c.max_upload, 2 << 20);
        assert_eq!(c.db, PathBuf::from("/data/g.redb"));
        assert_eq!(sources[0], (Key::Listen, Source::Flag));
        assert_eq!(
            sources[1],
            (Key::Db, Source::File("/etc/goshelf.toml".into()))
        );
        assert_eq!(
            sources[2],
            (Key::MaxUpload, Source::Env("GOSHELF_MAX_UPLOAD".into()))
        );
        assert_eq!(sources[3], (Key::AdminToken, Source::Default));
    }

    /// Every key reaches the merged configuration from each layer under its own name: the flag
    /// layer (as `cli::ServeArgs` builds it), `GOSHELF_<KEY>` and the file key. A key missing
    /// from one of the places, or landing in another key, fails here.
    #[test]
    fn every_key_round_trips_through_flag_env_and_file() {
        let file = TomlFile::new();
        for s in SETTINGS {
            let value = format!("value-of-{}", s.name);
            let flags = RawConfig::default().with(s.key, value.clone());
            let env_var = s.env();
            let env = RawConfig::from_env(&|k| (k == env_var).then(|| value.clone()));
            let from_file = file.read(&format!("{} = \"{value}\"\n", s.name)).unwrap();
            let file_value = if s.path {
                file.beside(&value)
            } else {
                value.clone()
            };
            for (layer, want, source) in [
                ((Some(&flags), None, None), &value, Source::Flag),
                (
                    (None, Some(&env), None),
                    &value,
                    Source::Env(env_var.clone()),
                ),
                (
                    (None, None, Some(&from_file)),
                    &file_value,
                    Source::File(file.path.clone()),
                ),
            ] {
                let empty = RawConfig::default();
                let (merged, sources) = RawConfig::layered(
                    layer.0.unwrap_or(&empty),
                    layer.1.unwrap_or(&empty),
                    layer.2.map(|f| (file.path.as_path(), f)),
                );
                assert_eq!(merged.get(s.key), Some(want.as_str()), "{}", s.name);
                for other in SETTINGS.iter().filter(|o| o.key != s.key) {
                    assert_eq!(
                        merged.get(other.key),
                        None,
                        "{} leaked into {}",
                        s.name,
                        other.name
                    );
                }
                let found = sources.iter().find(|(k, _)| *k == s.key).unwrap();
                assert_eq!(found.1, source, "{}", s.name);
            }
        }
    }

    #[test]
    fn from_file_rejects_unknown_keys_and_resolves_relative_db() {
        let file = TomlFile::new();
        let raw = file
            .read("db = \"data/g.redb\"\nmax_upload = \"1MiB\"\nauth_failures_per_minute = 20\n")
            .unwrap();
        assert_eq!(raw.get(Key::Db), Some(file.beside("data/g.redb").as_str()));
        assert_eq!(raw.resolve().unwrap().auth_failures_per_minute, 20);
        let err = file.read("listne = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
        let err = file.read("listen = 1.5\n").unwrap_err().to_string();
        assert!(err.contains("must be a string"), "{err}");
    }

    #[test]
    fn the_file_may_list_several_credentialed_upstreams() {
        let toml = TomlFile::new();
        let read = |text: &str| {
            let file = toml.read(text)?;
            let (merged, _) = RawConfig::layered(
                &RawConfig::default(),
                &RawConfig::default(),
                Some((&toml.path, &file)),
            );
            merged.resolve()
        };
        let two = "[[upstream_private]]\nurl = \"https://a.corp/api/packages/a/go/\"\n\
                   paths = \"a.corp\"\ntoken = \"ta\"\n\n[[upstream_private]]\n\
                   url = \"https://b.corp:8443/api/packages/b/go\"\npaths = \"b.corp,*.b.lan\"\n\
                   token = \"tb\"\nuser = \"site\"\n";
        let config = read(two).unwrap();
        assert_eq!(config.upstream_private.len(), 2);
        assert_eq!(
            config.upstream_private[0].url,
            "https://a.corp/api/packages/a/go"
        );
        assert_eq!(config.upstream_private[1].paths, "b.corp,*.b.lan");
        assert_eq!(config.upstream_private[1].user.as_deref(), Some("site"));
        assert!(config.upstream_private[1]
            .authorization()
            .unwrap()
            .starts_with("Basic "));
        // The second's server may carry the checksum database read with a token.
        let with_token = format!(
            "upstream_sumdb = \"{} https://b.corp:8443/sumdb\"\nupstream_sumdb_token = \"t\"\n\
             sumdb_readers = \"signed-in\"\n{two}",
            crate::http::upstream::SUM_GOLANG_ORG
        );
        if let Err(e) = read(&with_token) {
            panic!("{e}");
        }
        // Each table is checked as the flat keys are.
        for (bad, why) in [
            ("url = \"http://a.corp/go\"\npaths = \"a.corp\"\n", "https"),
            ("url = \"https://a.corp/go\"\n", "paths is needed"),
            (
                "url = \"https://a.corp/go\"\npaths = \"a.corp\"\nuser = \"u\"\n",
                "user \"u\" needs upstream_private_token",
            ),
            (
                "url = \"https://a.corp/go\"\npaths = \"a.corp\"\nsecret = \"x\"\n",
                "unknown key `secret`",
            ),
            ("url = 1\n", "must be a string"),
        ] {
            let err = read(&format!("[[upstream_private]]\n{bad}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn describe_redacts_the_admin_token() {
        let secret = "s3cret-0123456789abcdef-0123456789abcdef";
        let flags = raw(&[(Key::AdminToken, secret)]);
        assert!(!format!("{flags:?}").contains(secret));
        let (merged, sources) = RawConfig::layered(&flags, &RawConfig::default(), None);
        let config = merged.resolve().unwrap();
        assert!(!format!("{config:?}").contains(secret));
        let text = describe(&config, &sources);
        assert!(text.contains("admin_token = ***  (flag)"), "{text}");
        assert!(!text.contains(secret));
        assert!(text.contains("listen = 0.0.0.0:8080  (default)"), "{text}");
        assert_eq!(text.lines().count(), SETTINGS.len());
    }

    #[test]
    fn resolve_defaults_are_documented_values() {
        let c = RawConfig::default().resolve().unwrap();
        assert_eq!(c.listen.unwrap().to_string(), DEFAULT_LISTEN);
        assert_eq!(c.tls, None);
        assert!(!c.redirect_http);
        assert!(!c.plain_http_signin);
        assert!(c.fast_path);
        assert_eq!(c.max_upload, 500 << 20);
        assert!(c.db.is_absolute());
        assert!(c.db.ends_with("goshelf.redb"));
        assert_eq!(c.upload_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.header_timeout, Duration::from_secs(30));
        assert_eq!(c.send_timeout, Duration::from_secs(60));
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.max_connections_per_ip, 256);
        assert_eq!(c.upload_concurrency, cores());
        // What the table shows as defaults is what resolve takes.
        for s in SETTINGS {
            let shown = (s.show)(&c);
            match s.key {
                Key::Db | Key::UploadConcurrency | Key::MaxUpload | Key::AdminToken => {}
                Key::TlsListen | Key::TlsCert | Key::TlsKey | Key::TlsSelfSigned => {}
                Key::UploadIdleTimeout | Key::HeaderTimeout | Key::SendTimeout => {
                    assert_eq!(shown, format!("{}s", s.default), "{}", s.name);
                }
                _ => assert_eq!(shown, s.default, "{}", s.name),
            }
        }
    }

    #[test]
    fn counts_and_send_timeout_take_their_ranges() {
        let c = raw(&[
            (Key::MaxConnections, "100"),
            (Key::UploadConcurrency, "3"),
            (Key::SendTimeout, "5s"),
        ])
        .resolve()
        .unwrap();
        assert_eq!(c.max_connections, 100);
        // The per-address cap never exceeds the total one.
        assert_eq!(c.max_connections_per_ip, 100);
        assert_eq!(c.upload_concurrency, 3);
        assert_eq!(c.send_timeout, Duration::from_secs(5));
        for (key, bad) in [
            (Key::MaxConnections, "0"),
            (Key::MaxConnections, "lots"),
            (Key::MaxConnectionsPerIp, "0"),
            (Key::UploadConcurrency, "0"),
            (Key::SendTimeout, "0"),
        ] {
            let e = raw(&[(key, bad)]).resolve().unwrap_err().to_string();
            assert!(e.starts_with(&key.setting().label()), "{e}");
        }
    }

    #[test]
    fn a_weak_admin_token_is_refused_with_the_reason() {
        for weak in [
            "abc",
            "password123",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "abababababababababababababababababababab",
            "correcthorsebatterystaple",
            "0123456789abcdef",
        ] {
            let e = raw(&[(Key::AdminToken, weak)])
                .resolve()
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("admin_token (GOSHELF_ADMIN_TOKEN): too weak"),
                "{weak}: {e}"
            );
            assert!(e.contains("openssl rand -hex 16"), "{e}");
        }
        for strong in [
            "3f1c0a9b2d4e6f708192a3b4c5d6e7f8",
            "goshelf-test-admin-token-8f2c61d0a7e94b3c",
            "gs_Qm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
        ] {
            let c = raw(&[(Key::AdminToken, strong)]).resolve().unwrap();
            assert_eq!(c.admin_token.as_deref(), Some(strong));
            assert!(token_bits(strong) >= MIN_ADMIN_TOKEN_BITS, "{strong}");
        }
        // A generated token is always strong enough.
        let generated = crate::auth::generate_token();
        assert!(
            token_bits(&generated) >= MIN_ADMIN_TOKEN_BITS,
            "{generated}"
        );
    }

    #[test]
    fn timeouts_take_seconds_with_or_without_s_and_refuse_the_rest() {
        let with = |idle: &str, header: &str| {
            raw(&[(Key::UploadIdleTimeout, idle), (Key::HeaderTimeout, header)]).resolve()
        };
        let c = with("120", " 5s ").unwrap();
        assert_eq!(c.upload_idle_timeout, Duration::from_secs(120));
        assert_eq!(c.header_timeout, Duration::from_secs(5));
        assert_eq!(with("3600s", "1").unwrap().upload_idle_timeout, MAX_TIMEOUT);
        for bad in ["0", "3601", "-1", "1.5", "1m", "s", "ten"] {
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
        let c = ok(raw(&[(Key::TlsSelfSigned, "localhost, 127.0.0.1")]));
        let tls = c.tls.unwrap();
        assert_eq!(tls.listen.to_string(), DEFAULT_TLS_LISTEN);
        assert_eq!(
            tls.source,
            TlsSource::SelfSigned {
                names: vec!["127.0.0.1".into(), "localhost".into()]
            }
        );
        let c = ok(raw(&[
            (Key::Listen, "OFF"),
            (Key::TlsCert, "c.pem"),
            (Key::TlsKey, "k.pem"),
            (Key::TlsListen, "127.0.0.1:9443"),
        ]));
        assert_eq!(c.listen, None);
        assert!(matches!(
            c.tls.unwrap().source,
            TlsSource::Files { cert, key } if cert.is_absolute() && key.ends_with("k.pem")
        ));
        let c = ok(raw(&[
            (Key::TlsSelfSigned, "localhost"),
            (Key::RedirectHttp, "yes"),
        ]));
        assert!(c.redirect_http);

        for (raw, needle) in [
            (raw(&[(Key::TlsCert, "c.pem")]), "needs tls_key"),
            (
                raw(&[
                    (Key::TlsCert, "c.pem"),
                    (Key::TlsKey, "k.pem"),
                    (Key::TlsSelfSigned, "localhost"),
                ]),
                "exclude each other",
            ),
            (
                raw(&[(Key::TlsListen, "0.0.0.0:8443")]),
                "needs a certificate",
            ),
            (raw(&[(Key::RedirectHttp, "true")]), "needs HTTPS"),
            (raw(&[(Key::Listen, "off")]), "nothing would be served"),
            (
                raw(&[
                    (Key::Listen, "off"),
                    (Key::TlsSelfSigned, "localhost"),
                    (Key::RedirectHttp, "true"),
                ]),
                "needs the plain listener",
            ),
            (raw(&[(Key::TlsSelfSigned, "nas lan")]), "not a host name"),
            (
                raw(&[
                    (Key::TlsSelfSigned, "localhost"),
                    (Key::RedirectHttp, "maybe"),
                ]),
                "not true or false",
            ),
        ] {
            let e = bad(raw);
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
        }
    }

    #[test]
    fn from_file_reads_tls_keys_and_boolean_redirect() {
        let file = TomlFile::new();
        let raw = file
            .read("tls_cert = \"tls/c.pem\"\ntls_key = \"/k.pem\"\nredirect_http = true\n")
            .unwrap();
        assert_eq!(
            raw.get(Key::TlsCert),
            Some(file.beside("tls/c.pem").as_str())
        );
        assert_eq!(raw.get(Key::TlsKey), Some("/k.pem"));
        assert_eq!(raw.get(Key::RedirectHttp), Some("true"));
    }
}
