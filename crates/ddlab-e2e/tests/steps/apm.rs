//! Steps about the instrumented Flask app and the dashboard that mixes APM and infrastructure metrics.

use cucumber::then;

use super::Lab;

#[then(expr = "the app serves {string}, {string} and {string}")]
fn routes(lab: &mut Lab, first: String, second: String, third: String) {
    let app = app_source(lab);
    for route in [first, second, third] {
        let declared = [format!("route('{route}'"), format!("route(\"{route}\"")];
        assert!(
            declared.iter().any(|d| app.contains(d.as_str())),
            "app/app.py does not serve {route}: the exercise's app has the routes /, /api/apm and /api/trace"
        );
    }
}

#[then(expr = "the app listens on {word} port {int}")]
fn listens(lab: &mut Lab, host: String, port: u16) {
    let app = app_source(lab);
    let run = app
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("app.run("))
        .unwrap_or_else(|| panic!("app/app.py never calls app.run(...)"));
    let compact: String = run
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .replace('"', "'");
    assert!(
        compact.contains(&format!("host='{host}'")),
        "app/app.py runs `{run}`: it must listen on {host}"
    );
    assert!(
        compact.contains(&format!("port='{port}'")) || compact.contains(&format!("port={port}")),
        "app/app.py runs `{run}`: it must listen on port {port}"
    );
}

#[then("the app is instrumented exactly one way")]
fn one_way(lab: &mut Lab) {
    let solution = lab.solution();
    let app = app_source(lab);
    let launcher = solution
        .app_launcher
        .as_ref()
        .map(|d| d.text.as_str())
        .unwrap_or_default();
    let code: Vec<&str> = app
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect();
    let in_code = |needle: &str| code.iter().any(|line| line.contains(needle));
    let manual = in_code("TraceMiddleware") || in_code("patch_all(") || in_code("patch(flask");
    let ddtrace_run = launcher
        .lines()
        .any(|line| !line.trim_start().starts_with('#') && line.contains("ddtrace-run"));
    assert!(
        !(manual && ddtrace_run),
        "the app is instrumented twice: app/app.py patches Flask itself and app/run starts it with ddtrace-run; \
         keep only one"
    );
    assert!(
        manual || ddtrace_run,
        "the app is not instrumented: start it with ddtrace-run (app/run) or patch Flask in app.py"
    );
}

#[then(expr = "the dashboard queries a {string} metric")]
fn queries_prefix(lab: &mut Lab, prefix: String) {
    let queries = super::dashboards::queries(lab.payload());
    assert!(
        queries.iter().any(|q| q.contains(prefix.as_str())),
        "no widget queries a {prefix}* metric; the dashboard queries {queries:?}"
    );
}

#[then("the dashboard queries a host or database metric")]
fn queries_infrastructure(lab: &mut Lab) {
    let queries = super::dashboards::queries(lab.payload());
    assert!(
        queries
            .iter()
            .any(|q| ["system.", "mysql.", "postgresql.", "mongodb."]
                .iter()
                .any(|p| q.contains(p))),
        "no widget shows an infrastructure metric (system.*, mysql.*, …); the dashboard queries {queries:?}"
    );
}

fn app_source(lab: &Lab) -> &str {
    &lab.solution()
        .app_source
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no app/app.py"))
        .text
}
