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
}


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


def table(a):
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["signal"]), {}).setdefault(r["collector"], []).append(r)
    out = []
    out.append(f"Measured {a.date} on {a.machine}. Median of {a.repeats} runs per row; "
               f"missing and duplicated items are totals over all runs. Fixed rate {int(float(a.rate)):,} "
               f"items/s for {a.duration} s; max-throughput runs {a.max_duration} s with 8 connections. "
               f"100 items per request, 10 attributes per item, no compression anywhere, "
               f"batching: {a.batching}.")
    out.append("")
    out.append("| scenario | collector | CPU s / M items | peak RSS MB | items/s | CPU use | "
               "p99 ms | missing | dup | refused | ferrotel / rotel: CPU per item, RSS, items/s |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    summary = {}
    for (sc, sig), cols in sorted(groups.items()):
        name = SCENARIOS.get(sc, sc).format(signal=sig)
        meds = {}
        for c in ("ferrotel", "rotel", "otelcol"):
            if c not in cols:
                continue
            rs = cols[c]
            m = {k: med(rs, k) for k in ("cpu_s_per_million", "peak_rss_mb", "rate", "cpu_util", "p99_ms", "per_cpu_s")}
            m["missing"] = sum(r["missing"] for r in rs)
            m["duplicates"] = sum(r["duplicates"] for r in rs)
            m["refused"] = sum(r["refused"] for r in rs)
            meds[c] = m
        for c, m in meds.items():
            ratio = ""
            if c == "ferrotel" and "rotel" in meds:
                p = meds["rotel"]
                parts = []
                for k, d in (("cpu_s_per_million", 2), ("peak_rss_mb", 2), ("rate", 2)):
                    if m[k] and p[k]:
                        parts.append(f"{m[k] / p[k]:.{d}f}×")
                    else:
                        parts.append("–")
                ratio = ", ".join(parts)
            out.append(f"| {name} | {c} | {fmt(m['cpu_s_per_million'])} | {fmt(m['peak_rss_mb'], 1)} | "
                       f"{fmt(m['rate'])} | {fmt(m['cpu_util'] * 100 if m['cpu_util'] is not None else None, 0)}% | "
                       f"{fmt(m['p99_ms'])} | {m['missing']} | {m['duplicates']} | {m['refused']} | {ratio} |")
        summary[(sc, sig)] = meds
    out.append("")
    out.append(a.note)
    out.append("")
    goals = []
    s1 = summary.get(("1", "traces"), {})
    if "ferrotel" in s1 and "rotel" in s1:
        f, p = s1["ferrotel"], s1["rotel"]
        if f["cpu_s_per_million"] and p["cpu_s_per_million"]:
            r = f["cpu_s_per_million"] / p["cpu_s_per_million"]
            goals.append(f"- Scenario 1 CPU per span ≤ 0.5× rotel's: **{r:.2f}×**, "
                         f"{'met' if r <= 0.5 else 'not met'}.")
        r = f["peak_rss_mb"] / p["peak_rss_mb"]
        goals.append(f"- Scenario 1 peak RSS ≤ rotel's: **{r:.2f}×**, {'met' if r <= 1 else 'not met'}.")
        goals.append(f"- Scenario 1 missing: **{f['missing']}**, {'met' if f['missing'] == 0 else 'not met'}.")
    s3 = summary.get(("3", "traces"), {})
    if "ferrotel" in s3 and "rotel" in s3 and s3["rotel"]["rate"]:
        f, p = s3["ferrotel"], s3["rotel"]
        measured = f["rate"] / p["rate"]
        saturated = all((x["cpu_util"] or 0) >= 0.9 for x in (f, p))
        if saturated:
            goals.append(f"- Scenario 3 single-core max throughput ≥ 2× rotel's: **{measured:.2f}×** "
                         f"(both collectors kept their core busy), {'met' if measured >= 2 else 'not met'}.")
        else:
            cap = f["per_cpu_s"] / p["per_cpu_s"] if f["per_cpu_s"] and p["per_cpu_s"] else 0
            goals.append(
                f"- Scenario 3 single-core max throughput ≥ 2× rotel's: measured **{measured:.2f}×** "
                f"({fmt(f['rate'])} vs {fmt(p['rate'])} items/s), {'met' if measured >= 2 else 'not met'}; "
                f"the pinned cores were not both saturated (CPU use ferrotel {f['cpu_util'] * 100:.0f}%, "
                f"rotel {p['cpu_util'] * 100:.0f}%) because the load generator and the sink share the "
                f"other core, so an unsaturated collector's rate is a lower bound of its maximum. Per core-second the collectors move "
                f"{fmt(f['per_cpu_s'])} and {fmt(p['per_cpu_s'])} items: **{cap:.2f}×**.")
    if goals:
        out.append("Goals (issue #6):")
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
              "--batching", "--note"):
        t.add_argument(k, required=True)
    m = sub.add_parser("readme")
    m.add_argument("readme")
    m.add_argument("table")
    a = ap.parse_args()
    {"row": row, "table": table, "readme": readme}[a.cmd](a)


if __name__ == "__main__":
    main()
