//! Job-scoped CloudBoxx access grants over HTTP: issuance at claim and
//! take-over, the changes feed, revocation when access ends.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    act, applied, full_report, grant_of, hex, login_with_key, phone, rejected, token_with_key,
    world, World,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use smartcontrol_ble::security::{AccessGrant, Permissions, VerifyingKey};
use smartcontrol_cloud_api::{AccessGrantEnvelope, Action, ActionResult, JobKind, TokenResponse};
use smartcontrol_sim_cloud::{GrantRecord, GRANT_CLOCK_SKEW_SECS, GRANT_VALIDITY_SECS};

fn no_grant(r: &ActionResult) {
    match &r.outcome {
        smartcontrol_cloud_api::ActionOutcome::Applied { grant: None, .. } => {}
        other => panic!("expected APPLIED without a grant, got {other:?}"),
    }
}

/// The first AutoTech job of `kind` in the Berlin fleet, after `skip` of them.
fn job_of_kind(w: &World, kind: JobKind, skip: usize) -> String {
    w.seed
        .autotech_job_ids
        .iter()
        .filter(|id| {
            let j = w.cloud.job(id).unwrap().job;
            j.kind == kind
                && j.fleet_id == w.seed.berlin_fleet_id
                && j.vin.is_some()
                && j.cloudboxx_serial.is_some()
        })
        .nth(skip)
        .cloned()
        .unwrap()
}

fn fleet_key(w: &World, fleet_id: &str) -> VerifyingKey {
    VerifyingKey::from_bytes(&w.cloud.fleet_public_key(fleet_id).unwrap()).unwrap()
}

fn record(w: &World, env: &AccessGrantEnvelope) -> GrantRecord {
    w.cloud
        .grants_for_job(&env.job_id)
        .unwrap()
        .into_iter()
        .find(|g| g.grant_id == env.grant_id)
        .unwrap()
}

fn revoked_hex(w: &World, serial: &str) -> Vec<String> {
    w.cloud
        .revoked_grant_ids(serial)
        .unwrap()
        .iter()
        .map(|id| hex(id))
        .collect()
}

#[tokio::test]
async fn claim_issues_a_verifiable_job_scoped_grant_and_replays_return_it() {
    let w = world().await;
    let key = phone(7);
    let anna = token_with_key(&w, &w.seed.anna_email, &key).await;
    let job_id = job_of_kind(&w, JobKind::Installation, 0);
    let job = w.cloud.job(&job_id).unwrap().job;
    let serial = w.seed.cloudboxx_serials[&job_id].clone();
    assert_eq!(job.cloudboxx_serial.as_deref(), Some(serial.as_str()));
    assert!(serial.starts_with("CBX-") && serial.len() == 10, "{serial}");

    let req = act(&job_id, Action::Claim);
    let now = w.cloud.now().timestamp();
    let first = w.push(&anna, vec![req.clone()]).await.pop().unwrap();
    let env = grant_of(&first);
    assert_eq!(env.job_id, job_id);

    // The fleet key the provider sees is the one that verifies the grant.
    let provider = w.token(&w.seed.provider_email).await;
    let (s, fleets) = w
        .call(
            Method::GET,
            "/api/v1/provider/fleets",
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let berlin = fleets
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == w.seed.berlin_fleet_id.as_str())
        .unwrap();
    assert_eq!(
        berlin["public_key"].as_str().unwrap(),
        w.cloud
            .fleet_public_key_hex(&w.seed.berlin_fleet_id)
            .unwrap()
    );
    assert_eq!(
        w.seed.berlin_fleet_public_key,
        w.cloud.fleet_public_key(&w.seed.berlin_fleet_id).unwrap()
    );

    let grant = AccessGrant::from_hex(&env.grant).unwrap();
    grant
        .verify(&fleet_key(&w, &w.seed.berlin_fleet_id))
        .unwrap();
    assert!(grant
        .verify(&fleet_key(&w, &w.seed.hamburg_fleet_id))
        .is_err());
    let f = &grant.fields;
    assert_eq!(hex(&f.grant_id), env.grant_id);
    assert_eq!(f.device_serial, serial);
    assert_eq!(Some(f.vin.clone()), job.vin);
    assert_eq!(f.job_id, job_id);
    assert_eq!(f.technician_id, w.seed.anna_id);
    assert_eq!(f.phone_public_key, key.public_key());
    assert_eq!(
        f.permissions,
        Permissions::CONFIGURE | Permissions::TEST | Permissions::COMMANDS
    );
    let nb = f.not_before as i64;
    let na = f.not_after as i64;
    assert!(
        (nb - (now - GRANT_CLOCK_SKEW_SECS)).abs() <= 5,
        "{nb} vs {now}"
    );
    assert!(
        (na - (now + GRANT_VALIDITY_SECS)).abs() <= 5,
        "{na} vs {now}"
    );
    assert_eq!(GRANT_VALIDITY_SECS, 72 * 3600);
    assert_eq!(env.not_after, na);
    grant.check_time(now as u64).unwrap();
    grant.check_time((now + 71 * 3600) as u64).unwrap();
    assert!(grant.check_time((now + 73 * 3600) as u64).is_err());

    // Same idempotency key: the stored first result, same grant, nothing new.
    let again = w.push(&anna, vec![req]).await.pop().unwrap();
    assert_eq!(grant_of(&again), env);
    // A new claim of a job I already hold: the live grant again.
    let fresh = w.push_one(&anna, &job_id, Action::Claim).await;
    assert_eq!(grant_of(&fresh), env);
    let records = w.cloud.grants_for_job(&job_id).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].revoked_at, None);
    assert_eq!(records[0].device_serial, serial);
    assert!(w.cloud.revoked_grant_ids(&serial).unwrap().is_empty());
}

