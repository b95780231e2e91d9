//! The native MySQL check against real MariaDB servers, each started privately in a temporary folder
//! (no system service, a free loopback port) and killed when its test ends.
//!
//! These tests need the `mariadb-server` package. Without it they fail, naming the package, unless
//! `DDLAB_SKIP_MYSQL=1` is set.

mod support;

use std::path::Path;

use ddlab_agent::check::SubmissionKind::{Gauge, MonotonicCount, Rate};
use ddlab_agent::check::{CheckOutput, MetricSubmission};
use ddlab_agent::config::Instance;
use ddlab_agent::config::checks::read_check_file;
use ddlab_agent::mysql::MysqlCheck;
use ddlab_wire::check_run::CheckStatus;
use expect_test::expect;
use support::mariadb::{Server, free_port};

const GRANTS_SQL: &str = include_str!("../../../fixtures/solution/mysql/grants.sql");
const SOLUTION_CONF: &str = include_str!("../../../fixtures/solution/conf.d/mysql.d/conf.yaml");

fn instance(yaml: &str) -> Instance {
    let mut problems = Vec::new();
    let check = read_check_file(
        "mysql",
        Path::new("conf.d/mysql.d/conf.yaml"),
        yaml,
        &mut problems,
    )
    .unwrap_or_else(|| panic!("{problems:?}"));
    assert!(problems.is_empty(), "{problems:?}");
    check.instances.into_iter().next().expect("one instance")
}

fn check_for(yaml: &str) -> MysqlCheck {
    MysqlCheck::from_instance(&instance(yaml)).expect("valid mysql instance")
}

/// An instance for `user` on the server's TCP port, with every option that needs a grant.
fn all_options(server: &Server, user: &str, password: &str) -> String {
    format!(
        "instances:\n  - host: 127.0.0.1\n    port: {}\n    username: {user}\n    password: {password}\n    \
         options:\n      replication: true\n      extra_innodb_metrics: true\n      extra_performance_metrics: true\n",
        server.port
    )
}

fn metric<'a>(out: &'a CheckOutput, name: &str) -> &'a MetricSubmission {
    out.metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name} among {:?}", names(out)))
}

fn names(out: &CheckOutput) -> Vec<&str> {
    out.metrics.iter().map(|m| m.name.as_str()).collect()
}

fn has(out: &CheckOutput, name: &str) -> bool {
    out.metrics.iter().any(|m| m.name == name)
}

fn can_connect(out: &CheckOutput) -> (CheckStatus, Vec<String>) {
    let checks: Vec<_> = out
        .service_checks
        .iter()
        .filter(|c| c.name == "mysql.can_connect")
        .collect();
    assert_eq!(checks.len(), 1, "{:?}", out.service_checks);
    (checks[0].status, checks[0].tags.clone())
}

fn metadata<'a>(out: &'a CheckOutput, key: &str) -> &'a str {
    out.metadata
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} metadata in {:?}", out.metadata))
}

