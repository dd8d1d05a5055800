//! Compaction end to end over real stores: every offset reads back the same before and
//! after, with fewer objects and fewer GETs; readers, trims and faults racing it never
//! see a gap, a duplicate or a lost record.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use floe_backends::{Op, Scheme, Store};
use floe_stream::{Batch, EmbeddedMeta, Engine, EngineSettings, ErrorKind, WalMode};

mod common;
use common::store;

/// Sizes small enough that the few hundred bytes a test writes make several outputs,
/// one of them a busy stream's own. No log cache, so that reads go to the blocks.
fn settings() -> EngineSettings {
    EngineSettings {
        wal_window: Duration::from_millis(1),
        log_cache_bytes: 0,
        delete_grace: Duration::ZERO,
        compaction_interval: Duration::ZERO,
        compaction_small_object_bytes: 2_000,
        compaction_target_object_bytes: 6_000,
        compaction_split_stream_bytes: 2_000,
        compaction_block_bytes: 1_500,
        ..EngineSettings::default()
    }
}

async fn engine_with(
    store: &Store,
    writer: &str,
    settings: EngineSettings,
    registry: &prometheus::Registry,
) -> Engine {
    let meta = EmbeddedMeta::open(store.store.clone(), writer.into(), 8).await.unwrap();
    Engine::start(store.store.clone(), Arc::new(meta), settings, writer.into(), registry).await.unwrap()
}

async fn engine(store: &Store, writer: &str) -> Engine {
    engine_with(store, writer, settings(), &prometheus::Registry::new()).await
}

/// The batch at offset `offset` of `stream`: its payload names both, so a batch read
/// at the wrong offset or from the wrong stream shows.
fn batch(stream: u64, offset: u64, pad: usize) -> Batch {
    let payload = format!("s{stream}-o{offset}-{}", "x".repeat(pad));
    Batch { payload: Bytes::from(payload), records: 1, max_timestamp: offset as i64 }
}

/// Appends `windows` rounds: each round one batch to every stream, concurrently, so
/// that they share WAL objects. Stream 0's batches are large enough to be split off.
async fn fill(e: &Engine, streams: &[u64], windows: u64) {
    for _ in 0..windows {
        let appends: Vec<_> = streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (e, s) = (e.clone(), *s);
                let pad = if i == 0 { 100 } else { 5 };
                tokio::spawn(async move {
                    let end = e.bounds(s).unwrap().1;
                    let base = e.append(s, vec![batch(s, end, pad)]).await.unwrap();
                    assert_eq!(base, end, "one appender per stream: offsets follow");
                })
            })
            .collect();
        for a in appends {
            a.await.unwrap();
        }
    }
}

/// Reads `stream` from its start to its end and checks that every offset is there,
/// once, in order, holding what was appended at it. Returns how many batches.
async fn check_stream(e: &Engine, stream: u64, max_bytes: usize) -> u64 {
    let (start, end) = e.bounds(stream).unwrap();
    let mut next = start;
    while next < end {
        let read = e.read(stream, next, max_bytes).await.unwrap();
        assert!(!read.is_empty(), "stream {stream}: nothing at {next} below {end}");
        for r in read {
            assert_eq!(r.base_offset, next, "stream {stream}: gap or duplicate at {next}");
            let want = format!("s{stream}-o{next}-");
            assert!(
                r.batch.payload.starts_with(want.as_bytes()),
                "stream {stream} offset {next} holds {:?}",
                r.batch.payload
            );
            next += 1;
        }
    }
    next - start
}

async fn data_objects(st: &Store) -> usize {
    st.store.list("data/").await.unwrap().len()
}

fn gets(st: &Store) -> u64 {
    st.metrics.requests(Op::Get) + st.metrics.requests(Op::GetRange)
}

/// Compacts until a pass finds nothing to do.
async fn compact_all(e: &Engine) -> u64 {
    let mut written = 0;
    loop {
        let stats = e.compact_once().await.unwrap();
        if stats.objects_written == 0 {
            return written;
        }
        written += stats.objects_written;
    }
}

