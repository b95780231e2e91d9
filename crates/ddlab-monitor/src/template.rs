//! The notification message template language: `{{#is_alert}}…{{/is_alert}}`, `{{value}}`, `{{host.ip}}`.
//!
//! Sections are conditions (`is_alert`, `is_warning`, `is_no_data`, `is_recovery`, …, and the argument-taking
//! `is_match`, `is_exact_match`, `is_priority`), inverted with `{{^…}}` and split with `{{else}}`. Anything
//! else in braces is a variable (`{{value}}`, `{{host.name}}`, `{{[dot.key].name}}`) or a helper
//! (`{{local_time 'last_triggered_at' 'UTC'}}`). Values are HTML-escaped unless written `{{{triple}}}`.
//! Parsing errors carry the line and column of the offending tag.

use std::fmt;

/// A parsed message.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    /// `{{path}}` (escaped) or `{{{path}}}` (raw); `args` holds a helper's arguments.
    Variable {
        path: String,
        args: Vec<String>,
        escape: bool,
        at: Position,
    },
    /// `{{#name args}}then{{else}}otherwise{{/name}}`, or `{{^name}}…` when `inverted`.
    Section {
        name: String,
        args: Vec<String>,
        inverted: bool,
        then: Vec<Node>,
        otherwise: Vec<Node>,
        at: Position,
    },
}

/// Where a tag starts: 1-based line and column (in characters), and the byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

/// A message that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}, column {}: {message}", at.line, at.column)]
pub struct TemplateError {
    pub message: String,
    pub at: Position,
}

/// What a template is rendered against.
pub trait Context {
    /// The truth of condition `name` with its arguments; `None` when the condition is unknown.
    fn condition(&self, name: &str, args: &[String]) -> Option<bool>;
    /// The value of variable (or helper) `path`; `None` when it is unknown.
    fn variable(&self, path: &str, args: &[String]) -> Option<String>;
}

/// The result of rendering: the text, and the names that were unknown (rendered empty, or false).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    pub text: String,
    pub unknown: Vec<String>,
}

/// The conditions Datadog documents for monitor messages.
pub const CONDITIONS: &[&str] = &[
    "is_alert",
    "is_warning",
    "is_no_data",
    "is_recovery",
    "is_alert_recovery",
    "is_warning_recovery",
    "is_alert_to_warning",
    "is_no_data_recovery",
    "is_unknown",
    "is_renotify",
    "is_priority",
    "is_match",
    "is_exact_match",
];

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parser = Parser {
            text,
            pos: 0,
            depth: 0,
        };
        let (nodes, end) = parser.nodes(None)?;
        match end {
            End::Eof => Ok(Self { nodes }),
            End::Close { name, at } => Err(TemplateError {
                message: format!("{{{{/{name}}}}} closes a section that was never opened"),
                at,
            }),
            End::Else { at } => Err(TemplateError {
                message: "{{else}} outside a section".to_owned(),
                at,
            }),
        }
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The top-level sections named `name` (for example every `is_alert` block), in order.
    pub fn sections(&self, name: &str) -> Vec<&Node> {
        let mut found = Vec::new();
        collect_sections(&self.nodes, name, &mut found);
        found
    }

    /// Section names that are not conditions Datadog knows (typos such as `is_alret`).
    pub fn unknown_conditions(&self) -> Vec<String> {
        let mut names = Vec::new();
        walk(&self.nodes, &mut |node| {
            if let Node::Section { name, .. } = node
                && !CONDITIONS.contains(&name.as_str())
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        });
        names
    }

    pub fn render(&self, context: &dyn Context) -> Rendered {
        let mut rendered = Rendered::default();
        render_nodes(&self.nodes, context, &mut rendered);
        rendered
    }
}

