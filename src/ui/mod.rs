pub mod export;
pub mod fmt;
#[cfg(any(test, feature = "test-support"))]
pub mod harness;
pub mod index;
pub mod input;
pub mod keymap;
pub mod lists;
pub mod live;
pub mod markdown;
pub mod state;
pub mod theme;
pub mod view;
pub use live::{Extras, Opened, prepare_open, run_live, run_open};
