//! Exporters: where data leaves ferrotel. Each network exporter is a [`helper::Sender`] behind the
//! shared queue → retry → timeout stack in [`helper`].

pub mod debug;
pub mod helper;
pub mod loadbalancing;
pub mod otlp_grpc;
pub mod otlp_http;
