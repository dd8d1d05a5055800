//! The cost model: what a workload would cost per month on each cloud, run on Floe (from
//! the requests and bytes Floe made per GiB in a measured run) and on a three-replica
//! Apache Kafka with cloud disks. Prices come from one data file (`bench/prices.toml`),
//! each figure with its source and date; this module holds no price.

use serde::{Deserialize, Serialize};

/// Hours in a billing month, the clouds' own convention (8760 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;
const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;

/// One price, with where and when it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// USD per the unit named by the field holding it.
    pub usd: f64,
    /// Where the figure comes from.
    pub source: String,
    /// When it was read (or, when not verified, the date of the list price it repeats).
    pub date: String,
    /// Whether the figure was checked against the published page on that date.
    pub verified: bool,
}

/// A cloud's prices in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cloud {
    /// "AWS", "GCP"...
    pub name: String,
    /// Region the prices are for.
    pub region: String,
    /// Object storage class (one that survives the loss of a zone).
    pub object_class: String,
    /// Object storage, per GiB-month.
    pub object_storage_gib_month: Price,
    /// Object writes (PUT, POST, LIST), per 1000 requests.
    pub object_put_per_1000: Price,
    /// Object reads (GET, HEAD), per 1000 requests.
    pub object_get_per_1000: Price,
    /// Instance type brokers run on (the same for Floe and Kafka).
    pub instance: String,
    /// vCPUs of that instance.
    pub instance_vcpus: f64,
    /// The instance, per hour on demand.
    pub instance_hour: Price,
    /// Kafka's disk, per GiB-month.
    pub block_storage_gib_month: Price,
    /// Traffic between zones of a region, per GiB crossing (both sides' charges).
    pub cross_az_gib: Price,
}

impl Cloud {
    /// Every price, in the order reports list them.
    pub fn prices(&self) -> [&Price; 6] {
        [
            &self.object_storage_gib_month,
            &self.object_put_per_1000,
            &self.object_get_per_1000,
            &self.instance_hour,
            &self.block_storage_gib_month,
            &self.cross_az_gib,
        ]
    }
}

/// The workload costed, and the assumptions that are not prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostWorkload {
    /// Produced, GiB/s.
    pub ingress_gib_s: f64,
    /// Consumed, GiB/s (all consumers together).
    pub egress_gib_s: f64,
    /// Availability zones the cluster spans.
    pub zones: f64,
    /// Days the data is kept.
    pub retention_days: f64,
    /// Share of the egress read from object storage (catch-up reads); the rest is tailing
    /// reads served from brokers' memory.
    pub catch_up_share: f64,
    /// CPU utilisation brokers are sized for.
    pub cpu_utilisation: f64,
    /// Kafka's replication factor.
    pub kafka_replicas: f64,
    /// Share of Kafka's disks filled at the retention limit.
    pub kafka_disk_fill: f64,
    /// Broker network throughput (in + out) Kafka is sized for, GiB/s per instance.
    pub kafka_instance_gib_s: f64,
    /// Share of consumer traffic that crosses zones on Kafka (0 with fetch-from-follower).
    pub kafka_consumer_cross_az: f64,
}

/// The price book: the workload and every cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceBook {
    /// What is costed.
    pub workload: CostWorkload,
    /// Prices per cloud.
    pub cloud: Vec<Cloud>,
}

/// What Floe did per GiB in a measured run: the model's input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Write requests (PUT and conditional PUT) per GiB produced.
    pub puts_per_gib: f64,
    /// Read requests per GiB produced, while tailing.
    pub tail_gets_per_gib: f64,
    /// Read requests per GiB read by catch-up consumers.
    pub catch_up_gets_per_gib: f64,
    /// Bytes stored per byte produced (object overhead and metadata).
    pub stored_per_produced: f64,
    /// Broker CPU seconds per GiB moved (produced plus consumed).
    pub cpu_seconds_per_gib: f64,
}

/// A monthly bill, in USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bill {
    /// Instances.
    pub compute: f64,
    /// Instances counted.
    pub instances: f64,
    /// Data at rest (objects or disks).
    pub storage: f64,
    /// Object store requests.
    pub requests: f64,
    /// Traffic between zones.
    pub cross_az: f64,
}

impl Bill {
    /// Everything.
    pub fn total(&self) -> f64 {
        self.compute + self.storage + self.requests + self.cross_az
    }
}

/// Instances for a load, at least one per zone, a multiple of the zones.
fn instances(needed: f64, zones: f64) -> f64 {
    let zones = zones.max(1.0);
    (needed.ceil().max(zones) / zones).ceil() * zones
}

/// Floe: data in the object store (no replication of its own, no disks), one PUT stream
/// per broker, tailing reads from memory. Producers and consumers stay in their zone
/// (rack-aware routing), so no data crosses zones.
pub fn floe(w: &CostWorkload, m: &Measured, c: &Cloud) -> Bill {
    let in_gib_month = w.ingress_gib_s * SECONDS_PER_MONTH;
    let out_gib_month = w.egress_gib_s * SECONDS_PER_MONTH;
    let stored_gib = w.ingress_gib_s * w.retention_days * 86_400.0 * m.stored_per_produced;
    let puts = in_gib_month * m.puts_per_gib;
    let gets =
        in_gib_month * m.tail_gets_per_gib + out_gib_month * w.catch_up_share * m.catch_up_gets_per_gib;
    let vcpus = m.cpu_seconds_per_gib * (w.ingress_gib_s + w.egress_gib_s) / w.cpu_utilisation;
    let n = instances(vcpus / c.instance_vcpus, w.zones);
    Bill {
        compute: n * c.instance_hour.usd * HOURS_PER_MONTH,
        instances: n,
        storage: stored_gib * c.object_storage_gib_month.usd,
        requests: puts / 1000.0 * c.object_put_per_1000.usd + gets / 1000.0 * c.object_get_per_1000.usd,
        cross_az: 0.0,
    }
}

