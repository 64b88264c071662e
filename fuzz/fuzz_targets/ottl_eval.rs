//! `filter` and `transform` on arbitrary decoded data: the input is an OTLP trace or log request;
//! statements touching every kind of path and converter run on it without a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use ferrotel::pipeline::{ConsumeError, Consumer};
use ferrotel::processors::{filter, transform};
use ferrotel::signal::{Batch, Logs, Signal, Traces};
use libfuzzer_sys::fuzz_target;

struct Discard;

#[async_trait::async_trait]
impl<S: Signal> Consumer<S> for Discard {
    async fn consume(&self, _batch: Batch<S>) -> Result<(), ConsumeError> {
        Ok(())
    }
}

const TRANSFORM: &str = r#"
error_mode: ignore
trace_statements:
  - set(span.attributes["n"], Concat([span.name, String(span.kind), span.trace_id.string], "/"))
  - replace_pattern(span.name, "(\\d+)", "<$1>", SHA256, "h%s")
  - set(span.attributes["len"], Len(span.name) * 2 - 1) where IsMatch(span.name, "^a")
  - flatten(span.attributes, depth = 2)
  - truncate_all(span.attributes, 3)
  - limit(span.attributes, 2, [])
  - set(spanevent.attributes["p"], Substring(span.name, 1, 2))
  - set(span.end_time, span.start_time + Duration("1s"))
  - merge_maps(resource.attributes, ParseJSON(span.name), "upsert") where HasPrefix(span.name, "{")
  - set(span.attributes["t"], UnixNano(Time(span.name, "%Y-%m-%d %H:%M:%S%z %Z")))
  - set(span.trace_state["k"], span.name) where span.trace_state["k"] == nil
log_statements:
  - set(log.attributes["kv"], ParseKeyValue(log.body.string))
  - set(log.body, ParseJSON(log.body.string)) where IsMatch(log.body.string, "^\\[")
  - set(log.attributes["x"], log.body[0]) where IsList(log.body)
  - set(log.severity_text, Format("%s-%d", [log.severity_text, log.severity_number]))
  - set(log.trace_id.string, log.body.string)
"#;

const FILTER: &str = r#"
error_mode: silent
trace_conditions:
  - 'span.attributes["len"] > 5 or Int(span.attributes["n"]) == 0'
  - 'spanevent.name == "drop"'
  - 'resource.attributes["drop"] != nil'
log_conditions:
  - 'log.severity_number < SEVERITY_NUMBER_INFO and Double(log.body) > 1.5'
"#;

fn procs() -> &'static (Arc<transform::Rules>, Arc<filter::Rules>) {
    static P: OnceLock<(Arc<transform::Rules>, Arc<filter::Rules>)> = OnceLock::new();
    P.get_or_init(|| {
        (
            Arc::new(transform::Rules::prepare(&serde_yaml::from_str(TRANSFORM).unwrap(), "t").unwrap()),
            Arc::new(filter::Rules::prepare(&serde_yaml::from_str(FILTER).unwrap(), "f").unwrap()),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (t, f) = procs();
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok(mut b) = Batch::<Traces>::from_encoded(bytes.clone()) {
        let _ = transform::TransformProcessor::<Traces>::new(t.clone(), "t", Arc::new(Discard)).process(&mut b);
        let _ = filter::FilterProcessor::<Traces>::new(f.clone(), "f", Arc::new(Discard)).process(&mut b);
    }
    if let Ok(mut b) = Batch::<Logs>::from_encoded(bytes) {
        let _ = transform::TransformProcessor::<Logs>::new(t.clone(), "t", Arc::new(Discard)).process(&mut b);
        let _ = filter::FilterProcessor::<Logs>::new(f.clone(), "f", Arc::new(Discard)).process(&mut b);
    }
});
