//! One behaviour suite, run against every store Floe tests here: memory, fs, and S3
//! through a real S3-compatible server (moto_server) on loopback.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use floe_backends::{Error, FaultSettings, Op, Scheme, Store, StoreSettings, open};

/// A moto_server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (the test command installs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    fn create_bucket(&self, bucket: &str) {
        // moto accepts unsigned CreateBucket requests.
        let status = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import urllib.request as u; u.urlopen(u.Request('{}/{bucket}', method='PUT'))",
                    self.endpoint
                ),
            ])
            .status()
            .expect("python3");
        assert!(status.success(), "create bucket");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(scheme: Scheme, root: &str) -> StoreSettings {
    StoreSettings {
        scheme,
        root: root.to_string(),
        retry: floe_backends::RetrySettings {
            max_attempts: 3,
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
        ..StoreSettings::default()
    }
}

fn s3_settings(moto: &Moto, bucket: &str) -> StoreSettings {
    // SAFETY of env: OpenDAL's S3 signer reads credentials from the environment; moto
    // accepts any.
    let mut s = settings(Scheme::S3, "/floe/");
    s.bucket = Some(bucket.into());
    s.endpoint = Some(moto.endpoint.clone());
    s.options.insert("access_key_id".into(), "test".into());
    s.options.insert("secret_access_key".into(), "test".into());
    s
}

fn open_store(s: &StoreSettings) -> Store {
    open(s, &prometheus::Registry::new()).expect("open store")
}

async fn suite(store: &Store) {
    let s = &store.store;
    // put / get / ranged get
    s.put("a/one", Bytes::from_static(b"hello world")).await.unwrap();
    assert_eq!(s.get("a/one").await.unwrap(), Bytes::from_static(b"hello world"));
    assert_eq!(s.get_range("a/one", 6..11).await.unwrap(), Bytes::from_static(b"world"));
    assert!(matches!(s.get("a/missing").await, Err(Error::NotFound(_))));

    // create-if-absent is really conditional
    s.put_if_absent("a/cond", Bytes::from_static(b"first")).await.unwrap();
    let second = s.put_if_absent("a/cond", Bytes::from_static(b"second")).await;
    assert!(matches!(second, Err(Error::AlreadyExists(_))), "{second:?}");
    assert_eq!(s.get("a/cond").await.unwrap(), Bytes::from_static(b"first"));

    // concurrent creators: exactly one wins
    let racers = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move { s.put_if_absent("a/race", Bytes::from(format!("w{i}"))).await })
    });
    let mut wins = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => wins += 1,
            Err(Error::AlreadyExists(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins, 1);

    // list is sorted and prefix-scoped; delete is idempotent
    s.put("b/2", Bytes::from_static(b"22")).await.unwrap();
    s.put("b/1", Bytes::from_static(b"1")).await.unwrap();
    let keys: Vec<String> = s.list("b/").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, vec!["b/1".to_string(), "b/2".to_string()]);
    s.delete("b/1").await.unwrap();
    s.delete("b/1").await.unwrap();
    assert_eq!(s.list("b/").await.unwrap().len(), 1);
    assert!(s.list("nothing/").await.unwrap().is_empty());

    // the bill: every request counted by kind, payload bytes too
    assert!(store.metrics.requests(Op::PutIfAbsent) >= 10);
    assert_eq!(store.metrics.bytes(Op::GetRange, false), 5);
    assert_eq!(store.metrics.requests(Op::Delete), 2);
}

#[tokio::test]
async fn memory_behaves() {
    suite(&open_store(&settings(Scheme::Memory, "/"))).await;
}

#[tokio::test]
async fn fs_behaves() {
    let dir = tempfile::tempdir().unwrap();
    suite(&open_store(&settings(Scheme::Fs, dir.path().to_str().unwrap()))).await;
}

#[tokio::test]
async fn s3_behaves() {
    let moto = Moto::start();
    moto.create_bucket("floe-test");
    suite(&open_store(&s3_settings(&moto, "floe-test"))).await;
}

#[tokio::test]
async fn retries_hide_transient_errors_and_are_counted() {
    let mut s = settings(Scheme::Memory, "/");
    s.faults = FaultSettings { fail_nth: 1, ..FaultSettings::default() };
    let store = open_store(&s);
    store.store.put("k", Bytes::from_static(b"v")).await.unwrap();
    // the failed attempt and the retry are both billed
    assert_eq!(store.metrics.requests(Op::Put), 2);

    store.faults.set_down(true);
    let err = store.store.get("k").await.unwrap_err();
    assert!(err.is_retriable(), "{err}");
    assert_eq!(store.metrics.requests(Op::Get), 3, "max_attempts attempts");
    store.faults.set_down(false);
    assert_eq!(store.store.get("k").await.unwrap(), Bytes::from_static(b"v"));
}

#[tokio::test]
async fn ambiguous_conditional_write_reports_conflict_on_retry() {
    // Every answer is lost although the write landed: the caller sees a retriable error.
    // When it tries again the object is there, so it gets a conflict and must read the
    // object back to learn whether the winner was itself.
    let store = open_store(&settings(Scheme::Memory, "/"));
    store.faults.set_ambiguous_rate(1.0);
    let err = store.store.put_if_absent("k", Bytes::from_static(b"mine")).await.unwrap_err();
    assert!(err.is_retriable(), "{err}");
    store.faults.set_ambiguous_rate(0.0);
    let again = store.store.put_if_absent("k", Bytes::from_static(b"mine")).await;
    assert!(matches!(again, Err(Error::AlreadyExists(_))), "{again:?}");
    assert_eq!(store.store.get("k").await.unwrap(), Bytes::from_static(b"mine"));
}

#[tokio::test]
async fn slow_requests_time_out_and_count() {
    let mut s = settings(Scheme::Memory, "/");
    s.request_timeout = Duration::from_millis(50);
    s.retry.max_attempts = 1;
    let store = open_store(&s);
    store.faults.set_latency(Duration::from_millis(500));
    let err = store.store.get("k").await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert_eq!(store.metrics.requests(Op::Get), 1);
}

#[test]
fn config_errors_are_errors_not_panics() {
    let mut s = settings(Scheme::S3, "/");
    s.bucket = None;
    assert!(matches!(open(&s, &prometheus::Registry::new()), Err(Error::Config(_))));
}
