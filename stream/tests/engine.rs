//! The engine end to end over real stores: append, read back, restart from the bucket
//! alone, and faults that must not cost an acknowledged record or reuse an offset.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use floe_backends::{Op, Scheme, Store, StoreSettings};
use floe_stream::{Batch, EmbeddedMeta, Engine, EngineSettings, Error, ErrorKind};

fn store(scheme: Scheme, root: &str) -> Store {
    let mut s = StoreSettings { scheme, root: root.into(), ..StoreSettings::default() };
    s.retry.min_backoff = Duration::from_millis(1);
    s.retry.max_backoff = Duration::from_millis(2);
    s.retry.max_attempts = 3;
    floe_backends::open(&s, &prometheus::Registry::new()).unwrap()
}

async fn engine(store: &Store, writer: &str) -> Engine {
    let meta = EmbeddedMeta::open(store.store.clone(), writer.into(), 4).await.unwrap();
    let settings = EngineSettings {
        wal_window: Duration::from_millis(2),
        delete_grace: Duration::ZERO,
        ..EngineSettings::default()
    };
    Engine::start(store.store.clone(), Arc::new(meta), settings, writer.into(), &prometheus::Registry::new())
        .unwrap()
}

fn batch(tag: u64, records: u32) -> Batch {
    Batch { payload: Bytes::from(format!("batch-{tag}")), records, max_timestamp: tag as i64 * 10 }
}

async fn scenario(store: Store) {
    let e = engine(&store, "w1").await;
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
    drop(e);
    let e2 = engine(&store, "w2").await;
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

#[tokio::test]
async fn memory_scenario() {
    scenario(store(Scheme::Memory, "/")).await;
}

#[tokio::test]
async fn fs_scenario() {
    let dir = tempfile::tempdir().unwrap();
    scenario(store(Scheme::Fs, dir.path().to_str().unwrap())).await;
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
    drop(e2);
    // damage before the tail is not a crash artefact: refuse to start
    std::fs::write(&entries[0], b"{garbage").unwrap();
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
    assert_eq!(e2.remove_orphans().await.unwrap(), 1);
    assert_eq!(st.store.list("data/").await.unwrap().len(), 1);
    assert_eq!(e2.read(s, 0, 100).await.unwrap().len(), 1, "committed data untouched");
    assert_eq!(e2.remove_orphans().await.unwrap(), 0);
}
