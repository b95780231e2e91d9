//! Steps about the Agent checks a solution configures: the MySQL integration and the custom check.

use std::time::Duration;

use cucumber::then;

use super::Lab;

#[then(expr = "the check {string} is configured with a username and a password")]
fn credentials(lab: &mut Lab, check: String) {
    let config = lab.solution().check_config(&check).unwrap_or_else(|| {
        panic!("conf.d has no configuration for the {check} check (expected conf.d/{check}.d/conf.yaml)")
    });
    for instance in &config.instances {
        let user = instance.raw.get("username").or_else(|| instance.raw.get("user"));
        let password = instance.raw.get("password").or_else(|| instance.raw.get("pass"));
        assert!(
            user.is_some() && password.is_some(),
            "{}: instance {} needs `username` and `password` for the monitoring user",
            config.source.display(),
            instance.id
        );
    }
}

#[then("the grants script creates that user")]
fn grants_create_user(lab: &mut Lab) {
    let user = mysql_user(lab);
    let grants = grants(lab);
    assert!(
        grants.contains("create user") && grants.contains(&format!("'{user}'@")),
        "mysql/grants.sql does not CREATE USER '{user}' (the user conf.d/mysql.d/conf.yaml connects as)"
    );
}

#[then("the grants script grants it REPLICATION CLIENT, PROCESS and SELECT on performance_schema")]
fn grants_privileges(lab: &mut Lab) {
    let grants = grants(lab);
    let granted = |privilege: &str| {
        grants
            .lines()
            .any(|line| line.trim_start().starts_with("grant") && line.contains(privilege))
    };
    let missing: Vec<&str> = [
        (
            "replication client",
            "REPLICATION CLIENT (replication and binlog metrics)",
        ),
        ("process", "PROCESS (InnoDB metrics)"),
        (
            "on performance_schema.*",
            "SELECT ON performance_schema.* (query performance metrics)",
        ),
    ]
    .into_iter()
    .filter(|(needle, _)| !granted(needle))
    .map(|(_, what)| what)
    .collect();
    assert!(
        missing.is_empty(),
        "mysql/grants.sql does not grant {}",
        missing.join(", ")
    );
}

#[then(expr = "checks.d holds the check {string}")]
fn check_source(lab: &mut Lab, check: String) {
    let solution = lab.solution();
    let names: Vec<String> = solution
        .check_sources
        .iter()
        .map(|d| solution.relative(&d.path).display().to_string())
        .collect();
    assert!(
        solution.check_source(&check).is_some(),
        "checks.d has no {check}.py (found: {names:?}); the file name is the check name"
    );
}

#[then(expr = "conf.d configures the check {string}")]
fn check_configured(lab: &mut Lab, check: String) {
    let solution = lab.solution();
    let problems: Vec<String> = solution
        .confd
        .problems
        .iter()
        .filter(|p| p.path.to_string_lossy().contains(&check))
        .map(ToString::to_string)
        .collect();
    assert!(
        solution.check_config(&check).is_some(),
        "conf.d has no configuration for {check}: expected conf.d/{check}.yaml or conf.d/{check}.d/conf.yaml, \
         named like the .py file{}",
        if problems.is_empty() {
            String::new()
        } else {
            format!("\n{}", problems.join("\n"))
        }
    );
}

#[then(regex = r#"^the check "([a-z_0-9]+)" submits the gauge "([^"]+)" with randint\(0, 1000\)$"#)]
fn submits_gauge(lab: &mut Lab, check: String, metric: String) {
    let source = &lab
        .solution()
        .check_source(&check)
        .unwrap_or_else(|| panic!("checks.d has no {check}.py"))
        .text;
    let code: String = source.lines().map(strip_comment).collect::<Vec<_>>().join("\n");
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let gauge = [
        format!("self.gauge('{metric}',"),
        format!("self.gauge(\"{metric}\","),
    ];
    assert!(
        gauge.iter().any(|g| compact.contains(g.as_str())),
        "{check}.py does not call self.gauge('{metric}', ...): the name must be exactly {metric:?}"
    );
    assert!(
        compact.contains("randint(0,1000)"),
        "{check}.py should draw the value with random.randint(0, 1000): both ends are inclusive, so \
         randint(0, 1001) can exceed 1000"
    );
}

#[then(expr = "every instance of the check {string} runs every {int} seconds")]
fn interval(lab: &mut Lab, check: String, seconds: u64) {
    let config = lab
        .solution()
        .check_config(&check)
        .unwrap_or_else(|| panic!("conf.d does not configure {check}"));
    for instance in &config.instances {
        assert_eq!(
            instance.interval,
            Duration::from_secs(seconds),
            "{}: instance {} runs every {:?}; set `min_collection_interval: {seconds}` on the instance \
             (under `instances:`), not under init_config",
            config.source.display(),
            instance.id,
            instance.interval
        );
    }
}

#[then(expr = "the check {string} sets no interval under init_config")]
fn no_init_config_interval(lab: &mut Lab, check: String) {
    let config = lab
        .solution()
        .check_config(&check)
        .unwrap_or_else(|| panic!("conf.d does not configure {check}"));
    assert!(
        config.init_config.get("min_collection_interval").is_none(),
        "{}: min_collection_interval under init_config is ignored by Agent 6/7; move it to the instance",
        config.source.display()
    );
}

#[then(expr = "the Python code of the check {string} has no scheduling logic")]
fn no_scheduling(lab: &mut Lab, check: String) {
    let source = &lab
        .solution()
        .check_source(&check)
        .unwrap_or_else(|| panic!("checks.d has no {check}.py"))
        .text;
    let code = ddlab_e2e::python::code_only(source);
    let offending: Vec<&str> = code
        .lines()
        .filter(|line| {
            ["sleep(", "time.time()", "min_collection_interval", "threading"]
                .iter()
                .any(|n| line.contains(n))
        })
        .map(str::trim)
        .collect();
    assert!(
        offending.is_empty(),
        "{check}.py schedules itself ({offending:?}); the interval belongs in conf.d as min_collection_interval"
    );
}

fn mysql_user(lab: &Lab) -> String {
    let config = lab
        .solution()
        .check_config("mysql")
        .unwrap_or_else(|| panic!("conf.d does not configure mysql"));
    let instance = &config.instances[0].raw;
    instance
        .get("username")
        .or_else(|| instance.get("user"))
        .and_then(|u| u.as_str())
        .unwrap_or_else(|| panic!("{}: no username", config.source.display()))
        .to_owned()
}

/// The grants script in lower case with comments removed, so only executed SQL is judged.
fn grants(lab: &Lab) -> String {
    let grants = lab
        .solution()
        .grants
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no mysql/grants.sql"));
    grants
        .text
        .lines()
        .map(|line| line.split("-- ").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or_default()
}
