//! `SHOW ENGINE INNODB STATUS` parsed into `Innodb_*` values, line by line as the integration does
//! (`innodb_metrics.py`, itself after the Percona monitoring plugins), and the buffer pool values derived
//! from them.
//!
//! The integration crashes the whole run on a line it cannot read; here such a line is skipped, since the
//! text is free-form and varies across MySQL, MariaDB and Percona versions.

use std::collections::BTreeMap;

/// The values found in the InnoDB monitor text, by `SHOW STATUS`-style name.
pub(crate) type InnodbValues = BTreeMap<&'static str, i64>;

/// Parses the `Status` column of `SHOW ENGINE INNODB STATUS`.
pub(crate) fn parse_innodb_status(text: &str) -> InnodbValues {
    let mut parser = Parser::default();
    for line in text.lines() {
        parser.line(line.trim());
    }
    parser.finish()
}

#[derive(Default)]
struct Parser {
    values: InnodbValues,
    txn_seen: bool,
    prev_line: String,
    /// Set by the first `---BUFFER POOL n` line: from there on, per-pool sections repeat the buffer pool
    /// lines, and only the aggregate (read before) counts.
    in_pool_section: bool,
}

/// A line split on runs of spaces, each item stripped of `,` `;` `[` `]` in that order.
struct Row<'a>(Vec<&'a str>);

impl<'a> Row<'a> {
    fn new(line: &'a str) -> Self {
        Row(line
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.trim_matches(',')
                    .trim_matches(';')
                    .trim_matches('[')
                    .trim_matches(']')
            })
            .collect())
    }

    fn int(&self, index: usize) -> Option<i64> {
        self.0.get(index)?.parse().ok()
    }

    /// All of `indexes` as integers, or `None` if any is missing or not a number.
    fn ints<const N: usize>(&self, indexes: [usize; N]) -> Option<[i64; N]> {
        let mut out = [0; N];
        for (slot, index) in out.iter_mut().zip(indexes) {
            *slot = self.int(index)?;
        }
        Some(out)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn all_digits(&self, range: std::ops::Range<usize>) -> bool {
        self.0.get(range).is_some_and(|items| {
            items
                .iter()
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        })
    }
}

/// Python's `line.find(pattern) > 0`: found, and not at the start.
fn found_after_start(line: &str, pattern: &str) -> bool {
    line.find(pattern).is_some_and(|at| at > 0)
}

