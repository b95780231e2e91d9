//! ddlab-e2e: the cucumber harness's library — how it reaches the lab (API client, mailbox, bounded
//! polling, bringing the stack up) and what it reports, kept apart from the step files so the grader can
//! reuse it.

pub mod api;
pub mod calendar;
pub mod dashboards;
pub mod live;
pub mod mailbox;
pub mod poll;
pub mod python;
pub mod report;
pub mod secrets;
pub mod stack;

use std::fmt;

/// How one scenario ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub feature: String,
    pub scenario: String,
    /// The scenario's tags without `@`, e.g. `EX-16`.
    pub tags: Vec<String>,
    /// The steps it ran, as written (`Then the host reports …`): the evidence of a pass.
    pub steps: Vec<String>,
    /// How long it took, from its world's creation to its end.
    pub seconds: f64,
    /// `None` when every step passed; otherwise why it did not.
    pub failure: Option<String>,
}

/// Every scenario's outcome, in the order they finished.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub outcomes: Vec<Outcome>,
}

impl Summary {
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.failure.is_none()).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }

    /// The exercise items (`EX-n` tags) with at least one failing scenario, sorted and without repeats.
    pub fn failing_items(&self) -> Vec<&str> {
        let mut items: Vec<&str> = self
            .outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .flat_map(|o| o.tags.iter().map(String::as_str))
            .filter(|tag| tag.starts_with("EX-"))
            .collect();
        items.sort_by_key(|tag| item_order(tag));
        items.dedup();
        items
    }
}

/// The closing line CI reads: `e2e: N passed, N failed`.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e2e: {} passed, {} failed", self.passed(), self.failed())
    }
}

/// Sort key for `EX-11b`-style ids: by number, then by suffix.
pub(crate) fn item_order(tag: &str) -> (u32, String) {
    let rest = tag.trim_start_matches("EX-");
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (
        digits.parse().unwrap_or(u32::MAX),
        rest[digits.len()..].to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(tags: &[&str], failure: Option<&str>) -> Outcome {
        Outcome {
            feature: "f".to_owned(),
            scenario: "s".to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            steps: Vec::new(),
            seconds: 0.0,
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn counts_and_failing_items() {
        let summary = Summary {
            outcomes: vec![
                outcome(&["EX-9"], None),
                outcome(&["EX-11c", "EX-11"], Some("rollup window is 100, expected 3600")),
                outcome(&["EX-2"], Some("key committed")),
                outcome(&["EX-11"], Some("layout")),
            ],
        };
        assert_eq!(summary.to_string(), "e2e: 1 passed, 3 failed");
        assert_eq!(summary.failing_items(), ["EX-2", "EX-11", "EX-11c"]);
    }
}
