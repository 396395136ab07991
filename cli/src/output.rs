//! Rendering for people: tables, details, reports. JSON output is the core's
//! serde types as they are (see docs/cli.md).

// This module's purpose is writing the command's output to stdout.
#![allow(clippy::print_stdout)]

use serde::Serialize;
use smartcontrol_core::cloud_api::{Action, VehicleTestResult};
use smartcontrol_core::{
    Account, ActionKind, Conflict, JobDetail, JobPage, JobSummary, PendingAction, RequiredWork,
    SyncReport, SyncState, SyncStatus, WorkItemKind,
};

use crate::exit::Failure;

/// Marker of a job whose local changes have not reached the cloud yet.
pub const WAITING: &str = "⏳ waiting for sync";

/// Prints a value as one JSON document on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Characters as a terminal shows them (close enough for our columns).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// A plain text table with a header row, columns padded to the widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0) - width(cell) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".to_owned())
}

/// One row of the job table.
pub fn job_row(j: &JobSummary) -> Vec<String> {
    vec![
        j.id.clone(),
        or_dash(&j.license_plate),
        or_dash(&j.custom_name),
        or_dash(&j.vehicle_model),
        format!("{} / {}", j.provider_name, j.fleet_name),
        or_dash(&j.planned_service_date),
        j.status.to_string(),
        or_dash(&j.assignee_name),
        if j.pending_actions > 0 {
            format!("{WAITING} ({})", j.pending_actions)
        } else {
            String::new()
        },
    ]
}

pub const JOB_HEADER: &[&str] = &[
    "ID",
    "PLATE",
    "NAME",
    "MODEL",
    "PROVIDER / FLEET",
    "PLANNED",
    "STATUS",
    "ASSIGNEE",
    "SYNC",
];

pub fn print_jobs(page: &JobPage, offset: u32) {
    if page.jobs.is_empty() {
        println!("No jobs.");
    } else {
        let rows: Vec<Vec<String>> = page.jobs.iter().map(job_row).collect();
        print!("{}", table(JOB_HEADER, &rows));
    }
    let shown = page.jobs.len();
    if offset > 0 && shown > 0 {
        println!(
            "{shown} of {} (from #{} to #{})",
            page.total,
            u64::from(offset) + 1,
            u64::from(offset) + shown as u64
        );
    } else {
        println!("{shown} of {}", page.total);
    }
}

/// A queued action in words: "claim", "installation start", ...
pub fn action_words(name: &str) -> &'static str {
    match name {
        "CLAIM" => "claim",
        "WITHDRAW" => "withdrawal",
        "TAKE_OVER" => "take-over",
        "START_INSTALLATION" => "installation start",
        "COMPLETE_SUCCEEDED" => "completion as SUCCEEDED",
        "COMPLETE_FAILED" => "completion as FAILED",
        "ENTER_SITE_DATA" => "site data entry",
        _ => "action",
    }
}

/// An action with its payload, for lists.
pub fn describe_action(a: &Action) -> String {
    match a {
        Action::CompleteSucceeded { report } => {
            let mut s = action_words(a.name()).to_owned();
            if let Some(n) = &report.notes {
                s.push_str(&format!(" (notes: {n:?})"));
            }
            if !report.vehicle_tests.is_empty() {
                s.push_str(&format!(", {} vehicle test(s)", report.vehicle_tests.len()));
            }
            s
        }
        Action::CompleteFailed { comment, report } => {
            let mut s = format!("{} (comment: {comment:?})", action_words(a.name()));
            if !report.vehicle_tests.is_empty() {
                s.push_str(&format!(", {} vehicle test(s)", report.vehicle_tests.len()));
            }
            s
        }
        Action::EnterSiteData { data } => format!(
            "{} ({})",
            action_words(a.name()),
            data.fields()
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => action_words(other.name()).to_owned(),
    }
}

/// The job's specifications, in the order the provider's form has them.
const SPEC_FIELDS: &[&str] = &[
    "kind",
    "vin",
    "license_plate",
    "custom_name",
    "vehicle_model",
    "hardware",
    "installation_variant",
    "central_lock_connection_type",
    "cloudboxx_serial",
    "fuel_type",
    "cloudboxx_config_preset",
    "master_data",
    "planned_service_date",
    "instructions",
];

fn print_field(key: &str, v: &serde_json::Value, w: usize, empty: &str) {
    match v {
        serde_json::Value::Object(m)
            if key.trim_end_matches('*') == "master_data" && !m.is_empty() =>
        {
            println!("  {key}");
            for (mk, mv) in m {
                println!(
                    "    {mk:<w2$}  {}",
                    json_value_text(mv, empty),
                    w2 = w.saturating_sub(2)
                );
            }
        }
        _ => println!("  {key:<w$}  {}", json_value_text(v, empty)),
    }
}

fn json_value_text(v: &serde_json::Value, empty: &str) -> String {
    match v {
        serde_json::Value::Null => empty.to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) if m.is_empty() => empty.to_owned(),
        serde_json::Value::Object(m) => {
            // Vehicle model and assignee: show the name with the id.
            match (m.get("name"), m.get("id")) {
                (Some(serde_json::Value::String(n)), Some(serde_json::Value::String(id)))
                    if m.len() == 2 =>
                {
                    format!("{n} ({id})")
                }
                _ => serde_json::to_string(m).unwrap_or_default(),
            }
        }
        other => other.to_string(),
    }
}

