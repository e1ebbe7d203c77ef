//! A block's series table: per series its labels (as symbol references) and the time
//! range and byte length of each of its chunks.
//!
//! Neighbouring series in label order are alike (same metric, same chunk times), so
//! series are stored in groups of [`GROUP`] and each entry is coded against the one
//! before it: per label two bits say whether it is the previous series' label at that
//! position, has its name with another value (then the value's symbol follows as a
//! delta: symbols are sorted, so a host's neighbour is often the next symbol), or is
//! new (name and value symbols follow); chunk start,
//! span and length as deltas from the previous series' first chunk (or, after a
//! series' first chunk, from its previous chunk). A group starts afresh, so reading one
//! series decodes at most `GROUP` entries. Chunk offsets are not stored: chunks lie in
//! series order in the two streams of the chunks file (a series' last chunk in one,
//! its others in the other; see module `chunks`), and each group records where it
//! starts in both.
//!
//! Layout: the groups, then a `u64` offset per group, then the `u64` series count.

use super::chunks::{place, stream_of};
use crate::encoding::{put_uvarint, put_varint, DecodeError, Decoder};
use std::io::{self, Write};

/// Series per group: larger saves a little space, smaller decodes less per look-up.
pub(crate) const GROUP: usize = 16;

/// Where one chunk of a series lies, and the time range of its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_t: i64,
    pub max_t: i64,
    pub(super) offset: u64,
    pub(super) len: u64,
}

/// What an entry's chunk is coded against.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    min_t: i64,
    span: i64,
    len: u64,
}

impl Shape {
    fn of(c: &ChunkMeta) -> Shape {
        Shape {
            min_t: c.min_t,
            span: c.max_t.wrapping_sub(c.min_t),
            len: c.len,
        }
    }
}

/// Builds a series table; series are added in block order. The entries coded so far
/// can be moved out at any time ([`SeriesTableWriter::drain_to`]), so the table streams
/// to its file as it grows; only a `u64` per group stays until [`SeriesTableWriter::finish`].
#[derive(Default)]
pub(crate) struct SeriesTableWriter {
    buf: Vec<u8>,
    /// Bytes moved out of `buf` so far.
    drained: u64,
    group_offsets: Vec<u64>,
    count: u64,
    prev_refs: Vec<u32>,
    prev_first: Shape,
}

impl SeriesTableWriter {
    /// Adds a series: `refs` are its label name and value symbols, alternating;
    /// `chunks` its chunks, placed in each stream right after the previous series'
    /// (`starts`: where this series' chunks begin in each stream).
    pub(crate) fn add(&mut self, refs: &[u32], chunks: &[ChunkMeta], starts: [u64; 2]) {
        let out = &mut self.buf;
        if self.count.is_multiple_of(GROUP as u64) {
            self.group_offsets.push(self.drained + out.len() as u64);
            put_uvarint(out, starts[0]);
            put_uvarint(out, starts[1]);
            self.prev_refs.clear();
            self.prev_first = Shape::default();
        }
        self.count += 1;
        let n = refs.len() / 2;
        put_uvarint(out, n as u64);
        let codes_at = out.len();
        out.resize(codes_at + n.div_ceil(4), 0);
        for (k, label) in refs.chunks_exact(2).enumerate() {
            let code = match self.prev_refs.get(2 * k..2 * k + 2) {
                Some(prev) if prev == label => SAME_LABEL,
                Some(prev) if prev[0] == label[0] => {
                    put_varint(out, i64::from(label[1]) - i64::from(prev[1]));
                    NEW_VALUE
                }
                _ => {
                    put_uvarint(out, u64::from(label[0]));
                    put_uvarint(out, u64::from(label[1]));
                    NEW_LABEL
                }
            };
            out[codes_at + k / 4] |= code << (2 * (k % 4));
        }
        put_uvarint(out, chunks.len() as u64);
        let mut base = self.prev_first;
        for (k, c) in chunks.iter().enumerate() {
            let shape = Shape::of(c);
            put_varint(out, c.min_t.wrapping_sub(base.min_t));
            put_varint(out, shape.span.wrapping_sub(base.span));
            put_varint(out, (shape.len as i64).wrapping_sub(base.len as i64));
            if k == 0 {
                self.prev_first = shape;
            }
            base = Shape {
                min_t: c.max_t,
                ..shape
            };
        }
        self.prev_refs.clear();
        self.prev_refs.extend_from_slice(refs);
    }

