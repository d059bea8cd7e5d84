//! The pages, as data (`*Page` structs) rendered by askama templates in `assets/templates/`.
//! Askama escapes every `{{ value }}` for HTML; the one value marked `|safe` is README HTML,
//! which `markdown::render` has already sanitised. Handlers (src/http/ui/) fill the structs;
//! nothing here does I/O.

use askama::Template;

use crate::gomod::path as modpath;

/// What every page's frame needs.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub title: String,
    /// Fingerprinted URLs of the stylesheet and the script.
    pub css: String,
    pub js: String,
    /// The signed-in user, if any.
    pub viewer: Option<String>,
    /// Whether the signed-in user is an admin (the settings link).
    pub admin: bool,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: String,
    /// The search box's text.
    pub query: String,
}

/// A namespace on the home page.
#[derive(Debug, Clone)]
pub struct NamespaceRow {
    pub name: String,
    pub href: String,
    pub modules: usize,
    pub versions: usize,
    pub private: bool,
}

/// A module in a listing.
#[derive(Debug, Clone)]
pub struct ModuleRow {
    pub owner: String,
    pub module: String,
    pub href: String,
    pub latest: String,
    pub date: String,
    pub size: String,
    pub versions: usize,
}

/// A published version in the "recently published" list.
#[derive(Debug, Clone)]
pub struct RecentRow {
    pub owner: String,
    pub module: String,
    pub version: String,
    pub href: String,
    pub date: String,
}

/// Storage figures on the home page.
#[derive(Debug, Clone, Default)]
pub struct StorageView {
    pub versions: u64,
    pub stored: String,
    pub saved: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub namespaces: Vec<NamespaceRow>,
    pub recent: Vec<RecentRow>,
    pub searched: bool,
    pub results: Vec<ModuleRow>,
    /// Exported symbols named by the query (`NewReader`, `Client.Do`, `http.Get`).
    pub symbols: Vec<SymbolRow>,
    pub storage: StorageView,
}

#[derive(Template)]
#[template(path = "namespace.html")]
pub struct NamespacePage {
    pub chrome: Chrome,
    pub owner: String,
    pub private: bool,
    pub proxy_url: String,
    pub modules: Vec<ModuleRow>,
    /// What its retention rules do (`Retention::describe`).
    pub retention: String,
    /// Whether the viewer may change them (a writer of the namespace): the form shows.
    pub can_edit: bool,
    /// The form's current values (empty: that rule is off).
    pub keep_pseudo: String,
    pub keep_pseudo_days: String,
    pub prerelease_days: String,
}

/// A version in the module page's list.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: String,
    pub href: String,
    pub date: String,
    pub size: String,
    pub downloads: u64,
    pub is_latest: bool,
    pub is_current: bool,
    pub is_retracted: bool,
    pub retract_reason: String,
}

/// A file in the zip listing.
#[derive(Debug, Clone)]
pub struct FileRow {
    pub name: String,
    pub size: String,
}

#[derive(Template)]
#[template(path = "module.html")]
pub struct ModulePage {
    pub chrome: Chrome,
    /// Where the shown version stands in the checksum database.
    pub record: String,
    pub owner: String,
    pub owner_href: String,
    pub module: String,
    pub version: String,
    pub latest: String,
    pub latest_href: String,
    pub is_latest: bool,
    pub date: String,
    pub size: String,
    pub deprecated: Option<String>,
    pub is_retracted: bool,
    pub retract_reason: String,
    pub proxy_url: String,
    pub install: String,
    pub gosum: String,
    pub readme_name: String,
    /// Sanitised README HTML (`markdown::render`), shown with `|safe`.
    pub readme_html: String,
    pub readme_too_large: bool,
    pub go_mod: String,
    pub files: Vec<FileRow>,
    pub file_count: usize,
    pub more_files: usize,
    pub unpacked: String,
    pub downloads: u64,
    pub versions: Vec<VersionRow>,
    /// The version's packages (`gomod::doc`), root first.
    pub packages: Vec<PackageRow>,
}

/// A package on the module page.
#[derive(Debug, Clone)]
pub struct PackageRow {
    pub import_path: String,
    pub href: String,
    pub synopsis: String,
    pub internal: bool,
    pub command: bool,
}

/// A file of a version's zip, its lines anchored `#L{n}`.
#[derive(Template)]
#[template(path = "source.html")]
pub struct SourcePage {
    pub chrome: Chrome,
    pub owner: String,
    pub owner_href: String,
    pub module: String,
    pub module_href: String,
    pub version: String,
    pub version_href: String,
    pub path: String,
    pub size: String,
    /// False when the file is too large or not UTF-8 text.
    pub shown: bool,
    pub lines: Vec<String>,
}

/// A symbol search result on the home page.
#[derive(Debug, Clone)]
pub struct SymbolRow {
    pub symbol: String,
    pub import_path: String,
    pub line: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFoundPage {
    pub chrome: Chrome,
    pub message: String,
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    pub error: String,
    pub user: String,
    /// Where to go after signing in (a local path).
    pub next: String,
}

/// A token on the tokens page.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    pub chrome: Chrome,
    pub tokens: Vec<TokenRow>,
    /// A token just created: its secret, shown once.
    pub new_secret: String,
    pub new_name: String,
    pub message: String,
}

/// A version of the pull-through cache, as the cache page shows it.
#[derive(Debug, Clone)]
pub struct CachedRow {
    pub module: String,
    pub version: String,
    /// The zip's size, or `-` when only `.info` and `.mod` were asked.
    pub zip: String,
    pub origin: String,
    /// When it was fetched (RFC 3339).
    pub fetched: String,
    pub downloads: u64,
    /// Its package docs (`/cache/{module}/@v/{version}/pkg`), when its zip is cached.
    pub docs_href: Option<String>,
}

