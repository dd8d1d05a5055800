//! floe-backends: the one seam between Floe and every object store. Builds an OpenDAL
//! operator from settings and wraps it in retry, timeout, cost accounting and fault
//! injection. Knows nothing of streams or Kafka.

mod config;
mod error;
mod faults;
mod layers;
mod store;

use std::sync::Arc;

pub use config::{RetrySettings, Scheme, StoreSettings, is_secret_option, millis};
pub use error::{Error, Result};
pub use faults::{FaultSettings, Faults};
pub use layers::{BoxFuture, Layer, Layered, Op, Payload, RetryLayer, StoreMetrics, TimeoutLayer};
pub use store::{ObjectMeta, ObjectStore, OpendalStore};

/// A ready store and the handles to watch and steer it.
#[derive(Debug, Clone)]
pub struct Store {
    /// The store, with every layer applied.
    pub store: Arc<dyn ObjectStore>,
    /// Its request and byte counters.
    pub metrics: StoreMetrics,
    /// Live control of injected faults.
    pub faults: Faults,
}

/// Opens the store `settings` describe, registering its counters in `registry`.
///
/// Layers, outermost first: retry → metrics → timeout → faults → OpenDAL.
pub fn open(settings: &StoreSettings, registry: &prometheus::Registry) -> Result<Store> {
    let raw = OpendalStore::new(settings.operator()?);
    let faults = Faults::new(&settings.faults);
    let metrics = StoreMetrics::new(registry)?;
    let stack = Layered::new(
        RetryLayer::new(settings.retry.clone(), settings.faults.seed),
        Layered::new(
            metrics.clone(),
            Layered::new(TimeoutLayer::new(settings.request_timeout), Layered::new(faults.clone(), raw)),
        ),
    );
    Ok(Store { store: Arc::new(stack), metrics, faults })
}
