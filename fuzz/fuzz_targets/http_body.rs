//! The OTLP/HTTP receiver's body handling, as the wire sees it: any bytes, under any
//! Content-Encoding, as protobuf or JSON, for each signal. It must answer (Ok or an error), never
//! panic, and never allocate past the limit.
//!
//! Input layout: byte 0 picks the signal (bits 0-1), JSON or protobuf (bit 2), whether the rest is
//! compressed here first so the decompressors see valid streams (bit 3), and the Content-Encoding
//! (bits 4-6). The rest is the body.
//!
//! Property: every body the receiver accepts decodes with prost (as the batch processor and the
//! exporters will decode it), and the receiver counted exactly the items prost decodes.
#![no_main]

use std::io::Write;

use bytes::Bytes;
use ferrotel::receivers::otlp::http::decode_body;
use ferrotel::signal::{Logs, Metrics, Signal, Traces};
use libfuzzer_sys::fuzz_target;
use prost::Message;

const LIMIT: usize = 1 << 20;
const ENCODINGS: [&str; 8] = ["", "gzip", "zstd", "deflate", "zlib", "identity", "x-gzip", "br"];

fn compress(enc: &str, data: &[u8]) -> Vec<u8> {
    match enc {
        "gzip" | "x-gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(data);
            e.finish().unwrap_or_default()
        }
        "deflate" | "zlib" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(data);
            e.finish().unwrap_or_default()
        }
        "zstd" => zstd::stream::encode_all(data, 1).unwrap_or_default(),
        _ => data.to_vec(),
    }
}

fn run<S: Signal>(body: Bytes, enc: &str, json: bool) {
    let allowed: Vec<String> = ["", "gzip", "zstd", "zlib", "deflate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Ok(mut batch) = decode_body::<S>(body, enc, json, LIMIT, &allowed) {
        // Data the receiver accepts must be usable downstream, however much later: prost decodes
        // it (checked on the exact bytes that travel on), and the scan counted what prost decodes.
        let n = batch.items();
        let encoded = batch.encode_to_bytes();
        let decoded = S::Request::decode(encoded.clone());
        // prost's own encoding of what it decoded: unknown fields and non-canonical varints in the
        // sender's bytes are not kept, so the byte length may differ from `encoded`, but the data may not.
        let canonical = decoded.as_ref().map(|m| m.encode_to_vec()).unwrap_or_default();
        assert!(
            decoded.is_ok(),
            "accepted a body prost cannot decode: {:?}",
            decoded.err()
        );
        assert!(batch.resources().is_ok(), "accepted data does not decode");
        batch.recount();
        assert_eq!(batch.items(), n, "scan count differs from the decoded count");
        assert_eq!(
            batch.encode_to_bytes().as_ref(),
            canonical.as_slice(),
            "decoding and encoding again changed the data"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let json = ctl & 0b100 != 0;
    let enc = ENCODINGS[((ctl >> 4) & 0b111) as usize];
    let body = if ctl & 0b1000 != 0 {
        compress(enc, rest)
    } else {
        rest.to_vec()
    };
    let body = Bytes::from(body);
    match ctl & 0b11 {
        0 => run::<Traces>(body, enc, json),
        1 => run::<Metrics>(body, enc, json),
        _ => run::<Logs>(body, enc, json),
    }
});
