//! The engine alone, without the Kafka protocol: append and read throughput, and what
//! they cost in object-store requests, for each WAL over memory, a local directory and
//! an S3-compatible server (moto_server, started here on loopback if it is installed).
//!
//!   cargo bench -p floe-stream --bench engine            # 256 MiB per run
//!   FLOE_BENCH_MIB=1024 cargo bench -p floe-stream --bench engine
//!
//! Per run: 16 writers append 64 KiB batches to 8 streams, 8 appends in flight each, while
//! one tailing reader per stream follows the end; then a new engine (cold caches) reads
//! everything back, a MiB of each stream in turn, as a consumer of the topic would.
//! Prints one Markdown table.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use floe_backends::{Op, Scheme, Store, StoreSettings};
use floe_stream::{Batch, EmbeddedMeta, Engine, EngineSettings, WalMode};

const STREAMS: usize = 8;
const BATCH_BYTES: usize = 64 << 10;
const RECORDS_PER_BATCH: u32 = 64;
const WRITERS: usize = 16;
/// Appends each writer keeps in flight.
const IN_FLIGHT: usize = 8;
const MIB: f64 = (1 << 20) as f64;
const GIB: f64 = (1 << 30) as f64;

struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Result<Moto> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("moto_server")?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let moto = Moto(child, endpoint.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("moto_server did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let create =
        format!("import urllib.request as u; u.urlopen(u.Request('{endpoint}/floe-bench', method='PUT'))");
    if !Command::new("python3").args(["-c", &create]).status()?.success() {
        bail!("could not create the bucket");
    }
    Ok(moto)
}

fn open_store(settings: &StoreSettings) -> Result<Store> {
    Ok(floe_backends::open(settings, &prometheus::Registry::new())?)
}

async fn start_engine(store: &Store, writer: &str, settings: EngineSettings) -> Result<Engine> {
    let meta = EmbeddedMeta::open(store.store.clone(), writer.into(), 256).await?;
    let registry = prometheus::Registry::new();
    Ok(Engine::start(store.store.clone(), Arc::new(meta), settings, writer.into(), &registry).await?)
}

fn reads(store: &Store) -> u64 {
    store.metrics.requests(Op::Get) + store.metrics.requests(Op::GetRange)
}

struct Row {
    store: &'static str,
    wal: &'static str,
    append_mbps: f64,
    durable_in_objects_mbps: f64,
    tail_gets: u64,
    catch_up_mbps: f64,
    puts_per_gib: f64,
    mib_per_put: f64,
    meta_puts_per_gib: f64,
    gets_per_gib: f64,
}

async fn run(store: &Store, name: &'static str, wal: WalMode, total: usize) -> Result<Row> {
    let wal_dir = tempfile::tempdir()?;
    let settings = EngineSettings {
        wal: Some(wal),
        wal_dir: Some(wal_dir.path().to_path_buf()),
        ..EngineSettings::default()
    };
    let engine = start_engine(store, "bench-writer", settings.clone()).await?;
    let topic = engine.create_topic("bench", STREAMS as u32, BTreeMap::new()).await?;
    let payload = Bytes::from(vec![0x5au8; BATCH_BYTES]);
    let batches = total / BATCH_BYTES;

    // Tailing readers: follow each stream's end, counting bytes, until all is read.
    let per_stream = (batches / STREAMS * BATCH_BYTES) as u64;
    let gets_before = reads(store);
    let readers: Vec<_> = topic
        .streams
        .iter()
        .map(|&s| {
            let e = engine.clone();
            tokio::spawn(async move {
                let mut commits = e.commits();
                let (mut next, mut seen) = (0u64, 0u64);
                while seen < per_stream {
                    let got = e.read(s, next, 4 << 20).await?;
                    if got.is_empty() {
                        commits.changed().await?;
                        continue;
                    }
                    for b in got {
                        seen += b.batch.payload.len() as u64;
                        next = b.base_offset + u64::from(b.batch.records);
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();

    let started = Instant::now();
    let puts_before = store.metrics.requests(Op::Put);
    let meta_before = store.metrics.requests(Op::PutIfAbsent);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let e = engine.clone();
            let streams = topic.streams.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                // Like a Kafka producer: several appends in flight, answers in order.
                let mut in_flight = std::collections::VecDeque::new();
                let mut i = w;
                while i < batches / STREAMS * STREAMS {
                    let batch = Batch {
                        payload: payload.clone(),
                        records: RECORDS_PER_BATCH,
                        max_timestamp: i as i64,
                    };
                    in_flight.push_back(e.submit(streams[i % STREAMS], vec![batch], None).await?);
                    if in_flight.len() >= IN_FLIGHT
                        && let Some(oldest) = in_flight.pop_front()
                    {
                        oldest.durable().await?;
                    }
                    i += WRITERS;
                }
                for pending in in_flight {
                    pending.durable().await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }
    let appended = started.elapsed();
    engine.flush().await?;
    let in_objects = started.elapsed();
    for r in readers {
        r.await??;
    }
    let tail_gets = reads(store) - gets_before;
    let written = (batches / STREAMS * STREAMS * BATCH_BYTES) as f64;
    let puts = store.metrics.requests(Op::Put) - puts_before;
    let meta_puts = store.metrics.requests(Op::PutIfAbsent) - meta_before;
    drop(engine);

    // Catch-up: a new engine with cold caches reads every stream from the start.
    let cold = start_engine(store, "bench-reader", EngineSettings { wal: Some(WalMode::Object), ..settings })
        .await?;
    let gets_before = reads(store);
    let started = Instant::now();
    let mut read_bytes = 0u64;
    // Like a consumer of the whole topic: a little of every stream in turn.
    let mut next: Vec<(u64, u64)> =
        topic.streams.iter().map(|&s| Ok((0, cold.bounds(s)?.1))).collect::<Result<_>>()?;
    while next.iter().any(|(at, end)| at < end) {
        for (&s, (at, end)) in topic.streams.iter().zip(next.iter_mut()) {
            if at < end {
                for b in cold.read(s, *at, 1 << 20).await? {
                    read_bytes += b.batch.payload.len() as u64;
                    *at = b.base_offset + u64::from(b.batch.records);
                }
            }
        }
    }
    let catch_up = started.elapsed();
    if read_bytes as f64 != written {
        bail!("read back {read_bytes} bytes of {written}");
    }
    let gets = reads(store) - gets_before;
    Ok(Row {
        store: name,
        wal: match wal {
            WalMode::Object => "object",
            WalMode::File => "file",
        },
        append_mbps: written / MIB / appended.as_secs_f64(),
        durable_in_objects_mbps: written / MIB / in_objects.as_secs_f64(),
        tail_gets,
        catch_up_mbps: written / MIB / catch_up.as_secs_f64(),
        puts_per_gib: puts as f64 * GIB / written,
        mib_per_put: written / MIB / puts.max(1) as f64,
        meta_puts_per_gib: meta_puts as f64 * GIB / written,
        gets_per_gib: gets as f64 * GIB / written,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; this harness takes its settings from the environment.
    let mib: usize = std::env::var("FLOE_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let total = mib << 20;
    let fs_root = tempfile::tempdir()?;
    let moto = start_moto().map_err(|e| eprintln!("S3 runs skipped: {e:#}")).ok();
    let mut stores: Vec<(&'static str, StoreSettings)> = vec![
        ("memory", StoreSettings { scheme: Scheme::Memory, root: "/".into(), ..StoreSettings::default() }),
        (
            "fs",
            StoreSettings {
                scheme: Scheme::Fs,
                root: fs_root.path().to_string_lossy().into_owned(),
                ..StoreSettings::default()
            },
        ),
    ];
    if let Some(Moto(_, endpoint)) = &moto {
        let mut s3 = StoreSettings {
            scheme: Scheme::S3,
            bucket: Some("floe-bench".into()),
            endpoint: Some(endpoint.clone()),
            path_style: true,
            ..StoreSettings::default()
        };
        s3.options.insert("access_key_id".into(), "bench".into());
        s3.options.insert("secret_access_key".into(), "bench".into());
        stores.push(("s3 (moto)", s3));
    }
    println!(
        "{mib} MiB per run: {WRITERS} writers with {IN_FLIGHT} appends in flight each, {STREAMS} streams, {} KiB batches\n",
        BATCH_BYTES >> 10
    );
    println!(
        "| store | WAL | append MB/s | in objects MB/s | tail GETs | catch-up MB/s | data PUT/GiB | MiB/PUT | meta PUT/GiB | catch-up GET/GiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, (name, settings)) in stores.iter().enumerate() {
        for wal in [WalMode::Object, WalMode::File] {
            let mut settings = settings.clone();
            settings.root = match settings.scheme {
                Scheme::Memory => "/".into(),
                _ => format!("{}/run-{i}-{wal:?}/", settings.root.trim_end_matches('/')),
            };
            let store = open_store(&settings)?;
            let r = run(&store, name, wal, total).await?;
            println!(
                "| {} | {} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} |",
                r.store,
                r.wal,
                r.append_mbps,
                r.durable_in_objects_mbps,
                r.tail_gets,
                r.catch_up_mbps,
                r.puts_per_gib,
                r.mib_per_put,
                r.meta_puts_per_gib,
                r.gets_per_gib
            );
        }
    }
    Ok(())
}
