//! Body compression for OTLP/HTTP, shared by the HTTP receiver (decompression) and the exporters
//! (compression): otelcol's `configcompression` names, bounded output, and CPU-heavy work moved off
//! the async worker threads.
//!
//! Algorithms: `gzip`, `zstd`, `zlib`/`deflate` (both zlib-wrapped, as otelcol), `snappy` (the block
//! format; a framed stream sent as `snappy` is recognised by its stream identifier, as otelcol does),
//! `x-snappy-framed`, and `lz4` (the LZ4 frame format).
//!
//! Decompression never produces more than the caller's `limit` bytes (decompression bombs end with
//! [`DecompressError::TooLarge`] after at most `limit + 1` bytes were produced; a snappy block whose
//! header announces more than `limit` is refused before anything is allocated).
//!
//! Work whose size passes [`INLINE_WORK`] runs on tokio's blocking pool ([`offload`]); small bodies are
//! handled inline, where a thread hop would cost more than the work. [`Encoder`] is the one place a
//! compressor is built; it reuses its state per thread.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};

use bytes::Bytes;

/// Above this much work (in bytes of input, compressed input weighted ×4), [`offload`] runs a closure
/// on the blocking pool instead of the async worker.
pub const INLINE_WORK: usize = 64 << 10;

/// How a body is (or is to be) compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    None,
    Gzip,
    Zstd,
    /// `zlib` and `deflate`: otelcol sends and reads both as a zlib stream.
    Zlib,
    Snappy,
    SnappyFramed,
    Lz4,
}

/// The stream identifier chunk that starts every framed snappy stream.
const SNAPPY_FRAMED_MAGIC: &[u8] = b"\xff\x06\x00\x00sNaPpY";

impl Algorithm {
    /// A config value (`compression:` of an exporter, `compression_algorithms:` of a receiver).
    pub fn from_config(name: &str) -> Option<Algorithm> {
        Some(match name {
            "" | "none" => Algorithm::None,
            "gzip" => Algorithm::Gzip,
            "zstd" => Algorithm::Zstd,
            "zlib" | "deflate" => Algorithm::Zlib,
            "snappy" => Algorithm::Snappy,
            "x-snappy-framed" => Algorithm::SnappyFramed,
            "lz4" => Algorithm::Lz4,
            _ => return None,
        })
    }

    /// A `Content-Encoding` header value (already trimmed and lower-cased).
    pub fn from_content_encoding(value: &str) -> Option<Algorithm> {
        match value {
            "identity" => Some(Algorithm::None),
            "x-gzip" => Some(Algorithm::Gzip),
            other => Algorithm::from_config(other),
        }
    }

