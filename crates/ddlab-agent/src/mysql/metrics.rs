//! The integration's metric tables (`const.py`): which status or variable becomes which metric, with which
//! submission type.
//!
//! Each row is `(source key, metric name, kind)`. A source key may appear on several consecutive rows when
//! one value is sent under two names (`Seconds_Behind_Master` as `…seconds_behind_source` and
//! `…seconds_behind_master`). Keys are case-sensitive, as in the integration's dictionaries: `SHOW STATUS`
//! names start with a capital letter, `SHOW VARIABLES` names are lower case.

use crate::check::SubmissionKind;

/// One row of a metric table.
pub(crate) type MetricRow = (&'static str, &'static str, SubmissionKind);

const G: SubmissionKind = SubmissionKind::Gauge;
const R: SubmissionKind = SubmissionKind::Rate;
const M: SubmissionKind = SubmissionKind::MonotonicCount;

/// `STATUS_VARS`: from `SHOW GLOBAL STATUS`, always collected.
pub(crate) const STATUS_VARS: &[MetricRow] = &[
    ("Prepared_stmt_count", "mysql.performance.prepared_stmt_count", G),
    ("Slow_queries", "mysql.performance.slow_queries", R),
    ("Questions", "mysql.performance.questions", R),
    ("Queries", "mysql.performance.queries", R),
    ("Com_select", "mysql.performance.com_select", R),
    ("Com_insert", "mysql.performance.com_insert", R),
    ("Com_update", "mysql.performance.com_update", R),
    ("Com_delete", "mysql.performance.com_delete", R),
    ("Com_replace", "mysql.performance.com_replace", R),
    ("Com_load", "mysql.performance.com_load", R),
    ("Com_insert_select", "mysql.performance.com_insert_select", R),
    ("Com_update_multi", "mysql.performance.com_update_multi", R),
    ("Com_delete_multi", "mysql.performance.com_delete_multi", R),
    ("Com_replace_select", "mysql.performance.com_replace_select", R),
    ("Connections", "mysql.net.connections", R),
    ("Max_used_connections", "mysql.net.max_connections", G),
    ("Aborted_clients", "mysql.net.aborted_clients", R),
    ("Aborted_connects", "mysql.net.aborted_connects", R),
    ("Open_files", "mysql.performance.open_files", G),
    ("Open_tables", "mysql.performance.open_tables", G),
    ("Bytes_sent", "mysql.performance.bytes_sent", R),
    ("Bytes_received", "mysql.performance.bytes_received", R),
    ("Qcache_hits", "mysql.performance.qcache_hits", R),
    ("Qcache_inserts", "mysql.performance.qcache_inserts", R),
    (
        "Qcache_lowmem_prunes",
        "mysql.performance.qcache_lowmem_prunes",
        R,
    ),
    ("Table_locks_waited", "mysql.performance.table_locks_waited", G),
    (
        "Table_locks_waited_rate",
        "mysql.performance.table_locks_waited.rate",
        R,
    ),
    ("Created_tmp_tables", "mysql.performance.created_tmp_tables", R),
    (
        "Created_tmp_disk_tables",
        "mysql.performance.created_tmp_disk_tables",
        R,
    ),
    ("Created_tmp_files", "mysql.performance.created_tmp_files", R),
    ("Threads_connected", "mysql.performance.threads_connected", G),
    ("Threads_running", "mysql.performance.threads_running", G),
    (
        "Key_buffer_bytes_unflushed",
        "mysql.myisam.key_buffer_bytes_unflushed",
        G,
    ),
    ("Key_buffer_bytes_used", "mysql.myisam.key_buffer_bytes_used", G),
    ("Key_read_requests", "mysql.myisam.key_read_requests", R),
    ("Key_reads", "mysql.myisam.key_reads", R),
    ("Key_write_requests", "mysql.myisam.key_write_requests", R),
    ("Key_writes", "mysql.myisam.key_writes", R),
];

