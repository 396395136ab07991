//! Partner onboarding and user management by e-mail, over HTTP through the
//! real router: invitations, the simulated outbox (`GET /_sim/emails`),
//! "Complete Registration", the 7-day expiry on the simulated clock,
//! declined and used links, editing and removing users.
#![allow(clippy::unwrap_used)]

mod common;

use common::{world, World};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use smartcontrol_cloud_api::{Action, JobStatus};

const PASSWORD: &str = "s3cret-pass";

/// The last e-mail sent to `to` (through `GET /_sim/emails?to=`).
async fn last_email(w: &World, to: &str) -> Value {
    let (s, v) = w
        .call(Method::GET, &format!("/_sim/emails?to={to}"), None, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no e-mail to {to}: {v}"))
}

async fn invite_partner(
    w: &World,
    provider: &str,
    fleet: &str,
    email: &str,
) -> (StatusCode, Value) {
    w.call(
        Method::POST,
        &format!("/api/v1/provider/fleets/{fleet}/partner-invitations"),
        Some(provider),
        Some(json!({"email": email, "company_name": "Fresh Installers"})),
    )
    .await
}

async fn complete(w: &World, token: &str, body: Value) -> (StatusCode, Value) {
    w.call(
        Method::POST,
        &format!("/api/v1/registrations/{token}/complete"),
        None,
        Some(body),
    )
    .await
}

async fn decline(w: &World, token: &str) -> (StatusCode, Value) {
    w.call(
        Method::POST,
        &format!("/api/v1/registrations/{token}/decline"),
        None,
        None,
    )
    .await
}

fn partner_details() -> Value {
    json!({
        "password": PASSWORD,
        "name": "Fiona Fresh",
        "company": {"display_name": "Fresh Installers GmbH", "contact_email": "office@fresh.test", "phone": "+49 30 1234"}
    })
}

async fn login(w: &World, email: &str, password: &str) -> Result<String, (StatusCode, String)> {
    w.login_full(email, password, None)
        .await
        .map(|t| t.access_token)
        .map_err(|(s, e)| (s, e.error))
}

/// Invites a partner and registers it; returns (admin token, company id).
async fn register_partner(w: &World, provider: &str, fleet: &str, email: &str) -> (String, String) {
    let (s, v) = invite_partner(w, provider, fleet, email).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = last_email(w, email).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = complete(w, &token, partner_details()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let company = v["user"]["company_id"].as_str().unwrap().to_owned();
    (login(w, email, PASSWORD).await.unwrap(), company)
}

#[tokio::test]
async fn a_partner_invited_by_email_completes_registration_and_signs_in() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let fleet = w.seed.berlin_fleet_id.clone();
    let email = "fiona@fresh.test";

    let (s, inv) = invite_partner(&w, &provider, &fleet, email).await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["status"], "PENDING");
    assert_eq!(inv["kind"], "PARTNER");
    assert_eq!(inv["role"], "ADMIN");
    assert!(
        inv.get("token").is_none(),
        "the token travels only by e-mail: {inv}"
    );
    // Nobody can sign in yet.
    assert_eq!(
        login(&w, email, PASSWORD).await.unwrap_err().1,
        "invalid_credentials"
    );

    // The "sent" e-mail carries the link.
    let mail = last_email(&w, email).await;
    assert_eq!(mail["to"], email);
    assert_eq!(mail["invitation_id"], inv["id"]);
    let token = mail["token"].as_str().unwrap().to_owned();
    assert!(mail["body"].as_str().unwrap().contains(&token), "{mail}");
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .contains("Shared Mobility"),
        "{mail}"
    );
    assert_eq!(mail["link"], format!("/api/v1/registrations/{token}"));

    // The registration page shows what the invitation is for.
    let (s, page) = w
        .call(
            Method::GET,
            &format!("/api/v1/registrations/{token}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["fleet_id"], fleet.as_str());
    assert_eq!(page["email"], email);
    assert_eq!(page["company_name"], "Fresh Installers");

    // Complete Registration: password + company details.
    let (s, done) = complete(&w, &token, partner_details()).await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    assert_eq!(done["invitation"]["status"], "COMPLETED");
    assert_eq!(done["user"]["role"], "ADMIN");
    assert_eq!(done["user"]["name"], "Fiona Fresh");
    assert_eq!(done["connection"]["status"], "ACCEPTED");
    assert_eq!(done["connection"]["company_name"], "Fresh Installers GmbH");

    // Login works; the admin manages the company it registered.
    let admin = login(&w, email, PASSWORD).await.unwrap();
    let (s, settings) = w
        .call(Method::GET, "/api/v1/partner/settings", Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(settings["display_name"], "Fresh Installers GmbH");
    assert_eq!(settings["phone"], "+49 30 1234");
    // The provider sees the new partner on its fleet, by its display name.
    let (_, conns) = w
        .call(
            Method::GET,
            "/api/v1/provider/connections",
            Some(&provider),
            None,
        )
        .await;
    assert!(conns
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["company_name"] == "Fresh Installers GmbH"
            && c["status"] == "ACCEPTED"
            && c["fleet_id"] == fleet.as_str()));
    let (_, invs) = w
        .call(
            Method::GET,
            "/api/v1/provider/partner-invitations",
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(invs[0]["status"], "COMPLETED", "{invs}");

    // The link is spent: neither completing again nor declining works.
    let (s, v) = complete(&w, &token, partner_details()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_used"))
    );
    let (s, v) = decline(&w, &token).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_used"))
    );
    // The e-mail has an account now: a new invitation to it is refused.
    let (s, v) = invite_partner(&w, &provider, &fleet, email).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_registered"))
    );
}

