//! The self-contained HTML report: a summary by risk level, one table per risk level and an
//! inline-SVG bar chart of permissions per identity. No script, no external resource (CSS and
//! SVG are inline); every text from the directory is HTML-escaped (display names are untrusted).

use std::collections::HashMap;
use std::fmt::Write;

use super::risk::RiskLevel;
use super::row::{Drift, ReportRow};
use super::totals::ReportTotals;

/// Identities shown in the bar chart (the ones holding the most permissions).
const CHART_IDENTITIES: usize = 30;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
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

fn color(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Critical => "#b00020",
        RiskLevel::High => "#e0661b",
        RiskLevel::Medium => "#c9a400",
        RiskLevel::Low => "#3f7f3f",
    }
}

const STYLE: &str = "body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}\
.badge{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}\
.muted{color:#666;font-size:12px}";

fn identity_label(row: &ReportRow) -> String {
    row.principal
        .identity_name
        .clone()
        .or_else(|| row.principal.identity_id.map(|i| i.to_string()))
        .unwrap_or_default()
}

/// Renders the report.
pub fn render(rows: &[ReportRow], totals: &ReportTotals, title: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(title)
    );
    let _ = writeln!(
        h,
        "<p class=\"muted\">{} service principals read; {} hold {} application permissions.</p>",
        totals.principals, totals.identities_with_permissions, totals.assignments
    );
    summary(&mut h, totals);
    chart(&mut h, rows);
    for level in RiskLevel::ALL {
        level_table(&mut h, rows, level);
    }
    h.push_str("</body></html>\n");
    h
}

fn summary(h: &mut String, totals: &ReportTotals) {
    h.push_str("<h2 id=\"summary\">Summary by risk level</h2>\n<table><tr><th>Risk level</th><th>Permissions</th><th>Identities</th></tr>\n");
    for l in &totals.by_risk {
        let _ = writeln!(
            h,
            "<tr><td><span class=\"badge\" style=\"background:{}\"></span>{}</td><td>{}</td><td>{}</td></tr>",
            color(l.risk_level),
            l.risk_level.name(),
            l.assignments,
            l.identities
        );
    }
    h.push_str("</table>\n");
    if !totals.by_drift.is_empty() {
        h.push_str(
            "<h2>Drift from the baseline</h2>\n<table><tr><th>Drift</th><th>Rows</th></tr>\n",
        );
        for (d, n) in &totals.by_drift {
            let _ = writeln!(h, "<tr><td>{d}</td><td>{n}</td></tr>");
        }
        h.push_str("</table>\n");
    }
}

/// Horizontal bars: permissions per identity, split by risk level.
fn chart(h: &mut String, rows: &[ReportRow]) {
    let mut per: HashMap<String, (String, [usize; 4])> = HashMap::new();
    for r in rows
        .iter()
        .filter(|r| r.error.is_none() && r.drift != Some(Drift::Removed))
    {
        let key = r
            .principal
            .identity_id
            .map(|i| i.to_string())
            .unwrap_or_else(|| identity_label(r));
        let e = per
            .entry(key)
            .or_insert_with(|| (identity_label(r), [0; 4]));
        e.1[r.risk_level as usize] += 1;
    }
    let mut bars: Vec<(String, [usize; 4])> = per.into_values().collect();
    bars.sort_by(|a, b| {
        let (sa, sb) = (a.1.iter().sum::<usize>(), b.1.iter().sum::<usize>());
        sb.cmp(&sa).then_with(|| a.0.cmp(&b.0))
    });
    let shown = bars.len().min(CHART_IDENTITIES);
    let _ = writeln!(
        h,
        "<h2>Permissions per identity</h2>\n<p class=\"muted\">The {shown} identities holding the most permissions (of {}).</p>",
        bars.len()
    );
    if shown == 0 {
        return;
    }
    let max = bars[0].1.iter().sum::<usize>().max(1);
    let (label_w, bar_w, row_h) = (260usize, 420usize, 18usize);
    let height = shown * row_h + 10;
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"Permissions per identity\" font-size=\"12\">",
        label_w + bar_w + 60
    );
    for (i, (name, counts)) in bars.iter().take(shown).enumerate() {
        let y = i * row_h + 5;
        let mut label = name.clone();
        if label.chars().count() > 38 {
            label = label.chars().take(37).collect::<String>() + "…";
        }
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 6,
            y + 12,
            escape(&label)
        );
        let mut x = label_w;
        for level in RiskLevel::ALL {
            let n = counts[level as usize];
            if n == 0 {
                continue;
            }
            let w = (n * bar_w).div_ceil(max);
            let _ = write!(
                h,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{}\"><title>{}: {n}</title></rect>",
                row_h - 4,
                color(level),
                level.name()
            );
            x += w;
        }
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            x + 4,
            y + 12,
            counts.iter().sum::<usize>()
        );
    }
    h.push_str("</svg>\n");
}