/// `VARIABLES_VARS`: from `SHOW GLOBAL VARIABLES` (and two values derived from it), always collected.
pub(crate) const VARIABLES_VARS: &[MetricRow] = &[
    ("Key_buffer_size", "mysql.myisam.key_buffer_size", G),
    (
        "Key_cache_utilization",
        "mysql.performance.key_cache_utilization",
        G,
    ),
    ("max_connections", "mysql.net.max_connections_available", G),
    (
        "max_prepared_stmt_count",
        "mysql.performance.max_prepared_stmt_count",
        G,
    ),
    ("query_cache_size", "mysql.performance.qcache_size", G),
    ("table_open_cache", "mysql.performance.table_open_cache", G),
    ("thread_cache_size", "mysql.performance.thread_cache_size", G),
];

/// `INNODB_VARS`: InnoDB status counters, always collected when present.
pub(crate) const INNODB_VARS: &[MetricRow] = &[
    ("Innodb_data_reads", "mysql.innodb.data_reads", R),
    ("Innodb_data_writes", "mysql.innodb.data_writes", R),
    ("Innodb_os_log_fsyncs", "mysql.innodb.os_log_fsyncs", R),
    ("Innodb_mutex_spin_waits", "mysql.innodb.mutex_spin_waits", R),
    ("Innodb_mutex_spin_rounds", "mysql.innodb.mutex_spin_rounds", R),
    ("Innodb_mutex_os_waits", "mysql.innodb.mutex_os_waits", R),
    ("Innodb_row_lock_waits", "mysql.innodb.row_lock_waits", R),
    ("Innodb_row_lock_time", "mysql.innodb.row_lock_time", R),
    (
        "Innodb_row_lock_current_waits",
        "mysql.innodb.row_lock_current_waits",
        G,
    ),
    ("Innodb_current_row_locks", "mysql.innodb.current_row_locks", G),
    (
        "Innodb_buffer_pool_bytes_dirty",
        "mysql.innodb.buffer_pool_dirty",
        G,
    ),
    (
        "Innodb_buffer_pool_bytes_free",
        "mysql.innodb.buffer_pool_free",
        G,
    ),
    (
        "Innodb_buffer_pool_bytes_used",
        "mysql.innodb.buffer_pool_used",
        G,
    ),
    (
        "Innodb_buffer_pool_bytes_total",
        "mysql.innodb.buffer_pool_total",
        G,
    ),
    (
        "Innodb_buffer_pool_read_requests",
        "mysql.innodb.buffer_pool_read_requests",
        R,
    ),
    ("Innodb_buffer_pool_reads", "mysql.innodb.buffer_pool_reads", R),
    (
        "Innodb_buffer_pool_pages_utilization",
        "mysql.innodb.buffer_pool_utilization",
        G,
    ),
];

/// `BINLOG_VARS`: the summed size of `SHOW BINARY LOGS`.
pub(crate) const BINLOG_VARS: &[MetricRow] = &[("Binlog_space_usage_bytes", "mysql.binlog.disk_use", G)];

/// `OPTIONAL_STATUS_VARS`: added by `options.extra_status_metrics`.
pub(crate) const OPTIONAL_STATUS_VARS: &[MetricRow] = &[
    ("Binlog_cache_disk_use", "mysql.binlog.cache_disk_use", G),
    ("Binlog_cache_use", "mysql.binlog.cache_use", G),
    ("Handler_commit", "mysql.performance.handler_commit", R),
    ("Handler_delete", "mysql.performance.handler_delete", R),
    ("Handler_prepare", "mysql.performance.handler_prepare", R),
    ("Handler_read_first", "mysql.performance.handler_read_first", R),
    ("Handler_read_key", "mysql.performance.handler_read_key", R),
    ("Handler_read_next", "mysql.performance.handler_read_next", R),
    ("Handler_read_prev", "mysql.performance.handler_read_prev", R),
    ("Handler_read_rnd", "mysql.performance.handler_read_rnd", R),
    (
        "Handler_read_rnd_next",
        "mysql.performance.handler_read_rnd_next",
        R,
    ),
    ("Handler_rollback", "mysql.performance.handler_rollback", R),
    ("Handler_update", "mysql.performance.handler_update", R),
    ("Handler_write", "mysql.performance.handler_write", R),
    ("Opened_tables", "mysql.performance.opened_tables", R),
    ("Qcache_total_blocks", "mysql.performance.qcache_total_blocks", G),
    ("Qcache_free_blocks", "mysql.performance.qcache_free_blocks", G),
    ("Qcache_free_memory", "mysql.performance.qcache_free_memory", G),
    ("Qcache_not_cached", "mysql.performance.qcache_not_cached", R),
    (
        "Qcache_queries_in_cache",
        "mysql.performance.qcache_queries_in_cache",
        G,
    ),
    ("Select_full_join", "mysql.performance.select_full_join", R),
    (
        "Select_full_range_join",
        "mysql.performance.select_full_range_join",
        R,
    ),
    ("Select_range", "mysql.performance.select_range", R),
    ("Select_range_check", "mysql.performance.select_range_check", R),
    ("Select_scan", "mysql.performance.select_scan", R),
    ("Sort_merge_passes", "mysql.performance.sort_merge_passes", R),
    ("Sort_range", "mysql.performance.sort_range", R),
    ("Sort_rows", "mysql.performance.sort_rows", R),
    ("Sort_scan", "mysql.performance.sort_scan", R),
    (
        "Table_locks_immediate",
        "mysql.performance.table_locks_immediate",
        G,
    ),
    (
        "Table_locks_immediate_rate",
        "mysql.performance.table_locks_immediate.rate",
        R,
    ),
    ("Threads_cached", "mysql.performance.threads_cached", G),
    ("Threads_created", "mysql.performance.threads_created", M),
];

