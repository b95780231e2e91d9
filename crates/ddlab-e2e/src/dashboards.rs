//! Reading dashboards as the scenarios need them: the graphs and the queries they run.

use serde_json::Value;

/// The graphs' query strings, in order: `q` of classic requests, `query` of named queries; groups are
/// flattened. Template variables are dropped from scopes (`$env` means "all" until one is picked).
pub fn graph_queries(dashboard: &Value) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let widgets = dashboard
        .get("widgets")
        .or_else(|| dashboard.get("graphs"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    collect(&widgets, &mut out);
    out
}

fn collect(widgets: &[Value], out: &mut Vec<(String, Vec<String>)>) {
    for widget in widgets {
        let definition = widget.get("definition").unwrap_or(widget);
        if let Some(nested) = definition["widgets"].as_array() {
            collect(nested, out);
            continue;
        }
        let title = definition["title"]
            .as_str()
            .or_else(|| widget["title"].as_str())
            .unwrap_or("untitled")
            .to_owned();
        let mut queries = Vec::new();
        for request in definition["requests"].as_array().into_iter().flatten() {
            if let Some(q) = request["q"].as_str() {
                queries.push(without_template_variables(q));
            }
            for named in request["queries"].as_array().into_iter().flatten() {
                if let Some(q) = named["query"].as_str() {
                    queries.push(without_template_variables(q));
                }
            }
        }
        if !queries.is_empty() {
            out.push((title, queries));
        }
    }
}

/// `avg:m{host:a,$env}` → `avg:m{host:a}`; `{$env}` → `{*}`.
pub fn without_template_variables(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..=open]);
        let Some(close) = rest[open..].find('}') else {
            rest = &rest[open + 1..];
            break;
        };
        let scope = &rest[open + 1..open + close];
        let kept: Vec<&str> = scope
            .split(',')
            .map(str::trim)
            .filter(|s| !s.starts_with('$'))
            .collect();
        out.push_str(&if kept.is_empty() {
            "*".to_owned()
        } else {
            kept.join(",")
        });
        out.push('}');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_variables_leave_the_scope() {
        assert_eq!(without_template_variables("avg:m{host:a,$env}"), "avg:m{host:a}");
        assert_eq!(
            without_template_variables("avg:m{$env} + avg:n{$host.value}"),
            "avg:m{*} + avg:n{*}"
        );
        assert_eq!(
            without_template_variables("anomalies(avg:m{*}, 'basic', 2)"),
            "anomalies(avg:m{*}, 'basic', 2)"
        );
    }
}
