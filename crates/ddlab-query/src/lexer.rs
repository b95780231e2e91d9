//! Tokens of the query language: a cursor over the text with one scanner per lexical context.
//!
//! The language has two contexts. Outside braces, tokens are identifiers (metric and function names,
//! which may contain dots), numbers, quoted strings and punctuation. Inside `{...}` (scopes and
//! `by {...}` lists), a tag such as `availability-zone:us-east-1a` or `device:/dev/sda*` is a single
//! word, so the parser asks for scope tokens there. Offsets are byte offsets into the text and always
//! fall on character boundaries.

/// One token and where it starts and ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lexeme<'a> {
    pub(crate) token: Token<'a>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Token<'a> {
    /// `[A-Za-z_][A-Za-z0-9_.]*`: metric names, function names, aggregators, formula names.
    Ident(&'a str),
    /// A finite decimal number such as `3600`, `0.5` or `1e3`; a sign is a separate token.
    Number(f64),
    /// The contents of `'...'` or `"..."`; there are no escapes.
    Str(&'a str),
    /// A scope word: a maximal run of characters other than whitespace and `{}(),`, not starting with `!`.
    Word(&'a str),
    /// One of `( ) { } , : . + - * / = !`.
    Punct(char),
    /// A character that starts no token here, an unterminated string or a number too large to be finite.
    Unknown,
    Eof,
}

/// A cursor over the query text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0 }
    }

    /// Where the next token starts once whitespace is skipped.
    pub(crate) fn offset(&self) -> usize {
        let mut copy = *self;
        copy.skip_whitespace();
        copy.pos
    }

    pub(crate) fn peek_expr(&self) -> Lexeme<'a> {
        let mut copy = *self;
        copy.next_expr()
    }

    /// The token after the next one, in the expression context.
    pub(crate) fn peek2_expr(&self) -> Lexeme<'a> {
        let mut copy = *self;
        copy.next_expr();
        copy.next_expr()
    }

    pub(crate) fn next_expr(&mut self) -> Lexeme<'a> {
        self.skip_whitespace();
        let start = self.pos;
        let rest = &self.text[start..];
        let Some(first) = rest.chars().next() else {
            return self.lexeme(Token::Eof, start);
        };
        let token = if first.is_ascii_alphabetic() || first == '_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            self.pos += len;
            Token::Ident(&rest[..len])
        } else if first.is_ascii_digit() {
            self.number()
        } else if first == '\'' || first == '"' {
            match rest[1..].find(first) {
                Some(len) => {
                    self.pos += len + 2;
                    Token::Str(&rest[1..=len])
                }
                None => Token::Unknown,
            }
        } else if "(){},:.+-*/=!".contains(first) {
            self.pos += 1;
            Token::Punct(first)
        } else {
            Token::Unknown
        };
        self.lexeme(token, start)
    }

    pub(crate) fn peek_scope(&self) -> Lexeme<'a> {
        let mut copy = *self;
        copy.next_scope()
    }

    /// The token after the next one, in the scope context.
    pub(crate) fn peek2_scope(&self) -> Lexeme<'a> {
        let mut copy = *self;
        copy.next_scope();
        copy.next_scope()
    }

    pub(crate) fn next_scope(&mut self) -> Lexeme<'a> {
        self.skip_whitespace();
        let start = self.pos;
        let rest = &self.text[start..];
        let Some(first) = rest.chars().next() else {
            return self.lexeme(Token::Eof, start);
        };
        let token = if "{}(),!".contains(first) {
            self.pos += 1;
            Token::Punct(first)
        } else {
            let len = rest
                .find(|c: char| c.is_whitespace() || "{}(),".contains(c))
                .unwrap_or(rest.len());
            self.pos += len;
            Token::Word(&rest[..len])
        };
        self.lexeme(token, start)
    }

    fn lexeme(&self, token: Token<'a>, start: usize) -> Lexeme<'a> {
        Lexeme {
            token,
            start,
            end: self.pos,
        }
    }

    fn skip_whitespace(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn number(&mut self) -> Token<'a> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let digits = |mut at: usize| {
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            at
        };
        let mut end = digits(start);
        if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end = digits(end + 1);
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
            if bytes.get(end + 1 + sign).is_some_and(u8::is_ascii_digit) {
                end = digits(end + 1 + sign);
            }
        }
        match self.text[start..end].parse::<f64>() {
            Ok(value) if value.is_finite() => {
                self.pos = end;
                Token::Number(value)
            }
            _ => Token::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(input: &str, scope: bool, expect: Expect) {
        let mut lexer = Lexer::new(input);
        let mut lines = Vec::new();
        loop {
            let lexeme = if scope {
                lexer.next_scope()
            } else {
                lexer.next_expr()
            };
            lines.push(format!("{}..{} {:?}", lexeme.start, lexeme.end, lexeme.token));
            if matches!(lexeme.token, Token::Eof | Token::Unknown) {
                break;
            }
        }
        expect.assert_eq(&lines.join("\n"));
    }

    #[test]
    fn expression_tokens() {
        check(
            "avg:my.metric_1{*}.rollup(sum, 3600) * -1.5e2",
            false,
            expect![[r#"
                0..3 Ident("avg")
                3..4 Punct(':')
                4..15 Ident("my.metric_1")
                15..16 Punct('{')
                16..17 Punct('*')
                17..18 Punct('}')
                18..19 Punct('.')
                19..25 Ident("rollup")
                25..26 Punct('(')
                26..29 Ident("sum")
                29..30 Punct(',')
                31..35 Number(3600.0)
                35..36 Punct(')')
                37..38 Punct('*')
                39..40 Punct('-')
                40..45 Number(150.0)
                45..45 Eof"#]],
        );
    }

    #[test]
    fn strings_and_bad_input() {
        check(
            r#"'basic' "a'b" 'open"#,
            false,
            expect![[r#"
                0..7 Str("basic")
                8..13 Str("a'b")
                14..14 Unknown"#]],
        );
        check("1e999", false, expect!["0..0 Unknown"]);
        check("é", false, expect!["0..0 Unknown"]);
        check(
            "3.x",
            false,
            expect![[r#"
            0..1 Number(3.0)
            1..2 Punct('.')
            2..3 Ident("x")
            3..3 Eof"#]],
        );
    }

    #[test]
    fn scope_tokens() {
        check(
            "availability-zone:us-east-1a,!host:web* AND NOT role IN (db, cache) $env.value}",
            true,
            expect![[r#"
                0..28 Word("availability-zone:us-east-1a")
                28..29 Punct(',')
                29..30 Punct('!')
                30..39 Word("host:web*")
                40..43 Word("AND")
                44..47 Word("NOT")
                48..52 Word("role")
                53..55 Word("IN")
                56..57 Punct('(')
                57..59 Word("db")
                59..60 Punct(',')
                61..66 Word("cache")
                66..67 Punct(')')
                68..78 Word("$env.value")
                78..79 Punct('}')
                79..79 Eof"#]],
        );
        check(
            "kéy:välue!",
            true,
            expect![[r#"
            0..12 Word("kéy:välue!")
            12..12 Eof"#]],
        );
    }
}