/// Lets the released objects' (zero) grace period pass.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn keeps_every_offset_with_fewer_objects_and_gets(st: Store) {
    let registry = prometheus::Registry::new();
    let e = engine_with(&st, "w", settings(), &registry).await;
    let streams = e.create_topic("t", 4, BTreeMap::new()).await.unwrap().streams;
    fill(&e, &streams, 30).await;
    let objects_before = data_objects(&st).await;

    let cold = engine(&st, "cold1").await;
    let before = gets(&st);
    for s in &streams {
        assert_eq!(check_stream(&cold, *s, 1 << 20).await, 30);
    }
    let gets_before = gets(&st) - before;
    drop(cold);

    assert!(compact_all(&e).await > 0);
    settle().await;
    let objects_after = data_objects(&st).await;
    let counted =
        registry.gather().iter().find(|m| m.name() == "floe_compaction_objects_total").unwrap().get_metric()
            [0]
        .get_counter()
        .get_value();
    assert!(counted as usize >= objects_before - objects_after, "counted {counted}");
    assert!(objects_after * 5 <= objects_before, "{objects_before} objects became {objects_after}");

    // a new engine, from the bucket alone, reads the same with fewer GETs
    let cold = engine(&st, "cold2").await;
    let before = gets(&st);
    for s in &streams {
        assert_eq!(check_stream(&cold, *s, 1 << 20).await, 30);
    }
    let gets_after = gets(&st) - before;
    eprintln!(
        "objects {objects_before} -> {objects_after}; GETs to catch up on 4 streams {gets_before} -> {gets_after}"
    );
    assert!(gets_after * 5 <= gets_before, "GETs {gets_before} -> {gets_after}");
    // and appends go on after the compacted blocks
    assert_eq!(cold.append(streams[1], vec![batch(streams[1], 30, 5)]).await.unwrap(), 30);
    assert_eq!(check_stream(&cold, streams[1], 100).await, 31);
    assert_eq!(cold.remove_orphans().await.unwrap(), 0, "compaction leaves no orphans");
}

#[tokio::test]
async fn memory_keeps_every_offset_with_fewer_objects_and_gets() {
    keeps_every_offset_with_fewer_objects_and_gets(store(Scheme::Memory, "/")).await;
}

#[tokio::test]
async fn fs_keeps_every_offset_with_fewer_objects_and_gets() {
    let dir = tempfile::tempdir().unwrap();
    keeps_every_offset_with_fewer_objects_and_gets(store(Scheme::Fs, dir.path().to_str().unwrap())).await;
}

