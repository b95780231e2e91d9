//! Live steps about the lab's MySQL server as the solution's monitoring user sees it: it reads the
//! server's status, and every attempt to write is refused with an access error.

use cucumber::then;
use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, OptsBuilder};

use super::{Lab, sequence};

/// The server's answers that mean "not allowed": table access (1142), database access (1044), a global
/// privilege (1227), column access (1143), routine access (1370), creating users by GRANT (1410).
const DENIED: &[u16] = &[1142, 1044, 1227, 1143, 1370, 1410];

#[then(expr = "the MySQL user of the check {string} can read the server's status")]
async fn can_read(lab: &mut Lab, check: String) {
    let (mut conn, user) = connect(lab, &check).await;
    let uptime: Option<(String, String)> = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Uptime'")
        .await
        .unwrap_or_else(|err| panic!("SHOW GLOBAL STATUS as {user} failed: {err}"));
    assert!(
        uptime.is_some(),
        "SHOW GLOBAL STATUS LIKE 'Uptime' as {user} answered no row"
    );
    let _ = conn.disconnect().await;
}

#[then(
    expr = "the MySQL user of the check {string} cannot insert, update, delete, create, alter, drop or grant"
)]
async fn cannot_write(lab: &mut Lab, check: String) {
    let (mut conn, user) = connect(lab, &check).await;
    // Names no one uses, so a statement that is wrongly allowed changes nothing the lab needs; privileges
    // are checked before the object is looked up, so a refusal does not depend on it existing.
    let probe = format!("ddlab_probe_{}_{}", std::process::id(), sequence());
    let statements = [
        (
            "INSERT",
            "INSERT INTO lab.visits (route) VALUES ('/ddlab-probe')".to_owned(),
        ),
        (
            "UPDATE",
            "UPDATE lab.visits SET route = route WHERE id = 0".to_owned(),
        ),
        ("DELETE", "DELETE FROM lab.visits WHERE id = 0".to_owned()),
        ("CREATE TABLE", format!("CREATE TABLE lab.{probe} (id INT)")),
        ("CREATE DATABASE", format!("CREATE DATABASE {probe}")),
        (
            "ALTER TABLE",
            format!("ALTER TABLE lab.{probe} ADD COLUMN extra INT"),
        ),
        ("DROP TABLE", format!("DROP TABLE lab.{probe}")),
        ("DROP DATABASE", format!("DROP DATABASE {probe}")),
        (
            "UPDATE performance_schema",
            "UPDATE performance_schema.setup_consumers SET ENABLED = ENABLED".to_owned(),
        ),
        ("GRANT", format!("GRANT SELECT ON lab.* TO '{user}'@'localhost'")),
        (
            "CREATE USER",
            format!("CREATE USER '{probe}'@'localhost' IDENTIFIED BY 'x'"),
        ),
        ("SET GLOBAL", "SET GLOBAL general_log = OFF".to_owned()),
    ];
    let mut allowed = Vec::new();
    for (what, sql) in &statements {
        match conn.query_drop(sql.as_str()).await {
            Err(mysql_async::Error::Server(err)) if DENIED.contains(&err.code) => {}
            Err(mysql_async::Error::Server(err)) => allowed.push(format!(
                "{what}: `{sql}` got past the privilege check (error {}: {})",
                err.code, err.message
            )),
            Err(other) => panic!("`{sql}` as {user} failed before the server answered: {other}"),
            Ok(()) => allowed.push(format!("{what}: `{sql}` succeeded")),
        }
    }
    let _ = conn.disconnect().await;
    assert!(
        allowed.is_empty(),
        "the monitoring user {user} can write: {allowed:#?}\nmysql/grants.sql should grant it only \
         REPLICATION CLIENT, PROCESS and SELECT ON performance_schema.* (never ALL PRIVILEGES or a \
         database's writes)"
    );
}

/// A TCP connection to the lab's MySQL as the first instance of `check` connects, and its user name.
async fn connect(lab: &Lab, check: &str) -> (Conn, String) {
    let config = lab
        .solution()
        .check_config(check)
        .unwrap_or_else(|| panic!("conf.d does not configure {check}"));
    let instance = &config.instances[0].raw;
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| instance.get(*name).and_then(|v| v.as_str()))
            .map(str::to_owned)
    };
    let user = field(&["username", "user"])
        .unwrap_or_else(|| panic!("{}: the instance has no username", config.source.display()));
    let password = field(&["password", "pass"]).unwrap_or_default();
    let server = lab.live().lab("the lab's MySQL server").mysql;
    let opts = OptsBuilder::default()
        .ip_or_hostname(server.ip().to_string())
        .tcp_port(server.port())
        .user(Some(user.clone()))
        .pass(Some(password).filter(|p| !p.is_empty()))
        // Over TCP, as the check connects: the server matches the account by the client's address.
        .prefer_socket(false);
    let conn = Conn::new(opts)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to MySQL at {server} as {user}: {err}"));
    (conn, user)
}