/// `OPTIONAL_STATUS_VARS_5_6_6`: with `extra_status_metrics`, on servers from 5.6.6.
pub(crate) const OPTIONAL_STATUS_VARS_5_6_6: &[MetricRow] = &[
    ("Table_open_cache_hits", "mysql.performance.table_cache_hits", R),
    (
        "Table_open_cache_misses",
        "mysql.performance.table_cache_misses",
        R,
    ),
];

/// `OPTIONAL_INNODB_VARS`: added by `options.extra_innodb_metrics`; most come from
/// `SHOW ENGINE INNODB STATUS`.
pub(crate) const OPTIONAL_INNODB_VARS: &[MetricRow] = &[
    (
        "Innodb_active_transactions",
        "mysql.innodb.active_transactions",
        G,
    ),
    (
        "Innodb_buffer_pool_bytes_data",
        "mysql.innodb.buffer_pool_data",
        G,
    ),
    (
        "Innodb_buffer_pool_pages_data",
        "mysql.innodb.buffer_pool_pages_data",
        G,
    ),
    (
        "Innodb_buffer_pool_pages_dirty",
        "mysql.innodb.buffer_pool_pages_dirty",
        G,
    ),
    (
        "Innodb_buffer_pool_pages_flushed",
        "mysql.innodb.buffer_pool_pages_flushed",
        R,
    ),
    (
        "Innodb_buffer_pool_pages_free",
        "mysql.innodb.buffer_pool_pages_free",
        G,
    ),
    (
        "Innodb_buffer_pool_pages_total",
        "mysql.innodb.buffer_pool_pages_total",
        G,
    ),
    (
        "Innodb_buffer_pool_read_ahead",
        "mysql.innodb.buffer_pool_read_ahead",
        R,
    ),
    (
        "Innodb_buffer_pool_read_ahead_evicted",
        "mysql.innodb.buffer_pool_read_ahead_evicted",
        R,
    ),
    (
        "Innodb_buffer_pool_read_ahead_rnd",
        "mysql.innodb.buffer_pool_read_ahead_rnd",
        G,
    ),
    (
        "Innodb_buffer_pool_wait_free",
        "mysql.innodb.buffer_pool_wait_free",
        M,
    ),
    (
        "Innodb_buffer_pool_write_requests",
        "mysql.innodb.buffer_pool_write_requests",
        R,
    ),
    ("Innodb_checkpoint_age", "mysql.innodb.checkpoint_age", G),
    (
        "Innodb_current_transactions",
        "mysql.innodb.current_transactions",
        G,
    ),
    ("Innodb_data_fsyncs", "mysql.innodb.data_fsyncs", R),
    (
        "Innodb_data_pending_fsyncs",
        "mysql.innodb.data_pending_fsyncs",
        G,
    ),
    ("Innodb_data_pending_reads", "mysql.innodb.data_pending_reads", G),
    (
        "Innodb_data_pending_writes",
        "mysql.innodb.data_pending_writes",
        G,
    ),
    ("Innodb_data_read", "mysql.innodb.data_read", R),
    ("Innodb_data_written", "mysql.innodb.data_written", R),
    (
        "Innodb_dblwr_pages_written",
        "mysql.innodb.dblwr_pages_written",
        R,
    ),
    ("Innodb_dblwr_writes", "mysql.innodb.dblwr_writes", R),
    (
        "Innodb_hash_index_cells_total",
        "mysql.innodb.hash_index_cells_total",
        G,
    ),
    (
        "Innodb_hash_index_cells_used",
        "mysql.innodb.hash_index_cells_used",
        G,
    ),
    (
        "Innodb_history_list_length",
        "mysql.innodb.history_list_length",
        G,
    ),
    ("Innodb_ibuf_free_list", "mysql.innodb.ibuf_free_list", G),
    ("Innodb_ibuf_merged", "mysql.innodb.ibuf_merged", R),
    (
        "Innodb_ibuf_merged_delete_marks",
        "mysql.innodb.ibuf_merged_delete_marks",
        R,
    ),
    (
        "Innodb_ibuf_merged_deletes",
        "mysql.innodb.ibuf_merged_deletes",
        R,
    ),
    (
        "Innodb_ibuf_merged_inserts",
        "mysql.innodb.ibuf_merged_inserts",
        R,
    ),
    ("Innodb_ibuf_merges", "mysql.innodb.ibuf_merges", R),
    ("Innodb_ibuf_segment_size", "mysql.innodb.ibuf_segment_size", G),
    ("Innodb_ibuf_size", "mysql.innodb.ibuf_size", G),
    ("Innodb_lock_structs", "mysql.innodb.lock_structs", R),
    ("Innodb_locked_tables", "mysql.innodb.locked_tables", G),
    (
        "Innodb_locked_transactions",
        "mysql.innodb.locked_transactions",
        G,
    ),
    ("Innodb_log_waits", "mysql.innodb.log_waits", R),
    ("Innodb_log_write_requests", "mysql.innodb.log_write_requests", R),
    ("Innodb_log_writes", "mysql.innodb.log_writes", R),
    ("Innodb_lsn_current", "mysql.innodb.lsn_current", R),
    ("Innodb_lsn_flushed", "mysql.innodb.lsn_flushed", R),
    (
        "Innodb_lsn_last_checkpoint",
        "mysql.innodb.lsn_last_checkpoint",
        R,
    ),
    ("Innodb_mem_adaptive_hash", "mysql.innodb.mem_adaptive_hash", G),
    (
        "Innodb_mem_additional_pool",
        "mysql.innodb.mem_additional_pool",
        G,
    ),
    ("Innodb_mem_dictionary", "mysql.innodb.mem_dictionary", G),
    ("Innodb_mem_file_system", "mysql.innodb.mem_file_system", G),
    ("Innodb_mem_lock_system", "mysql.innodb.mem_lock_system", G),
    ("Innodb_mem_page_hash", "mysql.innodb.mem_page_hash", G),
    (
        "Innodb_mem_recovery_system",
        "mysql.innodb.mem_recovery_system",
        G,
    ),
    ("Innodb_mem_thread_hash", "mysql.innodb.mem_thread_hash", G),
    ("Innodb_mem_total", "mysql.innodb.mem_total", G),
    ("Innodb_os_file_fsyncs", "mysql.innodb.os_file_fsyncs", R),
    ("Innodb_os_file_reads", "mysql.innodb.os_file_reads", R),
    ("Innodb_os_file_writes", "mysql.innodb.os_file_writes", R),
    (
        "Innodb_os_log_pending_fsyncs",
        "mysql.innodb.os_log_pending_fsyncs",
        G,
    ),
    (
        "Innodb_os_log_pending_writes",
        "mysql.innodb.os_log_pending_writes",
        G,
    ),
    ("Innodb_os_log_written", "mysql.innodb.os_log_written", R),
    ("Innodb_pages_created", "mysql.innodb.pages_created", R),
    ("Innodb_pages_read", "mysql.innodb.pages_read", R),
    ("Innodb_pages_written", "mysql.innodb.pages_written", R),
    (
        "Innodb_pending_aio_log_ios",
        "mysql.innodb.pending_aio_log_ios",
        G,
    ),
    (
        "Innodb_pending_aio_sync_ios",
        "mysql.innodb.pending_aio_sync_ios",
        G,
    ),
    (
        "Innodb_pending_buffer_pool_flushes",
        "mysql.innodb.pending_buffer_pool_flushes",
        G,
    ),
    (
        "Innodb_pending_checkpoint_writes",
        "mysql.innodb.pending_checkpoint_writes",
        G,
    ),
    (
        "Innodb_pending_ibuf_aio_reads",
        "mysql.innodb.pending_ibuf_aio_reads",
        G,
    ),
    (
        "Innodb_pending_log_flushes",
        "mysql.innodb.pending_log_flushes",
        G,
    ),
    ("Innodb_pending_log_writes", "mysql.innodb.pending_log_writes", G),
    (
        "Innodb_pending_normal_aio_reads",
        "mysql.innodb.pending_normal_aio_reads",
        G,
    ),
    (
        "Innodb_pending_normal_aio_writes",
        "mysql.innodb.pending_normal_aio_writes",
        G,
    ),
    ("Innodb_queries_inside", "mysql.innodb.queries_inside", G),
    ("Innodb_queries_queued", "mysql.innodb.queries_queued", G),
    ("Innodb_read_views", "mysql.innodb.read_views", G),
    ("Innodb_rows_deleted", "mysql.innodb.rows_deleted", R),
    ("Innodb_rows_inserted", "mysql.innodb.rows_inserted", R),
    ("Innodb_rows_read", "mysql.innodb.rows_read", R),
    ("Innodb_rows_updated", "mysql.innodb.rows_updated", R),
    ("Innodb_s_lock_os_waits", "mysql.innodb.s_lock_os_waits", R),
    ("Innodb_s_lock_spin_rounds", "mysql.innodb.s_lock_spin_rounds", R),
    ("Innodb_s_lock_spin_waits", "mysql.innodb.s_lock_spin_waits", R),
    (
        "Innodb_semaphore_wait_time",
        "mysql.innodb.semaphore_wait_time",
        G,
    ),
    ("Innodb_semaphore_waits", "mysql.innodb.semaphore_waits", G),
    ("Innodb_tables_in_use", "mysql.innodb.tables_in_use", G),
    ("Innodb_x_lock_os_waits", "mysql.innodb.x_lock_os_waits", R),
    ("Innodb_x_lock_spin_rounds", "mysql.innodb.x_lock_spin_rounds", R),
    ("Innodb_x_lock_spin_waits", "mysql.innodb.x_lock_spin_waits", R),
];