#[tokio::test]
async fn file_wal_uploads_are_compacted_too() {
    let st = store(Scheme::Memory, "/");
    let dir = tempfile::tempdir().unwrap();
    // uploads only when flushed: one object per round
    let file_wal = EngineSettings {
        wal: Some(WalMode::File),
        wal_dir: Some(dir.path().to_path_buf()),
        wal_upload_interval: Duration::from_secs(3600),
        wal_upload_bytes: usize::MAX / 4,
        ..settings()
    };
    let e = engine_with(&st, "w", file_wal, &prometheus::Registry::new()).await;
    let streams = e.create_topic("t", 3, BTreeMap::new()).await.unwrap().streams;
    for _ in 0..12 {
        fill(&e, &streams, 2).await;
        e.flush().await.unwrap();
    }
    let before = data_objects(&st).await;
    assert!(before >= 12);
    assert!(compact_all(&e).await > 0);
    settle().await;
    let after = data_objects(&st).await;
    assert!(after * 3 <= before, "{before} objects became {after}");
    // appends go on through the file WAL after the compacted blocks
    fill(&e, &streams, 1).await;
    for s in &streams {
        assert_eq!(check_stream(&e, *s, 1).await, 25);
    }
    e.flush().await.unwrap();
    let cold = engine(&st, "cold").await;
    for s in &streams {
        assert_eq!(check_stream(&cold, *s, 1 << 20).await, 25);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_gap_or_a_duplicate_while_it_runs() {
    let st = store(Scheme::Memory, "/");
    // a reader that found an old block just before the swap still finds its object
    let grace = EngineSettings { delete_grace: Duration::from_secs(30), ..settings() };
    let e = engine_with(&st, "w", grace, &prometheus::Registry::new()).await;
    let streams = e.create_topic("t", 3, BTreeMap::new()).await.unwrap().streams;
    fill(&e, &streams, 20).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = streams
        .iter()
        .map(|s| {
            let (e, s, stop) = (e.clone(), *s, stop.clone());
            tokio::spawn(async move {
                let mut rounds = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || rounds == 0 {
                    // small reads, so that one pass over the stream spans the swap
                    assert!(check_stream(&e, s, 1).await >= 20);
                    rounds += 1;
                    // reads of cached blocks never wait: let the WAL and compaction run
                    tokio::task::yield_now().await;
                }
                rounds
            })
        })
        .collect();
    // the WAL keeps committing while compaction runs
    let writer = {
        let (e, streams) = (e.clone(), streams.clone());
        tokio::spawn(async move { fill(&e, &streams, 10).await })
    };
    let mut written = 0;
    for _ in 0..5 {
        written += compact_all(&e).await;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    written += compact_all(&e).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    assert!(written > 0);
    for s in &streams {
        assert_eq!(check_stream(&e, *s, 1 << 20).await, 30);
    }
}

#[tokio::test]
async fn trims_and_deletions_racing_it_cost_no_record() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let streams = e.create_topic("t", 3, BTreeMap::new()).await.unwrap().streams;
    let doomed = e.create_topic("doomed", 1, BTreeMap::new()).await.unwrap().streams;
    let all: Vec<u64> = streams.iter().chain(&doomed).copied().collect();
    fill(&e, &all, 10).await;
    // a block partly trimmed: three batches in one append, the trim inside it
    let s = streams[1];
    let end = e.bounds(s).unwrap().1;
    e.append(s, (end..end + 3).map(|o| batch(s, o, 5)).collect()).await.unwrap();
    assert_eq!(e.trim(s, end + 1).await.unwrap(), end + 1);
    fill(&e, &streams, 5).await;
    // trims and a topic deletion land while passes run
    let (a, b, c, d) = tokio::join!(
        e.compact_once(),
        e.trim(streams[0], 4),
        e.delete_topic("doomed"),
        e.trim(streams[2], 7),
    );
    assert_eq!((b.unwrap(), d.unwrap()), (4, 7));
    c.unwrap();
    if let Err(e) = a {
        // it may have planned with an object the trim then released and deleted
        eprintln!("the racing pass failed: {e}");
    }
    compact_all(&e).await;
    settle().await;
    assert_eq!(e.bounds(streams[0]).unwrap(), (4, 15));
    assert_eq!(e.bounds(s).unwrap(), (end + 1, end + 8));
    assert_eq!(e.bounds(streams[2]).unwrap(), (7, 15));
    for (stream, count) in [(streams[0], 11), (s, 7), (streams[2], 8)] {
        assert_eq!(check_stream(&e, stream, 1).await, count);
    }
    // the same from the bucket alone, and nothing left unreferenced
    let cold = engine(&st, "cold").await;
    assert_eq!(check_stream(&cold, s, 1 << 20).await, 7);
    assert_eq!(cold.remove_orphans().await.unwrap(), 0);
}

/// Faults during compaction: passes fail or succeed, but every record stays readable
/// exactly once, and once the store heals compaction completes.
#[tokio::test]
async fn faults_during_compaction_cost_no_record() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let streams = e.create_topic("t", 3, BTreeMap::new()).await.unwrap().streams;
    fill(&e, &streams, 20).await;
    let objects_before = data_objects(&st).await;
    let mut failures = 0;

    // a store that is down: a retriable failure, nothing changed
    st.faults.set_down(true);
    let err = e.compact_once().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retriable, "{err}");
    st.faults.set_down(false);
    for s in &streams {
        assert_eq!(check_stream(&e, *s, 1 << 20).await, 20);
    }

    // errors, lost answers to writes that landed, and slow requests, with appends too
    st.faults.set_error_rate(0.3);
    st.faults.set_ambiguous_rate(0.3);
    st.faults.set_latency(Duration::from_millis(1));
    for round in 0..20u64 {
        if e.compact_once().await.is_err() {
            failures += 1;
        }
        if round % 5 == 0 {
            let s = streams[0];
            // an append may fail now, or fail and still land; either way its payload
            // names the offset it gets once the metadata is in sync
            if e.meta().sync().await.is_ok() {
                let end = e.bounds(s).unwrap().1;
                let _ = e.append(s, vec![batch(s, end, 100)]).await;
            }
        }
    }
    st.faults.set_error_rate(0.0);
    st.faults.set_ambiguous_rate(0.0);
    st.faults.set_latency(Duration::ZERO);
    assert!(failures > 0, "the faults hit compaction");

    compact_all(&e).await;
    settle().await;
    let counts: Vec<u64> = {
        let mut v = Vec::new();
        for s in &streams {
            v.push(check_stream(&e, *s, 1).await);
        }
        v
    };
    assert_eq!(&counts[1..], &[20, 20]);
    assert!(counts[0] >= 20);
    // a restart sees the same; its orphan sweep takes only what compaction left behind
    drop(e);
    let cold = engine(&st, "cold").await;
    cold.remove_orphans().await.unwrap();
    for (s, count) in streams.iter().zip(&counts) {
        assert_eq!(check_stream(&cold, *s, 1 << 20).await, *count);
    }
    assert_eq!(compact_all(&cold).await, 0, "the healed store finished the job");
    let objects_after = data_objects(&st).await;
    assert!(objects_after * 3 <= objects_before, "{objects_before} objects became {objects_after}");
}

