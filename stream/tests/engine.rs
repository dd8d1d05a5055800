//! The engine end to end over real stores: append, read back, restart from the bucket
//! alone, and faults that must not cost an acknowledged record or reuse an offset.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use floe_backends::{Op, Scheme, Store};
use floe_stream::{Batch, EmbeddedMeta, Engine, EngineSettings, Error, ErrorKind, WalMode};

mod common;
use common::store;

fn settings() -> EngineSettings {
    EngineSettings {
        wal: Some(WalMode::Object),
        wal_window: Duration::from_millis(2),
        delete_grace: Duration::ZERO,
        ..EngineSettings::default()
    }
}

/// File WAL settings with the log in `dir`; uploads only when asked (flush).
fn file_wal(dir: &std::path::Path) -> EngineSettings {
    EngineSettings {
        wal: Some(WalMode::File),
        wal_dir: Some(dir.to_path_buf()),
        wal_upload_interval: Duration::from_secs(3600),
        wal_upload_bytes: usize::MAX / 4,
        ..settings()
    }
}

async fn engine_with(store: &Store, writer: &str, settings: EngineSettings) -> Result<Engine, Error> {
    let meta = EmbeddedMeta::open(store.store.clone(), writer.into(), 4).await.unwrap();
    Engine::start(store.store.clone(), Arc::new(meta), settings, writer.into(), &prometheus::Registry::new())
        .await
}

async fn engine(store: &Store, writer: &str) -> Engine {
    engine_with(store, writer, settings()).await.unwrap()
}

fn batch(tag: u64, records: u32) -> Batch {
    Batch { payload: Bytes::from(format!("batch-{tag}")), records, max_timestamp: tag as i64 * 10 }
}

/// The engine behind `scenario`: each writer gets its own settings (its own machine).
type Setup = fn(&str) -> EngineSettings;

async fn scenario(store: Store, setup: Setup) {
    let e = engine_with(&store, "w1", setup("w1")).await.unwrap();
    let topic = e.create_topic("t", 2, BTreeMap::new()).await.unwrap();
    let (s0, s1) = (topic.streams[0], topic.streams[1]);
    let mut expected = Vec::new();
    for i in 0..20u64 {
        let base = e.append(s0, vec![batch(i, 3)]).await.unwrap();
        assert_eq!(base, i * 3);
        expected.push((base, format!("batch-{i}")));
    }
    // concurrent appends to two streams land in shared windows
    let joins: Vec<_> = (0..10)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { e.append(s1, vec![batch(100 + i, 1)]).await })
        })
        .collect();
    let mut bases: Vec<u64> = Vec::new();
    for j in joins {
        bases.push(j.await.unwrap().unwrap());
    }
    bases.sort_unstable();
    assert_eq!(bases, (0..10).collect::<Vec<_>>());
    assert_eq!(e.bounds(s0).unwrap(), (0, 60));

    let read = e.read(s0, 31, 1 << 20).await.unwrap();
    assert_eq!(read[0].base_offset, 30, "the batch holding offset 31 comes first");
    assert_eq!(e.offset_for_timestamp(s0, 55).await.unwrap(), Some(18));
    assert_eq!(e.offset_for_timestamp(s0, 10_000).await.unwrap(), None);
    assert!(matches!(e.read(s0, 61, 10).await, Err(Error::OffsetOutOfRange { .. })));

    // a new engine on the same bucket, with nothing else, sees everything
    e.flush().await.unwrap();
    drop(e);
    let e2 = engine_with(&store, "w2", setup("w2")).await.unwrap();
    let reads = |s: &Store| s.metrics.requests(Op::GetRange) + s.metrics.requests(Op::Get);
    let gets_before = reads(&store);
    let all = e2.read(s0, 0, 1 << 30).await.unwrap();
    let got: Vec<(u64, String)> =
        all.iter().map(|r| (r.base_offset, String::from_utf8(r.batch.payload.to_vec()).unwrap())).collect();
    assert_eq!(got, expected);
    assert!(reads(&store) > gets_before, "cold reads come from the store");
    let base = e2.append(s0, vec![batch(99, 1)]).await.unwrap();
    assert_eq!(base, 60, "offsets continue, never reused");
    // a tailing read is served from the log cache: no GET
    let gets = reads(&store);
    assert_eq!(e2.read(s0, 60, 1 << 20).await.unwrap().len(), 1);
    assert_eq!(reads(&store), gets);
}

