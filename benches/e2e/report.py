#!/usr/bin/env python3
"""Result rows, the median table, and the README update for benches/e2e/run.sh.

  report.py row --collector C --scenario S --signal SIG --repeat N --cpu-s X --peak-rss-kb K \
                --report send.json --stats sink.json          -> one JSON line
  report.py table results.jsonl --date D --machine M ...     -> Markdown table with medians
  report.py readme README.md table.md                         -> replaces the text between the markers
"""
import argparse
import json
import statistics
import sys

BEGIN, END = "<!-- e2e-results:begin -->", "<!-- e2e-results:end -->"
SCENARIOS = {
    "1": "1 traces gRPC→gRPC, fixed rate",
    "2": "2 traces HTTP→HTTP (protobuf), fixed rate",
    "3": "3 traces gRPC→gRPC, max throughput, collector on 1 core",
    "4": "4 {signal} gRPC→gRPC, fixed rate",
    "d1": "d1 traces gRPC→gRPC, fixed rate, exporter defaults (gzip)",
    "d2": "d2 traces HTTP→HTTP (protobuf), fixed rate, exporter defaults (gzip)",
    "d3": "d3 traces gRPC→gRPC, max throughput, collector on 1 core, exporter defaults (gzip)",
    "c-none": "c otlp_http compression none",
    "c-gzip1": "c otlp_http gzip, level 1",
    "c-gzip6": "c otlp_http gzip, level 6 (default)",
    "c-gzip9": "c otlp_http gzip, level 9",
    "c-zstd": "c otlp_http zstd",
    "c-snappy": "c otlp_http snappy",
    "c-x-snappy-framed": "c otlp_http x-snappy-framed",
    "c-lz4": "c otlp_http lz4",
    "cg-snappy": "cg otlp_grpc snappy",
    "lat": "lat traces gRPC→gRPC, no batching, exporter defaults",
    "p-pass": "p pass-through (batch only)",
    "p-attributes": "p attributes (insert + delete)",
    "p-resource": "p resource (upsert)",
    "p-resourcedetection": "p resourcedetection (env, system)",
    "p-pq": "p persistent queue (file_storage)",
    "p-json": "p OTLP/HTTP JSON in → otlp_http JSON out",
}
ORDER = ["1", "2", "3", "4", "d1", "d2", "d3", "lat", "c-none", "c-gzip1", "c-gzip6", "c-gzip9",
         "c-zstd", "c-snappy", "c-x-snappy-framed", "c-lz4", "cg-snappy", "p-pass", "p-attributes", "p-resource",
         "p-resourcedetection", "p-pq", "p-json"]
# The row a ferrotel-only scenario's CPU per item is compared with.
BASELINE = {"c-": "c-none", "cg": "p-pass", "p-": "p-pass", "p-json": "c-none"}


def baseline_of(sc):
    if sc in BASELINE:
        return BASELINE[sc]
    return BASELINE.get(sc[:2])


def row(a):
    r = json.load(open(a.report))
    st = json.load(open(a.stats))
    not_accepted = r["items_refused"] + r["items_failed"] + r["items_rejected"]
    delivered = st["unique"]
    first, last = st.get("first_received_unix_ms") or 0, st.get("last_received_unix_ms") or 0
    out = {
        "collector": a.collector,
        "scenario": a.scenario,
        "signal": a.signal,
        "repeat": a.repeat,
        "cpu_s": a.cpu_s,
        "peak_rss_mb": a.peak_rss_kb / 1024,
        "sent": r["items_sent"],
        "accepted": r["items_accepted"],
        "refused": not_accepted,
        "delivered": delivered,
        "duplicates": st["duplicates"],
        # Acknowledged by the collector but never delivered (refusals are the sender's to retry).
        "missing": max((st.get("missing_in_range") or 0) - not_accepted, 0),
        "cpu_s_per_million": a.cpu_s / delivered * 1e6 if delivered else None,
        "cpu_util": a.cpu_s / r["elapsed_s"],
        # Items per CPU-second: the rate one fully busy core would reach at this cost per item.
        "per_cpu_s": delivered / a.cpu_s if a.cpu_s > 0 else None,
        # Output rate as the sink saw it, from its first to its last arrival.
        "rate": delivered / ((last - first) / 1000) if last > first else 0,
        "offered_rate": r["offered_rate"],
        "p50_ms": r["latency_ms"]["p50"],
        "p99_ms": r["latency_ms"]["p99"],
    }
    print(json.dumps(out))


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=2):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def order_key(k):
    sc, sig = k
    return (ORDER.index(sc) if sc in ORDER else len(ORDER), sc, sig)