#[tokio::test]
async fn an_invitation_expires_after_seven_days_on_the_simulated_clock() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let email = "late@fresh.test";
    let (s, _) = invite_partner(&w, &provider, &w.seed.berlin_fleet_id, email).await;
    assert_eq!(s, StatusCode::CREATED);
    let token = last_email(&w, email).await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A second invitation while the first is pending is refused.
    let (s, v) = invite_partner(&w, &provider, &w.seed.berlin_fleet_id, email).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_pending"))
    );

    // 6 days 23 hours later the link still works (checked without using it).
    let (s, _) = w
        .call(
            Method::POST,
            "/_sim/clock",
            None,
            Some(json!({"advance_secs": 7 * 24 * 3600 - 3600})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, page) = w
        .call(
            Method::GET,
            &format!("/api/v1/registrations/{token}"),
            None,
            None,
        )
        .await;
    assert_eq!(page["status"], "PENDING", "{page}");

    // Past 7 days: expired, for the page, for completing and for declining.
    let (s, _) = w
        .call(
            Method::POST,
            "/_sim/clock",
            None,
            Some(json!({"advance_secs": 3601})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, page) = w
        .call(
            Method::GET,
            &format!("/api/v1/registrations/{token}"),
            None,
            None,
        )
        .await;
    assert_eq!(page["status"], "EXPIRED", "{page}");
    let (s, v) = complete(&w, &token, partner_details()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::GONE, Some("invitation_expired")),
        "{v}"
    );
    let (s, v) = decline(&w, &token).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::GONE, Some("invitation_expired"))
    );
    assert!(login(&w, email, PASSWORD).await.is_err());

    // The provider (signed in again: a week passed) invites again (the
    // expired one no longer blocks); the new link works.
    let provider = w.token(&w.seed.provider_email).await;
    let (s, v) = invite_partner(&w, &provider, &w.seed.berlin_fleet_id, email).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let fresh = last_email(&w, email).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, token);
    let (s, v) = complete(&w, &fresh, partner_details()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(login(&w, email, PASSWORD).await.is_ok());
}

#[tokio::test]
async fn a_declined_invitation_is_final() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let email = "nope@fresh.test";
    let (s, _) = invite_partner(&w, &provider, &w.seed.berlin_fleet_id, email).await;
    assert_eq!(s, StatusCode::CREATED);
    let token = last_email(&w, email).await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (s, v) = decline(&w, &token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "DECLINED");
    // Declining again answers the same; completing is refused for good.
    let (s, v) = decline(&w, &token).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("DECLINED"))
    );
    let (s, v) = complete(&w, &token, partner_details()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_declined")),
        "{v}"
    );
    assert!(login(&w, email, PASSWORD).await.is_err());
    let (_, invs) = w
        .call(
            Method::GET,
            "/api/v1/provider/partner-invitations",
            Some(&provider),
            None,
        )
        .await;
    assert_eq!(invs[0]["status"], "DECLINED", "{invs}");

    // Only a new invitation (a new link) lets the partner register.
    let (s, _) = invite_partner(&w, &provider, &w.seed.berlin_fleet_id, email).await;
    assert_eq!(s, StatusCode::CREATED);
    let fresh = last_email(&w, email).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = complete(&w, &fresh, partner_details()).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = complete(&w, &token, partner_details()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_declined"))
    );
}

