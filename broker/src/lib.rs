//! floe-broker: the Kafka wire protocol in front of the `floe-stream` engine. The
//! binary `floe` parses its arguments and calls [`run`]; tests call [`start`] with a
//! listener of their own.

pub mod admin;
pub mod alloc;
mod batch;
mod cleaner;
pub mod config;
mod consumer_group;
pub mod error;
mod frame;
mod group;
mod handler;
mod internal;
pub mod metrics;
mod retention;
pub mod server;
mod topic_config;
mod txn;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use floe_stream::meta::Topic;
use floe_stream::{EmbeddedMeta, Engine};
use kafka_protocol::ResponseError;
use prometheus::Registry;
use tokio::net::TcpListener;

pub use config::{Config, ServerSettings};
pub use error::{Error, Result};
use metrics::BrokerMetrics;

/// What every request handler shares.
#[derive(Debug)]
pub struct Broker {
    engine: Engine,
    groups: Arc<group::Coordinator>,
    consumer_groups: Arc<consumer_group::Coordinator>,
    txns: Arc<txn::Coordinator>,
    server: ServerSettings,
    advertised_host: String,
    advertised_port: i32,
    metrics: BrokerMetrics,
}

impl Broker {
    /// A client-visible topic: Floe's internal streams have names no Kafka client can
    /// use, and are never returned here.
    fn topic(&self, name: &str) -> Option<Topic> {
        handler::valid_topic_name(name)
            .then(|| self.engine.meta().state().topics.get(name).cloned())
            .flatten()
    }

    fn topic_by_id(&self, id: uuid::Uuid) -> Option<Topic> {
        self.engine
            .meta()
            .state()
            .topics
            .values()
            .find(|t| t.id == id && handler::valid_topic_name(&t.name))
            .cloned()
    }

    /// Creates a topic a client asked about, or finds the one a racing request created.
    /// Checks that a group member may commit offsets, whichever protocol its group speaks:
    /// a KIP-848 group checks the member epoch, a classic one the generation.
    fn check_commit(
        &self,
        group: &str,
        generation_or_epoch: i32,
        member_id: &str,
    ) -> Result<(), ResponseError> {
        if self.consumer_groups.has_members(group) {
            self.consumer_groups.check_commit(group, member_id, generation_or_epoch)
        } else {
            self.groups.check_commit(group, generation_or_epoch, member_id)
        }
    }

    async fn auto_create(&self, name: &str) -> floe_stream::Result<Topic> {
        match self.engine.create_topic(name, self.server.default_partitions, BTreeMap::new()).await {
            Err(floe_stream::Error::TopicExists(_)) => {
                self.topic(name).ok_or_else(|| floe_stream::Error::UnknownTopic(name.to_string()))
            }
            other => other,
        }
    }
}

/// Wall-clock milliseconds since the epoch, as Kafka timestamps count them.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A broker whose listeners are bound, ready to serve.
#[derive(Debug)]
pub struct Started {
    /// The Kafka listener's address.
    pub kafka: SocketAddr,
    /// The metrics listener's address, if enabled.
    pub metrics: Option<SocketAddr>,
    pub(crate) broker: Arc<Broker>,
    listener: TcpListener,
}

/// Retries `attempt` while the store is unreachable: a broker started during a store
/// outage waits for the store instead of exiting.
async fn until_store_answers<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = floe_stream::Result<T>>,
{
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if e.kind() == floe_stream::ErrorKind::Retriable => {
                tracing::warn!(error = %e, ?pause, "{what}: store unavailable, waiting");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            other => return Ok(other?),
        }
    }
}