/// `GALERA_VARS`: added by `options.galera_cluster`; the values are already in `SHOW STATUS`.
pub(crate) const GALERA_VARS: &[MetricRow] = &[
    ("wsrep_cluster_size", "mysql.galera.wsrep_cluster_size", G),
    (
        "wsrep_local_recv_queue_avg",
        "mysql.galera.wsrep_local_recv_queue_avg",
        G,
    ),
    (
        "wsrep_flow_control_paused",
        "mysql.galera.wsrep_flow_control_paused",
        G,
    ),
    (
        "wsrep_flow_control_paused_ns",
        "mysql.galera.wsrep_flow_control_paused_ns",
        M,
    ),
    (
        "wsrep_flow_control_recv",
        "mysql.galera.wsrep_flow_control_recv",
        M,
    ),
    (
        "wsrep_flow_control_sent",
        "mysql.galera.wsrep_flow_control_sent",
        M,
    ),
    (
        "wsrep_cert_deps_distance",
        "mysql.galera.wsrep_cert_deps_distance",
        G,
    ),
    (
        "wsrep_local_send_queue_avg",
        "mysql.galera.wsrep_local_send_queue_avg",
        G,
    ),
    ("wsrep_replicated_bytes", "mysql.galera.wsrep_replicated_bytes", G),
    ("wsrep_received_bytes", "mysql.galera.wsrep_received_bytes", G),
    ("wsrep_received", "mysql.galera.wsrep_received", G),
    ("wsrep_local_state", "mysql.galera.wsrep_local_state", G),
    (
        "wsrep_local_cert_failures",
        "mysql.galera.wsrep_local_cert_failures",
        M,
    ),
];

