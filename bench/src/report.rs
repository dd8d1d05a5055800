//! `floe-bench report`: a run's `results.json` and the price file become a Markdown
//! report (`README.md`) and PNG charts beside it: throughput over time, latency
//! percentiles, monthly cost per cloud.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::cost::{self, Bill, Cloud, Measured, PriceBook};
use crate::results::{GIB, RunResults, TargetResult};
use crate::target::Target;

/// The charts a report draws, with their pixel sizes.
pub const CHARTS: [(&str, (u32, u32)); 3] =
    [("throughput.png", (1200, 900)), ("latency.png", (1200, 550)), ("cost.png", (1200, 600))];

const FONT: &str = "sans-serif";
const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
];

/// The text font for charts, read once from a TrueType file (plotters draws text with
/// ab_glyph from the bytes it is given, so no font lookup happens on the machine).
fn register(font: &Path) -> Result<()> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(font).map_err(|e| format!("read font {}: {e}", font.display()))?;
        register_font(FONT, FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
            .map_err(|_| format!("{} is not a TrueType font", font.display()))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn mb_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 { bytes as f64 / secs / 1e6 } else { 0.0 }
}

/// Per-GiB inputs of the cost model from a Floe target, when it counted its requests.
pub fn measured(t: &TargetResult) -> Option<Measured> {
    let (tail, catch_up) = (t.store_tail.as_ref()?, t.store_catch_up.as_ref()?);
    let produced = t.produced_gib();
    let read = t.catch_up.consumed_bytes as f64 / GIB;
    let moved = produced + t.tail.consumed_bytes as f64 / GIB;
    if produced == 0.0 || read == 0.0 {
        return None;
    }
    Some(Measured {
        puts_per_gib: tail.sum(&["put", "put_if_absent"]) / produced,
        tail_gets_per_gib: tail.sum(&["get", "get_range", "list"]) / produced,
        catch_up_gets_per_gib: catch_up.sum(&["get", "get_range", "list"]) / read,
        stored_per_produced: tail.bytes_sent.unwrap_or(0.0) / GIB / produced,
        cpu_seconds_per_gib: t.tail_cpu_seconds / moved,
    })
}

/// The Floe target whose measurements feed the cost model: over S3 if it ran (what a
/// cloud deployment runs), else the first Floe target with counters.
fn costed(results: &RunResults) -> Option<(Target, Measured)> {
    let floe = |t: &&TargetResult| t.target.is_floe();
    let s3 = results.targets.iter().filter(floe).find(|t| t.target == Target::FloeS3);
    s3.into_iter().chain(results.targets.iter().filter(floe)).find_map(|t| Some((t.target, measured(t)?)))
}

/// Writes `README.md` and the charts into `dir`.
pub fn write(results: &RunResults, prices: &PriceBook, dir: &Path, font: &Path) -> Result<()> {
    if results.targets.is_empty() {
        bail!("no targets in the results");
    }
    register(font)?;
    std::fs::create_dir_all(dir)?;
    let bills = costed(results).map(|(target, m)| {
        let bills: Vec<(Cloud, Bill, Bill)> = prices
            .cloud
            .iter()
            .map(|c| (c.clone(), cost::floe(&prices.workload, &m, c), cost::kafka(&prices.workload, c)))
            .collect();
        (target, m, bills)
    });
    throughput_chart(results, &dir.join(CHARTS[0].0), CHARTS[0].1)?;
    latency_chart(results, &dir.join(CHARTS[1].0), CHARTS[1].1)?;
    if let Some((_, _, bills)) = &bills {
        cost_chart(bills, &dir.join(CHARTS[2].0), CHARTS[2].1)?;
    }
    let text = markdown(results, prices, bills.as_ref());
    std::fs::write(dir.join("README.md"), text).context("write README.md")
}

type Bills = (Target, Measured, Vec<(Cloud, Bill, Bill)>);

