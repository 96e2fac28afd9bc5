pub mod live;
pub mod markdown;
pub mod theme;
pub use live::{run_live, run_open};
