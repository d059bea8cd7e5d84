//! README rendering: CommonMark (with tables, strikethrough, task lists) to HTML that is safe
//! to put in our pages. Raw HTML in the Markdown is shown as text, never passed through, so
//! no `<script>`, no event handler attribute and no `<iframe>` can reach the page; link and
//! image URLs keep only the schemes http, https and mailto (and relative URLs).
//!
//! Pure: bytes in, a string out.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

/// Renders Markdown to sanitised HTML.
#[must_use]
pub fn render(markdown: &str) -> String {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    let events = Parser::new_ext(markdown, opts).map(|event| match event {
        // Raw HTML becomes text: pulldown-cmark escapes text when it writes it.
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 4);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    if is_safe_url(&url) {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

/// Whether a link target may be followed: relative (no scheme), or http, https, mailto.
///
/// Browsers drop ASCII tabs and newlines anywhere in a URL and ignore leading control
/// characters and spaces (WHATWG URL), so `java\tscript:` is `javascript:`; the scheme is
/// read after removing them.
#[must_use]
pub fn is_safe_url(url: &str) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let cleaned = cleaned.trim_start_matches(|c: char| c <= ' ');
    let end = cleaned.find(['/', '?', '#']).unwrap_or(cleaned.len());
    match cleaned[..end].find(':') {
        None => true,
        Some(colon) => {
            let scheme = cleaned[..colon].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_escapes_raw_html_and_handlers() {
        let html = render("# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\ntext <b onclick=\"x()\">b</b>\n");
        assert!(html.contains("<h1>Hi</h1>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b "), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn render_neutralises_dangerous_link_schemes() {
        for src in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](<java\tscript:alert(1)>)",
            "[x](data:text/html,<script>)",
            "[x](vbscript:x)",
            "![i](javascript:alert(1))",
            "<javascript:alert(1)>",
        ] {
            let html = render(src);
            let urls: Vec<&str> = [" href=\"", " src=\""]
                .iter()
                .flat_map(|attr| html.split(attr).skip(1))
                .filter_map(|rest| rest.split('"').next())
                .collect();
            assert!(
                urls.iter().all(|u| *u == "#"),
                "{src} -> {html} (urls {urls:?})"
            );
        }
        let html = render("[a](https://go.dev/) [b](docs/x.md) [c](mailto:a@b.c) [d](#top)");
        for want in [
            "href=\"https://go.dev/\"",
            "href=\"docs/x.md\"",
            "href=\"mailto:a@b.c\"",
            "href=\"#top\"",
        ] {
            assert!(html.contains(want), "{want} in {html}");
        }
    }

    #[test]
    fn is_safe_url_reads_the_scheme_before_any_path() {
        assert!(is_safe_url("a/b:c"));
        assert!(is_safe_url("?q=a:b"));
        assert!(!is_safe_url(" \u{1}javascript:x"));
        assert!(!is_safe_url("file:///etc/passwd"));
    }
}
