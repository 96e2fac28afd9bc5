//! Clients of an AlertSink: `send`, the `load` generator, `--demo` traffic
//! and `replay`. They speak the contract generated from
//! `proto/alertsink.proto`, like any other client would, over the transport
//! in `grpc/`.

pub mod attach;
pub mod demo;
pub mod load;
pub mod replay;
