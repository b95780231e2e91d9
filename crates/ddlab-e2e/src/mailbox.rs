//! The lab's mail sink, read as the recipient would: a Maildir of the messages the SMTP server received.

use std::path::{Path, PathBuf};

use mail_parser::MessageParser;

/// One received message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The file it was read from, named in failures.
    pub file: PathBuf,
    pub subject: String,
    /// Every recipient address in `To:`.
    pub to: Vec<String>,
    pub from: String,
    /// The plain-text body (or the HTML body when there is no text part).
    pub body: String,
}

impl Mail {
    /// Whether the message is addressed to `address` (case-insensitive).
    pub fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|to| to.eq_ignore_ascii_case(address))
    }

    /// Subject and body together, for "the e-mail says …" checks.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.subject, self.body)
    }
}

/// A Maildir folder (`new/` and `cur/`).
#[derive(Debug, Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

impl Mailbox {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every message in the folder, oldest file first. A file that cannot be parsed is an error that
    /// names it: a mail sink that stores garbage is a broken lab.
    pub fn messages(&self) -> Result<Vec<Mail>, String> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_file() {
                    let modified = entry.metadata().and_then(|m| m.modified()).ok();
                    files.push((modified, path));
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let raw =
                    std::fs::read(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                parse(&raw)
                    .map(|mail| Mail {
                        file: path.clone(),
                        ..mail
                    })
                    .ok_or_else(|| format!("{} is not an e-mail message", path.display()))
            })
            .collect()
    }
}

/// Decodes one RFC 5322 message.
pub fn parse(raw: &[u8]) -> Option<Mail> {
    let message = MessageParser::default().parse(raw)?;
    let addresses = |list: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        list.map(|a| {
            a.iter()
                .filter_map(|addr| addr.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    };
    let body = message
        .body_text(0)
        .or_else(|| message.body_html(0))
        .map(|b| b.into_owned())
        .unwrap_or_default();
    Some(Mail {
        file: PathBuf::new(),
        subject: message.subject().unwrap_or_default().to_owned(),
        to: addresses(message.to()),
        from: addresses(message.from()).join(", "),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_quoted_printable_notification() {
        let raw = b"From: ddlab <alerts@ddlab.test>\r\nTo: candidate@ddlab.test\r\n\
Subject: [Triggered on {host:h}] my_metric is high\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
ALERT: my_metric averaged 900 on h (IP 10.0.0.=\r\n5) =E2=86=92 above 800\r\n";
        let mail = parse(raw).expect("a message");
        assert_eq!(mail.subject, "[Triggered on {host:h}] my_metric is high");
        assert!(mail.is_to("Candidate@ddlab.test"));
        assert_eq!(mail.from, "alerts@ddlab.test");
        assert!(
            mail.body.contains("(IP 10.0.0.5) \u{2192} above 800"),
            "{}",
            mail.body
        );
    }

    #[test]
    fn reads_new_and_cur_and_names_a_broken_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(
            dir.path().join("new/1"),
            "To: a@b.c\r\nSubject: one\r\n\r\nbody one\r\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("cur/2:2,S"),
            "To: a@b.c\r\nSubject: two\r\n\r\nbody two\r\n",
        )
        .expect("write");
        let box_ = Mailbox::new(dir.path());
        let mut subjects: Vec<String> = box_
            .messages()
            .expect("messages")
            .into_iter()
            .map(|m| m.subject)
            .collect();
        subjects.sort();
        assert_eq!(subjects, ["one", "two"]);
    }
}
