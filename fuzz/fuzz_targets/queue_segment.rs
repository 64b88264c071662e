//! The persistent queue's segment reader, as recovery runs it on whatever is on disk after a crash:
//! any bytes must give records and a count of damaged bytes, never a panic. Two properties are checked:
//! every byte is either in an intact record or counted as damaged, and records written by the queue
//! are all found again, with no damage, whatever their contents.
#![no_main]

use ferrotel::exporters::helper::persistent::{encode_segment_record, scan_segment};
use ferrotel::signal::SignalKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signal = match data.first().map(|b| b % 3) {
        Some(0) => SignalKind::Traces,
        Some(1) => SignalKind::Metrics,
        _ => SignalKind::Logs,
    };

    // Arbitrary bytes: records are in order, inside the data, and account for every byte with the damage.
    let (records, damaged) = scan_segment(data, signal);
    let mut end = 0usize;
    let mut covered = damaged as usize;
    for (pos, len) in &records {
        assert!(*pos >= end, "records overlap");
        assert!(pos + len <= data.len(), "record past the end");
        end = pos + len;
        covered += len;
    }
    assert_eq!(covered, data.len(), "bytes neither in a record nor counted as damaged");

    // The same bytes cut into bodies and written as records: all of them come back intact.
    let mut segment = Vec::new();
    let bodies: Vec<&[u8]> = data.chunks(97).collect();
    for (seq, body) in bodies.iter().enumerate() {
        segment.extend(encode_segment_record(seq as u64, signal, body.len() as u32, body));
    }
    let (records, damaged) = scan_segment(&segment, signal);
    assert_eq!(records.len(), bodies.len());
    assert_eq!(damaged, 0);
});