impl Node {
    /// The variables used directly or nested inside this node.
    pub fn variables(&self) -> Vec<&str> {
        let mut found = Vec::new();
        walk(std::slice::from_ref(self), &mut |node| {
            if let Node::Variable { path, .. } = node {
                found.push(path.as_str());
            }
        });
        found
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

fn collect_sections<'t>(nodes: &'t [Node], name: &str, found: &mut Vec<&'t Node>) {
    for node in nodes {
        if let Node::Section {
            name: n,
            then,
            otherwise,
            ..
        } = node
        {
            if n == name {
                found.push(node);
            }
            collect_sections(then, name, found);
            collect_sections(otherwise, name, found);
        }
    }
}

fn walk<'t>(nodes: &'t [Node], visit: &mut dyn FnMut(&'t Node)) {
    for node in nodes {
        visit(node);
        if let Node::Section { then, otherwise, .. } = node {
            walk(then, visit);
            walk(otherwise, visit);
        }
    }
}

fn render_nodes(nodes: &[Node], context: &dyn Context, out: &mut Rendered) {
    for node in nodes {
        match node {
            Node::Text(text) => out.text.push_str(text),
            Node::Variable {
                path, args, escape, ..
            } => match context.variable(path, args) {
                Some(value) if *escape => out.text.push_str(&html_escape(&value)),
                Some(value) => out.text.push_str(&value),
                None => note_unknown(out, path),
            },
            Node::Section {
                name,
                args,
                inverted,
                then,
                otherwise,
                ..
            } => {
                let truth = context.condition(name, args).unwrap_or_else(|| {
                    note_unknown(out, name);
                    false
                });
                render_nodes(if truth != *inverted { then } else { otherwise }, context, out);
            }
        }
    }
}

fn note_unknown(out: &mut Rendered, name: &str) {
    if !out.unknown.iter().any(|n| n == name) {
        out.unknown.push(name.to_owned());
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
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

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    /// How many sections enclose the current position.
    depth: usize,
}

/// Deeper nesting is refused so that no message can exhaust the stack of the thread parsing it (a
/// tokio worker has 2 MiB); real messages nest two or three sections.
const MAX_DEPTH: usize = 64;

enum End {
    Eof,
    Close { name: String, at: Position },
    Else { at: Position },
}

enum Tag {
    Open {
        name: String,
        args: Vec<String>,
        inverted: bool,
    },
    Close(String),
    Else,
    Variable {
        path: String,
        args: Vec<String>,
        escape: bool,
    },
}

impl Parser<'_> {
    /// Parses nodes until the end of input, a closing tag, or `{{else}}`.
    fn nodes(&mut self, open: Option<&str>) -> Result<(Vec<Node>, End), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(start) = rest.find("{{") else {
                if !rest.is_empty() {
                    nodes.push(Node::Text(rest.to_owned()));
                }
                self.pos = self.text.len();
                return Ok((nodes, End::Eof));
            };
            if start > 0 {
                nodes.push(Node::Text(rest[..start].to_owned()));
            }
            self.pos += start;
            let at = self.position(self.pos);
            match self.tag(at)? {
                Tag::Variable { path, args, escape } => nodes.push(Node::Variable {
                    path,
                    args,
                    escape,
                    at,
                }),
                Tag::Close(name) => return Ok((nodes, End::Close { name, at })),
                Tag::Else if open.is_some() => return Ok((nodes, End::Else { at })),
                Tag::Else => {
                    return Err(TemplateError {
                        message: "{{else}} outside a section".to_owned(),
                        at,
                    });
                }
                Tag::Open { name, args, inverted } => {
                    if self.depth >= MAX_DEPTH {
                        return Err(TemplateError {
                            message: format!("sections nest more than {MAX_DEPTH} deep"),
                            at,
                        });
                    }
                    self.depth += 1;
                    let (then, mut end) = self.nodes(Some(&name))?;
                    let mut otherwise = Vec::new();
                    if let End::Else { .. } = end {
                        let (nodes, after) = self.nodes(Some(&name))?;
                        otherwise = nodes;
                        end = after;
                    }
                    self.depth -= 1;
                    match end {
                        End::Close { name: closed, .. } if closed == name => {}
                        End::Close {
                            name: closed,
                            at: close_at,
                        } => {
                            return Err(TemplateError {
                                message: format!(
                                    "{{{{/{closed}}}}} does not close {{{{{}{name}}}}} opened at {at}",
                                    if inverted { '^' } else { '#' }
                                ),
                                at: close_at,
                            });
                        }
                        End::Else { at: else_at } => {
                            return Err(TemplateError {
                                message: format!("a second {{{{else}}}} in {{{{#{name}}}}}"),
                                at: else_at,
                            });
                        }
                        End::Eof => {
                            return Err(TemplateError {
                                message: format!("{{{{#{name}}}}} is never closed: add {{{{/{name}}}}}"),
                                at,
                            });
                        }
                    }
                    nodes.push(Node::Section {
                        name,
                        args,
                        inverted,
                        then,
                        otherwise,
                        at,
                    });
                }
            }
        }
    }

    /// Reads one `{{…}}` or `{{{…}}}` tag starting at `self.pos`.
    fn tag(&mut self, at: Position) -> Result<Tag, TemplateError> {
        let rest = &self.text[self.pos..];
        let (open, close) = if rest.starts_with("{{{") {
            ("{{{", "}}}")
        } else {
            ("{{", "}}")
        };
        let body_start = open.len();
        let Some(len) = rest[body_start..].find(close) else {
            return Err(TemplateError {
                message: format!("'{open}' is never closed with '{close}'"),
                at,
            });
        };
        let body = rest[body_start..body_start + len].trim();
        self.pos += body_start + len + close.len();
        let unexpected = |what: &str| TemplateError {
            message: what.to_owned(),
            at,
        };
        if open == "{{{" {
            let (path, args) = words(body).map_err(|m| unexpected(&m))?;
            return Ok(Tag::Variable {
                path,
                args,
                escape: false,
            });
        }
        if let Some(name) = body.strip_prefix('/') {
            let name = name.trim();
            if let Some(inner) = name.strip_prefix(['#', '^']) {
                return Err(unexpected(&format!(
                    "write {{{{/{}}}}} to close a section, not {{{{{body}}}}}",
                    inner.trim()
                )));
            }
            if !is_word(name) {
                return Err(unexpected(&format!("invalid closing tag {{{{{body}}}}}")));
            }
            return Ok(Tag::Close(name.to_owned()));
        }
        if body == "else" {
            return Ok(Tag::Else);
        }
        let (inverted, section) = match body.strip_prefix('#') {
            Some(section) => (false, Some(section)),
            None => (true, body.strip_prefix('^')),
        };
        if let Some(section) = section {
            let (name, args) = words(section).map_err(|m| unexpected(&m))?;
            return Ok(Tag::Open { name, args, inverted });
        }
        let (path, args) = words(body).map_err(|m| unexpected(&m))?;
        Ok(Tag::Variable {
            path,
            args,
            escape: true,
        })
    }

    fn position(&self, offset: usize) -> Position {
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            offset,
            line,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// Splits a tag body into a name and its quoted arguments (`is_match "host.name" "db"`).
fn words(body: &str) -> Result<(String, Vec<String>), String> {
    let body = body.trim();
    let name_len = body.find(char::is_whitespace).unwrap_or(body.len());
    let name = &body[..name_len];
    if !is_word(name) {
        return Err(format!("expected a name in {{{{{body}}}}}"));
    }
    let mut args = Vec::new();
    let mut rest = body[name_len..].trim_start();
    while let Some(quote) = rest.chars().next() {
        if quote != '"' && quote != '\'' {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            args.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
            continue;
        }
        let Some(end) = rest[1..].find(quote) else {
            return Err(format!("unterminated string in {{{{{body}}}}}"));
        };
        args.push(rest[1..1 + end].to_owned());
        rest = rest[end + 2..].trim_start();
    }
    Ok((name.to_owned(), args))
}

/// A variable path or section name: letters, digits, `_`, `.`, `-` and `[bracketed.keys]`.
fn is_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']' | '@' | ':' | '/'))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use expect_test::{Expect, expect};

    use super::*;

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // A tokio worker thread has 2 MiB of stack: the backend parses messages on one.
        let text = format!(
            "{}x{}",
            "{{#is_alert}}".repeat(20_000),
            "{{/is_alert}}".repeat(20_000)
        );
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || Template::parse(&text).map(|_| ()).map_err(|e| e.to_string()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            parsed,
            Err("line 1, column 833: sections nest more than 64 deep".to_owned())
        );
    }

    struct Fixed {
        conditions: BTreeMap<&'static str, bool>,
        variables: BTreeMap<&'static str, &'static str>,
    }

    impl Context for Fixed {
        fn condition(&self, name: &str, args: &[String]) -> Option<bool> {
            match name {
                "is_match" => {
                    let value = self
                        .variables
                        .get(args.first()?.as_str())
                        .copied()
                        .unwrap_or_default();
                    Some(args[1..].iter().any(|needle| {
                        if needle.is_empty() {
                            !value.is_empty()
                        } else {
                            value.contains(needle.as_str())
                        }
                    }))
                }
                _ => self.conditions.get(name).copied(),
            }
        }
        fn variable(&self, path: &str, _args: &[String]) -> Option<String> {
            self.variables.get(path).map(|v| (*v).to_owned())
        }
    }

    fn alert() -> Fixed {
        Fixed {
            conditions: [("is_alert", true), ("is_warning", false), ("is_no_data", false)]
                .into_iter()
                .collect(),
            variables: [
                ("value", "912.4"),
                ("host.ip", "10.0.2.15"),
                ("host.name", "lab"),
                ("name", "<b>"),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn check(template: &str, expected: Expect) {
        let actual = match Template::parse(template) {
            Ok(t) => {
                let rendered = t.render(&alert());
                format!("{:?} unknown={:?}", rendered.text, rendered.unknown)
            }
            Err(err) => format!("error: {err}"),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn renders_the_exercise_message() {
        check(
            "{{#is_alert}}ALERT {{value}} on {{host.name}} ({{host.ip}}){{/is_alert}}\n{{#is_warning}}warn{{/is_warning}}{{#is_no_data}}no data{{/is_no_data}} @me@x.test",
            expect![[r#""ALERT 912.4 on lab (10.0.2.15)\n @me@x.test" unknown=[]"#]],
        );
    }

    #[test]
    fn inverted_and_else() {
        check(
            "{{^is_alert}}calm{{else}}loud{{/is_alert}}",
            expect![[r#""loud" unknown=[]"#]],
        );
        check(
            "{{#is_warning}}w{{else}}not w{{/is_warning}}",
            expect![[r#""not w" unknown=[]"#]],
        );
    }

    #[test]
    fn is_match_takes_arguments() {
        check(
            r#"{{#is_match "host.name" "db" "la"}}matched{{/is_match}}"#,
            expect![[r#""matched" unknown=[]"#]],
        );
        check(
            r#"{{#is_match "host.ip" ""}}has ip{{/is_match}}"#,
            expect![[r#""has ip" unknown=[]"#]],
        );
    }

    #[test]
    fn escaping_and_unknowns() {
        check(
            "{{name}} {{{name}}} {{ value }}",
            expect![[r#""&lt;b&gt; <b> 912.4" unknown=[]"#]],
        );
        check(
            "[{{vaule}}]{{#is_alrt}}x{{/is_alrt}}",
            expect![[r#""[]" unknown=["vaule", "is_alrt"]"#]],
        );
    }

    #[test]
    fn errors_are_located() {
        check(
            "ok\n  {{#is_warning}}w{{/#is_warning}}",
            expect![
                "error: line 2, column 19: write {{/is_warning}} to close a section, not {{/#is_warning}}"
            ],
        );
        check(
            "{{#is_alert}}never closed",
            expect!["error: line 1, column 1: {{#is_alert}} is never closed: add {{/is_alert}}"],
        );
        check(
            "{{#is_alert}}x{{/is_warning}}",
            expect![
                "error: line 1, column 15: {{/is_warning}} does not close {{#is_alert}} opened at line 1, column 1"
            ],
        );
        check(
            "x {{/is_alert}}",
            expect!["error: line 1, column 3: {{/is_alert}} closes a section that was never opened"],
        );
        check(
            "{{value",
            expect!["error: line 1, column 1: '{{' is never closed with '}}'"],
        );
        check(
            "{{else}}",
            expect!["error: line 1, column 1: {{else}} outside a section"],
        );
    }

    #[test]
    fn sections_and_their_variables() {
        let template = Template::parse(
            "{{#is_alert}}{{value}} {{#is_match \"a\" \"b\"}}{{host.ip}}{{/is_match}}{{/is_alert}}",
        )
        .unwrap();
        let alerts = template.sections("is_alert");
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].variables(), ["value", "host.ip"]);
        assert_eq!(template.unknown_conditions(), Vec::<String>::new());
    }

    #[test]
    fn never_panics_on_fragments() {
        let seed = "{{#is_alert}}{{value}} {{{host.ip}}}{{else}}x{{/is_alert}}{{^is_match 'a' \"b\"}}";
        for end in 0..=seed.len() {
            for start in 0..end {
                if let Some(piece) = seed.get(start..end) {
                    let _ = Template::parse(piece).map(|t| t.render(&alert()));
                }
            }
        }
    }
}
