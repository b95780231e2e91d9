//! The body of one run once connected: the integration's `check()` after `_connect()`, step by step.
//!
//! Values are gathered into one result map keyed like the integration's `results` dictionary (status
//! and variable names, plus the keys the check derives), then sent in one pass through the metric
//! [`Plan`]. Every query either succeeds, becomes a warning (the failures the integration catches), or
//! ends the run with an error (the ones it does not).

use std::collections::HashMap;
use std::path::Path;

use ddlab_wire::check_run::CheckStatus;
use mysql_async::Conn;

use super::innodb::parse_innodb_status;
use super::metrics::{
    BINLOG_VARS, GALERA_VARS, INNODB_VARS, OPTIONAL_INNODB_VARS, OPTIONAL_STATUS_VARS,
    OPTIONAL_STATUS_VARS_5_6_6, PERFORMANCE_VARS, Plan, REPLICA_VARS, SCHEMA_VARS, STATUS_VARS,
    SYNTHETIC_VARS, VARIABLES_VARS,
};
use super::queries::{self, QueryError, Table, query};
use super::version::ServerVersion;
use super::{
    ColumnKind, ERROR, REPLICA_SERVICE_CHECK_NAME, Run, SLAVE_SERVICE_CHECK_NAME, State, WARNING, system,
};
use crate::check::{CheckError, SubmissionKind};

/// Why a run stopped early: what the integration lets propagate out of `check()`.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A statement failed in a way the integration does not catch (a PyMySQL `ProgrammingError`, or any
    /// error of the statements it runs unguarded).
    Query { sql: String, error: QueryError },
    /// A value that should be a number was not (Python's `float()` raising `ValueError`).
    NotANumber { key: String, value: String },
}

impl Failure {
    pub(crate) fn into_check_error(self) -> CheckError {
        match self {
            Failure::Query { sql, error } => CheckError {
                message: error.to_string(),
                traceback: format!("mysql check: query failed: {sql}: {error}"),
            },
            Failure::NotANumber { key, value } => CheckError {
                message: format!(
                    "could not convert string to float: {}",
                    queries::python_repr(&value)
                ),
                traceback: format!("mysql check: {key} = {value:?} is not a number"),
            },
        }
    }
}

/// Runs `sql`, or ends the run if it fails.
async fn must(conn: &mut Conn, sql: &str) -> Result<Table, Failure> {
    query(conn, sql).await.map_err(|error| Failure::Query {
        sql: sql.to_owned(),
        error,
    })
}

/// One entry of the integration's `results` dictionary.
#[derive(Debug, Clone)]
enum Field {
    Scalar(String),
    /// A value per tag (`channel:<name>`, `schema:<name>`), sent once per tag.
    PerTag(Vec<(String, String)>),
}

#[derive(Debug, Default)]
struct Results(HashMap<String, Field>);

impl Results {
    fn set(&mut self, key: impl Into<String>, value: impl ToString) {
        self.0.insert(key.into(), Field::Scalar(value.to_string()));
    }

    fn set_per_tag(&mut self, key: impl Into<String>, values: Vec<(String, String)>) {
        self.0.insert(key.into(), Field::PerTag(values));
    }

    fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.0.get(key)? {
            Field::Scalar(text) => Some(text),
            Field::PerTag(_) => None,
        }
    }

    /// `collect_scalar`: the value as a number, `None` when absent or not numeric.
    fn number(&self, key: &str) -> Option<f64> {
        parse_number(self.text(key)?)
    }

    /// `_get_variable_enabled`: the value is `ON`.
    fn enabled(&self, key: &str) -> bool {
        self.text(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("on"))
    }

    /// Whether `key` holds a non-empty value, as Python's truthiness of `collect_string` reads it.
    fn truthy(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Field::Scalar(text)) => !text.is_empty(),
            Some(Field::PerTag(values)) => !values.is_empty(),
            None => false,
        }
    }

    /// The per-channel values of a replica status column, if it was read.
    fn per_tag(&self, key: &str) -> Option<&[(String, String)]> {
        match self.0.get(key)? {
            Field::PerTag(values) => Some(values),
            Field::Scalar(_) => None,
        }
    }
}

/// Python's `float()` of a text value.
fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse().ok()
}

/// Everything after the connection, up to and including custom queries.
pub(crate) async fn collect(conn: &mut Conn, run: &mut Run<'_>, state: &mut State) -> Result<(), Failure> {
    let version = server_version(conn).await?;
    run.out.metadata.extend(version.metadata());
    let tags = run.config.tags.clone();
    let mut qcache = state.qcache;
    let results = collect_metrics(conn, run, &version, &tags, &mut qcache).await?;
    collect_system_metrics(run, &version, &results, &tags).await;
    state.qcache = qcache;
    custom_queries(conn, run, &tags).await;
    Ok(())
}