fn test_line(t: &VehicleTestResult) -> String {
    let mut s = format!("{} {}", if t.passed { "PASS" } else { "FAIL" }, t.test);
    if let Some(m) = &t.measured {
        s.push_str(&format!(" ({m})"));
    }
    if let Some(h) = &t.hint {
        s.push_str(&format!(" — {h}"));
    }
    s.push_str(&format!(" at {}", t.at));
    s
}

fn pending_line(p: &PendingAction) -> String {
    let mut s = format!(
        "#{} {} at {} (base version {}, key {})",
        p.seq,
        describe_action(&p.action),
        p.performed_at,
        p.base_version,
        p.idempotency_key
    );
    if p.attempts > 0 {
        s.push_str(&format!(", {} failed attempt(s)", p.attempts));
    }
    if let Some(e) = &p.last_error {
        s.push_str(&format!(", last error: {e}"));
    }
    s
}

/// The `smartcontrol` command that takes an action.
fn action_command(a: ActionKind) -> &'static str {
    match a {
        ActionKind::Claim => "claim",
        ActionKind::TakeOver => "take-over",
        ActionKind::Withdraw => "withdraw",
        ActionKind::StartInstallation => "start",
        ActionKind::CompleteSucceeded => "complete --succeeded",
        ActionKind::CompleteFailed => "complete --failed --comment TEXT",
        ActionKind::EnterSiteData => "job enter",
    }
}

/// The required-work checklist, one line per item.
pub fn required_work_lines(w: &RequiredWork) -> Vec<String> {
    w.items
        .iter()
        .map(|i| {
            let kind = match i.kind {
                WorkItemKind::Step => "step",
                WorkItemKind::Test => "test",
            };
            match (&i.detail, i.done) {
                (_, true) => format!("✓ {kind} {}", i.name),
                (Some(d), false) => format!("✗ {kind} {}: {d}", i.name),
                (None, false) => format!("✗ {kind} {}", i.name),
            }
        })
        .collect()
}

