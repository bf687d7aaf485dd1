//! The status page: one server-rendered HTML document, no script, the
//! charts drawn as inline SVG. Every value that came from outside (account
//! names, error texts) is escaped, for HTML and for the reader: a control,
//! bidirectional or otherwise invisible character shows as `\uXXXX`.

use std::fmt::Write;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::audit::{AuditEvent, EventKind, Outcome};
use std::collections::BTreeMap;

use crate::health::{Overview, Part, Report};
use crate::metrics::history::Minute;
use crate::metrics::MappingInfo;

pub struct Page<'a> {
    pub overview: &'a Overview,
    /// Several sites are served (`sites:`): each is named.
    pub multi_site: bool,
    /// Each site's mapping, by id.
    pub mappings: BTreeMap<String, MappingInfo>,
    pub minutes: Vec<Minute>,
    pub events: Vec<Arc<AuditEvent>>,
    pub account: Option<&'a str>,
    pub token: Option<&'a str>,
}

/// Escapes text for HTML content and attribute values, with every
/// invisible character (a bidirectional override, a line separator, a
/// control) written visibly as `\uXXXX` (see `crate::untrusted`): a
/// client's value can neither reorder nor hide what the page shows.
fn esc(text: &str) -> String {
    let text = crate::untrusted::escape_invisible(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:72em}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
.ok{color:#0a6b2d}.bad{color:#b00020}.warn{color:#8a5a00}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:14em}
.card b{display:block}svg{background:#fafafa;border:1px solid #ddd}
code{font-size:.95em}form{margin:.6em 0}";

pub fn render(page: &Page<'_>) -> String {
    let mut html = String::with_capacity(16 * 1024);
    let now = DateTime::<Utc>::from(SystemTime::now()).format("%Y-%m-%d %H:%M:%S UTC");
    let overview = page.overview;
    let headline = if !page.multi_site {
        match overview.sites.values().next() {
            Some(report) if report.ready => "Ready: serving SCIM.".to_string(),
            Some(report) => format!("Not ready: {}.", report.not_ready.join(", ")),
            None => "Not ready: no site is served.".to_string(),
        }
    } else if overview.sites_not_ready.is_empty() {
        format!("Ready: all {} sites serve SCIM.", overview.sites_total)
    } else {
        format!(
            "{}: {} of {} sites serve SCIM; not ready: {}.",
            if overview.ready { "Ready" } else { "Not ready" },
            overview.sites_ready,
            overview.sites_total,
            esc(&overview.sites_not_ready.join(", "))
        )
    };
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>drupal-scim-bridge status</title><style>{STYLE}</style></head><body><h1>drupal-scim-bridge {} — status</h1><p>Generated {now}. <span class=\"{}\" id=\"readiness\">{headline}</span></p>",
        env!("CARGO_PKG_VERSION"),
        if overview.ready { "ok" } else { "bad" },
    );
    // The sites that are not ready first: they are what the reader looks for.
    let mut sites: Vec<(&String, &Report)> = overview.sites.iter().collect();
    sites.sort_by_key(|(id, report)| (report.ready, *id));
    let empty = MappingInfo::default();
    for (id, report) in sites {
        if page.multi_site {
            let _ = write!(
                html,
                "<h2 id=\"site-{id}\">Site <code>{id}</code> <span class=\"{}\">{}</span></h2>",
                if report.ready { "ok" } else { "bad" },
                if report.ready { "ready" } else { "not ready" },
                id = esc(id),
            );
        }
        site_cards(&mut html, report, page.mappings.get(id).unwrap_or(&empty));
    }
    let total: u64 = page.minutes.iter().map(|m| m.requests).sum();
    let errors: u64 = page.minutes.iter().map(|m| m.errors).sum();
    let rejected: u64 = page.minutes.iter().map(|m| m.rejected).sum();
    let _ = write!(
        html,
        "<h2>SCIM requests, last hour (per minute)</h2><p>{total} requests, {rejected} rejected (4xx), {errors} failed (5xx).</p>"
    );
    requests_chart(&mut html, &page.minutes);
    html.push_str("<h2>Drupal latency, last hour (mean per minute, ms)</h2>");
    latency_chart(&mut html, &page.minutes);

    let _ = write!(
        html,
        "<h2>Last changes made in Drupal</h2><form method=\"get\" action=\"/status\"><label>Account (name or id): <input name=\"account\" value=\"{}\"></label>{}<button type=\"submit\">Filter</button> <a href=\"/status{}\">all</a></form>",
        esc(page.account.unwrap_or("")),
        page.token
            .map(|t| format!("<input type=\"hidden\" name=\"token\" value=\"{}\">", esc(t)))
            .unwrap_or_default(),
        page.token
            .map(|t| format!("?token={}", esc(&percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string())))
            .unwrap_or_default(),
    );
    if page.events.is_empty() {
        html.push_str("<p id=\"no-events\">No change recorded since the bridge started.</p>");
    } else {
        html.push_str(if page.multi_site {
            "<table id=\"events\"><tr><th>Time</th><th>Site</th><th>Client</th><th>Operation</th><th>Change</th><th>Account</th><th>Fields</th><th>Active</th><th>Roles</th><th>Outcome</th></tr>"
        } else {
            "<table id=\"events\"><tr><th>Time</th><th>Client</th><th>Operation</th><th>Change</th><th>Account</th><th>Fields</th><th>Active</th><th>Roles</th><th>Outcome</th></tr>"
        });
        for event in &page.events {
            event_row(&mut html, event, page.multi_site);
        }
        html.push_str("</table>");
    }
    html.push_str("<p>Metrics for Prometheus: <a href=\"/metrics\">/metrics</a>. Readiness: <a href=\"/readyz\">/readyz</a>.</p></body></html>");
    html
}

/// One site's Drupal, breaker and mapping.
fn site_cards(html: &mut String, report: &Report, mapping: &MappingInfo) {
    html.push_str("<div class=\"cards\">");
    card(html, "Drupal and the bridge's login", &report.drupal);
    card(html, "Circuit breaker", &report.circuit_breaker);
    let loaded = mapping
        .loaded_at
        .map(|t| {
            DateTime::<Utc>::from(t)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|| "never".into());
    let _ = write!(
        html,
        "<div class=\"card\"><b>Mapping</b><code>{}</code><br>loaded {loaded}{}</div>",
        esc(&mapping.file),
        mapping
            .last_error
            .as_deref()
            .map(|e| format!(
                "<br><span class=\"warn\">changed file refused: {}</span>",
                esc(e)
            ))
            .unwrap_or_default()
    );
    html.push_str("</div>");
}

fn card(html: &mut String, title: &str, part: &Part) {
    let _ = write!(
        html,
        "<div class=\"card\"><b>{title}</b><span class=\"{}\">{}</span><br>{}</div>",
        if part.ready { "ok" } else { "bad" },
        if part.ready { "OK" } else { "NOT READY" },
        esc(&part.detail)
    );
}

fn event_row(html: &mut String, event: &AuditEvent, multi_site: bool) {
    let mut outcome = match event.outcome {
        Outcome::Ok => "<span class=\"ok\">ok</span>".to_string(),
        Outcome::DryRun => {
            "<span class=\"warn\">dry run</span> (logged, not sent: Drupal holds nothing of it)"
                .to_string()
        }
        Outcome::Failed => format!(
            "<span class=\"bad\">failed</span> {}",
            esc(event.detail.as_deref().unwrap_or(""))
        ),
        Outcome::Unknown => format!(
            "<span class=\"warn\">unknown</span> (Drupal may have made it) {}",
            esc(event.detail.as_deref().unwrap_or(""))
        ),
        Outcome::Refused => format!(
            "<span class=\"warn\">refused</span> {}",
            esc(event.detail.as_deref().unwrap_or(""))
        ),
    };
    if event.dry_run && event.outcome != Outcome::DryRun {
        outcome.push_str(" <span class=\"warn\">(dry run)</span>");
    }
    let active = event
        .active
        .as_ref()
        .map(|a| {
            let before = match event.event {
                EventKind::UserCreated => "new",
                _ => show_bool(a.before),
            };
            format!("{before} → {}", show_bool(a.after))
        })
        .unwrap_or_default();
    let roles = event
        .roles
        .as_ref()
        .map(|r| format!("{} → {}", role_list(&r.before), role_list(&r.after)))
        .or_else(|| event.group.clone())
        .unwrap_or_default();
    let _ = write!(
        html,
        "<tr><td title=\"{}\">{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{outcome}</td></tr>",
        esc(&event.time),
        event
            .timestamp()
            .map(|t| t.format("%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| esc(&event.time)),
        if multi_site {
            format!("<td>{}</td>", esc(event.site.as_deref().unwrap_or("")))
        } else {
            String::new()
        },
        esc(event.client.as_deref().unwrap_or("")),
        esc(event.operation.unwrap_or("")),
        event.event.as_str(),
        esc(&event.account_id),
        esc(event.account_name.as_deref().unwrap_or(&event.account_id)),
        esc(&event.fields.join(", ")),
        esc(&active),
        esc(&roles),
    );
}

fn role_list(roles: &[String]) -> String {
    if roles.is_empty() {
        "(none)".into()
    } else {
        roles.join(", ")
    }
}

fn show_bool(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "active",
        Some(false) => "blocked",
        None => "?",
    }
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 140.0;

/// Bars of requests per minute, failures in red on top of them.
fn requests_chart(html: &mut String, minutes: &[Minute]) {
    let peak = minutes.iter().map(|m| m.requests).max().unwrap_or(0).max(1) as f64;
    let slot = WIDTH / minutes.len().max(1) as f64;
    let _ = write!(
        html,
        "<svg id=\"requests-chart\" width=\"{WIDTH}\" height=\"{}\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"SCIM requests per minute\">",
        HEIGHT + 20.0,
        HEIGHT + 20.0
    );
    for (i, m) in minutes.iter().enumerate() {
        let x = i as f64 * slot;
        let h = m.requests as f64 / peak * HEIGHT;
        let bad = (m.errors + m.rejected) as f64 / peak * HEIGHT;
        let _ = write!(
            html,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a78b5\"><title>{} requests, {} rejected, {} failed</title></rect>",
            HEIGHT - h,
            (slot - 1.0).max(1.0),
            m.requests,
            m.rejected,
            m.errors
        );
        if bad > 0.0 {
            let _ = write!(
                html,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bad:.1}\" fill=\"#c0392b\"/>",
                HEIGHT - bad,
                (slot - 1.0).max(1.0)
            );
        }
    }
    axis(html, &format!("peak {peak:.0}/min"));
}

/// A line of the mean Drupal latency per minute (gaps where Drupal was not
/// called).
fn latency_chart(html: &mut String, minutes: &[Minute]) {
    let peak = minutes
        .iter()
        .filter_map(Minute::drupal_mean_ms)
        .fold(1.0_f64, f64::max);
    let slot = WIDTH / minutes.len().max(1) as f64;
    let _ = write!(
        html,
        "<svg id=\"latency-chart\" width=\"{WIDTH}\" height=\"{}\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"Drupal latency per minute\">",
        HEIGHT + 20.0,
        HEIGHT + 20.0
    );
    let points: Vec<String> = minutes
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.drupal_mean_ms().map(|ms| {
                format!(
                    "{:.1},{:.1}",
                    i as f64 * slot + slot / 2.0,
                    HEIGHT - ms / peak * HEIGHT
                )
            })
        })
        .collect();
    if !points.is_empty() {
        let _ = write!(
            html,
            "<polyline fill=\"none\" stroke=\"#2d8a4e\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for p in &points {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                html,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"#2d8a4e\"/>"
            );
        }
    }
    axis(html, &format!("peak {peak:.1} ms"));
}

fn axis(html: &mut String, peak: &str) {
    let _ = write!(
        html,
        "<line x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\" stroke=\"#888\"/><text x=\"4\" y=\"{}\" font-size=\"11\" fill=\"#555\">60 min ago</text><text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#555\">now</text><text x=\"4\" y=\"12\" font-size=\"11\" fill=\"#555\">{}</text></svg>",
        HEIGHT + 15.0,
        WIDTH - 30.0,
        HEIGHT + 15.0,
        esc(peak)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_and_errors_are_escaped() {
        let part = Part {
            ready: true,
            detail: "ok".into(),
        };
        let report = Report {
            ready: true,
            mapping: part.clone(),
            drupal: part.clone(),
            circuit_breaker: part,
            not_ready: vec![],
        };
        let overview = Overview {
            ready: true,
            sites_ready: 1,
            sites_total: 1,
            sites_not_ready: vec![],
            sites: BTreeMap::from([("<site>".to_string(), report)]),
        };
        let event = AuditEvent::new(EventKind::UserCreated, "u-1", Some("<script>x</script>"))
            .failed("a \"quoted\" <b>error</b>");
        let html = render(&Page {
            overview: &overview,
            multi_site: true,
            mappings: BTreeMap::new(),
            minutes: vec![Minute::default(); 60],
            events: vec![Arc::new(event)],
            account: Some("<a>"),
            token: None,
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("value=\"&lt;a&gt;\""));
        assert!(!html.contains("<site>") && html.contains("&lt;site&gt;"));
    }
}