async fn server_version(conn: &mut Conn) -> Result<ServerVersion, Failure> {
    let version = must(conn, queries::SQL_VERSION).await?;
    let comment = must(conn, queries::SQL_VERSION_COMMENT).await?;
    let first = |table: &Table| table.rows.first().and_then(|row| row.first().cloned().flatten());
    let raw = first(&version).unwrap_or_default();
    Ok(ServerVersion::parse(&raw, first(&comment).as_deref()))
}

async fn collect_metrics(
    conn: &mut Conn,
    run: &mut Run<'_>,
    version: &ServerVersion,
    tags: &[String],
    qcache: &mut Option<(i64, i64, i64)>,
) -> Result<Results, Failure> {
    let options = run.config.options.clone();
    let mut results = Results::default();
    for sql in [queries::SQL_STATUS, queries::SQL_VARIABLES] {
        for row in must(conn, sql).await?.rows {
            if let [Some(name), Some(value), ..] = row.as_slice() {
                results.set(name.clone(), value);
            }
        }
    }
    let mut plan = Plan::default();
    plan.add(STATUS_VARS);

    if !options.disable_innodb_metrics && innodb_engine_enabled(conn, run).await? {
        if let Some(values) = innodb_status(conn, run).await? {
            for (key, value) in values {
                results.set(key, value);
            }
        }
        process_innodb_stats(&mut results, run);
        if options.extra_innodb_metrics {
            plan.add(OPTIONAL_INNODB_VARS);
        }
    }

    if results.enabled("log_bin")
        && let Some(bytes) = binary_log_bytes(conn, run).await?
    {
        results.set("Binlog_space_usage_bytes", bytes);
    }
    key_cache(&mut results, run);

    plan.add(VARIABLES_VARS);
    plan.add(INNODB_VARS);
    plan.add(BINLOG_VARS);
    if options.extra_status_metrics {
        plan.add(OPTIONAL_STATUS_VARS);
        if version.at_least((5, 6, 6)) {
            plan.add(OPTIONAL_STATUS_VARS_5_6_6);
        }
    }
    if options.galera_cluster {
        plan.add(GALERA_VARS);
    }
    let above_560 = version.at_least((5, 6, 0));
    if options.extra_performance_metrics && above_560 && results.enabled("performance_schema") {
        if let Some(p95) = digest_95th_percentile(conn, run).await? {
            results.set("perf_digest_95th_percentile_avg_us", p95);
        }
        if let Some(per_schema) = per_schema(conn, run, PerSchema::AvgRunTime).await? {
            results.set_per_tag("query_run_time_avg", per_schema);
        }
        plan.add(PERFORMANCE_VARS);
    }
    if options.schema_size_metrics {
        if let Some(per_schema) = per_schema(conn, run, PerSchema::Size).await? {
            results.set_per_tag("information_schema_size", per_schema);
        }
        plan.add(SCHEMA_VARS);
    }
    if options.replication {
        replication(conn, run, version, above_560, &mut results).await?;
        plan.add(REPLICA_VARS);
        replication_service_checks(run, &results);
    }
    let extra = |items: &[super::ExtraMetric]| {
        items
            .iter()
            .map(|m| (m.name.clone(), m.metric_name.clone(), m.kind))
            .collect::<Vec<_>>()
    };
    plan.add_owned(extra(&run.config.additional_status));
    plan.add_owned(extra(&run.config.additional_variable));

    plan.add(SYNTHETIC_VARS);
    query_cache_utilization(&mut results, qcache);
    for (key, _, _) in SYNTHETIC_VARS {
        if !results.contains(key) {
            plan.remove(key);
        }
    }
    // Sent both as a gauge and as a rate.
    for (source, copy) in [
        ("Table_locks_waited", "Table_locks_waited_rate"),
        ("Table_locks_immediate", "Table_locks_immediate_rate"),
    ] {
        if let Some(field) = results.0.get(source).cloned() {
            results.0.insert(copy.to_owned(), field);
        }
    }
    submit(run, &plan, &results, tags)?;
    legacy_queries(conn, run, tags).await;
    Ok(results)
}

fn submit(run: &mut Run<'_>, plan: &Plan, results: &Results, tags: &[String]) -> Result<(), Failure> {
    for (key, metrics) in plan.entries() {
        let values: Vec<(Option<&str>, &str)> = match results.0.get(key) {
            None => continue,
            Some(Field::Scalar(value)) => vec![(None, value.as_str())],
            Some(Field::PerTag(values)) => values
                .iter()
                .map(|(t, v)| (Some(t.as_str()), v.as_str()))
                .collect(),
        };
        for (tag, text) in values {
            let value = parse_number(text).ok_or_else(|| Failure::NotANumber {
                key: key.clone(),
                value: text.to_owned(),
            })?;
            for (name, kind) in metrics {
                let mut metric_tags = tags.to_vec();
                metric_tags.extend(tag.map(str::to_owned));
                run.metric(*kind, name, value, metric_tags);
            }
        }
    }
    Ok(())
}

