//! A gRPC codec that moves encoded OTLP requests as bytes: the receiver validates them with a scan
//! instead of decoding, and the exporter writes a batch's encoded segments without re-encoding.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Encoded protobuf written one segment after another.
#[derive(Debug, Clone, Default)]
pub struct Segments(pub Vec<Bytes>);

#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

const DECODE_BUFFER: usize = 64 * 1024;

impl Codec for RawCodec {
    type Encode = Segments;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Segments;
    type Error = Status;

    fn encode(&mut self, item: Segments, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // One allocation for the whole message instead of doubling from tonic's 8 KiB.
        dst.reserve(item.0.iter().map(Bytes::len).sum());
        for s in item.0 {
            dst.put(s);
        }
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }

    /// OTLP requests are tens of KiB to MiBs: a larger first buffer saves most of the regrowth (and
    /// copies) of tonic's 8 KiB default while a request's frames arrive.
    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::new(DECODE_BUFFER, 32 * 1024)
    }
}