#[tokio::test]
async fn orphan_removal_never_takes_an_output_about_to_be_committed() {
    let st = store(Scheme::Memory, "/");
    let e = engine(&st, "w").await;
    let streams = e.create_topic("t", 2, BTreeMap::new()).await.unwrap().streams;
    fill(&e, &streams, 20).await;
    // slow requests, so that the sweep's listing lands while a pass is in flight
    st.faults.set_latency(Duration::from_millis(2));
    let sweep = async {
        tokio::time::sleep(Duration::from_millis(3)).await;
        e.remove_orphans().await
    };
    let (pass, swept) = tokio::join!(e.compact_once(), sweep);
    st.faults.set_latency(Duration::ZERO);
    assert!(pass.unwrap().objects_written > 0);
    swept.unwrap();
    for s in &streams {
        assert_eq!(check_stream(&e, *s, 1 << 20).await, 20);
    }
}

#[tokio::test]
async fn the_engine_compacts_in_the_background() {
    let st = store(Scheme::Memory, "/");
    let every = EngineSettings { compaction_interval: Duration::from_millis(20), ..settings() };
    let e = engine_with(&st, "w", every, &prometheus::Registry::new()).await;
    let streams = e.create_topic("t", 2, BTreeMap::new()).await.unwrap().streams;
    let puts = st.metrics.requests(Op::Put);
    fill(&e, &streams, 20).await;
    // passes may already have run; every WAL window was a PUT (as are snapshots)
    let written = (st.metrics.requests(Op::Put) - puts) as usize;
    assert!(written >= 20);
    // the interval is short; wait generously for the passes
    let mut left = written;
    for _ in 0..500 {
        left = data_objects(&st).await;
        if left * 3 <= written {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(left * 3 <= written, "{written} objects written, {left} left");
    for s in &streams {
        assert_eq!(check_stream(&e, *s, 1 << 20).await, 20);
    }
}
