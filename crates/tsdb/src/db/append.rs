//! The write path: admission checks, series resolution (new series logged first),
//! one WAL frame per batch with group commit, then the head.

use super::*;
use crate::head::SeriesRef;
use strata_core::Sample;

impl Inner {
    /// Refuses a batch the store cannot take now, naming the reason.
    fn check_admission(&self, batch: &WriteBatch) -> Result<(), StorageError> {
        let o = &self.options;
        if self.head.num_samples() >= o.max_head_samples.saturating_mul(2)
            || self.head.num_ooo_samples() >= o.max_head_ooo_samples.saturating_mul(2)
        {
            self.wake.notify_all();
            return Err(StorageError::Backpressure {
                what: "head sample limit reached while a cut is pending".into(),
                retry_after: Duration::from_secs(5),
            });
        }
        if let Some(retention) = o.retention {
            let cutoff = now_ms().saturating_sub(millis(retention));
            if let Some(s) = batch.samples.iter().find(|s| s.t < cutoff) {
                return Err(StorageError::OutOfRetention(format!(
                    "sample of {} at {} is before the retention cutoff {cutoff}",
                    s.labels, s.t
                )));
            }
        }
        Ok(())
    }

    /// Appends a batch; returns what it did and how many distinct series it holds.
    pub(super) fn append(&self, batch: &WriteBatch) -> Result<(AppendStats, usize), StorageError> {
        if batch.is_empty() {
            return Ok((AppendStats::default(), 0));
        }
        self.check_admission(batch)?;
        let n = batch.samples.len();
        let series = BatchSeries::of(&batch.samples);
        let shards: Vec<u8> = series.hashes.iter().map(|&h| shard_of(h) as u8).collect();
        // Distinct series grouped by shard, to resolve each shard's under one lock.
        let (order, groups) = group_by_shard(&shards, |i| i as u32, 0);

        let _writers = self.cut_lock.read();
        let mut refs = vec![SeriesRef::default(); series.len()];
        let mut new_series = 0;
        let mut wanted = Vec::new();
        let mut group_refs = Vec::new();
        for (shard, range) in &groups {
            wanted.clear();
            wanted.extend(
                order[range.clone()]
                    .iter()
                    .map(|&i| (series.hashes[i as usize], series.labels[i as usize])),
            );
            group_refs.clear();
            group_refs.resize(wanted.len(), SeriesRef::default());
            let created = self.head.resolve_refs(
                *shard,
                &wanted,
                &mut group_refs,
                self.options.max_head_series,
                |new| {
                    let mut payload = Vec::new();
                    record::encode_series(&mut payload, new.iter().map(|(id, l)| (*id, l)));
                    let mut frame = Vec::with_capacity(payload.len() + 8);
                    wal::frame(&mut frame, &payload);
                    self.wal.enqueue(&frame);
                },
            )?;
            new_series += created;
            for (k, &i) in order[range.clone()].iter().enumerate() {
                refs[i as usize] = group_refs[k];
            }
        }
        let ref_of = |i: usize| refs[series.of_sample[i] as usize];

        let mut payload = Vec::with_capacity(n * 10 + 16);
        let mut frames = Vec::with_capacity(n * 10 + 64);
        record::encode_samples(
            &mut payload,
            batch
                .samples
                .iter()
                .enumerate()
                .map(|(i, s)| record::RefSample {
                    id: ref_of(i).id,
                    t: s.t,
                    v: s.v,
                }),
        );
        wal::frame(&mut frames, &payload);
        if !batch.metadata.is_empty() {
            payload.clear();
            record::encode_metadata(&mut payload, batch.metadata.iter());
            wal::frame(&mut frames, &payload);
        }
        let logged = self.wal.enqueue(&frames);

        // The head takes the samples while the WAL writes them: the series just
        // resolved are still in cache, and the answer waits for the sync below all
        // the same. A batch whose WAL write fails is thus readable from the head
        // although its append fails; the WAL refuses every write after a failure.
        //
        // Samples by shard, batch order kept within a shard (same series, same shard:
        // so a repeated timestamp keeps its last value). Built in one pass over the batch
        // so that each shard's insert reads its samples in sequence.
        let sample_shards: Vec<u8> = series
            .of_sample
            .iter()
            .map(|&k| shards[k as usize])
            .collect();
        let to_head = |i: usize| {
            let s = &batch.samples[i];
            ref_of(i).sample(s.t, s.v)
        };
        let filler = HeadSample::of_id(0, 0, 0.0);
        let (by_shard, groups) = group_by_shard(&sample_shards, to_head, filler);
        for (shard, range) in groups {
            self.head.insert(shard, &by_shard[range]);
        }
        self.wal.wait(logged)?;
        if !batch.metadata.is_empty() {
            let mut md = self.metadata.write();
            for m in &batch.metadata {
                md.insert(m.metric.clone(), m.clone());
            }
        }
        self.counters
            .samples_appended
            .fetch_add(n as u64, Ordering::Relaxed);
        self.counters
            .series_created
            .fetch_add(new_series, Ordering::Relaxed);
        // Equal label sets in different buffers resolved to one id.
        let mut ids: Vec<u64> = refs.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let stats = AppendStats {
            samples: n as u64,
            new_series,
        };
        Ok((stats, ids.len()))
    }
}