    /// Bytes coded and not yet drained.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Writes the entries coded so far to `out`, which receives the table in order.
    pub(crate) fn drain_to(&mut self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.buf)?;
        self.drained += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// The table's bytes not yet drained, with its group offsets and count (without the
    /// file's checksum).
    pub(crate) fn finish(mut self) -> Vec<u8> {
        for off in &self.group_offsets {
            self.buf.extend_from_slice(&off.to_le_bytes());
        }
        self.buf.extend_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// How a label relates to the previous series' label at the same position (2 bits).
const SAME_LABEL: u8 = 0;
const NEW_VALUE: u8 = 1;
const NEW_LABEL: u8 = 2;

/// Decodes one entry's labels into `refs`, coded against `prev`.
fn decode_labels(
    d: &mut Decoder<'_>,
    prev: &[u32],
    refs: &mut Vec<u32>,
) -> Result<(), DecodeError> {
    let n = d.len()?;
    let codes = d.bytes(n.div_ceil(4))?;
    refs.clear();
    let symbol = |v: i64| u32::try_from(v).map_err(|_| DecodeError("bad symbol"));
    for k in 0..n {
        let code = (codes[k / 4] >> (2 * (k % 4))) & 3;
        match (code, prev.get(2 * k..2 * k + 2)) {
            (SAME_LABEL, Some(p)) => refs.extend_from_slice(p),
            (NEW_VALUE, Some(p)) => {
                let value = symbol(i64::from(p[1]).wrapping_add(d.varint()?))?;
                refs.extend([p[0], value]);
            }
            (NEW_LABEL, _) => {
                let name = symbol(d.uvarint()? as i64)?;
                refs.extend([name, symbol(d.uvarint()? as i64)?]);
            }
            _ => return Err(DecodeError("bad label code")),
        }
    }
    Ok(())
}

/// A series table opened for reading (the file's body, checksum already verified).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesTable {
    count: usize,
    table: usize,
}

impl SeriesTable {
    pub(crate) fn open(body: &[u8]) -> Result<SeriesTable, DecodeError> {
        let at = body
            .len()
            .checked_sub(8)
            .ok_or(DecodeError("series table too short"))?;
        let count = u64::from_le_bytes(body[at..].try_into().unwrap_or_default());
        let groups = count.div_ceil(GROUP as u64);
        let table = groups
            .checked_mul(8)
            .and_then(|size| (at as u64).checked_sub(size))
            .ok_or(DecodeError("series table exceeds the file"))?;
        Ok(SeriesTable {
            count: count as usize,
            table: table as usize,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// A reader of entries in ascending order that decodes each group once: entry `i`
    /// is coded against entry `i - 1` of its group, so random access would decode up
    /// to 15 predecessors again (a quarter of a 10,000-series query's time).
    pub(crate) fn cursor<'a>(&self, body: &'a [u8]) -> EntryCursor<'a> {
        EntryCursor {
            table: *self,
            body,
            group: usize::MAX,
            next: 0,
            d: Decoder::new(&[]),
            offsets: [0; 2],
            prev_first: Shape::default(),
            prev_refs: Vec::with_capacity(16),
            refs: Vec::with_capacity(16),
            chunks: Vec::new(),
        }
    }
}

/// See [`SeriesTable::cursor`]. After [`EntryCursor::seek`], `refs` and `chunks` hold
/// the entry sought.
pub(crate) struct EntryCursor<'a> {
    table: SeriesTable,
    body: &'a [u8],
    group: usize,
    /// The index of the entry the decoder stands before.
    next: usize,
    d: Decoder<'a>,
    offsets: [u64; 2],
    prev_first: Shape,
    prev_refs: Vec<u32>,
    pub(crate) refs: Vec<u32>,
    pub(crate) chunks: Vec<ChunkMeta>,
}

impl EntryCursor<'_> {
    /// Decodes up to entry `i`, continuing from the previous entry when it is in the
    /// same group and not after `i`.
    pub(crate) fn seek(&mut self, i: usize) -> Result<(), DecodeError> {
        if i >= self.table.count {
            return Err(DecodeError("series index out of range"));
        }
        if i / GROUP != self.group || i < self.next {
            self.start_group(i / GROUP)?;
        }
        while self.next <= i {
            self.decode_next()?;
        }
        Ok(())
    }

    fn start_group(&mut self, group: usize) -> Result<(), DecodeError> {
        self.group = usize::MAX;
        let at = self.table.table + 8 * group;
        let start = u64::from_le_bytes(self.body[at..at + 8].try_into().unwrap_or_default());
        self.d = Decoder::new(
            usize::try_from(start)
                .ok()
                .and_then(|s| self.body.get(s..self.table.table))
                .ok_or(DecodeError("bad series group offset"))?,
        );
        self.offsets = [self.d.uvarint()?, self.d.uvarint()?];
        self.prev_first = Shape::default();
        self.refs.clear();
        self.group = group;
        self.next = group * GROUP;
        Ok(())
    }

