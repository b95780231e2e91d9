//! The forwarder's bounded retry queue and its backoff: pure, tested without a network.
//!
//! The queue is bounded in bytes (`forwarder_retry_queue_payloads_max_size`, 15 MiB by default), counted
//! over the compressed payloads as sent. Adding a payload that does not fit drops the oldest payloads
//! until it does, and a payload larger than the whole bound is dropped itself; every dropped payload is
//! handed back so the caller counts and logs it. Order is kept: the oldest payload is retried first.

use std::collections::VecDeque;
use std::time::Duration;

use super::transaction::Transaction;

/// Transactions waiting for the intake to come back.
#[derive(Debug, Clone)]
pub struct RetryQueue {
    items: VecDeque<Transaction>,
    bytes: usize,
    max_bytes: usize,
}

/// Exponential backoff: `base × 2^(errors − 1)`, at most `max`.
///
/// The Agent randomises each delay around that value; the lab's is deterministic, so tests and logs
/// show the same waits every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// `forwarder_backoff_base`; default 2 s.
    pub base: Duration,
    /// `forwarder_backoff_max`; default 64 s.
    pub max: Duration,
}

impl RetryQueue {
    pub fn new(max_bytes: usize) -> Self {
        RetryQueue {
            items: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Adds `transaction` as the newest; returns what had to be dropped for it, oldest first (the
    /// transaction itself when it is larger than the bound).
    pub fn push(&mut self, transaction: Transaction) -> Vec<Transaction> {
        if transaction.size() > self.max_bytes {
            return vec![transaction];
        }
        self.bytes += transaction.size();
        self.items.push_back(transaction);
        self.evict()
    }

    /// Puts back a transaction just taken with [`RetryQueue::pop`] whose retry failed: it stays the
    /// oldest. Returns what had to be dropped, as [`RetryQueue::push`] does.
    pub fn push_front(&mut self, transaction: Transaction) -> Vec<Transaction> {
        if transaction.size() > self.max_bytes {
            return vec![transaction];
        }
        self.bytes += transaction.size();
        self.items.push_front(transaction);
        self.evict()
    }

    /// Takes the oldest transaction.
    pub fn pop(&mut self) -> Option<Transaction> {
        let transaction = self.items.pop_front()?;
        self.bytes -= transaction.size();
        Some(transaction)
    }

    /// Takes every transaction, oldest first.
    pub fn drain(&mut self) -> Vec<Transaction> {
        self.bytes = 0;
        self.items.drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held (compressed payload sizes).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    fn evict(&mut self) -> Vec<Transaction> {
        let mut dropped = Vec::new();
        while self.bytes > self.max_bytes {
            match self.items.pop_front() {
                Some(oldest) => {
                    self.bytes -= oldest.size();
                    dropped.push(oldest);
                }
                None => break,
            }
        }
        dropped
    }
}

impl Backoff {
    /// The wait after `errors` consecutive failures (1 for the first).
    pub fn delay(&self, errors: u32) -> Duration {
        let exponent = errors.saturating_sub(1).min(30);
        self.base.saturating_mul(1 << exponent).min(self.max)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarder::transaction::Endpoint;

    fn tx(tag: u8, size: usize) -> Transaction {
        Transaction::new(
            Endpoint::SeriesV2,
            vec![tag; size],
            ddlab_wire::Encoding::Identity,
        )
    }

    fn tags(transactions: &[Transaction]) -> Vec<u8> {
        transactions.iter().map(|t| t.body[0]).collect()
    }

    #[test]
    fn the_oldest_payloads_go_when_the_bound_is_reached() {
        let mut queue = RetryQueue::new(100);
        for tag in 1..=4 {
            assert!(queue.push(tx(tag, 25)).is_empty());
        }
        assert_eq!((queue.len(), queue.bytes()), (4, 100));
        let dropped = queue.push(tx(5, 30));
        assert_eq!(tags(&dropped), [1, 2]);
        assert_eq!((queue.len(), queue.bytes()), (3, 80));
        assert_eq!(tags(&queue.drain()), [3, 4, 5]);
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn a_payload_larger_than_the_bound_is_dropped_alone() {
        let mut queue = RetryQueue::new(100);
        queue.push(tx(1, 60));
        assert_eq!(tags(&queue.push(tx(2, 101))), [2]);
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn a_failed_retry_stays_the_oldest() {
        let mut queue = RetryQueue::new(100);
        queue.push(tx(1, 10));
        queue.push(tx(2, 10));
        let oldest = queue.pop().unwrap();
        assert_eq!(queue.bytes(), 10);
        assert!(queue.push_front(oldest).is_empty());
        assert_eq!(tags(&queue.drain()), [1, 2]);
    }

    #[test]
    fn backoff_doubles_up_to_the_max() {
        let backoff = Backoff::default();
        let delays: Vec<u64> = (1..=9).map(|e| backoff.delay(e).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 64, 64, 64]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(64));
    }
}
