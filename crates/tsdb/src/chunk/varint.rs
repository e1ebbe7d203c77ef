//! Zig-zag mapping and LEB128 unsigned varints for chunk headers.

use super::ChunkError;

/// Maps signed to unsigned so that small magnitudes of either sign stay small.
pub(crate) fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

pub(crate) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Reads a varint from the front of `bytes`, returning it and the rest.
pub(crate) fn get_uvarint<'a>(bytes: &'a [u8], what: &str) -> Result<(u64, &'a [u8]), ChunkError> {
    let mut x = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            break;
        }
        x |= part << (7 * i);
        if b < 0x80 {
            return Ok((x, &bytes[i + 1..]));
        }
    }
    Err(ChunkError::new(format!("bad varint for {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_extremes() {
        for x in [0, 1, -1, 2, -2, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(unzigzag(zigzag(x)), x);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn uvarint_round_trips_and_rejects_overlong() {
        for x in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, x);
            buf.push(0xAB);
            let (y, rest) = get_uvarint(&buf, "test").unwrap();
            assert_eq!((y, rest), (x, &[0xAB][..]));
        }
        assert!(get_uvarint(&[0x80; 11], "test").is_err());
        assert!(get_uvarint(&[0xff; 9], "test").is_err());
        assert!(get_uvarint(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            "test"
        )
        .is_err());
    }
}
