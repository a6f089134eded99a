//! HTML building blocks: the page layout, the stylesheet, forms and hand-written SVG charts.
//!
//! Markup is written with maud's `html!`: the templates are Rust, checked by the compiler, and
//! every value spliced into them (`(expr)`, text and attribute values alike) is escaped by
//! construction. Nothing in the UI wraps an outside value in `PreEscaped`; a test keeps it so.

use maud::{DOCTYPE, Markup, html};

/// Percent-encodes a value for a URL query component or path segment.
pub fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The stylesheet, served at `/assets/app.css` (no CDN, no external fonts).
pub const CSS: &str = r#"
:root{--bg:#f5f6f8;--card:#fff;--ink:#1d2330;--mute:#5b6476;--line:#e3e6eb;--acc:#0b6fb8;--ok:#0b7a41;--warn:#b54708;--bad:#c01c28;--focus:#0b6fb8}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
a{color:#0a5ea8}a:hover{color:#08457a}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px;border-radius:3px}
header :focus-visible{outline-color:#fff}
.skip{position:absolute;left:8px;top:-60px;background:#fff;color:var(--ink);padding:8px 12px;border-radius:6px;z-index:10;font-weight:600}.skip:focus{top:8px}
header{background:#0f1419;color:#fff;display:flex;flex-wrap:wrap;align-items:center;gap:6px 20px;padding:10px 24px}
header .brand{font-weight:700;letter-spacing:.2px}header nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:2px 4px}
header nav a{color:#cfd9de;text-decoration:none;display:inline-block;padding:6px 8px;min-height:32px}header nav a:hover{color:#fff}
header nav a[aria-current=page]{color:#fff;box-shadow:inset 0 -2px 0 #4db5f7}header .who{margin-left:auto;display:flex;gap:10px;align-items:center;color:#cfd9de}
main{max-width:1320px;margin:24px auto;padding:0 24px}main:focus{outline:none}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}
.crumb{color:var(--mute);margin-bottom:16px;overflow-wrap:anywhere}.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin-bottom:18px;min-width:0}
.tile{max-width:640px}.tile .top{display:flex;align-items:center;gap:12px}.logo{width:40px;height:40px;border-radius:8px;background:#000;color:#fff;display:grid;place-items:center;font-weight:700;font-size:20px}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;border:1px solid transparent;white-space:nowrap}
.b-ok{background:#e7f6ee;color:var(--ok)}.b-off{background:#eef0f3;color:var(--mute)}.b-warn{background:#fff4e5;color:var(--warn)}.b-bad{background:#fdecec;color:var(--bad)}.b-dry{background:#fff4e5;color:var(--warn);border-color:#f5c58a}.b-live{background:#e8f4fd;color:#0b6fb8;border-color:#9ccff5}
.scroll{overflow-x:auto;max-width:100%}.scroll:focus-visible{outline-offset:0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:middle}th{color:var(--mute);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.3px}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th a{color:inherit}th a[aria-sort]{color:var(--ink)}
form.inline{display:inline}button,.btn{font:inherit;border:1px solid #8b94a3;background:#fff;border-radius:7px;padding:5px 12px;min-height:32px;cursor:pointer;color:var(--ink);text-decoration:none;display:inline-block}
button.primary,.btn.primary{background:var(--acc);border-color:var(--acc);color:#fff}button.danger{color:var(--bad);border-color:#d9626b}
input,select{font:inherit;padding:5px 8px;border:1px solid #8b94a3;border-radius:6px;background:#fff;max-width:100%;min-height:32px}label{display:block;font-size:12px;color:var(--mute);margin-bottom:2px}
label.check{display:flex;gap:6px;align-items:center;font-size:14px;color:var(--ink)}
[aria-invalid=true]{border-color:var(--bad);box-shadow:0 0 0 1px var(--bad)}.field-error{color:var(--bad);font-size:12px;margin:3px 0 0;max-width:32ch}
.row{display:flex;gap:12px;flex-wrap:wrap;align-items:flex-end}.row>div{min-width:120px;max-width:100%}
.note{color:var(--mute);font-size:13px}.problem{background:#fdecec;border:1px solid #f1b5b9;color:#7a1219;border-radius:8px;padding:10px 12px;margin:10px 0}
.flash{background:#e7f6ee;border:1px solid #a6dcbc;color:#075e33;border-radius:8px;padding:10px 12px;margin-bottom:16px}
.warning{background:#fff4e5;border:1px solid #f5c58a;color:#6b2a04;border-radius:8px;padding:10px 12px;margin:10px 0}
td.mono{white-space:nowrap;overflow-wrap:normal}
.tabs a{margin-right:8px;display:inline-block;padding:4px 0}.tabs a.on{font-weight:700}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}
svg.chart{width:100%;min-width:560px;height:auto;background:#fff;display:block}svg.chart text{font:13px system-ui,sans-serif;fill:#5b6476}
.login{max-width:420px;margin:80px auto}.login input{width:100%}
form:has(select[name=mode] option[value=concurrent]:checked) .rotation-only{display:none}
svg.chart.share{min-width:0;height:36px}
.charts>div{min-width:0;margin-bottom:8px}.charts h3{font-size:14px;margin:4px 0}
.pager{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-top:10px}
.thumb{width:48px;height:48px;object-fit:cover;border-radius:6px;background:#eef0f3;vertical-align:middle}
.tweet{max-width:46ch}.actions{white-space:nowrap}
@media (max-width:700px){header{padding:8px 12px}header nav{order:3;flex-basis:100%}header .who{gap:6px}main{margin:14px auto;padding:0 10px}.card{padding:12px}.login{margin:24px auto}.row>div{min-width:0;flex:1 1 140px}.row>div input:not([type=checkbox]),.row>div select{width:100%}.actions{white-space:normal}}
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

impl Nav {
    const ALL: [(Nav, &'static str, &'static str); 5] = [
        (Nav::Integrations, "/integrations", "Integrations"),
        (Nav::Campaigns, "/campaigns", "Campaigns"),
        (Nav::Media, "/media", "Media"),
        (Nav::Reports, "/reports", "Reports"),
        (Nav::Experiments, "/experiments", "Experiments"),
    ];
}

/// The document around `content`: head with the title and the stylesheet (and a meta refresh
/// every `refresh` seconds when set).
fn document(title: &str, refresh: Option<u32>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                @if let Some(secs) = refresh {
                    meta http-equiv="refresh" content=(secs);
                }
                title { (title) " · Paid UA" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body { (content) }
        }
    }
}

/// A whole page: a skip link, the header with navigation and the logout form, then `body`.
/// The navigation wraps under the brand on narrow screens (no script, every link reachable).
pub fn page(title: &str, nav: Nav, tenant: &str, csrf: &str, body: Markup) -> Markup {
    page_with(title, nav, tenant, csrf, None, body)
}

/// [`page`], reloading itself every `refresh` seconds when set (a status that is still running).
pub fn page_with(
    title: &str,
    nav: Nav,
    tenant: &str,
    csrf: &str,
    refresh: Option<u32>,
    body: Markup,
) -> Markup {
    document(
        title,
        refresh,
        html! {
            a class="skip" href="#main" { "Skip to content" }
            header {
                span class="brand" { "Paid UA" }
                nav aria-label="Main" {
                    ul {
                        @for (n, href, label) in Nav::ALL {
                            li {
                                a href=(href) aria-current=[(n == nav).then_some("page")] { (label) }
                            }
                        }
                    }
                }
                span class="who" {
                    span { (tenant) }
                    form class="inline" method="post" action="/logout" {
                        (csrf_field(csrf))
                        button type="submit" { "Log out" }
                    }
                }
            }
            main id="main" tabindex="-1" { (body) }
        },
    )
}

/// A page for visitors who are not logged in.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    document(title, None, body)
}

/// A page with one message box and a link back to Integrations (form expired, failures).
pub fn notice_page(title: &str, heading: &str, text: &str) -> Markup {
    bare_page(
        title,
        html! {
            main class="login card" {
                h1 { (heading) }
                p { (text) }
                p { a href="/integrations" { "Integrations" } }
            }
        },
    )
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A POST form that is just one button (pause, resume, sync…), with the CSRF field.
pub fn button_form(action: &str, csrf: &str, label: &str, class: &str) -> Markup {
    html! {
        form class="inline" method="post" action=(action) {
            (csrf_field(csrf))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// A table in a region that scrolls sideways inside its card on a narrow screen (focusable, so
/// a keyboard can scroll it; named by `label`).
pub fn scroll(label: &str, table: Markup) -> Markup {
    html! {
        div class="scroll" role="region" aria-label=(label) tabindex="0" { (table) }
    }
}

/// A thumbnail of media X serves at `url`, read through our origin (`/media/preview`), or
/// nothing. Decorative (`alt=""`): the row beside it names the item.
pub fn thumb(url: Option<&str>) -> Markup {
    html! {
        @if let Some(u) = url.filter(|u| !u.is_empty()) {
            img class="thumb" src={ "/media/preview?src=" (q(u)) } alt="" loading="lazy"
                width="48" height="48";
        }
    }
}

/// A success flash (`Ok`) or a problem (`Err`), or nothing.
pub fn flash(msg: &Option<Result<String, String>>) -> Markup {
    html! {
        @match msg {
            Some(Ok(m)) => { div class="flash" role="status" { (m) } }
            Some(Err(m)) => { div class="problem" role="alert" { (m) } }
            None => {}
        }
    }
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

/// An instant in `tz`, readable: `6 Dec 2026, 18:58 JST`.
pub fn local_instant(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .format("%-d %b %Y, %H:%M %Z")
        .to_string()
}

/// An RFC 3339 instant as [`local_instant`] shows it (the text itself when it is not one).
pub fn local_rfc3339(t: &str, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| local_instant(t.to_utc(), tz))
        .unwrap_or_else(|_| t.to_owned())
}

/// A count with its noun, singular for one: `counted(1, "campaigns")` is `1 campaign`,
/// `counted(2, "campaigns")` `2 campaigns` (no "campaign(s)"). `plural` is a plural ending in
/// `s`, optionally followed by a " to …" or " of …" phrase (`calls to X` → `1 call to X`).
pub fn counted(n: impl Into<i128>, plural: &str) -> String {
    let n = n.into();
    if n != 1 {
        return format!("{n} {plural}");
    }
    // "calls to X" → "call to X", "line items" → "line item": the last word before any " to "
    // or " of " phrase.
    let (head, tail) = match plural.find(" to ").or_else(|| plural.find(" of ")) {
        Some(at) => plural.split_at(at),
        None => (plural, ""),
    };
    format!("1 {}{tail}", head.strip_suffix('s').unwrap_or(head))
}

/// A lag in words: `3 min`, `2 h 5 min`, `3 days`.
pub fn lag(seconds: i64) -> String {
    let m = seconds.max(0) / 60;
    match m {
        0..60 => format!("{m} min"),
        60..2880 => format!("{} h {} min", m / 60, m % 60),
        _ => format!("{} days", m / 1440),
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
pub fn line_chart(x_labels: &[String], series: &[Series<'_>]) -> Markup {
    let (w, h) = (900.0_f64, 300.0_f64);
    let (l, r, t, b) = (64.0, 64.0, 24.0, 44.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let n = x_labels.len();
    let f1 = |v: f64| format!("{v:.1}");
    let x_at = |i: usize| {
        if n == 1 {
            l + pw / 2.0
        } else {
            l + pw * i as f64 / (n - 1) as f64
        }
    };
    let step = label_step(x_labels, pw, 10);
    // Grid lines at the first series' ticks.
    let grid = nice_ticks(
        series
            .first()
            .map_or(0.0, |s| s.values.iter().copied().fold(0.0_f64, f64::max)),
        4,
    );
    let grid_top = grid.last().copied().unwrap_or(1.0);
    let label = series
        .iter()
        .map(|s| s.label)
        .collect::<Vec<_>>()
        .join(" and ");
    html! {
        svg class="chart" viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            @for tick in &grid {
                @let y = f1(t + ph - ph * (tick / grid_top));
                line x1=(l) y1=(y) x2=(f1(l + pw)) y2=(y) stroke="#eef0f3" {}
            }
            @if n == 0 {
                text x=(f1(w / 2.0)) y=(f1(h / 2.0)) text-anchor="middle" {
                    "No data in this range yet"
                }
            } @else {
                @for (i, x_label) in x_labels.iter().enumerate() {
                    @if labelled(i, n, step) {
                        text x=(f1(x_at(i))) y=(f1(h - b + 18.0)) text-anchor="middle" { (x_label) }
                    }
                }
                @for (si, s) in series.iter().enumerate() {
                    // The axis runs to the first "nice" tick at or above the largest value.
                    @let ticks = nice_ticks(s.values.iter().copied().fold(0.0_f64, f64::max), 4);
                    @let top = ticks.last().copied().unwrap_or(1.0);
                    @let y_at = |v: f64| t + ph - ph * (v / top);
                    @let (ax, anchor) = if si == 0 {
                        (l - 6.0, "end")
                    } else {
                        (l + pw + 6.0, "start")
                    };
                    @for tick in &ticks {
                        text class="tick" x=(f1(ax)) y=(f1(y_at(*tick) + 4.0))
                            text-anchor=(anchor) fill=(s.color) {
                            (s.prefix) (short(*tick))
                        }
                    }
                    @let points = s
                        .values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| format!("{:.1},{:.1}", x_at(i), y_at(*v)))
                        .collect::<Vec<_>>()
                        .join(" ");
                    polyline fill="none" stroke=(s.color) stroke-width="2" points=(points) {}
                    @for (i, v) in s.values.iter().enumerate() {
                        circle class="point" cx=(f1(x_at(i))) cy=(f1(y_at(*v))) r="3" fill=(s.color) {
                            title { (x_labels[i]) ": " (s.label) " " (s.prefix) (short(*v)) }
                        }
                    }
                    @let lx = l + 200.0 * si as f64;
                    rect x=(f1(lx)) y="6" width="10" height="10" fill=(s.color) {}
                    text x=(f1(lx + 14.0)) y="15" { (s.label) }
                }
            }
        }
    }
}

/// Colours of a chart's series, each at least 3:1 against white (WCAG 2.2 non-text contrast).
pub const PALETTE: [&str; 5] = ["#0b6fb8", "#b54708", "#0b7a41", "#7856ff", "#c01c28"];

/// A line chart of several series on one shared scale (the variants of an experiment), with a
/// legend; `unit` formats a value (`12.3%`, `$1.20`). Points are `<circle class="point">`,
/// each with a tooltip; `None` values leave a gap in the line.
pub fn shared_chart(
    x_labels: &[String],
    series: &[(String, Vec<Option<f64>>)],
    unit: impl Fn(f64) -> String,
    label: &str,
) -> Markup {
    let (w, h) = (900.0_f64, 300.0_f64);
    let (l, r, t, b) = (72.0, 24.0, 40.0, 44.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let n = x_labels.len();
    let f1 = |v: f64| format!("{v:.1}");
    let x_at = |i: usize| {
        if n <= 1 {
            l + pw / 2.0
        } else {
            l + pw * i as f64 / (n - 1) as f64
        }
    };
    let ticks = nice_ticks(
        series
            .iter()
            .flat_map(|s| s.1.iter().flatten().copied())
            .fold(0.0_f64, f64::max),
        4,
    );
    let top = ticks.last().copied().unwrap_or(1.0);
    let y_at = |v: f64| t + ph - ph * (v / top);
    let step = label_step(x_labels, pw, 8);
    html! {
        svg class="chart" viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            @for tick in &ticks {
                @let y = y_at(*tick);
                line x1=(l) y1=(f1(y)) x2=(f1(l + pw)) y2=(f1(y)) stroke="#eef0f3" {}
                text class="tick" x=(f1(l - 6.0)) y=(f1(y + 4.0)) text-anchor="end" {
                    (unit(*tick))
                }
            }
            @if n == 0 || series.iter().all(|s| s.1.iter().all(Option::is_none)) {
                text x=(f1(w / 2.0)) y=(f1(h / 2.0)) text-anchor="middle" {
                    "No data yet: the chart fills in as the sync brings each day's figures."
                }
            } @else {
                @for (i, x_label) in x_labels.iter().enumerate() {
                    @if labelled(i, n, step) {
                        text x=(f1(x_at(i))) y=(f1(h - b + 18.0)) text-anchor="middle" { (x_label) }
                    }
                }
                @for (si, (name, values)) in series.iter().enumerate() {
                    @let color = PALETTE[si % PALETTE.len()];
                    @let points = values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x_at(i), y_at(v))))
                        .collect::<Vec<_>>()
                        .join(" ");
                    polyline fill="none" stroke=(color) stroke-width="2" points=(points) {}
                    @for (i, v) in values.iter().enumerate() {
                        @if let Some(v) = v {
                            circle class="point" cx=(f1(x_at(i))) cy=(f1(y_at(*v))) r="3" fill=(color) {
                                title { (x_labels[i]) ": " (name) " " (unit(*v)) }
                            }
                        }
                    }
                    @let lx = l + 180.0 * si as f64;
                    rect x=(f1(lx)) y="10" width="10" height="10" fill=(color) {}
                    text x=(f1(lx + 14.0)) y="19" { (name) }
                }
            }
        }
    }
}

/// Every how many points an x label is written so that labels of this length never overlap
/// across `width` (13 px text: about 7.5 px a character, 12 px apart), and at most `most`.
fn label_step(labels: &[String], width: f64, most: usize) -> usize {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64;
    let fit = (width / (longest * 7.5 + 12.0)).floor().max(1.0) as usize;
    labels.len().div_ceil(fit.min(most).max(1)).max(1)
}

/// Whether point `i` of `n` gets an x label: every `step`-th one, and the last one when it is
/// at least half a step from the one before (so it never overlaps it).
fn labelled(i: usize, n: usize, step: usize) -> bool {
    i.is_multiple_of(step) || (i + 1 == n && (i % step) * 2 >= step)
}

/// Axis ticks from 0 to the first "nice" value at or above `max`: a step of 1, 2, 2.5 or 5
/// times a power of ten, about `target` steps (`873` → 0, 250, …, 1 000). A chart of nothing
/// gets 0 and 1.
pub fn nice_ticks(max: f64, target: usize) -> Vec<f64> {
    if !max.is_finite() || max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / target.max(1) as f64;
    let magnitude = 10_f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let steps = (max / step - 1e-9).ceil().max(1.0) as usize;
    // Each tick from its index (not by adding steps), rounded to the step's precision, so 0.3
    // is 0.3 and not 0.30000000000000004.
    let digits = (-step.log10().floor()).max(0.0) as i32 + 1;
    let round = |v: f64| {
        let k = 10_f64.powi(digits);
        (v * k).round() / k
    };
    (0..=steps).map(|i| round(i as f64 * step)).collect()
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
    #[test]
    fn counts_are_singular_for_one() {
        use super::counted;
        assert_eq!(counted(1u64, "campaigns"), "1 campaign");
        assert_eq!(counted(0u64, "campaigns"), "0 campaigns");
        assert_eq!(counted(2u64, "line items"), "2 line items");
        assert_eq!(counted(1u64, "promoted tweets"), "1 promoted tweet");
        assert_eq!(counted(1i64, "calls to X"), "1 call to X");
        assert_eq!(counted(3i64, "calls to X"), "3 calls to X");
    }

    use super::*;

    #[test]
    fn the_layout_escapes_the_title_tenant_and_flash() {
        let page = page(
            "<t>",
            Nav::Media,
            "Team \"<b>\"",
            "tok\"en",
            flash(&Some(Err("<script>alert(1)</script>".into()))),
        )
        .into_string();
        assert!(
            page.contains("<title>&lt;t&gt; · Paid UA</title>"),
            "{page}"
        );
        assert!(
            page.contains("<span>Team &quot;&lt;b&gt;&quot;</span>"),
            "{page}"
        );
        assert!(page.contains("value=\"tok&quot;en\""), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>") && !page.contains("<b>"));
        assert!(
            page.contains("<a href=\"/media\" aria-current=\"page\">Media</a>"),
            "{page}"
        );
    }

    #[test]
    fn instants_read_in_the_accounts_zone() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-30T15:00:00Z")
            .unwrap()
            .to_utc();
        // Tokyo's 1 December starts at 15:00 UTC on 30 November.
        assert_eq!(
            local_instant(t, chrono_tz::Tz::Asia__Tokyo),
            "1 Dec 2026, 00:00 JST"
        );
        assert_eq!(
            local_rfc3339("2026-11-30T15:00:00Z", chrono_tz::Tz::Asia__Kuwait),
            "30 Nov 2026, 18:00 +03"
        );
        assert_eq!(
            (lag(59), lag(3_900), lag(3 * 86_400)),
            ("0 min".into(), "1 h 5 min".into(), "3 days".into())
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
    fn x_labels_never_overlap() {
        // 66 hours labelled "12-04 07:00" on the chart's 772 px: at most 8 labels.
        let hours: Vec<String> = (0..66)
            .map(|i| format!("12-0{} {:02}:00", 4 + i / 24, i % 24))
            .collect();
        let step = label_step(&hours, 772.0, 10);
        let shown: Vec<usize> = (0..66).filter(|i| labelled(*i, 66, step)).collect();
        assert!(shown.len() <= 8, "{shown:?}");
        // Labels are at least a label's width apart, the last one too.
        let px = 772.0 / 65.0;
        assert!(
            shown
                .windows(2)
                .all(|w| (w[1] - w[0]) as f64 * px >= 11.0 * 7.5),
            "{shown:?}"
        );
        // Short day labels: up to 10, and the last day is labelled when there is room.
        let days: Vec<String> = (1..=14).map(|d| format!("12-{d:02}")).collect();
        let step = label_step(&days, 772.0, 10);
        assert!((0..14).any(|i| i == 13 && labelled(i, 14, step)));
    }

    #[test]
    fn axes_tick_at_nice_values_up_to_the_largest_one() {
        assert_eq!(nice_ticks(873.0, 4), [0.0, 250.0, 500.0, 750.0, 1000.0]);
        assert_eq!(nice_ticks(700.0, 4), [0.0, 200.0, 400.0, 600.0, 800.0]);
        assert_eq!(nice_ticks(0.37, 4), [0.0, 0.1, 0.2, 0.3, 0.4]);
        assert_eq!(nice_ticks(12_345.0, 4), [0.0, 5_000.0, 10_000.0, 15_000.0]);
        assert_eq!(nice_ticks(1_000.0, 4), [0.0, 250.0, 500.0, 750.0, 1_000.0]);
        assert_eq!(nice_ticks(0.0, 4), [0.0, 1.0]);
        // The chart's labels are those ticks, not fractions of the largest value.
        let svg = line_chart(
            &["d1".into(), "d2".into()],
            &[Series {
                label: "Spend",
                color: "#0b6fb8",
                prefix: "$",
                values: vec![873.0, 12.0],
            }],
        )
        .into_string();
        for label in ["$0<", "$250<", "$750<", "$1000<"] {
            assert!(svg.contains(label), "{label} in {svg}");
        }
        // (873 is still in its point's tooltip, not on the axis.)
        assert!(!svg.contains(">$873</text>"), "{svg}");
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
        )
        .into_string();
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        assert!(svg.contains("&lt;d1&gt;") && !svg.contains("<d1>"));
        assert!(line_chart(&[], &[]).into_string().contains("No data"));
    }
}