#[tokio::test]
async fn reference_grants_collect_the_default_metrics() {
    let Some(server) = Server::start().await else {
        return;
    };
    server.root_sql(GRANTS_SQL).await;
    // A schema with some statements, so performance_schema has per-schema digests.
    server
        .root_sql(
            "CREATE DATABASE ddlab; USE ddlab; CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB; \
                   INSERT INTO t VALUES (1), (2); SELECT COUNT(*) FROM t;",
        )
        .await;
    let conf = SOLUTION_CONF.replace("port: 3306", &format!("port: {}", server.port));
    assert_ne!(
        conf, SOLUTION_CONF,
        "the solution's conf.yaml no longer says port: 3306"
    );
    let mut check = check_for(&conf);

    let first = check.run().await;
    assert_eq!(first.error, None);
    assert_eq!(first.warnings, Vec::<String>::new());
    let port_tag = format!("port:{}", server.port);
    assert_eq!(
        can_connect(&first),
        (
            CheckStatus::Ok,
            vec![
                port_tag,
                "db:mysql".into(),
                "exercise:ddlab".into(),
                "server:127.0.0.1".into()
            ]
        )
    );
    assert_eq!(metadata(&first, "flavor"), "MariaDB");
    // With binary logging on, VERSION() ends in "-log", which the integration reports as the build.
    let raw = metadata(&first, "version.raw");
    assert_eq!(metadata(&first, "version.build"), "log");
    assert_eq!(
        raw,
        format!(
            "{}.{}.{}+log",
            metadata(&first, "version.major"),
            metadata(&first, "version.minor"),
            metadata(&first, "version.patch")
        )
    );
    assert_eq!(metadata(&first, "version.scheme"), "semver");

    for (name, kind) in [
        ("mysql.net.connections", Rate),
        ("mysql.net.max_connections", Gauge),
        ("mysql.net.max_connections_available", Gauge),
        ("mysql.net.aborted_connects", Rate),
        ("mysql.performance.queries", Rate),
        ("mysql.performance.questions", Rate),
        ("mysql.performance.com_select", Rate),
        ("mysql.performance.threads_connected", Gauge),
        ("mysql.performance.open_tables", Gauge),
        ("mysql.performance.table_locks_waited", Gauge),
        ("mysql.performance.table_locks_waited.rate", Rate),
        ("mysql.performance.qcache.utilization", Gauge),
        ("mysql.performance.key_cache_utilization", Gauge),
        ("mysql.myisam.key_buffer_size", Gauge),
        ("mysql.myisam.key_buffer_bytes_used", Gauge),
        ("mysql.innodb.buffer_pool_total", Gauge),
        ("mysql.innodb.buffer_pool_used", Gauge),
        ("mysql.innodb.buffer_pool_free", Gauge),
        ("mysql.innodb.buffer_pool_utilization", Gauge),
        ("mysql.innodb.data_reads", Rate),
        ("mysql.binlog.disk_use", Gauge),
        // extra_status_metrics
        ("mysql.performance.threads_created", MonotonicCount),
        ("mysql.performance.handler_read_rnd_next", Rate),
        ("mysql.performance.table_cache_hits", Rate),
        // extra_innodb_metrics, some only from SHOW ENGINE INNODB STATUS
        ("mysql.innodb.buffer_pool_pages_total", Gauge),
        ("mysql.innodb.checkpoint_age", Gauge),
        ("mysql.innodb.os_file_reads", Rate),
        // extra_performance_metrics
        ("mysql.performance.digest_95th_percentile.avg_us", Gauge),
        ("mysql.performance.query_run_time.avg", Gauge),
        // the server process, read from /proc
        ("mysql.performance.user_time", Rate),
        ("mysql.performance.kernel_time", Rate),
        ("mysql.performance.cpu_time", Rate),
    ] {
        assert_eq!(metric(&first, name).kind, kind, "{name}");
    }
    for m in &first.metrics {
        assert!(
            m.tags
                .starts_with(&["db:mysql".to_owned(), "exercise:ddlab".to_owned()]),
            "{m:?}"
        );
        assert_eq!(m.hostname, None, "{m:?}");
    }
    let mut keys: Vec<(String, Vec<String>)> = first
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.tags.clone()))
        .collect();
    let count = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), count, "a metric was sent twice with the same tags");
    assert!(
        first
            .metrics
            .iter()
            .any(|m| m.name == "mysql.performance.query_run_time.avg"
                && m.tags.contains(&"schema:ddlab".to_owned()))
    );
    assert_eq!(metric(&first, "mysql.net.max_connections_available").value, 151.0);
    let cpu = metric(&first, "mysql.performance.cpu_time").value;
    let parts = metric(&first, "mysql.performance.user_time").value
        + metric(&first, "mysql.performance.kernel_time").value;
    assert!((cpu - parts).abs() < 1e-9 && cpu > 0.0, "{cpu} vs {parts}");
    assert!(!has(&first, "mysql.performance.qcache.utilization.instant"));
    assert!(
        !has(&first, "mysql.replication.slaves_connected"),
        "replication is off in the solution"
    );

    let second = check.run().await;
    assert_eq!(second.error, None);
    assert_eq!(second.warnings, Vec::<String>::new());
    assert_eq!(can_connect(&second).0, CheckStatus::Ok);
    assert_eq!(
        metric(&second, "mysql.performance.qcache.utilization.instant").kind,
        Gauge
    );
    // Raw counters: the aggregator turns them into per-second rates. Each run opens one connection.
    assert!(metric(&second, "mysql.net.connections").value > metric(&first, "mysql.net.connections").value);

    // The same server through its socket: no port configured, so the service check says unix_socket.
    let socket = server.socket();
    let mut by_socket = check_for(&format!(
        "instances:\n  - host: localhost\n    sock: {}\n    username: datadog\n    password: datadog-lab\n",
        socket.display()
    ));
    let out = by_socket.run().await;
    assert_eq!(out.error, None);
    assert_eq!(
        can_connect(&out),
        (
            CheckStatus::Ok,
            vec![
                "port:unix_socket".to_owned(),
                format!("server:{}", socket.display())
            ]
        )
    );
    assert_eq!(metric(&out, "mysql.performance.cpu_time").kind, Rate);
    assert!(
        !has(&out, "mysql.performance.threads_created"),
        "extra_status_metrics is off"
    );
}