/// Whether `information_schema.ENGINES` lists InnoDB as available.
async fn innodb_engine_enabled(conn: &mut Conn, run: &mut Run<'_>) -> Result<bool, Failure> {
    match query(conn, queries::SQL_INNODB_ENGINES).await {
        Ok(table) => Ok(!table.rows.is_empty()),
        Err(error) if error.is_operational_or_not_supported() => {
            run.warning(format!(
                "Possibly innodb stats unavailable - error querying engines table: {error}"
            ));
            Ok(false)
        }
        Err(error) => Err(Failure::Query {
            sql: queries::SQL_INNODB_ENGINES.to_owned(),
            error,
        }),
    }
}

/// `SHOW ENGINE INNODB STATUS`, which needs PROCESS.
async fn innodb_status(
    conn: &mut Conn,
    run: &mut Run<'_>,
) -> Result<Option<super::innodb::InnodbValues>, Failure> {
    match query(conn, queries::SQL_INNODB_STATUS).await {
        Ok(table) => {
            let text = table.rows.first().and_then(|row| row.get(2).cloned().flatten());
            match text {
                Some(text) => Ok(Some(parse_innodb_status(&text))),
                None => {
                    run.log(
                        WARNING,
                        "'SHOW ENGINE INNODB STATUS' returned no data. If you are running an Aurora Read \
                         Instance, this is expected and you should disable the innodb metrics collection"
                            .to_owned(),
                    );
                    Ok(None)
                }
            }
        }
        Err(error) if error.is_operational_or_not_supported() => {
            run.warning(format!(
                "Privilege error or engine unavailable accessing the INNODB status tables (must grant PROCESS): {error}"
            ));
            Ok(None)
        }
        Err(error) => Err(Failure::Query {
            sql: queries::SQL_INNODB_STATUS.to_owned(),
            error,
        }),
    }
}

/// Buffer pool bytes and utilisation from page counts, where the server does not report them.
fn process_innodb_stats(results: &mut Results, run: &mut Run<'_>) {
    let number = |results: &Results, key: &str| results.number(key);
    let page_size = number(results, "Innodb_page_size");
    let total = number(results, "Innodb_buffer_pool_pages_total");
    let free = number(results, "Innodb_buffer_pool_pages_free");
    let data = number(results, "Innodb_buffer_pool_pages_data");
    let dirty = number(results, "Innodb_buffer_pool_pages_dirty");
    let Some((total, free, page_size)) = total.zip(free).zip(page_size).map(|((t, f), p)| (t, f, p)) else {
        run.log(
            ERROR,
            "Not all InnoDB buffer pool metrics are available, unable to compute".to_owned(),
        );
        return;
    };
    let used = total - free;
    let derived: [(&str, Option<f64>); 6] = [
        ("Innodb_buffer_pool_bytes_data", data.map(|d| d * page_size)),
        ("Innodb_buffer_pool_bytes_dirty", dirty.map(|d| d * page_size)),
        ("Innodb_buffer_pool_bytes_free", Some(free * page_size)),
        ("Innodb_buffer_pool_bytes_total", Some(total * page_size)),
        (
            "Innodb_buffer_pool_pages_utilization",
            (total != 0.0).then(|| used / total),
        ),
        ("Innodb_buffer_pool_bytes_used", Some(used * page_size)),
    ];
    // In order, stopping at the first value that cannot be computed, as the integration's `try` does.
    for (key, value) in derived {
        if results.contains(key) {
            continue;
        }
        match value {
            Some(value) => results.set(key, value),
            None => {
                run.log(
                    ERROR,
                    format!("Not all InnoDB buffer pool metrics are available, unable to compute: {key}"),
                );
                return;
            }
        }
    }
}

/// The summed `File_size` of `SHOW BINARY LOGS`, which needs REPLICATION CLIENT (BINLOG MONITOR).
async fn binary_log_bytes(conn: &mut Conn, run: &mut Run<'_>) -> Result<Option<i64>, Failure> {
    match query(conn, queries::SQL_BINARY_LOGS).await {
        Ok(table) => Ok(Some(
            table
                .rows
                .iter()
                .filter_map(|row| row.get(1)?.as_deref()?.parse::<i64>().ok())
                .sum(),
        )),
        Err(error) if error.is_operational() => {
            run.warning(format!(
                "Privileges error accessing the BINARY LOGS (must grant REPLICATION CLIENT): {error}"
            ));
            Ok(None)
        }
        Err(error) => Err(Failure::Query {
            sql: queries::SQL_BINARY_LOGS.to_owned(),
            error,
        }),
    }
}

