//! Charts as SVG, drawn on the server: a line chart (series, an uncertainty band, a target
//! line, a deadline) and a sparkline. Hand-written because what the pages need is small and
//! specific — a chart that names itself for screen readers (`role="img"` with a title and
//! a description carrying the figures), styled by the page's style sheet, with no script —
//! and a plotting library would bring a raster stack and fonts for a few polylines.

use std::fmt::Write;

/// One line.
pub(crate) struct Series {
    pub name: String,
    /// (x, y) points; x in any unit (days), in order.
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// A line chart.
pub(crate) struct LineChart {
    /// Unique on the page (ids of the title and description).
    pub id: String,
    pub title: String,
    /// What the chart shows, in words and figures (read by screen readers).
    pub desc: String,
    pub series: Vec<Series>,
    /// (x, low, high): a band drawn under the lines.
    pub band: Vec<(f64, f64, f64)>,
    /// A horizontal reference line (a target) and its label.
    pub target: Option<(f64, String)>,
    /// A vertical reference line (a deadline) and its label.
    pub deadline: Option<(f64, String)>,
    /// Labels on the x axis at these x.
    pub x_labels: Vec<(f64, String)>,
    /// How a y value is written.
    pub y_format: fn(f64) -> String,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 42.0;

/// Escapes text for SVG and HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Round tick values covering [lo, hi].
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).abs().max(f64::EPSILON);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    // The roundest step giving about n intervals (never fewer than two ticks in range).
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw / 1.5).unwrap_or(raw);
    let first = (lo / step).ceil() * step;
    (0..=n + 1).map(|i| first + step * i as f64).filter(|v| *v <= hi + step * 1e-9).collect()
}

impl LineChart {
    /// The chart's SVG.
    pub fn svg(&self) -> String {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.band.iter().map(|b| b.0))
            .chain(self.deadline.iter().map(|d| d.0));
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.band.iter().flat_map(|b| [b.1, b.2]))
            .chain(self.target.iter().map(|t| t.0));
        let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in xs.filter(|x| x.is_finite()) {
            x0 = x0.min(x);
            x1 = x1.max(x);
        }
        let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
        for y in ys.filter(|y| y.is_finite()) {
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="linechart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{t}</title><desc id="{id}-d">{d}</desc>"#,
            id = esc(&self.id),
            t = esc(&self.title),
            d = esc(&self.desc)
        );
        if !x0.is_finite() || !y0.is_finite() {
            let _ =
                write!(out, r#"<text x="{}" y="{}" class="nodata">No data yet</text></svg>"#, W / 2.0 - 40.0, H / 2.0);
            return out;
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0).abs() * 0.08).max(y1.abs() * 0.02).max(1e-9);
        y0 -= pad;
        y1 += pad;
        if y0 > 0.0 && y0 < (y1 - y0) * 0.5 {
            y0 = 0.0;
        }
        let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
        let py = |y: f64| TOP + (1.0 - (y - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
        // Grid and y labels.
        for v in ticks(y0, y1, 4) {
            let y = py(v);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="ylabel" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                esc(&(self.y_format)(v))
            );
        }
        for (x, label) in &self.x_labels {
            // A label near the right edge ends there rather than being cut.
            let anchor = if px(*x) > W - RIGHT - 40.0 { "end" } else { "middle" };
            let _ = write!(
                out,
                r#"<text class="xlabel" x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
                px(*x),
                H - BOTTOM + 18.0,
                esc(label)
            );
        }
        let _ = write!(out, r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{b}" y2="{b}"/>"#, W - RIGHT, b = H - BOTTOM);
        if !self.band.is_empty() {
            let upper: Vec<String> = self.band.iter().map(|b| format!("{:.1},{:.1}", px(b.0), py(b.2))).collect();
            let lower: Vec<String> = self.band.iter().rev().map(|b| format!("{:.1},{:.1}", px(b.0), py(b.1))).collect();
            let _ = write!(out, r#"<polygon class="band" points="{} {}"/>"#, upper.join(" "), lower.join(" "));
        }
        if let Some((t, label)) = &self.target {
            let y = py(*t);
            let _ = write!(
                out,
                r#"<line class="target" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="mark" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                W - RIGHT,
                W - RIGHT - 4.0,
                y - 5.0,
                esc(label)
            );
        }
        if let Some((d, label)) = &self.deadline {
            let x = px(*d);
            let _ = write!(
                out,
                r#"<line class="deadline" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}"/><text class="mark" x="{:.1}" y="{}" text-anchor="end">{}</text>"#,
                H - BOTTOM,
                x - 4.0,
                TOP + 10.0,
                esc(label)
            );
        }
        for (i, s) in self.series.iter().enumerate() {
            let pts: Vec<String> =
                s.points.iter().filter(|p| p.1.is_finite()).map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1))).collect();
            let class = format!("line s{}{}", i % 8, if s.dashed { " dashed" } else { "" });
            let _ = write!(out, r#"<polyline class="{class}" points="{}"/>"#, pts.join(" "));
            // A lone point, or a projection's end, is marked with a dot.
            if let (true, Some(p)) = (pts.len() == 1 || s.dashed, s.points.last()) {
                let _ =
                    write!(out, r#"<circle class="dot s{}" cx="{:.1}" cy="{:.1}" r="3.5"/>"#, i % 8, px(p.0), py(p.1));
            }
        }
        // Legend.
        if self.series.len() > 1 {
            let mut x = LEFT;
            for (i, s) in self.series.iter().enumerate() {
                let _ = write!(
                    out,
                    r#"<rect class="key s{}" x="{x:.1}" y="{}" width="12" height="4"/><text class="legend" x="{:.1}" y="{}">{}</text>"#,
                    i % 8,
                    H - 10.0,
                    x + 16.0,
                    H - 5.0,
                    esc(&s.name)
                );
                x += 24.0 + 7.0 * s.name.chars().count() as f64;
            }
        }
        out.push_str("</svg>");
        out
    }
}