    /// The `Content-Encoding` to send, `None` for an uncompressed body.
    pub fn content_encoding(self) -> Option<&'static str> {
        Some(match self {
            Algorithm::None => return None,
            Algorithm::Gzip => "gzip",
            Algorithm::Zstd => "zstd",
            // otelcol's client sends `deflate` for both names.
            Algorithm::Zlib => "deflate",
            Algorithm::Snappy => "snappy",
            Algorithm::SnappyFramed => "x-snappy-framed",
            Algorithm::Lz4 => "lz4",
        })
    }

    /// Whether `compression_params.level` means anything, and which values are valid (otelcol's
    /// `configcompression` rules: gzip/zlib/deflate take Go's levels -2 (Huffman only), -1 (default) and
    /// 1..=9; zstd maps any level to its nearest one (1..=22 here); the others take none). 0 means
    /// "the default" everywhere.
    pub fn validate_level(self, level: i32) -> Result<(), String> {
        if level == 0 {
            return Ok(());
        }
        match self {
            Algorithm::Gzip | Algorithm::Zlib if (-2..=9).contains(&level) => Ok(()),
            Algorithm::Gzip | Algorithm::Zlib => Err(format!(
                "level {level} is not valid for {self:?} (-2, -1, 1..9)"
            )),
            Algorithm::Zstd if (1..=22).contains(&level) => Ok(()),
            Algorithm::Zstd => Err(format!("level {level} is not valid for zstd (1..22)")),
            _ => Err(format!("{self:?} takes no compression level")),
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// The output would pass the limit.
    #[error("the decompressed body is larger than the limit")]
    TooLarge,
    #[error("{0}")]
    Invalid(String),
}

/// Decompresses `raw` as `algo`, producing at most `limit` bytes. CPU-bound: call it through
/// [`offload`] (or [`decompress`]) from async code.
pub fn decompress_sync(
    algo: Algorithm,
    raw: Bytes,
    limit: usize,
) -> Result<Bytes, DecompressError> {
    let name = algo.content_encoding().unwrap_or("identity");
    let bad = |e: std::io::Error| {
        DecompressError::Invalid(format!("cannot decompress the {name} request body: {e}"))
    };
    let out = match algo {
        Algorithm::None => {
            if raw.len() > limit {
                return Err(DecompressError::TooLarge);
            }
            return Ok(raw);
        }
        Algorithm::Gzip => {
            bounded(flate2::read::MultiGzDecoder::new(&raw[..]), limit).map_err(bad)?
        }
        Algorithm::Zlib => bounded(flate2::read::ZlibDecoder::new(&raw[..]), limit).map_err(bad)?,
        Algorithm::Zstd => {
            let d = zstd::stream::read::Decoder::new(&raw[..]).map_err(bad)?;
            bounded(d, limit).map_err(bad)?
        }
        Algorithm::Snappy if raw.starts_with(SNAPPY_FRAMED_MAGIC) => {
            bounded(snap::read::FrameDecoder::new(&raw[..]), limit).map_err(bad)?
        }
        Algorithm::Snappy => {
            let len = snap::raw::decompress_len(&raw).map_err(|e| bad(std::io::Error::other(e)))?;
            if len > limit {
                return Err(DecompressError::TooLarge);
            }
            snap::raw::Decoder::new()
                .decompress_vec(&raw)
                .map_err(|e| bad(std::io::Error::other(e)))?
        }
        Algorithm::SnappyFramed => {
            bounded(snap::read::FrameDecoder::new(&raw[..]), limit).map_err(bad)?
        }
        Algorithm::Lz4 => {
            bounded(lz4_flex::frame::FrameDecoder::new(&raw[..]), limit).map_err(bad)?
        }
    };
    if out.len() > limit {
        return Err(DecompressError::TooLarge);
    }
    Ok(Bytes::from(out))
}

/// Reads at most `limit + 1` bytes, so that a result longer than `limit` says "too large".
fn bounded(reader: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)?;
    Ok(out)
}

/// [`decompress_sync`], on the blocking pool when the body is large.
pub async fn decompress(
    algo: Algorithm,
    raw: Bytes,
    limit: usize,
) -> Result<Bytes, DecompressError> {
    let work = work_of(algo, raw.len());
    offload(work, move || decompress_sync(algo, raw, limit))
        .await
        .unwrap_or_else(|e| Err(DecompressError::Invalid(e)))
}

/// How much work processing `len` bytes compressed with `algo` is, for [`offload`]: compressed input
/// expands, so it weighs more than its length.
pub fn work_of(algo: Algorithm, len: usize) -> usize {
    match algo {
        Algorithm::None => len,
        _ => len.saturating_mul(4),
    }
}

/// Runs `f` inline when `work` is at most [`INLINE_WORK`], otherwise on tokio's blocking pool (or
/// inline when there is no runtime). `Err` only when `f` panicked on the pool; the message says so.
pub async fn offload<T, F>(work: usize, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if work <= INLINE_WORK || tokio::runtime::Handle::try_current().is_err() {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the decompression/encoding task failed: {e}"))
}

/// A compressor for one algorithm at one level (0 = the algorithm's default, as otelcol).
///
/// The compressor state (a deflate stream, a zstd context, a snappy table) lives per thread and is
/// reset, not rebuilt, for each body: building a level-6 deflate state allocates and clears about
/// 270 KiB, which for a 50 KB body costs as much as compressing it. Deflate (gzip, zlib) is zlib-rs
/// through flate2, at the configured level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    pub algorithm: Algorithm,
    pub level: i32,
}

