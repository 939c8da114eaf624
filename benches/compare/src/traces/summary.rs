//! The figures of one trace at one size, and the summary rows that close
//! the workload: wheelcache against the best peer, LRU, the ARC paper, and
//! itself with 1 and 64 shards.

use super::published::Published;
use crate::report::Table;
use crate::spread::Spread;

/// Hit ratios (percent) of one trace at one size.
#[derive(Debug, Clone)]
pub struct Measured {
    pub trace: &'static str,
    /// The size as the table names it.
    pub size: String,
    /// wheelcache with its default number of shards (and random hash seeds,
    /// as it runs by default).
    pub wheel: f64,
    /// wheelcache with 1 shard, and with 64, each under the same fixed hash
    /// seeds.
    pub wheel_1_shard: Seeded,
    pub wheel_64_shards: Seeded,
    pub lru: f64,
    pub arc: f64,
    pub quick: f64,
    pub moka: f64,
    /// moka with its housekeeping run after every insert, so that it holds
    /// no more than its capacity.
    pub moka_held: f64,
    /// Belady's optimal replacement: the most a cache of the size can hit.
    pub opt: f64,
    pub published: Published,
}

/// Hit ratios (percent) of one configuration under several fixed hash
/// seeds.
#[derive(Debug, Clone, Copy)]
pub struct Seeded(pub [f64; 3]);

impl Seeded {
    pub fn mean(&self) -> f64 {
        self.0.iter().sum::<f64>() / self.0.len() as f64
    }

    /// The hit ratios' range over the seeds.
    pub fn spread(&self) -> Spread {
        Spread::new(self.0)
    }

    /// Highest − lowest: how far the seeds alone move the hit ratio.
    pub fn width(&self) -> f64 {
        let spread = self.spread();
        spread.max() - spread.min()
    }
}

impl Measured {
    /// The better of quick_cache and moka.
    pub fn best_peer(&self) -> f64 {
        self.quick.max(self.moka)
    }

    /// wheelcache minus the best peer, in points.
    pub fn gap(&self) -> f64 {
        self.wheel - self.best_peer()
    }

    /// wheelcache minus the better of quick_cache and moka held to its
    /// capacity, in points.
    pub fn gap_held(&self) -> f64 {
        self.wheel - self.quick.max(self.moka_held)
    }

    /// |1 shard − 64 shards|, in points, between their means over the same
    /// hash seeds.
    pub fn shard_spread(&self) -> f64 {
        (self.wheel_1_shard.mean() - self.wheel_64_shards.mean()).abs()
    }

    fn name(&self) -> String {
        format!("{} {}", self.trace, self.size)
    }
}

/// The row where `key` is largest (the first of equals).
fn max_by(rows: &[Measured], key: impl Fn(&Measured) -> f64) -> &Measured {
    rows.iter().fold(&rows[0], |best, r| if key(r) > key(best) { r } else { best })
}