impl Parser {
    fn set<const N: usize>(&mut self, names: [&'static str; N], values: Option<[i64; N]>) {
        if let Some(values) = values {
            for (name, value) in names.into_iter().zip(values) {
                self.values.insert(name, value);
            }
        }
    }

    fn add(&mut self, name: &'static str, value: Option<i64>) {
        if let Some(value) = value {
            *self.values.entry(name).or_insert(0) += value;
        }
    }

    fn line(&mut self, line: &str) {
        let row = Row::new(line);
        if line.starts_with("---BUFFER POOL") && row.int(2).is_some() {
            self.in_pool_section = true;
        }
        let aggregate_pool = !self.in_pool_section;
        // SEMAPHORES
        if line.starts_with("Mutex spin waits") {
            self.set(
                [
                    "Innodb_mutex_spin_waits",
                    "Innodb_mutex_spin_rounds",
                    "Innodb_mutex_os_waits",
                ],
                row.ints([3, 5, 8]),
            );
        } else if line.starts_with("RW-shared spins") && found_after_start(line, ";") {
            self.set(
                [
                    "Innodb_s_lock_spin_waits",
                    "Innodb_x_lock_spin_waits",
                    "Innodb_s_lock_os_waits",
                    "Innodb_x_lock_os_waits",
                ],
                row.ints([2, 8, 5, 11]),
            );
        } else if line.starts_with("RW-shared spins") && !line.contains("; RW-excl spins") {
            self.set(
                [
                    "Innodb_s_lock_spin_waits",
                    "Innodb_s_lock_spin_rounds",
                    "Innodb_s_lock_os_waits",
                ],
                row.ints([2, 4, 7]),
            );
        } else if line.starts_with("RW-excl spins") {
            self.set(
                [
                    "Innodb_x_lock_spin_waits",
                    "Innodb_x_lock_spin_rounds",
                    "Innodb_x_lock_os_waits",
                ],
                row.ints([2, 4, 7]),
            );
        } else if found_after_start(line, "seconds the semaphore:") {
            let seconds = row.0.get(9).and_then(|s| s.parse::<f64>().ok());
            if let Some(seconds) = seconds {
                self.add("Innodb_semaphore_waits", Some(1));
                // Truncated to whole seconds first, as `long(float(x)) * 1000` does.
                self.add("Innodb_semaphore_wait_time", Some(seconds.trunc() as i64 * 1000));
            }
        // TRANSACTIONS
        } else if line.starts_with("Trx id counter") {
            self.txn_seen = true;
        } else if line.starts_with("History list length") {
            self.set(["Innodb_history_list_length"], row.ints([3]));
        } else if self.txn_seen && line.starts_with("---TRANSACTION") {
            self.add("Innodb_current_transactions", Some(1));
            if found_after_start(line, "ACTIVE") {
                self.add("Innodb_active_transactions", Some(1));
            }
        } else if found_after_start(line, "read views open inside InnoDB") {
            self.set(["Innodb_read_views"], row.ints([0]));
        } else if line.starts_with("mysql tables in use") {
            if let Some([in_use, locked]) = row.ints([4, 6]) {
                self.add("Innodb_tables_in_use", Some(in_use));
                self.add("Innodb_locked_tables", Some(locked));
            }
        } else if self.txn_seen && found_after_start(line, "lock struct(s)") {
            if line.starts_with("LOCK WAIT") {
                if let Some(structs) = row.int(2) {
                    self.add("Innodb_lock_structs", Some(structs));
                    self.add("Innodb_locked_transactions", Some(1));
                }
            } else if line.starts_with("ROLLING BACK") {
                self.add("Innodb_lock_structs", row.int(2));
            } else {
                self.add("Innodb_lock_structs", row.int(0));
            }
        // FILE I/O
        } else if found_after_start(line, " OS file reads, ") {
            self.set(
                [
                    "Innodb_os_file_reads",
                    "Innodb_os_file_writes",
                    "Innodb_os_file_fsyncs",
                ],
                row.ints([0, 4, 8]),
            );
        } else if line.starts_with("Pending normal aio reads:") {
            self.pending_aio(&row);
        } else if line.starts_with("ibuf aio reads") {
            let names = [
                "Innodb_pending_ibuf_aio_reads",
                "Innodb_pending_aio_log_ios",
                "Innodb_pending_aio_sync_ios",
            ];
            match row.len() {
                10 => self.set(names, row.ints([3, 6, 9])),
                7 => self.set(names, Some([0, 0, 0])),
                _ => {}
            }
        } else if line.starts_with("Pending flushes (fsync)") {
            if row.len() == 4 {
                self.set(["Innodb_pending_buffer_pool_flushes"], row.ints([3]));
            } else {
                self.set(
                    ["Innodb_pending_log_flushes", "Innodb_pending_buffer_pool_flushes"],
                    row.ints([4, 7]),
                );
            }
        // INSERT BUFFER AND ADAPTIVE HASH INDEX
        } else if line.starts_with("Ibuf for space 0: size ") {
            self.set(
                [
                    "Innodb_ibuf_size",
                    "Innodb_ibuf_free_list",
                    "Innodb_ibuf_segment_size",
                ],
                row.ints([5, 9, 12]),
            );
        } else if line.starts_with("Ibuf: size ") {
            self.set(
                [
                    "Innodb_ibuf_size",
                    "Innodb_ibuf_free_list",
                    "Innodb_ibuf_segment_size",
                ],
                row.ints([2, 6, 9]),
            );
            if line.contains("merges") {
                self.set(["Innodb_ibuf_merges"], row.ints([10]));
            }
        } else if found_after_start(line, ", delete mark ")
            && self.prev_line.starts_with("merged operations:")
        {
            if let Some([inserts, delete_marks, deletes]) = row.ints([1, 4, 6]) {
                self.set(
                    [
                        "Innodb_ibuf_merged_inserts",
                        "Innodb_ibuf_merged_delete_marks",
                        "Innodb_ibuf_merged_deletes",
                        "Innodb_ibuf_merged",
                    ],
                    Some([inserts, delete_marks, deletes, inserts + delete_marks + deletes]),
                );
            }
        } else if found_after_start(line, " merged recs, ") {
            self.set(
                [
                    "Innodb_ibuf_merged_inserts",
                    "Innodb_ibuf_merged",
                    "Innodb_ibuf_merges",
                ],
                row.ints([0, 2, 5]),
            );
        } else if line.starts_with("Hash table size ") {
            let used = if found_after_start(line, "used cells") {
                row.int(6)
            } else {
                Some(0)
            };
            if let (Some(total), Some(used)) = (row.int(3), used) {
                self.set(
                    ["Innodb_hash_index_cells_total", "Innodb_hash_index_cells_used"],
                    Some([total, used]),
                );
            }
        // LOG
        } else if found_after_start(line, " log i/o's done, ") {
            self.set(["Innodb_log_writes"], row.ints([0]));
        } else if found_after_start(line, " pending log writes, ") {
            self.set(
                ["Innodb_pending_log_writes", "Innodb_pending_checkpoint_writes"],
                row.ints([0, 4]),
            );
        } else if line.starts_with("Log sequence number") {
            self.set(["Innodb_lsn_current"], row.ints([3]));
        } else if line.starts_with("Log flushed up to") {
            self.set(["Innodb_lsn_flushed"], row.ints([4]));
        } else if line.starts_with("Last checkpoint at") {
            self.set(["Innodb_lsn_last_checkpoint"], row.ints([3]));
        // BUFFER POOL AND MEMORY
        } else if line.starts_with("Total memory allocated")
            && found_after_start(line, "in additional pool allocated")
        {
            self.set(
                ["Innodb_mem_total", "Innodb_mem_additional_pool"],
                row.ints([3, 8]),
            );
        } else if line.starts_with("Adaptive hash index ") {
            self.set(["Innodb_mem_adaptive_hash"], row.ints([3]));
        } else if line.starts_with("Page hash           ") {
            self.set(["Innodb_mem_page_hash"], row.ints([2]));
        } else if line.starts_with("Dictionary cache    ") {
            self.set(["Innodb_mem_dictionary"], row.ints([2]));
        } else if line.starts_with("File system         ") {
            self.set(["Innodb_mem_file_system"], row.ints([2]));
        } else if line.starts_with("Lock system         ") {
            self.set(["Innodb_mem_lock_system"], row.ints([2]));
        } else if line.starts_with("Recovery system     ") {
            self.set(["Innodb_mem_recovery_system"], row.ints([2]));
        } else if line.starts_with("Threads             ") {
            self.set(["Innodb_mem_thread_hash"], row.ints([1]));
        } else if line.starts_with("Buffer pool size ") {
            if aggregate_pool {
                self.set(["Innodb_buffer_pool_pages_total"], row.ints([3]));
            }
        } else if line.starts_with("Free buffers") {
            if aggregate_pool {
                self.set(["Innodb_buffer_pool_pages_free"], row.ints([2]));
            }
        } else if line.starts_with("Database pages") {
            if aggregate_pool {
                self.set(["Innodb_buffer_pool_pages_data"], row.ints([2]));
            }
        } else if line.starts_with("Modified db pages") {
            if aggregate_pool {
                self.set(["Innodb_buffer_pool_pages_dirty"], row.ints([3]));
            }
        } else if line.starts_with("Pages read ahead") {
            // "Pages read ahead 0.00/s, evicted without access …": rates, not the counters below.
        } else if line.starts_with("Pages read") {
            if aggregate_pool {
                self.set(
                    [
                        "Innodb_pages_read",
                        "Innodb_pages_created",
                        "Innodb_pages_written",
                    ],
                    row.ints([2, 4, 6]),
                );
            }
        // ROW OPERATIONS
        } else if line.starts_with("Number of rows inserted") {
            self.set(
                [
                    "Innodb_rows_inserted",
                    "Innodb_rows_updated",
                    "Innodb_rows_deleted",
                    "Innodb_rows_read",
                ],
                row.ints([4, 6, 8, 10]),
            );
        } else if found_after_start(line, " queries inside InnoDB, ") {
            self.set(
                ["Innodb_queries_inside", "Innodb_queries_queued"],
                row.ints([0, 4]),
            );
        }
        self.prev_line = line.to_owned();
    }

    /// `Pending normal aio reads:` comes in five shapes across versions, told apart by the item count.
    fn pending_aio(&mut self, row: &Row<'_>) {
        let names = [
            "Innodb_pending_normal_aio_reads",
            "Innodb_pending_normal_aio_writes",
        ];
        match row.len() {
            8 => self.set(names, row.ints([4, 7])),
            14 => self.set(names, row.ints([4, 10])),
            16 if row.all_digits(4..8) && row.all_digits(11..15) => {
                if let (Some(reads), Some(writes)) = (row.ints([4, 5, 6, 7]), row.ints([11, 12, 13, 14])) {
                    self.set(names, Some([reads.iter().sum(), writes.iter().sum()]));
                }
            }
            16 if row.all_digits(4..9) && row.all_digits(12..15) => self.set(names, row.ints([4, 12])),
            18 => self.set(names, row.ints([4, 12])),
            22 => self.set(names, row.ints([4, 16])),
            _ => {}
        }
    }

    fn finish(mut self) -> InnodbValues {
        // The integration reads both LSNs from a `defaultdict(int)`: a missing one counts as 0 and is then
        // present (as 0) in the results.
        let current = *self.values.entry("Innodb_lsn_current").or_insert(0);
        let checkpoint = *self.values.entry("Innodb_lsn_last_checkpoint").or_insert(0);
        self.values.insert("Innodb_checkpoint_age", current - checkpoint);
        self.values
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(text: &str, expected: Expect) {
        let values = parse_innodb_status(text);
        let rendered: String = values.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        expected.assert_eq(&rendered);
    }

    #[test]
    fn mariadb_10_11() {
        check(
            include_str!("testdata/innodb-status-mariadb-10.11.txt"),
            expect![[r#"
                Innodb_buffer_pool_pages_data = 301
                Innodb_buffer_pool_pages_dirty = 12
                Innodb_buffer_pool_pages_free = 7811
                Innodb_buffer_pool_pages_total = 8112
                Innodb_checkpoint_age = 356
                Innodb_history_list_length = 0
                Innodb_lsn_current = 44760
                Innodb_lsn_flushed = 44760
                Innodb_lsn_last_checkpoint = 44404
                Innodb_os_file_fsyncs = 3
                Innodb_os_file_reads = 179
                Innodb_os_file_writes = 0
                Innodb_pages_created = 131
                Innodb_pages_read = 170
                Innodb_pages_written = 0
                Innodb_pending_buffer_pool_flushes = 0
                Innodb_read_views = 0
            "#]],
        );
    }

    #[test]
    fn mysql_5_7() {
        check(
            include_str!("testdata/innodb-status-mysql-5.7.txt"),
            expect![[r#"
                Innodb_active_transactions = 1
                Innodb_buffer_pool_pages_data = 443
                Innodb_buffer_pool_pages_dirty = 0
                Innodb_buffer_pool_pages_free = 7748
                Innodb_buffer_pool_pages_total = 8191
                Innodb_checkpoint_age = 9
                Innodb_current_transactions = 2
                Innodb_hash_index_cells_total = 34673
                Innodb_hash_index_cells_used = 0
                Innodb_history_list_length = 17
                Innodb_ibuf_free_list = 0
                Innodb_ibuf_merged = 6
                Innodb_ibuf_merged_delete_marks = 2
                Innodb_ibuf_merged_deletes = 1
                Innodb_ibuf_merged_inserts = 3
                Innodb_ibuf_merges = 0
                Innodb_ibuf_segment_size = 2
                Innodb_ibuf_size = 1
                Innodb_lock_structs = 2
                Innodb_locked_tables = 1
                Innodb_locked_transactions = 1
                Innodb_log_writes = 25
                Innodb_lsn_current = 2761455
                Innodb_lsn_flushed = 2761455
                Innodb_lsn_last_checkpoint = 2761446
                Innodb_os_file_fsyncs = 43
                Innodb_os_file_reads = 460
                Innodb_os_file_writes = 227
                Innodb_pages_created = 35
                Innodb_pages_read = 408
                Innodb_pages_written = 188
                Innodb_pending_aio_log_ios = 0
                Innodb_pending_aio_sync_ios = 0
                Innodb_pending_buffer_pool_flushes = 0
                Innodb_pending_ibuf_aio_reads = 0
                Innodb_pending_log_flushes = 0
                Innodb_pending_normal_aio_reads = 0
                Innodb_pending_normal_aio_writes = 0
                Innodb_queries_inside = 0
                Innodb_queries_queued = 0
                Innodb_read_views = 0
                Innodb_rows_deleted = 2
                Innodb_rows_inserted = 10
                Innodb_rows_read = 8
                Innodb_rows_updated = 4
                Innodb_s_lock_os_waits = 6
                Innodb_s_lock_spin_rounds = 12
                Innodb_s_lock_spin_waits = 0
                Innodb_tables_in_use = 1
                Innodb_x_lock_os_waits = 1
                Innodb_x_lock_spin_rounds = 30
                Innodb_x_lock_spin_waits = 0
            "#]],
        );
    }

    #[test]
    fn empty_text_still_has_a_checkpoint_age() {
        check(
            "",
            expect![[r#"
                Innodb_checkpoint_age = 0
                Innodb_lsn_current = 0
                Innodb_lsn_last_checkpoint = 0
            "#]],
        );
    }
}