/// The per-thread compressors [`Encoder`] reuses, each for the last algorithm and level it served.
#[derive(Default)]
struct Reused {
    deflate: Option<(Algorithm, u32, flate2::Compress)>,
    zstd: Option<(i32, zstd::bulk::Compressor<'static>)>,
    snappy: Option<snap::raw::Encoder>,
}

thread_local! {
    static REUSED: std::cell::RefCell<Reused> = std::cell::RefCell::new(Reused::default());
}

/// Joined input is kept per thread for algorithms that need one contiguous slice; above this
/// capacity the buffer is released after use, so that one huge body does not pin memory.
const KEEP_JOINED: usize = 8 << 20;

thread_local! {
    static JOINED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Encoder {
    pub fn new(algorithm: Algorithm, level: i32) -> Encoder {
        Encoder { algorithm, level }
    }

    /// Compresses `data`. CPU-bound: see [`Encoder::compress`] for async code.
    pub fn compress_sync(&self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        self.compress_parts_sync(&[data])
    }

    /// Compresses the concatenation of `parts` (encoded segments of one request) without first
    /// copying them into one buffer where the algorithm streams (deflate, framed snappy, lz4).
    pub fn compress_parts_sync(&self, parts: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let cap = total / 4 + 64;
        match self.algorithm {
            Algorithm::None => Ok(parts.concat()),
            Algorithm::Gzip | Algorithm::Zlib => {
                let level = self.flate().level();
                REUSED.with(|r| {
                    let mut r = r.borrow_mut();
                    let fresh = !matches!(&r.deflate, Some((a, l, _)) if *a == self.algorithm && *l == level);
                    if fresh {
                        let c = if self.algorithm == Algorithm::Gzip {
                            flate2::Compress::new_gzip(self.flate(), 15)
                        } else {
                            flate2::Compress::new(self.flate(), true)
                        };
                        r.deflate = Some((self.algorithm, level, c));
                    }
                    match r.deflate.as_mut() {
                        Some((_, _, c)) => deflate_parts(c, parts, cap),
                        None => Err(std::io::Error::other("no deflate state")),
                    }
                })
            }
            Algorithm::Zstd => {
                // otelcol's default is klauspost's SpeedDefault, about zstd level 3.
                let level = if self.level == 0 { 3 } else { self.level };
                with_joined(parts, |data| {
                    REUSED.with(|r| {
                        let mut r = r.borrow_mut();
                        if !matches!(&r.zstd, Some((l, _)) if *l == level) {
                            r.zstd = Some((level, zstd::bulk::Compressor::new(level)?));
                        }
                        match r.zstd.as_mut() {
                            Some((_, c)) => c.compress(data),
                            None => Err(std::io::Error::other("no zstd context")),
                        }
                    })
                })
            }
            Algorithm::Snappy => with_joined(parts, |data| {
                REUSED.with(|r| {
                    r.borrow_mut()
                        .snappy
                        .get_or_insert_with(snap::raw::Encoder::new)
                        .compress_vec(data)
                        .map_err(std::io::Error::other)
                })
            }),
            Algorithm::SnappyFramed => {
                let mut e = snap::write::FrameEncoder::new(Vec::with_capacity(cap));
                for p in parts {
                    e.write_all(p)?;
                }
                e.into_inner()
                    .map_err(|e| std::io::Error::other(e.to_string()))
            }
            Algorithm::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(cap));
                for p in parts {
                    e.write_all(p)?;
                }
                e.finish().map_err(std::io::Error::other)
            }
        }
    }

