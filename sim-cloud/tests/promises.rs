//! The promises of Installer Jobs, as the cloud keeps them: SUCCEEDED only
//! with the required work attested by the job's own unit (forgeries and
//! replays refused), what the technician enters only where the provider
//! left it open, access renewed while the job runs whatever the cursor,
//! revocations published signed per unit, accounts that end their sessions
//! with a reason, and the provider's vehicle records.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use smartcontrol_ble::message::VehicleTestId;
use smartcontrol_ble::security::{
    simulated_device_key, DeviceRevocations, RevocationList as _, SignedRevocationList, SigningKey,
    VerifyingKey,
};
use smartcontrol_cloud_api::{
    Action, ActionOutcome, ActionResult, JobReport, JobStatus, RevocationListEnvelope, SiteData,
    VehicleModel,
};

fn outcome(r: &ActionResult) -> (String, String) {
    match &r.outcome {
        ActionOutcome::Rejected {
            reason, message, ..
        } => (reason.to_string(), message.clone()),
        ActionOutcome::Applied { .. } => ("APPLIED".into(), String::new()),
    }
}

fn succeeded(report: JobReport) -> Action {
    Action::CompleteSucceeded { report }
}

/// An AutoTech installation in Berlin that names its VIN and unit and
/// requires every test, after `skip` of them.
fn installation(w: &World, skip: usize) -> String {
    w.seed
        .autotech_job_ids
        .iter()
        .filter(|id| {
            let j = w.cloud.job(id).unwrap().job;
            j.kind == smartcontrol_cloud_api::JobKind::Installation
                && j.fleet_id == w.seed.berlin_fleet_id
                && j.vin.is_some()
                && j.cloudboxx_serial.is_some()
                && j.requirements.vehicle_tests.len() == 10
        })
        .nth(skip)
        .cloned()
        .unwrap()
}

fn all_tests(passed: bool) -> Vec<(VehicleTestId, bool)> {
    VehicleTestId::ALL.iter().map(|t| (*t, passed)).collect()
}

