//! The write path: admission checks, series resolution (new series logged first),
//! one WAL frame per batch with group commit, then the head.

use super::*;

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

    pub(super) fn append(&self, batch: &WriteBatch) -> Result<AppendStats, StorageError> {
        if batch.is_empty() {
            return Ok(AppendStats::default());
        }
        self.check_admission(batch)?;
        let n = batch.samples.len();
        let hashes: Vec<u64> = batch.samples.iter().map(|s| s.labels.hash64()).collect();
        // Sample indices grouped by shard, batch order kept within a shard (same series,
        // same shard: so a repeated timestamp keeps its last value).
        let (order, groups) = group_by_shard(&hashes);

        let _writers = self.cut_lock.read();
        let mut ids = vec![0u64; n];
        let mut new_series = 0;
        let mut wanted = Vec::new();
        let mut group_ids = Vec::new();
        for (shard, range) in &groups {
            wanted.clear();
            wanted.extend(
                order[range.clone()]
                    .iter()
                    .map(|&i| (hashes[i as usize], &batch.samples[i as usize].labels)),
            );
            group_ids.clear();
            group_ids.resize(wanted.len(), 0);
            let created = self.head.resolve(
                *shard,
                &wanted,
                &mut group_ids,
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
                ids[i as usize] = group_ids[k];
            }
        }

        let mut payload = Vec::with_capacity(n * 10 + 16);
        let mut frames = Vec::with_capacity(n * 10 + 64);
        record::encode_samples(
            &mut payload,
            batch
                .samples
                .iter()
                .zip(&ids)
                .map(|(s, &id)| record::RefSample { id, t: s.t, v: s.v }),
        );
        wal::frame(&mut frames, &payload);
        if !batch.metadata.is_empty() {
            payload.clear();
            record::encode_metadata(&mut payload, batch.metadata.iter());
            wal::frame(&mut frames, &payload);
        }
        self.wal.write(&frames)?;

        for (shard, range) in &groups {
            let samples = order[range.clone()].iter().map(|&i| {
                let s = &batch.samples[i as usize];
                HeadSample {
                    local: (ids[i as usize] >> crate::head::SHARD_BITS) as u32,
                    t: s.t,
                    v: s.v,
                }
            });
            self.head.insert(*shard, samples);
        }
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
        Ok(AppendStats {
            samples: n as u64,
            new_series,
        })
    }
}

/// Sample indices ordered by shard (a stable counting sort), and per shard with
/// samples its range in that order.
fn group_by_shard(hashes: &[u64]) -> (Vec<u32>, Vec<(usize, std::ops::Range<usize>)>) {
    let mut next = [0usize; SHARDS];
    for &h in hashes {
        next[shard_of(h)] += 1;
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
    let mut order = vec![0u32; hashes.len()];
    for (i, &h) in hashes.iter().enumerate() {
        let slot = &mut next[shard_of(h)];
        order[*slot] = i as u32;
        *slot += 1;
    }
    (order, groups)
}

impl Appender for Tsdb {
    fn append(&self, batch: &WriteBatch) -> Result<AppendStats, StorageError> {
        self.inner.append(batch)
    }
}