fn object_wal(_: &str) -> EngineSettings {
    settings()
}

/// A file WAL in a fresh directory per writer, uploading on its own schedule.
fn local_file_wal(writer: &str) -> EngineSettings {
    let dir = tempfile::Builder::new().prefix(&format!("floe-wal-{writer}")).tempdir().unwrap().keep();
    EngineSettings { wal_upload_interval: Duration::from_millis(20), ..file_wal(&dir) }
}

#[tokio::test]
async fn memory_scenario() {
    scenario(store(Scheme::Memory, "/"), object_wal).await;
}

#[tokio::test]
async fn fs_scenario() {
    let dir = tempfile::tempdir().unwrap();
    scenario(store(Scheme::Fs, dir.path().to_str().unwrap()), object_wal).await;
}

#[tokio::test]
async fn memory_scenario_file_wal() {
    scenario(store(Scheme::Memory, "/"), local_file_wal).await;
}

#[tokio::test]
async fn fs_scenario_file_wal() {
    let dir = tempfile::tempdir().unwrap();
    scenario(store(Scheme::Fs, dir.path().to_str().unwrap()), local_file_wal).await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn payloads(read: &[floe_stream::ReadBatch]) -> Vec<(u64, String)> {
    read.iter().map(|r| (r.base_offset, String::from_utf8(r.batch.payload.to_vec()).unwrap())).collect()
}

#[tokio::test]
async fn file_wal_acks_from_disk_and_a_crash_loses_nothing_it_acked() {
    use floe_stream::ProducerStamp;
    let st = store(Scheme::Memory, "/");
    let (wal, crashed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let e = engine_with(&st, "w1", file_wal(wal.path())).await.unwrap();
    let t = e.create_topic("t", 2, BTreeMap::new()).await.unwrap();
    let (s0, s1) = (t.streams[0], t.streams[1]);
    let id = e.allocate_producer_id().await.unwrap();
    let stamp = |seq| Some(ProducerStamp { id, epoch: 0, first_sequence: seq });
    for i in 0..10u64 {
        let (a, b) = tokio::join!(
            async { e.submit(s0, vec![batch(i, 2)], stamp(2 * i as i32)).await?.durable().await },
            e.append(s1, vec![batch(100 + i, 1)])
        );
        assert_eq!((a.unwrap(), b.unwrap()), (2 * i, i));
    }
    assert!(st.store.list("data/").await.unwrap().is_empty(), "acked from the local log: no object yet");
    assert_eq!(e.bounds(s0).unwrap(), (0, 20));
    let expected0 = payloads(&e.read(s0, 0, 1 << 20).await.unwrap());
    assert_eq!(expected0.len(), 10, "pending appends are readable");

    // kill -9: the log as it is on disk now, with a torn record at its end; a new
    // process adopts it
    copy_dir(&wal.path().join("w1"), &crashed.path().join("w1"));
    let mut segments: Vec<_> =
        std::fs::read_dir(crashed.path().join("w1")).unwrap().map(|d| d.unwrap().path()).collect();
    segments.retain(|p| p.extension().is_some_and(|x| x == "log"));
    segments.sort();
    let torn = segments.last().unwrap();
    let mut bytes = std::fs::read(torn).unwrap();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
    std::fs::write(torn, bytes).unwrap();
    let e2 = engine_with(&st, "w2", file_wal(crashed.path())).await.unwrap();
    assert_eq!(e2.bounds(s0).unwrap(), (0, 20), "replayed before serving");
    assert_eq!(payloads(&e2.read(s0, 0, 1 << 20).await.unwrap()), expected0);
    // the producer's state came back with the log: a retry is still a duplicate
    let retry = e2.submit(s0, vec![batch(9, 2)], stamp(18)).await.unwrap().durable().await.unwrap();
    assert_eq!(retry, 18);
    assert_eq!(e2.append(s1, vec![batch(110, 1)]).await.unwrap(), 10);
    e2.flush().await.unwrap();
    assert!(!st.store.list("data/").await.unwrap().is_empty());
    assert!(!crashed.path().join("w1").exists(), "the adopted log is gone");

    // the old process took nothing further: it was fenced by the new one
    assert_eq!(e.flush().await.unwrap_err().kind(), ErrorKind::Retriable);
    assert!(e.append(s1, vec![batch(999, 1)]).await.is_err(), "a fenced writer acks nothing more");

    // everything is in the bucket now: a third engine with no log at all has it
    let e3 = engine(&st, "w3").await;
    assert_eq!(payloads(&e3.read(s0, 0, 1 << 20).await.unwrap()), expected0);
    let s1_all = payloads(&e3.read(s1, 0, 1 << 20).await.unwrap());
    assert_eq!(s1_all.len(), 11);
    assert_eq!(s1_all.iter().map(|(o, _)| *o).collect::<Vec<_>>(), (0..11).collect::<Vec<_>>());
}

#[tokio::test]
async fn file_wal_rides_out_a_store_outage_and_lost_answers() {
    let st = store(Scheme::Memory, "/");
    let wal = tempfile::tempdir().unwrap();
    let fast = EngineSettings { wal_upload_interval: Duration::from_millis(5), ..file_wal(wal.path()) };
    let e = engine_with(&st, "w1", fast.clone()).await.unwrap();
    let s = e.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    assert_eq!(e.append(s, vec![batch(0, 1)]).await.unwrap(), 0, "claims the stream while the store is up");
    st.faults.set_down(true);
    for i in 1..20u64 {
        assert_eq!(
            e.append(s, vec![batch(i, 1)]).await.unwrap(),
            i,
            "acked from the log while the store is down"
        );
    }
    assert!(tokio::time::timeout(Duration::from_millis(200), e.flush()).await.is_err(), "cannot upload yet");
    st.faults.set_down(false);
    // every write lands but half the answers are lost
    st.faults.set_ambiguous_rate(0.5);
    for i in 20..40u64 {
        assert_eq!(e.append(s, vec![batch(i, 1)]).await.unwrap(), i);
    }
    let flushed = async { while e.flush().await.is_err() {} };
    tokio::time::timeout(Duration::from_secs(30), flushed).await.unwrap();
    st.faults.set_ambiguous_rate(0.0);
    e.flush().await.unwrap();
    let e2 = engine(&st, "w2").await;
    let all = payloads(&e2.read(s, 0, 1 << 20).await.unwrap());
    let expected: Vec<(u64, String)> = (0..40).map(|i| (i, format!("batch-{i}"))).collect();
    assert_eq!(all, expected, "each acked append exactly once, at its acked offset");
}

#[tokio::test]
async fn an_old_writer_is_fenced_once_another_takes_the_stream_over() {
    let st = store(Scheme::Memory, "/");
    let old = engine(&st, "old").await;
    let s = old.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    assert_eq!(old.append(s, vec![batch(0, 1)]).await.unwrap(), 0);
    let new = engine(&st, "new").await;
    assert_eq!(new.append(s, vec![batch(1, 1)]).await.unwrap(), 1);
    let err = old.append(s, vec![batch(2, 1)]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fenced, "{err}");
    assert_eq!(new.append(s, vec![batch(3, 1)]).await.unwrap(), 2);
    let all = payloads(&new.read(s, 0, 1 << 20).await.unwrap());
    assert_eq!(all, vec![(0, "batch-0".into()), (1, "batch-1".into()), (2, "batch-3".into())]);
}

#[tokio::test]
async fn store_outage_fails_appends_retriably_and_loses_nothing() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let s = e.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    assert_eq!(e.append(s, vec![batch(0, 1)]).await.unwrap(), 0);
    st.faults.set_down(true);
    let err = e.append(s, vec![batch(1, 1)]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retriable, "{err}");
    st.faults.set_down(false);
    assert_eq!(e.append(s, vec![batch(2, 1)]).await.unwrap(), 1);
    let e2 = engine(&st, "w2").await;
    assert_eq!(e2.bounds(s).unwrap(), (0, 2));
}

#[tokio::test]
async fn ambiguous_commits_never_reuse_offsets() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let s = e.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    let mut acked = Vec::new();
    // every write lands but half the answers are lost, retries included
    st.faults.set_ambiguous_rate(0.5);
    for i in 0..40u64 {
        if let Ok(base) = e.append(s, vec![batch(i, 1)]).await {
            acked.push((base, i));
        }
    }
    st.faults.set_ambiguous_rate(0.0);
    // one clean append resolves any uncertain metadata write
    let last = e.append(s, vec![batch(1000, 1)]).await.unwrap();
    acked.push((last, 1000));
    let e2 = engine(&st, "w2").await;
    let all = e2.read(s, 0, 1 << 30).await.unwrap();
    let offsets: Vec<u64> = all.iter().map(|r| r.base_offset).collect();
    assert_eq!(offsets, (0..all.len() as u64).collect::<Vec<_>>(), "contiguous, no reuse");
    for (base, tag) in acked {
        let r = all.iter().find(|r| r.base_offset == base).expect("acked offset present");
        assert_eq!(
            r.batch.payload,
            Bytes::from(format!("batch-{tag}")),
            "offset {base} holds what was acked"
        );
    }
}

