#!/usr/bin/env python3
"""`perf script` output -> collapsed stacks ("frame;frame;leaf count"), or with --summary the share of
samples (inclusive) by what the code does, from collapsed stacks on stdin."""
import re
import sys
from collections import Counter

# (label, pattern on any frame of a stack); first match wins, in this order.
CATEGORIES = [
    ("compression (deflate/zstd/snappy/lz4, crc32)", r"zlib_rs|miniz_oxide|flate2|crc32|zstd|snap::|lz4_flex|ferrotel::compression"),
    ("request validation (scan)", r"ferrotel::signal::scan"),
    ("protobuf decode/encode (prost)", r"prost::"),
    ("kernel: network, scheduling", r"\[k\]|kallsyms|entry_SYSCALL|__x64_sys|tcp_|do_syscall"),
    ("HTTP/2 (h2, hyper)", r"\bh2::|hyper::"),
    ("gRPC (tonic)", r"tonic::"),
    ("memcpy / malloc", r"memmove|memcpy|malloc|free|realloc|__libc"),
    ("tokio runtime", r"tokio::"),
]


def fold():
    stacks = Counter()
    frames, comm = [], None
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                stacks[";".join([comm] + frames[::-1])] += 1
            frames, comm = [], None
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split()[0]
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        sym = re.sub(r"\+0x[0-9a-f]+", "", parts[1])
        sym = re.sub(r" \(([^)]*)\)$", lambda m: " [k]" if "kernel" in m.group(1) else "", sym)
        frames.append(sym.replace(";", ":"))
    if comm is not None:
        stacks[";".join([comm] + frames[::-1])] += 1
    for s, n in stacks.most_common():
        print(f"{s} {n}")


def summary():
    total, cats = 0, Counter()
    for line in sys.stdin:
        stack, _, n = line.rstrip("\n").rpartition(" ")
        n = int(n)
        total += n
        for label, pat in CATEGORIES:
            if re.search(pat, stack):
                cats[label] += n
                break
        else:
            cats["other"] += n
    print(f"## share of {total} samples (each sample counted once, in the first matching category)")
    for label, _ in CATEGORIES + [("other", "")]:
        print(f"{100 * cats[label] / max(total, 1):5.1f}%  {label}")


if __name__ == "__main__":
    summary() if "--summary" in sys.argv else fold()
