//! The string and byte-string literals of Rust source, read without a Rust parser: enough to take
//! test data out of the repository's own files (the fuzzers' seeds), not a lexer for every program.
//!
//! Comments are skipped, and so are character literals, so a quote in either starts no string; raw
//! strings end at their own closing quote and hashes. The common escapes are resolved (`\n`, `\x41`,
//! `\u{e9}`; a line continuation drops the newline and the next line's indentation). Byte strings give
//! their bytes like strings; the `b` prefix is not kept. Nested block comments are not tracked: the
//! first `*/` ends a comment.

/// The string and byte-string literals of Rust source, escapes resolved, raw strings included.
/// Comments and character literals are skipped so their quotes start no string.
pub(crate) fn string_literals(source: &str) -> Vec<Vec<u8>> {
    let bytes = source.as_bytes();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            i += rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        } else if rest.starts_with(b"/*") {
            i += rest
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 2);
        } else if bytes[i] == b'\'' {
            i += char_literal_len(rest);
        } else if let Some((hashes, start)) = raw_string_start(bytes, i) {
            let closing: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let body = &bytes[start..];
            let end = body
                .windows(closing.len())
                .position(|w| w == closing.as_slice())
                .unwrap_or(body.len());
            literals.push(body[..end].to_vec());
            i = start + end + closing.len();
        } else if bytes[i] == b'"' {
            let (literal, len) = quoted(&bytes[i + 1..]);
            literals.push(literal);
            i += 1 + len;
        } else {
            i += 1;
        }
    }
    literals
}

/// `'x'`, `'\n'` or `'\u{1f}'` is skipped whole; a lifetime (`'a`) only its quote.
fn char_literal_len(rest: &[u8]) -> usize {
    if rest.get(1) == Some(&b'\\') {
        return rest[2..]
            .iter()
            .position(|b| *b == b'\'')
            .map_or(rest.len(), |p| p + 3);
    }
    let width = rest
        .get(1)
        .map_or(1, |first| utf8_width(*first))
        .min(rest.len().saturating_sub(1));
    if rest.get(1 + width) == Some(&b'\'') {
        2 + width
    } else {
        1
    }
}

fn utf8_width(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// At `r"`, `r#"`, `br#"`, … (not inside an identifier): the number of `#` and where the body starts.
fn raw_string_start(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    let previous = i.checked_sub(1).map(|p| bytes[p]);
    if previous.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let mut at = i;
    if bytes.get(at) == Some(&b'b') {
        at += 1;
    }
    if bytes.get(at) != Some(&b'r') {
        return None;
    }
    at += 1;
    let hashes = bytes[at..].iter().take_while(|b| **b == b'#').count();
    at += hashes;
    (bytes.get(at) == Some(&b'"')).then_some((hashes, at + 1))
}

/// The body of a `"…"` literal starting after its quote, escapes resolved, and the length read
/// including the closing quote.
fn quoted(body: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => return (out, i + 1),
            b'\\' if i + 1 < body.len() => {
                i += 1;
                match body[i] {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'0' => out.push(0),
                    b'x' => {
                        let hex = body.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                        if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                            out.push(byte);
                        }
                        i += 2;
                    }
                    b'u' => {
                        let end = body[i..]
                            .iter()
                            .position(|b| *b == b'}')
                            .map_or(body.len(), |p| i + p);
                        let code = body
                            .get(i + 2..end)
                            .and_then(|h| std::str::from_utf8(h).ok())
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .and_then(char::from_u32);
                        if let Some(c) = code {
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        i = end;
                    }
                    b'\n' => {
                        // A line continuation: the newline and the next line's indentation are dropped.
                        while body.get(i + 1).is_some_and(u8::is_ascii_whitespace) {
                            i += 1;
                        }
                    }
                    other => out.push(other),
                }
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    (out, body.len())
}

#[cfg(test)]
mod tests {
    use super::string_literals;

    /// The literals of `source`, as text, must be `expected`.
    fn check(source: &str, expected: &[&str]) {
        let literals: Vec<String> = string_literals(source)
            .into_iter()
            .map(|l| String::from_utf8(l).expect("UTF-8 literals"))
            .collect();
        assert_eq!(literals, expected, "literals of {source:?}");
    }

    #[test]
    fn reads_every_kind_of_string_literal() {
        let source = r####"
            // "a comment" is skipped, and so is '"'.
            let c = '"'; let lifetime: &'static str = "plain\n\"quoted\" \x41\u{e9} \
                continued";
            let raw = r#"{"series": []}"#; let bytes = b"page.views:1|c"; let br = br##"a"#b"##;
            /* "block" */ let escaped = '\'';
        "####;
        check(
            source,
            &[
                "plain\n\"quoted\" Aé continued",
                r#"{"series": []}"#,
                "page.views:1|c",
                r##"a"#b"##,
            ],
        );
    }

    #[test]
    fn raw_strings_end_at_their_own_hashes() {
        check(r#"r"no \n escape""#, &[r"no \n escape"]);
        check(r##"r#"a "quoted" word"#"##, &[r#"a "quoted" word"#]);
        check(r###"r##"ends at "# no, at "##"###, &[r##"ends at "# no, at "##]);
        check(r##"br#"raw bytes"#"##, &["raw bytes"]);
        // An `r` ending an identifier starts no raw string: `bar"x"` is an identifier and a string.
        check(r##"bar"x""##, &["x"]);
        // An unterminated raw string runs to the end of the source.
        check(r##"r#"open"##, &["open"]);
    }

    #[test]
    fn escapes_are_resolved() {
        check(r#""\n\r\t\0\\\"\'""#, &["\n\r\t\0\\\"'"]);
        check(r#""\x41\x7e""#, &["A~"]);
        check(r#""\u{e9}\u{1F600}""#, &["é\u{1F600}"]);
        check("\"one \\\n      two\"", &["one two"]);
        check(r#""a" "b""#, &["a", "b"]);
        check(r#""""#, &[""]);
    }

    #[test]
    fn byte_strings_give_their_bytes() {
        check(r#"b"GET /\x00""#, &["GET /\0"]);
        let invalid = string_literals(r#"b"\xff\xfe""#);
        assert_eq!(invalid, [vec![0xff, 0xfe]]);
    }

    #[test]
    fn char_literals_and_lifetimes_start_no_string() {
        check(r#"let q = '"'; "after""#, &["after"]);
        check(r#"let q = '\"'; "after""#, &["after"]);
        check(r#"let q = '\u{22}'; "after""#, &["after"]);
        check(r#"let e = 'é'; "after""#, &["after"]);
        check(r#"fn f<'a>(x: &'a str) -> &'a str { "in" }"#, &["in"]);
    }

    #[test]
    fn comments_are_skipped() {
        check("// \"line\"\n\"code\"", &["code"]);
        check("/// \"doc\"\n//! \"inner\"\n\"code\"", &["code"]);
        check(r#"/* "block" */ "code" /* "more" */"#, &["code"]);
        check(r#"/* "unterminated"#, &[]);
        check(
            r#""// not a comment" "/* nor this */""#,
            &["// not a comment", "/* nor this */"],
        );
    }
}
