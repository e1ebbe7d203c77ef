//! Ordering label sets as [`Labels`]' `Ord` does (label by label, name then value),
//! straight from their encoded bytes: query results are sorted by labels, and the
//! core's comparison re-checks each string's UTF-8 on every comparison. The bytes
//! themselves do not sort the same way (each string is preceded by its length), so
//! this walks the strings; their byte order is their `str` order.

use std::cmp::Ordering;
use strata_core::Labels;

/// The same result as `a.cmp(b)`, faster.
pub fn cmp_labels(a: &Labels, b: &Labels) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    // Names and values alternate, so comparing the flat string sequences compares
    // the label pairs in order.
    loop {
        match (next_str(x), next_str(y)) {
            (Some((sx, rx)), Some((sy, ry))) => match sx.cmp(sy) {
                Ordering::Equal => (x, y) = (rx, ry),
                other => return other,
            },
            (None, None) if x.is_empty() && y.is_empty() => return Ordering::Equal,
            (None, Some(_)) if x.is_empty() => return Ordering::Less,
            (Some(_), None) if y.is_empty() => return Ordering::Greater,
            // Unreachable for validated label sets; stay correct regardless.
            _ => return a.cmp(b),
        }
    }
}

/// The first length-prefixed string of `buf` and the rest, or `None` if there is none.
fn next_str(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut len, mut shift, mut i) = (0usize, 0u32, 0usize);
    loop {
        let b = *buf.get(i)?;
        i += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    let end = i.checked_add(len).filter(|&e| e <= buf.len())?;
    Some((&buf[i..end], &buf[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels() -> impl Strategy<Value = Labels> {
        // Few names and values, some long (multi-byte lengths) and non-ASCII, so
        // that equal prefixes and every branch are common.
        let value = prop_oneof!["[ab]{0,3}", "[aé\u{0}]{0,3}", "a{120,140}"];
        proptest::collection::btree_map("[ab_]{1,2}", value, 0..4)
            .prop_map(|m| Labels::new(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap())
    }

    proptest! {
        #[test]
        fn agrees_with_labels_ord(a in labels(), b in labels()) {
            prop_assert_eq!(cmp_labels(&a, &b), a.cmp(&b));
            prop_assert_eq!(cmp_labels(&b, &a), b.cmp(&a));
            prop_assert_eq!(cmp_labels(&a, &a), Ordering::Equal);
        }
    }
}