#[tokio::test]
async fn missing_grants_are_warnings_and_the_run_goes_on() {
    let Some(server) = Server::start().await else {
        return;
    };
    // `bare` has no privilege at all; `classic` has the exercise's original grants, which lack the
    // SLAVE MONITOR privilege MariaDB 10.5.9+ wants for SHOW SLAVE STATUS.
    server
        .root_sql(
            "CREATE USER 'bare'@'localhost' IDENTIFIED BY 'pw';
             CREATE USER 'bare'@'127.0.0.1' IDENTIFIED BY 'pw';
             CREATE USER 'classic'@'localhost' IDENTIFIED BY 'pw';
             CREATE USER 'classic'@'127.0.0.1' IDENTIFIED BY 'pw';
             GRANT REPLICATION CLIENT, PROCESS ON *.* TO 'classic'@'localhost';
             GRANT REPLICATION CLIENT, PROCESS ON *.* TO 'classic'@'127.0.0.1';
             GRANT SELECT ON performance_schema.* TO 'classic'@'localhost';
             GRANT SELECT ON performance_schema.* TO 'classic'@'127.0.0.1';",
        )
        .await;

    let bare = check_for(&all_options(&server, "bare", "pw")).run().await;
    assert_eq!(bare.error, None);
    assert_eq!(can_connect(&bare).0, CheckStatus::Ok);
    expect![[r#"
        [
            "Privilege error or engine unavailable accessing the INNODB status tables (must grant PROCESS): (1227, 'Access denied; you need (at least one of) the PROCESS privilege(s) for this operation')",
            "Privileges error accessing the BINARY LOGS (must grant REPLICATION CLIENT): (1227, 'Access denied; you need (at least one of) the SUPER, BINLOG MONITOR privilege(s) for this operation')",
            "95th percentile performance metrics unavailable at this time: (1142, \"SELECT command denied to user 'bare'@'localhost' for table `performance_schema`.`events_statements_summary_by_digest`\")",
            "Avg exec time performance metrics unavailable at this time: (1142, \"SELECT command denied to user 'bare'@'localhost' for table `performance_schema`.`events_statements_summary_by_digest`\")",
            "Privileges error getting replication status (must grant REPLICATION CLIENT): (1227, 'Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s) for this operation')",
            "Privileges error getting binlog information (must grant REPLICATION CLIENT): (1227, 'Access denied; you need (at least one of) the SUPER, BINLOG MONITOR privilege(s) for this operation')",
        ]
    "#]]
    .assert_debug_eq(&bare.warnings);
    // Only the metrics of the refused queries are missing.
    assert!(has(&bare, "mysql.net.connections"));
    assert!(
        has(&bare, "mysql.innodb.buffer_pool_total"),
        "SHOW STATUS needs no grant"
    );
    assert!(
        !has(&bare, "mysql.innodb.os_file_reads"),
        "SHOW ENGINE INNODB STATUS needs PROCESS"
    );
    assert!(
        !has(&bare, "mysql.binlog.disk_use"),
        "SHOW BINARY LOGS needs REPLICATION CLIENT"
    );
    assert!(!has(&bare, "mysql.performance.digest_95th_percentile.avg_us"));
    let replica = bare
        .service_checks
        .iter()
        .find(|c| c.name == "mysql.replication.replica_running")
        .expect("replication service check");
    assert_eq!(replica.status, CheckStatus::Warning, "a source without replicas");

    // Nothing has run in a schema yet, so the per-schema average has no rows: the integration warns.
    let classic = check_for(&all_options(&server, "classic", "pw")).run().await;
    assert_eq!(classic.error, None);
    assert_eq!(can_connect(&classic).0, CheckStatus::Ok);
    expect![[r#"
        [
            "Failed to fetch records from the perf schema 'events_statements_summary_by_digest' table.",
            "Privileges error getting replication status (must grant REPLICATION CLIENT): (1227, 'Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s) for this operation')",
        ]
    "#]]
    .assert_debug_eq(&classic.warnings);
    assert!(has(&classic, "mysql.innodb.os_file_reads"));
    assert!(has(&classic, "mysql.binlog.disk_use"));
}

#[tokio::test]
async fn wrong_password_is_critical_with_the_servers_error() {
    let Some(server) = Server::start().await else {
        return;
    };
    server.root_sql(GRANTS_SQL).await;
    let conf = SOLUTION_CONF
        .replace("port: 3306", &format!("port: {}", server.port))
        .replace("\"datadog-lab\"", "\"not-the-password\"");
    let out = check_for(&conf).run().await;
    assert_eq!(
        can_connect(&out),
        (
            CheckStatus::Critical,
            vec![
                format!("port:{}", server.port),
                "db:mysql".into(),
                "exercise:ddlab".into(),
                "server:127.0.0.1".into()
            ]
        )
    );
    let error = out.error.expect("a failed run");
    assert_eq!(
        error.message,
        "(1045, \"Access denied for user 'datadog'@'localhost' (using password: YES)\")"
    );
    assert!(out.metrics.is_empty(), "{:?}", out.metrics);
    assert!(out.metadata.is_empty(), "{:?}", out.metadata);
}

/// Needs no server: nothing listens on the port.
#[tokio::test]
async fn refused_connection_is_critical() {
    let port = free_port();
    let out = check_for(&format!(
        "instances:\n  - {{host: 127.0.0.1, port: {port}, username: datadog, password: x, tags: [a:b]}}\n"
    ))
    .run()
    .await;
    assert_eq!(
        can_connect(&out),
        (
            CheckStatus::Critical,
            vec![format!("port:{port}"), "a:b".into(), "server:127.0.0.1".into()]
        )
    );
    assert_eq!(
        out.error.expect("a failed run").message,
        "(2003, \"Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)\")"
    );
}
