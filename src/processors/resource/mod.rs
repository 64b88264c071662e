//! The `resource` processor: otelcol's attribute actions on resource attributes, listed under
//! `attributes:`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, BuildFor, ConsumeError, Consumer};
use crate::processors::attraction::{ActionConfig, Actions, HasResource};
use crate::signal::{Batch, SignalKind};
use opentelemetry_proto::tonic::resource::v1::Resource;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The actions, applied in order to each resource's attributes. Required.
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
}

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "resource"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        Ok(Arc::new(Prepared(Arc::new(prepare(cfg, path)?))))
    }
}

pub fn prepare(cfg: &Value, path: &str) -> ConfigResult<Actions> {
    let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
    if c.attributes.is_empty() {
        return Err(vec![ConfigError::new(
            format!("{path}::attributes"),
            "missing required field \"attributes\": at least one action is needed",
        )]);
    }
    Actions::compile(&c.attributes, &format!("{path}::attributes"))
}

pub struct Prepared(pub Arc<Actions>);

impl PreparedProcessor for Prepared {
    fn create(
        &self,
        _id: &ComponentId,
        _pipeline: &str,
        next: AnyConsumer,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        Ok(next.wrap(self))
    }
}

impl<S: HasResource> BuildFor<S> for Prepared {
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>> {
        Arc::new(ResourceProcessor::new(self.0.clone(), next))
    }
}

pub struct ResourceProcessor<S: HasResource> {
    actions: Arc<Actions>,
    next: Arc<dyn Consumer<S>>,
}

impl<S: HasResource> ResourceProcessor<S> {
    pub fn new(actions: Arc<Actions>, next: Arc<dyn Consumer<S>>) -> Self {
        ResourceProcessor { actions, next }
    }