/// Apache Kafka: every byte on `replicas` disks, each follower copy crossing a zone,
/// producers reaching leaders in other zones (zones - 1 of zones times), consumers as
/// configured.
pub fn kafka(w: &CostWorkload, c: &Cloud) -> Bill {
    let stored_gib = w.ingress_gib_s * w.retention_days * 86_400.0 * w.kafka_replicas / w.kafka_disk_fill;
    // broker NICs carry: produce in, replication out of leaders and into followers, consume out
    let network = w.ingress_gib_s * (1.0 + 2.0 * (w.kafka_replicas - 1.0)) + w.egress_gib_s;
    let n = instances(network / w.kafka_instance_gib_s, w.zones);
    let cross_gib_s = w.ingress_gib_s * ((w.zones - 1.0) / w.zones + (w.kafka_replicas - 1.0))
        + w.egress_gib_s * w.kafka_consumer_cross_az;
    Bill {
        compute: n * c.instance_hour.usd * HOURS_PER_MONTH,
        instances: n,
        storage: stored_gib * c.block_storage_gib_month.usd,
        requests: 0.0,
        cross_az: cross_gib_s * SECONDS_PER_MONTH * c.cross_az_gib.usd,
    }
}

impl PriceBook {
    /// Parses the price file.
    pub fn parse(text: &str) -> anyhow::Result<PriceBook> {
        Ok(toml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(usd: f64) -> Price {
        Price { usd, source: "test".into(), date: "2026-11-25".into(), verified: true }
    }

    fn cloud() -> Cloud {
        Cloud {
            name: "Test".into(),
            region: "r".into(),
            object_class: "standard".into(),
            object_storage_gib_month: price(0.02),
            object_put_per_1000: price(0.005),
            object_get_per_1000: price(0.0004),
            instance: "8x".into(),
            instance_vcpus: 8.0,
            instance_hour: price(0.4),
            block_storage_gib_month: price(0.08),
            cross_az_gib: price(0.02),
        }
    }

    fn workload() -> CostWorkload {
        CostWorkload {
            ingress_gib_s: 1.0,
            egress_gib_s: 3.0,
            zones: 3.0,
            retention_days: 7.0,
            catch_up_share: 0.1,
            cpu_utilisation: 0.5,
            kafka_replicas: 3.0,
            kafka_disk_fill: 0.5,
            kafka_instance_gib_s: 1.0,
            kafka_consumer_cross_az: 0.0,
        }
    }

    #[test]
    fn floe_by_hand() {
        let m = Measured {
            puts_per_gib: 128.0,
            tail_gets_per_gib: 0.0,
            catch_up_gets_per_gib: 100.0,
            stored_per_produced: 1.01,
            cpu_seconds_per_gib: 5.0,
        };
        let b = floe(&workload(), &m, &cloud());
        // month: 730 h = 2,628,000 s, so 2,628,000 GiB in and 7,884,000 GiB out
        // storage: 1 GiB/s * 604,800 s * 1.01 = 610,848 GiB * 0.02 = 12,216.96
        assert!((b.storage - 12_216.96).abs() < 1e-6, "{b:?}");
        // PUTs: 2,628,000 * 128 = 336,384,000 -> 336,384 * 0.005 = 1,681.92
        // GETs: 7,884,000 * 0.1 * 100 = 78,840,000 -> 78,840 * 0.0004 = 31.536
        assert!((b.requests - 1_713.456).abs() < 1e-6, "{b:?}");
        // vCPUs: 5 * 4 / 0.5 = 40 -> 5 instances of 8 -> 6 (a multiple of 3 zones)
        assert_eq!(b.instances, 6.0);
        assert!((b.compute - 6.0 * 0.4 * 730.0).abs() < 1e-9);
        assert_eq!(b.cross_az, 0.0);
        assert!((b.total() - (12_216.96 + 1_713.456 + 1_752.0)).abs() < 1e-6);
    }

    #[test]
    fn kafka_by_hand() {
        let b = kafka(&workload(), &cloud());
        // disks: 604,800 GiB * 3 / 0.5 = 3,628,800 GiB * 0.08 = 290,304
        assert!((b.storage - 290_304.0).abs() < 1e-6, "{b:?}");
        // NICs: 1 * (1 + 4) + 3 = 8 GiB/s at 1 GiB/s each -> 8 -> 9 instances
        assert_eq!(b.instances, 9.0);
        // zones crossed: 1 * (2/3 + 2) GiB/s * 2,628,000 s * 0.02
        assert!((b.cross_az - (8.0 / 3.0) * 2_628_000.0 * 0.02).abs() < 1e-6, "{b:?}");
        assert_eq!(b.requests, 0.0);
    }

    #[test]
    fn instances_round_up_to_whole_zones() {
        assert_eq!(instances(0.1, 3.0), 3.0);
        assert_eq!(instances(3.0, 3.0), 3.0);
        assert_eq!(instances(3.2, 3.0), 6.0);
        assert_eq!(instances(1.5, 1.0), 2.0);
    }

    #[test]
    fn the_price_file_parses_and_every_figure_is_sourced() {
        let book = PriceBook::parse(include_str!("../prices.toml")).unwrap();
        assert_eq!(book.cloud.len(), 4);
        for c in &book.cloud {
            for p in c.prices() {
                assert!(p.source.starts_with("https://"), "{}: {p:?}", c.name);
                assert!(p.date.len() == 10, "{}: {p:?}", c.name);
                assert!(p.usd >= 0.0);
            }
        }
    }
}
