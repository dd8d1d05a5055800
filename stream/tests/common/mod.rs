//! What the engine's integration tests share: a store with fast retries.

use std::time::Duration;

use floe_backends::{Scheme, Store, StoreSettings};

/// A store of `scheme` at `root` whose retries take milliseconds, not seconds.
pub(crate) fn store(scheme: Scheme, root: &str) -> Store {
    let mut s = StoreSettings { scheme, root: root.into(), ..StoreSettings::default() };
    s.retry.min_backoff = Duration::from_millis(1);
    s.retry.max_backoff = Duration::from_millis(2);
    s.retry.max_attempts = 3;
    floe_backends::open(&s, &prometheus::Registry::new()).unwrap()
}
