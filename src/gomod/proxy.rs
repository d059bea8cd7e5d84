//! The GOPROXY protocol's request paths, pure (spec.md §1.1–§1.3, §1.6): where the bases are
//! (Gitea's scheme, `/api/packages/{owner}/go/`, and the LAN's one base, `/go/`, also at
//! `/api/packages/go/`), what a path under a base asks for, the percent codec, and which
//! version `@latest` names. Every serving path (the fast path, the
//! connection parser, the handlers), the metrics and the web UI read paths with these.

use super::{path as modpath, version};

/// What every GOPROXY base starts with: `/api/packages/{owner}/go/`.
pub const PACKAGES: &str = "/api/packages/";

/// The owner [`split`] gives for the LAN's one base: no namespace has an empty name.
pub const LAN: &str = "";

/// The LAN's one base (no trailing `/`), as a path.
pub const LAN_BASE: &str = "/go";

/// The GOPROXY base of namespace `owner` (no trailing `/`), as a path.
#[must_use]
pub fn base(owner: &str) -> String {
    format!("{PACKAGES}{owner}/go")
}

/// `(owner, tail)` of a path under a GOPROXY base: `/api/packages/{owner}/go/{tail}` (the
/// owner not empty), or [`LAN`] for `/go/{tail}` and `/api/packages/go/{tail}` (where the tail
/// does not start with `go/`: a module path's first element has a dot, so the namespace named
/// `go` keeps its base `/api/packages/go/go/`). The tail is as it came, still
/// percent-encoded. `None` for any other path.
#[must_use]
pub fn split(path: &str) -> Option<(&str, &str)> {
    if let Some(tail) = path.strip_prefix("/go/") {
        return Some((LAN, tail));
    }
    let rest = path.strip_prefix(PACKAGES)?;
    let (owner, rest) = rest.split_once('/')?;
    match rest.strip_prefix("go/") {
        Some(tail) if !owner.is_empty() => Some((owner, tail)),
        None if owner == "go" => Some((LAN, rest)),
        _ => None,
    }
}

/// What a tail under a base asks for, by its shape alone (nothing decoded or checked): for
/// labels and routing, where `parse` would cost an allocation per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    List,
    Latest,
    Info,
    Mod,
    Zip,
    Sumdb,
    /// `upload` (a `PUT`).
    Upload,
    Other,
}

/// The [`Kind`] of `tail` (what follows `/api/packages/{owner}/go/`).
#[must_use]
pub fn kind(tail: &str) -> Kind {
    if tail == "upload" {
        Kind::Upload
    } else if tail.starts_with("sumdb/") {
        Kind::Sumdb
    } else if tail.ends_with("/@v/list") {
        Kind::List
    } else if tail.ends_with("/@latest") {
        Kind::Latest
    } else if tail.ends_with(".info") {
        Kind::Info
    } else if tail.ends_with(".mod") {
        Kind::Mod
    } else if tail.ends_with(".zip") {
        Kind::Zip
    } else {
        Kind::Other
    }
}

/// What a GOPROXY request asks for, after percent- and `!`-decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    List {
        module: String,
    },
    Latest {
        module: String,
    },
    Info {
        module: String,
        version: String,
    },
    Mod {
        module: String,
        version: String,
    },
    Zip {
        module: String,
        version: String,
    },
    /// `sumdb/<rest>`: the shelf's own checksum database (`http::sumdb`).
    Sumdb {
        rest: String,
    },
}

/// Parses the part of a request path after the GOPROXY base: percent-decode once, then split
/// off the `@v/...` or `@latest` suffix and `!`-decode module and version (spec.md §1.1, §1.3).
///
/// # Errors
/// A one-line reason for a 404: the path is not a module request, or its escapes are malformed.
pub fn parse(tail: &str) -> Result<Request, String> {
    let decoded = percent_decode(tail).ok_or("malformed percent-encoding in path")?;
    if let Some(rest) = decoded.strip_prefix("sumdb/") {
        return Ok(Request::Sumdb {
            rest: rest.to_owned(),
        });
    }
    if let Some(escaped) = decoded.strip_suffix("/@latest") {
        return Ok(Request::Latest {
            module: unescape_module(escaped)?,
        });
    }
    let (escaped, rest) = decoded
        .split_once("/@v/")
        .ok_or("not a module proxy request")?;
    let module = unescape_module(escaped)?;
    if rest == "list" {
        return Ok(Request::List { module });
    }
    let (escaped_version, ext) = rest.rsplit_once('.').ok_or("unknown request")?;
    let version = modpath::unescape_version(escaped_version)
        .map_err(|e| format!("invalid version escape: {e}"))?;
    match ext {
        "info" => Ok(Request::Info { module, version }),
        "mod" => Ok(Request::Mod { module, version }),
        "zip" => Ok(Request::Zip { module, version }),
        _ => Err("unknown request".into()),
    }
}

