pub mod app;
pub mod fmt;
#[cfg(any(test, feature = "test-support"))]
pub mod harness;
pub mod help;
pub mod index;
pub mod keymap;
pub mod lists;
pub mod live;
pub mod markdown;
pub mod refusals;
pub mod render;
pub mod theme;
pub use live::{Extras, run_live, run_open};
