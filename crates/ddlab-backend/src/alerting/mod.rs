//! Monitors at work: an evaluation pass at each minute of the backend clock (and on demand in test mode),
//! and the delivery of what the passes record.
//!
//! The two run as separate tasks: a pass records transitions, events and notifications in the store and
//! wakes the deliverer; the deliverer sends what is due and records each attempt. A slow or failing SMTP
//! server or webhook therefore never delays an evaluation.

pub(crate) mod deliver;
pub(crate) mod model;
pub(crate) mod pass;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Mutex, Notify, watch};
use tokio::task::JoinSet;

use self::deliver::{Delivery, MAX_ATTEMPTS, Outcome, backoff};
use self::pass::PassReport;
use crate::AppState;

/// How often the deliverer looks for due retries when nothing wakes it.
const DELIVERY_TICK: Duration = Duration::from_secs(15);
/// The most notifications one delivery pass handles before it lets an evaluation in.
const DELIVERY_BATCH: usize = 100;

/// The alerting runtime shared by the loops and the test-mode routes.
#[derive(Debug)]
pub struct Alerting {
    delivery: Delivery,
    /// One evaluation pass at a time; the lock holds what a pass keeps for the next.
    pass_lock: Mutex<pass::PassCache>,
    /// One delivery pass at a time, so a notification is never sent twice.
    deliver_lock: Mutex<()>,
    wake: Notify,
}

/// What a delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct DeliveryReport {
    pub(crate) sent: usize,
    pub(crate) recorded: usize,
    pub(crate) retrying: usize,
    pub(crate) failed: usize,
}

impl Alerting {
    pub(crate) fn new(
        config: &crate::NotificationConfig,
        state_dir: &std::path::Path,
    ) -> anyhow::Result<Alerting> {
        Ok(Alerting {
            delivery: Delivery::new(config, state_dir)?,
            pass_lock: Mutex::new(pass::PassCache::default()),
            deliver_lock: Mutex::new(()),
            wake: Notify::new(),
        })
    }

    /// Wakes the deliverer: something was recorded.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Runs one evaluation pass at the backend clock's now, then wakes the deliverer.
pub(crate) async fn evaluate(state: &AppState) -> anyhow::Result<PassReport> {
    let mut cache = state.alerting.pass_lock.lock().await;
    let now = state.clock.now();
    let store = Arc::clone(&state.store);
    let app_url = state.app_url.clone();
    // A pass that fails leaves no cache behind: the next one reads every group from the store.
    let mut kept = std::mem::take(&mut *cache);
    let report = tokio::task::spawn_blocking(move || {
        pass::run(&store, now, &app_url, &mut kept).map(|report| (report, kept))
    })
    .await
    .context("the evaluation task failed")??;
    let (report, kept) = report;
    *cache = kept;
    state.alerting.wake.notify_one();
    Ok(report)
}

/// Delivers every notification due at the backend clock's now.
pub(crate) async fn deliver(state: &AppState) -> anyhow::Result<DeliveryReport> {
    let _delivering = state.alerting.deliver_lock.lock().await;
    let mut report = DeliveryReport::default();
    let now = state.clock.now();
    let store = Arc::clone(&state.store);
    let due = tokio::task::spawn_blocking(move || store.due_notifications(now, DELIVERY_BATCH))
        .await
        .context("the delivery task failed")??;
    for notification in due {
        let outcome = state.alerting.delivery.attempt(&notification, now).await;
        let attempts = notification.attempts + 1;
        let (state_name, detail, next) = match outcome {
            Outcome::Sent(detail) => {
                report.sent += 1;
                ("sent", detail, None)
            }
            Outcome::Recorded(detail) => {
                report.recorded += 1;
                ("recorded", detail, None)
            }
            Outcome::Refused(detail) => {
                report.failed += 1;
                tracing::warn!(
                    notification = notification.id,
                    detail,
                    "A notification cannot be delivered."
                );
                ("failed", detail, None)
            }
            Outcome::Failed(detail) if attempts >= MAX_ATTEMPTS => {
                report.failed += 1;
                tracing::error!(
                    notification = notification.id,
                    attempts,
                    detail,
                    "A notification failed its last delivery attempt."
                );
                (
                    "failed",
                    format!("gave up after {attempts} attempts: {detail}"),
                    None,
                )
            }
            Outcome::Failed(detail) => {
                report.retrying += 1;
                let wait = backoff(attempts);
                tracing::warn!(
                    notification = notification.id,
                    attempts,
                    wait,
                    detail,
                    "Notification delivery failed; it will be retried."
                );
                ("retrying", detail, Some(now + wait))
            }
        };
        let store = Arc::clone(&state.store);
        let id = notification.id;
        tokio::task::spawn_blocking(move || {
            store.record_delivery_attempt(id, state_name, Some(&detail), attempts, next)
        })
        .await
        .context("the delivery task failed")??;
    }
    Ok(report)
}

/// Starts the evaluation loop and the deliverer; both stop when `shutdown` turns true, the deliverer after
/// one last pass.
pub(crate) fn spawn(state: &AppState, shutdown: &watch::Receiver<bool>, tasks: &mut JoinSet<()>) {
    let evaluator_state = state.clone();
    let mut stop = shutdown.clone();
    tasks.spawn(async move {
        loop {
            // Wake at the next whole minute of the backend clock.
            let wait_ms = 60_000 - evaluator_state.clock.now_ms().rem_euclid(60_000);
            let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(60_000));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
            match evaluate(&evaluator_state).await {
                Ok(report) if report.transitions > 0 => tracing::info!(
                    monitors = report.monitors,
                    transitions = report.transitions,
                    notifications = report.notifications,
                    "Monitors evaluated."
                ),
                Ok(report) => tracing::debug!(monitors = report.monitors, "Monitors evaluated."),
                Err(err) => tracing::error!(error = format!("{err:#}"), "Monitor evaluation failed."),
            }
        }
    });
    let deliverer_state = state.clone();
    let mut stop = shutdown.clone();
    tasks.spawn(async move {
        loop {
            let stopping = tokio::select! {
                _ = deliverer_state.alerting.wake.notified() => false,
                _ = tokio::time::sleep(DELIVERY_TICK) => false,
                _ = stop.changed() => true,
            };
            if let Err(err) = deliver(&deliverer_state).await {
                tracing::error!(error = format!("{err:#}"), "Notification delivery failed.");
            }
            if stopping {
                break;
            }
        }
    });
}
