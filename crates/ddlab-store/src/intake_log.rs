//! The intake log: the last payloads each intake route received, decoded, so a user can see exactly what
//! their agent or client sent (like Datadog's fakeintake).

use rusqlite::params;

use crate::{Store, StoreError};

/// How many payloads are kept per route; older ones are deleted as new ones arrive.
pub const INTAKE_LOG_KEEP: i64 = 50;

/// One logged request.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeRecord {
    pub id: i64,
    pub route: String,
    pub received_at: i64,
    /// The HTTP status answered.
    pub status: u16,
    /// The decoded payload, or `{"error": …}` for a refused one.
    pub summary: serde_json::Value,
}

impl Store {
    /// Logs one intake request and trims the route's log to [`INTAKE_LOG_KEEP`] entries.
    pub fn log_intake(
        &self,
        route: &str,
        received_at: i64,
        status: u16,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        tx.prepare_cached(
            "INSERT INTO intake_log (route, received_at, status, summary) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![route, received_at, status, summary.to_string()])?;
        tx.prepare_cached(
            "DELETE FROM intake_log WHERE route = ?1 AND id <=
               (SELECT id FROM intake_log WHERE route = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )?
        .execute(params![route, INTAKE_LOG_KEEP])?;
        tx.commit()?;
        Ok(())
    }

    /// The newest logged requests first, for one route or all, at most `limit`.
    pub fn intake_log(&self, route: Option<&str>, limit: usize) -> Result<Vec<IntakeRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, route, received_at, status, summary FROM intake_log
                 WHERE ?1 IS NULL OR route = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let records = stmt
                .query_map(params![route, i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                    let summary: String = row.get(4)?;
                    Ok(IntakeRecord {
                        id: row.get(0)?,
                        route: row.get(1)?,
                        received_at: row.get(2)?,
                        status: row.get(3)?,
                        summary: serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null),
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(records)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::store;

    use super::INTAKE_LOG_KEEP;

    #[test]
    fn keeps_the_newest_payloads_per_route() {
        let (_dir, store) = store();
        for i in 0..INTAKE_LOG_KEEP + 5 {
            store
                .log_intake("/api/v2/series", i, 202, &serde_json::json!({ "n": i }))
                .unwrap();
        }
        store
            .log_intake("/intake/", 1, 400, &serde_json::json!({ "error": "bad" }))
            .unwrap();
        let series = store.intake_log(Some("/api/v2/series"), 1000).unwrap();
        assert_eq!(series.len() as i64, INTAKE_LOG_KEEP);
        assert_eq!(series[0].summary["n"], INTAKE_LOG_KEEP + 4);
        assert_eq!(series.last().unwrap().summary["n"], 5);
        let all = store.intake_log(None, 2).unwrap();
        assert_eq!(all[0].route, "/intake/");
        assert_eq!(all[0].status, 400);
    }
}