#[tokio::test]
async fn idempotent_appends_dedupe_across_restarts() {
    use floe_stream::ProducerStamp;
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let s = e.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    let id = e.allocate_producer_id().await.unwrap();
    assert_ne!(e.allocate_producer_id().await.unwrap(), id, "ids are never reused");
    let stamp = |seq| Some(ProducerStamp { id, epoch: 0, first_sequence: seq });
    let append = |e: Engine, seq: i32, tag: u64| async move {
        e.submit(s, vec![batch(tag, 2)], stamp(seq)).await?.durable().await
    };
    assert_eq!(append(e.clone(), 0, 0).await.unwrap(), 0);
    assert_eq!(append(e.clone(), 2, 1).await.unwrap(), 2);
    // a retry of the first append: same offset, nothing written
    assert_eq!(append(e.clone(), 0, 0).await.unwrap(), 0);
    assert!(matches!(append(e.clone(), 9, 2).await, Err(Error::OutOfOrderSequence(_))));
    // two copies in one window: one write
    let (a, b) = tokio::join!(append(e.clone(), 4, 3), append(e.clone(), 4, 3));
    assert_eq!((a.unwrap(), b.unwrap()), (4, 4));
    assert_eq!(e.bounds(s).unwrap(), (0, 6));
    // the producer state is in the metadata, so a new engine still knows the retry
    let e2 = engine(&st, "w2").await;
    assert_eq!(append(e2.clone(), 4, 3).await.unwrap(), 4);
    assert_eq!(append(e2.clone(), 6, 4).await.unwrap(), 6);
    assert!(e2.allocate_producer_id().await.unwrap() > id);
}