    fn decode_next(&mut self) -> Result<(), DecodeError> {
        // Until it succeeds, the cursor is not positioned anywhere reusable.
        let group = std::mem::replace(&mut self.group, usize::MAX);
        std::mem::swap(&mut self.refs, &mut self.prev_refs);
        decode_labels(&mut self.d, &self.prev_refs, &mut self.refs)?;
        self.chunks.clear();
        let mut base = self.prev_first;
        let n = self.d.len()?;
        for k in 0..n {
            let d = &mut self.d;
            let min_t = base.min_t.wrapping_add(d.varint()?);
            let span = base.span.wrapping_add(d.varint()?);
            let len = (base.len as i64).wrapping_add(d.varint()?) as u64;
            let stream = stream_of(k, n);
            let c = ChunkMeta {
                min_t,
                max_t: min_t.wrapping_add(span),
                offset: place(stream, self.offsets[stream]),
                len,
            };
            self.offsets[stream] = self.offsets[stream]
                .checked_add(len)
                .filter(|o| place(stream, *o) & !(1 << 63) == *o)
                .ok_or(DecodeError("chunk offset overflows"))?;
            self.chunks.push(c);
            if k == 0 {
                self.prev_first = Shape::of(&c);
            }
            base = Shape {
                min_t: c.max_t,
                span,
                len,
            };
        }
        self.group = group;
        self.next += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Entry = (Vec<u32>, Vec<ChunkMeta>, [u64; 2]);

    fn entries() -> impl Strategy<Value = Vec<Entry>> {
        let series = (
            proptest::collection::vec((0u32..4, 0u32..20), 0..5),
            proptest::collection::vec((any::<i64>(), any::<i64>(), 0u64..5000), 1..4),
        );
        proptest::collection::vec(series, 0..60).prop_map(|list| {
            let mut offsets = [7, 11];
            list.into_iter()
                .map(|(labels, chunks)| {
                    let refs = labels.iter().flat_map(|&(n, v)| [n, v]).collect();
                    let starts = offsets;
                    let n = chunks.len();
                    let chunks = chunks
                        .into_iter()
                        .enumerate()
                        .map(|(k, (min_t, max_t, len))| {
                            let stream = stream_of(k, n);
                            let c = ChunkMeta {
                                min_t,
                                max_t,
                                offset: place(stream, offsets[stream]),
                                len,
                            };
                            offsets[stream] += len;
                            c
                        })
                        .collect();
                    (refs, chunks, starts)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn every_entry_reads_back_in_any_order(
            entries in entries(),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
        ) {
            let mut w = SeriesTableWriter::default();
            for (refs, chunks, starts) in &entries {
                w.add(refs, chunks, *starts);
            }
            let body = w.finish();
            let t = SeriesTable::open(&body).unwrap();
            prop_assert_eq!(t.len(), entries.len());
            // One cursor through every entry in order, then jumping back and forth.
            let mut cursor = t.cursor(&body);
            let jumps = order.iter().filter(|_| !entries.is_empty()).map(|i| i.index(entries.len()));
            for i in (0..entries.len()).chain(jumps) {
                cursor.seek(i).unwrap();
                prop_assert_eq!(&cursor.refs, &entries[i].0);
                prop_assert_eq!(&cursor.chunks, &entries[i].1);
            }
            prop_assert!(cursor.seek(entries.len()).is_err());
        }

        #[test]
        fn a_drained_table_is_the_same_bytes(entries in entries(), every in 1usize..20) {
            let (mut whole, mut drained) = (SeriesTableWriter::default(), SeriesTableWriter::default());
            let mut out = Vec::new();
            for (i, (refs, chunks, starts)) in entries.iter().enumerate() {
                whole.add(refs, chunks, *starts);
                drained.add(refs, chunks, *starts);
                if i % every == 0 {
                    drained.drain_to(&mut out).unwrap();
                    prop_assert_eq!(drained.pending(), 0);
                }
            }
            out.extend(drained.finish());
            prop_assert_eq!(out, whole.finish());
        }

        #[test]
        fn damaged_tables_are_errors_not_panics(
            entries in entries(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4),
        ) {
            let mut w = SeriesTableWriter::default();
            for (refs, chunks, starts) in &entries {
                w.add(refs, chunks, *starts);
            }
            let mut body = w.finish();
            for (at, x) in flips {
                let at = at.index(body.len());
                body[at] ^= x;
            }
            if let Ok(t) = SeriesTable::open(&body) {
                let mut cursor = t.cursor(&body);
                for i in 0..t.len().min(200) {
                    let _ = cursor.seek(i);
                }
            }
        }
    }
}
