//! The grading report: every exercise item with its verdict, the evidence the scenarios gathered, and
//! for a failure the pitfall that usually explains it (reference/exercise.md §C). Written as JSON,
//! Markdown and HTML next to the JUnit file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::{Outcome, Summary, item_order};

/// One exercise item's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
}

/// What the report says about one exercise item.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub title: &'static str,
    pub verdict: Verdict,
    /// `(scenario, steps checked)` of the passing scenarios.
    pub evidence: Vec<(String, Vec<String>)>,
    /// `(scenario, why it failed)`.
    pub failures: Vec<(String, String)>,
    /// The usual causes of a failure of this item, with their fixes.
    pub pitfalls: Vec<&'static str>,
}

/// The whole report for one solution.
#[derive(Debug, Clone)]
pub struct Report {
    pub solution: String,
    pub items: Vec<Item>,
    pub passed: usize,
    pub failed: usize,
    pub seconds: f64,
    /// How long bringing the lab up took, when this run started one.
    pub lab_start_seconds: Option<f64>,
    /// The slowest scenarios, `(name, seconds)`, slowest first.
    pub slowest: Vec<(String, f64)>,
}

impl Report {
    pub fn new(solution: &str, summary: &Summary, seconds: f64) -> Self {
        let mut by_item: BTreeMap<(u32, String), Vec<&Outcome>> = BTreeMap::new();
        for outcome in &summary.outcomes {
            for tag in outcome.tags.iter().filter(|t| t.starts_with("EX-")) {
                by_item.entry(item_order(tag)).or_default().push(outcome);
            }
        }
        let items = by_item
            .into_iter()
            .map(|((number, suffix), outcomes)| {
                let id = format!("EX-{number}{suffix}");
                let failures: Vec<(String, String)> = outcomes
                    .iter()
                    .filter_map(|o| o.failure.as_ref().map(|f| (o.scenario.clone(), f.clone())))
                    .collect();
                let evidence = outcomes
                    .iter()
                    .filter(|o| o.failure.is_none())
                    .map(|o| (o.scenario.clone(), o.steps.clone()))
                    .collect();
                Item {
                    title: title(&id),
                    verdict: if failures.is_empty() {
                        Verdict::Pass
                    } else {
                        Verdict::Fail
                    },
                    pitfalls: if failures.is_empty() {
                        Vec::new()
                    } else {
                        pitfalls(&id).to_vec()
                    },
                    id,
                    evidence,
                    failures,
                }
            })
            .collect();
        let mut slowest: Vec<(String, f64)> = summary
            .outcomes
            .iter()
            .map(|o| (o.scenario.clone(), o.seconds))
            .collect();
        slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
        slowest.truncate(5);
        Self {
            solution: solution.to_owned(),
            items,
            passed: summary.passed(),
            failed: summary.failed(),
            seconds,
            lab_start_seconds: None,
            slowest,
        }
    }