/// Opens the store, loads metadata and binds the listeners. The metrics listener comes
/// first, so that a broker waiting for its store can already be watched.
pub async fn start(config: Config) -> Result<Started> {
    let registry = Registry::new();
    let store = floe_backends::open(&config.storage, &registry)?;
    let metrics = if config.server.metrics_listen.is_empty() {
        None
    } else {
        let l = TcpListener::bind(&config.server.metrics_listen).await?;
        let addr = l.local_addr()?;
        let control = config.storage.faults.control.then(|| store.faults.clone());
        tokio::spawn(metrics::serve(l, registry.clone(), control));
        Some(addr)
    };
    let writer = format!("{}-{}", config.server.node_id, uuid::Uuid::new_v4().simple());
    let snapshot_every = config.engine.meta_snapshot_every;
    let meta = until_store_answers("loading metadata", || {
        EmbeddedMeta::open(store.store.clone(), writer.clone(), snapshot_every)
    })
    .await?;
    let engine =
        Engine::start(store.store.clone(), Arc::new(meta), config.engine.clone(), writer, &registry).await?;
    // Embedded metadata means one writer per bucket: whatever it does not reference is
    // left over from a crash.
    until_store_answers("removing orphans", || engine.remove_orphans()).await?;
    let groups =
        until_store_answers("loading group offsets", || group::Coordinator::start(engine.clone())).await?;
    let consumer_groups = consumer_group::Coordinator::new(consumer_group::Timings {
        heartbeat_interval: config.server.group_consumer_heartbeat_interval,
        session_timeout: config.server.group_consumer_session_timeout,
    });
    tokio::spawn(consumer_group::reap(Arc::downgrade(&consumer_groups), engine.clone()));
    let txns = until_store_answers("loading transactions", || {
        txn::Coordinator::start(engine.clone(), groups.clone())
    })
    .await?;
    let listener = TcpListener::bind(&config.server.listen).await?;
    let kafka = listener.local_addr()?;
    let advertised_host = config.server.advertised_host.clone().unwrap_or_else(|| match kafka.ip() {
        ip if ip.is_unspecified() => "localhost".to_string(),
        ip => ip.to_string(),
    });
    let advertised_port = i32::from(config.server.advertised_port.unwrap_or(kafka.port()));
    let broker = Arc::new(Broker {
        engine,
        groups,
        consumer_groups,
        txns,
        advertised_host,
        advertised_port,
        metrics: BrokerMetrics::new(&registry)?,
        server: config.server,
    });
    tokio::spawn(retention::run(Arc::downgrade(&broker), broker.server.retention_check_interval));
    Ok(Started { kafka, metrics, broker, listener })
}

impl Started {
    /// Answers one request frame (without its size prefix) as a connection would:
    /// `Ok(None)` when no answer is owed, an error when the connection would be closed.
    /// For fuzzing and tests; the listener pipelines requests instead.
    pub async fn answer(&self, frame: bytes::Bytes) -> Result<Option<bytes::Bytes>> {
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let pending = match frame::decode(frame)? {
            frame::Frame::Request(request) => handler::start(&self.broker, *request, peer).await,
            frame::Frame::ApiVersionsTooNew { correlation_id } => {
                return handler::api_versions::too_new(correlation_id).map(Some);
            }
        };
        pending.await.map_err(|e| Error::Protocol(format!("request task failed: {e}")))?
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        server::serve(self.listener, self.broker, shutdown).await;
    }
}

/// How long a stopping broker tries to upload what its file WAL holds.
const SHUTDOWN_UPLOAD: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts a broker and serves until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let started = start(config).await?;
    tracing::info!(kafka = %started.kafka, metrics = ?started.metrics, "floe is serving");
    let engine = started.broker.engine.clone();
    started.serve(shutdown).await;
    // Leave nothing only on this machine's disk if the store lets us.
    match tokio::time::timeout(SHUTDOWN_UPLOAD, engine.flush()).await {
        Ok(Ok(())) => tracing::info!("everything acknowledged is in the store"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not upload the file WAL; it is replayed at the next start")
        }
        Err(_) => tracing::warn!("the store is slow; the file WAL is replayed at the next start"),
    }
    Ok(())
}
