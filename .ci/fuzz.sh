#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time on its committed corpus (fuzz/corpus/<target>).
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_TARGETS  which targets (default: all under fuzz/fuzz_targets)
# New inputs found go to a scratch directory, not the committed corpus; crashes are kept in
# fuzz/artifacts/<target>/ and fail the run. libFuzzer needs nightly-only compiler flags: the nightly
# toolchain is used when installed, otherwise the stable one with RUSTC_BOOTSTRAP=1. Sanitizers are off
# (the crate forbids unsafe code); what is checked is panics, aborts, timeouts and memory blow-ups.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

targets="${FUZZ_TARGETS:-$(ls fuzz/fuzz_targets | sed 's/\.rs$//')}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Every target in one build (one cargo run, the targets link in parallel); then each runs.
if [[ -z ${FUZZ_TARGETS:-} ]]; then
  cargo "${toolchain[@]}" fuzz build --sanitizer none
else
  for t in $targets; do cargo "${toolchain[@]}" fuzz build --sanitizer none "$t"; done
fi
for t in $targets; do
  echo "== fuzzing $t for ${secs}s"
  mkdir -p "$scratch/$t" "fuzz/corpus/$t"
  # libFuzzer prints a line per new input: keep it in a log, show it only on failure.
  if ! cargo "${toolchain[@]}" fuzz run --sanitizer none "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=3072 -max_len=262144 -print_final_stats=1 \
    >"$scratch/$t.log" 2>&1; then
    tail -n 80 "$scratch/$t.log"
    echo "fuzz: $t failed; the input is in fuzz/artifacts/$t/ (reproduce: cargo fuzz run $t <file>)"
    exit 1
  fi
  grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$scratch/$t.log"
done
echo "fuzz: all targets ran ${secs}s without a crash"