fn level_table(h: &mut String, rows: &[ReportRow], level: RiskLevel) {
    let mut mine: Vec<&ReportRow> = rows
        .iter()
        .filter(|r| r.error.is_none() && r.risk_level == level)
        .collect();
    mine.sort_by_cached_key(|r| {
        (
            identity_label(r).to_lowercase(),
            r.resource.clone().unwrap_or_default().to_lowercase(),
            r.permission.clone().unwrap_or_default().to_lowercase(),
        )
    });
    let _ = writeln!(
        h,
        "<h2 id=\"{n}\"><span class=\"badge\" style=\"background:{c}\"></span>{n} ({count})</h2>",
        n = level.name(),
        c = color(level),
        count = mine.len()
    );
    if mine.is_empty() {
        h.push_str("<p class=\"muted\">None.</p>\n");
        return;
    }
    let drift = mine.iter().any(|r| r.drift.is_some());
    h.push_str("<table><tr><th>Identity</th><th>Type</th><th>ARM resource id</th><th>Resource</th><th>Permission</th><th>Assigned</th>");
    if drift {
        h.push_str("<th>Drift</th>");
    }
    h.push_str("</tr>\n");
    for r in mine {
        let cell = |v: Option<&str>| escape(v.unwrap_or(""));
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(&identity_label(r)),
            cell(r.principal.principal_type.as_deref()),
            cell(r.principal.arm_resource_id.as_deref()),
            cell(r.resource.as_deref()),
            cell(r.permission.as_deref()),
            cell(r.created_date_time.as_deref()),
        );
        if drift {
            let _ = write!(h, "<td>{}</td>", r.drift.map_or("", Drift::name));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::report::row::Principal;
    use crate::graph::report::totals::Counter;
    use uuid::Uuid;

    fn row(name: &str, permission: &str, level: RiskLevel) -> ReportRow {
        ReportRow {
            principal: Principal {
                identity_name: Some(name.into()),
                identity_id: Some(Uuid::from_u128(name.len() as u128)),
                identity_app_id: None,
                principal_type: Some("ManagedIdentity".into()),
                arm_resource_id: Some("/subscriptions/x".into()),
            },
            resource: Some("Microsoft Graph".into()),
            resource_id: None,
            resource_app_id: None,
            permission: Some(permission.into()),
            permission_id: None,
            risk_level: level,
            assignment_id: Some("a".into()),
            created_date_time: Some("2024-01-01T00:00:00Z".into()),
            drift: None,
            error: None,
        }
    }

    #[test]
    fn hostile_names_are_escaped_and_nothing_is_fetched() {
        let hostile = "<script>alert('x')</script> \"Ünïcødé\" & co";
        let rows = vec![
            row(hostile, "Mail.Send", RiskLevel::High),
            row("b", "AppRoleAssignment.ReadWrite.All", RiskLevel::Critical),
        ];
        let mut c = Counter::default();
        rows.iter().for_each(|r| c.add(r));
        let html = render(&rows, &c.totals(), "Report <x>");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains(
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;Ünïcødé&quot; &amp; co"
        ));
        assert!(html.contains("Report &lt;x&gt;"));
        assert!(
            !html.contains("http://") || html.matches("http://").count() == 1,
            "only the SVG namespace"
        );
        assert!(!html.contains("https://"));
        assert!(html.contains("Summary by risk level"));
        assert!(html.contains("<svg"));
        assert!(html.contains("<h2 id=\"Critical\">") || html.contains("id=\"Critical\""));
    }

    #[test]
    fn escape_covers_every_markup_character() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