#[tokio::test]
async fn catch_up_reads_fetch_each_object_once() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let t = e.create_topic("t", 2, BTreeMap::new()).await.unwrap();
    let (s0, s1) = (t.streams[0], t.streams[1]);
    for i in 0..8u64 {
        // both streams in the same window, so in the same object
        let (a, b) = tokio::join!(e.append(s0, vec![batch(i, 1)]), e.append(s1, vec![batch(i, 1)]));
        a.unwrap();
        b.unwrap();
    }
    let objects = st.metrics.requests(Op::Put) as usize;
    let cold = engine(&st, "w2").await;
    let reads = || st.metrics.requests(Op::GetRange) + st.metrics.requests(Op::Get);
    let before = reads();
    assert_eq!(cold.read(s0, 0, 1 << 30).await.unwrap().len(), 8);
    let for_s0 = reads() - before;
    assert!(for_s0 as usize <= objects, "{for_s0} GETs for {objects} objects");
    assert_eq!(cold.read(s1, 0, 1 << 30).await.unwrap().len(), 8);
    assert_eq!(reads() - before, for_s0, "stream 1 came with stream 0's objects: no more GETs");

    // many readers missing on the same objects at once share each fetch
    let colder = engine(&st, "w3").await;
    st.faults.set_latency(Duration::from_millis(5)); // so that the readers' misses overlap
    let before = reads();
    let readers: Vec<_> = (0..16)
        .map(|i| {
            let e = colder.clone();
            let s = if i % 2 == 0 { s0 } else { s1 };
            tokio::spawn(async move { e.read(s, 0, 1 << 30).await.unwrap().len() })
        })
        .collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), 8);
    }
    assert_eq!(reads() - before, for_s0, "one GET per object, however many readers miss on it");
    st.faults.set_latency(Duration::ZERO);
}