/// Key cache size, utilisation and bytes from the MyISAM status and variables.
fn key_cache(results: &mut Results, run: &mut Run<'_>) {
    let unused = results.number("Key_blocks_unused");
    let block_size = results.number("key_cache_block_size");
    let buffer_size = results.number("key_buffer_size");
    let used = results.number("Key_blocks_used");
    let not_flushed = results.number("Key_blocks_not_flushed");
    if let Some(size) = buffer_size {
        results.set("Key_buffer_size", size);
    }
    let (Some(unused), Some(block_size), Some(buffer_size), Some(used), Some(not_flushed)) =
        (unused, block_size, buffer_size, used, not_flushed)
    else {
        run.log(
            ERROR,
            "Not all Key metrics are available, unable to compute".to_owned(),
        );
        return;
    };
    // A key_buffer_size written without its unit ("4" for "4G") can be 0.
    if buffer_size != 0.0 {
        results.set("Key_cache_utilization", 1.0 - (unused * block_size) / buffer_size);
    }
    results.set("Key_buffer_bytes_used", used * block_size);
    results.set("Key_buffer_bytes_unflushed", not_flushed * block_size);
}

const NO_DIGEST_ROWS: &str =
    "Failed to fetch records from the perf schema 'events_statements_summary_by_digest' table.";

async fn digest_95th_percentile(conn: &mut Conn, run: &mut Run<'_>) -> Result<Option<String>, Failure> {
    match query(conn, queries::SQL_95TH_PERCENTILE).await {
        Ok(table) if table.rows.is_empty() => {
            run.warning(NO_DIGEST_ROWS.to_owned());
            Ok(None)
        }
        Ok(table) => Ok(table.rows.first().and_then(|row| row.first().cloned().flatten())),
        Err(error) if error.is_operational() => {
            run.warning(format!(
                "95th percentile performance metrics unavailable at this time: {error}"
            ));
            Ok(None)
        }
        Err(error) => Err(Failure::Query {
            sql: queries::SQL_95TH_PERCENTILE.to_owned(),
            error,
        }),
    }
}

/// The two per-schema queries, which differ in their statement and messages.
#[derive(Clone, Copy)]
enum PerSchema {
    AvgRunTime,
    Size,
}

/// `schema:<name>` → whole number (average µs, or MiB), truncated as Python's `long()` does.
async fn per_schema(
    conn: &mut Conn,
    run: &mut Run<'_>,
    which: PerSchema,
) -> Result<Option<Vec<(String, String)>>, Failure> {
    let (sql, no_rows) = match which {
        PerSchema::AvgRunTime => (queries::SQL_AVG_QUERY_RUN_TIME, NO_DIGEST_ROWS),
        PerSchema::Size => (
            queries::SQL_QUERY_SCHEMA_SIZE,
            "Failed to fetch records from the information schema 'tables' table.",
        ),
    };
    match query(conn, sql).await {
        Ok(table) if table.rows.is_empty() => {
            run.warning(no_rows.to_owned());
            Ok(None)
        }
        Ok(table) => Ok(Some(
            table
                .rows
                .iter()
                .filter_map(|row| {
                    let schema = row.first()?.as_deref().unwrap_or("None");
                    let value = parse_number(row.get(1)?.as_deref()?)?.trunc();
                    Some((format!("schema:{schema}"), value.to_string()))
                })
                .collect(),
        )),
        Err(error) if error.is_operational() => {
            // The integration uses this text for both queries.
            run.warning(format!(
                "Avg exec time performance metrics unavailable at this time: {error}"
            ));
            Ok(match which {
                PerSchema::AvgRunTime => None,
                PerSchema::Size => Some(Vec::new()),
            })
        }
        Err(error) => Err(Failure::Query {
            sql: sql.to_owned(),
            error,
        }),
    }
}

