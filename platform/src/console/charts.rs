//! Small server-rendered SVG bar charts for the dashboard: 24 hourly bars, each with its count
//! written in its `<title>` and the total and peak written beside the chart, so the chart reads
//! without colour and without a script (a screen reader gets the summary and the table of
//! values in `<desc>`).

use std::fmt::Write;

/// Hours in a chart.
pub const HOURS: usize = 24;

/// A day of hourly counts, oldest hour first, ending with the current hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlySeries {
    /// What is counted ("publishes", "mails sent", …).
    pub label: String,
    /// Counts per hour, oldest first.
    pub counts: [u64; HOURS],
}

impl HourlySeries {
    /// Buckets `times` (ms) into the 24 hours ending at `now` (ms); older or future times are
    /// left out.
    pub fn from_times(label: &str, times: impl IntoIterator<Item = i64>, now: i64) -> HourlySeries {
        let mut counts = [0u64; HOURS];
        let hour = 3_600_000i64;
        let current_start = now - now.rem_euclid(hour);
        for t in times {
            if t > now {
                continue;
            }
            let back = (current_start - (t - t.rem_euclid(hour))) / hour;
            if (0..HOURS as i64).contains(&back) {
                counts[HOURS - 1 - back as usize] += 1;
            }
        }
        HourlySeries {
            label: label.to_owned(),
            counts,
        }
    }

    /// The total over the day.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The largest hourly count.
    pub fn peak(&self) -> u64 {
        self.counts.iter().copied().max().unwrap_or(0)
    }

    /// The chart as an inline SVG element (escaped label; numbers only otherwise).
    pub fn svg(&self) -> String {
        let (w, h, base) = (240u64, 60u64, 56u64);
        let peak = self.peak().max(1);
        let label = escape(&self.label);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-labelledby="t-{id}"><title id="t-{id}">{label}: {total} in the last 24 hours, at most {peak_n} in one hour</title><desc>{desc}</desc><line x1="0" y1="{base}" x2="{w}" y2="{base}" stroke="currentColor" stroke-width="0.5"/>"#,
            id = slug(&self.label),
            total = self.total(),
            peak_n = self.peak(),
            desc = self
                .counts
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{}h ago: {c}", HOURS - 1 - i))
                .collect::<Vec<_>>()
                .join("; "),
        );
        for (i, count) in self.counts.iter().enumerate() {
            let bar_h = (count * (base - 4)).div_ceil(peak);
            let x = i as u64 * 10 + 1;
            let _ = write!(
                out,
                r#"<rect x="{x}" y="{y}" width="8" height="{bar_h}" fill="currentColor"><title>{ago} h ago: {count}</title></rect>"#,
                y = base - bar_h,
                ago = HOURS - 1 - i,
            );
        }
        out.push_str("</svg>");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_fall_in_their_hour_and_the_chart_says_its_numbers() {
        let hour = 3_600_000;
        let now = 100 * hour + 1_000;
        let times = [
            now,
            now - 10,
            now - hour,
            now - 23 * hour,
            now - 24 * hour,
            now + 5,
        ];
        let s = HourlySeries::from_times("mails <sent>", times, now);
        assert_eq!(s.counts[HOURS - 1], 2);
        assert_eq!(s.counts[HOURS - 2], 1);
        assert_eq!(s.counts[0], 1);
        assert_eq!(s.total(), 4);
        let svg = s.svg();
        assert!(svg.contains("mails &lt;sent&gt;: 4 in the last 24 hours, at most 2 in one hour"));
        assert!(svg.contains("<title>0 h ago: 2</title>"));
        assert_eq!(svg.matches("<rect").count(), HOURS);
        assert!(!svg.contains("<script"));
    }
}