/// The distinct label sets of a batch, each hashed once, and which one each sample has.
///
/// Decoders hand out one shared buffer per series (`Labels` is reference-counted), so a
/// series repeated in a batch is recognised by its buffer's address without reading
/// it, in a direct-mapped table. Equal label sets in different buffers (or a repeat
/// whose table slot was taken since) only become separate entries here; resolving
/// gives them the same series.
struct BatchSeries<'a> {
    labels: Vec<&'a Labels>,
    hashes: Vec<u64>,
    /// Per sample, its index in `labels`.
    of_sample: Vec<u32>,
}

impl<'a> BatchSeries<'a> {
    fn of(samples: &'a [Sample]) -> Self {
        const EMPTY: u32 = u32::MAX;
        let bits = (samples.len() * 2)
            .next_power_of_two()
            .clamp(64, 1 << 16)
            .trailing_zeros();
        let mut table = vec![EMPTY; 1 << bits];
        let mut addresses = Vec::new();
        let mut labels = Vec::new();
        let mut hashes = Vec::new();
        let mut of_sample = Vec::with_capacity(samples.len());
        for s in samples {
            let address = s.labels.as_bytes().as_ptr() as usize;
            // Fibonacci hashing of the address, alignment bits dropped.
            let slot =
                ((address as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
            let k = table[slot];
            if k != EMPTY && addresses[k as usize] == address {
                of_sample.push(k);
                continue;
            }
            let k = labels.len() as u32;
            table[slot] = k;
            addresses.push(address);
            labels.push(&s.labels);
            hashes.push(s.labels.hash64());
            of_sample.push(k);
        }
        BatchSeries {
            labels,
            hashes,
            of_sample,
        }
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// `item(i)` for every index, ordered by `shards[i]` (a stable counting sort that reads
/// the indices in order), and per shard with entries its range in that order.
fn group_by_shard<T: Copy>(
    shards: &[u8],
    item: impl Fn(usize) -> T,
    filler: T,
) -> (Vec<T>, Vec<(usize, std::ops::Range<usize>)>) {
    let mut next = [0usize; SHARDS];
    for &s in shards {
        next[s as usize] += 1;
    }
    let mut groups = Vec::new();
    let mut start = 0;
    for (shard, slot) in next.iter_mut().enumerate() {
        let count = *slot;
        if count > 0 {
            groups.push((shard, start..start + count));
        }
        *slot = start;
        start += count;
    }
    let mut out = vec![filler; shards.len()];
    for (i, &s) in shards.iter().enumerate() {
        let slot = &mut next[s as usize];
        out[*slot] = item(i);
        *slot += 1;
    }
    (out, groups)
}

impl Appender for Tsdb {
    fn append(&self, batch: &WriteBatch) -> Result<AppendStats, StorageError> {
        Ok(self.inner.append(batch)?.0)
    }
}

impl Tsdb {
    /// Appends as [`Appender::append`] does, and also returns the number of distinct
    /// series in the batch, which the append finds anyway (counting them again costs a
    /// hash of every sample's labels).
    pub fn append_counting_series(
        &self,
        batch: &WriteBatch,
    ) -> Result<(AppendStats, usize), StorageError> {
        self.inner.append(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(job: &str) -> Labels {
        Labels::new([("__name__", "m"), ("job", job)]).unwrap()
    }

    fn sample(labels: &Labels, t: i64, v: f64) -> Sample {
        Sample {
            labels: labels.clone(),
            t,
            v,
        }
    }

    #[test]
    fn batch_series_are_told_apart_by_buffer() {
        let (a, b, equal_to_a) = (labels("a"), labels("b"), labels("a"));
        let samples = [
            sample(&a, 1, 1.0),
            sample(&b, 1, 2.0),
            sample(&a, 2, 3.0),
            sample(&equal_to_a, 3, 4.0),
        ];
        let series = BatchSeries::of(&samples);
        assert_eq!(series.len(), 3);
        assert_eq!(series.of_sample, [0, 1, 0, 2]);
        assert_eq!(series.hashes[0], series.hashes[2]);
        assert_eq!(series.hashes[1], b.hash64());
    }

    #[test]
    fn repeated_and_equal_label_sets_append_to_one_series() {
        let dir = tempfile::tempdir().unwrap();
        let t = now_ms();
        let (a, b, equal_to_a) = (labels("a"), labels("b"), labels("a"));
        let batch = WriteBatch {
            samples: vec![
                sample(&a, t, 1.0),
                sample(&b, t, 2.0),
                sample(&equal_to_a, t + 1, 3.0),
                sample(&a, t + 2, 4.0),
                sample(&equal_to_a, t + 2, 5.0),
            ],
            metadata: Vec::new(),
        };
        let want = vec![
            Point { t, v: 1.0 },
            Point { t: t + 1, v: 3.0 },
            Point { t: t + 2, v: 5.0 },
        ];
        let read = |db: &Tsdb| {
            let got = db
                .select(&[strata_core::Matcher::equal("job", "a")], TimeRange::ALL)
                .unwrap();
            assert_eq!(got.len(), 1);
            got[0].points.clone()
        };
        {
            let db = Tsdb::open(dir.path(), Options::default()).unwrap();
            let (stats, series) = db.append_counting_series(&batch).unwrap();
            assert_eq!((stats.samples, stats.new_series, series), (5, 2, 2));
            assert_eq!(series, batch.series_count());
            assert_eq!(read(&db), want);
        }
        // The WAL holds the same, in the same order.
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        assert_eq!(read(&db), want);
        assert_eq!(db.stats().head_series, 2);
    }
}