    /// [`Encoder::compress_sync`], on the blocking pool when `data` is large.
    pub async fn compress(&self, data: Bytes) -> std::io::Result<Bytes> {
        if self.algorithm == Algorithm::None {
            return Ok(data);
        }
        self.compress_segments(vec![data]).await
    }

    /// [`Encoder::compress_parts_sync`] of encoded segments, on the blocking pool when they are
    /// large: the request path never compresses more than [`INLINE_WORK`] bytes inline.
    pub async fn compress_segments(&self, segments: Vec<Bytes>) -> std::io::Result<Bytes> {
        let this = *self;
        let total = segments.iter().map(Bytes::len).sum();
        offload(total, move || {
            let parts: Vec<&[u8]> = segments.iter().map(|s| &s[..]).collect();
            this.compress_parts_sync(&parts).map(Bytes::from)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Go's gzip levels: -1 (and 0, unset) is the default, 6; -2 is Huffman-only, which flate2 has
    /// no mode for: level 1 is the closest in cost.
    fn flate(&self) -> flate2::Compression {
        match self.level {
            0 | -1 => flate2::Compression::new(6),
            -2 => flate2::Compression::fast(),
            l => flate2::Compression::new(u32::try_from(l.clamp(1, 9)).unwrap_or(6)),
        }
    }
}

/// Runs `f` on the concatenation of `parts`: the one part itself, or a per-thread buffer.
fn with_joined<T>(parts: &[&[u8]], f: impl FnOnce(&[u8]) -> T) -> T {
    if let [one] = parts {
        return f(one);
    }
    JOINED.with(|j| {
        let mut buf = std::mem::take(&mut *j.borrow_mut());
        buf.clear();
        for p in parts {
            buf.extend_from_slice(p);
        }
        let out = f(&buf);
        if buf.capacity() <= KEEP_JOINED {
            *j.borrow_mut() = buf;
        }
        out
    })
}

/// Deflates `parts` as one stream through `c` (reset first), into a buffer that starts at `cap`.
fn deflate_parts(
    c: &mut flate2::Compress,
    parts: &[&[u8]],
    cap: usize,
) -> std::io::Result<Vec<u8>> {
    use flate2::{FlushCompress, Status};
    c.reset();
    let mut out = Vec::with_capacity(cap);
    let room = |out: &mut Vec<u8>| {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
    };
    for p in parts {
        let mut rest: &[u8] = p;
        while !rest.is_empty() {
            room(&mut out);
            let (in0, out0) = (c.total_in(), c.total_out());
            c.compress_vec(rest, &mut out, FlushCompress::None)
                .map_err(std::io::Error::other)?;
            let used = usize::try_from(c.total_in().saturating_sub(in0)).unwrap_or(usize::MAX);
            rest = rest.get(used..).unwrap_or_default();
            if used == 0 && c.total_out() == out0 {
                // No progress with at least 1 KiB of room: give it more.
                out.reserve(out.capacity().max(4096));
            }
        }
    }
    loop {
        room(&mut out);
        let out0 = c.total_out();
        if c.compress_vec(&[], &mut out, FlushCompress::Finish)
            .map_err(std::io::Error::other)?
            == Status::StreamEnd
        {
            return Ok(out);
        }
        if c.total_out() == out0 {
            out.reserve(out.capacity().max(4096));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const ALL: [Algorithm; 7] = [
        Algorithm::None,
        Algorithm::Gzip,
        Algorithm::Zstd,
        Algorithm::Zlib,
        Algorithm::Snappy,
        Algorithm::SnappyFramed,
        Algorithm::Lz4,
    ];

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn round_trip_every_algorithm() {
        let data = sample();
        for a in ALL {
            let c = Encoder::new(a, 0).compress_sync(&data).unwrap();
            let d = decompress_sync(a, Bytes::from(c), data.len()).unwrap();
            assert_eq!(&d[..], &data[..], "{a:?}");
        }
    }

    #[test]
    fn output_is_bounded() {
        let data = vec![0u8; 1 << 20];
        for a in ALL {
            let c = Encoder::new(a, 0).compress_sync(&data).unwrap();
            assert_eq!(
                decompress_sync(a, Bytes::from(c), 1000),
                Err(DecompressError::TooLarge),
                "{a:?}"
            );
        }
    }

    #[test]
    fn snappy_accepts_a_framed_stream() {
        let data = sample();
        let c = Encoder::new(Algorithm::SnappyFramed, 0)
            .compress_sync(&data)
            .unwrap();
        let d = decompress_sync(Algorithm::Snappy, Bytes::from(c), data.len()).unwrap();
        assert_eq!(&d[..], &data[..]);
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        for a in ALL.into_iter().skip(1) {
            let r = decompress_sync(a, Bytes::from_static(b"\xff\xff\xff\xff garbage"), 1 << 20);
            assert!(
                matches!(r, Err(DecompressError::Invalid(_))),
                "{a:?}: {r:?}"
            );
        }
    }

    #[test]
    fn levels() {
        assert!(Algorithm::Gzip.validate_level(9).is_ok());
        assert!(Algorithm::Gzip.validate_level(-1).is_ok());
        assert!(Algorithm::Gzip.validate_level(10).is_err());
        assert!(Algorithm::Zstd.validate_level(19).is_ok());
        assert!(Algorithm::Snappy.validate_level(3).is_err());
        assert!(Algorithm::Snappy.validate_level(0).is_ok());
        let data = sample();
        for l in [-2, -1, 1, 9] {
            let c = Encoder::new(Algorithm::Gzip, l)
                .compress_sync(&data)
                .unwrap();
            assert_eq!(
                &decompress_sync(Algorithm::Gzip, Bytes::from(c), data.len()).unwrap()[..],
                &data[..]
            );
        }
    }

    #[test]
    fn segments_compress_as_one_body_with_reused_state() {
        let data = sample();
        let (a, b) = data.split_at(70_001);
        for alg in ALL {
            // Twice per level and across levels: the reused per-thread state must be reset or rebuilt.
            for level in [0, 1, 9, 0] {
                let level = if alg.validate_level(level).is_ok() {
                    level
                } else {
                    0
                };
                let enc = Encoder::new(alg, level);
                let c = enc.compress_parts_sync(&[a, &[], b]).unwrap();
                let d = decompress_sync(alg, Bytes::from(c), data.len()).unwrap();
                assert_eq!(&d[..], &data[..], "{alg:?} level {level}");
            }
        }
    }

    #[test]
    fn gzip_is_a_standard_stream_at_the_configured_level() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| b"span attribute value "[(i as usize) % 21] ^ (i % 7) as u8)
            .collect();
        let fast = Encoder::new(Algorithm::Gzip, 1)
            .compress_sync(&data)
            .unwrap();
        let default = Encoder::new(Algorithm::Gzip, 0)
            .compress_sync(&data)
            .unwrap();
        let best = Encoder::new(Algorithm::Gzip, 9)
            .compress_sync(&data)
            .unwrap();
        assert_eq!(
            &default[..3],
            b"\x1f\x8b\x08",
            "gzip magic and deflate method"
        );
        assert!(
            default.len() < fast.len(),
            "{} vs {}",
            default.len(),
            fast.len()
        );
        assert!(best.len() <= default.len());
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&default[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, data);
    }

    #[tokio::test]
    async fn large_bodies_run_off_the_worker() {
        let data = Bytes::from(sample());
        let c = Encoder::new(Algorithm::Zstd, 0)
            .compress(data.clone())
            .await
            .unwrap();
        assert_eq!(
            decompress(Algorithm::Zstd, c, data.len()).await.unwrap(),
            data
        );
    }
}
