//! Retention: whole blocks whose newest sample is older than the retention period are
//! dropped; nothing is ever rewritten to remove samples.

use crate::block::Block;
use std::sync::Arc;
use std::time::Duration;

/// The blocks entirely older than `now_ms - retention`.
pub fn expired(blocks: &[Arc<Block>], now_ms: i64, retention: Duration) -> Vec<Arc<Block>> {
    let cutoff = now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    blocks
        .iter()
        .filter(|b| b.meta().max_t < cutoff)
        .cloned()
        .collect()
}
