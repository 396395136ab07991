//! HTTP tests of the simulated cloud over loopback.
#![allow(clippy::unwrap_used)]

mod common;

use common::{act, applied, rejected, world};
use reqwest::{Method, StatusCode};
use serde_json::json;
use smartcontrol_cloud_api::{Action, JobReport, JobStatus, RemovalReason};
use smartcontrol_sim_cloud::model::{JobFilter, NewJob};
use smartcontrol_sim_cloud::FaultConfig;

#[tokio::test]
async fn login_with_password_and_totp() {
    let w = world().await;
    let t = w
        .login_full("anna@autotech.test", "demo", None)
        .await
        .unwrap();
    assert_eq!(t.user.role, "TECHNICIAN");
    assert_eq!(t.user.company_name, "AutoTech Installations");
    assert_eq!(t.expires_in, 3600);

    let e = w
        .login_full("anna@autotech.test", "wrong", None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.0, e.1.error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let e = w
        .login_full("nobody@autotech.test", "demo", None)
        .await
        .unwrap_err();
    assert_eq!(e.1.error, "invalid_credentials");
    let e = w
        .login_full("ben@autotech.test", "demo", None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.0, e.1.error.as_str()),
        (StatusCode::UNAUTHORIZED, "totp_required")
    );
    let e = w
        .login_full("ben@autotech.test", "demo", Some("000000"))
        .await
        .unwrap_err();
    assert_eq!(e.1.error, "invalid_totp");
    let token = w.ben().await;
    assert!(!token.is_empty());
    // Provider and admin use the same endpoint.
    assert_eq!(
        w.login_full("provider@demo.test", "demo", None)
            .await
            .unwrap()
            .user
            .role,
        "PROVIDER"
    );
    assert_eq!(
        w.login_full("admin@autotech.test", "demo", None)
            .await
            .unwrap()
            .user
            .role,
        "ADMIN"
    );
}

