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
//! compressor is built, so that reusable encoder state can be added there later.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    pub algorithm: Algorithm,
    pub level: i32,
}

impl Encoder {
    pub fn new(algorithm: Algorithm, level: i32) -> Encoder {
        Encoder { algorithm, level }
    }

    /// Compresses `data`. CPU-bound: see [`Encoder::compress`] for async code.
    pub fn compress_sync(&self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let cap = data.len() / 4;
        match self.algorithm {
            Algorithm::None => Ok(data.to_vec()),
            Algorithm::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(cap), self.flate());
                e.write_all(data)?;
                e.finish()
            }
            Algorithm::Zlib => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::with_capacity(cap), self.flate());
                e.write_all(data)?;
                e.finish()
            }
            Algorithm::Zstd => {
                // otelcol's default is klauspost's SpeedDefault, about zstd level 3.
                let level = if self.level == 0 { 3 } else { self.level };
                zstd::stream::encode_all(data, level)
            }
            Algorithm::Snappy => snap::raw::Encoder::new()
                .compress_vec(data)
                .map_err(std::io::Error::other),
            Algorithm::SnappyFramed => {
                let mut e = snap::write::FrameEncoder::new(Vec::with_capacity(cap));
                e.write_all(data)?;
                e.into_inner()
                    .map_err(|e| std::io::Error::other(e.to_string()))
            }
            Algorithm::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(cap));
                e.write_all(data)?;
                e.finish().map_err(std::io::Error::other)
            }
        }
    }

    /// [`Encoder::compress_sync`], on the blocking pool when `data` is large.
    pub async fn compress(&self, data: Bytes) -> std::io::Result<Bytes> {
        if self.algorithm == Algorithm::None {
            return Ok(data);
        }
        let this = *self;
        offload(data.len(), move || {
            this.compress_sync(&data).map(Bytes::from)
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
