//! Every object key Floe writes, built in one place.

/// Prefix of the metadata log entries.
pub(crate) const META_LOG: &str = "meta/log/";
/// Prefix of the metadata snapshots.
pub(crate) const META_SNAPSHOTS: &str = "meta/snapshot/";
/// Prefix of data objects.
pub(crate) const DATA: &str = "data/";

/// Key of metadata log entry `seq`. Zero-padded so that key order is log order.
pub(crate) fn meta_log(seq: u64) -> String {
    format!("{META_LOG}{seq:020}.json")
}

/// Key of the snapshot taken after applying entry `seq`.
pub(crate) fn meta_snapshot(seq: u64) -> String {
    format!("{META_SNAPSHOTS}{seq:020}.json")
}

/// Parses the sequence number out of a log or snapshot key.
pub(crate) fn seq_of(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    name.strip_suffix(".json")?.parse().ok()
}

/// Key of a data object. `writer` is the writing engine's session id, `n` its counter,
/// so two engines sharing a bucket never pick the same key.
pub(crate) fn data_object(writer: &str, n: u64) -> String {
    format!("{}{n:016}.floe", data_prefix(writer))
}

/// Prefix of every data object `writer` writes.
pub(crate) fn data_prefix(writer: &str) -> String {
    format!("{DATA}{writer}/")
}

/// Key of an object a compaction writes. Under the writer's prefix, so that its own
/// orphan sweep leaves an output between write and commit alone and a later session's
/// sweep removes it if the commit never came; its own counter, so it never meets a WAL
/// object's key.
pub(crate) fn compacted_object(writer: &str, n: u64) -> String {
    format!("{}compacted-{n:016}.floe", data_prefix(writer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_round_trips_and_sorts() {
        assert_eq!(seq_of(&meta_log(42)), Some(42));
        assert_eq!(seq_of(&meta_snapshot(7)), Some(7));
        assert!(meta_log(9) < meta_log(10));
        assert_eq!(seq_of("meta/log/garbage"), None);
    }
}
