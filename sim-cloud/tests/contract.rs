//! The cloud contract (issue 11): refused idempotency key reuse, validated
//! `performed_at` and parameters, `ApiError` JSON for every error, CSV
//! content type, the simulated clock and provider creation over HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use smartcontrol_cloud_api::{Action, ActionOutcome, JobStatus, PushActionsRequest};

/// Asserts an `ApiError` JSON answer with `status` and `code`.
async fn assert_api_error(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "{ct}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}

#[tokio::test]
async fn a_reused_idempotency_key_with_another_action_is_refused() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let job = &w.seed.autotech_job_ids[0];
    let claim = act(job, Action::Claim);
    let first = w.push(&anna, vec![claim.clone()]).await;
    applied(&first[0]);
    // The same key and payload: the stored result.
    assert_eq!(w.push(&anna, vec![claim.clone()]).await, first);
    // The same key with another action: refused, nothing applied.
    let mut withdraw = act(job, Action::Withdraw);
    withdraw.idempotency_key = claim.idempotency_key.clone();
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/technician/actions",
            Some(&anna),
            Some(
                serde_json::to_value(PushActionsRequest {
                    actions: vec![withdraw],
                })
                .unwrap(),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "idempotency_key_reused", "{v}");
    assert_eq!(w.cloud.job(job).unwrap().job.status, JobStatus::Running);
}

#[tokio::test]
async fn performed_at_must_be_rfc3339_and_in_range() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let job = &w.seed.autotech_job_ids[0];
    applied(&w.push_one(&anna, job, Action::Claim).await);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for bad in [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2019-12-31T23:59:59Z",
        &future,
    ] {
        let mut a = act(job, Action::StartInstallation);
        a.performed_at = bad.to_owned();
        let r = w.push(&anna, vec![a]).await.pop().unwrap();
        match &r.outcome {
            ActionOutcome::Rejected {
                reason, message, ..
            } => {
                assert_eq!(reason.as_str(), "INVALID", "{bad}");
                assert!(message.contains("performed_at"), "{message}");
            }
            other => panic!("{bad}: expected REJECTED, got {other:?}"),
        }
        assert_eq!(w.cloud.job(job).unwrap().job.installation_started_at, None);
    }
    let started = applied(&w.push_one(&anna, job, Action::StartInstallation).await).clone();
    assert!(started.installation_started_at.is_some());
}

#[tokio::test]
async fn every_error_is_an_api_error_json() {
    let w = world().await;
    let provider = w.token("provider@demo.test").await;
    let anna = w.token("anna@autotech.test").await;
    // Unknown route and method.
    let r = w.http.get(w.url("/no/such/route")).send().await.unwrap();
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = w
        .http
        .put(w.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    // Malformed JSON, missing content type, wrong JSON shape.
    let login = w.url("/api/v1/auth/login");
    let r = w
        .http
        .post(&login)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = w.http.post(&login).body("{}").send().await.unwrap();
    assert_api_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = w
        .http
        .post(&login)
        .json(&json!({"email": 1}))
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    // Invalid UTF-8 bodies.
    let r = w
        .http
        .post(w.url(&format!(
            "/api/v1/provider/jobs/import?fleet_id={}",
            w.seed.berlin_fleet_id
        )))
        .bearer_auth(&provider)
        .header("content-type", "text/csv")
        .body(vec![0xff, 0xfe, b'\n'])
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = w
        .http
        .post(w.url("/api/v1/technician/actions"))
        .bearer_auth(&anna)
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, b'}'])
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    // A path parameter that is not UTF-8.
    let r = w
        .http
        .get(w.url("/api/v1/provider/jobs/%FF%FE"))
        .bearer_auth(&provider)
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    // A body over the size limit.
    let big = vec![b' '; smartcontrol_sim_cloud::http::MAX_BODY_BYTES + 1024];
    let r = w
        .http
        .post(w.url("/api/v1/technician/actions"))
        .bearer_auth(&anna)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn csv_import_requires_text_csv() {
    let w = world().await;
    let provider = w.token("provider@demo.test").await;
    let url = w.url(&format!(
        "/api/v1/provider/jobs/import?fleet_id={}&kind=INSTALLATION",
        w.seed.berlin_fleet_id
    ));
    let csv = "license_plate,custom_name\nB-XY 1,Contract\n".to_owned();
    let before = w.cloud.count_rows("jobs").unwrap();
    for ct in [None, Some("application/json"), Some("text/plain")] {
        let mut rb = w.http.post(&url).bearer_auth(&provider).body(csv.clone());
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let r = rb.send().await.unwrap();
        assert_api_error(
            r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    assert_eq!(w.cloud.count_rows("jobs").unwrap(), before);
    let r = w
        .http
        .post(&url)
        .bearer_auth(&provider)
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
}

#[tokio::test]
async fn a_missing_comment_is_a_per_action_rejection() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    let job = &w.seed.autotech_job_ids[0];
    let other = &w.seed.autotech_job_ids[1];
    let claim = act(other, Action::Claim);
    let mut fail = serde_json::to_value(act(job, Action::Claim)).unwrap();
    fail["action"] = json!({"type": "COMPLETE_FAILED"});
    let mut site = serde_json::to_value(act(job, Action::Claim)).unwrap();
    site["action"] = json!({"type": "ENTER_SITE_DATA"});
    let body = json!({"actions": [serde_json::to_value(&claim).unwrap(), fail, site]});
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/technician/actions",
            Some(&anna),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["outcome"], "APPLIED", "{v}");
    assert_eq!(v["results"][1]["outcome"], "REJECTED", "{v}");
    assert_eq!(v["results"][1]["reason"], "INVALID", "{v}");
    assert_eq!(v["results"][2]["outcome"], "REJECTED", "{v}");
}

