//! `@handles` in event text and monitor messages: `@alice@example.com`, `@webhook-ops`, `@slack-alerts`.
//!
//! A mention starts with `@` at the start of the text or after a character that cannot be part of a
//! handle (so the `@` inside `alice@example.com` alone is not a mention), and runs over letters, digits and
//! `_ - . + @ /`. Punctuation that ends a sentence (`.`, `,`, `:`, `;`, `!`, `?`, `)`) is not part of it.

/// The handles mentioned in `text`, without the leading `@`, in order of first appearance, each once.
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i] == '@' && (i == 0 || !is_handle_char(chars[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < chars.len() && is_handle_char(chars[end]) {
            end += 1;
        }
        let mut handle: String = chars[i + 1..end].iter().collect();
        while handle.ends_with(['.', '@', '-', '/']) {
            handle.pop();
        }
        if !handle.is_empty() && !found.contains(&handle) {
            found.push(handle);
        }
        i = end.max(i + 1);
    }
    found
}

fn is_handle_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '@' | '/')
}

/// What kind of channel a handle names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// `@alice@example.com`: an email address.
    Email(String),
    /// `@webhook-<name>`: a configured webhook.
    Webhook(String),
    /// Any other integration handle (`@slack-…`, `@pagerduty-…`, `@teams-…`): recorded, not delivered.
    Other(String),
}

impl Channel {
    pub fn of(handle: &str) -> Self {
        if let Some(name) = handle.strip_prefix("webhook-") {
            Channel::Webhook(name.to_owned())
        } else if handle.contains('@') {
            Channel::Email(handle.to_owned())
        } else {
            Channel::Other(handle.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_emails_webhooks_and_integrations_once_each() {
        assert_eq!(
            mentions("Snapshot: https://x/y.png @alice@example.com, cc @webhook-ops. @alice@example.com"),
            ["alice@example.com", "webhook-ops"]
        );
        assert_eq!(mentions("@slack-alerts-channel: hi"), ["slack-alerts-channel"]);
        assert_eq!(mentions("(@bob@example.org)"), ["bob@example.org"]);
    }

    #[test]
    fn an_address_without_a_leading_at_is_not_a_mention() {
        assert!(mentions("mail alice@example.com about it").is_empty());
        assert!(mentions("@ alone, and @@").is_empty());
    }

    #[test]
    fn channels_by_handle_shape() {
        assert_eq!(Channel::of("webhook-ops"), Channel::Webhook("ops".to_owned()));
        assert_eq!(Channel::of("a@b.c"), Channel::Email("a@b.c".to_owned()));
        assert_eq!(Channel::of("slack-x"), Channel::Other("slack-x".to_owned()));
    }
}
