//! The SQL the check sends, and its errors as the integration's driver (PyMySQL) words them.
//!
//! The Agent shows a failed query as Python prints a PyMySQL exception: `(1227, 'Access denied; …')`.
//! Which failures are warnings and which end the run depends on PyMySQL's exception class for the error
//! code, so that mapping is kept too.

use std::fmt;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

pub(crate) const SQL_VERSION: &str = "SELECT VERSION()";
pub(crate) const SQL_VERSION_COMMENT: &str = "SELECT @@version_comment";
pub(crate) const SQL_STATUS: &str = "SHOW /*!50002 GLOBAL */ STATUS";
pub(crate) const SQL_VARIABLES: &str = "SHOW GLOBAL VARIABLES";
pub(crate) const SQL_INNODB_ENGINES: &str = "SELECT engine FROM information_schema.ENGINES \
     WHERE engine='InnoDB' and support != 'no' and support != 'disabled'";
pub(crate) const SQL_INNODB_STATUS: &str = "SHOW /*!50000 ENGINE*/ INNODB STATUS";
pub(crate) const SQL_BINARY_LOGS: &str = "SHOW BINARY LOGS";
pub(crate) const SQL_MASTER_STATUS: &str = "SHOW MASTER STATUS";
pub(crate) const SQL_PROCESS_LIST: &str =
    "SELECT * FROM INFORMATION_SCHEMA.PROCESSLIST WHERE COMMAND LIKE 'Binlog dump%'";
pub(crate) const SQL_WORKER_THREADS: &str =
    "SELECT THREAD_ID, NAME FROM performance_schema.threads WHERE PROCESSLIST_COMMAND LIKE 'Binlog dump%'";
pub(crate) const SQL_95TH_PERCENTILE: &str = "SELECT `avg_us`, `ro` as `percentile` FROM \
     (SELECT `avg_us`, @rownum := @rownum + 1 as `ro` FROM \
         (SELECT ROUND(avg_timer_wait / 1000000) as `avg_us` \
             FROM performance_schema.events_statements_summary_by_digest \
             ORDER BY `avg_us` ASC) p, \
         (SELECT @rownum := 0) r) q \
     WHERE q.`ro` > ROUND(.95*@rownum) \
     ORDER BY `percentile` ASC \
     LIMIT 1";
pub(crate) const SQL_AVG_QUERY_RUN_TIME: &str = "SELECT schema_name, \
     ROUND((SUM(sum_timer_wait) / SUM(count_star)) / 1000000) AS avg_us \
     FROM performance_schema.events_statements_summary_by_digest \
     WHERE schema_name IS NOT NULL \
     GROUP BY schema_name";
pub(crate) const SQL_QUERY_SCHEMA_SIZE: &str = "SELECT table_schema, \
     IFNULL(SUM(data_length+index_length)/1024/1024,0) AS total_mb \
     FROM information_schema.tables \
     GROUP BY table_schema";

/// `SHOW REPLICA STATUS` where the server knows it (MariaDB 10.5.1+, MySQL 8.0.22+), else `SHOW SLAVE
/// STATUS`; a MySQL channel is named in the statement, a MariaDB one through `default_master_connection`.
pub(crate) fn show_replica_status(
    mariadb: bool,
    at_least: impl Fn((u64, u64, u64)) -> bool,
    channel: Option<&str>,
) -> String {
    let base = if at_least((10, 5, 1)) || (!mariadb && at_least((8, 0, 22))) {
        "SHOW REPLICA STATUS"
    } else {
        "SHOW SLAVE STATUS"
    };
    match channel {
        Some(channel) if !mariadb => format!("{base} FOR CHANNEL '{channel}'"),
        _ => base.to_owned(),
    }
}

/// A result set with every value as text, as the text protocol sends it; `None` is SQL `NULL`.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The value of `column` (case-insensitive, as a `DictCursor` user would look it up) in `row`.
    pub(crate) fn get<'a>(&self, row: &'a [Option<String>], column: &str) -> Option<&'a str> {
        let index = self.columns.iter().position(|c| c.eq_ignore_ascii_case(column))?;
        row.get(index)?.as_deref()
    }
}

/// Runs one statement and reads the whole result.
pub(crate) async fn query(conn: &mut Conn, sql: &str) -> Result<Table, QueryError> {
    let rows: Vec<Row> = conn.query(sql).await.map_err(QueryError::from)?;
    let mut table = Table::default();
    for mut row in rows {
        if table.columns.is_empty() {
            table.columns = row
                .columns_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
        }
        let values = (0..row.len())
            .map(|index| row.take::<Value, _>(index).and_then(text))
            .collect();
        table.rows.push(values);
    }
    Ok(table)
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Value::Int(n) => Some(n.to_string()),
        Value::UInt(n) => Some(n.to_string()),
        Value::Float(n) => Some(n.to_string()),
        Value::Double(n) => Some(n.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
    }
}

