//! Topic settings under Kafka's names, their defaults, and their validation. The one
//! place that knows what a topic config may be; CreateTopics, AlterConfigs and
//! IncrementalAlterConfigs all check through it.

use std::collections::BTreeMap;

/// The type of a setting, and what values it accepts.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A 64-bit integer no smaller than the bound.
    Long(i64),
    /// A 32-bit integer no smaller than the bound.
    Int(i32),
    /// `true` or `false`.
    Bool,
    /// A number within the bounds.
    Double(f64, f64),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these words, at least one.
    ListOf(&'static [&'static str]),
}

/// Kafka's config type codes, as DescribeConfigs v3+ reports them.
impl Kind {
    fn type_code(self) -> i8 {
        match self {
            Kind::Bool => 1,
            Kind::Int(_) => 3,
            Kind::Long(_) => 5,
            Kind::Double(..) => 6,
            Kind::OneOf(_) => 2,
            Kind::ListOf(_) => 7,
        }
    }
}

/// Every topic setting Floe accepts: name, default, kind.
const SETTINGS: &[(&str, &str, Kind)] = &[
    ("cleanup.policy", "delete", Kind::ListOf(&["delete", "compact"])),
    (
        "compression.type",
        "producer",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    ),
    ("delete.retention.ms", "86400000", Kind::Long(0)),
    ("file.delete.delay.ms", "60000", Kind::Long(0)),
    ("flush.messages", "9223372036854775807", Kind::Long(1)),
    ("flush.ms", "9223372036854775807", Kind::Long(0)),
    ("index.interval.bytes", "4096", Kind::Int(0)),
    ("max.compaction.lag.ms", "9223372036854775807", Kind::Long(1)),
    ("max.message.bytes", "1048588", Kind::Int(0)),
    ("message.timestamp.after.max.ms", "9223372036854775807", Kind::Long(0)),
    ("message.timestamp.before.max.ms", "9223372036854775807", Kind::Long(0)),
    ("message.timestamp.type", "CreateTime", Kind::OneOf(&["CreateTime", "LogAppendTime"])),
    ("min.cleanable.dirty.ratio", "0.5", Kind::Double(0.0, 1.0)),
    ("min.compaction.lag.ms", "0", Kind::Long(0)),
    ("min.insync.replicas", "1", Kind::Int(1)),
    ("preallocate", "false", Kind::Bool),
    ("retention.bytes", "-1", Kind::Long(-1)),
    ("retention.ms", "604800000", Kind::Long(-1)),
    ("segment.bytes", "1073741824", Kind::Int(14)),
    ("segment.index.bytes", "10485760", Kind::Int(4)),
    ("segment.jitter.ms", "0", Kind::Long(0)),
    ("segment.ms", "604800000", Kind::Long(1)),
    ("unclean.leader.election.enable", "false", Kind::Bool),
];

fn setting(name: &str) -> Option<&'static (&'static str, &'static str, Kind)> {
    SETTINGS.iter().find(|(n, _, _)| *n == name)
}

/// Why a setting was refused, in words for the client.
pub(crate) fn check(name: &str, value: &str) -> Result<(), String> {
    let Some((_, _, kind)) = setting(name) else {
        return Err(format!("unknown topic config {name}"));
    };
    let ok = match *kind {
        Kind::Long(min) => value.trim().parse::<i64>().is_ok_and(|v| v >= min),
        Kind::Int(min) => value.trim().parse::<i32>().is_ok_and(|v| v >= min),
        Kind::Bool => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
        Kind::Double(lo, hi) => value.trim().parse::<f64>().is_ok_and(|v| (lo..=hi).contains(&v)),
        Kind::OneOf(words) => words.contains(&value.trim()),
        Kind::ListOf(words) => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            !items.is_empty() && items.iter().all(|i| words.contains(i))
        }
    };
    if ok { Ok(()) } else { Err(format!("invalid value {value:?} for topic config {name}")) }
}

/// Checks every setting of a topic.
pub(crate) fn check_all(configs: &BTreeMap<String, String>) -> Result<(), String> {
    configs.iter().try_for_each(|(k, v)| check(k, v))
}

/// A setting's value on a topic: set, or Floe's default ("" if unknown).
pub(crate) fn value(configs: &BTreeMap<String, String>, name: &str) -> String {
    configs.get(name).cloned().or_else(|| setting(name).map(|(_, d, _)| (*d).to_string())).unwrap_or_default()
}

/// A setting as DescribeConfigs reports it.
#[derive(Debug)]
pub(crate) struct Described {
    pub(crate) name: &'static str,
    pub(crate) value: String,
    /// Set on the topic (true) or Floe's default (false).
    pub(crate) is_set: bool,
    pub(crate) type_code: i8,
}

/// Every setting of a topic, set or default, in name order.
pub(crate) fn describe(configs: &BTreeMap<String, String>) -> Vec<Described> {
    SETTINGS
        .iter()
        .map(|(name, default, kind)| match configs.get(*name) {
            Some(v) => Described { name, value: v.clone(), is_set: true, type_code: kind.type_code() },
            None => {
                Described { name, value: (*default).to_string(), is_set: false, type_code: kind.type_code() }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_kafka() {
        check("retention.ms", "-1").unwrap();
        check("retention.ms", "86400000").unwrap();
        check("cleanup.policy", "compact,delete").unwrap();
        check("message.timestamp.type", "LogAppendTime").unwrap();
        check("min.cleanable.dirty.ratio", "0.1").unwrap();
        for (name, bad) in [
            ("retention.ms", "-2"),
            ("retention.ms", "soon"),
            ("cleanup.policy", "shred"),
            ("max.message.bytes", "99999999999"),
            ("message.timestamp.type", "WallTime"),
            ("preallocate", "yes"),
            ("min.cleanable.dirty.ratio", "2"),
            ("no.such.config", "1"),
        ] {
            assert!(check(name, bad).is_err(), "{name}={bad}");
        }
    }

    #[test]
    fn describe_lists_defaults_and_overrides() {
        let set = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        let all = describe(&set);
        assert_eq!(all.len(), SETTINGS.len());
        let r = all.iter().find(|d| d.name == "retention.ms").unwrap();
        assert!(r.is_set && r.value == "1000");
        let c = all.iter().find(|d| d.name == "cleanup.policy").unwrap();
        assert!(!c.is_set && c.value == "delete");
    }
}
