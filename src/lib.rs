//! sinkwatch: a live terminal monitor that *is* an Allstar AlertSink.
//!
//! Data flows one way: network (`sink`) → `hub` (the single owner of the
//! `model::Store`) → consumers (TUI, headless printer, recorder, forwarders).

pub mod proto {
    //! Code generated from `proto/alertsink.proto` (no package: `/AlertSink/Alert`).
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/_.rs"));

    /// Encoded descriptor set for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/alertsink_descriptor.bin"));
}

pub mod model;
pub mod sanitize;
pub mod ui;
pub mod hub;
pub mod sink;
pub mod record;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod logging;
pub mod run;
pub mod forward;