/// Replica status per channel, whether binary logging runs, and how many replicas are connected.
async fn replication(
    conn: &mut Conn,
    run: &mut Run<'_>,
    version: &ServerVersion,
    above_560: bool,
    results: &mut Results,
) -> Result<(), Failure> {
    let channel = run.config.options.replication_channel.clone();
    let mariadb = version.is_mariadb();
    let statement = queries::show_replica_status(mariadb, |v| version.at_least(v), channel.as_deref());
    let replica = async {
        if let (true, Some(channel)) = (mariadb, &channel) {
            let set = format!("SET @@default_master_connection = '{channel}'");
            query(conn, &set).await.map_err(|error| (set.clone(), error))?;
        }
        query(conn, &statement)
            .await
            .map_err(|error| (statement.clone(), error))
    }
    .await;
    match replica {
        Ok(table) => {
            // Column -> (channel:<name> -> value), as the integration's `defaultdict(dict)`.
            let mut per_column: Vec<(String, Vec<(String, String)>)> = Vec::new();
            for row in &table.rows {
                let name = channel
                    .clone()
                    .or_else(|| {
                        table
                            .get(row, "Channel_Name")
                            .filter(|c| !c.is_empty())
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| "default".to_owned());
                let tag = format!("channel:{name}");
                for (column, value) in table.columns.iter().zip(row) {
                    let Some(value) = value else { continue };
                    let index = match per_column.iter().position(|(c, _)| c == column) {
                        Some(index) => index,
                        None => {
                            per_column.push((column.clone(), Vec::new()));
                            per_column.len() - 1
                        }
                    };
                    let values = &mut per_column[index].1;
                    match values.iter_mut().find(|(t, _)| *t == tag) {
                        Some(existing) => existing.1 = value.clone(),
                        None => values.push((tag.clone(), value.clone())),
                    }
                }
            }
            for (column, values) in per_column {
                results.set_per_tag(column, values);
            }
        }
        Err((_, error))
            if error.is_operational()
                && channel.as_ref().is_some_and(|c| {
                    error.code == 1617 && error.message == format!("There is no master connection '{c}'")
                }) =>
        {
            // MariaDB says so on a primary asked about a named channel; MySQL just answers nothing.
        }
        Err((_, error)) if error.is_operational() => {
            run.warning(format!(
                "Privileges error getting replication status (must grant REPLICATION CLIENT): {error}"
            ));
        }
        Err((sql, error)) => return Err(Failure::Query { sql, error }),
    }

    match query(conn, queries::SQL_MASTER_STATUS).await {
        Ok(table) => {
            if !table.rows.is_empty() {
                results.set("Binlog_enabled", "True");
            }
        }
        Err(error) if error.is_operational() => {
            run.warning(format!(
                "Privileges error getting binlog information (must grant REPLICATION CLIENT): {error}"
            ));
        }
        Err(error) => {
            return Err(Failure::Query {
                sql: queries::SQL_MASTER_STATUS.to_owned(),
                error,
            });
        }
    }

    let nonblocking = run.config.options.replication_non_blocking_status;
    let sql = if above_560 && nonblocking {
        queries::SQL_WORKER_THREADS
    } else {
        queries::SQL_PROCESS_LIST
    };
    match query(conn, sql).await {
        Ok(table) => results.set("Replicas_connected", table.rows.len()),
        Err(error) if error.is_operational() => {
            run.warning(format!(
                "Privileges error accessing the process tables (must grant PROCESS): {error}"
            ));
        }
        Err(error) => {
            return Err(Failure::Query {
                sql: sql.to_owned(),
                error,
            });
        }
    }
    Ok(())
}

/// `mysql.replication.slave_running` / `replica_running`, as a source and as a replica.
fn replication_service_checks(run: &mut Run<'_>, results: &Results) {
    let running = |old: &str, new: &str| -> Option<bool> {
        let values = results.per_tag(old).or_else(|| results.per_tag(new))?;
        Some(values.iter().any(|(_, v)| v.trim().eq_ignore_ascii_case("yes")))
    };
    let io_running = running("Slave_IO_Running", "Replica_IO_Running");
    let sql_running = running("Slave_SQL_Running", "Replica_SQL_Running");
    let binlog_running = results.contains("Binlog_enabled");
    // The integration compares `None > 0` here when the replica count could not be read, which fails on
    // Python 3; no count is taken as no replicas instead.
    let replicas = results
        .number("Slaves_connected")
        .or_else(|| results.number("Replicas_connected"))
        .unwrap_or(0.0);
    let source_host = results.truthy("Master_Host") || results.truthy("Source_Host");

    if replicas > 0.0 || !source_host {
        let status = if replicas > 0.0 && binlog_running {
            CheckStatus::Ok
        } else {
            CheckStatus::Warning
        };
        replication_status(run, status, "replication_mode:source");
    }
    if source_host && (io_running.is_some() || sql_running.is_some()) {
        let io = io_running.unwrap_or(false);
        let sql = sql_running.unwrap_or(false);
        let status = match (io, sql) {
            (false, false) => CheckStatus::Critical,
            (true, true) => CheckStatus::Ok,
            _ => CheckStatus::Warning,
        };
        replication_status(run, status, "replication_mode:replica");
    }
}

fn replication_status(run: &mut Run<'_>, status: CheckStatus, mode: &str) {
    let mut metric_tags = run.config.tags.clone();
    metric_tags.push(mode.to_owned());
    let value = if status == CheckStatus::Ok { 1.0 } else { 0.0 };
    run.metric(
        SubmissionKind::Gauge,
        SLAVE_SERVICE_CHECK_NAME,
        value,
        metric_tags,
    );
    let mut check_tags = run.service_check_tags();
    check_tags.push(mode.to_owned());
    run.service_check(SLAVE_SERVICE_CHECK_NAME, status, check_tags.clone());
    run.service_check(REPLICA_SERVICE_CHECK_NAME, status, check_tags);
}

/// `Qcache_utilization` (since start) and `Qcache_instant_utilization` (since the previous run), in %.
fn query_cache_utilization(results: &mut Results, previous: &mut Option<(i64, i64, i64)>) {
    let int = |key: &str| results.text(key).and_then(|v| v.trim().parse::<i64>().ok());
    let (Some(hits), Some(inserts), Some(not_cached)) = (
        int("Qcache_hits"),
        int("Qcache_inserts"),
        int("Qcache_not_cached"),
    ) else {
        return;
    };
    let utilization = if hits == 0 {
        0.0
    } else {
        hits as f64 / (inserts + not_cached + hits) as f64 * 100.0
    };
    results.set("Qcache_utilization", utilization);
    if let Some((prev_hits, prev_inserts, prev_not_cached)) = *previous {
        let top = hits - prev_hits;
        let bottom = (inserts - prev_inserts) + (not_cached - prev_not_cached) + top;
        if top == 0 {
            results.set("Qcache_instant_utilization", 0.0);
        } else if bottom != 0 {
            results.set("Qcache_instant_utilization", top as f64 / bottom as f64 * 100.0);
        }
    }
    *previous = Some((hits, inserts, not_cached));
}

/// The deprecated `queries`: one value per query, at most `max_custom_queries` of them.
async fn legacy_queries(conn: &mut Conn, run: &mut Run<'_>, tags: &[String]) {
    let config = run.config;
    for legacy in config.queries.iter().take(config.max_custom_queries) {
        let mut total_tags = tags.to_vec();
        total_tags.extend(legacy.tags.iter().cloned());
        match query(conn, &legacy.query).await {
            Ok(table) => {
                let Some(row) = table.rows.first() else { continue };
                let Some(index) = table
                    .columns
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(&legacy.field))
                else {
                    run.log(
                        ERROR,
                        format!("Cannot find {} in the columns {:?}", legacy.field, table.columns),
                    );
                    continue;
                };
                let Some(text) = row.get(index).cloned().flatten() else {
                    continue;
                };
                match parse_number(&text) {
                    Some(value) => run.metric(legacy.kind, &legacy.metric, value, total_tags),
                    None => run.warning(format!(
                        "Error while running {}\ncould not convert string to float: {}",
                        legacy.query,
                        queries::python_repr(&text)
                    )),
                }
            }
            Err(error) => run.warning(format!("Error while running {}\n{error}", legacy.query)),
        }
    }
    if config.queries.len() > config.max_custom_queries {
        run.warning(format!(
            "Maximum number ({}) of custom queries reached. Skipping the rest.",
            config.max_custom_queries
        ));
    }
}

