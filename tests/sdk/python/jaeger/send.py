"""Sends spans through one of the legacy exporters: jaeger-thrift-udp, jaeger-thrift-http, jaeger-grpc,
zipkin-json, zipkin-proto. Usage: send.py EXPORTER HOST PORT SERVICE [OTLP_TRACES_URL]

Without OTLP_TRACES_URL: two spans (a SERVER parent with an error status and an event, a CLIENT child
with status OK). With it: the same two spans and three more (an INTERNAL span with a link, a double,
an array and an event with a timestamp; a PRODUCER and a CONSUMER span without a status), exported
both through the legacy exporter and through the OTLP/HTTP exporter to OTLP_TRACES_URL, so that the
receiver's translation can be compared field by field with what the same app sends as OTLP."""
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

kind, host, port, service = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
otlp_url = sys.argv[5] if len(sys.argv) > 5 else None
if kind == "jaeger-thrift-udp":
    from opentelemetry.exporter.jaeger.thrift import JaegerExporter
    exporter = JaegerExporter(agent_host_name=host, agent_port=port, udp_split_oversized_batches=True)
elif kind == "jaeger-thrift-http":
    from opentelemetry.exporter.jaeger.thrift import JaegerExporter
    exporter = JaegerExporter(collector_endpoint=f"http://{host}:{port}/api/traces")
elif kind == "jaeger-grpc":
    from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter
    exporter = JaegerExporter(collector_endpoint=f"{host}:{port}", insecure=True)
elif kind == "zipkin-json":
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    exporter = ZipkinExporter(endpoint=f"http://{host}:{port}/api/v2/spans")
elif kind == "zipkin-proto":
    from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter
    exporter = ZipkinExporter(endpoint=f"http://{host}:{port}/api/v2/spans")
else:
    raise SystemExit(f"unknown exporter {kind}")

attrs = {"service.name": service}
if otlp_url:
    attrs["deployment.environment"] = "test"
    attrs["host.name"] = "parity-host"
provider = TracerProvider(resource=Resource.create(attrs))
provider.add_span_processor(SimpleSpanProcessor(exporter))
if otlp_url:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=otlp_url)))
tracer = provider.get_tracer("legacy-test", "1.2.3")
with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
    parent.set_attribute("s", "text")
    parent.set_attribute("i", 42)
    parent.set_attribute("b", True)
    parent.add_event("ev", {"k": "v"})
    with tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
        child.set_status(Status(StatusCode.OK))
    parent.set_status(Status(StatusCode.ERROR, "boom"))
    if otlp_url:
        linked = child.get_span_context()
        with tracer.start_as_current_span(
            "internal", kind=SpanKind.INTERNAL, links=[Link(linked, {"link.attr": "x"})]
        ) as internal:
            internal.set_attribute("d", 1.5)
            internal.set_attribute("arr", ["a", "b"])
            internal.add_event("second", {"n": 7}, timestamp=time.time_ns() - 1_000_000)
        with tracer.start_as_current_span("send", kind=SpanKind.PRODUCER):
            pass
        with tracer.start_as_current_span("receive", kind=SpanKind.CONSUMER):
            pass
provider.shutdown()
