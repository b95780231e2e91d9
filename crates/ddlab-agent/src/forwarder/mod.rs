//! The forwarder: posts payloads to the intake (`dd_url`, and `apm_config.apm_dd_url` for the trace
//! receiver's traces and stats) with the Agent's headers, and keeps what could not be delivered in a
//! bounded retry queue with exponential backoff.
//!
//! ```text
//!  submit(transactions) ──▶ task ──POST <dd_url><route>──▶ 2xx: delivered (then the retry queue drains, oldest first)
//!                            │        DD-API-KEY, DD-Agent-Version, User-Agent, Content-Type, Content-Encoding
//!                            │   ◀── network error, timeout, 5xx, 408, 429: kept in the retry queue; the intake is
//!                            │        "blocked" for backoff_base × 2^(errors−1) (≤ backoff_max), new payloads queue behind
//!                            │   ◀── other 4xx (400, 403, 404, 413…): dropped, logged and counted, as the Agent does
//!                            └─ retry queue full (forwarder_retry_queue_payloads_max_size): the oldest dropped and counted
//! ```
//!
//! One task sends one payload at a time, so payloads arrive in the order they were made. Metrics and APM
//! payloads share the task and the retry queue: the lab's two intakes are one backend, and one bound
//! covers everything the agent holds for it. While the
//! intake is down nothing is lost within the queue's bound; beyond it the oldest payloads are dropped,
//! and every drop is counted in [`ForwarderStats`] (shown by `status`) and logged at ERROR.
//!
//! [`Forwarder::shutdown`] stops taking payloads and tries each one still held once more, within
//! `stop_timeout`; what is still undelivered then is counted as dropped on shutdown.
//!
//! **Boundary:** no TLS: the lab's backend speaks plain HTTP, so `dd_url` must be an `http://` URL.
//! Only `ddlab-wire` knows the bodies; this module only moves bytes.

pub mod retry;
pub mod transaction;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{AgentConfig, ApiKey};

pub use retry::{Backoff, RetryQueue};
pub use transaction::{Endpoint, Intake, Transaction};

/// How the forwarder sends. Every field says its default.
#[derive(Debug, Clone)]
pub struct ForwarderOptions {
    /// The intake's base URL, without a trailing slash: `dd_url`, else `https://app.<site>`.
    pub url: String,
    /// The trace intake's base URL, without a trailing slash: `apm_config.apm_dd_url`, else
    /// `https://trace.agent.<site>`. Only APM payloads go there; the runtime checks it is plain HTTP
    /// before it starts the trace receiver.
    pub apm_url: String,
    /// `api_key`; without one every payload is refused by the intake (and dropped).
    pub api_key: Option<ApiKey>,
    /// `forwarder_timeout`: one request's limit; default 20 s.
    pub timeout: Duration,
    /// `forwarder_retry_queue_payloads_max_size`; default 15 MiB.
    pub retry_queue_max_bytes: usize,
    /// `forwarder_backoff_base` / `forwarder_backoff_max`; default 2 s / 64 s.
    pub backoff: Backoff,
    /// How long shutdown may spend delivering what is left; default 5 s.
    pub stop_timeout: Duration,
    /// Sent as `DD-Agent-Version` and in `User-Agent: datadog-agent/<version>`.
    pub agent_version: String,
}

/// The *Forwarder* section of `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForwarderStats {
    /// The intake's base URL.
    pub endpoint: String,
    /// The trace intake's base URL.
    #[serde(default)]
    pub apm_endpoint: String,
    pub api_key: ApiKeyStatus,
    pub transactions: TransactionStats,
    pub retry_queue: RetryQueueStats,
    /// The last failure, for the operator.
    pub last_error: Option<String>,
}