#[tokio::test]
async fn out_of_range_parameters_are_refused() {
    let w = world().await;
    let anna = w.token("anna@autotech.test").await;
    for q in [
        "limit=0",
        "limit=10001",
        "limit=-1",
        "since=-1",
        "since=abc",
    ] {
        let r = w
            .http
            .get(w.url(&format!("/api/v1/technician/changes?{q}")))
            .bearer_auth(&anna)
            .send()
            .await
            .unwrap();
        let v = assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
        let field = q.split('=').next().unwrap();
        assert!(v["message"].as_str().unwrap().contains(field), "{v}");
    }
    let mut a = serde_json::to_value(act(&w.seed.autotech_job_ids[0], Action::Claim)).unwrap();
    a["base_version"] = json!(-1);
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/technician/actions",
            Some(&anna),
            Some(json!({"actions": [a]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("base_version"),
        "{v}"
    );
    for bad in [
        json!({"error_rate": 1.5}),
        json!({"reset_rate": -0.1}),
        json!({"drop_response_rate": 2}),
        json!({"latency_ms": 3_600_000}),
        json!({"fail_next": 1_000_000}),
    ] {
        let (s, v) = w
            .call(Method::POST, "/_sim/faults", None, Some(bad.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["error"], "bad_request");
    }
    assert_eq!(
        w.cloud.faults(),
        smartcontrol_sim_cloud::FaultConfig::default()
    );
}

#[tokio::test]
async fn the_openapi_document_matches_what_is_served() {
    let doc: Value = serde_json::from_str(smartcontrol_sim_cloud::http::OPENAPI_JSON).unwrap();
    let s = &doc["components"]["schemas"];
    for field in [
        "installation_variant",
        "central_lock_connection_type",
        "fuel_type",
    ] {
        assert_eq!(
            s["Job"]["properties"][field]["nullable"], true,
            "Job.{field}"
        );
    }
    let changes = &doc["paths"]["/api/v1/technician/changes"]["get"]["parameters"];
    let limit = changes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 10000);
    assert_eq!(
        s["ActionRequest"]["properties"]["base_version"]["minimum"],
        0
    );
    assert_eq!(s["FaultConfig"]["properties"]["error_rate"]["maximum"], 1);
    // Every operation with a body or parameters documents its 400.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (m, op) in ops.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                assert!(op["responses"].get("400").is_some(), "{m} {path} lacks 400");
            }
        }
    }
    // A job without those values serves null where the schema allows it.
    let w = world().await;
    let provider = w.token("provider@demo.test").await;
    let (st, v) = w
        .call(Method::GET, "/api/v1/provider/jobs", Some(&provider), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["installation_variant"].is_null()));
}