#[tokio::test]
async fn succeeded_needs_the_required_work_attested_by_the_jobs_own_unit() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(1)).await;
    let job = installation(&w, 0);
    let grant = grant_of(&w.push_one(&anna, &job, Action::Claim).await);
    let serial = w.seed.cloudboxx_serials[&job].clone();
    let key = simulated_device_key(&serial);

    // Right after the claim: nothing attested.
    let (reason, msg) = outcome(
        &w.push_one(&anna, &job, succeeded(JobReport::default()))
            .await,
    );
    assert_eq!(reason, "UNTRUSTED_RESULTS", "{msg}");
    assert!(msg.contains("no attestation"), "{msg}");
    // Typed results are not evidence either.
    let typed = JobReport {
        vehicle_tests: vec![smartcontrol_cloud_api::VehicleTestResult {
            test: "ignition_state".into(),
            passed: true,
            measured: None,
            hint: None,
            at: "2025-01-01T00:00:00Z".into(),
        }],
        ..JobReport::default()
    };
    assert_eq!(
        outcome(&w.push_one(&anna, &job, succeeded(typed)).await).0,
        "UNTRUSTED_RESULTS"
    );
    // One passing test, signed: the required work is named as missing.
    let one = signed(
        run_fields(&w, &job, &grant, 1, &[(VehicleTestId::IgnitionState, true)]),
        &key,
    );
    let (reason, msg) = outcome(
        &w.push_one(
            &anna,
            &job,
            succeeded(JobReport {
                attestation: Some(one),
                ..JobReport::default()
            }),
        )
        .await,
    );
    assert_eq!(reason, "REQUIREMENTS_NOT_MET", "{msg}");
    assert!(
        msg.contains("test central_lock_lock: not run in the latest run"),
        "{msg}"
    );
    assert!(!msg.contains("ignition_state"), "{msg}");
    // A failed test is named with its hint; an unbound unit too.
    let mut run = run_fields(&w, &job, &grant, 2, &all_tests(true));
    run.tests[8].passed = false;
    run.tests[8].hint = smartcontrol_ble::message::HintCode::CloseDoors;
    run.bound_vin = String::new();
    let (reason, msg) = outcome(
        &w.push_one(
            &anna,
            &job,
            succeeded(JobReport {
                attestation: Some(signed(run, &key)),
                ..JobReport::default()
            }),
        )
        .await,
    );
    assert_eq!(reason, "REQUIREMENTS_NOT_MET");
    assert!(
        msg.contains("step bind_vehicle: the unit is not bound"),
        "{msg}"
    );
    assert!(msg.contains("test doors_closed: failed (a door"), "{msg}");
    // Forged: signed by another key, or altered after signing.
    let forged = signed(
        run_fields(&w, &job, &grant, 3, &all_tests(true)),
        &SigningKey::from_bytes(&[9; 32]),
    );
    let (reason, msg) = outcome(
        &w.push_one(
            &anna,
            &job,
            succeeded(JobReport {
                attestation: Some(forged),
                ..JobReport::default()
            }),
        )
        .await,
    );
    assert_eq!(reason, "UNTRUSTED_RESULTS");
    assert!(msg.contains("not signed by CloudBoxx"), "{msg}");
    let mut tampered = smartcontrol_ble::security::Attestation::sign(
        run_fields(&w, &job, &grant, 3, &all_tests(false)),
        &key,
    )
    .unwrap();
    for t in &mut tampered.fields.tests {
        t.passed = true;
    }
    assert_eq!(
        outcome(
            &w.push_one(
                &anna,
                &job,
                succeeded(JobReport {
                    attestation: Some(tampered.to_hex()),
                    ..JobReport::default()
                }),
            )
            .await
        )
        .0,
        "UNTRUSTED_RESULTS"
    );
    // The real thing.
    let report = full_report(&w, &job, &grant, 4);
    let accepted = report.attestation.clone().unwrap();
    let r = w.push_one(&anna, &job, succeeded(report)).await;
    assert_eq!(applied(&r).status, JobStatus::Succeeded);
    let pj = w.cloud.job(&job).unwrap();
    assert_eq!(
        pj.report.unwrap().attestation.as_deref(),
        Some(accepted.as_str())
    );
    // The provider sees the vehicle linked to the job.
    let provider = w.token(&w.seed.provider_email).await;
    let cloud_job = pj.job;
    let (s, v) = w
        .call(
            Method::GET,
            &format!(
                "/api/v1/provider/vehicles/{}",
                cloud_job.vin.clone().unwrap()
            ),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["cloudboxx_serial"], serial.as_str());
    assert_eq!(v["job_id"], job.as_str());
    assert_eq!(
        v["license_plate"],
        cloud_job.license_plate.clone().unwrap().as_str()
    );
    assert_eq!(
        v["vehicle_model"]["id"],
        cloud_job.vehicle_model.clone().unwrap().id.as_str()
    );
    assert!(v["config_id"].as_str().unwrap().contains('-'));
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/provider/vehicles/NOPE",
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Replayed: the same run for another job of the same technician.
    let other = installation(&w, 1);
    grant_of(&w.push_one(&anna, &other, Action::Claim).await);
    let (reason, msg) = outcome(
        &w.push_one(
            &anna,
            &other,
            succeeded(JobReport {
                attestation: Some(accepted),
                ..JobReport::default()
            }),
        )
        .await,
    );
    assert_eq!(reason, "UNTRUSTED_RESULTS");
    assert!(msg.contains("replayed from another job"), "{msg}");
    // FAILED with a comment needs no attestation.
    let r = w
        .push_one(
            &anna,
            &other,
            Action::CompleteFailed {
                comment: "the vehicle was not at the station".into(),
                report: JobReport::default(),
            },
        )
        .await;
    assert_eq!(applied(&r).status, JobStatus::Failed);
}