/// PyMySQL's exception classes, which decide what the integration catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    Programming,
    Data,
    Integrity,
    NotSupported,
    Operational,
    Internal,
}

impl ErrorClass {
    /// PyMySQL's `error_map`, falling back to `InternalError` below 1000 and `OperationalError` above.
    pub(crate) fn of(code: u16) -> Self {
        match code {
            1007 | 1149 | 1064 | 1146 | 1102 | 1103 | 1110 | 1111 | 1112 | 1113 | 1179 | 1166 => {
                ErrorClass::Programming
            }
            1265 | 1263 | 1264 | 1230 | 1171 | 1406 | 1441 | 1366 | 1367 => ErrorClass::Data,
            1062 | 1216 | 1452 | 1217 | 1451 | 1215 | 1048 => ErrorClass::Integrity,
            1196 | 1235 | 1289 | 1286 => ErrorClass::NotSupported,
            0..1000 => ErrorClass::Internal,
            _ => ErrorClass::Operational,
        }
    }
}

/// A failed statement, with the code and text PyMySQL would carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError {
    pub(crate) code: u16,
    pub(crate) message: String,
}

impl QueryError {
    pub(crate) fn class(&self) -> ErrorClass {
        ErrorClass::of(self.code)
    }

    /// `except (InternalError, OperationalError)`: the integration's usual "warn and go on".
    pub(crate) fn is_operational(&self) -> bool {
        matches!(self.class(), ErrorClass::Internal | ErrorClass::Operational)
    }

    /// The same, plus `NotSupportedError`, as caught around the InnoDB queries.
    pub(crate) fn is_operational_or_not_supported(&self) -> bool {
        self.is_operational() || self.class() == ErrorClass::NotSupported
    }
}

impl From<mysql_async::Error> for QueryError {
    fn from(err: mysql_async::Error) -> Self {
        match err {
            mysql_async::Error::Server(server) => QueryError {
                code: server.code,
                message: server.message,
            },
            // PyMySQL reports a connection lost mid-query as OperationalError 2013.
            mysql_async::Error::Io(io) => QueryError {
                code: 2013,
                message: format!("Lost connection to MySQL server during query ({io})"),
            },
            other => QueryError {
                code: 2013,
                message: other.to_string(),
            },
        }
    }
}

/// Python's `str(exc)` for a two-argument exception: `(1227, 'Access denied; …')`.
impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.code, python_repr(&self.message))
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds a single quote and no double quote.
pub(crate) fn python_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_like_pymysql() {
        let err = QueryError {
            code: 1227,
            message: "Access denied; you need (at least one of) the PROCESS privilege(s) for this operation"
                .into(),
        };
        assert_eq!(
            err.to_string(),
            "(1227, 'Access denied; you need (at least one of) the PROCESS privilege(s) for this operation')"
        );
        let err = QueryError {
            code: 1045,
            message: "Access denied for user 'datadog'@'localhost' (using password: YES)".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"(1045, "Access denied for user 'datadog'@'localhost' (using password: YES)")"#
        );
        assert_eq!(python_repr(r#"it's "both""#), r#"'it\'s "both"'"#);
    }

    #[test]
    fn error_classes_decide_what_is_caught() {
        assert!(
            QueryError {
                code: 1227,
                message: String::new()
            }
            .is_operational()
        );
        assert!(
            QueryError {
                code: 1142,
                message: String::new()
            }
            .is_operational()
        );
        assert!(
            !QueryError {
                code: 1146,
                message: String::new()
            }
            .is_operational()
        );
        assert!(
            QueryError {
                code: 1286,
                message: String::new()
            }
            .is_operational_or_not_supported()
        );
        assert_eq!(ErrorClass::of(999), ErrorClass::Internal);
    }

    #[test]
    fn replica_status_statement() {
        let mariadb_10_11 = |v| (10, 11, 6) >= v;
        let mysql_8_0_36 = |v| (8, 0, 36) >= v;
        let mysql_5_7 = |v| (5, 7, 44) >= v;
        assert_eq!(
            show_replica_status(true, mariadb_10_11, Some("a")),
            "SHOW REPLICA STATUS"
        );
        assert_eq!(
            show_replica_status(false, mysql_8_0_36, Some("a")),
            "SHOW REPLICA STATUS FOR CHANNEL 'a'"
        );
        assert_eq!(show_replica_status(false, mysql_5_7, None), "SHOW SLAVE STATUS");
    }
}