#[tokio::test]
async fn maintenance_grants_exclude_configure() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(1)).await;
    let job_id = job_of_kind(&w, JobKind::Maintenance, 0);
    let env = grant_of(&w.push_one(&anna, &job_id, Action::Claim).await);
    let grant = AccessGrant::from_hex(&env.grant).unwrap();
    grant
        .verify(&fleet_key(&w, &w.seed.berlin_fleet_id))
        .unwrap();
    assert_eq!(
        grant.fields.permissions,
        Permissions::TEST | Permissions::COMMANDS
    );
    assert!(!grant.fields.permissions.contains(Permissions::CONFIGURE));
}

#[tokio::test]
async fn take_over_issues_a_new_grant_and_revokes_the_old_one() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(1)).await;
    let ben_key = phone(2);
    let ben = token_with_key(&w, &w.seed.ben_email, &ben_key).await;
    let job_id = job_of_kind(&w, JobKind::Installation, 1);
    let serial = w.seed.cloudboxx_serials[&job_id].clone();
    let old = grant_of(&w.push_one(&anna, &job_id, Action::Claim).await);
    let new = grant_of(&w.push_one(&ben, &job_id, Action::TakeOver).await);
    assert_ne!(old.grant_id, new.grant_id);
    let g = AccessGrant::from_hex(&new.grant).unwrap();
    g.verify(&fleet_key(&w, &w.seed.berlin_fleet_id)).unwrap();
    assert_eq!(g.fields.technician_id, w.seed.ben_id);
    assert_eq!(g.fields.phone_public_key, ben_key.public_key());
    assert_eq!(g.fields.device_serial, serial);

    let old_rec = record(&w, &old);
    assert_eq!(old_rec.revoked_reason.as_deref(), Some("TAKEN_OVER"));
    assert!(old_rec.revoked_at.is_some());
    assert_eq!(record(&w, &new).revoked_at, None);
    assert_eq!(revoked_hex(&w, &serial), vec![old.grant_id.clone()]);

    // The provider's revocation list of the device says the same.
    let provider = w.token(&w.seed.provider_email).await;
    let (s, v) = w
        .call(
            Method::GET,
            &format!("/api/v1/provider/devices/{serial}/revocations"),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["device_serial"], serial.as_str());
    assert_eq!(v["revoked_grant_ids"], json!([old.grant_id]));
    // Technicians may not read it; other providers see nothing of it.
    let (s, _) = w
        .call(
            Method::GET,
            &format!("/api/v1/provider/devices/{serial}/revocations"),
            Some(&anna),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let other = w.cloud.create_provider("Other Mobility").unwrap();
    w.cloud
        .create_provider_user(&other, "p2@other.test", "P2", "demo")
        .unwrap();
    let p2 = w.token("p2@other.test").await;
    let (s, v) = w
        .call(
            Method::GET,
            &format!("/api/v1/provider/devices/{serial}/revocations"),
            Some(&p2),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["revoked_grant_ids"], json!([]));
}