fn markdown(r: &RunResults, prices: &PriceBook, bills: Option<&Bills>) -> String {
    let w = &r.workload;
    let m = &r.machine;
    let mut s = String::new();
    let _ = writeln!(s, "# Floe benchmark, {}\n", m.started);
    let _ = writeln!(s, "Command:\n\n```sh\n{}\n```\n", r.command);
    let _ = writeln!(
        s,
        "Machine: {} CPUs ({}), {:.1} GiB memory, Linux {}, {}; librdkafka {}; load average {} at the \
         start. Brokers, stores and clients all on this machine, on loopback, one target after another \
         in one invocation.\n",
        m.cpus, m.cpu_model, m.memory_gib, m.kernel, m.os, m.librdkafka, m.load
    );
    let rate =
        if w.rate == 0 { "as fast as acks allow".to_string() } else { format!("{} records/s", w.rate) };
    let _ = writeln!(
        s,
        "Workload: {} producer(s) and {} consumer(s) through librdkafka, topic of {} partitions, {}-byte \
         records ({}), for {} s; acks={}, compression={}, linger.ms={}, batch.size={}, \
         queue.buffering.max.kbytes={}. Tailing phase: \
         consumers read while producers write. Catch-up phase: fresh consumers read the whole backlog \
         from the earliest offset, on the same broker right after.\n",
        w.producers,
        w.consumers,
        w.partitions,
        w.record_size,
        rate,
        w.duration_secs,
        w.acks,
        w.compression,
        w.linger_ms,
        w.batch_size,
        w.queue_kib
    );
    s.push_str("## Throughput\n\n");
    s.push_str("| target | produce MB/s | produce records/s | tail consume MB/s | catch-up MB/s | GiB produced | failed |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for t in &r.targets {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.2} | {} |",
            t.target,
            mb_s(t.tail.produced_bytes, t.tail.produce_secs),
            t.tail.produced_records as f64 / t.tail.produce_secs.max(1e-9),
            mb_s(t.tail.consumed_bytes, t.tail.consume_secs),
            mb_s(t.catch_up.consumed_bytes, t.catch_up.consume_secs),
            t.produced_gib(),
            t.tail.failed
        );
    }
    s.push_str("\n![Throughput over time](throughput.png)\n\n## Latency (ms)\n\n");
    s.push_str("| target | ack p50 | ack p95 | ack p99 | ack p99.9 | ack max | e2e p50 | e2e p95 | e2e p99 | e2e p99.9 | e2e max |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for t in &r.targets {
        let _ = write!(s, "| {} ", t.target);
        for (_, v) in t.tail.ack.points().iter().chain(t.tail.e2e.points().iter()) {
            let _ = write!(s, "| {v:.1} ");
        }
        s.push_str("|\n");
    }
    s.push_str(
        "\nAck: from the producer's send call to its delivery report. End to end: from the send call to \
         receipt by a tailing consumer (same process, one monotonic clock). Under a max-rate workload both \
         include time queued in the client.\n\n![Latency percentiles](latency.png)\n\n",
    );
    s.push_str("## Broker resources and object-store requests\n\n");
    s.push_str(
        "| target | CPU s per GiB moved | peak RSS MiB | peak RSS per GiB produced (MiB) | PUTs per GiB | \
         GETs per GiB (tail) | GETs per GiB read (catch-up) | bytes to store per byte produced | counted by |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for t in &r.targets {
        let moved = t.produced_gib() + t.tail.consumed_bytes as f64 / GIB;
        let rss_mib = t.broker.peak_rss_bytes as f64 / (1 << 20) as f64;
        let read = t.catch_up.consumed_bytes as f64 / GIB;
        let (gets_tail, gets_catch_up, stored, witness) = match (&t.store_tail, &t.s3_tail) {
            (Some(own), _) => (
                fmt(Some(own.sum(&["get", "get_range", "list"]) / t.produced_gib())),
                fmt(t.store_catch_up.as_ref().map(|c| c.sum(&["get", "get_range", "list"]) / read)),
                t.store_tail
                    .as_ref()
                    .and_then(|c| c.bytes_sent)
                    .map_or("n/a".into(), |b| format!("{:.3}", b / GIB / t.produced_gib())),
                "Floe's counters",
            ),
            (None, Some(s3)) => (
                fmt(Some(s3.sum(&["GET", "HEAD"]) / t.produced_gib())),
                fmt(t.s3_catch_up.as_ref().map(|c| c.sum(&["GET", "HEAD"]) / read)),
                "n/a".into(),
                "S3 server log",
            ),
            (None, None) => ("n/a".into(), "n/a".into(), "n/a".into(), "not counted"),
        };
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            t.target,
            t.tail_cpu_seconds / moved.max(1e-9),
            rss_mib,
            rss_mib / t.produced_gib().max(1e-9),
            fmt(t.puts_per_gib()),
            gets_tail,
            gets_catch_up,
            stored,
            witness
        );
    }
    s.push_str(
        "\nCPU: the broker process's user + system time during the tailing phase (/proc/<pid>/stat) over \
         GiB produced plus GiB consumed. Peak RSS: VmHWM at the end of the run. Requests per GiB are \
         per GiB produced (tail) or read (catch-up). For Floe they come from its own \
         `floe_store_requests_total`; for Tansu over S3 from moto_server's access log (PUT and POST as \
         writes, GET and HEAD as reads); memory stores count nothing.\n\n",
    );
    s.push_str("Object-store requests during the tailing phase, by kind, as each witness counted them:\n\n");
    for t in &r.targets {
        for (witness, counts) in [("Floe's counters", &t.store_tail), ("S3 server log", &t.s3_tail)] {
            if let Some(c) = counts {
                let kinds: Vec<String> = c
                    .requests
                    .iter()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(k, v)| format!("{k} {v:.0}"))
                    .collect();
                let _ = writeln!(
                    s,
                    "- {} ({witness}): {}",
                    t.target,
                    if kinds.is_empty() { "none".into() } else { kinds.join(", ") }
                );
            }
        }
    }
    if let Some((target, m, bills)) = bills {
        cost_section(&mut s, prices, *target, m, bills);
    }
    s
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1}"))
}

