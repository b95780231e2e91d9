//! Steps about the write-up, answers.md.

use cucumber::then;

use super::Lab;

#[then(expr = "answers.md mentions every item from EX-{int} to EX-{int}")]
fn every_item(lab: &mut Lab, first: u32, last: u32) {
    let answers = answers(lab);
    let missing: Vec<String> = (first..=last)
        .map(|n| format!("EX-{n}"))
        .filter(|id| section(answers, id).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "answers.md does not address {}",
        missing.join(", ")
    );
}

#[then(expr = "answers.md answers {string}, {string}, {string} and {string} in more than one sentence each")]
fn bonus_answers(lab: &mut Lab, a: String, b: String, c: String, d: String) {
    let answers = answers(lab);
    for id in [a, b, c, d] {
        let text = section(answers, &id).unwrap_or_else(|| panic!("answers.md does not answer {id}"));
        let sentences = text
            .split(['.', '?', '!'])
            .filter(|s| s.split_whitespace().count() >= 3)
            .count();
        assert!(
            sentences >= 2,
            "the answer to {id} is too short to explain anything: {text:?}"
        );
    }
}

fn answers(lab: &Lab) -> &str {
    &lab.solution()
        .answers
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no answers.md"))
        .text
}

/// The text from the first mention of `id` (as a whole token) to the next `EX-` mention of another item.
fn section<'a>(answers: &'a str, id: &str) -> Option<&'a str> {
    let start = answers
        .match_indices(id)
        .find(|(at, _)| !answers[at + id.len()..].starts_with(|c: char| c.is_ascii_digit()))?
        .0;
    let body = &answers[start + id.len()..];
    let next = body.match_indices("EX-").map(|(at, _)| at).find(|at| {
        let rest = &body[at + 3..];
        let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
        !number.is_empty() && format!("EX-{number}") != id.trim_end_matches(char::is_alphabetic)
    });
    Some(&body[..next.unwrap_or(body.len())])
}