fn unescape_module(escaped: &str) -> Result<String, String> {
    modpath::unescape_path(escaped)
        .map(|p| p.as_str().to_owned())
        .map_err(|e| format!("invalid module path: {e}"))
}

/// Percent-decodes a URL path segment or path; `None` for a result that is not UTF-8 or a
/// `%` not followed by two hex digits. `+` stays `+` (spec.md §1.1: never a space).
#[must_use]
pub fn percent_decode(s: &str) -> Option<String> {
    // `percent_encoding` passes a malformed `%` through as it is; a GOPROXY path with one is
    // not a request any go command makes.
    let bytes = s.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Percent-encodes one path segment: everything but RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), so a `/` in it becomes `%2F`.
#[must_use]
pub fn percent_encode_segment(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// `@latest` on the server (spec.md §1.6, §3.7): the highest release, else the highest
/// prerelease, else the pseudo-version with the newest embedded time. Never by upload time.
#[must_use]
pub fn select_latest<'a>(versions: impl IntoIterator<Item = &'a str> + Clone) -> Option<&'a str> {
    let best = |pred: &dyn Fn(&str) -> bool| {
        versions
            .clone()
            .into_iter()
            .filter(|v| pred(v))
            .max_by(|a, b| version::compare(a, b).then_with(|| a.cmp(b)))
    };
    best(&|v| !version::is_pseudo(v) && version::prerelease(v).is_empty())
        .or_else(|| best(&|v| !version::is_pseudo(v)))
        .or_else(|| {
            versions
                .into_iter()
                .filter(|v| version::is_pseudo(v))
                .max_by(|a, b| {
                    let (ta, tb) = (version::pseudo_time(a).ok(), version::pseudo_time(b).ok());
                    ta.cmp(&tb)
                        .then_with(|| version::compare(a, b))
                        .then_with(|| a.cmp(b))
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_owner_and_tail_under_a_base_only() {
        assert_eq!(
            split("/api/packages/acme/go/example.com/m/@v/list"),
            Some(("acme", "example.com/m/@v/list"))
        );
        assert_eq!(
            split("/api/packages/acme/go/upload"),
            Some(("acme", "upload"))
        );
        assert_eq!(split("/api/packages/acme/go/"), Some(("acme", "")));
        // The LAN's base, at both places; the namespace named `go` keeps its own.
        assert_eq!(
            split("/go/example.com/m/@v/list"),
            Some((LAN, "example.com/m/@v/list"))
        );
        assert_eq!(
            split("/api/packages/go/example.com/m/@latest"),
            Some((LAN, "example.com/m/@latest"))
        );
        assert_eq!(
            split("/api/packages/go/sumdb/x/supported"),
            Some((LAN, "sumdb/x/supported"))
        );
        assert_eq!(
            split("/api/packages/go/go/x.y/@v/list"),
            Some(("go", "x.y/@v/list"))
        );
        assert_eq!(split(&format!("{LAN_BASE}/x")), Some((LAN, "x")));
        for other in [
            "/api/packages//go/x/@v/list",
            "/api/packages/acme/npm/x",
            "/api/packages/acme/go",
            "/api/v1/packages/acme/go/x",
            "/ui/acme",
            "/go",
            "/golang/x",
        ] {
            assert_eq!(split(other), None, "{other}");
        }
        assert_eq!(base("acme"), "/api/packages/acme/go");
        assert_eq!(split(&format!("{}/x", base("acme"))), Some(("acme", "x")));
    }

    #[test]
    fn kind_is_the_shape_of_a_tail() {
        for (tail, k) in [
            ("example.com/m/@v/list", Kind::List),
            ("example.com/m/@latest", Kind::Latest),
            ("example.com/m/@v/v1.0.0.info", Kind::Info),
            ("example.com/m/@v/v1.0.0.mod", Kind::Mod),
            ("example.com/m/@v/v1.0.0.zip", Kind::Zip),
            ("sumdb/sum.golang.org/supported", Kind::Sumdb),
            ("upload", Kind::Upload),
            ("example.com/m", Kind::Other),
            ("", Kind::Other),
        ] {
            assert_eq!(kind(tail), k, "{tail}");
        }
    }

    #[test]
    fn percent_codec_round_trips_and_refuses_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb%21c+d").as_deref(), Some("a/b!c+d"));
        assert_eq!(percent_decode("%e2%9c%93").as_deref(), Some("\u{2713}"));
        for bad in ["%", "%2", "%zz", "a%g0", "%ff"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        for s in [
            "example.com/Upper/lib",
            "a b+c%d~e",
            "\u{e9}t\u{e9}",
            "*.corp/x",
        ] {
            let e = percent_encode_segment(s);
            assert!(
                !e.contains('/') && !e.contains(' ') && !e.contains('+'),
                "{e}"
            );
            assert_eq!(percent_decode(&e).as_deref(), Some(s));
        }
        assert_eq!(percent_encode_segment("a-b.c_d~e"), "a-b.c_d~e");
    }

    #[test]
    fn parse_request_decodes_percent_then_bang() {
        assert_eq!(
            parse("github.com/%21azure/x/@v/list"),
            Ok(Request::List {
                module: "github.com/Azure/x".into()
            })
        );
        assert_eq!(
            parse("example.com/m/@v/v3.0.0+incompatible.info"),
            Ok(Request::Info {
                module: "example.com/m".into(),
                version: "v3.0.0+incompatible".into()
            })
        );
        assert_eq!(
            parse("example.com/m/@v/v1.0.0-%21rc.zip"),
            Ok(Request::Zip {
                module: "example.com/m".into(),
                version: "v1.0.0-Rc".into()
            })
        );
        assert!(parse("example.com/m/@v/v1.0.0-%21r%43.zip").is_err());
        assert_eq!(
            parse("example.com/m/@v/v1.0.0.mod"),
            Ok(Request::Mod {
                module: "example.com/m".into(),
                version: "v1.0.0".into()
            })
        );
        assert_eq!(
            parse("example.com/m/@latest"),
            Ok(Request::Latest {
                module: "example.com/m".into()
            })
        );
        assert_eq!(
            parse("sumdb/sum.golang.org/supported"),
            Ok(Request::Sumdb {
                rest: "sum.golang.org/supported".into()
            })
        );
    }

    #[test]
    fn parse_request_rejects_malformed_escapes_and_non_requests() {
        assert!(parse("github.com/Azure/x/@v/list").is_err());
        assert!(parse("github.com/!!azure/x/@v/list").is_err());
        assert!(parse("example.com/m/%zz/@v/list").is_err());
        assert!(parse("example.com/m").is_err());
        assert!(parse("example.com/m/@v/v1.0.0.tar").is_err());
        assert!(parse("example.com/m/@v/").is_err());
    }

    #[test]
    fn select_latest_prefers_release_then_prerelease_then_newest_pseudo() {
        assert_eq!(
            select_latest(["v1.0.0", "v1.10.0", "v1.9.0", "v2.0.0-rc.1"]),
            Some("v1.10.0")
        );
        assert_eq!(
            select_latest(["v1.0.0-beta.2", "v1.0.0-beta.10"]),
            Some("v1.0.0-beta.10")
        );
        assert_eq!(
            select_latest([
                "v1.2.4-0.20200101000000-aaaaaaaaaaaa",
                "v0.0.0-20240101000000-bbbbbbbbbbbb"
            ]),
            Some("v0.0.0-20240101000000-bbbbbbbbbbbb")
        );
        assert_eq!(
            select_latest(["v0.0.0-20240101000000-bbbbbbbbbbbb", "v0.1.0-pre"]),
            Some("v0.1.0-pre")
        );
        assert_eq!(select_latest(std::iter::empty::<&str>()), None);
    }
}