#[tokio::test]
async fn a_torn_metadata_tail_is_cut_but_earlier_damage_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let st = store(Scheme::Fs, root);
    let e = engine(&st, "w").await;
    let s = e.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    assert_eq!(e.append(s, vec![batch(0, 1)]).await.unwrap(), 0);
    drop(e);
    let log = dir.path().join("meta/log");
    let mut entries: Vec<_> = std::fs::read_dir(&log).unwrap().map(|d| d.unwrap().path()).collect();
    entries.sort();
    // a crash in the middle of writing the next entry leaves it empty
    let torn = log.join(format!("{:020}.json", entries.len() + 1));
    std::fs::write(&torn, b"").unwrap();
    let e2 = engine(&st, "w2").await;
    assert!(!torn.exists(), "the torn tail was cut");
    assert_eq!(e2.bounds(s).unwrap(), (0, 1));
    assert_eq!(e2.append(s, vec![batch(1, 1)]).await.unwrap(), 1, "and the log goes on");
    e2.append(s, vec![batch(2, 1)]).await.unwrap();
    e2.append(s, vec![batch(3, 1)]).await.unwrap();
    drop(e2);
    // damage before the tail (past the latest snapshot) is not a crash artefact: refuse
    // to start
    let latest = |dir: &str| {
        let mut keys: Vec<_> =
            std::fs::read_dir(dir).map(|r| r.map(|d| d.unwrap().path()).collect()).unwrap_or_default();
        keys.sort();
        keys
    };
    let snapshot = latest(dir.path().join("meta/snapshot").to_str().unwrap()).pop();
    let covered = snapshot.map_or(String::new(), |p| p.file_name().unwrap().to_str().unwrap().to_string());
    let live: Vec<_> = latest(log.to_str().unwrap())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_str().unwrap() > covered.as_str())
        .collect();
    assert!(live.len() >= 2, "{live:?}");
    std::fs::write(&live[0], b"{garbage").unwrap();
    let err = EmbeddedMeta::open(st.store.clone(), "w3".into(), 4).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
}

#[tokio::test]
async fn retention_trims_whole_blocks_and_deletes_unreferenced_objects() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let t = e.create_topic("t", 2, BTreeMap::new()).await.unwrap();
    let (s0, s1) = (t.streams[0], t.streams[1]);
    for i in 0..10u64 {
        e.append(s0, vec![batch(i, 1)]).await.unwrap(); // timestamps 0, 10, ... 90
    }
    // stream 1 shares the last object with stream 0
    let (a, b) = tokio::join!(e.append(s0, vec![batch(10, 1)]), e.append(s1, vec![batch(10, 1)]));
    a.unwrap();
    b.unwrap();
    let data = |st: &Store| {
        let st = st.clone();
        async move { st.store.list("data/").await.unwrap().len() }
    };
    let objects_before = data(&st).await;
    // by age: records with timestamps below 45 are older than 55 ms at "now" 100
    assert_eq!(e.enforce_retention(s0, Some(55), None, 100).await.unwrap(), 5);
    assert!(matches!(e.read(s0, 4, 100).await, Err(Error::OffsetOutOfRange { .. })));
    assert_eq!(e.read(s0, 5, 1 << 20).await.unwrap()[0].base_offset, 5);
    // by size: keep at most about three blocks' worth
    let block = 20 + "batch-0".len() as u64;
    assert_eq!(e.enforce_retention(s0, None, Some(3 * block), 100).await.unwrap(), 8);
    // nothing more to do: the start stays
    assert_eq!(e.enforce_retention(s0, None, Some(3 * block), 100).await.unwrap(), 8);
    tokio::time::sleep(Duration::from_millis(50)).await; // the (zero) grace period
    assert_eq!(data(&st).await, objects_before - 8, "the trimmed blocks' objects are gone");
    // a restart sees the same start, and the object shared with stream 1 is kept
    let e2 = engine(&st, "w2").await;
    assert_eq!(e2.bounds(s0).unwrap(), (8, 11));
    assert_eq!(e2.read(s1, 0, 1 << 20).await.unwrap().len(), 1);
    // deleting the topic releases the rest
    e2.delete_topic("t").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(data(&st).await, 0);
}

