//! The pure model: no I/O, no tokio, no ratatui. Unit-tested directly.

pub mod alert;
pub mod filter;
pub mod intern;
pub mod rollout;
pub mod silence;
pub mod store;
pub mod timeline;

pub use alert::Change;
pub use store::{
    AlertRecord, Event, KeyId, KeyState, NO_KEY, NewAlert, Peer, Store, StoreError, StoreLimits,
    Tally,
};
