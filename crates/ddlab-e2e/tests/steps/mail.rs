//! Reading the candidate's mailbox: the lab's mail sink, as the recipient sees it.

use std::time::Duration;

use ddlab_e2e::live::Live;
use ddlab_e2e::mailbox::Mail;
use ddlab_e2e::poll;

/// How long an e-mail may take: the backend delivers notifications within a few seconds.
const DELIVERY: Duration = Duration::from_secs(60);

/// Waits for an e-mail to the candidate that `matches`, and returns it.
pub(crate) async fn wait_for_mail(live: &Live, matches: impl Fn(&Mail) -> bool) -> Mail {
    let mailbox = &live.lab("the mailbox").mailbox;
    poll::until(
        &format!("an e-mail to {} in {}", live.email, mailbox.dir().display()),
        DELIVERY,
        Duration::from_millis(500),
        || async {
            let mails = mailbox.messages()?;
            let to_candidate: Vec<&Mail> = mails.iter().filter(|m| m.is_to(&live.email)).collect();
            match to_candidate.iter().rev().find(|m| matches(m)) {
                Some(mail) => Ok(Some((*mail).clone())),
                None => Err(format!(
                    "{} e-mail(s) to the candidate, none matching; the latest subjects: {:?}",
                    to_candidate.len(),
                    to_candidate
                        .iter()
                        .rev()
                        .take(5)
                        .map(|m| &m.subject)
                        .collect::<Vec<_>>()
                )),
            }
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"))
}
