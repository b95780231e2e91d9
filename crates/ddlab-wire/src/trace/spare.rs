//! Spare span maps: the allocations of processed spans' `meta` and `metrics`, kept by the thread that
//! processed them for the next payload it decodes.
//!
//! Every decoded span holds two small vectors. Allocating and freeing a few hundred per request was
//! about a tenth of the trace receiver's CPU: glibc's per-thread cache keeps only seven blocks of a
//! size, so most of them went through its shared bins. [`recycle`] takes the vectors of spans that are
//! done with; the decoders ask [`meta`] and [`metrics`] for a map and get an emptied one when there is
//! one. Each thread keeps at most [`KEPT`] of each, none larger than [`LARGEST`] entries.
//!
//! A vector changes the lifetime of the text it can hold by being collected from its own (empty)
//! iterator, which reuses the allocation in place because the element layouts are the same.

use std::borrow::Cow;
use std::cell::RefCell;

use libdd_trace_utils::span::v04::VecMap;

use super::borrowed::{SpanSlice, TracerPayloadRef};

/// Spare vectors each thread keeps, of each kind: a typical payload's spans.
const KEPT: usize = 1024;
/// Vectors with room for more entries than this are freed rather than kept.
const LARGEST: usize = 32;

type Meta<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;
type Metrics<'a> = Vec<(Cow<'a, str>, f64)>;

thread_local! {
    static META: RefCell<Vec<Meta<'static>>> = const { RefCell::new(Vec::new()) };
    static METRICS: RefCell<Vec<Metrics<'static>>> = const { RefCell::new(Vec::new()) };
}

/// An empty `meta` map with room for `len` entries.
pub(crate) fn meta<'a>(len: usize) -> VecMap<Cow<'a, str>, Cow<'a, str>> {
    VecMap::from(take(&META, len))
}

/// An empty `metrics` map with room for `len` entries.
pub(crate) fn metrics<'a>(len: usize) -> VecMap<Cow<'a, str>, f64> {
    VecMap::from(take(&METRICS, len))
}

/// Keeps the maps of `payload`'s spans for this thread's next decoding; the rest is dropped.
pub fn recycle(payload: TracerPayloadRef<'_>) {
    for chunk in payload.chunks {
        recycle_spans(chunk.spans);
    }
}

/// [`recycle`] for spans outside a payload.
pub fn recycle_spans(spans: Vec<SpanSlice<'_>>) {
    let (mut metas, mut metrics): (Vec<Meta<'static>>, Vec<Metrics<'static>>) = Default::default();
    for mut span in spans {
        let meta = Vec::from(std::mem::take(&mut span.meta));
        if (1..=LARGEST).contains(&meta.capacity()) {
            metas.push(relabel(meta));
        }
        let span_metrics = Vec::from(std::mem::take(&mut span.metrics));
        if (1..=LARGEST).contains(&span_metrics.capacity()) {
            metrics.push(relabel(span_metrics));
        }
    }
    keep(&META, metas);
    keep(&METRICS, metrics);
}

fn take<T: 'static, U>(pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<T>>>>, len: usize) -> Vec<U> {
    match pool.with(|pool| pool.borrow_mut().pop()) {
        Some(spare) => {
            let mut spare = relabel(spare);
            spare.reserve(len);
            spare
        }
        None => Vec::with_capacity(len),
    }
}

fn keep<T: 'static>(pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<T>>>>, mut spares: Vec<Vec<T>>) {
    pool.with(|pool| {
        let mut pool = pool.borrow_mut();
        spares.truncate(KEPT.saturating_sub(pool.len()));
        pool.append(&mut spares);
    });
}

/// `vector`, emptied, as a vector of `U`: the same allocation when `T` and `U` have the same layout
/// (here they differ only in lifetimes), a new empty vector otherwise.
fn relabel<T, U>(mut vector: Vec<T>) -> Vec<U> {
    vector.clear();
    vector
        .into_iter()
        .map(|_| -> U { unreachable!("the vector was emptied") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relabelled_vector_keeps_its_allocation() {
        let text = String::from("borrowed");
        let mut vector: Meta<'_> = Vec::with_capacity(8);
        vector.push((Cow::Borrowed(text.as_str()), Cow::Borrowed("x")));
        let before = vector.as_ptr().cast::<u8>();
        let relabelled: Meta<'static> = relabel(vector);
        assert!(relabelled.is_empty());
        assert_eq!(relabelled.capacity(), 8);
        assert_eq!(relabelled.as_ptr().cast::<u8>(), before);
    }

    #[test]
    fn recycled_maps_come_back_empty_with_their_room() {
        let text = String::from("value");
        let mut span = SpanSlice {
            meta: meta(4),
            metrics: metrics(2),
            ..SpanSlice::default()
        };
        span.meta
            .insert(Cow::Borrowed("key"), Cow::Borrowed(text.as_str()));
        span.metrics.insert(Cow::Borrowed("m"), 1.0);
        let (meta_at, metrics_at) = (
            span.meta.iter().as_slice().as_ptr().cast::<u8>(),
            span.metrics.iter().as_slice().as_ptr().cast::<u8>(),
        );
        recycle_spans(vec![span]);
        drop(text);
        let again = meta(3);
        assert!(again.is_empty());
        assert!(again.capacity() >= 4);
        assert_eq!(again.iter().as_slice().as_ptr().cast::<u8>(), meta_at);
        let again = metrics(1);
        assert!(again.is_empty());
        assert_eq!(again.iter().as_slice().as_ptr().cast::<u8>(), metrics_at);
        // A larger request than any spare still gets its room.
        assert!(meta(LARGEST * 2).capacity() >= LARGEST * 2);
    }

    #[test]
    fn a_thread_keeps_a_bounded_number() {
        let spans: Vec<SpanSlice<'_>> = (0..KEPT + 10)
            .map(|_| SpanSlice {
                meta: meta(1),
                ..SpanSlice::default()
            })
            .collect();
        recycle_spans(spans);
        assert_eq!(META.with(|pool| pool.borrow().len()), KEPT);
        // Vectors too large to keep are freed.
        META.with(|pool| pool.borrow_mut().clear());
        recycle_spans(vec![SpanSlice {
            meta: VecMap::with_capacity(LARGEST + 1),
            ..SpanSlice::default()
        }]);
        assert_eq!(META.with(|pool| pool.borrow().len()), 0);
    }
}
