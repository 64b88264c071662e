//! The agent's UDP endpoints: one packet is one thrift `Agent.emitBatch` call (compact protocol on
//! 6831, binary on 6832). A reader puts packets on a bounded queue (`queue_size`) that `workers` tasks
//! decode and pass on. What ferrotel drops itself (queue full, larger than `max_packet_size`,
//! undecodable) is counted in `ferrotel_receiver_udp_dropped_packets` and logged, rate-limited.

use std::sync::Arc;
use std::time::Duration;

use thrift::protocol::{TInputProtocol, TSerializable, TType};

use super::config::UdpConfig;
use super::translate;
use crate::receivers::common::{self, thrift::jaeger as th, RateLimitedLog, Running, TracesSink};
use crate::telemetry::events;

#[derive(Clone, Copy)]
pub enum Protocol {
    Compact,
    Binary,
}

impl Protocol {
    fn transport(self) -> &'static str {
        match self {
            Protocol::Compact => "udp_thrift_compact",
            Protocol::Binary => "udp_thrift_binary",
        }
    }
}

/// Decodes one agent packet into the batch it carries. Only `emitBatch` is accepted (otelcol does not
/// implement `emitZipkinBatch` either).
pub fn decode_packet(packet: &[u8], protocol: Protocol) -> Result<th::Batch, String> {
    let cfg = common::thrift_limits(packet.len());
    let t = common::slice_transport(packet);
    match protocol {
        Protocol::Compact => read_emit_batch(
            &mut thrift::protocol::TCompactInputProtocol::with_config(t, cfg),
        ),
        Protocol::Binary => read_emit_batch(
            &mut thrift::protocol::TBinaryInputProtocol::with_config(t, true, cfg),
        ),
    }
}

fn read_emit_batch(p: &mut dyn TInputProtocol) -> Result<th::Batch, String> {
    let msg = p.read_message_begin().map_err(|e| e.to_string())?;
    if msg.name != "emitBatch" {
        return Err(format!(
            "unsupported agent call {:?} (only emitBatch)",
            msg.name
        ));
    }
    p.read_struct_begin().map_err(|e| e.to_string())?;
    let mut batch = None;
    loop {
        let f = p.read_field_begin().map_err(|e| e.to_string())?;
        if f.field_type == TType::Stop {
            break;
        }
        if f.id == Some(1) && f.field_type == TType::Struct {
            batch = Some(th::Batch::read_from_in_protocol(p).map_err(|e| e.to_string())?);
        } else {
            p.skip(f.field_type).map_err(|e| e.to_string())?;
        }
        p.read_field_end().map_err(|e| e.to_string())?;
    }
    batch.ok_or_else(|| "emitBatch without a batch".to_string())
}

struct Shared {
    sink: Arc<TracesSink>,
    protocol: Protocol,
    log: RateLimitedLog,
}

impl Shared {
    fn dropped(&self, reason: &'static str, detail: &str) {
        events::receiver_udp_dropped(self.sink.id(), self.protocol.transport(), reason);
        if let Some(suppressed) = self.log.allow() {
            tracing::warn!(
                receiver = self.sink.id(),
                transport = self.protocol.transport(),
                reason,
                detail,
                suppressed_since_last = suppressed,
                "dropped a UDP packet"
            );
        }
    }
}

pub async fn start(
    cfg: &UdpConfig,
    protocol: Protocol,
    sink: Arc<TracesSink>,
) -> Result<Running, String> {
    let addr = common::resolve_bind(&cfg.endpoint).await?;
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    if cfg.socket_buffer_size > 0 {
        sock.set_recv_buffer_size(cfg.socket_buffer_size)
            .map_err(|e| format!("cannot set socket_buffer_size: {e}"))?;
    }
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    sock.bind(&addr.into())
        .map_err(|e| format!("cannot listen on {} (udp): {e}", cfg.endpoint))?;
    let socket = tokio::net::UdpSocket::from_std(sock.into()).map_err(|e| e.to_string())?;
    let local_addr = socket.local_addr().map_err(|e| e.to_string())?;

    let shared = Arc::new(Shared {
        sink,
        protocol,
        log: RateLimitedLog::new(Duration::from_secs(10)),
    });
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(cfg.queue_size.max(1));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();

    let max = cfg.max_packet_size;
    let reader_shared = shared.clone();
    let reader_stop = stop_rx.clone();
    tasks.push(tokio::spawn(async move {
        // One byte more than allowed, so that an oversized datagram is seen as such, not truncated.
        let mut buf = vec![0u8; max.saturating_add(1).min(65_536)];
        let stop = common::stopped(reader_stop);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, _peer)) => {
                        if n > max {
                            reader_shared.dropped("too_large", &format!("packet larger than max_packet_size ({max} bytes)"));
                            continue;
                        }
                        if tx.try_send(bytes::Bytes::copy_from_slice(&buf[..n])).is_err() {
                            reader_shared.dropped("queue_full", "the queue (queue_size) is full");
                        }
                    }
                    Err(e) => {
                        // A previous send's ICMP error and the like: keep reading.
                        tracing::debug!(error = %e, "UDP receive failed");
                    }
                },
                _ = &mut stop => break,
            }
        }
        // Dropping the sender lets the workers finish what is queued, then stop.
    }));

    for _ in 0..cfg.workers.max(1) {
        let rx = rx.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let packet = { rx.lock().await.recv().await };
                let Some(packet) = packet else { break };
                match decode_packet(&packet, shared.protocol) {
                    Ok(batch) => {
                        let resources = translate::thrift_batch(batch);
                        if let Err(e) = shared.sink.accept(resources, shared.protocol.transport()).await {
                            // UDP has no way to tell the sender; the refusal is counted by the sink.
                            tracing::debug!(receiver = shared.sink.id(), error = %e, "UDP batch refused");
                        }
                    }
                    Err(e) => shared.dropped("undecodable", &e),
                }
            }
        }));
    }
    Ok(Running::new(local_addr, stop_tx, tasks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_huge_lengths_are_errors_not_panics() {
        for p in [Protocol::Compact, Protocol::Binary] {
            assert!(decode_packet(&[], p).is_err());
            assert!(decode_packet(&[0xff; 64], p).is_err());
            // A compact message header declaring a name of ~2 GiB.
            assert!(decode_packet(&[0x82, 0x81, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07], p).is_err());
            // A binary strict header, then a 2 GiB name length.
            assert!(decode_packet(&[0x80, 0x01, 0x00, 0x04, 0x7f, 0xff, 0xff, 0xff], p).is_err());
        }
    }
}