/// A small trend line without axes, named for screen readers.
pub(crate) fn sparkline(label: &str, values: &[Option<f64>]) -> String {
    let pts: Vec<(usize, f64)> = values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    if pts.len() < 2 {
        return String::new();
    }
    let (lo, hi) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| (l.min(p.1), h.max(p.1)));
    let span = (hi - lo).max(1e-9);
    let n = (values.len() - 1).max(1) as f64;
    let coords: Vec<String> = pts
        .iter()
        .map(|(i, v)| format!("{:.1},{:.1}", 2.0 + *i as f64 / n * 116.0, 30.0 - (v - lo) / span * 26.0))
        .collect();
    format!(
        r#"<svg class="spark" viewBox="0 0 120 32" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><polyline points="{}"/></svg>"#,
        esc(label),
        coords.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 100.0, 4), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let t = ticks(0.61, 0.74, 4);
        assert!(t.iter().all(|v| (0.61..=0.74).contains(v)), "{t:?}");
        assert!((3..=7).contains(&t.len()), "{t:?}");
        assert!(t.iter().all(|v| ((v / 0.025).round() * 0.025 - v).abs() < 1e-9), "round: {t:?}");
    }

    #[test]
    fn a_chart_names_itself_and_escapes_its_text() {
        let c = LineChart {
            id: "c1".into(),
            title: "Revenue <card>".into(),
            desc: "weekly".into(),
            series: vec![Series { name: "a&b".into(), points: vec![(0.0, 1.0), (7.0, 2.0)], dashed: false }],
            band: vec![],
            target: Some((3.0, "target 3".into())),
            deadline: None,
            x_labels: vec![(0.0, "W1".into())],
            y_format: |v| format!("{v:.0}"),
        };
        let svg = c.svg();
        assert!(svg.contains(r#"role="img""#) && svg.contains("<title id=\"c1-t\">Revenue &lt;card&gt;</title>"));
        assert!(svg.contains("polyline") && svg.contains("class=\"target\""));
        assert!(!svg.contains("<card>"));
    }
}