#[tokio::test]
async fn registration_validates_its_fields_and_unknown_links() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let fleet = w.seed.berlin_fleet_id.clone();
    for bad in ["", "no-at-sign", "a@b", "two words@x.test"] {
        let (s, v) = invite_partner(&w, &provider, &fleet, bad).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{bad:?}: {v}"
        );
    }
    // Another provider's fleet, an unknown fleet, a partner admin.
    let (s, _) = invite_partner(&w, &provider, "no-such-fleet", "x@fresh.test").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let admin = w.token(&w.seed.autotech_admin_email).await;
    let (s, v) = invite_partner(&w, &admin, &fleet, "x@fresh.test").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // An existing account cannot be invited as a new partner.
    let (s, v) = invite_partner(&w, &provider, &fleet, &w.seed.anna_email).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_registered"))
    );

    let email = "valid@fresh.test";
    let (s, _) = invite_partner(&w, &provider, &fleet, email).await;
    assert_eq!(s, StatusCode::CREATED);
    let token = last_email(&w, email).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            json!({"password": "short", "name": "F", "company": {"display_name": "X"}}),
            "password",
        ),
        (json!({"password": PASSWORD, "name": "F"}), "company"),
        (
            json!({"password": PASSWORD, "name": "F", "company": {"phone": "1"}}),
            "display_name",
        ),
        (
            json!({"password": PASSWORD, "name": "F", "company": {"display_name": "  "}}),
            "display_name",
        ),
        (
            json!({"password": PASSWORD, "name": "F", "company": {"display_name": "X", "contact_email": "nope"}}),
            "contact_email",
        ),
        (
            json!({"password": PASSWORD, "name": "F", "company": {"display_name": "X", "phone": "call me"}}),
            "phone",
        ),
        (
            json!({"password": PASSWORD, "name": "F", "company": "X"}),
            "object",
        ),
        (
            json!({"password": PASSWORD, "company": {"display_name": "X"}}),
            "name",
        ),
        (
            json!({"password": PASSWORD, "name": " ", "company": {"display_name": "X"}}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let (s, v) = complete(&w, &token, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"], "bad_request");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{body}: {v}"
        );
    }
    // None of them used the link.
    let (s, v) = complete(&w, &token, partner_details()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // Unknown links.
    for path in [
        "/api/v1/registrations/reg_unknown",
        "/api/v1/registrations/reg_unknown/decline",
    ] {
        let method = if path.ends_with("decline") {
            Method::POST
        } else {
            Method::GET
        };
        let (s, v) = w.call(method, path, None, None).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("invitation_not_found"))
        );
    }
    let (s, v) = complete(&w, "reg_unknown", partner_details()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("invitation_not_found"))
    );
}