/// `PERFORMANCE_VARS`: added by `options.extra_performance_metrics` when `performance_schema` is on.
pub(crate) const PERFORMANCE_VARS: &[MetricRow] = &[
    ("query_run_time_avg", "mysql.performance.query_run_time.avg", G),
    (
        "perf_digest_95th_percentile_avg_us",
        "mysql.performance.digest_95th_percentile.avg_us",
        G,
    ),
];

/// `SCHEMA_VARS`: added by `options.schema_size_metrics` (MiB per schema).
pub(crate) const SCHEMA_VARS: &[MetricRow] = &[("information_schema_size", "mysql.info.schema.size", G)];

/// `REPLICA_VARS`: added by `options.replication`; each value goes out under its old and new name.
pub(crate) const REPLICA_VARS: &[MetricRow] = &[
    (
        "Seconds_Behind_Source",
        "mysql.replication.seconds_behind_source",
        G,
    ),
    (
        "Seconds_Behind_Source",
        "mysql.replication.seconds_behind_master",
        G,
    ),
    (
        "Seconds_Behind_Master",
        "mysql.replication.seconds_behind_source",
        G,
    ),
    (
        "Seconds_Behind_Master",
        "mysql.replication.seconds_behind_master",
        G,
    ),
    ("Replicas_connected", "mysql.replication.slaves_connected", G),
    ("Replicas_connected", "mysql.replication.replicas_connected", G),
];

