//! The data object format: what one WAL window (or a compaction) writes as one object.
//!
//! ```text
//! +--------------------------------------------------------------+
//! | data block of stream A: frame, frame, ...                    |
//! | data block of stream B: frame, frame, ...                    |
//! | ...                                                          |
//! +--------------------------------------------------------------+
//! | index block: one 48-byte entry per data block                |
//! +--------------------------------------------------------------+
//! | footer (32 bytes)                                            |
//! +--------------------------------------------------------------+
//!
//! frame (20-byte header + payload), little-endian:
//!   0  u32  payload length
//!   4  u32  record count (offsets the payload spans)
//!   8  i64  largest timestamp in the payload (ms)
//!  16  u32  CRC-32C of header bytes 0..16 and the payload
//!  20  ...  payload: the batch exactly as the producer sent it
//!
//! index entry (48 bytes):
//!   0 u64 stream id   8 u64 base offset   16 u64 record count
//!  24 u64 position   32 u64 length        40 i64 largest timestamp
//!
//! footer (32 bytes):
//!   0 u64 index position   8 u32 index length   12 u32 CRC-32C of the index
//!  16 u16 format version   18 u16 flags (0)     20 u32 CRC-32C of bytes 0..20
//!  24 [u8; 8] magic "FLOEOBJ\0"
//! ```
//!
//! A data block is self-describing: a reader that fetched only a block's byte range (as
//! the metadata index gives it) can walk its frames without the index block.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Current format version. Readers reject any other.
pub const FORMAT_VERSION: u16 = 1;
const MAGIC: &[u8; 8] = b"FLOEOBJ\0";
/// Size of the footer.
pub const FOOTER_LEN: usize = 32;
/// Size of a frame header.
pub const FRAME_HEADER_LEN: usize = 20;
const INDEX_ENTRY_LEN: usize = 48;

/// One batch as the engine stores it: opaque bytes and what it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The bytes, untouched.
    pub payload: Bytes,
    /// How many offsets the batch takes (at least 1).
    pub records: u32,
    /// Largest timestamp in the batch, for time lookups.
    pub max_timestamp: i64,
}

/// Where one stream's data block sits in an object, and which offsets it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockEntry {
    /// Stream the block belongs to.
    pub stream: u64,
    /// Offset of the block's first record.
    pub base_offset: u64,
    /// Offsets the block spans.
    pub records: u64,
    /// Byte position in the object.
    pub position: u64,
    /// Byte length.
    pub length: u64,
    /// Largest timestamp in the block.
    pub max_timestamp: i64,
}

impl BlockEntry {
    /// One past the last offset in the block.
    pub fn end_offset(&self) -> u64 {
        self.base_offset + self.records
    }
}

/// Builds one object from the data blocks of several streams.
#[derive(Debug, Default)]
pub struct ObjectBuilder {
    buf: BytesMut,
    index: Vec<BlockEntry>,
}

impl ObjectBuilder {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a data block of `batches` for `stream`, whose first offset is
    /// `base_offset`. Returns the block's index entry.
    pub fn add_block(&mut self, stream: u64, base_offset: u64, batches: &[Batch]) -> BlockEntry {
        let position = self.buf.len() as u64;
        let mut records = 0u64;
        let mut max_timestamp = i64::MIN;
        for batch in batches {
            encode_frame(&mut self.buf, batch);
            records += u64::from(batch.records);
            max_timestamp = max_timestamp.max(batch.max_timestamp);
        }
        let entry = BlockEntry {
            stream,
            base_offset,
            records,
            position,
            length: self.buf.len() as u64 - position,
            max_timestamp,
        };
        self.index.push(entry);
        entry
    }