#[tokio::test]
async fn a_run_from_an_access_that_ended_or_a_counter_already_used_does_not_count() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(2)).await;
    let ben = token_with_key(&w, &w.seed.ben_email, &phone(3)).await;
    let job = installation(&w, 2);
    let first = grant_of(&w.push_one(&anna, &job, Action::Claim).await);
    let old_run = full_report(&w, &job, &first, 10);
    // Anna gives the job back and claims it again: her earlier run was
    // under an access that ended.
    applied(&w.push_one(&anna, &job, Action::Withdraw).await);
    let second = grant_of(&w.push_one(&anna, &job, Action::Claim).await);
    let (reason, msg) = outcome(&w.push_one(&anna, &job, succeeded(old_run)).await);
    assert_eq!(reason, "UNTRUSTED_RESULTS");
    assert!(
        msg.contains("an access that ended since (WITHDRAWN)"),
        "{msg}"
    );
    // Ben takes the job over; Anna's run under her grant is not his.
    let run = full_report(&w, &job, &second, 11);
    grant_of(&w.push_one(&ben, &job, Action::TakeOver).await);
    let (reason, msg) = outcome(&w.push_one(&ben, &job, succeeded(run)).await);
    assert_eq!(reason, "UNTRUSTED_RESULTS");
    assert!(msg.contains("another technician's access"), "{msg}");
    // Ben's own run counts; once accepted, it cannot serve again.
    let bens = w
        .cloud
        .grants_for_job(&job)
        .unwrap()
        .into_iter()
        .last()
        .unwrap();
    let env = smartcontrol_cloud_api::AccessGrantEnvelope {
        job_id: job.clone(),
        grant_id: bens.grant_id,
        grant: bens.grant,
        not_after: bens.not_after,
    };
    let report = full_report(&w, &job, &env, 12);
    applied(&w.push_one(&ben, &job, succeeded(report.clone())).await);
    assert_eq!(
        outcome(&w.push_one(&ben, &job, succeeded(report)).await).0,
        "INVALID_TRANSITION"
    );
}

#[tokio::test]
async fn the_technician_fills_in_only_what_the_provider_left_open() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(4)).await;
    let open_vin = w
        .seed
        .open_vin_job_ids
        .iter()
        .find(|id| w.seed.autotech_job_ids.contains(id))
        .unwrap()
        .clone();
    let open_serial = w
        .seed
        .open_serial_job_ids
        .iter()
        .find(|id| {
            w.seed.autotech_job_ids.contains(id)
                && w.cloud.job(id).unwrap().job.kind
                    == smartcontrol_cloud_api::JobKind::Installation
        })
        .unwrap()
        .clone();
    let g = grant_of(&w.push_one(&anna, &open_vin, Action::Claim).await);
    assert_eq!(
        AccessGrantFields::vin(&g),
        "",
        "no VIN to bind the grant to yet"
    );
    let claimed = w.push_one(&anna, &open_serial, Action::Claim).await;
    assert!(
        matches!(claimed.outcome, ActionOutcome::Applied { grant: None, .. }),
        "no unit, no grant"
    );
    let enter = |data: SiteData| Action::EnterSiteData { data };
    let (vin, model) = w.seed.vehicles[&open_vin].clone();
    // The provider specified the model: refused.
    let (reason, msg) = outcome(
        &w.push_one(
            &anna,
            &open_vin,
            enter(SiteData {
                vehicle_model: Some(VehicleModel {
                    id: "vw-golf8".into(),
                    name: "x".into(),
                }),
                ..SiteData::default()
            }),
        )
        .await,
    );
    assert_eq!(reason, "SPECIFIED_BY_PROVIDER", "{msg}");
    for bad in ["WVWZZZ1JZXW00000Q", "SHORT", "1M8GDM9A1KP042788"] {
        let (reason, msg) = outcome(
            &w.push_one(
                &anna,
                &open_vin,
                enter(SiteData {
                    vin: Some(bad.into()),
                    ..SiteData::default()
                }),
            )
            .await,
        );
        assert_eq!(reason, "INVALID", "{bad}: {msg}");
    }
    let r = w
        .push_one(
            &anna,
            &open_vin,
            enter(SiteData {
                vin: Some(vin.clone()),
                license_plate: Some("b-at   1".into()),
                ..SiteData::default()
            }),
        )
        .await;
    let job = applied(&r);
    assert_eq!(job.site_data.vin.as_deref(), Some(vin.as_str()));
    assert_eq!(
        job.site_data.license_plate.as_deref(),
        Some("B-AT 1"),
        "normalised"
    );
    assert!(job.vin.is_none(), "the provider's field stays empty");
    // The grant now names the entered VIN.
    let ActionOutcome::Applied {
        grant: Some(g2), ..
    } = &r.outcome
    else {
        panic!("{r:?}")
    };
    assert_eq!(AccessGrantFields::vin(g2), vin);
    assert_ne!(g2.grant_id, g.grant_id);
    let _ = model;
    // A serial that is not the fleet's unit: refused, the job has no grant.
    let (reason, msg) = outcome(
        &w.push_one(
            &anna,
            &open_serial,
            enter(SiteData {
                cloudboxx_serial: Some("CBX-999999".into()),
                ..SiteData::default()
            }),
        )
        .await,
    );
    assert_eq!(reason, "UNKNOWN_DEVICE", "{msg}");
    let hamburg_spare = w.seed.spare_serials[&w.seed.hamburg_fleet_id][0].clone();
    let job_fleet = w.cloud.job(&open_serial).unwrap().job.fleet_id;
    let wrong_fleet = if job_fleet == w.seed.hamburg_fleet_id {
        w.seed.spare_serials[&w.seed.berlin_fleet_id][0].clone()
    } else {
        hamburg_spare
    };
    assert_eq!(
        outcome(
            &w.push_one(
                &anna,
                &open_serial,
                enter(SiteData {
                    cloudboxx_serial: Some(wrong_fleet),
                    ..SiteData::default()
                }),
            )
            .await
        )
        .0,
        "UNKNOWN_DEVICE"
    );
    // A spare unit of the job's fleet: the answer carries the grant for it.
    let spare = w.seed.spare_serials[&job_fleet][0].clone();
    let r = w
        .push_one(
            &anna,
            &open_serial,
            enter(SiteData {
                cloudboxx_serial: Some(spare.clone()),
                ..SiteData::default()
            }),
        )
        .await;
    let ActionOutcome::Applied {
        grant: Some(g),
        job,
    } = &r.outcome
    else {
        panic!("{r:?}")
    };
    assert_eq!(
        job.site_data.cloudboxx_serial.as_deref(),
        Some(spare.as_str())
    );
    let decoded = smartcontrol_ble::security::AccessGrant::from_hex(&g.grant).unwrap();
    assert_eq!(decoded.fields.device_serial, spare);
    // The technician corrects their own entry; the provider sees it.
    applied(
        &w.push_one(
            &anna,
            &open_vin,
            enter(SiteData {
                license_plate: Some("B-AT 2".into()),
                ..SiteData::default()
            }),
        )
        .await,
    );
    let provider = w.token(&w.seed.provider_email).await;
    let (s, v) = w
        .call(
            Method::GET,
            &format!("/api/v1/provider/jobs/{open_vin}"),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["site_data"]["license_plate"], "B-AT 2");
    assert_eq!(v["site_data"]["vin"], vin.as_str());
    assert!(v["license_plate"].is_null());
}