#[tokio::test]
async fn the_simulated_clock_is_driven_over_http() {
    let w = world().await;
    let (s, v) = w.call(Method::GET, "/_sim/clock", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["offset_secs"], 0);
    let (s, v) = w
        .call(
            Method::POST,
            "/_sim/clock",
            None,
            Some(json!({"advance_secs": 86400})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let off = v["offset_secs"].as_i64().unwrap();
    assert!((86399..=86401).contains(&off), "{v}");
    assert!((w.cloud.now() - chrono::Utc::now()).num_seconds() >= 86399);
    let (s, v) = w
        .call(
            Method::POST,
            "/_sim/clock",
            None,
            Some(json!({"now": "2027-03-01T12:00:00Z"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let set = chrono::DateTime::parse_from_rfc3339(v["now"].as_str().unwrap()).unwrap();
    let want = chrono::DateTime::parse_from_rfc3339("2027-03-01T12:00:00Z").unwrap();
    assert!((set - want).num_seconds().abs() <= 2, "{v}");
    for bad in [
        json!({}),
        json!({"now": "soon"}),
        json!({"advance_secs": 1, "now": "2027-03-01T12:00:00Z"}),
        json!({"advance_secs": 1_000_000_000_000i64}),
    ] {
        let (s, v) = w
            .call(Method::POST, "/_sim/clock", None, Some(bad.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
}

#[tokio::test]
async fn a_provider_is_created_over_http_and_can_sign_in() {
    let w = world().await;
    let body = json!({"name": "QA Mobility", "email": "qa@provider.test", "password": "pw"});
    let (s, v) = w
        .call(Method::POST, "/_sim/providers", None, Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["user"]["role"], "PROVIDER");
    let (s, v) = w
        .call(Method::POST, "/_sim/providers", None, Some(body))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = w
        .call(
            Method::POST,
            "/_sim/providers",
            None,
            Some(json!({"name": " ", "email": "x@y.test", "password": "pw"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let t = w.login_full("qa@provider.test", "pw", None).await.unwrap();
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/provider/fleets",
            Some(&t.access_token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!([]));
}

#[tokio::test]
async fn a_provider_created_with_fleets_reaches_a_partner_technician_over_http() {
    let w = world().await;
    let body = json!({
        "name": "Second Mobility", "email": "qa2@provider.test", "password": "pw",
        "fleets": ["Munich Fleet", "Cologne Fleet"],
    });
    let (s, v) = w
        .call(Method::POST, "/_sim/providers", None, Some(body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let fleets = v["fleets"].as_array().unwrap();
    assert_eq!(fleets.len(), 2, "{v}");
    assert_eq!(fleets[0]["name"], "Munich Fleet");
    assert_eq!(fleets[1]["name"], "Cologne Fleet");
    assert_eq!(fleets[0]["provider_id"], v["provider_id"]);
    assert_eq!(fleets[0]["public_key"].as_str().unwrap().len(), 64, "{v}");
    assert_ne!(fleets[0]["public_key"], fleets[1]["public_key"]);
    let munich = fleets[0]["id"].as_str().unwrap().to_owned();
    // A blank or repeated fleet name is refused, and nothing is created.
    for bad in [json!([" "]), json!(["A", "A"])] {
        let (s, v) = w
            .call(
                Method::POST,
                "/_sim/providers",
                None,
                Some(json!({"name": "Bad", "email": "bad@provider.test", "password": "pw", "fleets": bad})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("fleets[0]")
                || v["message"].as_str().unwrap().contains("fleets[1]"),
            "{v}"
        );
    }
    assert!(w.login_full("bad@provider.test", "pw", None).await.is_err());

    // Its provider sees the fleets, invites the demo partner, the partner's admin accepts, and a job assigned
    // to the partner reaches the partner's technician with the new provider's name.
    let p = w
        .login_full("qa2@provider.test", "pw", None)
        .await
        .unwrap()
        .access_token;
    let (s, v) = w
        .call(Method::GET, "/api/v1/provider/fleets", Some(&p), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    let (s, c) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/fleets/{munich}/invitations"),
            Some(&p),
            Some(json!({"company_id": w.seed.autotech_id})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let admin = w.token("admin@autotech.test").await;
    let (s, v) = w
        .call(
            Method::POST,
            &format!(
                "/api/v1/partner/connections/{}/accept",
                c["id"].as_str().unwrap()
            ),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, job) = w
        .call(
            Method::POST,
            "/api/v1/provider/jobs",
            Some(&p),
            Some(json!({"fleet_id": munich, "license_plate": "M-SM 1", "assigned_company_id": w.seed.autotech_id})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "ASSIGNED", "{job}");
    let anna = w.token("anna@autotech.test").await;
    let page = w.changes(&anna, "", None).await;
    let seen = page
        .jobs
        .iter()
        .find(|j| j.id == job["id"].as_str().unwrap())
        .expect("the new provider's job in the technician's changes");
    assert_eq!(seen.provider_name, "Second Mobility");
    assert_eq!(seen.fleet_name, "Munich Fleet");
}

#[tokio::test]
async fn company_settings_are_validated_and_the_display_name_is_what_providers_see() {
    let w = world().await;
    let admin = w.token("admin@autotech.test").await;
    let provider = w.token("provider@demo.test").await;
    for bad in [
        json!({"display_name": "  "}),
        json!({"display_name": "x".repeat(101)}),
        json!({"display_name": 7}),
        json!({"contact_email": "nobody"}),
        json!({"phone": "call me"}),
        json!(["not", "an", "object"]),
    ] {
        let (s, v) = w
            .call(
                Method::PUT,
                "/api/v1/partner/settings",
                Some(&admin),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let good = json!({"display_name": " AutoTech Berlin ", "contact_email": "ops@autotech.test", "phone": "+49 30 1234-56", "language": "de"});
    let (s, v) = w
        .call(
            Method::PUT,
            "/api/v1/partner/settings",
            Some(&admin),
            Some(good),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/provider/connections",
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["company_id"] == w.seed.autotech_id.as_str())
        .map(|c| c["company_name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| *n == "AutoTech Berlin"), "{names:?}");
}
