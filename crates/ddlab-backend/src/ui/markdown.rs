//! Markdown and plain text made safe for pages: note widgets, event texts, monitor messages.
//!
//! Nothing in the input reaches the page as markup: raw HTML inside markdown is shown as text, link
//! targets other than `http(s)`, `mailto` and relative ones are dropped, and images become links so a
//! note never makes the browser fetch anything by itself.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

use super::chart::esc;

/// Markdown (CommonMark with tables and strikethrough) as safe HTML.
pub(crate) fn markdown(text: &str) -> String {
    markdown_with(text, true)
}

/// Markdown as safe HTML; without `relative_links`, links to this site's pages are dropped too (public
/// share pages link nowhere into the private UI).
pub(crate) fn markdown_with(text: &str, relative_links: bool) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        })
        | Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url, relative_links),
            title,
            id,
        }),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// Plain text as HTML: escaped, with `http(s)://` URLs as links and `@handles` marked.
pub(crate) fn linkify(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = find_url(rest) {
        let (before, from_url) = rest.split_at(at);
        out.push_str(&handles(before));
        let end = from_url
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ')' | ']'))
            .unwrap_or(from_url.len());
        let url = from_url[..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        out.push_str(&format!(
            r#"<a href="{0}" rel="noopener noreferrer">{0}</a>"#,
            esc(url)
        ));
        rest = &from_url[url.len()..];
    }
    out.push_str(&handles(rest));
    out
}

/// Every `http(s)://` URL in `text`, in order.
pub(crate) fn urls(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = find_url(rest) {
        let from_url = &rest[at..];
        let end = from_url
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ')' | ']'))
            .unwrap_or(from_url.len());
        let url = from_url[..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        found.push(url.to_owned());
        rest = &from_url[url.len().max(1)..];
    }
    found
}

fn find_url(text: &str) -> Option<usize> {
    match (text.find("http://"), text.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Escapes `text` and wraps `@handles` (an `@` starting a word, up to whitespace) so they stand out.
fn handles(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        let handle_len = word.strip_prefix('@').map_or(0, |h| {
            h.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']).len()
        });
        if handle_len > 0 {
            let (handle, tail) = word.split_at(handle_len + 1);
            out.push_str(&format!(
                r#"<span class="handle">{}</span>{}"#,
                esc(handle),
                esc(tail)
            ));
        } else {
            out.push_str(&esc(word));
        }
        let space_end = after.find(|c: char| !c.is_whitespace()).unwrap_or(after.len());
        out.push_str(&esc(&after[..space_end]));
        rest = &after[space_end..];
    }
    out
}

fn safe_url(url: CowStr<'_>, relative: bool) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme_end = lower.find(':');
    let path_start = lower.find(['/', '?', '#']).unwrap_or(lower.len());
    let allowed = match scheme_end {
        Some(end) if end < path_start => {
            let scheme = &lower[..end];
            matches!(scheme, "http" | "https" | "mailto")
        }
        // No scheme: a relative link.
        _ => relative,
    };
    if allowed { url } else { CowStr::Borrowed("#") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_and_html_escaped() {
        assert_eq!(
            markdown("**What** `q`"),
            "<p><strong>What</strong> <code>q</code></p>\n"
        );
        assert_eq!(
            markdown("<script>alert(1)</script>\n\nok <b>x</b>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;\n<p>ok &lt;b&gt;x&lt;/b&gt;</p>\n"
        );
        assert_eq!(
            markdown("[x](javascript:alert(1)) [y](https://example.com/a?b=1&c=\"2\") [z](/event/stream)"),
            "<p><a href=\"#\">x</a> <a href=\"https://example.com/a?b=1&amp;c=%222%22\">y</a> <a href=\"/event/stream\">z</a></p>\n"
        );
        // Public pages keep no links into the private UI.
        assert_eq!(
            markdown_with("[stream](/event/stream) [dd](https://docs.datadoghq.com)", false),
            "<p><a href=\"#\">stream</a> <a href=\"https://docs.datadoghq.com\">dd</a></p>\n"
        );
        // Images become links: nothing is fetched.
        assert_eq!(
            markdown("![graph](https://example.com/g.png)"),
            "<p><a href=\"https://example.com/g.png\">graph</a></p>\n"
        );
    }

    #[test]
    fn text_gets_links_and_handles() {
        assert_eq!(
            linkify("see http://127.0.0.1:8480/snapshot/view/a.png. @ops@example.com <b>"),
            "see <a href=\"http://127.0.0.1:8480/snapshot/view/a.png\" rel=\"noopener noreferrer\">\
             http://127.0.0.1:8480/snapshot/view/a.png</a>. <span class=\"handle\">@ops@example.com</span> &lt;b&gt;"
        );
        assert_eq!(linkify("\"><script>"), "&quot;&gt;&lt;script&gt;");
        assert_eq!(
            linkify("ping @ops,\n\nDowntime 2"),
            "ping <span class=\"handle\">@ops</span>,\n\nDowntime 2"
        );
        assert_eq!(
            urls("a https://x.y/1, b http://z/2."),
            ["https://x.y/1", "http://z/2"]
        );
    }
}
