//! Request frames: reading them off a socket within the size limit, decoding the header
//! and body with kafka-protocol, and encoding responses. Connection buffering lives in
//! `server`; what a request means lives in `handler`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, Result};
use crate::handler;

/// A decoded request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) api: ApiKey,
    pub(crate) version: i16,
    pub(crate) header: RequestHeader,
    pub(crate) body: RequestKind,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A request Floe serves.
    Request(Box<Request>),
    /// An ApiVersions request of a version Floe does not know: answered in v0 with
    /// UNSUPPORTED_VERSION, so that the client retries with one it does.
    ApiVersionsTooNew { correlation_id: i32 },
}

/// Reads one size-prefixed frame; `None` at a clean end of stream.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(rd: &mut R, max: usize) -> Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match rd.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l >= 8 && *l <= max)
        .ok_or_else(|| Error::Protocol(format!("frame of {len} bytes (limit {max})")))?;
    let mut buf = BytesMut::zeroed(len);
    rd.read_exact(&mut buf).await?;
    Ok(Some(buf.freeze()))
}

/// Decodes a frame's header and body.
pub(crate) fn decode(mut frame: Bytes) -> Result<Frame> {
    if frame.len() < 8 {
        return Err(Error::Protocol(format!("frame of {} bytes has no header", frame.len())));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(key).map_err(|()| Error::Protocol(format!("unknown API key {key}")))?;
    let Some(range) = handler::supported(api) else {
        return Err(Error::Protocol(format!("API {api:?} is not served")));
    };
    if version < range.min || version > range.max {
        if api == ApiKey::ApiVersions {
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            return Ok(Frame::ApiVersionsTooNew { correlation_id });
        }
        return Err(Error::Protocol(format!("{api:?} v{version} is not supported")));
    }
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| Error::Protocol(format!("{api:?} v{version} header: {e:#}")))?;
    let body = RequestKind::decode(api, &mut frame, version)
        .map_err(|e| Error::Protocol(format!("{api:?} v{version} body: {e:#}")))?;
    if frame.has_remaining() {
        tracing::debug!(?api, version, extra = frame.remaining(), "trailing bytes after request");
    }
    Ok(Frame::Request(Box::new(Request { api, version, header, body })))
}

/// Encodes a response frame, size prefix included.
pub(crate) fn encode(api: ApiKey, version: i16, correlation_id: i32, body: &ResponseKind) -> Result<Bytes> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| Error::Protocol(format!("{api:?} v{version} response header: {e:#}")))?;
    body.encode(&mut buf, version)
        .map_err(|e| Error::Protocol(format!("{api:?} v{version} response: {e:#}")))?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}