/// The VIN a grant opens.
struct AccessGrantFields;
impl AccessGrantFields {
    fn vin(g: &smartcontrol_cloud_api::AccessGrantEnvelope) -> String {
        smartcontrol_ble::security::AccessGrant::from_hex(&g.grant)
            .unwrap()
            .fields
            .vin
    }
}

async fn changes_holding(
    w: &World,
    token: &str,
    held: &[&str],
) -> smartcontrol_cloud_api::ChangesResponse {
    let (s, v) = w
        .call(
            Method::GET,
            &format!("/api/v1/technician/changes?grants={}", held.join(",")),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_running_jobs_grant_is_renewed_at_every_sync_across_validity_windows() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(5)).await;
    let job = installation(&w, 0);
    let mut held = grant_of(&w.push_one(&anna, &job, Action::Claim).await);
    // Caught up: nothing new on the changes page, and the grant is held.
    let page = changes_holding(&w, &anna, &[&held.grant_id]).await;
    assert!(page.grants.is_empty() && page.revoked_grants.is_empty());
    let cursor = page.cursor.clone();
    // Five times 40 h: 200 h, nearly three validity windows of 72 h.
    for round in 0..5 {
        w.cloud.advance_clock(40 * 3600);
        let anna = token_with_key(&w, &w.seed.anna_email, &phone(5)).await;
        let (s, v) = w
            .call(
                Method::GET,
                &format!(
                    "/api/v1/technician/changes?since={cursor}&grants={}",
                    held.grant_id
                ),
                Some(&anna),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let page: smartcontrol_cloud_api::ChangesResponse = serde_json::from_value(v).unwrap();
        assert!(
            page.jobs.is_empty(),
            "nothing changed on the job (round {round})"
        );
        assert_eq!(
            page.grants.len(),
            1,
            "renewed although the job is not on the page (round {round})"
        );
        let renewed = page.grants[0].clone();
        assert!(renewed.not_after > w.cloud.now().timestamp() + 48 * 3600);
        assert_eq!(
            page.revoked_grants,
            vec![held.grant_id.clone()],
            "the old one goes"
        );
        held = renewed;
        // The phone shows it holds the new one: the old one is revoked.
        let page = changes_holding(&w, &anna, &[&held.grant_id]).await;
        assert!(page.grants.is_empty(), "{:?}", page.grants);
    }
    let records = w.cloud.grants_for_job(&job).unwrap();
    assert_eq!(records.len(), 6);
    assert!(records[..5]
        .iter()
        .all(|g| g.revoked_reason.as_deref() == Some("SUPERSEDED")));
    assert!(records[5].revoked_at.is_none());
    // A phone that stayed offline past the end gets a fresh grant too.
    w.cloud.advance_clock(100 * 3600);
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(5)).await;
    let page = changes_holding(&w, &anna, &[&held.grant_id]).await;
    assert_eq!(page.grants.len(), 1);
    assert!(page.grants[0].not_after > w.cloud.now().timestamp());
}