/// Pushes the summary rows under `traces/summary`: per trace, wheelcache −
/// best peer at each size; then the average and worst gap, the rows more
/// than 0.5 point below LRU, the rows below the ARC paper's ARC, the spread
/// between 1 and 64 shards, and the check of the measured LRU against the
/// paper's.
pub fn push(table: &mut Table, rows: &[Measured]) {
    if rows.is_empty() {
        return;
    }
    const W: &str = "traces/summary";
    let mut traces: Vec<&str> = rows.iter().map(|r| r.trace).collect();
    traces.dedup();
    for trace in traces {
        let gaps: Vec<String> = rows
            .iter()
            .filter(|r| r.trace == trace)
            .map(|r| format!("{} {:+.2}", r.size, r.gap()))
            .collect();
        table.push(W, &format!("wheelcache − best peer, {trace}"), gaps.join(" · "));
    }

    let n = rows.len();
    let average = rows.iter().map(Measured::gap).sum::<f64>() / n as f64;
    table
        .push(W, "wheelcache − best peer, average", format!("{average:+.2} pt over {n} rows"))
        .target("average ≥ best peer", average >= 0.0);
    let worst = max_by(rows, |r| -r.gap());
    table
        .push(
            W,
            "wheelcache − best peer, worst",
            format!("{:+.2} pt ({})", worst.gap(), worst.name()),
        )
        .target("never > 1 point behind the best peer", worst.gap() >= -1.0);

    let average_held = rows.iter().map(Measured::gap_held).sum::<f64>() / n as f64;
    let worst_held = max_by(rows, |r| -r.gap_held());
    table.push(
        W,
        "wheelcache − best peer held to its capacity (quick_cache, moka held)",
        format!(
            "average {average_held:+.2} pt, worst {:+.2} pt ({})",
            worst_held.gap_held(),
            worst_held.name()
        ),
    );
    let mut above_opt: Vec<String> = Vec::new();
    for r in rows {
        for (name, hits) in [("quick_cache", r.quick), ("moka", r.moka), ("wheelcache", r.wheel)] {
            if hits > r.opt + 1e-9 {
                above_opt.push(format!("{name} {} {:+.2}", r.name(), hits - r.opt));
            }
        }
    }
    let listed =
        if above_opt.is_empty() { String::new() } else { format!(": {}", above_opt.join(", ")) };
    table
        .push(
            W,
            "rows where a contender hits more than OPT (holds more than its capacity)",
            format!("{}{listed}", above_opt.len()),
        )
        .target(
            "wheelcache never above OPT",
            !above_opt.iter().any(|a| a.starts_with("wheelcache")),
        );

    let below_lru: Vec<&Measured> = rows.iter().filter(|r| r.wheel < r.lru - 0.5).collect();
    let lru_gap = max_by(rows, |r| r.lru - r.wheel);
    table
        .push(
            W,
            "rows with wheelcache > 0.5 point below LRU",
            format!(
                "{} of {n} (wheelcache − LRU at its lowest: {:+.2} pt, {})",
                below_lru.len(),
                lru_gap.wheel - lru_gap.lru,
                lru_gap.name()
            ),
        )
        .target("never > 0.5 point below LRU", below_lru.is_empty());

    let with_arc: Vec<&Measured> = rows.iter().filter(|r| r.published.arc.is_some()).collect();
    if !with_arc.is_empty() {
        let below: Vec<String> = with_arc
            .iter()
            .filter_map(|r| {
                let arc = r.published.arc?;
                (r.wheel < arc).then(|| format!("{} {:+.2}", r.name(), r.wheel - arc))
            })
            .collect();
        let listed =
            if below.is_empty() { String::new() } else { format!(": {}", below.join(", ")) };
        table
            .push(
                W,
                "rows with wheelcache below the ARC paper's ARC",
                format!("{} of {}{listed}", below.len(), with_arc.len()),
            )
            .target("≥ the ARC paper's ARC on OLTP and P12", below.is_empty());
    }

    let spread = max_by(rows, Measured::shard_spread);
    table
        .push(
            W,
            "wheelcache 1 vs 64 shards under the same hash seeds, largest difference of means",
            format!("{:.2} pt ({})", spread.shard_spread(), spread.name()),
        )
        .target("≤ 0.5 point", spread.shard_spread() <= 0.5);
    let noisiest = max_by(rows, |r| r.wheel_1_shard.width());
    table.push(
        W,
        "wheelcache with 1 shard, the widest range over the hash seeds",
        format!("{:.2} pt ({})", noisiest.wheel_1_shard.width(), noisiest.name()),
    );

    let checked: Vec<(f64, &Measured)> =
        rows.iter().filter_map(|r| Some((r.lru - r.published.lru?, r))).collect();
    if let Some(&(diff, worst)) = checked.iter().max_by(|a, b| a.0.abs().total_cmp(&b.0.abs())) {
        let within = checked.iter().filter(|c| c.0.abs() <= 0.1).count();
        table
            .push(
                W,
                "measured LRU − the ARC paper's LRU",
                format!(
                    "{within} of {} within 0.1 point (largest: {diff:+.3} pt, {})",
                    checked.len(),
                    worst.name()
                ),
            )
            .target("within 0.1 point", within == checked.len());
    }
}

