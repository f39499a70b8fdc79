//! Samples → median (min–max) → a markdown table row with a verdict.

use std::fmt::Write as _;

/// Repeated measurements of one metric.
#[derive(Debug, Clone)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stats {
    /// `None` for no samples. An even count takes the mean of the middle two.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stats {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        })
    }
}

/// What a metric is held to.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// At most this (same unit as the value).
    AtMost(f64),
    /// Exactly this.
    Exactly(f64),
    /// Reported only.
    Report,
}

pub struct Row {
    pub metric: String,
    /// The measurement, or why it could not be taken.
    pub value: Result<Stats, String>,
    pub unit: Unit,
    pub budget: Budget,
    /// Shown after the value, e.g. how many messages a run used.
    pub note: String,
}

#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Bytes,
    KiB,
    Ms,
    Count,
    Instructions,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Bytes if v >= 1_000_000.0 => {
                format!("{:.0} B ({:.2} MiB)", v, v / 1_048_576.0)
            }
            Unit::Bytes => format!("{v:.0} B"),
            Unit::KiB if v.abs() >= 1024.0 => format!("{:.2} MiB", v / 1024.0),
            Unit::KiB => format!("{v:.0} KiB"),
            Unit::Ms if v.abs() < 10.0 => format!("{v:.3} ms"),
            Unit::Ms => format!("{v:.1} ms"),
            Unit::Count => format!("{v:.0}"),
            Unit::Instructions => format!("{v:.0}"),
        }
    }

    fn short(self, v: f64) -> String {
        match self {
            Unit::Bytes => format!("{v:.0}"),
            _ => self.show(v),
        }
    }
}

impl Row {
    pub fn verdict(&self) -> &'static str {
        let Ok(s) = &self.value else {
            return "not measured";
        };
        match self.budget {
            Budget::AtMost(b) if s.median <= b => "PASS",
            Budget::AtMost(_) => "FAIL",
            Budget::Exactly(b) if s.min == b && s.max == b => "PASS",
            Budget::Exactly(_) => "FAIL",
            Budget::Report => "reported",
        }
    }

    fn value_cell(&self) -> String {
        let mut out = match &self.value {
            Ok(s) if s.runs > 1 => format!(
                "{} ({}–{}, n={})",
                self.unit.show(s.median),
                self.unit.short(s.min),
                self.unit.short(s.max),
                s.runs
            ),
            Ok(s) => self.unit.show(s.median),
            Err(e) => format!("— ({})", e.lines().next().unwrap_or("")),
        };
        if !self.note.is_empty() {
            let _ = write!(out, "; {}", self.note);
        }
        out
    }

    fn budget_cell(&self) -> String {
        match self.budget {
            Budget::AtMost(b) => format!("≤ {}", self.unit.show(b)),
            Budget::Exactly(b) => format!("exactly {}", self.unit.show(b)),
            Budget::Report => String::from("report"),
        }
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| metric | value: median (min–max, runs) | budget | verdict |\n|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.metric,
            r.value_cell().replace('|', "/"),
            r.budget_cell(),
            r.verdict()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_count_is_mean_of_middle_pair() {
        let s = Stats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (2.5, 1.0, 4.0, 4));
    }

    #[test]
    fn exact_budget_fails_when_any_run_differs() {
        let row = Row {
            metric: String::from("calls"),
            value: Ok(Stats::of(&[1.0, 1.0, 2.0]).unwrap()),
            unit: Unit::Count,
            budget: Budget::Exactly(1.0),
            note: String::new(),
        };
        assert_eq!(row.verdict(), "FAIL");
    }
}