fn verify_list(w: &World, env: &RevocationListEnvelope, fleet_id: &str) -> SignedRevocationList {
    let list = SignedRevocationList::from_hex(&env.list).unwrap();
    let key = VerifyingKey::from_bytes(&w.cloud.fleet_public_key(fleet_id).unwrap()).unwrap();
    list.verify(&key).unwrap();
    assert_eq!(list.fields.device_serial, env.device_serial);
    assert_eq!(list.fields.sequence, env.sequence);
    list
}

#[tokio::test]
async fn revocations_are_published_signed_per_unit_and_travel_with_the_new_holder() {
    let w = world().await;
    let anna = token_with_key(&w, &w.seed.anna_email, &phone(6)).await;
    let ben = token_with_key(&w, &w.seed.ben_email, &phone(7)).await;
    let job = installation(&w, 1);
    let serial = w.seed.cloudboxx_serials[&job].clone();
    let path = format!("/api/v1/devices/{serial}/revocation-list");
    // No token needed; nothing revoked yet.
    let (s, v) = w.call(Method::GET, &path, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let env: RevocationListEnvelope = serde_json::from_value(v).unwrap();
    let empty = verify_list(&w, &env, &w.seed.berlin_fleet_id);
    assert!(empty.fields.entries.is_empty());
    let annas = grant_of(&w.push_one(&anna, &job, Action::Claim).await);
    let bens = grant_of(&w.push_one(&ben, &job, Action::TakeOver).await);
    let (_, v) = w.call(Method::GET, &path, None, None).await;
    let env: RevocationListEnvelope = serde_json::from_value(v).unwrap();
    let list = verify_list(&w, &env, &w.seed.berlin_fleet_id);
    assert!(env.sequence > empty.fields.sequence);
    let annas_id: [u8; 16] = smartcontrol_ble::security::from_hex(&annas.grant_id)
        .unwrap()
        .try_into()
        .unwrap();
    let mut unit = DeviceRevocations::new();
    unit.apply(
        &list,
        &serial,
        &VerifyingKey::from_bytes(&w.cloud.fleet_public_key(&w.seed.berlin_fleet_id).unwrap())
            .unwrap(),
        u64::try_from(w.cloud.now().timestamp()).unwrap(),
    )
    .unwrap();
    assert!(unit.is_revoked(&annas_id));
    // Ben's phone gets the list with his next sync, then not again.
    let page = changes_holding(&w, &ben, &[&bens.grant_id]).await;
    assert_eq!(page.revocation_lists.len(), 1);
    assert_eq!(page.revocation_lists[0].sequence, env.sequence);
    let (s, v) = w
        .call(
            Method::GET,
            &format!(
                "/api/v1/technician/changes?grants={}&revocations={serial}:{}",
                bens.grant_id, env.sequence
            ),
            Some(&ben),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("revocation_lists").is_none(), "{v}");
    // Anna's phone is told its held grant no longer opens anything.
    let page = changes_holding(&w, &anna, &[&annas.grant_id]).await;
    assert_eq!(page.revoked_grants, vec![annas.grant_id.clone()]);
    // Expired revocations drop out of the list; the sequence stays.
    w.cloud.advance_clock(80 * 3600);
    let (_, v) = w.call(Method::GET, &path, None, None).await;
    let later: RevocationListEnvelope = serde_json::from_value(v).unwrap();
    let later_list = verify_list(&w, &later, &w.seed.berlin_fleet_id);
    assert!(later_list
        .fields
        .entries
        .iter()
        .all(|e| e.grant_id != annas_id));
    assert!(later.sequence >= env.sequence);
    // Unknown unit; malformed held parameters.
    let ben = token_with_key(&w, &w.seed.ben_email, &phone(7)).await;
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/devices/CBX-NOPE/revocation-list",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    for bad in ["grants=xyz", "revocations=CBX-1", "revocations=CBX-1:x"] {
        let (s, v) = w
            .call(
                Method::GET,
                &format!("/api/v1/technician/changes?{bad}"),
                Some(&ben),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
}

#[tokio::test]
async fn a_removed_account_or_company_ends_the_sessions_with_a_reason() {
    let w = world().await;
    let t = login_with_key(&w, &w.seed.anna_email, Some(&phone(8))).await;
    let job = installation(&w, 0);
    grant_of(&w.push_one(&t.access_token, &job, Action::Claim).await);
    let admin = w.token(&w.seed.autotech_admin_email).await;
    // Removing a technician: 404 for another company's, 409 for oneself.
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/partner/users/{}", w.seed.olga_id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let me = w
        .cloud
        .user_by_email(&w.seed.autotech_admin_email)
        .unwrap()
        .id;
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/partner/users/{me}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/partner/users/{}", w.seed.anna_id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Anna's sessions end with the reason; her job is available again and
    // her grant revoked.
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&t.access_token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "account_removed", "{v}");
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": t.refresh_token})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "account_removed", "{v}");
    let j = w.cloud.job(&job).unwrap().job;
    assert_eq!(j.status, JobStatus::Assigned);
    assert!(w
        .cloud
        .grants_for_job(&job)
        .unwrap()
        .iter()
        .all(|g| g.revoked_reason.as_deref() == Some("ACCOUNT_REMOVED")));
    // A deleted company: every session of its people says so.
    let ben = w.ben().await;
    let (s, _) = w
        .call(
            Method::DELETE,
            "/api/v1/partner/company",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = w
        .call(Method::GET, "/api/v1/technician/changes", Some(&ben), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "account_removed");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("company was deleted"),
        "{v}"
    );
    // An expired token is not that case.
    let olga = w.token(&w.seed.olga_email).await;
    w.cloud.advance_clock(7200);
    let (s, v) = w
        .call(Method::GET, "/api/v1/technician/changes", Some(&olga), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "token_expired");
}

#[tokio::test]
async fn taking_over_a_job_nobody_holds_is_applied_as_a_claim() {
    let w = world().await;
    let ben = w.ben().await;
    let job = installation(&w, 0);
    let r = w.push_one(&ben, &job, Action::TakeOver).await;
    let j = applied(&r);
    assert_eq!(j.status, JobStatus::Running);
    assert_eq!(j.assignee.as_ref().unwrap().name, "Ben Keller");
}

#[tokio::test]
async fn the_provider_sets_requirements_on_create_edit_and_import() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let create = |body: serde_json::Value| {
        let w = &w;
        let provider = provider.clone();
        async move {
            w.call(
                Method::POST,
                "/api/v1/provider/jobs",
                Some(&provider),
                Some(body),
            )
            .await
        }
    };
    let fleet = w.seed.berlin_fleet_id.clone();
    let (s, v) = create(json!({"fleet_id": fleet, "kind": "INSTALLATION"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["requirements"]["steps"],
        json!(["bind_vehicle", "configure", "verify"])
    );
    assert_eq!(
        v["requirements"]["vehicle_tests"].as_array().unwrap().len(),
        10
    );
    assert_eq!(v["vehicle_tests_required"], true);
    let (s, v) = create(json!({"fleet_id": fleet, "kind": "MAINTENANCE"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        v["requirements"],
        json!({"steps": ["identify"], "vehicle_tests": []})
    );
    let (s, v) = create(json!({
        "fleet_id": fleet, "kind": "MAINTENANCE",
        "required_steps": ["configure", "verify"], "required_tests": ["mileage"]
    }))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["requirements"]["vehicle_tests"], json!(["mileage"]));
    let id = v["id"].as_str().unwrap().to_owned();
    for (bad, needle) in [
        (
            json!({"fleet_id": fleet, "required_tests": ["warp"]}),
            "unknown vehicle test",
        ),
        (
            json!({"fleet_id": fleet, "required_steps": ["dance"]}),
            "unknown required step",
        ),
        (
            json!({"fleet_id": fleet, "vehicle_tests_required": false, "required_tests": ["mileage"]}),
            "give one of them",
        ),
        (
            json!({"fleet_id": fleet, "vin": "WVWZZZ1JZXW00000O"}),
            "letter O",
        ),
        (
            json!({"fleet_id": fleet, "vehicle_model": {"id": "vw-golf8", "name": "Golf"}, "central_lock_connection_type": "SKM"}),
            "does not support",
        ),
        (
            json!({"fleet_id": fleet, "vehicle_model": {"id": "trabant", "name": "Trabant"}}),
            "not in the catalogue",
        ),
    ] {
        let (s, v) = create(bad.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{bad}: {v}"
        );
    }
    // Edit: the kind brings its default unless the patch lists requirements.
    let (s, v) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            Some(json!({"kind": "INSTALLATION"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["requirements"]["steps"],
        json!(["bind_vehicle", "configure", "verify"])
    );
    let (s, v) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            Some(json!({"required_tests": ["doors_closed", "position_fix"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["requirements"]["vehicle_tests"],
        json!(["doors_closed", "position_fix"])
    );
    // CSV: every specification has a column, in any order.
    let csv = format!(
        "required_tests,kind,vin,cloudboxx_serial,cloudboxx_config_preset,planned_service_date,master_data,hardware\n\
         mileage|doors_closed,MAINTENANCE,WVWZZZ1JZXW000123,{},sharing-ice-v3,2027-01-15,station=Mitte;level=-2,CBX-2\n",
        w.seed.spare_serials[&fleet][1]
    );
    let resp = w
        .http
        .post(w.url(&format!("/api/v1/provider/jobs/import?fleet_id={fleet}")))
        .bearer_auth(&provider)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v: serde_json::Value = resp.json().await.unwrap();
    let j = &v["jobs"][0];
    assert_eq!(j["kind"], "MAINTENANCE");
    assert_eq!(
        j["requirements"]["vehicle_tests"],
        json!(["mileage", "doors_closed"])
    );
    assert_eq!(j["master_data"]["level"], -2);
    assert_eq!(j["master_data"]["station"], "Mitte");
    assert_eq!(j["planned_service_date"], "2027-01-15");
    assert_eq!(j["cloudboxx_config_preset"], "sharing-ice-v3");
    let resp = w
        .http
        .post(w.url(&format!("/api/v1/provider/jobs/import?fleet_id={fleet}")))
        .bearer_auth(&provider)
        .header("content-type", "text/csv")
        .body("vin,colour\nWVWZZZ1JZXW000123,red\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("unknown column \"colour\""),
        "{v}"
    );
}

#[tokio::test]
async fn units_are_registered_with_their_fleet() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let key = simulated_device_key("CBX-777777").verifying_key();
    let path = format!("/api/v1/provider/fleets/{}/devices", w.seed.berlin_fleet_id);
    let (s, v) = w
        .call(
            Method::POST,
            &path,
            Some(&provider),
            Some(json!({"serial": "CBX-777777", "public_key": hex(key.as_bytes()), "hardware": "CBX-3"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["fleet_id"], w.seed.berlin_fleet_id.as_str());
    let (s, v) = w.call(Method::GET, &path, Some(&provider), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["serial"] == "CBX-777777"));
    // The same unit in another fleet: conflict; a bad key: bad request.
    let hamburg = format!(
        "/api/v1/provider/fleets/{}/devices",
        w.seed.hamburg_fleet_id
    );
    let (s, _) = w
        .call(
            Method::POST,
            &hamburg,
            Some(&provider),
            Some(json!({"serial": "CBX-777777", "public_key": hex(key.as_bytes())})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = w
        .call(
            Method::POST,
            &path,
            Some(&provider),
            Some(json!({"serial": "CBX-777778", "public_key": "00"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let anna = w.token(&w.seed.anna_email).await;
    let (s, _) = w.call(Method::GET, &path, Some(&anna), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