/// `mysql.performance.user_time`, `kernel_time` and `cpu_time`, when the server runs on this machine.
async fn collect_system_metrics(
    run: &mut Run<'_>,
    version: &ServerVersion,
    results: &Results,
    tags: &[String],
) {
    if !system::server_is_local(&run.config.host, run.config.sock.is_some()) {
        return;
    }
    let mut pid = None;
    match results.text("pid_file") {
        Some(pid_file) => pid = system::pid_from_file(Path::new(pid_file)).await,
        None => run.warning("Error while fetching pid_file variable of MySQL.".to_owned()),
    }
    if pid.is_none() {
        let mut names = vec!["mysqld"];
        if version.is_mariadb() && version.at_least((10, 5, 0)) {
            names.push("mariadbd");
        }
        pid = system::pid_by_name(&names).await;
    }
    let Some(pid) = pid else { return };
    match system::cpu_times(pid).await {
        // The integration sends nothing while either time is still zero.
        Ok(times) if times.user != 0.0 && times.system != 0.0 => {
            run.metric(
                SubmissionKind::Rate,
                "mysql.performance.user_time",
                times.user,
                tags.to_vec(),
            );
            run.metric(
                SubmissionKind::Rate,
                "mysql.performance.kernel_time",
                times.system,
                tags.to_vec(),
            );
            run.metric(
                SubmissionKind::Rate,
                "mysql.performance.cpu_time",
                times.user + times.system,
                tags.to_vec(),
            );
        }
        Ok(_) => {}
        Err(error) => run.warning(format!(
            "Error while reading mysql (pid: {pid}) procfs data\n{error}"
        )),
    }
}