pub fn print_job_detail(d: &JobDetail) -> Result<(), Failure> {
    let s = &d.summary;
    println!("Job {}  {}", s.label(), s.id);
    println!(
        "  local status:          {}{}",
        s.status,
        if s.pending_actions > 0 {
            format!("  {WAITING}")
        } else {
            String::new()
        }
    );
    println!("  assignee (local):      {}", or_dash(&s.assignee_name));
    println!(
        "  installation started:  {}",
        if d.installation_started { "yes" } else { "no" }
    );
    if let Some(c) = &d.failure_comment {
        println!("  failure comment:       {c}");
    }
    let actions: Vec<&str> = d
        .available_actions
        .iter()
        .map(|a| action_command(*a))
        .collect();
    println!(
        "  you can:               {}",
        if actions.is_empty() {
            "nothing (not logged in, or the job is not open to you)".to_owned()
        } else {
            actions.join(", ")
        }
    );
    let entered: Vec<String> = d.site_data.fields().iter().map(|f| f.name()).collect();
    let cloud = serde_json::to_value(&d.cloud)?;
    let effective = serde_json::to_value(&d.effective)?;
    if let (serde_json::Value::Object(mut fields), serde_json::Value::Object(eff)) =
        (cloud, effective)
    {
        let w = fields.keys().map(|k| width(k)).max().unwrap_or(0);
        println!("Specifications (empty = the technician's choice; * = entered on site):");
        for key in SPEC_FIELDS {
            fields.remove(*key);
            let Some(v) = eff.get(*key) else { continue };
            let entered_here = entered
                .iter()
                .any(|e| e == key || e.strip_prefix(*key).is_some_and(|r| r.starts_with('.')));
            let label = if entered_here {
                format!("{key}*")
            } else {
                (*key).to_owned()
            };
            print_field(
                &label,
                v,
                w,
                "— (technician's choice: `smartcontrol job enter`)",
            );
        }
        println!("Cloud state (as the cloud last described the job):");
        for (k, v) in &fields {
            print_field(k, v, w, "-");
        }
    }
    if !d.open_fields.is_empty() {
        println!(
            "Left to you: {} (`smartcontrol job enter {} --...`)",
            d.open_fields.join(", "),
            s.id
        );
    }
    if d.required_work.items.is_empty() {
        println!("Required work: none (the job may succeed without device work)");
    } else {
        println!(
            "Required work ({}):",
            if d.required_work.done {
                "done: the job can be completed as SUCCEEDED"
            } else {
                "not done yet"
            }
        );
        for line in required_work_lines(&d.required_work) {
            println!("  {line}");
        }
    }
    if d.pending.is_empty() {
        println!("Pending actions: none");
    } else {
        println!("Pending actions ({}), oldest first:", d.pending.len());
        for p in &d.pending {
            println!("  {}", pending_line(p));
        }
    }
    if d.vehicle_tests.is_empty() {
        println!("Vehicle tests of the latest run: none recorded");
    } else {
        println!(
            "Vehicle tests of the latest run ({}):",
            d.vehicle_tests.len()
        );
        for t in &d.vehicle_tests {
            println!("  {}", test_line(t));
        }
    }
    Ok(())
}

pub fn conflict_rows(list: &[Conflict]) -> Vec<Vec<String>> {
    list.iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.job_label.clone(),
                c.job_id.clone(),
                describe_action(&c.action),
                c.reason.to_string(),
                c.message.clone(),
            ]
        })
        .collect()
}

pub const CONFLICT_HEADER: &[&str] = &["ID", "JOB", "JOB ID", "REFUSED WORK", "REASON", "MESSAGE"];

pub fn print_conflicts(list: &[Conflict]) {
    if list.is_empty() {
        println!("No open conflicts.");
        return;
    }
    print!("{}", table(CONFLICT_HEADER, &conflict_rows(list)));
    println!(
        "{} open conflict(s): `smartcontrol conflicts dismiss ID` or `smartcontrol conflicts resubmit ID`",
        list.len()
    );
}

pub fn state_words(s: SyncState) -> &'static str {
    match s {
        SyncState::Never => "never synced",
        SyncState::Syncing => "syncing",
        SyncState::Online => "online",
        SyncState::Offline => "offline",
        SyncState::Error => "error",
    }
}

pub fn print_status(account: Option<&Account>, st: &SyncStatus) {
    match account {
        Some(a) => println!(
            "Logged in as:     {} <{}> ({})",
            a.name, a.email, a.company_name
        ),
        None => println!("Logged in as:     nobody (smartcontrol login --email ...)"),
    }
    println!(
        "Pending actions:  {}{}",
        st.pending_actions,
        if st.pending_actions > 0 {
            format!("  {WAITING}")
        } else {
            String::new()
        }
    );
    println!("Open conflicts:   {}", st.open_conflicts);
    println!("State:            {}", state_words(st.state));
    println!(
        "Last sync:        {}",
        st.last_sync_at.as_deref().unwrap_or("never")
    );
    println!(
        "Last attempt:     {}",
        st.last_attempt_at.as_deref().unwrap_or("never")
    );
    if let Some(e) = &st.last_error {
        println!("Last error:       {e}");
    }
}

pub fn report_line(r: &SyncReport) -> String {
    format!(
        "{} applied, {} rejected, {} job(s) received, {} removed, {} request(s), {} action(s) still pending",
        r.applied, r.rejected, r.jobs_received, r.jobs_removed, r.requests, r.pending_actions
    )
}