def table(a):
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    idle = [r for r in rows if r["scenario"] == "idle"]
    size = [r for r in rows if r["scenario"] == "size"]
    rows = [r for r in rows if r["scenario"] not in ("idle", "size")]
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["signal"]), {}).setdefault(r["collector"], []).append(r)
    out = []
    out.append(f"Measured {a.date} on {a.machine}, commit {a.commit}, load average {a.load} at the end "
               f"(the machine is shared with other builds: read ratios, not absolute figures). "
               f"Median of {a.repeats} runs per row; missing and duplicated items are totals over all runs. "
               f"Fixed rate {int(float(a.rate)):,} items/s for {a.duration} s (latency scenario "
               f"{int(float(a.latency_rate)):,} items/s); max-throughput runs {a.max_duration} s with 8 "
               f"connections. 100 items per request, 10 attributes per item. Exporter compression: none "
               f"in scenarios 1–4 and p-* (except as named), each collector's default (gzip; ferrotel at "
               f"level 6, as otelcol) in d* and lat, as named in c-*. Batching: {a.batching}; none in lat.")
    out.append("")
    out.append("| scenario | collector | CPU s / M items | peak RSS MB | items/s | CPU use | "
               "p50 ms | p99 ms | missing | dup | refused | ratio: CPU per item, RSS, items/s |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    summary = {}
    for (sc, sig), cols in sorted(groups.items(), key=lambda kv: order_key(kv[0])):
        meds = {}
        for c in ("ferrotel", "rotel", "otelcol", "direct"):
            if c not in cols:
                continue
            rs = cols[c]
            m = {k: med(rs, k) for k in ("cpu_s_per_million", "peak_rss_mb", "rate", "cpu_util",
                                         "p50_ms", "p99_ms", "per_cpu_s")}
            m["missing"] = sum(r["missing"] for r in rs)
            m["duplicates"] = sum(r["duplicates"] for r in rs)
            m["refused"] = sum(r["refused"] for r in rs)
            meds[c] = m
        summary[(sc, sig)] = meds
    for (sc, sig), meds in sorted(summary.items(), key=lambda kv: order_key(kv[0])):
        name = SCENARIOS.get(sc, sc).format(signal=sig)
        for c, m in meds.items():
            ratio = ""
            if c == "ferrotel" and "rotel" in meds:
                p = meds["rotel"]
                parts = []
                for k in ("cpu_s_per_million", "peak_rss_mb", "rate"):
                    parts.append(f"{m[k] / p[k]:.2f}×" if m[k] and p[k] else "–")
                ratio = "vs rotel " + ", ".join(parts)
            elif c == "ferrotel" and baseline_of(sc) and baseline_of(sc) != sc:
                base = summary.get((baseline_of(sc), sig), {}).get("ferrotel")
                if base and base["cpu_s_per_million"] and m["cpu_s_per_million"]:
                    ratio = f"CPU {m['cpu_s_per_million'] / base['cpu_s_per_million']:.2f}× {baseline_of(sc)}"
            elif c == "direct":
                ratio = "loadgen → sink, no collector"
            cpu = m["cpu_s_per_million"] if c != "direct" else None
            util = m["cpu_util"] * 100 if m["cpu_util"] is not None and c != "direct" else None
            out.append(f"| {name} | {c} | {fmt(cpu)} | {fmt(m['peak_rss_mb'] if c != 'direct' else None, 1)} | "
                       f"{fmt(m['rate'])} | {fmt(util, 0)}% | {fmt(m['p50_ms'])} | "
                       f"{fmt(m['p99_ms'])} | {m['missing']} | {m['duplicates']} | {m['refused']} | {ratio} |")
    out.append("")
    idle_med = {}
    for c in ("ferrotel", "rotel"):
        vals = [r["idle_rss_mb"] for r in idle if r["collector"] == c]
        if vals:
            idle_med[c] = statistics.median(vals)
    if idle_med:
        out.append("Idle RSS 3 s after start, three default pipelines (otlp → batch → otlp_grpc for traces, "
                   "metrics, logs), no load: " +
                   ", ".join(f"{c} {v:.1f} MiB" for c, v in idle_med.items()) + ".")
    if size:
        out.append(f"Stripped `ferrotel` binary (cargo profile `{size[-1]['profile']}`): "
                   f"{size[-1]['stripped_mb']:.1f} MiB.")
    out.append("")
    out.append(a.note)
    out.append("")
    goals = []

    def cpu_ratio(sc):
        s_ = summary.get((sc, "traces"), {})
        if "ferrotel" in s_ and "rotel" in s_ and s_["rotel"]["cpu_s_per_million"]:
            return s_["ferrotel"]["cpu_s_per_million"] / s_["rotel"]["cpu_s_per_million"]
        return None

    s1 = summary.get(("1", "traces"), {})
    if "ferrotel" in s1 and "rotel" in s1:
        f, p = s1["ferrotel"], s1["rotel"]
        r = cpu_ratio("1")
        if r is not None:
            goals.append(f"- (#6) Scenario 1 CPU per span ≤ 0.5× rotel's: **{r:.2f}×**, "
                         f"{'met' if r <= 0.5 else 'missed'}.")
        r = f["peak_rss_mb"] / p["peak_rss_mb"]
        goals.append(f"- (#6) Scenario 1 peak RSS ≤ rotel's: **{r:.2f}×**, {'met' if r <= 1 else 'missed'}.")
    for sc in ("d1", "d2"):
        s_ = summary.get((sc, "traces"), {})
        if "ferrotel" in s_ and "rotel" in s_:
            f, p = s_["ferrotel"], s_["rotel"]
            r = cpu_ratio(sc)
            if r is not None:
                goals.append(f"- (#11) {sc} defaults: CPU per span ≤ 0.25× rotel's: **{r:.2f}×** "
                             f"({fmt(f['cpu_s_per_million'])} vs {fmt(p['cpu_s_per_million'])} CPU-s per M), "
                             f"{'met' if r <= 0.25 else 'missed'}.")
            rr = f["peak_rss_mb"] / p["peak_rss_mb"] if p["peak_rss_mb"] else 0
            goals.append(f"- (#11) {sc} defaults: peak RSS ≤ 0.5× rotel's: **{rr:.2f}×**, "
                         f"{'met' if rr <= 0.5 else 'missed'}; missing **{f['missing']}**.")
    g6 = summary.get(("c-gzip6", "traces"), {}).get("ferrotel")
    g0 = summary.get(("c-none", "traces"), {}).get("ferrotel")
    if g6 and g0 and g0["cpu_s_per_million"]:
        r = g6["cpu_s_per_million"] / g0["cpu_s_per_million"]
        goals.append(f"- (#11) gzip at the default level ≤ 2× the uncompressed row's CPU: **{r:.2f}×**, "
                     f"{'met' if r <= 2 else 'missed'}.")
    for sc, want in (("3", None), ("d3", 3.0)):
        s_ = summary.get((sc, "traces"), {})
        if "ferrotel" in s_ and "rotel" in s_ and s_["rotel"]["rate"]:
            f, p = s_["ferrotel"], s_["rotel"]
            measured = f["rate"] / p["rate"]
            cap = f["per_cpu_s"] / p["per_cpu_s"] if f["per_cpu_s"] and p["per_cpu_s"] else 0
            limit = ("both collectors kept their core busy" if all((x["cpu_util"] or 0) >= 0.9 for x in (f, p))
                     else f"the collector cores were not both saturated (ferrotel {f['cpu_util'] * 100:.0f}%, "
                          f"rotel {p['cpu_util'] * 100:.0f}%): the load generator and the sink share the other "
                          f"core and were the limit")
            if want:
                goals.append(f"- (#11) {sc} max throughput on one core ≥ {want:.0f}× rotel's, defaults: measured "
                             f"**{measured:.2f}×** ({fmt(f['rate'])} vs {fmt(p['rate'])} items/s; per "
                             f"core-second {fmt(f['per_cpu_s'])} vs {fmt(p['per_cpu_s'])}: **{cap:.2f}×**), "
                             f"{'met' if min(measured, cap) >= want else ('met per core-second only' if cap >= want else 'missed')}; {limit}.")
            else:
                cpm = f["cpu_s_per_million"]
                goals.append(f"- (#11) scenario 3, compression off: ≤ 0.5 collector CPU-s per M spans "
                             f"(≥ 2 M spans/s per core): **{fmt(cpm)}** CPU-s per M "
                             f"({fmt(f['per_cpu_s'])} spans per core-second), "
                             f"{'met' if cpm and cpm <= 0.5 else 'missed'}; {measured:.2f}× rotel's rate; {limit}.")
    lat = summary.get(("lat", "traces"), {})
    if "direct" in lat:
        d = lat["direct"]
        parts = []
        for c in ("ferrotel", "rotel"):
            if c in lat:
                parts.append(f"{c} +{lat[c]['p50_ms'] - d['p50_ms']:.2f} / +{lat[c]['p99_ms'] - d['p99_ms']:.2f} ms")
        goals.append(f"- (#11) latency added at {int(float(a.latency_rate)):,} spans/s without batching "
                     f"(p50 / p99 over the direct send, {d['p50_ms']:.2f} / {d['p99_ms']:.2f} ms): " + "; ".join(parts) + ".")
    if "ferrotel" in idle_med:
        v = idle_med["ferrotel"]
        goals.append(f"- (#11) idle RSS ≤ 8 MiB with the three default pipelines: **{v:.1f} MiB**, "
                     f"{'met' if v <= 8 else 'missed'}.")
    if goals:
        out.append("Goals (issues #6 and #11):")
        out.append("")
        out.extend(goals)
    print("\n".join(out))


def readme(a):
    text = open(a.readme).read()
    table_md = open(a.table).read().strip()
    if BEGIN not in text or END not in text:
        sys.exit(f"{a.readme}: markers {BEGIN} … {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    open(a.readme, "w").write(f"{head}{BEGIN}\n{table_md}\n{END}{tail}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("row")
    r.add_argument("--collector", required=True)
    r.add_argument("--scenario", required=True)
    r.add_argument("--signal", required=True)
    r.add_argument("--repeat", type=int, required=True)
    r.add_argument("--cpu-s", type=float, required=True)
    r.add_argument("--peak-rss-kb", type=float, required=True)
    r.add_argument("--report", required=True)
    r.add_argument("--stats", required=True)
    t = sub.add_parser("table")
    t.add_argument("results")
    for k in ("--date", "--machine", "--rate", "--duration", "--max-duration", "--repeats",
              "--batching", "--note", "--commit", "--load", "--latency-rate"):
        t.add_argument(k, required=True)
    m = sub.add_parser("readme")
    m.add_argument("readme")
    m.add_argument("table")
    a = ap.parse_args()
    {"row": row, "table": table, "readme": readme}[a.cmd](a)


if __name__ == "__main__":
    main()