#[tokio::test]
async fn orphans_of_a_crash_are_removed_and_nothing_else() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let s = e.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    e.append(s, vec![batch(0, 1)]).await.unwrap();
    // an object written but never committed, as a crash between the two leaves it
    st.store.put("data/dead-writer/0000000000000001.floe", Bytes::from_static(b"partial")).await.unwrap();
    assert_eq!(st.store.list("data/").await.unwrap().len(), 2);
    let e2 = engine(&st, "w2").await;
    // the engine's own upload in flight (a file WAL replaying) is not an orphan
    st.store.put("data/w2/0000000000000001.floe", Bytes::from_static(b"in flight")).await.unwrap();
    assert_eq!(e2.remove_orphans().await.unwrap(), 1);
    assert_eq!(st.store.list("data/").await.unwrap().len(), 2);
    assert_eq!(e2.read(s, 0, 100).await.unwrap().len(), 1, "committed data untouched");
    assert_eq!(e2.remove_orphans().await.unwrap(), 0);
}

#[tokio::test]
async fn a_rewrite_keeps_every_offset_where_it_was() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let s = e.create_topic("t", 1, BTreeMap::new()).await.unwrap().streams[0];
    for i in 0..6u64 {
        e.append(s, vec![batch(i, 3)]).await.unwrap(); // offsets 3i..3i+3
    }
    // the batches at 3 and 9 lose their first two offsets' records; the rest stay
    let rewriter = |base: u64, b: &Batch| {
        (base == 3 || base == 9).then(|| {
            let hole = Batch { payload: Bytes::new(), records: 2, max_timestamp: i64::MIN };
            let rest = Batch {
                payload: Bytes::from(format!("kept-{base}")),
                records: 1,
                max_timestamp: b.max_timestamp,
            };
            vec![hole, rest]
        })
    };
    let stats = e.rewrite(s, 12, &rewriter).await.unwrap();
    assert!(stats.objects_written > 0);
    let cold = engine(&st, "w2").await;
    let got: Vec<(u64, u32, String)> = cold
        .read(s, 0, 1 << 20)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.base_offset, r.batch.records, String::from_utf8(r.batch.payload.to_vec()).unwrap()))
        .collect();
    let expected: Vec<(u64, u32, String)> = vec![
        (0, 3, "batch-0".into()),
        (3, 2, String::new()),
        (5, 1, "kept-3".into()),
        (6, 3, "batch-2".into()),
        (9, 2, String::new()),
        (11, 1, "kept-9".into()),
        (12, 3, "batch-4".into()),
        (15, 3, "batch-5".into()),
    ];
    assert_eq!(got, expected);
    assert_eq!(cold.bounds(s).unwrap(), (0, 18));
    // a rewrite that would move offsets is refused
    let shrink =
        |_: u64, _: &Batch| Some(vec![Batch { payload: Bytes::from("x"), records: 1, max_timestamp: 0 }]);
    assert!(e.rewrite(s, 18, &shrink).await.is_err());
    let after = engine(&st, "w3").await;
    assert_eq!(after.read(s, 0, 1 << 20).await.unwrap().len(), 8, "and nothing changed");
}
