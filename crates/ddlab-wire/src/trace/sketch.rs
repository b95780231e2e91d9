//! The latency summaries of APM stats (`okSummary`, `errorSummary`): DDSketch protobufs, decoded from any
//! tracer's or agent's mapping into one canonical sketch that can be merged, queried for quantiles and
//! encoded again.
//!
//! The canonical sketch is libdatadog's (`libdd-ddsketch`: the agent's 1 % relative accuracy and index
//! offset, a dense store of at most 2048 bins collapsing the lowest). A summary in another mapping, or
//! with sparse bins, is re-indexed through each bin's representative value, which keeps the relative
//! accuracy within the coarser of the two mappings. Values are nanoseconds and never negative: bins of
//! a negative store are ignored.

use libdd_ddsketch::DDSketch;
use libdd_ddsketch::pb::DdSketch;
use prost::Message;

use crate::WireError;

/// A mergeable latency distribution.
#[derive(Debug, Clone, Default)]
pub struct LatencySketch {
    sketch: DDSketch,
}

impl LatencySketch {
    /// Decodes a DDSketch protobuf; an empty body is an empty sketch.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut sketch = LatencySketch::default();
        if bytes.is_empty() {
            return Ok(sketch);
        }
        let wire = DdSketch::decode(bytes).map_err(|err| WireError::Protobuf {
            message: "DDSketch",
            reason: err.to_string(),
        })?;
        let mapping = wire.mapping.unwrap_or_default();
        let gamma = mapping.gamma;
        if !(gamma.is_finite() && gamma > 1.0 && mapping.index_offset.is_finite()) {
            return Err(WireError::Protobuf {
                message: "DDSketch",
                reason: format!("the mapping's gamma must be a finite number above 1, found {gamma}"),
            });
        }
        let relative_accuracy = (gamma - 1.0) / (gamma + 1.0);
        let ln_gamma = gamma.ln();
        let value_of =
            |index: i64| ((index as f64 - mapping.index_offset) * ln_gamma).exp() * (1.0 + relative_accuracy);
        sketch.add(0.0, wire.zero_count);
        if let Some(store) = wire.positive_values {
            let offset = i64::from(store.contiguous_bin_index_offset);
            for (position, &count) in store.contiguous_bin_counts.iter().enumerate() {
                let index = offset.saturating_add(i64::try_from(position).unwrap_or(i64::MAX));
                sketch.add(value_of(index), count);
            }
            for (&index, &count) in &store.bin_counts {
                sketch.add(value_of(i64::from(index)), count);
            }
        }
        Ok(sketch)
    }

    /// The sketch of the given values (nanoseconds), for tests and encoders.
    pub fn of(values: &[f64]) -> Self {
        let mut sketch = LatencySketch::default();
        for &value in values {
            sketch.add(value, 1.0);
        }
        sketch
    }

    /// Adds `count` occurrences of `value`; negative, infinite or NaN values and counts are ignored.
    pub fn add(&mut self, value: f64, count: f64) {
        if count > 0.0 && count.is_finite() && value >= 0.0 && value.is_finite() {
            // The canonical sketch refuses nothing that passed the checks above.
            let _ = self.sketch.add_with_count(value, count);
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencySketch) {
        for (value, count) in other.sketch.ordered_bins() {
            self.add(value, count);
        }
    }

    /// The number of values in the sketch.
    pub fn count(&self) -> f64 {
        self.sketch.count()
    }

    /// The value at quantile `q` (0..=1), as DDSketch defines it (rank `q * (count - 1)`); `None` when the
    /// sketch is empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count <= 0.0 || !q.is_finite() {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * (count - 1.0);
        let mut seen = 0.0;
        let mut last = None;
        for (value, weight) in self.sketch.ordered_bins() {
            if weight <= 0.0 {
                continue;
            }
            seen += weight;
            last = Some(value);
            if seen > rank {
                return Some(value);
            }
        }
        last
    }

    /// How many values are at most `limit` (bins counted by their representative value).
    pub fn count_at_most(&self, limit: f64) -> f64 {
        self.sketch
            .ordered_bins()
            .into_iter()
            .filter(|&(value, _)| value <= limit)
            .map(|(_, weight)| weight)
            .sum()
    }

    /// The DDSketch protobuf of this sketch.
    pub fn encode(&self) -> Vec<u8> {
        self.sketch.clone().encode_to_vec()
    }
}