#[tokio::test]
async fn withdraw_complete_and_unassign_revoke() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(3)).await;
    let jobs: Vec<String> = (0..4)
        .map(|i| job_of_kind(&w, JobKind::Installation, i))
        .collect();
    let mut grants = Vec::new();
    for j in &jobs {
        grants.push(grant_of(&w.push_one(&anna, j, Action::Claim).await));
    }
    applied(&w.push_one(&anna, &jobs[0], Action::Withdraw).await);
    applied(
        &w.push_one(
            &anna,
            &jobs[1],
            Action::CompleteFailed {
                comment: "no access to the vehicle".into(),
                report: Default::default(),
            },
        )
        .await,
    );
    let report = full_report(&w, &jobs[2], &grants[2], 1);
    applied(
        &w.push_one(&anna, &jobs[2], Action::CompleteSucceeded { report })
            .await,
    );
    let provider = w.token(&w.seed.provider_email).await;
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/jobs/{}/unassign", jobs[3]),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for (g, reason) in grants
        .iter()
        .zip(["WITHDRAWN", "FAILED", "SUCCEEDED", "UNASSIGNED"])
    {
        let rec = record(&w, g);
        assert_eq!(rec.revoked_reason.as_deref(), Some(reason));
        let serial = &w.seed.cloudboxx_serials[&g.job_id];
        assert_eq!(revoked_hex(&w, serial), vec![g.grant_id.clone()]);
    }
    // A withdrawn job claimed again gets a fresh grant.
    let again = grant_of(&w.push_one(&anna, &jobs[0], Action::Claim).await);
    assert_ne!(again.grant_id, grants[0].grant_id);
    assert_eq!(record(&w, &again).revoked_at, None);
}

#[tokio::test]
async fn deleting_the_connection_or_the_company_revokes() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(4)).await;
    let hamburg: Vec<String> = w.seed.autotech_job_ids[18..].to_vec();
    assert_eq!(
        w.cloud.job(&hamburg[0]).unwrap().job.fleet_id,
        w.seed.hamburg_fleet_id
    );
    let h = grant_of(&w.push_one(&anna, &hamburg[0], Action::Claim).await);
    let b = grant_of(
        &w.push_one(&anna, &w.seed.autotech_job_ids[1], Action::Claim)
            .await,
    );
    let admin = w.token(&w.seed.autotech_admin_email).await;
    let (_, conns) = w
        .call(
            Method::GET,
            "/api/v1/partner/connections",
            Some(&admin),
            None,
        )
        .await;
    let conn = conns
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fleet_id"] == w.seed.hamburg_fleet_id.as_str())
        .unwrap()
        .clone();
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/partner/connections/{}",
                conn["id"].as_str().unwrap()
            ),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        record(&w, &h).revoked_reason.as_deref(),
        Some("CONNECTION_DELETED")
    );
    assert_eq!(record(&w, &b).revoked_at, None);

    let (s, _) = w
        .call(
            Method::DELETE,
            "/api/v1/partner/company",
            Some(&admin),
            None,
        )
        .await;
    assert!(s.is_success(), "{s}");
    assert_eq!(
        record(&w, &b).revoked_reason.as_deref(),
        Some("COMPANY_DELETED")
    );
}

