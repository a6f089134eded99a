//! HTML building blocks: escaping, the page layout, the stylesheet and hand-written SVG charts.
//!
//! Pages are plain Rust string templates. Every value that did not come from this file goes
//! through [`esc`] (text and attribute values alike), so the one rule to review is "no `{}` of
//! outside data without `esc`".

use std::fmt::Write as _;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a value for a URL query component.
pub fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The stylesheet, served at `/assets/app.css` (no CDN, no external fonts).
pub const CSS: &str = r#"
:root{--bg:#f5f6f8;--card:#fff;--ink:#1d2330;--mute:#667085;--line:#e3e6eb;--acc:#1d9bf0;--ok:#0b8a4a;--warn:#b54708;--bad:#c01c28}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{background:#0f1419;color:#fff;display:flex;align-items:center;gap:20px;padding:10px 24px}
header .brand{font-weight:700;letter-spacing:.2px}header nav a{color:#cfd9de;text-decoration:none;margin-right:14px}
header nav a.on{color:#fff;border-bottom:2px solid var(--acc);padding-bottom:2px}header .who{margin-left:auto;display:flex;gap:10px;align-items:center;color:#cfd9de}
main{max-width:1100px;margin:24px auto;padding:0 24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}
.crumb{color:var(--mute);margin-bottom:16px}.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin-bottom:18px}
.tile{max-width:640px}.tile .top{display:flex;align-items:center;gap:12px}.logo{width:40px;height:40px;border-radius:8px;background:#000;color:#fff;display:grid;place-items:center;font-weight:700;font-size:20px}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;border:1px solid transparent}
.b-ok{background:#e7f6ee;color:var(--ok)}.b-off{background:#eef0f3;color:var(--mute)}.b-warn{background:#fff4e5;color:var(--warn)}.b-bad{background:#fdecec;color:var(--bad)}.b-dry{background:#fff4e5;color:var(--warn);border-color:#f5c58a}.b-live{background:#e8f4fd;color:#0b6fb8;border-color:#9ccff5}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:middle}th{color:var(--mute);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.3px}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
form.inline{display:inline}button,.btn{font:inherit;border:1px solid var(--line);background:#fff;border-radius:7px;padding:5px 12px;cursor:pointer;color:var(--ink);text-decoration:none;display:inline-block}
button.primary,.btn.primary{background:var(--acc);border-color:var(--acc);color:#fff}button.danger{color:var(--bad);border-color:#f1b5b9}
input,select{font:inherit;padding:5px 8px;border:1px solid #cfd4dc;border-radius:6px;background:#fff}label{display:block;font-size:12px;color:var(--mute);margin-bottom:2px}
.row{display:flex;gap:12px;flex-wrap:wrap;align-items:flex-end}.row>div{min-width:120px}
.note{color:var(--mute);font-size:13px}.problem{background:#fdecec;border:1px solid #f1b5b9;color:#7a1219;border-radius:8px;padding:10px 12px;margin:10px 0}
.flash{background:#e7f6ee;border:1px solid #a6dcbc;color:#075e33;border-radius:8px;padding:10px 12px;margin-bottom:16px}
.tabs a{margin-right:8px}.tabs a.on{font-weight:700}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
svg.chart{width:100%;height:auto;background:#fff}svg.chart text{font:11px system-ui,sans-serif;fill:#667085}
.login{max-width:420px;margin:80px auto}.login input{width:100%}
"#;

/// A navigation section (highlighted in the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    /// Paid UA → Integrations.
    Integrations,
    /// Campaigns, line items, promoted tweets.
    Campaigns,
    /// Media library.
    Media,
    /// Reports.
    Reports,
    /// Experiments.
    Experiments,
}

/// A whole page: header with navigation and the logout form, then `body`.
pub fn page(title: &str, nav: Nav, tenant: &str, csrf: &str, body: &str) -> String {
    let link = |n: Nav, href: &str, label: &str| {
        format!(
            "<a href=\"{href}\"{}>{label}</a>",
            if n == nav { " class=\"on\"" } else { "" }
        )
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title} · Paid UA</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body>\
<header><span class=\"brand\">Paid UA</span><nav>{}{}{}{}{}</nav>\
<span class=\"who\"><span>{tenant}</span><form class=\"inline\" method=\"post\" action=\"/logout\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Log out</button></form></span></header>\
<main>{body}</main></body></html>",
        link(Nav::Integrations, "/integrations", "Integrations"),
        link(Nav::Campaigns, "/campaigns", "Campaigns"),
        link(Nav::Media, "/media", "Media"),
        link(Nav::Reports, "/reports", "Reports"),
        link(Nav::Experiments, "/experiments", "Experiments"),
        title = esc(title),
        tenant = esc(tenant),
        csrf = esc(csrf),
    )
}

/// A page for visitors who are not logged in.
pub fn bare_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{} · Paid UA</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body>{body}</body></html>",
        esc(title)
    )
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// A POST form that is just one button (pause, resume, sync…), with the CSRF field.
pub fn button_form(action: &str, csrf: &str, label: &str, class: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\">{}<button type=\"submit\" class=\"{}\">{}</button></form>",
        esc(action),
        csrf_field(csrf),
        esc(class),
        esc(label)
    )
}

/// Micros of a currency as a human amount (`12.50`), or `—`.
pub fn money(micros: Option<i64>) -> String {
    match micros {
        None => "—".into(),
        Some(m) => {
            let sign = if m < 0 { "-" } else { "" };
            let m = m.unsigned_abs();
            let whole = m / 1_000_000;
            let cents = (m % 1_000_000) / 10_000;
            format!("{sign}{}.{cents:02}", group(whole))
        }
    }
}

/// A whole number with thousands separators.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One series of a chart.
#[derive(Debug)]
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Stroke colour.
    pub color: &'a str,
    /// Put before each value on the axis and in tooltips (`$`), or empty.
    pub prefix: &'a str,
    /// One value per x label.
    pub values: Vec<f64>,
}

/// A line chart of up to two series over shared x labels, each series on its own scale (left
/// axis for the first, right axis for the second). Points are `<circle class="point">`.
pub fn line_chart(x_labels: &[String], series: &[Series<'_>]) -> String {
    let (w, h) = (900.0_f64, 300.0_f64);
    let (l, r, t, b) = (64.0, 64.0, 24.0, 44.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let n = x_labels.len();
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(&series
            .iter()
            .map(|s| s.label)
            .collect::<Vec<_>>()
            .join(" and "))
    );
    for i in 0..=4 {
        let y = t + ph * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{l}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eef0f3\"/>",
            l + pw
        );
    }
    if n == 0 {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">No data in this range yet</text></svg>",
            w / 2.0,
            h / 2.0
        );
        return svg;
    }
    let x_at = |i: usize| {
        if n == 1 {
            l + pw / 2.0
        } else {
            l + pw * i as f64 / (n - 1) as f64
        }
    };
    let step = n.div_ceil(10).max(1);
    for (i, label) in x_labels.iter().enumerate() {
        if i % step == 0 || i == n - 1 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x_at(i),
                h - b + 18.0,
                esc(label)
            );
        }
    }
    for (si, s) in series.iter().enumerate() {
        let max = s.values.iter().copied().fold(0.0_f64, f64::max);
        let max = if max <= 0.0 { 1.0 } else { max };
        let y_at = |v: f64| t + ph - ph * (v / max);
        let (ax, anchor) = if si == 0 {
            (l - 6.0, "end")
        } else {
            (l + pw + 6.0, "start")
        };
        for i in 0..=4 {
            let v = max * f64::from(4 - i) / 4.0;
            let _ = write!(
                svg,
                "<text x=\"{ax:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"{}\">{}</text>",
                t + ph * f64::from(i) / 4.0 + 4.0,
                esc(s.color),
                esc(&format!("{}{}", s.prefix, short(v)))
            );
        }
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_at(i), y_at(*v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            esc(s.color),
            points.join(" ")
        );
        for (i, v) in s.values.iter().enumerate() {
            let _ = write!(
                svg,
                "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{}: {}</title></circle>",
                x_at(i),
                y_at(*v),
                esc(s.color),
                esc(&x_labels[i]),
                esc(&format!("{} {}{}", s.label, s.prefix, short(*v)))
            );
        }
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"15\">{}</text>",
            l + 200.0 * si as f64,
            esc(s.color),
            l + 200.0 * si as f64 + 14.0,
            esc(s.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A compact number for axis labels (1.2k, 3.4M, 12.50).
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn money_and_grouping() {
        assert_eq!(money(Some(12_345_670_000)), "12,345.67");
        assert_eq!(money(Some(-5_000)), "-0.00");
        assert_eq!(money(None), "—");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(999), "999");
    }

    #[test]
    fn chart_has_one_point_per_value_and_escapes_labels() {
        let svg = line_chart(
            &["<d1>".into(), "d2".into(), "d3".into()],
            &[Series {
                label: "Spend",
                color: "#1d9bf0",
                prefix: "$",
                values: vec![1.0, 2.0, 0.5],
            }],
        );
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        assert!(svg.contains("&lt;d1&gt;") && !svg.contains("<d1>"));
        assert!(line_chart(&[], &[]).contains("No data"));
    }
}
