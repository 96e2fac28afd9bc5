//! The keys a filtered viewer has been sent an alert of, one bit per key
//! id. Once a viewer shows a key, every change of the key's status is sent
//! to it, whatever its filter says of that alert: otherwise a viewer of
//! `--filter 'check failed'` kept a key failing for ever once its failure
//! was worded otherwise before the fix (a user's review).
//!
//! Bounded by the store's key cap: a bit per key id up to the highest it
//! was sent, in a vector that grows by doubling, so at most `max_keys / 4`
//! bytes per filtered viewer (500 KB at the default 2,000,000 keys).

use std::sync::Arc;

use crate::hub::Hub;
use crate::model::KeyId;

#[derive(Default)]
pub struct Shown {
    bits: Vec<u64>,
    /// For a stream that resumed: where to read the alert before a change
    /// (see `super::before_may_have_matched`). None: the viewer holds only
    /// what this stream sends it (a fresh subscription), so these are all
    /// the keys it shows.
    resumed: Option<Arc<Hub>>,
}

impl Shown {
    pub fn fresh() -> Shown {
        Shown::default()
    }

    pub fn resumed(hub: Arc<Hub>) -> Shown {
        Shown {
            bits: Vec::new(),
            resumed: Some(hub),
        }
    }

    /// Whether the viewer holds only what this stream sent it.
    pub fn is_whole(&self) -> bool {
        self.resumed.is_none()
    }

    /// The details of the alert before the change `seq`, for a resumed
    /// stream, while the sink's history holds them.
    pub fn details_before(&self, seq: u64) -> Option<Arc<str>> {
        self.resumed.as_ref()?.read(|s| s.details_before(seq))
    }

    pub fn has(&self, key: KeyId) -> bool {
        let (word, bit) = (key as usize / 64, key % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    pub fn add(&mut self, key: KeyId) {
        let (word, bit) = (key as usize / 64, key % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << bit;
    }

    /// What it holds, in bytes.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bits.capacity() * std::mem::size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_keys_added_and_no_other() {
        let mut s = Shown::default();
        assert!(!s.has(0));
        for k in [0, 63, 64, 1_000, 1_999_999] {
            s.add(k);
        }
        for k in [0, 63, 64, 1_000, 1_999_999] {
            assert!(s.has(k), "{k}");
        }
        for k in [1, 62, 65, 999, 1_001, 1_999_998, KeyId::MAX] {
            assert!(!s.has(k), "{k}");
        }
        // One bit per key id up to the highest.
        assert!(s.bytes() <= 2_000_000 / 4, "{}", s.bytes());
    }
}