#[tokio::test]
async fn a_partner_admin_invites_edits_and_removes_users() {
    let w = world().await;
    let provider = w.token(&w.seed.provider_email).await;
    let fleet = w.seed.berlin_fleet_id.clone();
    let (admin, company) = register_partner(&w, &provider, &fleet, "boss@fresh.test").await;

    // Invite a technician by e-mail with a role.
    let tech_email = "tom@fresh.test";
    let (s, inv) = w
        .call(
            Method::POST,
            "/api/v1/partner/invitations",
            Some(&admin),
            Some(json!({"email": tech_email, "role": "TECHNICIAN", "name": "Tom"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(
        (inv["kind"].as_str(), inv["role"].as_str()),
        (Some("USER"), Some("TECHNICIAN"))
    );
    assert_eq!(inv["company_name"], "Fresh Installers GmbH");
    let mail = last_email(&w, tech_email).await;
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .contains("Fresh Installers GmbH"),
        "{mail}"
    );
    assert!(
        mail["body"].as_str().unwrap().contains("a technician"),
        "{mail}"
    );
    let token = mail["token"].as_str().unwrap().to_owned();
    // A user's registration sets no company details.
    let (s, v) = complete(
        &w,
        &token,
        json!({"password": PASSWORD, "company": {"display_name": "Mine"}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, done) = complete(&w, &token, json!({"password": PASSWORD})).await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    assert_eq!(
        done["user"]["name"], "Tom",
        "the inviter's name is the default"
    );
    assert_eq!(done["user"]["company_id"], company.as_str());
    assert!(done["connection"].is_null());
    let tom_id = done["user"]["id"].as_str().unwrap().to_owned();
    let (s, v) = complete(&w, &token, json!({"password": PASSWORD})).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_used"))
    );

    // Tom works a job of the fleet his company registered for.
    let key = common::phone(7);
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": tech_email, "password": PASSWORD, "phone_public_key": common::hex(&key.public_key())})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let tom: smartcontrol_cloud_api::TokenResponse = serde_json::from_value(v).unwrap();
    let job = w
        .seed
        .pending_job_ids
        .iter()
        .find(|id| {
            let j = w.cloud.job(id).unwrap().job;
            j.fleet_id == fleet && j.cloudboxx_serial.is_some()
        })
        .expect("a pending Berlin job with a CloudBoxx")
        .clone();
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/api/v1/provider/jobs/{job}/assign"),
            Some(&provider),
            Some(json!({"company_id": company})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let grant = common::grant_of(&w.push_one(&tom.access_token, &job, Action::Claim).await);

    // Invitations are listed; a second one to the same e-mail is refused;
    // a role other than TECHNICIAN/ADMIN is refused.
    let (_, list) = w
        .call(
            Method::GET,
            "/api/v1/partner/invitations",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(list[0]["status"], "COMPLETED", "{list}");
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/partner/invitations",
            Some(&admin),
            Some(json!({"email": tech_email, "role": "ADMIN"})),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_registered"))
    );
    let (s, _) = w
        .call(
            Method::POST,
            "/api/v1/partner/invitations",
            Some(&admin),
            Some(json!({"email": "p@fresh.test", "role": "PROVIDER"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Technicians cannot invite.
    let (s, _) = w
        .call(
            Method::POST,
            "/api/v1/partner/invitations",
            Some(&tom.access_token),
            Some(json!({"email": "q@fresh.test", "role": "TECHNICIAN"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Edit: name applies at once; the role not while Tom runs a job.
    let user_path = format!("/api/v1/partner/users/{tom_id}");
    let (s, v) = w
        .call(
            Method::PATCH,
            &user_path,
            Some(&admin),
            Some(json!({"name": "Tom T."})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["name"].as_str(), v["role"].as_str()),
        (Some("Tom T."), Some("TECHNICIAN"))
    );
    let (s, v) = w
        .call(
            Method::PATCH,
            &user_path,
            Some(&admin),
            Some(json!({"role": "ADMIN"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("running 1 job"),
        "{v}"
    );
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"role": "PROVIDER"}),
        json!({"nick": "x"}),
    ] {
        let (s, v) = w
            .call(Method::PATCH, &user_path, Some(&admin), Some(bad.clone()))
            .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{bad}: {v}"
        );
    }
    // Another company's user, and the admin's own role.
    let (s, _) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/partner/users/{}", w.seed.anna_id),
            Some(&admin),
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let boss_id = w.cloud.user_by_email("boss@fresh.test").unwrap().id;
    let (s, _) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/partner/users/{boss_id}"),
            Some(&admin),
            Some(json!({"role": "TECHNICIAN"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Remove Tom: his sessions end with account_removed, his job returns
    // to the company's Available Jobs and his grants are revoked.
    let (s, _) = w.call(Method::DELETE, &user_path, Some(&admin), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/technician/changes",
            Some(&tom.access_token),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("account_removed"))
    );
    assert_eq!(w.cloud.job(&job).unwrap().job.status, JobStatus::Assigned);
    let grants = w.cloud.grants_for_job(&job).unwrap();
    let tom_grant = grants
        .iter()
        .find(|g| g.grant_id == grant.grant_id)
        .expect("Tom's grant is recorded");
    assert_eq!(tom_grant.revoked_reason.as_deref(), Some("ACCOUNT_REMOVED"));
    let (_, users) = w
        .call(Method::GET, "/api/v1/partner/users", Some(&admin), None)
        .await;
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
}

#[tokio::test]
async fn an_invited_admin_can_change_roles_and_a_technician_becomes_admin() {
    let w = world().await;
    let admin = w.token(&w.seed.autotech_admin_email).await;
    let email = "second-admin@autotech.test";
    let (s, _) = w
        .call(
            Method::POST,
            "/api/v1/partner/invitations",
            Some(&admin),
            Some(json!({"email": email, "role": "ADMIN"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let token = last_email(&w, email).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last_email(&w, email).await["body"]
        .as_str()
        .unwrap()
        .contains("an admin"));
    let (s, v) = complete(&w, &token, json!({"password": PASSWORD})).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "no name given or suggested: {v}"
    );
    let (s, v) = complete(&w, &token, json!({"password": PASSWORD, "name": "Sam"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let second = login(&w, email, PASSWORD).await.unwrap();
    let (s, _) = w
        .call(Method::GET, "/api/v1/partner/users", Some(&second), None)
        .await;
    assert_eq!(s, StatusCode::OK, "an invited ADMIN manages the company");

    // Ben (no running job in the demo) becomes an admin; the change applies
    // to his open session at once.
    let ben = w.ben().await;
    let (s, v) = w
        .call(
            Method::PATCH,
            &format!("/api/v1/partner/users/{}", w.seed.ben_id),
            Some(&second),
            Some(json!({"role": "ADMIN"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["totp_enabled"], true);
    let (s, _) = w
        .call(Method::GET, "/api/v1/partner/users", Some(&ben), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = w
        .call(Method::GET, "/api/v1/technician/changes", Some(&ben), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