    /// Whether no block was added.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Writes the index and the footer; returns the object and its index.
    pub fn finish(mut self) -> (Bytes, Vec<BlockEntry>) {
        let index_pos = self.buf.len() as u64;
        for e in &self.index {
            self.buf.put_u64_le(e.stream);
            self.buf.put_u64_le(e.base_offset);
            self.buf.put_u64_le(e.records);
            self.buf.put_u64_le(e.position);
            self.buf.put_u64_le(e.length);
            self.buf.put_i64_le(e.max_timestamp);
        }
        let index_len = (self.buf.len() as u64 - index_pos) as u32;
        let index_crc = crc32c::crc32c(&self.buf[index_pos as usize..]);
        let mut footer = [0u8; FOOTER_LEN];
        footer[0..8].copy_from_slice(&index_pos.to_le_bytes());
        footer[8..12].copy_from_slice(&index_len.to_le_bytes());
        footer[12..16].copy_from_slice(&index_crc.to_le_bytes());
        footer[16..18].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let footer_crc = crc32c::crc32c(&footer[0..20]);
        footer[20..24].copy_from_slice(&footer_crc.to_le_bytes());
        footer[24..32].copy_from_slice(MAGIC);
        self.buf.put_slice(&footer);
        (self.buf.freeze(), self.index)
    }
}

/// Appends one frame holding `batch`.
pub(crate) fn encode_frame(buf: &mut BytesMut, batch: &Batch) {
    let start = buf.len();
    buf.put_u32_le(batch.payload.len() as u32);
    buf.put_u32_le(batch.records);
    buf.put_i64_le(batch.max_timestamp);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[start..]), &batch.payload);
    buf.put_u32_le(crc);
    buf.put_slice(&batch.payload);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Where the index block is, read from an object's footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Position of the index block.
    pub index_position: u64,
    /// Length of the index block.
    pub index_length: u32,
    index_crc: u32,
}

impl Footer {
    /// Parses and checks the last [`FOOTER_LEN`] bytes of an object.
    pub fn decode(bytes: &[u8]) -> Result<Footer> {
        if bytes.len() != FOOTER_LEN {
            return Err(Error::Corrupt(format!("footer is {} bytes, not {FOOTER_LEN}", bytes.len())));
        }
        if &bytes[24..32] != MAGIC {
            return Err(Error::Corrupt("not a Floe object (bad magic)".into()));
        }
        if crc32c::crc32c(&bytes[0..20]) != u32_at(bytes, 20) {
            return Err(Error::Corrupt("footer checksum mismatch".into()));
        }
        let version = u16::from_le_bytes([bytes[16], bytes[17]]);
        if version != FORMAT_VERSION {
            return Err(Error::Corrupt(format!(
                "object format version {version} is not supported (this build reads {FORMAT_VERSION})"
            )));
        }
        Ok(Footer {
            index_position: u64_at(bytes, 0),
            index_length: u32_at(bytes, 8),
            index_crc: u32_at(bytes, 12),
        })
    }

    /// Parses and checks the index block this footer points to.
    pub fn decode_index(&self, bytes: &[u8]) -> Result<Vec<BlockEntry>> {
        if bytes.len() != self.index_length as usize || !bytes.len().is_multiple_of(INDEX_ENTRY_LEN) {
            return Err(Error::Corrupt(format!("index block of {} bytes", bytes.len())));
        }
        if crc32c::crc32c(bytes) != self.index_crc {
            return Err(Error::Corrupt("index checksum mismatch".into()));
        }
        Ok(bytes
            .chunks_exact(INDEX_ENTRY_LEN)
            .map(|c| BlockEntry {
                stream: u64_at(c, 0),
                base_offset: u64_at(c, 8),
                records: u64_at(c, 16),
                position: u64_at(c, 24),
                length: u64_at(c, 32),
                max_timestamp: u64_at(c, 40) as i64,
            })
            .collect())
    }
}

/// Decodes a whole object: its index, checked against the footer.
pub fn decode_object(bytes: &[u8]) -> Result<Vec<BlockEntry>> {
    if bytes.len() < FOOTER_LEN {
        return Err(Error::Corrupt(format!("object of {} bytes has no footer", bytes.len())));
    }
    let footer = Footer::decode(&bytes[bytes.len() - FOOTER_LEN..])?;
    let start = usize::try_from(footer.index_position)
        .map_err(|_| Error::Corrupt("index position overflows".into()))?;
    let end = start + footer.index_length as usize;
    if end != bytes.len() - FOOTER_LEN {
        return Err(Error::Corrupt("index block does not end at the footer".into()));
    }
    let index = footer.decode_index(&bytes[start..end])?;
    if index.iter().any(|e| e.position + e.length > footer.index_position) {
        return Err(Error::Corrupt("index entry points past the data".into()));
    }
    Ok(index)
}

