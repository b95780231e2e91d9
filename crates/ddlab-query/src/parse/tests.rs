//! Parser tests: every grammar form as a tree, Datadog's recorded error messages, and no panics on mutated input.

use std::fmt::Write as _;

use expect_test::{Expect, expect};

use super::*;

/// A compact tree of the parsed list, one query per line.
fn check(input: &str, expect: Expect) {
    let list = parse(input).unwrap_or_else(|error| panic!("{input}: {error}"));
    let lines: Vec<String> = list
        .items
        .iter()
        .map(|item| format!("#{} {}", item.query_index, tree(&item.expr)))
        .collect();
    expect.assert_eq(&lines.join("\n"));
    assert_eq!(
        parse(&list.to_string()).as_ref(),
        Ok(&list),
        "canonical form {list} parses back"
    );
}

fn check_formula(input: &str, names: &[&str], expect: Expect) {
    let expr = parse_formula(input, names).unwrap_or_else(|error| panic!("{input}: {error}"));
    expect.assert_eq(&tree(&expr));
}

/// The error's message, then its position and rule.
fn check_error(input: &str, expect: Expect) {
    let error = parse(input).expect_err(input);
    expect.assert_eq(&format!(
        "{error}\n@{} {}:{} {:?}",
        error.offset, error.line, error.column, error.rule
    ));
}

fn tree(expr: &Expr) -> String {
    match expr {
        Expr::Number(value) => value.to_string(),
        Expr::Ref(name) => format!("(ref {name})"),
        Expr::Neg(inner) => format!("(neg {})", tree(inner)),
        Expr::Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), tree(lhs), tree(rhs)),
        Expr::Call { func, args } => {
            let call = Call(func).to_string();
            let args: Vec<String> = args.iter().map(tree).collect();
            format!("({call} {})", args.join(" "))
        }
        Expr::Query(query) => {
            let mut text = String::from("(query ");
            if let Some(agg) = query.space_agg {
                let _ = write!(text, "{agg}:");
            }
            let _ = write!(text, "{} {}", query.metric, scope_tree(&query.scope));
            if !query.group_by.is_empty() {
                let _ = write!(text, " by[{}]", query.group_by.join(" "));
            }
            let modifiers = query.modifiers.to_string();
            if !modifiers.is_empty() {
                let _ = write!(text, " {modifiers}");
            }
            text + ")"
        }
    }
}

/// A call with `_` for its series argument.
struct Call<'a>(&'a Function);

impl std::fmt::Display for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0
            .write_call(f, &[Expr::Ref("_".into())], &|f, _| f.write_str("_"))
    }
}

fn scope_tree(scope: &Scope) -> String {
    match scope {
        Scope::All => "*".into(),
        Scope::List(filters) => format!(
            "[{}]",
            filters.iter().map(filter_tree).collect::<Vec<_>>().join(" ")
        ),
        Scope::Boolean(expr) => bool_tree(expr),
    }
}

fn bool_tree(expr: &BoolExpr) -> String {
    let list = |operands: &[BoolExpr]| operands.iter().map(bool_tree).collect::<Vec<_>>().join(" ");
    match expr {
        BoolExpr::Filter(filter) => filter_tree(filter),
        BoolExpr::Not(inner) => format!("(not {})", bool_tree(inner)),
        BoolExpr::And(operands) => format!("(and {})", list(operands)),
        BoolExpr::Or(operands) => format!("(or {})", list(operands)),
        BoolExpr::In { key, values, negated } => {
            let values: Vec<&str> = values.iter().map(Pattern::as_str).collect();
            format!(
                "({} {key} {})",
                if *negated { "not-in" } else { "in" },
                values.join(" ")
            )
        }
    }
}

fn filter_tree(filter: &Filter) -> String {
    let matcher = match &filter.matcher {
        Matcher::Any => "any".to_owned(),
        Matcher::Tag { key, value } => format!("{key}={value}"),
        Matcher::Bare(pattern) => format!("bare({pattern})"),
        Matcher::Variable(var) => format!("var({var})"),
    };
    if filter.negated {
        format!("!{matcher}")
    } else {
        matcher
    }
}

