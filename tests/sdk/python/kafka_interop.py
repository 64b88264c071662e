"""Interop with the `kafka` components through an independent client (confluent-kafka, librdkafka's
Python binding, and opentelemetry-proto's generated messages).

  kafka_interop.py consume BROKER TOPIC COUNT   reads until COUNT spans arrived (or 60 s); prints one
                                                JSON object per message: partition, key, span names,
                                                service.name
  kafka_interop.py produce BROKER TOPIC PREFIX N MESSAGES
                                                writes MESSAGES export requests of N spans each,
                                                named PREFIX-<i>, and waits for every delivery report
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def consume(broker, topic, count):
    c = Consumer({
        "bootstrap.servers": broker,
        "group.id": "interop-check",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
    })
    c.subscribe([topic])
    seen = 0
    deadline = time.time() + 60
    while seen < count and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        req = ExportTraceServiceRequest()
        req.ParseFromString(m.value())
        names = []
        services = []
        for rs in req.resource_spans:
            for kv in rs.resource.attributes:
                if kv.key == "service.name":
                    services.append(kv.value.string_value)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    names.append(s.name)
                    assert len(s.trace_id) == 16 and len(s.span_id) == 8
        seen += len(names)
        print(json.dumps({
            "partition": m.partition(),
            "key": (m.key() or b"").decode("latin-1"),
            "names": names,
            "services": services,
        }), flush=True)
    c.close()


def produce(broker, topic, prefix, n, messages):
    p = Producer({"bootstrap.servers": broker, "acks": "all"})
    failed = []
    for m in range(messages):
        spans = [Span(
            trace_id=(m * n + i + 1).to_bytes(16, "big"),
            span_id=(m * n + i + 1).to_bytes(8, "big"),
            name=f"{prefix}-{m * n + i}",
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_000_000_000_100,
        ) for i in range(n)]
        req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
            resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="python-interop"))]),
            scope_spans=[ScopeSpans(spans=spans)],
        )])
        p.produce(topic, value=req.SerializeToString(),
                  on_delivery=lambda err, msg: err and failed.append(str(err)))
    left = p.flush(30)
    if left or failed:
        sys.exit(f"not delivered: {left} left, errors {failed}")


if __name__ == "__main__":
    if sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
