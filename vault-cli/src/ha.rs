//! High availability as the CLI shows it: the HA lines of `status`, and the
//! `operator step-down` and `operator members` commands.

use serde_json::{Value, json};
use vault_proto::v1::{Member, MembersRequest, SealStatusResponse, StepDownRequest};

use crate::client::{Client, failed};
use crate::output::{Format, print};

/// What a node is doing in the cluster, as Vault names it.
fn mode(s: &SealStatusResponse) -> &'static str {
    if s.sealed {
        "sealed"
    } else if s.is_self {
        "active"
    } else {
        "standby"
    }
}

/// The HA lines `status` adds after its seal lines (Vault's order).
pub fn status_rows(s: &SealStatusResponse) -> Vec<(&'static str, String)> {
    if !s.ha_enabled {
        return vec![("HA Enabled", "false".into())];
    }
    let mut rows = vec![("HA Enabled", "true".into()), ("HA Mode", mode(s).into())];
    if !s.active_time.is_empty() {
        rows.push(("Active Since", s.active_time.clone()));
    }
    let leader = if s.leader_address.is_empty() {
        "<none>".to_owned()
    } else {
        s.leader_address.clone()
    };
    rows.push(("Leader Address", leader));
    if !s.node_id.is_empty() {
        rows.push(("Node ID", s.node_id.clone()));
    }
    rows
}

/// Adds the HA fields to `status`'s JSON object.
pub fn add_status_json(s: &SealStatusResponse, json: &mut Value) {
    json["ha_enabled"] = json!(s.ha_enabled);
    json["is_self"] = json!(s.is_self);
    json["active_time"] = json!(s.active_time);
    json["leader_address"] = json!(s.leader_address);
    json["node_id"] = json!(s.node_id);
}

/// `operator step-down`: the active node gives up the lock (a standby
/// forwards the call to it). `address` is the one the call went to.
pub async fn step_down(client: &mut Client, address: &str) -> anyhow::Result<u8> {
    let request = client.request(StepDownRequest {})?;
    client
        .sys
        .step_down(request)
        .await
        .map_err(|e| failed("Error stepping down", e))?;
    println!("Success! Stepped down: {address}");
    Ok(0)
}

fn member_json(m: &Member) -> Value {
    json!({
        "node_id": m.node_id,
        "api_address": m.api_address,
        "active": m.active,
        "state": m.state,
        "version": m.version,
        "last_seen": m.last_seen,
    })
}

/// The members as table lines: a header, a rule, one line per node.
fn member_lines(members: &[Member]) -> Vec<String> {
    const HEADER: [&str; 5] = ["Node ID", "API Address", "State", "Version", "Last Seen"];
    let cells: Vec<[&str; 5]> = members
        .iter()
        .map(|m| {
            [
                m.node_id.as_str(),
                m.api_address.as_str(),
                m.state.as_str(),
                m.version.as_str(),
                m.last_seen.as_str(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |row: [&str; 5]| {
        let mut text = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}    "));
            }
        }
        text
    };
    let rule = HEADER.map(|h| "-".repeat(h.len()));
    let mut lines = vec![line(HEADER), line(rule.each_ref().map(String::as_str))];
    lines.extend(cells.into_iter().map(line));
    lines
}

/// `operator members`: the nodes sharing the storage, as they last reported.
pub async fn members(client: &mut Client, format: Format) -> anyhow::Result<u8> {
    let request = client.request(MembersRequest {})?;
    let members = client
        .sys
        .members(request)
        .await
        .map_err(|e| failed("Error listing members", e))?
        .into_inner()
        .members;
    match format {
        Format::Json => print(
            format,
            &[],
            &Value::Array(members.iter().map(member_json).collect()),
        ),
        Format::Table => member_lines(&members)
            .iter()
            .for_each(|line| println!("{line}")),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ha_status(is_self: bool) -> SealStatusResponse {
        SealStatusResponse {
            initialized: true,
            ha_enabled: true,
            is_self,
            active_time: "2024-05-01T10:00:00Z".into(),
            leader_address: "http://127.0.0.1:8201".into(),
            node_id: "node-a".into(),
            ..SealStatusResponse::default()
        }
    }

    fn keys(rows: &[(&'static str, String)]) -> Vec<&'static str> {
        rows.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn without_ha_one_line() {
        let rows = status_rows(&SealStatusResponse::default());
        assert_eq!(rows, [("HA Enabled", "false".to_owned())]);
    }

    #[test]
    fn the_active_and_a_standby() {
        let rows = status_rows(&ha_status(true));
        assert_eq!(
            keys(&rows),
            [
                "HA Enabled",
                "HA Mode",
                "Active Since",
                "Leader Address",
                "Node ID"
            ]
        );
        assert_eq!(rows[1].1, "active");
        let standby = SealStatusResponse {
            active_time: String::new(),
            leader_address: String::new(),
            ..ha_status(false)
        };
        let rows = status_rows(&standby);
        assert_eq!(
            keys(&rows),
            ["HA Enabled", "HA Mode", "Leader Address", "Node ID"]
        );
        assert_eq!(rows[1].1, "standby");
        assert_eq!(rows[2].1, "<none>");
    }

    #[test]
    fn json_names_the_fields() {
        let mut json = json!({ "sealed": false });
        add_status_json(&ha_status(true), &mut json);
        assert_eq!(json["ha_enabled"], true);
        assert_eq!(json["is_self"], true);
        assert_eq!(json["active_time"], "2024-05-01T10:00:00Z");
        assert_eq!(json["leader_address"], "http://127.0.0.1:8201");
        assert_eq!(json["node_id"], "node-a");
    }

    #[test]
    fn the_members_table_lines_up() {
        let members = [Member {
            node_id: "node-long-name".into(),
            api_address: "http://127.0.0.1:8200".into(),
            active: true,
            last_seen: "2024-05-01T10:00:00Z".into(),
            version: "0.1.0".into(),
            state: "active".into(),
        }];
        let lines = member_lines(&members);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].find("API Address"), lines[2].find("http://"));
        assert_eq!(lines[0].find("State"), lines[2].find("active"));
        assert_eq!(lines[0].find("Version"), lines[2].find("0.1.0"));
        assert!(lines[0].ends_with("Last Seen"));
        assert!(lines[2].ends_with("2024-05-01T10:00:00Z"));
    }
}
