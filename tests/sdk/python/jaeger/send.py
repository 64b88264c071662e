"""Sends two spans (a SERVER parent with an error status and an event, a CLIENT child with status OK)
through one of the legacy exporters: jaeger-thrift-udp, jaeger-thrift-http, jaeger-grpc,
zipkin-json, zipkin-proto. Usage: send.py EXPORTER HOST PORT SERVICE"""
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

kind, host, port, service = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
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

provider = TracerProvider(resource=Resource.create({"service.name": service}))
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("legacy-test", "1.2.3")
with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
    parent.set_attribute("s", "text")
    parent.set_attribute("i", 42)
    parent.set_attribute("b", True)
    parent.add_event("ev", {"k": "v"})
    with tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
        child.set_status(Status(StatusCode.OK))
    parent.set_status(Status(StatusCode.ERROR, "boom"))
provider.shutdown()
