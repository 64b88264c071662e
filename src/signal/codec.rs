//! A gRPC codec that moves encoded OTLP requests as bytes: the receiver validates them with a scan
//! instead of decoding, and the exporter writes a batch's encoded segments without re-encoding.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Encoded protobuf written one segment after another.
#[derive(Debug, Clone, Default)]
pub struct Segments(pub Vec<Bytes>);

#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

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
}