/// `SYNTHETIC_VARS`: query cache utilisation, computed by the check; sent only when computed.
pub(crate) const SYNTHETIC_VARS: &[MetricRow] = &[
    ("Qcache_utilization", "mysql.performance.qcache.utilization", G),
    (
        "Qcache_instant_utilization",
        "mysql.performance.qcache.utilization.instant",
        G,
    ),
];

/// The metrics one run sends, in the order the integration's dictionary would hold them.
///
/// Adding a table behaves like Python's `dict.update`: a key already planned keeps its place and takes the
/// new table's metrics.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    entries: Vec<(String, Vec<(String, SubmissionKind)>)>,
}

impl Plan {
    pub(crate) fn add(&mut self, rows: &[MetricRow]) {
        let owned: Vec<(String, String, SubmissionKind)> = rows
            .iter()
            .map(|(key, name, kind)| ((*key).to_owned(), (*name).to_owned(), *kind))
            .collect();
        self.add_owned(owned);
    }

    pub(crate) fn add_owned(&mut self, rows: Vec<(String, String, SubmissionKind)>) {
        let mut grouped: Vec<(String, Vec<(String, SubmissionKind)>)> = Vec::new();
        for (key, name, kind) in rows {
            match grouped.last_mut() {
                Some((last, metrics)) if *last == key => metrics.push((name, kind)),
                _ => grouped.push((key, vec![(name, kind)])),
            }
        }
        for (key, metrics) in grouped {
            match self.entries.iter_mut().find(|(k, _)| *k == key) {
                Some((_, existing)) => *existing = metrics,
                None => self.entries.push((key, metrics)),
            }
        }
    }

    /// Drops a key, as the integration drops synthetic metrics it could not compute.
    pub(crate) fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    pub(crate) fn entries(&self) -> &[(String, Vec<(String, SubmissionKind)>)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_keeps_the_first_position_and_the_last_metrics() {
        let mut plan = Plan::default();
        plan.add(&[("A", "a.one", G), ("B", "b", R)]);
        plan.add(&[("A", "a.two", R), ("A", "a.three", G), ("C", "c", M)]);
        let keys: Vec<(&str, Vec<&str>)> = plan
            .entries()
            .iter()
            .map(|(k, m)| (k.as_str(), m.iter().map(|(n, _)| n.as_str()).collect()))
            .collect();
        assert_eq!(
            keys,
            [
                ("A", vec!["a.two", "a.three"]),
                ("B", vec!["b"]),
                ("C", vec!["c"])
            ]
        );
    }

    #[test]
    fn metric_names_are_unique_within_each_table() {
        for table in [
            STATUS_VARS,
            VARIABLES_VARS,
            INNODB_VARS,
            OPTIONAL_STATUS_VARS,
            OPTIONAL_INNODB_VARS,
        ] {
            let mut names: Vec<&str> = table.iter().map(|(_, name, _)| *name).collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count);
        }
    }
}