/// A refresh whose answer is lost: the client retries with the token it
/// still holds and must get the same pair, not a 401 that logs it out; a
/// reuse after the reuse interval is token theft and ends the session.
#[tokio::test]
async fn a_rotated_refresh_token_reused_in_the_interval_gets_the_same_pair_later_revokes_all() {
    let w = world().await;
    let t = w
        .login_full("anna@autotech.test", "demo", None)
        .await
        .unwrap();
    let refresh = |token: String| {
        let w = &w;
        async move {
            w.call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": token})),
            )
            .await
        }
    };
    // The cloud commits the rotation, then the answer is lost.
    w.cloud.set_faults(FaultConfig {
        drop_response_next: 1,
        paths: vec!["/api/v1/auth/refresh".into()],
        ..FaultConfig::default()
    });
    let body = serde_json::to_vec(&json!({"refresh_token": t.refresh_token})).unwrap();
    let lost = w
        .http
        .post(w.url("/api/v1/auth/refresh"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let lost = match lost {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(lost.is_err(), "the first answer is dropped");
    let (s, first) = refresh(t.refresh_token.clone()).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, again) = refresh(t.refresh_token.clone()).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(first["refresh_token"], again["refresh_token"]);
    assert_eq!(first["access_token"], again["access_token"]);
    assert_ne!(first["refresh_token"].as_str().unwrap(), t.refresh_token);
    let access = first["access_token"].as_str().unwrap().to_owned();
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&access),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // After the interval the old token is a stolen one: 401 and the whole
    // login is revoked, the pair it was rotated into included.
    w.cloud.advance_clock(61);
    let (s, v) = refresh(t.refresh_token.clone()).await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused"),
        "{v}"
    );
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&access),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, _) = refresh(first["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Within the interval, once the new pair has been rotated in turn the
    // old token is no longer a lost answer: reuse revokes too.
    let t = w
        .login_full("anna@autotech.test", "demo", None)
        .await
        .unwrap();
    let (_, second) = refresh(t.refresh_token.clone()).await;
    let (s, _) = refresh(second["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = refresh(t.refresh_token.clone()).await;
    assert_eq!(v["error"], "refresh_token_reused", "{s} {v}");
}

#[tokio::test]
async fn refresh_rotates_and_access_tokens_expire() {
    let w = world().await;
    let t = w
        .login_full("anna@autotech.test", "demo", None)
        .await
        .unwrap();
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": t.refresh_token})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let new_access = v["access_token"].as_str().unwrap().to_owned();
    let new_refresh = v["refresh_token"].as_str().unwrap().to_owned();
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&new_access),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    w.cloud.advance_clock(3601);
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&new_access),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": new_refresh})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let fresh = v["access_token"].as_str().unwrap().to_owned();
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&fresh),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // No token / garbage token.
    let (s, v) = w
        .call(Method::GET, "/api/v1/technician/changes", None, None)
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some("nope"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn changes_show_the_company_jobs_and_page() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let all = w.changes(&anna, "", None).await;
    assert_eq!(all.jobs.len(), 26);
    assert!(!all.has_more);
    assert!(all.jobs.iter().all(|j| j.status == JobStatus::Assigned));
    assert!(all
        .jobs
        .iter()
        .all(|j| w.seed.autotech_job_ids.contains(&j.id)));
    // Nothing new since the cursor.
    let again = w.changes(&anna, &all.cursor, None).await;
    assert!(again.jobs.is_empty() && again.removed.is_empty());
    assert_eq!(again.cursor, all.cursor);
    // Paging.
    let mut cursor = String::new();
    let mut seen = Vec::new();
    loop {
        let page = w.changes(&anna, &cursor, Some(10)).await;
        seen.extend(page.jobs.iter().map(|j| j.id.clone()));
        cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen.len(), 26);
    // Provider and admin may not use the technician API.
    let provider = w.token("provider@demo.test").await;
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let admin = w.token("admin@autotech.test").await;
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn claim_take_over_withdraw_and_complete() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let ben = w.ben().await;
    let job = w
        .seed
        .autotech_job_ids
        .iter()
        .find(|id| !w.seed.tests_required_job_ids.contains(id))
        .unwrap()
        .clone();

    let r = w.push_one(&anna, &job, Action::Claim).await;
    let j = applied(&r);
    assert_eq!(j.status, JobStatus::Running);
    assert_eq!(j.assignee.as_ref().unwrap().id, w.seed.anna_id);
    // Claiming again by the holder is a harmless no-op.
    let v = j.version;
    assert_eq!(
        applied(&w.push_one(&anna, &job, Action::Claim).await).version,
        v
    );
    // Ben cannot claim it, but sees it as a colleague's running job and can take it over.
    assert_eq!(
        rejected(&w.push_one(&ben, &job, Action::Claim).await),
        "TAKEN_OVER"
    );
    let bens_view = w.changes(&ben, "", None).await;
    assert!(bens_view
        .jobs
        .iter()
        .any(|j| j.id == job && j.status == JobStatus::Running));
    let r = w.push_one(&ben, &job, Action::TakeOver).await;
    assert_eq!(applied(&r).assignee.as_ref().unwrap().id, w.seed.ben_id);
    // Anna lost it.
    for a in [
        Action::StartInstallation,
        Action::Withdraw,
        Action::CompleteFailed {
            comment: "x".into(),
            report: JobReport::default(),
        },
    ] {
        let r = w.push_one(&anna, &job, a).await;
        assert_eq!(rejected(&r), "TAKEN_OVER");
        if let smartcontrol_cloud_api::ActionOutcome::Rejected { job: Some(j), .. } = &r.outcome {
            assert_eq!(j.assignee.as_ref().unwrap().id, w.seed.ben_id);
        } else {
            panic!("rejection should carry the visible job");
        }
    }
    // Ben withdraws: back to ASSIGNED; Anna claims again, starts and completes.
    assert_eq!(
        applied(&w.push_one(&ben, &job, Action::Withdraw).await).status,
        JobStatus::Assigned
    );
    assert_eq!(
        rejected(&w.push_one(&ben, &job, Action::Withdraw).await),
        "INVALID_TRANSITION"
    );
    applied(&w.push_one(&anna, &job, Action::Claim).await);
    let started = applied(&w.push_one(&anna, &job, Action::StartInstallation).await).clone();
    assert!(started.installation_started_at.is_some());
    let r = w
        .push_one(
            &anna,
            &job,
            Action::CompleteFailed {
                comment: "   ".into(),
                report: JobReport::default(),
            },
        )
        .await;
    assert_eq!(rejected(&r), "INVALID");
    let before = w.changes(&ben, "", None).await.cursor;
    let done = applied(
        &w.push_one(
            &anna,
            &job,
            Action::CompleteFailed {
                comment: "CAN bus not reachable".into(),
                report: JobReport::default(),
            },
        )
        .await,
    )
    .clone();
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(
        done.failure_comment.as_deref(),
        Some("CAN bus not reachable")
    );
    assert!(done.version > started.version);
    // Ben no longer sees the finished job of a colleague: a removal tells him.
    let c = w.changes(&ben, &before, None).await;
    assert!(c.jobs.iter().all(|j| j.id != job));
    assert!(c
        .removed
        .iter()
        .any(|r| r.job_id == job && r.reason == RemovalReason::TakenOver));
    // Anna still sees her final job.
    let c = w.changes(&anna, &before, None).await;
    assert!(c
        .jobs
        .iter()
        .any(|j| j.id == job && j.status == JobStatus::Failed));
    assert_eq!(
        rejected(&w.push_one(&anna, &job, Action::Claim).await),
        "INVALID_TRANSITION"
    );
    // The provider sees the comment.
    let pj = w.cloud.job(&job).unwrap();
    assert_eq!(
        pj.job.failure_comment.as_deref(),
        Some("CAN bus not reachable")
    );
}

#[tokio::test]
async fn a_job_without_required_work_succeeds_with_an_empty_report() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let job = w.seed.no_required_work_job_ids[0].clone();
    assert!(w.seed.autotech_job_ids.contains(&job));
    applied(&w.push_one(&anna, &job, Action::Claim).await);
    let r = w
        .push_one(
            &anna,
            &job,
            Action::CompleteSucceeded {
                report: JobReport::default(),
            },
        )
        .await;
    assert_eq!(applied(&r).status, JobStatus::Succeeded);
}