/// The admins' page of the pull-through cache (`/cache`).
#[derive(Template)]
#[template(path = "cache.html")]
pub struct CachePage {
    pub chrome: Chrome,
    pub rows: Vec<CachedRow>,
    /// Bytes of cached zips, and the cap (`cache_max_bytes`; 0: none), shown as text.
    pub bytes: String,
    pub cap: String,
    /// Where public modules come from (`upstream`), or why nothing is fetched.
    pub upstream: String,
}

/// The admins' settings page: what changes at once, without a restart.
#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    /// The `GOSUMDB=` value clients use.
    pub gosumdb: String,
    /// `private` patterns (GOPRIVATE syntax).
    pub patterns: Vec<String>,
    /// Paths of non-public namespaces that no pattern covers (answered as private).
    pub uncovered: Vec<String>,
    /// (module path, namespace) of `goshelf owner claim`.
    pub claims: Vec<(String, String)>,
    /// The outcome of the last change, if any.
    pub message: String,
    pub error: String,
}

/// Escapes text for HTML element content and quoted attributes.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `/ui/{owner}`.
#[must_use]
pub fn namespace_href(owner: &str) -> String {
    format!("/ui/{owner}")
}

/// `/ui/{owner}/{module}`: the module path `!`-escaped as on the GOPROXY protocol (spec.md
/// §1.3), so upper case survives case-insensitive handling and the path needs no
/// percent-encoding (module paths are `[A-Za-z0-9-._~/]`).
#[must_use]
pub fn module_href(owner: &str, module: &str) -> String {
    let escaped = modpath::escape_path(module).unwrap_or_else(|_| module.to_owned());
    format!("/ui/{owner}/{escaped}")
}

/// `/ui/{owner}/{module}/@v/{version}`: module paths never contain `@`, so the split is
/// unambiguous.
#[must_use]
pub fn version_href(owner: &str, module: &str, version: &str) -> String {
    let v = modpath::escape_version(version).unwrap_or_else(|_| version.to_owned());
    format!("{}/@v/{v}", module_href(owner, module))
}

/// Characters of a package directory or file path kept as they are in a URL path.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+');

/// A package's documentation page: `/ui/{owner}/{module}/@v/{version}/pkg/{dir}` at a
/// version, `/ui/{owner}/{module}/@latest/pkg/{dir}` at the latest (`/pkg` alone for the
/// module's root package).
#[must_use]
pub fn package_href(owner: &str, module: &str, version: Option<&str>, dir: &str) -> String {
    let at = match version {
        Some(v) => version_href(owner, module, v),
        None => format!("{}/@latest", module_href(owner, module)),
    };
    pkg_href_under(&at, dir)
}

/// `{base}/pkg` or `{base}/pkg/{dir}` (percent-encoded) below a version's (or `@latest`'s)
/// pages.
#[must_use]
pub fn pkg_href_under(base: &str, dir: &str) -> String {
    if dir.is_empty() {
        format!("{base}/pkg")
    } else {
        format!(
            "{base}/pkg/{}",
            percent_encoding::utf8_percent_encode(dir, PATH)
        )
    }
}

/// The source view of a file of a version's zip: `{base}/src/{path}`.
#[must_use]
pub fn src_href_under(base: &str, path: &str) -> String {
    format!(
        "{base}/src/{}",
        percent_encoding::utf8_percent_encode(path, PATH)
    )
}

/// A cached version's pages: `/cache/{module}/@v/{version}` (`!`-escaped).
#[must_use]
pub fn cached_version_href(module: &str, version: &str) -> String {
    let m = modpath::escape_path(module).unwrap_or_else(|_| module.to_owned());
    let v = modpath::escape_version(version).unwrap_or_else(|_| version.to_owned());
    format!("/cache/{m}/@v/{v}")
}

/// A cached module's pages at its latest cached version: `/cache/{module}/@latest`.
#[must_use]
pub fn cached_latest_href(module: &str) -> String {
    let m = modpath::escape_path(module).unwrap_or_else(|_| module.to_owned());
    format!("/cache/{m}/@latest")
}

/// Unix seconds as `2006-01-02 15:04 UTC`.
#[must_use]
pub fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix).map_or_else(
        |_| "-".to_owned(),
        |t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        },
    )
}

/// Bytes for people: `512 B`, `1.5 KiB`, `2.0 MiB`.
#[must_use]
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The `go-import` page (spec.md §6.1): the tag first in `<head>`, where the go command's
/// parser looks.
#[must_use]
pub fn go_import_page(module: &str, proxy_url: &str) -> String {
    let content = escape(&format!("{module} mod {proxy_url}"));
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\n<meta name=\"go-import\" \
         content=\"{content}\">\n<title>{m}</title></head>\n<body>go get {m}</body></html>\n",
        m = escape(module)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_escape_upper_case_and_keep_slashes() {
        assert_eq!(
            module_href("acme", "github.com/Azure/go"),
            "/ui/acme/github.com/!azure/go"
        );
        assert_eq!(
            version_href("acme", "example.com/m", "v1.0.0-RC.1"),
            "/ui/acme/example.com/m/@v/v1.0.0-!r!c.1"
        );
    }

    #[test]
    fn size_and_date_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(2 << 20), "2.0 MiB");
        assert_eq!(date(1_704_207_845), "2024-01-02 15:04 UTC");
    }

    #[test]
    fn go_import_page_escapes_its_content() {
        let page = go_import_page("h.lan/m\"><script>", "http://h.lan/api/packages/o/go");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("<meta name=\"go-import\" content=\"h.lan/m&quot;&gt;&lt;script&gt; mod http://h.lan/api/packages/o/go\">"));
    }
}