#[test]
fn exercise_queries() {
    check(
        "avg:my_metric{host:h}",
        expect!["#0 (query avg:my_metric [host=h])"],
    );
    check(
        "anomalies(avg:mysql.performance.cpu_time{host:h}, 'basic', 2)",
        expect!["#0 (anomalies(_, 'basic', 2) (query avg:mysql.performance.cpu_time [host=h]))"],
    );
    check(
        "avg:my_metric{host:h}.rollup(sum, 3600)",
        expect!["#0 (query avg:my_metric [host=h] .rollup(sum, 3600))"],
    );
    check(
        "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()",
        expect![
            "#0 (query sum:trace.flask.request.hits [service=flask env=lab] by[resource_name] .as_count())"
        ],
    );
    check(
        "avg:system.cpu.user{*} by {host}",
        expect!["#0 (query avg:system.cpu.user * by[host])"],
    );
    check(
        "avg:mysql.performance.user_time{*}, avg:my_metric{host:h} by {host}.rollup(avg, 60)",
        expect![[r#"
            #0 (query avg:mysql.performance.user_time *)
            #1 (query avg:my_metric [host=h] by[host] .rollup(avg, 60))"#]],
    );
}

#[test]
fn metric_queries() {
    check("system.cpu.idle{*}", expect!["#0 (query system.cpu.idle *)"]);
    check(
        "sum:a{*}, min:a{*}, max:a{*}, count:a{*}, p50:a{*}, p99:a{*}",
        expect![[r#"
            #0 (query sum:a *)
            #1 (query min:a *)
            #2 (query max:a *)
            #3 (query count:a *)
            #4 (query p50:a *)
            #5 (query p99:a *)"#]],
    );
    check(
        "avg:a{*} by {host,env}",
        expect!["#0 (query avg:a * by[host env])"],
    );
    check(
        "  avg : a.b_c { * }  by { availability-zone , kube_namespace } ",
        expect!["#0 (query avg:a.b_c * by[availability-zone kube_namespace])"],
    );
    check("p50.latency{*}", expect!["#0 (query p50.latency *)"]);
    check("avg{*}", expect!["#0 (query avg *)"]);
}

#[test]
fn modifiers() {
    check(
        "a{*}.as_rate(), a{*}.rollup(max), a{*}.rollup(count, 60).fill(null), a{*}.fill(zero, 60), a{*}.fill(linear), a{*}.fill(last, 600).weighted()",
        expect![[r#"
            #0 (query a * .as_rate())
            #1 (query a * .rollup(max))
            #2 (query a * .fill(null).rollup(count, 60))
            #3 (query a * .fill(zero, 60))
            #4 (query a * .fill(linear))
            #5 (query a * .fill(last, 600).weighted())"#]],
    );
}

#[test]
fn scopes() {
    check(
        "a{host:a,!env:dev,role,!db*,host:web-*,device:/dev/sda*,ns:*-prod-*,$env,host:$host.value,$dc.value,*}",
        expect![
            "#0 (query a [host=a !env=dev bare(role) !bare(db*) host=web-* device=/dev/sda* ns=*-prod-* var($env) var(host:$host.value) var($dc.value) any])"
        ],
    );
    check(
        "a{env:prod AND (host:a OR host:b) AND NOT role:db}",
        expect!["#0 (query a (and env=prod (or host=a host=b) (not role=db)))"],
    );
    check(
        "a{host IN (a, b*, c) AND env NOT IN (dev,test)}",
        expect!["#0 (query a (and (in host a b* c) (not-in env dev test)))"],
    );
    check(
        "a{host:a OR host:b AND env:c}",
        expect!["#0 (query a (or host=a (and host=b env=c)))"],
    );
    check("a{NOT NOT host:a}", expect!["#0 (query a (not (not host=a)))"]);
    check(
        "a{!host:a AND !(env:b OR env:c)}",
        expect!["#0 (query a (and !host=a (not (or env=b env=c))))"],
    );
    check(
        "a{NOT host:a, env:b}",
        expect!["#0 (query a (and (not host=a) env=b))"],
    );
    check(
        "a{host IN (a,b), env:c}",
        expect!["#0 (query a (and (in host a b) env=c))"],
    );
    check("a{(host:a)}", expect!["#0 (query a [host=a])"]);
    check("a{ host:a , env:b }", expect!["#0 (query a [host=a env=b])"]);
}

#[test]
fn arithmetic() {
    check("a{*} + b{*} * 2", expect!["#0 (+ (query a *) (* (query b *) 2))"]);
    check(
        "(a{*} + b{*}) / 2",
        expect!["#0 (/ (+ (query a *) (query b *)) 2)"],
    );
    check(
        "a{*} - b{*} - c{*}",
        expect!["#0 (- (- (query a *) (query b *)) (query c *))"],
    );
    check("-a{*} * -1.5", expect!["#0 (* (neg (query a *)) (neg 1.5))"]);
    check(
        "sum:a.hits{*}.as_count() / sum:b.total{*}.as_count() * 100, 1e3 * a{*}",
        expect![[r#"
            #0 (* (/ (query sum:a.hits * .as_count()) (query sum:b.total * .as_count())) 100)
            #1 (* 1000 (query a *))"#]],
    );
}

#[test]
fn functions() {
    check(
        "timeshift(a{*}, -3600), hour_before(a{*}), day_before(a{*}), week_before(a{*}), month_before(a{*})",
        expect![[r#"
            #0 (timeshift(_, -3600) (query a *))
            #1 (hour_before(_) (query a *))
            #2 (day_before(_) (query a *))
            #3 (week_before(_) (query a *))
            #4 (month_before(_) (query a *))"#]],
    );
    check(
        "top(a{*} by {host}, 10, 'mean', 'desc'), top(a{*}, 5, \"l2norm\", 'asc'), top5_mean(a{*}), bottom10_min(a{*}), top20(a{*})",
        expect![[r#"
            #0 (top(_, 10, 'mean', 'desc') (query a * by[host]))
            #1 (top(_, 5, 'l2norm', 'asc') (query a *))
            #2 (top5_mean(_) (query a *))
            #3 (bottom10_min(_) (query a *))
            #4 (top20_mean(_) (query a *))"#]],
    );
    check(
        "abs(a{*}), log2(a{*}), log10(a{*}), cumsum(a{*}), integral(a{*}), derivative(a{*}), diff(a{*})",
        expect![[r#"
            #0 (abs(_) (query a *))
            #1 (log2(_) (query a *))
            #2 (log10(_) (query a *))
            #3 (cumsum(_) (query a *))
            #4 (integral(_) (query a *))
            #5 (derivative(_) (query a *))
            #6 (diff(_) (query a *))"#]],
    );
    check(
        "per_second(a{*}), per_minute(a{*}), per_hour(a{*}), default_zero(a{*}), count_nonzero(a{*}), count_not_null(a{*})",
        expect![[r#"
            #0 (per_second(_) (query a *))
            #1 (per_minute(_) (query a *))
            #2 (per_hour(_) (query a *))
            #3 (default_zero(_) (query a *))
            #4 (count_nonzero(_) (query a *))
            #5 (count_not_null(_) (query a *))"#]],
    );
    check(
        "clamp_min(a{*}, 0), clamp_max(a{*}, 100.5), cutoff_min(a{*}, -2), cutoff_max(a{*}, 1e3), ewma_3(a{*}), ewma_20(a{*}), median_5(a{*}), median_9(a{*})",
        expect![[r#"
            #0 (clamp_min(_, 0) (query a *))
            #1 (clamp_max(_, 100.5) (query a *))
            #2 (cutoff_min(_, -2) (query a *))
            #3 (cutoff_max(_, 1000) (query a *))
            #4 (ewma_3(_) (query a *))
            #5 (ewma_20(_) (query a *))
            #6 (median_5(_) (query a *))
            #7 (median_9(_) (query a *))"#]],
    );
    check(
        "abs(a{*} - b{*}) * 2",
        expect!["#0 (* (abs(_) (- (query a *) (query b *))) 2)"],
    );
    check(
        "top5_max(abs(timeshift(a{*}, 60)))",
        expect!["#0 (top5_max(_) (abs(_) (timeshift(_, 60) (query a *))))"],
    );
}

#[test]
fn anomalies_arguments() {
    check(
        "anomalies(avg:a{*}, 'agile', 3, direction='above', alert_window='last_15m', interval=60, count_default_zero='true', seasonality='daily', timezone='Europe/Paris')",
        expect![
            "#0 (anomalies(_, 'agile', 3, direction='above', alert_window='last_15m', interval=60, count_default_zero='true', seasonality='daily', timezone='Europe/Paris') (query avg:a *))"
        ],
    );
    check(
        "anomalies(sum:a{*}.as_count(), \"robust\", 1.5, timezone=\"it's\", direction='below')",
        expect![[
            r#"#0 (anomalies(_, 'robust', 1.5, direction='below', timezone="it's") (query sum:a * .as_count()))"#
        ]],
    );
    check(
        "anomalies(abs(a{*}) * 2, 'basic', 2)",
        expect!["#0 (anomalies(_, 'basic', 2) (* (abs(_) (query a *)) 2))"],
    );
}

#[test]
fn formulas() {
    check_formula("a * 1000", &["a"], expect!["(* (ref a) 1000)"]);
    check_formula(
        "(a / b) * 100",
        &["a", "b"],
        expect!["(* (/ (ref a) (ref b)) 100)"],
    );
    check_formula(
        "anomalies(a, 'basic', 2)",
        &["a"],
        expect!["(anomalies(_, 'basic', 2) (ref a))"],
    );
    check_formula(
        "timeshift(query1, -3600) - query1",
        &["query1"],
        expect!["(- (timeshift(_, -3600) (ref query1)) (ref query1))"],
    );
    let error = parse_formula("a * c", &["a", "b"]).unwrap_err();
    assert_eq!(
        (error.to_string(), error.offset),
        ("formula refers to unknown query 'c'".to_owned(), 4)
    );
    assert_eq!(
        parse_formula("2 * 3", &["a"]).unwrap_err().to_string(),
        "expression must contain a query name"
    );
    assert_eq!(
        parse_formula("a, b", &["a", "b"]).unwrap_err().rule,
        Some("expression")
    );
}

#[test]
fn datadog_recorded_errors() {
    // Messages recorded from Datadog (hiring-engineers submissions and public notes).
    let recorded = [
        (
            "anomalies(avg:mysql.performance.cpu_time{*}, robust, 2)",
            "unable to parse anomalies(avg:mysql.performance.cpu_time{*}, robust, 2): Rule 'scope_expr' didn't match at ', 2)' (line 1, column 52).",
        ),
        (
            "anomalies(avg:mysql.net.connections{role:database}, basic, 2)",
            "unable to parse anomalies(avg:mysql.net.connections{role:database}, basic, 2): Rule 'scope_expr' didn't match at ', 2)' (line 1, column 58).",
        ),
        (
            "anomalies(mongodb.dbs{*}, basic, 2",
            "unable to parse anomalies(mongodb.dbs{*}, basic, 2: Rule 'scope_expr' didn't match at ', 2' (line 1, column 32).",
        ),
        (
            "avg:kubernetes.cpu.user.total",
            "unable to parse avg:kubernetes.cpu.user.total: Rule 'scope_expr' didn't match at '' (line 1, column 30).",
        ),
        (
            "topk(5, sum by (message_pattern) (all_events_summaryBytes_total))",
            "unable to parse topk(5, sum by (message_pattern) (all_events_summaryBytes_total)): Rule 'scope_expr' didn't match at 'by (message_pattern)' (line 1, column 13).",
        ),
    ];
    for (query, message) in recorded {
        let error = parse(query).unwrap_err();
        assert_eq!(error.to_string(), message);
        assert_eq!(
            (error.rule, error.line, error.column),
            (Some("scope_expr"), 1, error.offset + 1)
        );
    }
}

#[test]
fn syntax_errors() {
    check_error(
        "anomalies(avg:mysql.performance.cpu_time{host:h}, basic, 2)",
        expect![[r#"
            unable to parse anomalies(avg:mysql.performance.cpu_time{host:h}, basic, 2): Rule 'scope_expr' didn't match at ', 2)' (line 1, column 56).
            @55 1:56 Some("scope_expr")"#]],
    );
    check_error(
        "",
        expect![[r#"
        unable to parse : Rule 'term' didn't match at '' (line 1, column 1).
        @0 1:1 Some("term")"#]],
    );
    check_error(
        "avg:{*}",
        expect![[r#"
        unable to parse avg:{*}: Rule 'metric' didn't match at '{*}' (line 1, column 5).
        @4 1:5 Some("metric")"#]],
    );
    check_error(
        "foo:bar{*}",
        expect![[r#"
        unable to parse foo:bar{*}: Rule 'scope_expr' didn't match at ':bar{*}' (line 1, column 4).
        @3 1:4 Some("scope_expr")"#]],
    );
    check_error(
        "a{}",
        expect![[r#"
        unable to parse a{}: Rule 'scope_expr' didn't match at '}' (line 1, column 3).
        @2 1:3 Some("scope_expr")"#]],
    );
    check_error(
        "a{host:a",
        expect![[r#"
        unable to parse a{host:a: Rule 'scope_expr' didn't match at '' (line 1, column 9).
        @8 1:9 Some("scope_expr")"#]],
    );
    check_error(
        "a{host:}",
        expect![[r#"
        unable to parse a{host:}: Rule 'scope_expr' didn't match at 'host:}' (line 1, column 3).
        @2 1:3 Some("scope_expr")"#]],
    );
    check_error(
        "a{host:a AND}",
        expect![[r#"
        unable to parse a{host:a AND}: Rule 'scope_expr' didn't match at '}' (line 1, column 13).
        @12 1:13 Some("scope_expr")"#]],
    );
    check_error(
        "a{host IN a}",
        expect![[r#"
        unable to parse a{host IN a}: Rule 'scope_expr' didn't match at 'a}' (line 1, column 11).
        @10 1:11 Some("scope_expr")"#]],
    );
    check_error(
        "a{$}",
        expect![[r#"
        unable to parse a{$}: Rule 'scope_expr' didn't match at '$}' (line 1, column 3).
        @2 1:3 Some("scope_expr")"#]],
    );
    check_error(
        "a{*} by host",
        expect![[r#"
        unable to parse a{*} by host: Rule 'group_by' didn't match at 'host' (line 1, column 9).
        @8 1:9 Some("group_by")"#]],
    );
    check_error(
        "a{*} by {host:a}",
        expect![[r#"
        unable to parse a{*} by {host:a}: Rule 'group_by' didn't match at 'host:a}' (line 1, column 10).
        @9 1:10 Some("group_by")"#]],
    );
    check_error(
        "a{*} foo",
        expect![[r#"
        unable to parse a{*} foo: Rule 'expression' didn't match at 'foo' (line 1, column 6).
        @5 1:6 Some("expression")"#]],
    );
    check_error(
        "a{*}.as_counts()",
        expect![[r#"
        unable to parse a{*}.as_counts(): Rule 'modifier' didn't match at 'as_counts()' (line 1, column 6).
        @5 1:6 Some("modifier")"#]],
    );
    check_error(
        "a{*}.rollup(sum, 60",
        expect![[r#"
        unable to parse a{*}.rollup(sum, 60: Rule 'modifier' didn't match at '' (line 1, column 20).
        @19 1:20 Some("modifier")"#]],
    );
    check_error(
        "(a{*} + 1",
        expect![[r#"
        unable to parse (a{*} + 1: Rule 'expression' didn't match at '' (line 1, column 10).
        @9 1:10 Some("expression")"#]],
    );
    check_error(
        "abs(a{*} b{*})",
        expect![[r#"
        unable to parse abs(a{*} b{*}): Rule 'args' didn't match at 'b{*})' (line 1, column 10).
        @9 1:10 Some("args")"#]],
    );
    check_error(
        "anomalies(a{*}, 'basic', 2, direction=both)",
        expect![[r#"
        unable to parse anomalies(a{*}, 'basic', 2, direction=both): Rule 'string' didn't match at 'both)' (line 1, column 39).
        @38 1:39 Some("string")"#]],
    );
    check_error(
        "top(a{*}, 5, 'mean', 'desc)",
        expect![[r#"
        unable to parse top(a{*}, 5, 'mean', 'desc): Rule 'term' didn't match at ''desc)' (line 1, column 22).
        @21 1:22 Some("term")"#]],
    );
    check_error(
        "a{*} @ 2",
        expect![[r#"
        unable to parse a{*} @ 2: Rule 'expression' didn't match at '@ 2' (line 1, column 6).
        @5 1:6 Some("expression")"#]],
    );
    check_error(
        "a{*},\n  b{*} +",
        expect![[r#"
        unable to parse a{*},
          b{*} +: Rule 'term' didn't match at '' (line 2, column 9).
        @14 2:9 Some("term")"#]],
    );
    check_error(
        "avg:a.very.long.metric.name{*} + b.c{host:é",
        expect![[r#"
            unable to parse avg:a.very.long.metric.name{*} + b.c{host:é: Rule 'scope_expr' didn't match at '' (line 1, column 44).
            @44 1:44 Some("scope_expr")"#]],
    );
}

#[test]
fn meaning_errors() {
    let cases = [
        ("foo(a{*})", "unknown function 'foo'"),
        (
            "outliers(a{*}, 'dbscan', 3)",
            "function 'outliers' is not supported",
        ),
        (
            "a{host:a,env:b AND role:c}",
            "'AND' and 'OR' cannot be mixed with ','",
        ),
        (
            "a{host:a OR host:b, env:c}",
            "'AND' and 'OR' cannot be mixed with ','",
        ),
        (
            "anomalies(cumsum(a{*}), 'basic', 2)",
            "cumsum() cannot be used inside anomalies()",
        ),
        (
            "anomalies(abs(integral(a{*})), 'basic', 2)",
            "integral() cannot be used inside anomalies()",
        ),
        (
            "abs(anomalies(a{*}, 'basic', 2))",
            "anomalies() must be the outermost function of a query",
        ),
        (
            "anomalies(a{*}, 'basic', 2) * 2",
            "anomalies() must be the outermost function of a query",
        ),
        (
            "anomalies(anomalies(a{*}, 'basic', 2), 'basic', 2)",
            "anomalies() must be the outermost function of a query",
        ),
        (
            "anomalies(a{*}, 'adaptive', 2)",
            "unknown anomaly algorithm 'adaptive': expected 'basic', 'agile' or 'robust'",
        ),
        (
            "anomalies(a{*}, 2, 'basic')",
            "anomalies() expects the algorithm as a quoted string: 'basic', 'agile' or 'robust'",
        ),
        (
            "anomalies(a{*}, 'basic')",
            "anomalies() expects a query, a quoted algorithm and bounds, then named arguments",
        ),
        (
            "anomalies(a{*}, 'basic', 2, 3)",
            "anomalies() expects a query, a quoted algorithm and bounds, then named arguments",
        ),
        (
            "anomalies(a{*}, 'basic', 0)",
            "anomalies() bounds must be positive",
        ),
        (
            "anomalies(a{*}, 'basic', 2, direction='up')",
            "anomalies() direction must be 'above', 'below' or 'both'",
        ),
        (
            "anomalies(a{*}, 'basic', 2, alert_window='15m')",
            "anomalies() alert_window must be a window such as 'last_15m'",
        ),
        (
            "anomalies(a{*}, 'basic', 2, interval=1.5)",
            "anomalies() interval must be a positive whole number of seconds",
        ),
        (
            "anomalies(a{*}, 'basic', 2, seasonality='monthly')",
            "anomalies() seasonality must be 'hourly', 'daily' or 'weekly'",
        ),
        (
            "anomalies(a{*}, 'basic', 2, count_default_zero='yes')",
            "anomalies() count_default_zero must be 'true' or 'false'",
        ),
        (
            "anomalies(a{*}, 'basic', 2, direction='both', direction='above')",
            "anomalies() argument 'direction' is given twice",
        ),
        (
            "anomalies(a{*}, 'basic', 2, foo='x')",
            "unknown anomalies() argument 'foo'",
        ),
        (
            "anomalies(a{*}, 'basic', 2, interval='60')",
            "anomalies() expects a number here",
        ),
        ("abs(a{*}, 2)", "abs() expects 1 argument, got 2"),
        ("abs()", "abs() expects a query as its first argument"),
        ("abs(5)", "abs() expects a query as its first argument"),
        ("abs('a')", "abs() expects a query as its first argument"),
        ("abs(a{*}, x=1)", "abs() takes no named arguments"),
        ("clamp_min(a{*})", "clamp_min() expects 2 arguments, got 1"),
        ("clamp_min(a{*}, 'x')", "clamp_min() expects a number here"),
        (
            "timeshift(a{*}, 1.5)",
            "timeshift() expects a whole number of seconds",
        ),
        ("timeshift(a{*}, b{*})", "timeshift() expects a number here"),
        (
            "top(a{*}, 7, 'mean', 'desc')",
            "top() limit must be one of 5, 10, 25, 50, 100",
        ),
        (
            "top(a{*}, 5, 'median', 'desc')",
            "top() cannot rank by 'median': expected one of 'mean', 'min', 'max', 'sum', 'last', 'l2norm', 'area'",
        ),
        (
            "top(a{*}, 5, 'mean', 'up')",
            "top() order must be 'desc' or 'asc', not 'up'",
        ),
        ("top7_mean(a{*})", "unknown function 'top7_mean'"),
        ("ewma_4(a{*})", "unknown function 'ewma_4'"),
        (
            "a{*}.as_count().as_rate()",
            "only one of .as_count() and .as_rate() may be used",
        ),
        (
            "a{*}.rollup(sum).rollup(avg)",
            "the .rollup() modifier is given twice",
        ),
        (
            "a{*}.fill(zero).fill(null)",
            "the .fill() modifier is given twice",
        ),
        (
            "a{*}.weighted().weighted()",
            "the .weighted() modifier is given twice",
        ),
        ("a{*}.rollup(median, 60)", "unknown .rollup() method 'median'"),
        (
            "a{*}.rollup(sum, 0)",
            ".rollup() seconds must be a whole number from 1 to 4294967295",
        ),
        (
            "a{*}.fill(zero, 601)",
            ".fill() seconds must be a whole number from 1 to 600",
        ),
        ("1 + 2", "expression must contain a metric query"),
        ("a{*}, 5", "expression must contain a metric query"),
    ];
    for (query, message) in cases {
        let error = parse(query).expect_err(query);
        assert_eq!(
            (error.to_string().as_str(), error.rule),
            (message, None),
            "{query}"
        );
    }
    let error = parse("a{host:a,env:b AND role:c}").unwrap_err();
    assert_eq!((error.offset, error.column), (15, 16));
    let error = parse("abs(a{*}) + foo(b{*})").unwrap_err();
    assert_eq!((error.offset, error.column), (12, 13));
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}a{{*}}{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&deep(60)).is_ok());
    assert_eq!(
        parse(&deep(100_000)).unwrap_err().to_string(),
        "query is nested more than 64 levels deep"
    );
    let negations = format!("{}a{{*}}", "-".repeat(100_000));
    assert_eq!(
        parse(&negations).unwrap_err().to_string(),
        "query is nested more than 64 levels deep"
    );
    let long_sum = vec!["a{*}"; 1000].join(" + ");
    assert_eq!(
        parse(&long_sum).unwrap_err().to_string(),
        "query is nested more than 64 levels deep"
    );
    let scope = format!("a{{{}host:a{}}}", "(".repeat(1000), ")".repeat(1000));
    assert_eq!(
        parse(&scope).unwrap_err().to_string(),
        "query is nested more than 64 levels deep"
    );
    let calls = format!("{}a{{*}}{}", "abs(".repeat(1000), ")".repeat(1000));
    assert_eq!(
        parse(&calls).unwrap_err().to_string(),
        "query is nested more than 64 levels deep"
    );
    assert!(parse(&vec!["a{*}"; 60].join(" + ")).is_ok());
}

/// Queries to mutate: the exercise's and every corner of the grammar.
pub(crate) const SEEDS: [&str; 11] = [
    "avg:my_metric{host:h}",
    "anomalies(avg:mysql.performance.cpu_time{host:h}, 'basic', 2)",
    "avg:my_metric{host:h}.rollup(sum, 3600)",
    "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()",
    "avg:system.cpu.user{*} by {host}",
    "sum:a.hits{*}.as_count() / sum:b.total{*}.as_count() * 100, -1.5e2 * b{x}",
    "a{env:prod AND (host:a OR host:b) AND NOT role:db}",
    "a{host IN (a, b*) AND env NOT IN (dev)}, b{!host:web-*,$env,svc:$svc.value}",
    "top(timeshift(a{*} by {host}, -3600), 10, 'mean', 'desc')",
    "anomalies(a{*}, 'agile', 3, direction='above', alert_window='last_15m', interval=60, seasonality=\"daily\")",
    "a{*}.fill(zero, 60).rollup(max).weighted() - ewma_10(b{*}) / clamp_min(c{é:ü}, 0)",
];

/// Deterministic mutations of a query: truncations, deletions, swaps, inserted and replaced punctuation,
/// and splices with the other seeds.
pub(crate) fn mutations(seed: &str) -> Vec<String> {
    const PUNCTUATION: [char; 18] = [
        '(', ')', '{', '}', ',', ':', '.', '\'', '"', '!', '*', '$', '-', '+', ' ', 'a', '0', '=',
    ];
    let chars: Vec<char> = seed.chars().collect();
    let text = |chars: &[char]| chars.iter().collect::<String>();
    let mut out = Vec::new();
    for cut in 0..=chars.len() {
        out.push(text(&chars[..cut]));
        out.push(text(&chars[cut..]));
        if cut < chars.len() {
            let mut removed = chars.clone();
            removed.remove(cut);
            out.push(text(&removed));
        }
        if cut + 1 < chars.len() {
            let mut swapped = chars.clone();
            swapped.swap(cut, cut + 1);
            out.push(text(&swapped));
        }
        for c in PUNCTUATION {
            let mut inserted = chars.clone();
            inserted.insert(cut, c);
            out.push(text(&inserted));
            if cut < chars.len() {
                let mut replaced = chars.clone();
                replaced[cut] = c;
                out.push(text(&replaced));
            }
        }
    }
    for other in SEEDS {
        let (head, tail) = (
            &chars[..chars.len() / 2],
            &other.chars().collect::<Vec<_>>()[other.chars().count() / 2..],
        );
        out.push(format!("{}{}", text(head), text(tail)));
    }
    out
}

/// Parsing never panics, and whatever parses prints a canonical form that parses back to the same tree.
#[test]
fn mutated_queries_never_panic() {
    let mut parsed = 0;
    for seed in SEEDS {
        for text in mutations(seed) {
            if let Ok(list) = parse(&text) {
                parsed += 1;
                let canonical = list.to_string();
                assert_eq!(
                    parse(&canonical).as_ref(),
                    Ok(&list),
                    "{text:?} printed as {canonical:?}"
                );
            }
            if let Ok(expr) = parse_formula(&text, &["a", "b"]) {
                assert_eq!(
                    parse_formula(&expr.to_string(), &["a", "b"]).as_ref(),
                    Ok(&expr),
                    "{text:?}"
                );
            }
        }
    }
    assert!(
        parsed > 1000,
        "only {parsed} mutations parsed: the seeds are too fragile to exercise the parser"
    );
}
