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

    /// The Watch service for remote viewers (`proto/sinkwatch/v1/watch.proto`).
    pub mod watch {
        #![allow(clippy::all, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/sinkwatch.v1.rs"));
    }

    pub mod wire;
}

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod files;
pub mod forward;
pub mod grpc;
pub mod hub;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod numbers;
pub mod record;
pub mod run;
pub mod sanitize;
pub mod shutdown;
pub mod sink;
pub mod state;
pub mod suggest;
pub mod ui;