/// `custom_queries`: each row's tag columns tag its metric columns. Failures are logged, not warned,
/// as the base class's `QueryManager` does.
async fn custom_queries(conn: &mut Conn, run: &mut Run<'_>, tags: &[String]) {
    let config = run.config;
    for custom in &config.custom_queries {
        let table = match query(conn, &custom.query).await {
            Ok(table) => table,
            Err(error) => {
                run.log(ERROR, format!("Error querying {}: {error}", custom.query));
                continue;
            }
        };
        for row in &table.rows {
            if row.len() != custom.columns.len() {
                run.log(
                    ERROR,
                    format!(
                        "Query `{}` expected {} columns, got {}",
                        custom.query,
                        custom.columns.len(),
                        row.len()
                    ),
                );
                break;
            }
            let mut row_tags = tags.to_vec();
            row_tags.extend(custom.tags.iter().cloned());
            for (column, value) in custom.columns.iter().zip(row) {
                if let (Some(column), Some(value)) = (column, value)
                    && column.kind == ColumnKind::Tag
                {
                    row_tags.push(format!("{}:{value}", column.name));
                }
            }
            for (column, value) in custom.columns.iter().zip(row) {
                let (Some(column), Some(value)) = (column, value) else {
                    continue;
                };
                let ColumnKind::Metric(kind) = column.kind else {
                    continue;
                };
                match parse_number(value) {
                    Some(number) => run.metric(kind, &column.name, number, row_tags.clone()),
                    None => run.log(
                        ERROR,
                        format!(
                            "Query `{}`: column {} is not a number: {}",
                            custom.query,
                            column.name,
                            queries::python_repr(value)
                        ),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::checks::read_check_file;
    use crate::mysql::MysqlConfig;

    fn config(yaml: &str) -> MysqlConfig {
        let mut problems = Vec::new();
        let check = read_check_file("mysql", Path::new("mysql.yaml"), yaml, &mut problems).unwrap();
        MysqlConfig::from_instance(&check.instances[0]).unwrap()
    }

    fn results(pairs: &[(&str, &str)]) -> Results {
        let mut results = Results::default();
        for (key, value) in pairs {
            results.set(*key, value);
        }
        results
    }

    fn statuses(run: &Run<'_>) -> Vec<(String, CheckStatus, Vec<String>)> {
        run.out
            .service_checks
            .iter()
            .map(|c| (c.name.clone(), c.status, c.tags.clone()))
            .collect()
    }

    #[test]
    fn a_replica_with_a_stopped_sql_thread_warns() {
        let config = config("instances: [{host: db, port: 3306, username: u, tags: [a:b]}]");
        let mut run = Run::new(&config);
        let mut results = results(&[("Slaves_connected", "0")]);
        let channel = |v: &str| vec![("channel:default".to_owned(), v.to_owned())];
        results.set_per_tag("Master_Host", channel("primary"));
        results.set_per_tag("Slave_IO_Running", channel("Yes"));
        results.set_per_tag("Slave_SQL_Running", channel("No"));
        replication_service_checks(&mut run, &results);
        let tags = |mode: &str| -> Vec<String> {
            ["port:3306", "a:b", "server:db", mode]
                .map(str::to_owned)
                .to_vec()
        };
        assert_eq!(
            statuses(&run),
            [
                (
                    SLAVE_SERVICE_CHECK_NAME.to_owned(),
                    CheckStatus::Warning,
                    tags("replication_mode:replica")
                ),
                (
                    REPLICA_SERVICE_CHECK_NAME.to_owned(),
                    CheckStatus::Warning,
                    tags("replication_mode:replica")
                ),
            ]
        );
        assert_eq!(run.out.metrics[0].name, SLAVE_SERVICE_CHECK_NAME);
        assert_eq!(run.out.metrics[0].value, 0.0);
        assert_eq!(run.out.metrics[0].tags, ["a:b", "replication_mode:replica"]);
    }

    #[test]
    fn a_source_with_replicas_and_binlog_is_ok() {
        let config = config("instances: [{host: db, username: u}]");
        let mut run = Run::new(&config);
        let results = results(&[("Slaves_connected", "2"), ("Binlog_enabled", "True")]);
        replication_service_checks(&mut run, &results);
        let statuses = statuses(&run);
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[0].1, CheckStatus::Ok);
        assert_eq!(
            statuses[0].2,
            ["port:unix_socket", "server:db", "replication_mode:source"]
        );
        assert_eq!(run.out.metrics[0].value, 1.0);
    }

    #[test]
    fn query_cache_utilization_since_start_and_since_the_last_run() {
        let mut previous = None;
        let mut first = results(&[
            ("Qcache_hits", "30"),
            ("Qcache_inserts", "50"),
            ("Qcache_not_cached", "20"),
        ]);
        query_cache_utilization(&mut first, &mut previous);
        assert_eq!(first.number("Qcache_utilization"), Some(30.0));
        assert!(!first.contains("Qcache_instant_utilization"));
        let mut second = results(&[
            ("Qcache_hits", "40"),
            ("Qcache_inserts", "55"),
            ("Qcache_not_cached", "25"),
        ]);
        query_cache_utilization(&mut second, &mut previous);
        assert_eq!(second.number("Qcache_instant_utilization"), Some(50.0));
        assert_eq!(previous, Some((40, 55, 25)));
    }

    #[test]
    fn buffer_pool_values_are_derived_from_pages() {
        let config = config("instances: [{host: db, username: u}]");
        let mut run = Run::new(&config);
        let mut results = results(&[
            ("Innodb_page_size", "16384"),
            ("Innodb_buffer_pool_pages_total", "100"),
            ("Innodb_buffer_pool_pages_free", "75"),
            ("Innodb_buffer_pool_pages_data", "25"),
            ("Innodb_buffer_pool_pages_dirty", "5"),
            ("Innodb_buffer_pool_bytes_data", "1"),
        ]);
        process_innodb_stats(&mut results, &mut run);
        assert_eq!(
            results.number("Innodb_buffer_pool_bytes_data"),
            Some(1.0),
            "reported wins"
        );
        assert_eq!(
            results.number("Innodb_buffer_pool_bytes_dirty"),
            Some(5.0 * 16384.0)
        );
        assert_eq!(
            results.number("Innodb_buffer_pool_bytes_total"),
            Some(100.0 * 16384.0)
        );
        assert_eq!(
            results.number("Innodb_buffer_pool_bytes_used"),
            Some(25.0 * 16384.0)
        );
        assert_eq!(results.number("Innodb_buffer_pool_pages_utilization"), Some(0.25));
        assert!(run.out.logs.is_empty(), "{:?}", run.out.logs);
    }

    #[test]
    fn per_tag_values_go_out_once_per_tag_and_text_ends_the_run() {
        let config = config("instances: [{host: db, username: u, tags: [a:b]}]");
        let mut run = Run::new(&config);
        let mut plan = Plan::default();
        plan.add(SCHEMA_VARS);
        let mut sizes = Results::default();
        sizes.set_per_tag(
            "information_schema_size",
            vec![
                ("schema:x".to_owned(), "2".to_owned()),
                ("schema:y".to_owned(), "3".to_owned()),
            ],
        );
        submit(&mut run, &plan, &sizes, &config.tags).unwrap();
        let sent: Vec<(String, f64, Vec<String>)> = run
            .out
            .metrics
            .iter()
            .map(|m| (m.name.clone(), m.value, m.tags.clone()))
            .collect();
        assert_eq!(
            sent,
            [
                (
                    "mysql.info.schema.size".to_owned(),
                    2.0,
                    vec!["a:b".to_owned(), "schema:x".to_owned()]
                ),
                (
                    "mysql.info.schema.size".to_owned(),
                    3.0,
                    vec!["a:b".to_owned(), "schema:y".to_owned()]
                ),
            ]
        );
        let mut plan = Plan::default();
        plan.add_owned(vec![(
            "log_bin".into(),
            "my.log_bin".into(),
            SubmissionKind::Gauge,
        )]);
        let failure = submit(&mut run, &plan, &results(&[("log_bin", "ON")]), &config.tags).unwrap_err();
        assert_eq!(
            failure.into_check_error().message,
            "could not convert string to float: 'ON'"
        );
    }

    #[test]
    fn key_cache_values() {
        let config = config("instances: [{host: db, username: u}]");
        let mut run = Run::new(&config);
        let mut results = results(&[
            ("Key_blocks_unused", "50"),
            ("key_cache_block_size", "1024"),
            ("key_buffer_size", "102400"),
            ("Key_blocks_used", "10"),
            ("Key_blocks_not_flushed", "2"),
        ]);
        key_cache(&mut results, &mut run);
        assert_eq!(results.number("Key_buffer_size"), Some(102400.0));
        assert_eq!(results.number("Key_cache_utilization"), Some(0.5));
        assert_eq!(results.number("Key_buffer_bytes_used"), Some(10240.0));
        assert_eq!(results.number("Key_buffer_bytes_unflushed"), Some(2048.0));
    }
}