/// Counts since start. A payload is counted once in `success` or in one of the `dropped_*` counts,
/// or is still in the retry queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionStats {
    /// Payloads delivered.
    pub success: u64,
    pub success_by_endpoint: BTreeMap<String, u64>,
    /// Compressed bytes delivered.
    pub success_bytes: u64,
    /// Attempts that failed in a way that is retried (network error, timeout, 5xx, 408, 429).
    pub errors: u64,
    pub errors_by_endpoint: BTreeMap<String, u64>,
    /// Answers other than 2xx, by status code.
    pub http_errors_by_code: BTreeMap<u16, u64>,
    /// Attempts of payloads taken from the retry queue.
    pub retried: u64,
    /// Payloads the intake refused with a 4xx other than 408 and 429: dropped, as the Agent drops them.
    pub dropped_http: u64,
    /// Payloads dropped because the retry queue was full (the oldest go first).
    pub dropped_retry_queue_full: u64,
    pub dropped_retry_queue_full_bytes: u64,
    /// Payloads still undelivered when the agent stopped.
    pub dropped_on_shutdown: u64,
    /// Every dropped payload (refused, retry queue full, or at shutdown) by endpoint, as the Agent's
    /// `DroppedByEndpoint`: what was lost, so it can be matched against what the intake holds.
    #[serde(default)]
    pub dropped_by_endpoint: BTreeMap<String, u64>,
}

/// The retry queue right now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryQueueStats {
    pub payloads: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}

/// What the intake said of the API key (`GET /api/v1/validate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyStatus {
    pub state: ApiKeyState,
    /// Why, when the state is not `valid`.
    pub message: Option<String>,
    /// The key's last five characters, as the Agent shows them.
    pub ending: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyState {
    /// Not asked yet.
    #[default]
    Unchecked,
    Valid,
    /// Refused (403): nothing will be accepted until the key is fixed.
    Invalid,
    /// The intake did not answer the question.
    Unreachable,
    /// No `api_key` configured.
    Missing,
}

