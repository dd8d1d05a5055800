//! Any bytes as a request frame: decoded and dispatched by a broker over the memory
//! store. The broker may answer or refuse; it must never panic or abort.

#![no_main]

use std::sync::OnceLock;

use floe_broker::Started;
use floe_broker::config::Config;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: floe_broker::alloc::Allocator = floe_broker::alloc::Allocator;

fn broker() -> &'static (tokio::runtime::Runtime, Started) {
    static BROKER: OnceLock<(tokio::runtime::Runtime, Started)> = OnceLock::new();
    BROKER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let started = runtime.block_on(floe_broker::start(Config::in_memory())).unwrap();
        (runtime, started)
    })
}

fuzz_target!(|data: &[u8]| {
    let (runtime, started) = broker();
    let frame = bytes::Bytes::copy_from_slice(data);
    // Long polls and group joins could wait for seconds: bound each input.
    let _ = runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_millis(200), started.answer(frame)).await
    });
});
