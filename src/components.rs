//! The one list where every component is registered. It imports every component; no component
//! imports it (they use the model in [`crate::component`]).
//!
//! Adding a component: a module under `receivers/`, `processors/`, `exporters/`, `extensions/` or
//! `connectors/` with a factory, and one line in the matching list below.

use crate::component::{
    ConnectorFactory, ExporterFactory, ExtensionFactory, ProcessorFactory, ReceiverFactory,
    Registry,
};

/// The components built into this binary.
pub fn builtin() -> Registry {
    Registry {
        receivers: receivers(),
        processors: processors(),
        exporters: exporters(),
        extensions: extensions(),
        connectors: connectors(),
    }
}

pub fn receivers() -> Vec<Box<dyn ReceiverFactory>> {
    vec![
        Box::new(crate::receivers::filelog::Factory),
        Box::new(crate::receivers::hostmetrics::Factory),
        Box::new(crate::receivers::jaeger::Factory),
        #[cfg(feature = "kafka")]
        Box::new(crate::receivers::kafka::Factory),
        Box::new(crate::receivers::otlp::Factory),
        Box::new(crate::receivers::prometheus::Factory),
        Box::new(crate::receivers::zipkin::Factory),
    ]
}

pub fn processors() -> Vec<Box<dyn ProcessorFactory>> {
    vec![
        Box::new(crate::processors::attributes::Factory),
        Box::new(crate::processors::batch::Factory),
        Box::new(crate::processors::filter::Factory),
        Box::new(crate::processors::memory_limiter::Factory),
        Box::new(crate::processors::probabilistic_sampler::Factory),
        Box::new(crate::processors::resource::Factory),
        Box::new(crate::processors::resourcedetection::Factory),
        Box::new(crate::processors::transform::Factory),
        Box::new(crate::processors::tail_sampling::Factory),
    ]
}

pub fn exporters() -> Vec<Box<dyn ExporterFactory>> {
    vec![
        Box::new(crate::exporters::debug::Factory),
        #[cfg(feature = "kafka")]
        Box::new(crate::exporters::kafka::Factory),
        Box::new(crate::exporters::otlp_grpc::Factory),
        Box::new(crate::exporters::loadbalancing::Factory::new(
            crate::exporters::otlp_grpc::Factory,
        )),
        Box::new(crate::exporters::otlp_http::Factory),
        Box::new(crate::exporters::prometheus::Factory),
        Box::new(crate::exporters::prometheusremotewrite::Factory),
    ]
}

pub fn extensions() -> Vec<Box<dyn ExtensionFactory>> {
    vec![
        Box::new(crate::extensions::basicauth::Factory),
        Box::new(crate::extensions::bearertokenauth::Factory),
        Box::new(crate::extensions::headers_setter::Factory),
        Box::new(crate::extensions::file_storage::Factory),
        Box::new(crate::extensions::health_check::Factory),
    ]
}

pub fn connectors() -> Vec<Box<dyn ConnectorFactory>> {
    vec![
        Box::new(crate::connectors::count::Factory),
        Box::new(crate::connectors::forward::Factory),
        Box::new(crate::connectors::routing::Factory),
        Box::new(crate::connectors::spanmetrics::Factory),
    ]
}