fn cost_section(
    s: &mut String,
    prices: &PriceBook,
    target: Target,
    m: &Measured,
    bills: &[(Cloud, Bill, Bill)],
) {
    let w = &prices.workload;
    let _ = writeln!(
        s,
        "\n## Monthly cost\n\nWorkload: {} GiB/s in, {} GiB/s out, {} zones, {} days of retention; {:.0}% of \
         reads are catch-up reads from the object store. Floe's inputs are what {target} measured in this \
         run: {:.1} PUTs per GiB, {:.2} GETs per GiB while tailing, {:.1} GETs per GiB of catch-up reads, \
         {:.3} bytes stored per byte produced, {:.2} broker CPU seconds per GiB moved (brokers sized at \
         {:.0}% CPU). Floe keeps producers and consumers in their zone (rack-aware routing), so no data \
         crosses zones. Kafka: replication factor {}, disks {:.0}% full at the retention limit, brokers \
         sized at {} GiB/s of NIC traffic each, producers reaching leaders in other zones {}/{} of the \
         time, followers in other zones, consumers {}. Requests per GiB depend on the rate they were \
         measured at (Floe writes one object per WAL window, by time or size): the model applies this \
         run's figures unchanged to the costed workload.\n",
        w.ingress_gib_s,
        w.egress_gib_s,
        w.zones,
        w.retention_days,
        w.catch_up_share * 100.0,
        m.puts_per_gib,
        m.tail_gets_per_gib,
        m.catch_up_gets_per_gib,
        m.stored_per_produced,
        m.cpu_seconds_per_gib,
        w.cpu_utilisation * 100.0,
        w.kafka_replicas,
        w.kafka_disk_fill * 100.0,
        w.kafka_instance_gib_s,
        w.zones - 1.0,
        w.zones,
        if w.kafka_consumer_cross_az == 0.0 {
            "fetching from followers in their zone".to_string()
        } else {
            format!("crossing zones for {:.0}% of reads", w.kafka_consumer_cross_az * 100.0)
        }
    );
    s.push_str(
        "| cloud | Floe instances | Floe compute | Floe storage | Floe requests | Floe total | Kafka instances \
         | Kafka compute | Kafka disks | Kafka cross-zone | Kafka total | Kafka / Floe |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let usd = |v: f64| format!("${:.0}", v);
    for (c, f, k) in bills {
        let _ = writeln!(
            s,
            "| {} ({}) | {:.0} | {} | {} | {} | **{}** | {:.0} | {} | {} | {} | **{}** | {:.1}x |",
            c.name,
            c.region,
            f.instances,
            usd(f.compute),
            usd(f.storage),
            usd(f.requests),
            usd(f.total()),
            k.instances,
            usd(k.compute),
            usd(k.storage),
            usd(k.cross_az),
            usd(k.total()),
            k.total() / f.total().max(1e-9)
        );
    }
    s.push_str(
        "\n![Monthly cost per cloud](cost.png)\n\nPrices (USD, on demand; from `bench/prices.toml`):\n\n",
    );
    s.push_str("| cloud | object storage /GiB-month | PUT /1000 | GET /1000 | instance /h | disk /GiB-month | cross-zone /GiB |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let mut unverified = 0;
    for (c, _, _) in bills {
        let _ = write!(s, "| {} ({}; {}) ", c.name, c.object_class, c.instance);
        for p in c.prices() {
            let mark = if p.verified { "" } else { "*" };
            unverified += usize::from(!p.verified);
            let _ = write!(s, "| [{}{mark}]({}) ", p.usd, p.source);
        }
        s.push_str("|\n");
    }
    let _ = writeln!(
        s,
        "\n\\* {unverified} figures are list prices as last known, not re-checked against the linked page \
         for this report (see the dates in `bench/prices.toml`); the others were read from the page."
    );
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// A chart with the report's title font, margins and label areas.
fn chart_on<'a, 'b>(area: &'a Area<'b>, title: impl AsRef<str>) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder.caption(title, (FONT, 22)).margin(12).x_label_area_size(40).y_label_area_size(80);
    builder
}

/// The legend, in the report's style.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Which bytes of a sample a panel plots.
type PickBytes = fn(&crate::workload::Sample) -> u64;

fn throughput_chart(r: &RunResults, path: &Path, size: (u32, u32)) -> Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(size.1 / 2);
    let panels: [(&str, PickBytes, _); 2] = [
        ("Produce throughput (acknowledged), tailing phase", |s| s.produced, upper),
        ("Consume throughput, tailing phase", |s| s.consumed, lower),
    ];
    for (title, pick, area) in panels {
        let x_max = r.targets.iter().flat_map(|t| t.tail.series.last()).map(|s| s.t).fold(1.0, f64::max);
        let y_max = r
            .targets
            .iter()
            .flat_map(|t| t.tail.series.iter())
            .map(|s| pick(s) as f64 / 1e6)
            .fold(1.0, f64::max)
            * 1.1;
        let mut chart = chart_on(&area, title).build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the phase started")
            .y_desc("MB/s")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()?;
        for (i, t) in r.targets.iter().enumerate() {
            let points = t.tail.series.iter().map(|s| (s.t, pick(s) as f64 / 1e6));
            let c = color(i);
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))?
                .label(t.target.to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    root.present()?;
    Ok(())
}

fn latency_chart(r: &RunResults, path: &Path, size: (u32, u32)) -> Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(size.0 / 2);
    let labels = r.targets[0].tail.ack.points().map(|(l, _)| l);
    let panels = [("Produce-ack latency", true, left), ("End-to-end latency", false, right)];
    let all = r.targets.iter().flat_map(|t| t.tail.ack.points().into_iter().chain(t.tail.e2e.points()));
    let (lo, hi) = all.fold((f64::MAX, 0.0f64), |(lo, hi), (_, v)| (lo.min(v), hi.max(v)));
    let (lo, hi) = ((lo.max(0.01) / 2.0), (hi.max(lo) * 2.0).max(1.0));
    for (title, ack, area) in panels {
        let mut chart = chart_on(&area, format!("{title} (ms, log scale)"))
            .build_cartesian_2d(0i32..4i32, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(5)
            .x_label_formatter(&|i| labels.get(*i as usize).copied().unwrap_or("").to_string())
            .x_desc("percentile")
            .y_desc("ms")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()?;
        for (i, t) in r.targets.iter().enumerate() {
            let summary = if ack { t.tail.ack } else { t.tail.e2e };
            let points: Vec<(i32, f64)> =
                summary.points().iter().enumerate().map(|(x, (_, v))| (x as i32, v.max(lo))).collect();
            let c = color(i);
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
                .label(t.target.to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 4, c.filled())))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    root.present()?;
    Ok(())
}

fn cost_chart(bills: &[(Cloud, Bill, Bill)], path: &Path, size: (u32, u32)) -> Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let y_max = bills.iter().map(|(_, f, k)| f.total().max(k.total())).fold(1.0, f64::max) / 1000.0 * 1.3;
    // one segment per bar: cloud i's Floe bar is segment 2i, its Kafka bar 2i + 1
    let label = |j: i32| {
        let (cloud, system) = (j / 2, if j % 2 == 0 { "Floe" } else { "Kafka" });
        bills.get(cloud as usize).map(|(c, _, _)| format!("{} {system}", c.name)).unwrap_or_default()
    };
    let mut chart =
        chart_on(&root, "Monthly cost of the workload: Floe (measured requests) vs 3-replica Kafka")
            .build_cartesian_2d((0..2 * bills.len() as i32 - 1).into_segmented(), 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * bills.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(j) => label(*j),
            _ => String::new(),
        })
        .y_desc("thousand USD per month")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;
    let systems = [("Floe", color(0)), ("Apache Kafka (3 replicas, disks)", color(3))];
    for (s, (name, c)) in systems.into_iter().enumerate() {
        let totals: Vec<(i32, f64)> = bills
            .iter()
            .enumerate()
            .map(|(i, (_, f, k))| ((2 * i + s) as i32, if s == 0 { f.total() } else { k.total() } / 1000.0))
            .collect();
        chart
            .draw_series(
                Histogram::vertical(&chart).style(c.filled()).margin(12).data(totals.iter().copied()),
            )?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
        chart.draw_series(totals.iter().map(|(j, v)| {
            Text::new(
                format!("${v:.0}k"),
                (SegmentValue::CenterOf(*j), v + y_max * 0.05),
                (FONT, 15).into_font(),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Summary;
    use crate::machine::{Machine, ProcessStats};
    use crate::metrics::StoreCounts;
    use crate::workload::{Phase, Sample, Workload};

    const FONT_FILE: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    fn phase(produced: u64, scale: f64) -> Phase {
        Phase {
            produced_bytes: produced,
            produced_records: produced / 1024,
            produce_secs: 10.0,
            consumed_bytes: produced,
            consumed_records: produced / 1024,
            consume_secs: 11.0,
            ack: Summary {
                count: 100,
                p50: 5.0 * scale,
                p95: 9.0 * scale,
                p99: 12.0 * scale,
                p999: 30.0 * scale,
                max: 60.0 * scale,
            },
            e2e: Summary {
                count: 100,
                p50: 7.0 * scale,
                p95: 11.0 * scale,
                p99: 15.0 * scale,
                p999: 40.0 * scale,
                max: 90.0 * scale,
            },
            series: (1..=10)
                .map(|t| Sample { t: t.into(), produced: produced / 10, consumed: produced / 10 })
                .collect(),
            failed: 0,
        }
    }

    fn target(target: Target, counts: Option<StoreCounts>, scale: f64) -> TargetResult {
        TargetResult {
            target,
            version: "test".into(),
            tail: phase(1 << 30, scale),
            catch_up: phase(1 << 30, scale),
            tail_cpu_seconds: 10.0,
            catch_up_cpu_seconds: 3.0,
            broker: ProcessStats { cpu_seconds: 13.0, peak_rss_bytes: 300 << 20 },
            store_tail: counts.clone(),
            store_catch_up: counts,
            s3_tail: None,
            s3_catch_up: None,
        }
    }

    fn results() -> RunResults {
        let counts = StoreCounts {
            requests: [("put".to_string(), 128.0), ("get_range".to_string(), 64.0)].into_iter().collect(),
            bytes_sent: Some(1.01 * GIB),
            bytes_received: Some(GIB),
        };
        RunResults {
            command: "floe-bench run --out x".into(),
            machine: Machine::default(),
            workload: Workload {
                producers: 1,
                consumers: 1,
                partitions: 6,
                record_size: 1024,
                rate: 0,
                duration_secs: 10,
                acks: "all".into(),
                compression: "none".into(),
                linger_ms: 5,
                batch_size: 1 << 20,
                queue_kib: 16 << 10,
            },
            targets: vec![target(Target::FloeS3, Some(counts), 1.0), target(Target::TansuS3, None, 20.0)],
        }
    }

    fn prices() -> PriceBook {
        PriceBook::parse(include_str!("../prices.toml")).unwrap()
    }

    #[test]
    fn report_writes_markdown_and_charts_that_decode() {
        let dir = tempfile::tempdir().unwrap();
        write(&results(), &prices(), dir.path(), Path::new(FONT_FILE)).unwrap();
        for (name, (width, height)) in CHARTS {
            let file = std::fs::File::open(dir.path().join(name)).unwrap();
            let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
            let mut pixels = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut pixels).unwrap();
            assert_eq!((info.width, info.height), (width, height), "{name}");
            // something was drawn: not a blank white canvas
            let non_white = pixels.chunks(3).filter(|p| p.iter().any(|c| *c < 200)).count();
            assert!(non_white > 1000, "{name}: {non_white} non-white pixels");
        }
        let md = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
        assert!(md.contains("| floe-s3 | 107.4 |"), "produce MB/s of 1 GiB in 10 s:\n{md}");
        assert!(md.contains("| tansu-s3 |"));
        assert!(md.contains("![Monthly cost per cloud](cost.png)"));
        // 128 PUTs per GiB produced, from Floe's counters
        assert!(md.contains("| 128.0 |"), "{md}");
        for cloud in ["AWS", "Alibaba", "GCP", "Azure"] {
            assert!(md.contains(&format!("| {cloud} (")), "{cloud} missing:\n{md}");
        }
    }

    #[test]
    fn cost_inputs_come_from_the_floe_target_over_s3() {
        let (target, m) = costed(&results()).unwrap();
        assert_eq!(target, Target::FloeS3);
        assert_eq!(m.puts_per_gib, 128.0);
        assert_eq!(m.catch_up_gets_per_gib, 64.0);
        assert!((m.stored_per_produced - 1.01).abs() < 1e-9);
        assert!((m.cpu_seconds_per_gib - 5.0).abs() < 1e-9, "10 CPU s over 2 GiB moved");
    }

    #[test]
    fn a_run_without_targets_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = RunResults { targets: vec![], ..results() };
        assert!(write(&empty, &prices(), dir.path(), Path::new(FONT_FILE)).is_err());
    }
}