    pub fn failing(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|i| i.verdict == Verdict::Fail)
            .map(|i| i.id.as_str())
            .collect()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "solution": self.solution,
            "scenarios": {"passed": self.passed, "failed": self.failed},
            "seconds": self.seconds,
            "lab_start_seconds": self.lab_start_seconds,
            "slowest": self.slowest.iter().map(|(s, secs)| json!({"scenario": s, "seconds": secs})).collect::<Vec<_>>(),
            "items": self.items.iter().map(|item| json!({
                "id": item.id,
                "title": item.title,
                "verdict": if item.verdict == Verdict::Pass { "pass" } else { "fail" },
                "evidence": item.evidence.iter().map(|(s, steps)| json!({"scenario": s, "checked": steps})).collect::<Vec<_>>(),
                "failures": item.failures.iter().map(|(s, why)| json!({"scenario": s, "why": why})).collect::<Vec<_>>(),
                "pitfalls": item.pitfalls,
            })).collect::<Vec<_>>(),
        })
    }

    /// Where the time went: the lab's start, the whole run, the slowest scenarios.
    pub fn timings(&self) -> String {
        let mut out = format!("e2e: wall time {:.0} s", self.seconds);
        if let Some(start) = self.lab_start_seconds {
            let _ = write!(out, " (lab start {start:.0} s)");
        }
        if !self.slowest.is_empty() {
            let slow: Vec<String> = self
                .slowest
                .iter()
                .take(3)
                .map(|(s, secs)| format!("{s} {secs:.0} s"))
                .collect();
            let _ = write!(out, "; slowest scenarios: {}", slow.join("; "));
        }
        out
    }

    /// The terminal summary: one line per item.
    pub fn to_text(&self) -> String {
        let mut out = format!("Grading of {}\n\n", self.solution);
        for item in &self.items {
            let mark = if item.verdict == Verdict::Pass {
                "pass"
            } else {
                "FAIL"
            };
            let _ = writeln!(out, "  {mark}  {:<7} {}", item.id, item.title);
            for (scenario, why) in &item.failures {
                let first = why.lines().next().unwrap_or_default();
                let _ = writeln!(out, "        ✘ {scenario}: {first}");
            }
            for pitfall in &item.pitfalls {
                let _ = writeln!(out, "        hint: {pitfall}");
            }
        }
        let failing = self.failing();
        let _ = writeln!(
            out,
            "\n{} of {} items pass{}",
            self.items.len() - failing.len(),
            self.items.len(),
            if failing.is_empty() {
                String::new()
            } else {
                format!("; failing: {}", failing.join(", "))
            }
        );
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("# Grading report\n\nSolution: `{}`  \n", self.solution);
        let _ = writeln!(
            out,
            "Scenarios: {} passed, {} failed, in {:.0} s\n",
            self.passed, self.failed, self.seconds
        );
        out.push_str("| Item | Requirement | Verdict |\n|---|---|---|\n");
        for item in &self.items {
            let verdict = if item.verdict == Verdict::Pass {
                "pass"
            } else {
                "**FAIL**"
            };
            let _ = writeln!(out, "| {} | {} | {verdict} |", item.id, item.title);
        }
        for item in &self.items {
            let _ = writeln!(out, "\n## {} — {}\n", item.id, item.title);
            for (scenario, why) in &item.failures {
                let _ = writeln!(out, "**Failed:** {scenario}\n\n```text\n{why}\n```\n");
            }
            if !item.pitfalls.is_empty() {
                out.push_str("Likely causes:\n\n");
                for pitfall in &item.pitfalls {
                    let _ = writeln!(out, "- {pitfall}");
                }
                out.push('\n');
            }
            for (scenario, steps) in &item.evidence {
                let _ = writeln!(out, "**Passed:** {scenario}\n");
                for step in steps {
                    let _ = writeln!(out, "- {step}");
                }
                out.push('\n');
            }
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut rows = String::new();
        let mut details = String::new();
        for item in &self.items {
            let pass = item.verdict == Verdict::Pass;
            let _ = write!(
                rows,
                "<tr class=\"{}\"><td><a href=\"#{id}\">{id}</a></td><td>{}</td><td>{}</td></tr>",
                if pass { "pass" } else { "fail" },
                escape(item.title),
                if pass { "pass" } else { "FAIL" },
                id = escape(&item.id),
            );
            let _ = write!(
                details,
                "<section id=\"{}\"><h2>{} — {}</h2>",
                escape(&item.id),
                escape(&item.id),
                escape(item.title)
            );
            for (scenario, why) in &item.failures {
                let _ = write!(
                    details,
                    "<p class=\"fail\">Failed: {}</p><pre>{}</pre>",
                    escape(scenario),
                    escape(why)
                );
            }
            if !item.pitfalls.is_empty() {
                details.push_str("<p>Likely causes:</p><ul>");
                for pitfall in &item.pitfalls {
                    let _ = write!(details, "<li>{}</li>", escape(pitfall));
                }
                details.push_str("</ul>");
            }
            for (scenario, steps) in &item.evidence {
                let _ = write!(details, "<p class=\"pass\">Passed: {}</p><ul>", escape(scenario));
                for step in steps {
                    let _ = write!(details, "<li>{}</li>", escape(step));
                }
                details.push_str("</ul>");
            }
            details.push_str("</section>");
        }
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Grading report</title>\
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d2b}}\
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left}}\
tr.fail td:last-child,p.fail{{color:#b3261e;font-weight:600}}tr.pass td:last-child,p.pass{{color:#1b7f3b}}\
pre{{background:#f6f6f8;padding:.6rem;white-space:pre-wrap}}h2{{margin-top:2rem;font-size:1.1rem}}</style></head>\
<body><h1>Grading report</h1><p>Solution: <code>{}</code><br>Scenarios: {} passed, {} failed, in {:.0} s</p>\
<table><tr><th>Item</th><th>Requirement</th><th>Verdict</th></tr>{rows}</table>{details}</body></html>\n",
            escape(&self.solution),
            self.passed,
            self.failed,
            self.seconds
        )
    }

    /// Writes `report.json`, `report.md` and `report.html` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(&self.to_json()).unwrap_or_default(),
        )?;
        std::fs::write(dir.join("report.md"), self.to_markdown())?;
        std::fs::write(dir.join("report.html"), self.to_html())
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The exercise's wording of an item, shortened.
pub fn title(id: &str) -> &'static str {
    match id {
        "EX-1" => "Evidence for every step",
        "EX-2" => "Submission: answers.md, code committed, no keys",
        "EX-5" => "The Agent reports the host's metrics",
        "EX-6" => "Host tags in the Agent config, on the host",
        "EX-7" => "A database and its integration",
        "EX-8" => "Custom check: my_metric, random 0–1000",
        "EX-9" => "The check runs once every 45 seconds",
        "EX-10" => "Interval changed without touching the code",
        "EX-11" => "A Timeboard created through the API",
        "EX-11a" => "Graph: my_metric scoped over the host",
        "EX-11b" => "Graph: a database metric with anomalies()",
        "EX-11c" => "Graph: my_metric rolled up into one-hour sums",
        "EX-12" => "The script that creates the Timeboard",
        "EX-13" => "The Timeboard in the dashboard list, past 5 minutes",
        "EX-14" => "A snapshot sent with the @ notation",
        "EX-15" => "What the anomaly graph displays",
        "EX-16" => "Monitor on the 5-minute average of my_metric",
        "EX-17" => "Warning threshold 500",
        "EX-18" => "Alerting threshold 800",
        "EX-19" => "No Data after 10 minutes",
        "EX-20" => "E-mail when the monitor triggers",
        "EX-21" => "Different messages for Alert, Warning, No Data",
        "EX-22" => "Value and host IP in the alert message",
        "EX-23" => "The monitor's e-mail",
        "EX-24" => "Downtimes scoped to the monitor",
        "EX-24a" => "Downtime: 7pm to 9am, Monday to Friday",
        "EX-24b" => "Downtime: all weekend",
        "EX-24c" => "E-mail when a downtime is scheduled",
        "EX-25" => "The Flask app instrumented with APM",
        "EX-26" => "ddtrace-run or the middleware, never both",
        "EX-27" => "Service vs resource",
        "EX-28" => "A dashboard with APM and infrastructure metrics",
        "EX-29" => "The instrumented app in the submission",
        "EX-30" => "Something creative",
        _ => "",
    }
}