#[cfg(test)]
mod tests {
    use super::{push, Measured, Seeded};
    use crate::report::Table;
    use crate::traces::published::Published;

    fn row(trace: &'static str, wheel: f64, peers: (f64, f64), published: Published) -> Measured {
        Measured {
            trace,
            size: "100".into(),
            wheel,
            wheel_1_shard: Seeded([wheel - 0.3, wheel - 0.2, wheel - 0.1]),
            wheel_64_shards: Seeded([wheel + 0.1, wheel + 0.2, wheel + 0.3]),
            lru: 40.0,
            arc: 45.0,
            quick: peers.0,
            moka: peers.1,
            moka_held: peers.1,
            opt: 99.0,
            published,
        }
    }

    fn cells(table: &Table) -> Vec<(String, String, String)> {
        let rows = table.rows().iter();
        rows.map(|r| (r.contender.clone(), r.result.clone(), r.target.clone())).collect()
    }

    #[test]
    fn all_met() {
        let paper = Published { lru: Some(40.05), arc: Some(44.0) };
        let mut table = Table::default();
        push(
            &mut table,
            &[
                row("OLTP", 46.0, (45.0, 44.0), paper),
                row("x", 50.0, (50.5, 1.0), Published::default()),
            ],
        );
        let cells = cells(&table);
        assert_eq!(cells[0].1, "100 +1.00");
        assert_eq!(
            cells[2],
            (
                "wheelcache − best peer, average".into(),
                "+0.25 pt over 2 rows".into(),
                "average ≥ best peer: met".into()
            )
        );
        assert_eq!(cells[3].1, "-0.50 pt (x 100)");
        assert_eq!(cells[4].1, "average +0.25 pt, worst -0.50 pt (x 100)");
        assert_eq!(cells[5].1, "0");
        let mut targets = cells.iter().skip(2).filter(|c| !c.2.is_empty());
        assert!(
            targets.clone().count() == 7 && targets.all(|c| c.2.ends_with(": met")),
            "{cells:?}"
        );
        assert_eq!(cells[7].1, "0 of 1");
        assert_eq!(cells[8].1, "0.40 pt (OLTP 100)");
        assert_eq!(cells[9].1, "0.20 pt (OLTP 100)");
        assert_eq!(cells[10].1, "1 of 1 within 0.1 point (largest: -0.050 pt, OLTP 100)");
    }

    #[test]
    fn misses_are_counted() {
        let paper = Published { lru: Some(40.2), arc: Some(47.0) };
        let mut table = Table::default();
        let mut above_opt = row("P12", 39.0, (41.0, 40.0), paper);
        above_opt.opt = 39.5;
        push(&mut table, &[above_opt]);
        let cells = cells(&table);
        let judged = cells.iter().skip(1).filter(|c| !c.2.is_empty());
        assert!(
            judged.clone().filter(|c| c.2.ends_with("**missed**")).count() == 5
                && judged.filter(|c| c.2.ends_with(": met")).count() == 2,
            "{cells:?}"
        );
        assert_eq!(cells[4].1, "2: quick_cache P12 100 +1.50, moka P12 100 +0.50");
        assert_eq!(cells[5].1, "1 of 1 (wheelcache − LRU at its lowest: -1.00 pt, P12 100)");
        assert_eq!(cells[6].1, "1 of 1: P12 100 -8.00");
        assert_eq!(cells[8].1, "0.20 pt (P12 100)");
        assert_eq!(cells[9].1, "0 of 1 within 0.1 point (largest: -0.200 pt, P12 100)");
    }
}
