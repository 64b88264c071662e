//! A fixed workload for counting the validating scan's instructions with callgrind (criterion runs
//! a varying number of iterations, so its runs cannot be compared by instruction count):
//!
//! ```text
//! cargo bench --bench scan_callgrind --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out $CARGO_TARGET_DIR/release/deps/scan_callgrind-* 200
//! callgrind_annotate --inclusive=yes cg.out | grep scan_request
//! ```
//!
//! It scans the load generator's request (100 spans of 10 attributes, as `ferrotel-loadgen` sends
//! them) the given number of times (default 200) and prints the spans scanned: the inclusive count of
//! `scan_request` divided by that is the instructions per span.

use std::hint::black_box;

use ferrotel::signal::scan::{scan_request, TRACES_REQUEST};
use ferrotel::signal::SignalKind;

#[allow(dead_code)]
#[path = "../src/bin/ferrotel-loadgen/gen.rs"]
mod gen;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let t = gen::Template::new(&gen::GenConfig {
        signal: SignalKind::Traces,
        items_per_request: 100,
        attributes: 10,
        service_name: "bench".into(),
    });
    let mut request = Vec::new();
    t.render(0, 1_700_000_000_000_000_000, &mut request);
    let mut spans = 0;
    for _ in 0..rounds {
        spans += scan_request(&TRACES_REQUEST, black_box(&request)).expect("a valid request");
    }
    println!(
        "{spans} spans scanned ({} bytes per request)",
        request.len()
    );
}
