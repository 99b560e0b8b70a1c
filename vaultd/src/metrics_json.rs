//! `GET sys/metrics` without `?format`: Vault's JSON shape (its in-memory
//! sink's: `Timestamp`, `Gauges`, `Counters`, `Samples`, `Points`), made from
//! the OpenMetrics text the registry renders, so there is one source of
//! metrics. Gauges carry `Value`; counters `Count` (their running total, also
//! as `Sum`); histograms become samples with `Count` and `Sum`. Names stay
//! the Prometheus ones (`vault_requests_total` is the counter
//! `vault_requests`).
//!
//! The text is our own registry's, so the parse is of a known shape; a line
//! it does not understand is skipped, never an error.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Vault's JSON for the OpenMetrics `text`, stamped `now` (RFC 3339).
pub fn from_openmetrics(text: &str, now: &str) -> Value {
    let mut kinds: BTreeMap<&str, &str> = BTreeMap::new();
    let mut gauges = Vec::new();
    let mut counters = Vec::new();
    // Histogram series by (name, labels as text): count, sum and labels.
    let mut histograms: BTreeMap<(String, String), Histogram> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                kinds.insert(name, kind);
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, labels_of(rest.trim_end_matches('}'))),
            None => (series, Map::new()),
        };
        let family = |suffix: &str| {
            name.strip_suffix(suffix)
                .filter(|base| kinds.contains_key(base))
        };
        if let Some(base) = family("_total").filter(|b| kinds.get(b) == Some(&"counter")) {
            counters.push(json!({
                "Name": base, "Count": value, "Sum": value, "Labels": labels,
            }));
        } else if kinds.get(name) == Some(&"gauge") {
            gauges.push(json!({ "Name": name, "Value": value, "Labels": labels }));
        } else if let Some(base) = family("_count").or(family("_sum")) {
            let key = (base.to_owned(), Value::Object(labels.clone()).to_string());
            let entry = histograms.entry(key).or_insert(Histogram {
                count: 0.0,
                sum: 0.0,
                labels,
            });
            if name.ends_with("_count") {
                entry.count = value;
            } else {
                entry.sum = value;
            }
        }
    }
    let samples: Vec<Value> = histograms
        .into_iter()
        .map(|((name, _), Histogram { count, sum, labels })| {
            json!({
                "Name": name,
                "Count": count,
                "Sum": sum,
                "Mean": if count > 0.0 { sum / count } else { 0.0 },
                "Labels": labels,
            })
        })
        .collect();
    json!({
        "Timestamp": now,
        "Gauges": gauges,
        "Counters": counters,
        "Samples": samples,
        "Points": [],
    })
}

/// One histogram series' totals.
struct Histogram {
    count: f64,
    sum: f64,
    labels: Map<String, Value>,
}

/// `a="x",b="y"` as a map (`\"` and `\\` unescaped).
fn labels_of(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_owned(), Value::String(value));
        rest = after.get(end..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_counters_and_histograms_take_vaults_shape() {
        let text = "# HELP vault_sealed Sealed.\n# TYPE vault_sealed gauge\nvault_sealed 0\n\
            # TYPE vault_requests counter\n\
            vault_requests_total{operation=\"read\",mount_type=\"kv\"} 3\n\
            # TYPE vault_request_duration_seconds histogram\n\
            vault_request_duration_seconds_bucket{operation=\"read\",le=\"0.1\"} 2\n\
            vault_request_duration_seconds_sum{operation=\"read\"} 0.5\n\
            vault_request_duration_seconds_count{operation=\"read\"} 4\n# EOF\n";
        let json = from_openmetrics(text, "2026-12-05T00:00:00Z");
        assert_eq!(
            json["Gauges"],
            json!([{"Name": "vault_sealed", "Value": 0.0, "Labels": {}}])
        );
        assert_eq!(json["Counters"][0]["Name"], "vault_requests");
        assert_eq!(json["Counters"][0]["Count"], 3.0);
        assert_eq!(
            json["Counters"][0]["Labels"],
            json!({"operation": "read", "mount_type": "kv"})
        );
        let sample = &json["Samples"][0];
        assert_eq!(sample["Name"], "vault_request_duration_seconds");
        assert_eq!(
            (sample["Count"].clone(), sample["Sum"].clone()),
            (json!(4.0), json!(0.5))
        );
        assert_eq!(sample["Mean"], 0.125);
        assert_eq!(json["Points"], json!([]));
    }

    #[test]
    fn escaped_label_values_and_odd_lines() {
        let labels = labels_of(r#"mount="a\"b",x="c\\d""#);
        assert_eq!(labels["mount"], "a\"b");
        assert_eq!(labels["x"], "c\\d");
        let json = from_openmetrics("garbage\nno_value x\n", "t");
        assert_eq!(json["Gauges"], json!([]));
    }
}