/// The forwarder could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwarderError {
    #[error(
        "dd_url is {url}, but ddlab-agent speaks plain HTTP only: set dd_url in datadog.yaml (or DD_DD_URL) to \
         the lab backend, e.g. http://127.0.0.1:8480"
    )]
    NotHttp { url: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The running forwarder. Share it (`Arc`): submitting, reading stats and shutting down take `&self`.
#[derive(Debug)]
pub struct Forwarder {
    input: mpsc::UnboundedSender<Vec<Transaction>>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

/// What the task and the handle share.
#[derive(Debug)]
struct Shared {
    options: ForwarderOptions,
    client: reqwest::Client,
    stats: Mutex<ForwarderStats>,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Delivered,
    /// Keep the payload and try again later.
    Retry(String),
    /// The intake refused the payload for good.
    Drop {
        status: u16,
        reason: String,
    },
}

/// What an HTTP status means for a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Retry,
    Drop,
}

impl ForwarderOptions {
    /// The `forwarder_*` settings, `dd_url` (or the site's URL) and `api_key` of `config`.
    pub fn from_config(config: &AgentConfig, agent_version: &str) -> Self {
        ForwarderOptions {
            url: config.metrics_url(),
            apm_url: config.traces_url(),
            api_key: config.api_key.clone(),
            timeout: config.forwarder.timeout,
            retry_queue_max_bytes: config.forwarder.retry_queue_max_bytes,
            backoff: Backoff {
                base: config.forwarder.backoff_base,
                max: config.forwarder.backoff_max,
            },
            stop_timeout: Duration::from_secs(5),
            agent_version: agent_version.to_owned(),
        }
    }
}

impl Forwarder {
    /// Starts the sending task. Must run inside a Tokio runtime.
    pub fn start(options: ForwarderOptions) -> Result<Forwarder, ForwarderError> {
        if !options.url.starts_with("http://") {
            return Err(ForwarderError::NotHttp {
                url: options.url.clone(),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(format!("datadog-agent/{}", options.agent_version))
            .build()?;
        let stats = ForwarderStats {
            endpoint: options.url.clone(),
            apm_endpoint: options.apm_url.clone(),
            api_key: ApiKeyStatus {
                state: if options.api_key.is_some() {
                    ApiKeyState::Unchecked
                } else {
                    ApiKeyState::Missing
                },
                message: options
                    .api_key
                    .is_none()
                    .then(|| "no api_key: set api_key in datadog.yaml or DD_API_KEY".to_owned()),
                ending: options.api_key.as_ref().map(|key| {
                    let chars: Vec<char> = key.expose().chars().collect();
                    chars[chars.len().saturating_sub(5)..].iter().collect()
                }),
            },
            retry_queue: RetryQueueStats {
                max_bytes: options.retry_queue_max_bytes as u64,
                ..RetryQueueStats::default()
            },
            ..ForwarderStats::default()
        };
        if options.api_key.is_none() {
            tracing::error!(
                "no API key is configured (api_key in datadog.yaml, or DD_API_KEY): the intake will refuse every payload"
            );
        }
        let shared = Arc::new(Shared {
            options,
            client,
            stats: Mutex::new(stats),
        });
        let (input, receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(Arc::clone(&shared), receiver, stopped));
        tracing::info!(url = %shared.options.url, "forwarder started");
        Ok(Forwarder {
            input,
            shared,
            stop,
            task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    /// Queues payloads for sending, in order.
    pub fn submit(&self, transactions: Vec<Transaction>) {
        if transactions.is_empty() {
            return;
        }
        if self.input.send(transactions).is_err() {
            tracing::error!("the forwarder has stopped; payloads were lost");
        }
    }

    /// The counters as of now.
    pub fn stats(&self) -> ForwarderStats {
        self.shared.stats().clone()
    }

    /// Asks the intake whether the API key is valid (`GET /api/v1/validate`), records the answer and
    /// logs it: an invalid key at ERROR, an unreachable intake at WARN.
    pub async fn validate_api_key(&self) -> ApiKeyState {
        let Some(key) = &self.shared.options.api_key else {
            return ApiKeyState::Missing;
        };
        let url = format!("{}/api/v1/validate", self.shared.options.url);
        let answer = self
            .shared
            .client
            .get(&url)
            .header("DD-API-KEY", key.expose())
            .send()
            .await;
        let (state, message) = match answer {
            Ok(response) if response.status().is_success() => (ApiKeyState::Valid, None),
            Ok(response) if response.status().as_u16() == 403 => {
                let message = format!(
                    "API key invalid: {url} answered 403; set api_key in datadog.yaml (or DD_API_KEY) to the \
                     backend's API key"
                );
                tracing::error!(%url, "{message}");
                (ApiKeyState::Invalid, Some(message))
            }
            Ok(response) => {
                let message = format!("{url} answered {} to the API key check", response.status());
                tracing::warn!(%url, "{message}");
                (ApiKeyState::Unreachable, Some(message))
            }
            Err(err) => {
                let message = format!("cannot reach {url} to check the API key: {}", error_chain(&err));
                tracing::warn!(%url, "{message}");
                (ApiKeyState::Unreachable, Some(message))
            }
        };
        if state == ApiKeyState::Valid {
            tracing::info!(%url, "API key valid");
        }
        let mut stats = self.shared.stats();
        stats.api_key.state = state;
        stats.api_key.message = message;
        state
    }

    /// Stops taking payloads, tries once more to deliver what is held (within `stop_timeout`), and
    /// counts the rest as dropped. Payloads submitted before the call are delivered or counted.
    pub async fn shutdown(&self) -> ForwarderStats {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().await.take()
            && let Err(err) = task.await
        {
            tracing::error!(error = %err, "the forwarder task failed");
        }
        let stats = self.shared.stats().clone();
        tracing::info!(
            delivered = stats.transactions.success,
            dropped_on_shutdown = stats.transactions.dropped_on_shutdown,
            "forwarder stopped"
        );
        stats
    }
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, ForwarderStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One attempt at delivering `transaction`, counted.
    async fn attempt(&self, transaction: &Transaction) -> Outcome {
        let base = match transaction.endpoint.intake() {
            Intake::Metrics => &self.options.url,
            Intake::Apm => &self.options.apm_url,
        };
        let url = format!("{base}{}", transaction.endpoint.path());
        let mut request = self
            .client
            .post(&url)
            .header("DD-Agent-Version", &self.options.agent_version)
            .header("Content-Type", transaction.endpoint.content_type())
            .body(transaction.body.clone());
        for (name, value) in &transaction.headers {
            request = request.header(*name, value);
        }
        if let Some(key) = &self.options.api_key {
            request = request.header("DD-API-KEY", key.expose());
        }
        if let Some(encoding) = transaction.encoding.header_value() {
            request = request.header("Content-Encoding", encoding);
        }
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let verdict = classify(status);
                if verdict == Verdict::Delivered {
                    Outcome::Delivered
                } else {
                    *self
                        .stats()
                        .transactions
                        .http_errors_by_code
                        .entry(status)
                        .or_default() += 1;
                    let body = response.text().await.unwrap_or_default();
                    let body: String = body.chars().take(200).collect();
                    let reason = format!("{url} answered {status}: {}", body.trim());
                    match verdict {
                        Verdict::Drop => Outcome::Drop { status, reason },
                        Verdict::Delivered | Verdict::Retry => Outcome::Retry(reason),
                    }
                }
            }
            Err(err) => Outcome::Retry(format!("cannot reach {url}: {}", error_chain(&err))),
        };
        self.count(transaction, outcome)
    }

    fn count(&self, transaction: &Transaction, outcome: Outcome) -> Outcome {
        let name = transaction.endpoint.name().to_owned();
        let mut stats = self.stats();
        match &outcome {
            Outcome::Delivered => {
                stats.transactions.success += 1;
                stats.transactions.success_bytes += transaction.size() as u64;
                *stats.transactions.success_by_endpoint.entry(name).or_default() += 1;
            }
            Outcome::Retry(reason) => {
                stats.transactions.errors += 1;
                *stats.transactions.errors_by_endpoint.entry(name).or_default() += 1;
                stats.last_error = Some(reason.clone());
            }
            Outcome::Drop { status, reason } => {
                stats.transactions.dropped_http += 1;
                *stats.transactions.dropped_by_endpoint.entry(name).or_default() += 1;
                stats.last_error = Some(reason.clone());
                if *status == 403 {
                    stats.api_key.state = ApiKeyState::Invalid;
                    stats.api_key.message = Some(reason.clone());
                }
            }
        }
        outcome
    }

    fn dropped_full(&self, dropped: &[Transaction], why: &str) {
        if dropped.is_empty() {
            return;
        }
        let bytes: usize = dropped.iter().map(Transaction::size).sum();
        let mut stats = self.stats();
        for transaction in dropped {
            *stats
                .transactions
                .dropped_by_endpoint
                .entry(transaction.endpoint.name().to_owned())
                .or_default() += 1;
        }
        stats.transactions.dropped_retry_queue_full += dropped.len() as u64;
        stats.transactions.dropped_retry_queue_full_bytes += bytes as u64;
        let total = stats.transactions.dropped_retry_queue_full;
        drop(stats);
        tracing::error!(
            payloads = dropped.len(),
            bytes,
            total_dropped = total,
            max_bytes = self.options.retry_queue_max_bytes,
            "{why}: the retry queue (forwarder_retry_queue_payloads_max_size) is full, the oldest payloads were dropped"
        );
    }

    fn queue_stats(&self, queue: &RetryQueue) {
        let mut stats = self.stats();
        stats.retry_queue.payloads = queue.len() as u64;
        stats.retry_queue.bytes = queue.bytes() as u64;
    }
}

/// The sending loop's state.
struct Sender {
    shared: Arc<Shared>,
    queue: RetryQueue,
    /// Consecutive failed attempts.
    errors: u32,
    /// No new attempt before this.
    blocked_until: Option<Instant>,
}

async fn run(
    shared: Arc<Shared>,
    mut input: mpsc::UnboundedReceiver<Vec<Transaction>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut sender = Sender {
        queue: RetryQueue::new(shared.options.retry_queue_max_bytes),
        shared,
        errors: 0,
        blocked_until: None,
    };
    loop {
        let retry_at = (!sender.queue.is_empty()).then(|| sender.blocked_until.unwrap_or_else(Instant::now));
        tokio::select! {
            biased;
            received = input.recv() => match received {
                Some(transactions) => {
                    for transaction in transactions {
                        sender.offer(transaction).await;
                    }
                }
                None => break,
            },
            _ = stop.changed() => {
                // What was submitted before the stop is queued behind what is held, then tried once.
                while let Ok(transactions) = input.try_recv() {
                    for transaction in transactions {
                        let dropped = sender.queue.push(transaction);
                        sender.shared.dropped_full(&dropped, "the agent is stopping");
                    }
                }
                break;
            }
            () = sleep_until(retry_at) => {
                sender.blocked_until = None;
                sender.retry().await;
            }
        }
    }
    sender.stop().await;
}

impl Sender {
    /// A new payload: sent now unless the intake is blocked or older payloads wait.
    async fn offer(&mut self, transaction: Transaction) {
        let blocked = self.blocked_until.is_some_and(|until| Instant::now() < until);
        if blocked || !self.queue.is_empty() {
            let dropped = self.queue.push(transaction);
            self.shared.dropped_full(&dropped, "the intake is unavailable");
            self.shared.queue_stats(&self.queue);
            if !blocked {
                self.retry().await;
            }
            return;
        }
        match self.shared.attempt(&transaction).await {
            Outcome::Delivered => self.delivered(),
            Outcome::Retry(reason) => self.failed(transaction, &reason, false),
            Outcome::Drop { reason, .. } => dropped_http(&transaction, &reason),
        }
    }

    /// Sends queued payloads, oldest first, until the queue is empty or an attempt fails.
    async fn retry(&mut self) {
        while let Some(transaction) = self.queue.pop() {
            self.shared.stats().transactions.retried += 1;
            match self.shared.attempt(&transaction).await {
                Outcome::Delivered => self.delivered(),
                Outcome::Retry(reason) => {
                    self.failed(transaction, &reason, true);
                    break;
                }
                Outcome::Drop { reason, .. } => dropped_http(&transaction, &reason),
            }
        }
        self.shared.queue_stats(&self.queue);
    }

    fn delivered(&mut self) {
        if self.errors > 0 {
            tracing::info!(waiting = self.queue.len(), "the intake is reachable again");
        }
        self.errors = 0;
        self.blocked_until = None;
    }

    fn failed(&mut self, transaction: Transaction, reason: &str, was_queued: bool) {
        self.errors = self.errors.saturating_add(1);
        let delay = self.shared.options.backoff.delay(self.errors);
        self.blocked_until = Some(Instant::now() + delay);
        let dropped = if was_queued {
            self.queue.push_front(transaction)
        } else {
            self.queue.push(transaction)
        };
        self.shared.dropped_full(&dropped, "the intake is unavailable");
        self.shared.queue_stats(&self.queue);
        tracing::warn!(
            error = %reason,
            retry_in = ?delay,
            queued = self.queue.len(),
            queued_bytes = self.queue.bytes(),
            "could not deliver a payload; it is kept for a retry"
        );
    }

    /// Shutdown: one last attempt for each payload held, within `stop_timeout`.
    async fn stop(&mut self) {
        let deadline = Instant::now() + self.shared.options.stop_timeout;
        let mut left = self.queue.drain();
        let mut undelivered: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut reachable = true;
        for transaction in left.drain(..) {
            if !reachable || Instant::now() >= deadline {
                *undelivered.entry(transaction.endpoint.name()).or_default() += 1;
                continue;
            }
            match tokio::time::timeout_at(deadline, self.shared.attempt(&transaction)).await {
                Ok(Outcome::Delivered) => {}
                Ok(Outcome::Drop { reason, .. }) => dropped_http(&transaction, &reason),
                Ok(Outcome::Retry(_)) | Err(_) => {
                    // The intake is down: the rest would fail the same way.
                    reachable = false;
                    *undelivered.entry(transaction.endpoint.name()).or_default() += 1;
                }
            }
        }
        let mut stats = self.shared.stats();
        for (endpoint, count) in &undelivered {
            *stats
                .transactions
                .dropped_by_endpoint
                .entry((*endpoint).to_owned())
                .or_default() += count;
        }
        drop(stats);
        let undelivered: u64 = undelivered.values().sum();
        if undelivered > 0 {
            tracing::error!(
                payloads = undelivered,
                "payloads were still undelivered when the agent stopped; they are lost"
            );
        }
        let mut stats = self.shared.stats();
        stats.transactions.dropped_on_shutdown += undelivered;
        stats.retry_queue.payloads = 0;
        stats.retry_queue.bytes = 0;
    }
}

fn dropped_http(transaction: &Transaction, reason: &str) {
    tracing::error!(
        endpoint = transaction.endpoint.name(),
        bytes = transaction.size(),
        error = %reason,
        "the intake refused a payload; it is dropped"
    );
}

/// How the Agent treats an answer: 2xx delivered; 408, 429 and 5xx (and anything odd) retried; other 4xx
/// dropped.
fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 => Verdict::Retry,
        400..=499 => Verdict::Drop,
        _ => Verdict::Retry,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// An error with its causes, as one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