/// Splits a data block into its batches, checking every frame.
pub fn decode_block(mut bytes: Bytes) -> Result<Vec<Batch>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < FRAME_HEADER_LEN {
            return Err(Error::Corrupt("truncated frame header".into()));
        }
        let len = u32_at(&bytes, 0) as usize;
        let records = u32_at(&bytes, 4);
        let max_timestamp = u64_at(&bytes, 8) as i64;
        let crc = u32_at(&bytes, 16);
        if bytes.len() < FRAME_HEADER_LEN + len {
            return Err(Error::Corrupt("truncated frame payload".into()));
        }
        let frame = bytes.split_to(FRAME_HEADER_LEN + len);
        let payload = frame.slice(FRAME_HEADER_LEN..);
        if crc32c::crc32c_append(crc32c::crc32c(&frame[..16]), &payload) != crc {
            return Err(Error::Corrupt("frame checksum mismatch".into()));
        }
        out.push(Batch { payload, records, max_timestamp });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn batch(data: Vec<u8>, records: u32, ts: i64) -> Batch {
        Batch { payload: Bytes::from(data), records, max_timestamp: ts }
    }

    fn arb_batch() -> impl Strategy<Value = Batch> {
        (proptest::collection::vec(any::<u8>(), 0..300), 1u32..1000, any::<i64>())
            .prop_map(|(d, r, t)| batch(d, r, t))
    }

    proptest! {
        #[test]
        fn objects_round_trip(blocks in proptest::collection::vec(
            (any::<u64>(), 0u64..1 << 40, proptest::collection::vec(arb_batch(), 1..6)), 1..6)) {
            let mut b = ObjectBuilder::new();
            for (stream, base, batches) in &blocks {
                b.add_block(*stream, *base, batches);
            }
            let (bytes, index) = b.finish();
            prop_assert_eq!(decode_object(&bytes).unwrap(), index.clone());
            for ((stream, base, batches), entry) in blocks.iter().zip(&index) {
                prop_assert_eq!(entry.stream, *stream);
                prop_assert_eq!(entry.base_offset, *base);
                let records: u64 = batches.iter().map(|b| u64::from(b.records)).sum();
                prop_assert_eq!(entry.records, records);
                let block = bytes.slice(entry.position as usize..(entry.position + entry.length) as usize);
                prop_assert_eq!(&decode_block(block).unwrap(), batches);
            }
        }

        #[test]
        fn any_flipped_bit_is_caught(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut b = ObjectBuilder::new();
            b.add_block(1, 0, &[batch(vec![7; 40], 3, 5)]);
            let (bytes, index) = b.finish();
            let mut bad = bytes.to_vec();
            let i = pos.index(bad.len());
            bad[i] ^= 1 << bit;
            let whole = decode_object(&bad);
            let block = decode_block(Bytes::from(bad[..index[0].length as usize].to_vec()));
            prop_assert!(whole.is_err() || block.is_err(), "flip at {} undetected", i);
        }
    }

    #[test]
    fn unknown_version_is_rejected_clearly() {
        let (bytes, _) = ObjectBuilder::new().finish();
        let mut bad = bytes.to_vec();
        let n = bad.len();
        bad[n - 16] = 9; // version low byte
        let crc = crc32c::crc32c(&bad[n - 32..n - 12]);
        bad[n - 12..n - 8].copy_from_slice(&crc.to_le_bytes());
        let err = decode_object(&bad).unwrap_err().to_string();
        assert!(err.contains("version 9"), "{err}");
    }

    #[test]
    fn garbage_is_not_an_object() {
        assert!(decode_object(b"short").is_err());
        assert!(decode_object(&[0u8; 64]).unwrap_err().to_string().contains("magic"));
    }

    #[test]
    fn layout_is_pinned() {
        let mut b = ObjectBuilder::new();
        b.add_block(2, 10, &[batch(b"ab".to_vec(), 1, 3)]);
        let (bytes, _) = b.finish();
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + 2 + INDEX_ENTRY_LEN + FOOTER_LEN);
        assert_eq!(&bytes[..8], &[2, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&bytes[20..22], b"ab");
        assert_eq!(&bytes[bytes.len() - 8..], MAGIC);
    }
}
