//! Connectors: components that are an exporter at the end of one pipeline and a receiver at the
//! start of others (otelcol's `connectors:` section). Each lives in its own folder and implements
//! [`crate::component::ConnectorFactory`].

pub mod forward;