#[tokio::test]
async fn changes_feed_carries_my_live_grants_only_and_reissues_for_a_new_phone() {
    let w = world().await;
    let anna_key = phone(5);
    let anna = token_with_key(&w, &w.seed.anna_email, &anna_key).await;
    let ben = token_with_key(&w, &w.seed.ben_email, &phone(6)).await;
    let mine = job_of_kind(&w, JobKind::Installation, 0);
    let bens = job_of_kind(&w, JobKind::Installation, 1);
    let done = job_of_kind(&w, JobKind::Maintenance, 0);
    let my_grant = grant_of(&w.push_one(&anna, &mine, Action::Claim).await);
    grant_of(&w.push_one(&ben, &bens, Action::Claim).await);
    grant_of(&w.push_one(&anna, &done, Action::Claim).await);
    applied(
        &w.push_one(
            &anna,
            &done,
            Action::CompleteFailed {
                comment: "vehicle not found".into(),
                report: Default::default(),
            },
        )
        .await,
    );

    let page = w.changes(&anna, "", None).await;
    assert!(page.jobs.iter().any(|j| j.id == bens));
    assert_eq!(page.grants, vec![my_grant.clone()]);
    // Paging: every page carries the grants of my running jobs that the
    // phone does not hold, whichever page holds the jobs.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = w.changes(&anna, &cursor, Some(5)).await;
        assert_eq!(p.grants, vec![my_grant.clone()]);
        seen.extend(p.grants);
        cursor = p.cursor;
        if !p.has_more {
            break;
        }
    }
    seen.dedup();
    assert_eq!(seen, vec![my_grant.clone()]);

    // A re-installed phone: new key at login, the grant is re-issued for it.
    let new_key = phone(8);
    let anna2 = token_with_key(&w, &w.seed.anna_email, &new_key).await;
    let page = w.changes(&anna2, "", None).await;
    assert_eq!(page.grants.len(), 1);
    let g2 = &page.grants[0];
    assert_eq!(g2.job_id, mine);
    assert_ne!(g2.grant_id, my_grant.grant_id);
    let parsed = AccessGrant::from_hex(&g2.grant).unwrap();
    parsed
        .verify(&fleet_key(&w, &w.seed.berlin_fleet_id))
        .unwrap();
    assert_eq!(parsed.fields.phone_public_key, new_key.public_key());
    assert_eq!(
        record(&w, &my_grant).revoked_reason.as_deref(),
        Some("REISSUED")
    );
    // Asking again returns the same live grant.
    assert_eq!(w.changes(&anna2, "", None).await.grants, vec![g2.clone()]);

    // Refresh keeps the session's phone key.
    let t = login_with_key(&w, &w.seed.anna_email, Some(&new_key)).await;
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": t.refresh_token})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let refreshed: TokenResponse = serde_json::from_value(v).unwrap();
    assert_eq!(
        w.changes(&refreshed.access_token, "", None).await.grants,
        vec![g2.clone()]
    );

    // After expiry, the feed issues a fresh grant for a job still held.
    w.cloud.advance_clock(GRANT_VALIDITY_SECS + 60);
    let anna3 = token_with_key(&w, &w.seed.anna_email, &new_key).await;
    let page = w.changes(&anna3, "", None).await;
    assert_eq!(page.grants.len(), 1);
    assert_ne!(page.grants[0].grant_id, g2.grant_id);
}

#[tokio::test]
async fn no_phone_key_means_no_grant_and_malformed_keys_are_refused() {
    let w = world().await;
    let anna = login_with_key(&w, &w.seed.anna_email, None)
        .await
        .access_token;
    let job_id = job_of_kind(&w, JobKind::Installation, 0);
    no_grant(&w.push_one(&anna, &job_id, Action::Claim).await);
    assert!(w.changes(&anna, "", None).await.grants.is_empty());
    assert!(w.cloud.grants_for_job(&job_id).unwrap().is_empty());

    for bad in ["abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(66), ""] {
        let (s, v) = w
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": w.seed.anna_email, "password": "demo", "phone_public_key": bad})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["error"], "bad_request");
    }
}

#[tokio::test]
async fn jobs_carry_serials_set_by_the_provider_and_without_one_no_grant() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/provider/jobs",
            Some(&provider),
            Some(json!({"fleet_id": w.seed.berlin_fleet_id, "cloudboxx_serial": "CBX-999001"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["cloudboxx_serial"], "CBX-999001");
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, v) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            Some(json!({"cloudboxx_serial": "CBX-999002"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["cloudboxx_serial"], "CBX-999002");
    let (s, _) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            Some(json!({"cloudboxx_serial": "bad serial"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Without a serial: claim works, no grant.
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/provider/jobs",
            Some(&provider),
            Some(json!({"fleet_id": w.seed.berlin_fleet_id, "assigned_company_id": w.seed.autotech_id})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v["cloudboxx_serial"].is_null());
    let bare = v["id"].as_str().unwrap().to_owned();
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(9)).await;
    no_grant(&w.push_one(&anna, &bare, Action::Claim).await);
    // Every demo job that names a CloudBoxx names a distinct one.
    let named = 36 - w.seed.open_serial_job_ids.len();
    let mut serials: Vec<_> = w.seed.cloudboxx_serials.values().collect();
    assert_eq!(serials.len(), named);
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), named);
    // A rejected claim issues nothing.
    let taken = job_of_kind(&w, JobKind::Installation, 2);
    let ben = token_with_key(&w, &w.seed.ben_email, &phone(10)).await;
    grant_of(&w.push_one(&ben, &taken, Action::Claim).await);
    assert_eq!(
        rejected(&w.push_one(&anna, &taken, Action::Claim).await),
        "TAKEN_OVER"
    );
    assert_eq!(w.cloud.grants_for_job(&taken).unwrap().len(), 1);
}