#[tokio::test]
async fn repeated_keys_return_the_first_result_and_apply_nothing() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let job = &w.seed.autotech_job_ids[1];
    let claim = act(job, Action::Claim);
    let first = w.push(&anna, vec![claim.clone()]).await;
    let v1 = applied(&first[0]).version;
    let withdraw = act(job, Action::Withdraw);
    applied(&w.push(&anna, vec![withdraw.clone()]).await[0]);
    // Replaying both keys changes nothing and answers as the first time.
    let replay = w.push(&anna, vec![claim.clone(), withdraw.clone()]).await;
    assert_eq!(replay[0], first[0]);
    assert_eq!(applied(&replay[0]).version, v1);
    let now = w.cloud.job(job).unwrap().job;
    assert_eq!(now.status, JobStatus::Assigned);
    assert_eq!(now.version, v1 + 1);
}

#[tokio::test]
async fn a_rejection_rejects_the_rest_of_that_jobs_batch() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let (a, b) = (&w.seed.autotech_job_ids[2], &w.seed.autotech_job_ids[3]);
    let results = w
        .push(
            &anna,
            vec![
                act(a, Action::StartInstallation), // not RUNNING: rejected
                act(b, Action::Claim),
                act(a, Action::Claim),
                act(a, Action::Withdraw),
                act(b, Action::StartInstallation),
            ],
        )
        .await;
    assert_eq!(rejected(&results[0]), "INVALID_TRANSITION");
    applied(&results[1]);
    assert_eq!(rejected(&results[2]), "PRECEDING_ACTION_REJECTED");
    assert_eq!(rejected(&results[3]), "PRECEDING_ACTION_REJECTED");
    applied(&results[4]);
    assert_eq!(w.cloud.job(a).unwrap().job.status, JobStatus::Assigned);
    // Too many actions.
    let many: Vec<_> = (0..=smartcontrol_cloud_api::MAX_ACTIONS_PER_PUSH)
        .map(|_| act(a, Action::Claim))
        .collect();
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/technician/actions",
            Some(&anna),
            Some(json!({"actions": many})),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_many_items")
    );
    // Unknown job.
    assert_eq!(
        rejected(&w.push_one(&anna, "no-such-job", Action::Claim).await),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn declined_connections_are_final_and_invitations_expire() {
    let w = world().await;
    let provider = w.token("provider@demo.test").await;
    let other_admin = w.token("admin@other.test").await;
    let path = format!(
        "/api/v1/provider/fleets/{}/invitations",
        w.seed.berlin_fleet_id
    );
    let body = json!({"company_id": w.seed.other_id});
    let (s, inv) = w
        .call(Method::POST, &path, Some(&provider), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(inv["status"], "PENDING");
    assert!(inv["invite_token"].as_str().unwrap().starts_with("inv_"));
    let id = inv["id"].as_str().unwrap();
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/api/v1/partner/connections/{id}/decline"),
            Some(&other_admin),
            None,
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str().unwrap()),
        (StatusCode::OK, "DECLINED")
    );
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/api/v1/partner/connections/{id}/accept"),
            Some(&other_admin),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "conflict")
    );
    // A new invitation works.
    let (s, inv2) = w
        .call(Method::POST, &path, Some(&provider), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id2 = inv2["id"].as_str().unwrap().to_owned();
    assert_ne!(id2, id);
    // ... unless it is older than 7 days.
    w.cloud
        .set_connection_invited_at(&id2, w.cloud.now() - chrono::Duration::days(8))
        .unwrap();
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/api/v1/partner/connections/{id2}/accept"),
            Some(&other_admin),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::GONE, "invitation_expired")
    );
    // Expired invitations do not block a new one, which can be accepted.
    let (s, inv3) = w
        .call(Method::POST, &path, Some(&provider), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id3 = inv3["id"].as_str().unwrap().to_owned();
    // A pending one does block.
    let (s, _) = w
        .call(Method::POST, &path, Some(&provider), Some(body))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Clock-based expiry too: 6 days is fine.
    w.cloud.advance_clock(6 * 24 * 3600);
    let other_admin = w.token("admin@other.test").await;
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/api/v1/partner/connections/{id3}/accept"),
            Some(&other_admin),
            None,
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str().unwrap()),
        (StatusCode::OK, "ACCEPTED")
    );
    // Another company's admin cannot touch it.
    let autotech_admin = w.token("admin@autotech.test").await;
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/partner/connections/{id3}"),
            Some(&autotech_admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let provider = w.token("provider@demo.test").await;
    let (s, list) = w
        .call(
            Method::GET,
            "/api/v1/provider/connections",
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn deleting_a_connection_takes_the_fleet_jobs_away() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let admin = w.token("admin@autotech.test").await;
    let start = w.changes(&anna, "", None).await;
    let hamburg: Vec<String> = start
        .jobs
        .iter()
        .filter(|j| j.fleet_id == w.seed.hamburg_fleet_id)
        .map(|j| j.id.clone())
        .collect();
    assert_eq!(hamburg.len(), 8);
    // Anna holds one of them.
    applied(&w.push_one(&anna, &hamburg[0], Action::Claim).await);
    let mid = w.changes(&anna, "", None).await.cursor;

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
        .unwrap();
    let (s, v) = w
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
    assert_eq!(
        (s, v["status"].as_str().unwrap()),
        (StatusCode::OK, "DELETED")
    );

    let after = w.changes(&anna, &mid, None).await;
    assert!(after.jobs.is_empty());
    let removed: Vec<_> = after
        .removed
        .iter()
        .filter(|r| r.reason == RemovalReason::ConnectionDeleted)
        .map(|r| r.job_id.clone())
        .collect();
    for id in &hamburg {
        assert!(removed.contains(id), "missing removal of {id}");
    }
    assert_eq!(w.changes(&anna, "", None).await.jobs.len(), 18);
    // Her queued work is refused with the reason.
    let r = w
        .push_one(&anna, &hamburg[0], Action::StartInstallation)
        .await;
    assert_eq!(rejected(&r), "CONNECTION_DELETED");
    // The provider has the jobs back as PENDING and cannot assign them to AutoTech.
    let provider = w.token("provider@demo.test").await;
    let j = w.cloud.job(&hamburg[0]).unwrap().job;
    assert_eq!(
        (j.status, j.assigned_company_id, j.assignee),
        (JobStatus::Pending, None, None)
    );
    let (s, _) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/jobs/{}/assign", hamburg[0]),
            Some(&provider),
            Some(json!({"company_id": w.seed.autotech_id})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Other Installers still has its Hamburg connection.
    let olga = w.token("olga@other.test").await;
    assert_eq!(w.changes(&olga, "", None).await.jobs.len(), 4);
}

#[tokio::test]
async fn unassigning_emits_a_removal_and_reassigning_brings_the_job_back() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let provider = w.token("provider@demo.test").await;
    let job = w.seed.autotech_job_ids[5].clone();
    let c0 = w.changes(&anna, "", None).await.cursor;
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/jobs/{job}/unassign"),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str().unwrap()),
        (StatusCode::OK, "PENDING")
    );
    let c = w.changes(&anna, &c0, None).await;
    assert_eq!(c.removed.len(), 1);
    assert_eq!(
        (c.removed[0].job_id.as_str(), &c.removed[0].reason),
        (job.as_str(), &RemovalReason::Unassigned)
    );
    assert_eq!(
        rejected(&w.push_one(&anna, &job, Action::Claim).await),
        "UNASSIGNED"
    );
    // Assign again: the job entry wins over the older removal.
    let (s, _) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/jobs/{job}/assign"),
            Some(&provider),
            Some(json!({"company_id": w.seed.autotech_id})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let c = w.changes(&anna, &c0, None).await;
    assert!(c.removed.is_empty());
    assert_eq!(c.jobs.len(), 1);
}

#[tokio::test]
async fn deleting_the_company_removes_users_and_connections() {
    let w = world().await;
    let olga = w.token("olga@other.test").await;
    let admin = w.token("admin@other.test").await;
    let technician = w.token("anna@autotech.test").await;
    let (s, _) = w
        .call(
            Method::DELETE,
            "/api/v1/partner/company",
            Some(&technician),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w
        .call(
            Method::DELETE,
            "/api/v1/partner/company",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = w
        .call(Method::GET, "/api/v1/technician/changes", Some(&olga), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(w.login_full("olga@other.test", "demo", None).await.is_err());
    let provider = w.token("provider@demo.test").await;
    let (_, conns) = w
        .call(
            Method::GET,
            "/api/v1/provider/connections",
            Some(&provider),
            None,
        )
        .await;
    let other: Vec<_> = conns
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["company_id"] == w.seed.other_id.as_str())
        .collect();
    assert!(!other.is_empty());
    assert!(other.iter().all(|c| c["status"] == "DELETED"));
    for id in &w.seed.other_job_ids {
        assert_eq!(w.cloud.job(id).unwrap().job.status, JobStatus::Pending);
    }
}

#[tokio::test]
async fn other_companies_and_providers_are_walled_off() {
    let w = world().await;
    let olga = w.token("olga@other.test").await;
    let c = w.changes(&olga, "", None).await;
    assert_eq!(c.jobs.len(), 4);
    assert!(c.jobs.iter().all(|j| w.seed.other_job_ids.contains(&j.id)));
    let autotech_job = &w.seed.autotech_job_ids[0];
    assert_eq!(
        rejected(&w.push_one(&olga, autotech_job, Action::Claim).await),
        "NOT_FOUND"
    );
    assert_eq!(
        rejected(&w.push_one(&olga, autotech_job, Action::TakeOver).await),
        "NOT_FOUND"
    );
    assert_eq!(
        w.cloud.job(autotech_job).unwrap().job.status,
        JobStatus::Assigned
    );
    // Technicians cannot use partner or provider APIs.
    let (s, _) = w
        .call(Method::GET, "/api/v1/partner/users", Some(&olga), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w
        .call(Method::GET, "/api/v1/provider/jobs", Some(&olga), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A second provider cannot read or touch the first one's jobs.
    let p2 = w.cloud.create_provider("Rival Rides").unwrap();
    w.cloud
        .create_provider_user(&p2, "rival@rival.test", "Rita", "pw")
        .unwrap();
    let rival = w
        .login_full("rival@rival.test", "pw", None)
        .await
        .unwrap()
        .access_token;
    let (s, _) = w
        .call(
            Method::GET,
            &format!("/api/v1/provider/jobs/{autotech_job}"),
            Some(&rival),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/jobs/{}/unassign", autotech_job),
            Some(&rival),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = w
        .call(Method::GET, "/api/v1/provider/jobs", Some(&rival), None)
        .await;
    assert_eq!((s, v.as_array().unwrap().len()), (StatusCode::OK, 0));
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/provider/jobs/nope",
            Some(&rival),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Partner admins manage only their own company.
    let admin = w.token("admin@other.test").await;
    let (s, users) = w
        .call(Method::GET, "/api/v1/partner/users", Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(users
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["company_id"] == w.seed.other_id.as_str()));
}

#[tokio::test]
async fn partner_users_and_settings() {
    let w = world().await;
    let admin = w.token("admin@autotech.test").await;
    let (s, u) = w
        .call(Method::POST, "/api/v1/partner/users", Some(&admin), Some(json!({"email": "carla@autotech.test", "name": "Carla", "role": "TECHNICIAN", "password": "pw"})))
        .await;
    assert_eq!(
        (s, u["role"].as_str().unwrap()),
        (StatusCode::CREATED, "TECHNICIAN")
    );
    let (s, _) = w
        .call(Method::POST, "/api/v1/partner/users", Some(&admin), Some(json!({"email": "carla@autotech.test", "name": "Carla", "role": "TECHNICIAN", "password": "pw"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = w
        .call(Method::POST, "/api/v1/partner/users", Some(&admin), Some(json!({"email": "x@autotech.test", "name": "X", "role": "PROVIDER", "password": "pw"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let carla = w
        .login_full("carla@autotech.test", "pw", None)
        .await
        .unwrap()
        .access_token;
    assert_eq!(w.changes(&carla, "", None).await.jobs.len(), 26);
    let (s, list) = w
        .call(Method::GET, "/api/v1/partner/users", Some(&admin), None)
        .await;
    assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 4));
    let (s, v) = w
        .call(
            Method::PUT,
            "/api/v1/partner/settings",
            Some(&admin),
            Some(json!({"language": "de", "notify": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = w
        .call(Method::GET, "/api/v1/partner/settings", Some(&admin), None)
        .await;
    assert_eq!(v, json!({"language": "de", "notify": true}));
}

#[tokio::test]
async fn provider_jobs_lock_after_assignment() {
    let w = world().await;
    let provider = w.token("provider@demo.test").await;
    let (s, j) = w
        .call(Method::POST, "/api/v1/provider/jobs", Some(&provider), Some(json!({"fleet_id": w.seed.berlin_fleet_id, "kind": "MAINTENANCE", "license_plate": "B-SC 9000", "vehicle_tests_required": true})))
        .await;
    assert_eq!(
        (s, j["status"].as_str().unwrap()),
        (StatusCode::CREATED, "PENDING")
    );
    let id = j["id"].as_str().unwrap().to_owned();
    let (s, j) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            Some(json!({"instructions": "Bay 3", "license_plate": null})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(
        (
            j["instructions"].as_str(),
            j["license_plate"].is_null(),
            j["version"].as_i64()
        ),
        (Some("Bay 3"), true, Some(2))
    );
    let (s, _) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            Some(json!({"vin": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/jobs/{id}/assign"),
            Some(&provider),
            Some(json!({"company_id": w.seed.autotech_id})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            Some(json!({"instructions": "x"})),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "job_locked")
    );
    let (s, v) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/provider/jobs/{id}"),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "job_locked")
    );
    // A PENDING one can be deleted.
    let pending = &w.seed.pending_job_ids[0];
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/provider/jobs/{pending}"),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = w
        .call(
            Method::GET,
            &format!("/api/v1/provider/jobs/{pending}"),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Filters.
    let (_, v) = w
        .call(
            Method::GET,
            &format!(
                "/api/v1/provider/jobs?status=ASSIGNED&company_id={}",
                w.seed.other_id
            ),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 4);
    let listed = w
        .cloud
        .list_jobs(
            &w.seed.provider_id,
            &JobFilter {
                status: Some(JobStatus::Pending),
                ..JobFilter::default()
            },
        )
        .unwrap();
    assert_eq!(listed.len(), 5);
}

/// Rows in the columns of the first version of the import (still a valid
/// header: any subset of the columns in any order is).
fn csv_rows(n: usize, company: Option<&str>) -> String {
    let mut s = String::from("license_plate,vin,custom_name,vehicle_model_id,installation_variant,central_lock_connection_type,fuel_type,instructions,assigned_installer_company_id");
    s.push('\n');
    for i in 0..n {
        s.push_str(&format!(
            "B-IM {i},WVWZZZE1ZMP{i:06},Import {i},vw-id3,STANDARD,SKM,ELECTRIC,\"Level -1, bay {i}\",{}\n",
            company.unwrap_or("")
        ));
    }
    s
}

#[tokio::test]
async fn csv_import_takes_1000_rows_all_or_nothing() {
    let w = world().await;
    let provider = w.token("provider@demo.test").await;
    let url = w.url(&format!(
        "/api/v1/provider/jobs/import?fleet_id={}&kind=INSTALLATION",
        w.seed.berlin_fleet_id
    ));
    let post = |body: String| {
        w.http
            .post(url.clone())
            .bearer_auth(&provider)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let before = w.cloud.count_rows("jobs").unwrap();
    let resp = post(csv_rows(1001, None)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "too_many_items"
    );
    // A bad row spoils the whole import and is named.
    let mut bad = csv_rows(5, None);
    bad = bad.replace("WVWZZZE1ZMP000003", "TOO-SHORT");
    let resp = post(bad).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let msg = resp.json::<serde_json::Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("row 4"), "{msg}");
    // Assignment to a company without a connection to the fleet fails.
    let resp = post(csv_rows(2, Some(&w.seed.other_id))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(w.cloud.count_rows("jobs").unwrap(), before);
    // Wrong header.
    let resp = post("plate,vin\nB-X 1,\n".into()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let started = std::time::Instant::now();
    let resp = post(csv_rows(1000, Some(&w.seed.autotech_id)))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["created"], 1000);
    assert!(started.elapsed().as_secs() < 10);
    assert_eq!(w.cloud.count_rows("jobs").unwrap(), before + 1000);
    let first = &v["jobs"][0];
    assert_eq!(
        (
            first["status"].as_str(),
            first["central_lock_connection_type"].as_str(),
            first["vehicle_model"]["name"].as_str()
        ),
        (Some("ASSIGNED"), Some("SKM"), Some("Volkswagen ID.3"))
    );
    let anna = w.token("anna@autotech.test").await;
    assert_eq!(w.changes(&anna, "", None).await.jobs.len(), 1026);
}

#[tokio::test]
async fn faults_fail_and_drop_responses_after_commit() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    w.cloud.reset_stats();
    w.cloud.set_faults(FaultConfig {
        fail_next: 1,
        ..FaultConfig::default()
    });
    let (s, v) = w
        .call(Method::GET, "/api/v1/technician/changes", Some(&anna), None)
        .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let (s, _) = w
        .call(Method::GET, "/api/v1/technician/changes", Some(&anna), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    // Drop the response of a committed push; the retry with the same key gets the first result.
    let job = &w.seed.autotech_job_ids[0];
    let claim = act(job, Action::Claim);
    w.cloud.set_faults(FaultConfig {
        drop_response_next: 1,
        ..FaultConfig::default()
    });
    let body = json!({"actions": [claim.clone()]});
    let sent = w
        .http
        .post(w.url("/api/v1/technician/actions"))
        .bearer_auth(&anna)
        .json(&body)
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a transport error");
    let committed = w.cloud.job(job).unwrap().job;
    assert_eq!(committed.status, JobStatus::Running);
    let retry = w.push(&anna, vec![claim]).await;
    assert_eq!(applied(&retry[0]).version, committed.version);

    // Reset before handling: nothing is applied.
    let other = &w.seed.autotech_job_ids[1];
    w.cloud.set_faults(FaultConfig {
        reset_next: 1,
        ..FaultConfig::default()
    });
    let body = json!({"actions": [act(other, Action::Claim)]});
    let sent = w
        .http
        .post(w.url("/api/v1/technician/actions"))
        .bearer_auth(&anna)
        .json(&body)
        .send()
        .await;
    assert!(match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    });
    assert_eq!(w.cloud.job(other).unwrap().job.status, JobStatus::Assigned);

    // Seeded rates are deterministic; provider routes are never faulted.
    w.cloud.set_faults(FaultConfig {
        error_rate: 1.0,
        seed: Some(7),
        ..FaultConfig::default()
    });
    let provider = w.token_result("provider@demo.test").await;
    assert!(provider.is_err());
    w.cloud.set_faults(FaultConfig::default());
    let stats = w.cloud.stats();
    assert!(
        stats.actions >= 3 && stats.changes == 2 && stats.login >= 1,
        "{stats:?}"
    );

    // Over HTTP too.
    let (s, _) = w
        .call(
            Method::POST,
            "/_sim/faults",
            None,
            Some(json!({"fail_next": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(w.cloud.faults().fail_next, 2);
    let (s, v) = w.call(Method::GET, "/_sim/stats", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["total"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn openapi_document_is_served() {
    let w = world().await;
    let (s, v) = w.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.0.3");
    let (s, v) = w.call(Method::GET, "/api/v1/unknown", None, None).await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test]
async fn in_process_helpers_match_the_api() {
    let w = world().await;
    let p = &w.seed.provider_id;
    let j = w
        .cloud
        .create_job(
            p,
            NewJob {
                fleet_id: w.seed.berlin_fleet_id.clone(),
                ..NewJob::default()
            },
        )
        .unwrap();
    w.cloud
        .assign_job(p, &j.job.id, &w.seed.autotech_id)
        .unwrap();
    let anna = w.cloud.user_by_email("anna@autotech.test").unwrap();
    let c = w.cloud.changes(&anna, None, None).unwrap();
    assert_eq!(c.jobs.len(), 27);
    w.cloud.unassign_job(p, &j.job.id).unwrap();
    w.cloud.delete_job(p, &j.job.id).unwrap();
    let c2 = w.cloud.changes(&anna, Some(&c.cursor), None).unwrap();
    assert!(c2
        .removed
        .iter()
        .any(|r| r.job_id == j.job.id && r.reason == RemovalReason::Deleted));
}
