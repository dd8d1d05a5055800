//! The file WAL's log on local disk: appends are group-committed (one write and one
//! fsync per group) to segment files, and replayed on start. A record torn by a crash
//! fails its checksum and is cut with everything after it: it was never acknowledged.
//!
//! ```text
//! segment file {dir}/{n:020}.log: records, back to back
//!
//! record, little-endian:
//!   0  u32  body length
//!   4  u32  CRC-32C of the body
//!   8  body:
//!        0  u64  stream
//!        8  u64  offset of the first record
//!       16  u64  producer id (u64::MAX: none)
//!       24  i16  producer epoch
//!       26  i32  producer's first sequence
//!       30  ...  frames, exactly as in a data block (see `object`)
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::object::{Batch, decode_block, encode_frame};
use crate::producer::ProducerStamp;

const RECORD_HEADER_LEN: usize = 8;
const BODY_HEADER_LEN: usize = 30;
const NO_PRODUCER: u64 = u64::MAX;

/// One append as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) stream: u64,
    pub(crate) base: u64,
    pub(crate) producer: Option<ProducerStamp>,
    pub(crate) batches: Vec<Batch>,
}

/// Appends `record`'s encoding to `buf`.
pub(crate) fn encode(buf: &mut BytesMut, record: &Record) {
    let start = buf.len();
    buf.put_u32_le(0);
    buf.put_u32_le(0);
    buf.put_u64_le(record.stream);
    buf.put_u64_le(record.base);
    let p = record.producer.unwrap_or(ProducerStamp { id: NO_PRODUCER, epoch: 0, first_sequence: 0 });
    buf.put_u64_le(p.id);
    buf.put_i16_le(p.epoch);
    buf.put_i32_le(p.first_sequence);
    for batch in &record.batches {
        encode_frame(buf, batch);
    }
    let body = start + RECORD_HEADER_LEN;
    let len = (buf.len() - body) as u32;
    let crc = crc32c::crc32c(&buf[body..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..body].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the records of a segment; stops at the first that is short or fails its
/// checks, and says how many bytes were good.
pub(crate) fn decode(mut bytes: Bytes) -> (Vec<Record>, usize) {
    let total = bytes.len();
    let mut out = Vec::new();
    while bytes.len() >= RECORD_HEADER_LEN {
        let len = (&bytes[0..4]).get_u32_le() as usize;
        let crc = (&bytes[4..8]).get_u32_le();
        if len < BODY_HEADER_LEN || bytes.len() - RECORD_HEADER_LEN < len {
            break;
        }
        let mut body = bytes.slice(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len);
        if crc32c::crc32c(&body) != crc {
            break;
        }
        let stream = body.get_u64_le();
        let base = body.get_u64_le();
        let id = body.get_u64_le();
        let epoch = body.get_i16_le();
        let first_sequence = body.get_i32_le();
        let Ok(batches) = decode_block(body) else { break };
        if batches.is_empty() {
            break;
        }
        let producer = (id != NO_PRODUCER).then_some(ProducerStamp { id, epoch, first_sequence });
        out.push(Record { stream, base, producer, batches });
        bytes.advance(RECORD_HEADER_LEN + len);
    }
    (out, total - bytes.len())
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Wal(format!("{what} {}: {e}", path.display()))
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.log"))
}

/// The log: segment files in one directory, which this process holds locked.
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    file: File,
    segment: u64,
    written: u64,
    segment_bytes: u64,
    /// Held for the life of the log: a second process on the same directory would
    /// interleave its records with ours.
    _lock: File,
}

impl Log {
    /// Locks `dir`, reads back every record of its segments (cutting torn tails), and
    /// starts a new segment for what comes next. Returns each record with its segment.
    pub(crate) fn open(dir: &Path, segment_bytes: u64) -> Result<(Log, Vec<(u64, Record)>)> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io("opening", &lock_path, e))?;
        lock.try_lock().map_err(|_| {
            Error::Wal(format!("{} is in use by another process (its LOCK is held)", dir.display()))
        })?;
        let mut segments: Vec<u64> = std::fs::read_dir(dir)
            .map_err(|e| io("listing", dir, e))?
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
            .collect();
        segments.sort_unstable();
        let mut records = Vec::new();
        for n in &segments {
            let path = segment_path(dir, *n);
            let bytes = Bytes::from(std::fs::read(&path).map_err(|e| io("reading", &path, e))?);
            let (found, good) = decode(bytes.clone());
            if good < bytes.len() {
                tracing::warn!(
                    segment = %path.display(),
                    cut = bytes.len() - good,
                    "torn tail in the file WAL (a write cut short by a crash); cutting it"
                );
                let f = OpenOptions::new().write(true).open(&path).map_err(|e| io("opening", &path, e))?;
                f.set_len(good as u64).map_err(|e| io("cutting", &path, e))?;
                f.sync_all().map_err(|e| io("syncing", &path, e))?;
            }
            records.extend(found.into_iter().map(|r| (*n, r)));
        }
        let segment = segments.last().map_or(1, |n| n + 1);
        let file = Self::create(dir, segment)?;
        let log = Log { dir: dir.to_path_buf(), file, segment, written: 0, segment_bytes, _lock: lock };
        Ok((log, records))
    }

    fn create(dir: &Path, n: u64) -> Result<File> {
        let path = segment_path(dir, n);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| io("creating", &path, e))?;
        // The new name must survive a crash too.
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing", dir, e))?;
        Ok(file)
    }

    /// Writes `bytes` (whole records) and waits until they are on disk. Returns the
    /// segment they went to.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<u64> {
        if self.written > 0 && self.written + bytes.len() as u64 > self.segment_bytes {
            let file = Self::create(&self.dir, self.segment + 1)?;
            self.file = file;
            self.segment += 1;
            self.written = 0;
        }
        let path = segment_path(&self.dir, self.segment);
        self.file.write_all(bytes).map_err(|e| io("writing", &path, e))?;
        self.file.sync_data().map_err(|e| io("syncing", &path, e))?;
        self.written += bytes.len() as u64;
        Ok(self.segment)
    }

    /// The segment being written.
    pub(crate) fn segment(&self) -> u64 {
        self.segment
    }

    /// Deletes the segments before `keep`: everything in them is in objects now.
    pub(crate) fn delete_below(&self, keep: u64) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let n: Option<u64> =
                entry.file_name().to_str().and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok());
            if n.is_some_and(|n| n < keep)
                && let Err(e) = std::fs::remove_file(entry.path())
            {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not delete an uploaded WAL segment");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn record(stream: u64, base: u64, payloads: &[&[u8]], producer: Option<ProducerStamp>) -> Record {
        let batches = payloads
            .iter()
            .map(|p| Batch { payload: Bytes::copy_from_slice(p), records: p.len() as u32, max_timestamp: 9 })
            .collect();
        Record { stream, base, producer, batches }
    }

    #[test]
    fn records_survive_a_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = Some(ProducerStamp { id: 4, epoch: 2, first_sequence: 17 });
        let (a, b) = (record(1, 0, &[b"abc", b"de"], stamp), record(2, 5, &[b"xyz"], None));
        {
            let (mut log, old) = Log::open(dir.path(), 1 << 20).unwrap();
            assert!(old.is_empty());
            let mut buf = BytesMut::new();
            encode(&mut buf, &a);
            encode(&mut buf, &b);
            assert_eq!(log.append(&buf).unwrap(), 1);
            // a crash in the middle of the next write: half a record reaches the disk
            let mut torn = BytesMut::new();
            encode(&mut torn, &record(1, 5, &[b"lost"], None));
            log.append(&torn[..torn.len() / 2]).unwrap();
            assert!(Log::open(dir.path(), 1 << 20).is_err(), "a second process is locked out");
        }
        let (log, replayed) = Log::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(replayed, vec![(1, a.clone()), (1, b)]);
        assert_eq!(log.segment(), 2, "new appends go to a new segment");
        drop(log);
        let (log, replayed) = Log::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(replayed.len(), 2, "the cut is durable; nothing torn comes back");
        log.delete_below(3);
        drop(log);
        assert!(Log::open(dir.path(), 1 << 20).unwrap().1.is_empty());
    }

    #[test]
    fn segments_roll_at_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), 100).unwrap();
        let mut buf = BytesMut::new();
        encode(&mut buf, &record(1, 0, &[&[7u8; 80]], None));
        assert_eq!(log.append(&buf).unwrap(), 1);
        assert_eq!(log.append(&buf).unwrap(), 2, "over 100 bytes: a new segment");
        assert_eq!(log.append(&buf).unwrap(), 3);
    }

    proptest! {
        /// Any flipped bit in a record is caught: it and what follows are not replayed.
        #[test]
        fn a_flipped_bit_is_never_replayed(payload in proptest::collection::vec(any::<u8>(), 1..200), bit in any::<usize>()) {
            let mut buf = BytesMut::new();
            encode(&mut buf, &record(3, 10, &[&payload], None));
            let at = bit % (buf.len() * 8);
            buf[at / 8] ^= 1 << (at % 8);
            let (records, _) = decode(buf.freeze());
            prop_assert!(records.is_empty());
        }
    }
}