/// The usual reasons an item fails, with the fix (reference/exercise.md §C).
pub fn pitfalls(id: &str) -> &'static [&'static str] {
    match id {
        "EX-2" => &[
            "A real API or application key is committed: read keys from DD_API_KEY / DD_APP_KEY and revoke the committed ones.",
        ],
        "EX-5" => &[
            "The Agent is not running or not pointed at the backend (api_key from DD_API_KEY, dd_url), or the hostname differs from the one the payloads use.",
        ],
        "EX-6" => &[
            "Host tags must be a YAML list under `tags:`; the Agent 5 string form `tags: a:b, c:d` is one tag, and bad indentation stops the Agent.",
        ],
        "EX-7" => &[
            "The monitoring user lacks REPLICATION CLIENT, PROCESS or SELECT on performance_schema, or conf.d/mysql.d/conf.yaml has the wrong host, port or password.",
            "The monitoring user can write (GRANT ALL, or writes on a database): it needs only REPLICATION CLIENT, PROCESS and SELECT ON performance_schema.*.",
        ],
        "EX-8" => &[
            "randint(0, 1001) goes out of range: randint includes both ends, use randint(0, 1000).",
            "The metric is named differently (a typo, a trailing space, a prefix) or sent as a string or a tag.",
            "The check file in checks.d/ and its YAML in conf.d/ must share one name.",
        ],
        "EX-9" | "EX-10" => &[
            "min_collection_interval belongs under each instance (`instances: - min_collection_interval: 45`); Agent 6/7 ignores it under init_config.",
            "No sleep or scheduling logic in the check's code: the interval is configuration.",
        ],
        "EX-11" | "EX-12" => &[
            "The dashboards API needs both the API key and the application key.",
            "Legacy /api/v1/dash takes `graphs`; /api/v1/dashboard takes `widgets` with `layout_type: ordered`.",
        ],
        "EX-11a" => &[
            "\"Scoped over your host\" means `{host:<hostname>}`; `{*}` or `by {host}` is not scoped, and the name must be the one the Agent reports.",
        ],
        "EX-11b" => &[
            "The algorithm is a quoted string: anomalies(avg:mysql.performance.cpu_time{*}, 'basic', 2); unquoted basic does not parse.",
        ],
        "EX-11c" => &[
            "The rollup window is in seconds: one hour is .rollup(sum, 3600), not 60, 100 or 1440; and the method is sum, not avg.",
        ],
        "EX-13" => &["Graphs need data in the last 5 minutes: the Agent and the check must be running."],
        "EX-14" => {
            &["The event or annotation must carry the snapshot and an @-mention of your e-mail address."]
        }
        "EX-16" | "EX-17" | "EX-18" => &[
            "The query is avg(last_5m):avg:my_metric{host:<host>} > 800 and its number must equal options.thresholds.critical; thresholds are numbers, not strings.",
        ],
        "EX-19" => &["notify_no_data: true with no_data_timeframe: 10 (minutes)."],
        "EX-20" | "EX-23" => &["The message needs @<your e-mail>, or no e-mail goes out."],
        "EX-21" => &[
            "Each state needs its own block: {{#is_alert}}…{{/is_alert}}, {{#is_warning}}…{{/is_warning}}, {{#is_no_data}}…{{/is_no_data}}; a closing tag like {{/#is_warning}} is broken.",
        ],
        "EX-22" => &["{{value}} and {{host.ip}} go inside the {{#is_alert}} block."],
        "EX-24" | "EX-24a" | "EX-24b" => &[
            "A downtime scoped to * silences everything: target the monitor (monitor_id or monitor_tags).",
            "Weekdays: weekly on MO–FR from 19:00 for 14 hours; weekend: Saturday 00:00 to Monday 00:00 (or 09:00); give the timezone, it defaults to UTC.",
        ],
        "EX-24c" => &["Each downtime's message needs @<your e-mail> so its scheduling is announced."],
        "EX-25" | "EX-29" => &[
            "APM must be enabled in datadog.yaml (apm_config.enabled: true) and the app run with ddtrace-run (or the middleware) against port 8126.",
            "The routes must actually be requested for spans to exist.",
        ],
        "EX-26" => &[
            "Use ddtrace-run or TraceMiddleware/patch, never both: double instrumentation duplicates spans.",
        ],
        "EX-28" => &[
            "The dashboard needs a trace.* metric (e.g. trace.flask.request.hits) and a host or database metric; share it for the link.",
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(tags: &[&str], failure: Option<&str>) -> Outcome {
        Outcome {
            feature: "f".to_owned(),
            scenario: format!("s {tags:?}"),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            steps: vec!["Then something".to_owned()],
            seconds: 1.0,
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn items_in_order_with_pitfalls_only_for_failures() {
        let summary = Summary {
            outcomes: vec![
                outcome(&["EX-11c", "live"], Some("rollup window is 100, expected 3600")),
                outcome(&["EX-9"], None),
                outcome(&["EX-11"], None),
            ],
        };
        let report = Report::new("/s", &summary, 12.0);
        let ids: Vec<&str> = report.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["EX-9", "EX-11", "EX-11c"]);
        assert_eq!(report.failing(), ["EX-11c"]);
        assert!(report.items[0].pitfalls.is_empty());
        assert!(report.items[2].pitfalls[0].contains("3600"));
        let text = report.to_text();
        assert!(text.contains("FAIL  EX-11c"), "{text}");
        assert!(text.contains("2 of 3 items pass; failing: EX-11c"), "{text}");
        let html = report.to_html();
        assert!(
            html.contains("<tr class=\"fail\"><td><a href=\"#EX-11c\">EX-11c</a>"),
            "{html}"
        );
        assert_eq!(report.to_json()["items"][2]["verdict"], "fail");
        assert!(
            report
                .to_markdown()
                .contains("| EX-11c | Graph: my_metric rolled up into one-hour sums | **FAIL** |")
        );
    }
}