    /// Edits only the resources: an encoded batch stays encoded (its spans, points or records are
    /// copied as bytes, never decoded).
    pub fn process(&self, batch: &mut Batch<S>) -> Result<(), ConsumeError> {
        let md = batch.metadata.clone();
        let mut edit = |slot: &mut Option<Resource>| {
            let had = slot.is_some();
            let res = slot.get_or_insert_with(Default::default);
            self.actions.apply(&mut res.attributes, md.as_deref());
            // Leave an absent resource absent when nothing was added to it.
            if !had && res.attributes.is_empty() && res.dropped_attributes_count == 0 {
                *slot = None;
            }
        };
        if batch.edit_encoded_resources(&mut edit)? {
            return Ok(());
        }
        for r in batch.resources_mut()? {
            edit(S::resource_mut(r));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: HasResource> Consumer<S> for ResourceProcessor<S> {
    async fn consume(&self, mut batch: Batch<S>) -> Result<(), ConsumeError> {
        self.process(&mut batch)?;
        self.next.consume(batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::attraction::testutil::{attrs, s};
    use crate::processors::testutil::Capture;
    use crate::signal::ClientMetadata;
    use crate::signal::{Logs, Metrics, Traces};
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

    fn actions(yaml: &str) -> Arc<Actions> {
        Arc::new(prepare(&serde_yaml::from_str(yaml).unwrap(), "processors::resource").unwrap())
    }

    fn both<S: crate::signal::Signal>(b: Batch<S>) -> [(bool, Batch<S>); 2] {
        let e = Batch::from_encoded(b.encode_to_bytes()).unwrap();
        [(false, b), (true, e)]
    }

    fn res(a: &[(&str, &str)]) -> Option<Resource> {
        Some(Resource {
            attributes: attrs(a),
            ..Default::default()
        })
    }

    /// otelcol's resource processor README example, and each action, on each signal.
    #[test]
    fn actions_on_resources_of_every_signal() {
        let a = actions(
            r#"
attributes:
  - key: cloud.availability_zone
    value: "zone-1"
    action: upsert
  - key: k8s.cluster.name
    from_attribute: k8s-cluster
    action: insert
  - key: redundant-attribute
    action: delete
  - {key: host.id, action: hash}
  - {key: image, pattern: '^(?P<image_name>[^:]+):(?P<image_tag>.+)$', action: extract}
  - {key: pid, action: convert, converted_type: int}
  - {key: tenant, from_context: metadata.x-tenant, action: upsert}
"#,
        );
        let input = res(&[
            ("k8s-cluster", "prod-1"),
            ("redundant-attribute", "x"),
            ("host.id", "foo"),
            ("image", "nginx:1.25"),
            ("pid", "'42'"),
        ]);
        // The deleted attribute's slot is taken by the last one, as pdata does.
        let want = res(&[
            ("k8s-cluster", "prod-1"),
            ("k8s.cluster.name", "prod-1"),
            (
                "host.id",
                "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            ),
            ("image", "nginx:1.25"),
            ("pid", "42"),
            ("cloud.availability_zone", "zone-1"),
            ("image_name", "nginx"),
            ("image_tag", "'1.25'"),
            ("tenant", "acme"),
        ]);
        let md = Some(Arc::new(ClientMetadata {
            entries: vec![("x-tenant".into(), "acme".into())],
            address: None,
        }));

        let p = ResourceProcessor::<Traces>::new(a.clone(), Arc::new(Capture::default()));
        // Decoded, and still encoded: the encoded batch is edited in its bytes and stays encoded.
        for (encoded, b) in both(Batch::<Traces>::from_resources(vec![ResourceSpans {
            resource: input.clone(),
            ..Default::default()
        }])) {
            let mut b = b.with_metadata(md.clone());
            p.process(&mut b).unwrap();
            assert_eq!(b.is_encoded(), encoded, "traces");
            assert_eq!(b.resources().unwrap()[0].resource, want, "traces");
        }

        let p = ResourceProcessor::<Metrics>::new(a.clone(), Arc::new(Capture::default()));
        // Decoded, and still encoded: the encoded batch is edited in its bytes and stays encoded.
        for (encoded, b) in both(Batch::<Metrics>::from_resources(vec![ResourceMetrics {
            resource: input.clone(),
            ..Default::default()
        }])) {
            let mut b = b.with_metadata(md.clone());
            p.process(&mut b).unwrap();
            assert_eq!(b.is_encoded(), encoded, "metrics");
            assert_eq!(b.resources().unwrap()[0].resource, want, "metrics");
        }

        let p = ResourceProcessor::<Logs>::new(a, Arc::new(Capture::default()));
        // Decoded, and still encoded: the encoded batch is edited in its bytes and stays encoded.
        for (encoded, b) in both(Batch::<Logs>::from_resources(vec![ResourceLogs {
            resource: input.clone(),
            ..Default::default()
        }])) {
            let mut b = b.with_metadata(md.clone());
            p.process(&mut b).unwrap();
            assert_eq!(b.is_encoded(), encoded, "logs");
            assert_eq!(b.resources().unwrap()[0].resource, want, "logs");
        }
    }

    #[test]
    fn a_missing_resource_is_created_only_when_something_is_added() {
        let p = ResourceProcessor::<Traces>::new(
            actions("attributes: [{key: env, value: prod, action: insert}]"),
            Arc::new(Capture::default()),
        );
        let [_, (_, mut e)] = both(Batch::<Traces>::from_resources(vec![
            ResourceSpans::default(),
        ]));
        p.process(&mut e).unwrap();
        assert!(e.is_encoded());
        let mut b = Batch::<Traces>::from_resources(vec![ResourceSpans::default()]);
        p.process(&mut b).unwrap();
        assert_eq!(e.resources().unwrap(), b.resources().unwrap());
        assert_eq!(
            b.resources().unwrap()[0]
                .resource
                .as_ref()
                .unwrap()
                .attributes,
            vec![KeyValue {
                key: "env".into(),
                value: s("prod"),
                ..Default::default()
            }]
        );
        let p = ResourceProcessor::<Traces>::new(
            actions("attributes: [{key: env, action: delete}]"),
            Arc::new(Capture::default()),
        );
        let mut b = Batch::<Traces>::from_resources(vec![ResourceSpans::default()]);
        p.process(&mut b).unwrap();
        assert_eq!(b.resources().unwrap()[0].resource, None);
    }

    #[test]
    fn config_errors() {
        let err = |y: &str| {
            prepare(&serde_yaml::from_str(y).unwrap(), "processors::resource")
                .unwrap_err()
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(err("{}").contains("processors::resource::attributes: missing required field"));
        assert!(err("attributes: [{key: a, action: upsert}]")
            .contains("processors::resource::attributes::0::value"));
        assert!(err("actions: []").contains("unknown key \"actions\""));
    }
}
