//! Onboarding by e-mail, as the product documents it: a provider invites a
//! service partner (that has no account yet) to a fleet, a partner admin
//! invites users with a role; each invitation "sends" an e-mail with a
//! token (recorded in the outbox, `GET /_sim/emails`, and logged), and
//! "Complete Registration" with the token sets the password (and, for a
//! partner, the company details). Links expire after
//! [`INVITATION_TTL_SECS`] by the simulated clock; a declined invitation is
//! final and a completed one cannot be used again: either needs a new
//! invitation. Editing users lives here too; removing them is
//! [`SimAdmin::remove_company_user`].

use rusqlite::{params, Connection as Db, OptionalExtension};

use super::auth::insert_user;
use super::orgs::{
    check_fleet_owner, check_settings, is_email, load_connection, INVITATION_TTL_SECS,
};
use super::{new_id, rfc3339, rfc3339_ts, SimAdmin};
use crate::error::{SimError, SimResult};
use crate::model::{
    CompleteRegistration, Connection, Invitation, InvitationKind, InvitationStatus,
    NewPartnerInvitation, NewUserInvitation, RegistrationResult, Role, SentEmail, UserPatch,
    UserSummary,
};

/// Shortest and longest password a registration accepts.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=200;
/// Longest display name of a person.
pub const MAX_PERSON_NAME_CHARS: usize = 100;

const INVITATION_SELECT: &str = "SELECT i.id, i.kind, i.email, i.role, i.name, i.status, \
     i.provider_id, p.name, i.fleet_id, f.name, i.company_id, COALESCE(c.name, i.company_name), \
     i.invited_at, i.expires_at, i.responded_at, i.user_id \
     FROM invitations i LEFT JOIN providers p ON p.id = i.provider_id \
     LEFT JOIN fleets f ON f.id = i.fleet_id LEFT JOIN companies c ON c.id = i.company_id";

/// An invitation row with its stored (not computed) state and expiry.
struct Row {
    view: Invitation,
    stored: InvitationStatus,
    expires_at: i64,
}

fn read_row(r: &rusqlite::Row<'_>, now: i64) -> rusqlite::Result<Row> {
    let kind: String = r.get(1)?;
    let role: String = r.get(3)?;
    let status: String = r.get(5)?;
    let stored = InvitationStatus::parse(&status).unwrap_or(InvitationStatus::Declined);
    let expires_at: i64 = r.get(13)?;
    let shown = if stored == InvitationStatus::Pending && expires_at <= now {
        InvitationStatus::Expired
    } else {
        stored
    };
    Ok(Row {
        view: Invitation {
            id: r.get(0)?,
            kind: InvitationKind::parse(&kind).unwrap_or(InvitationKind::User),
            email: r.get(2)?,
            role: Role::parse(&role).unwrap_or(Role::Technician),
            name: r.get(4)?,
            status: shown,
            provider_id: r.get(6)?,
            provider_name: r.get(7)?,
            fleet_id: r.get(8)?,
            fleet_name: r.get(9)?,
            company_id: r.get(10)?,
            company_name: r.get(11)?,
            invited_at: rfc3339_ts(r.get(12)?),
            expires_at: rfc3339_ts(expires_at),
            responded_at: r.get::<_, Option<i64>>(14)?.map(rfc3339_ts),
            user_id: r.get(15)?,
        },
        stored,
        expires_at,
    })
}

fn load_by(conn: &Db, column: &str, value: &str, now: i64) -> SimResult<Option<Row>> {
    Ok(conn
        .query_row(
            &format!("{INVITATION_SELECT} WHERE i.{column} = ?1"),
            [value],
            |r| read_row(r, now),
        )
        .optional()?)
}

fn list_where(conn: &Db, condition: &str, arg: &str, now: i64) -> SimResult<Vec<Invitation>> {
    Ok(conn
        .prepare(&format!(
            "{INVITATION_SELECT} WHERE {condition} ORDER BY i.invited_at, i.id"
        ))?
        .query_map([arg], |r| read_row(r, now).map(|row| row.view))?
        .collect::<Result<_, _>>()?)
}

/// 404 `invitation_not_found`.
fn not_found() -> SimError {
    SimError::new(
        404,
        "invitation_not_found",
        "no invitation with this link; check the link in the e-mail or ask for a new invitation",
    )
}

/// Fails unless the invitation can still be answered: 409
/// `invitation_used` (completed), 409 `invitation_declined` (final), 410
/// `invitation_expired`.
fn check_answerable(row: &Row, now: i64) -> SimResult<()> {
    match row.stored {
        InvitationStatus::Completed => Err(SimError::new(
            409,
            "invitation_used",
            "this invitation was already used to register; sign in with its e-mail",
        )),
        InvitationStatus::Declined => Err(SimError::new(
            409,
            "invitation_declined",
            "this invitation was declined, which is final; ask for a new invitation",
        )),
        _ if row.expires_at <= now => Err(SimError::new(
            410,
            "invitation_expired",
            format!(
                "the invitation expired at {} (links are valid 7 days); ask for a new invitation",
                row.view.expires_at
            ),
        )),
        _ => Ok(()),
    }
}

/// Trimmed e-mail, or 400.
fn checked_email(email: &str) -> SimResult<String> {
    let e = email.trim();
    if !is_email(e) || e.chars().count() > 254 {
        return Err(SimError::bad_request(format!(
            "email {email:?} is not an e-mail address"
        )));
    }
    Ok(e.to_owned())
}

/// Trimmed optional person name, or 400 when blank or too long.
fn checked_name(field: &str, name: Option<&str>) -> SimResult<Option<String>> {
    match name.map(str::trim) {
        None => Ok(None),
        Some(n) if n.is_empty() || n.chars().count() > MAX_PERSON_NAME_CHARS => {
            Err(SimError::bad_request(format!(
                "{field}: 1 to {MAX_PERSON_NAME_CHARS} characters, not blank"
            )))
        }
        Some(n) => Ok(Some(n.to_owned())),
    }
}

/// 409 `email_registered` when an account has the e-mail.
fn require_unregistered(conn: &Db, email: &str) -> SimResult<()> {
    let taken = conn
        .query_row("SELECT 1 FROM users WHERE email = ?1", [email], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Err(SimError::new(
            409,
            "email_registered",
            format!("{email} already has an account; sign in with it instead"),
        ));
    }
    Ok(())
}

/// 409 `invitation_pending` when an unexpired PENDING invitation to the
/// same e-mail and target exists.
fn require_no_pending(
    conn: &Db,
    email: &str,
    target_column: &str,
    target: &str,
    now: i64,
) -> SimResult<()> {
    let pending: Option<i64> = conn
        .query_row(
            &format!(
                "SELECT expires_at FROM invitations WHERE email = ?1 AND {target_column} = ?2 \
                 AND status = 'PENDING' AND expires_at > ?3 LIMIT 1"
            ),
            params![email, target, now],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(expires_at) = pending {
        return Err(SimError::new(
            409,
            "invitation_pending",
            format!(
                "an invitation to {email} is pending until {}",
                rfc3339_ts(expires_at)
            ),
        ));
    }
    Ok(())
}

/// The outbox: records the e-mail of an invitation and logs it.
fn send_invitation_email(
    conn: &Db,
    inv: &Invitation,
    token: &str,
    inviter: &str,
    now: &str,
) -> SimResult<()> {
    let link = format!("/api/v1/registrations/{token}");
    let (subject, what) = match inv.kind {
        InvitationKind::Partner => (
            format!("{inviter} invites your company to SmartControl"),
            format!(
                "{inviter} invites your company as a service partner of its fleet {}.",
                inv.fleet_name.as_deref().unwrap_or("")
            ),
        ),
        InvitationKind::User => (
            format!("{inviter} invites you to SmartControl"),
            format!(
                "{inviter} invites you to SmartControl as {}.",
                match inv.role {
                    Role::Admin => "an admin",
                    _ => "a technician",
                }
            ),
        ),
    };
    let body = format!(
        "Hello{},\n\n{what}\n\nComplete Registration: {link}\n\nThe link is valid until {} (7 days).\n",
        inv.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default(),
        inv.expires_at
    );
    conn.execute(
        "INSERT INTO sent_emails (to_addr, subject, body, invitation_id, token, link, sent_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![inv.email, subject, body, inv.id, token, link, now],
    )?;
    tracing::info!(to = %inv.email, %subject, %link, "e-mail sent (simulated outbox, GET /_sim/emails)");
    Ok(())
}

/// What an invitation row gets on insert.
struct NewRow<'a> {
    kind: InvitationKind,
    email: &'a str,
    role: Role,
    name: Option<&'a str>,
    provider_id: Option<&'a str>,
    fleet_id: Option<&'a str>,
    company_id: Option<&'a str>,
    company_name: Option<&'a str>,
    invited_by: &'a str,
}

fn insert_invitation(conn: &Db, new: &NewRow<'_>, now: i64) -> SimResult<(String, String)> {
    let id = new_id();
    let token = format!("reg_{}", uuid::Uuid::new_v4().simple());
    conn.execute(
        "INSERT INTO invitations (id, kind, token, email, role, name, provider_id, fleet_id, \
         company_id, company_name, invited_by, status, invited_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'PENDING', ?12, ?13)",
        params![
            id,
            new.kind.as_str(),
            token,
            new.email,
            new.role.as_str(),
            new.name,
            new.provider_id,
            new.fleet_id,
            new.company_id,
            new.company_name,
            new.invited_by,
            now,
            now + INVITATION_TTL_SECS
        ],
    )?;
    Ok((id, token))
}

impl SimAdmin {
    /// `POST /api/v1/provider/fleets/{fleet_id}/partner-invitations`: the
    /// provider invites a service partner that has no account yet, by the
    /// e-mail of its future admin. 400 invalid fields, 404/403 fleet, 409
    /// `email_registered` (invite the company by id instead), 409
    /// `invitation_pending`.
    pub fn invite_partner(
        &self,
        provider_id: &str,
        invited_by: &str,
        fleet_id: &str,
        req: &NewPartnerInvitation,
    ) -> SimResult<Invitation> {
        let email = checked_email(&req.email)?;
        let name = checked_name("name", req.name.as_deref())?;
        let company_name = match req.company_name.as_deref().map(str::trim) {
            None => None,
            Some(n) if n.is_empty() || n.chars().count() > super::orgs::MAX_DISPLAY_NAME_CHARS => {
                return Err(SimError::bad_request(format!(
                    "company_name: 1 to {} characters, not blank",
                    super::orgs::MAX_DISPLAY_NAME_CHARS
                )))
            }
            Some(n) => Some(n.to_owned()),
        };
        let now = self.now();
        let ts = now.timestamp();
        self.with_tx(|tx| {
            check_fleet_owner(tx, provider_id, fleet_id)?;
            require_unregistered(tx, &email)?;
            require_no_pending(tx, &email, "fleet_id", fleet_id, ts)?;
            let (id, token) = insert_invitation(
                tx,
                &NewRow {
                    kind: InvitationKind::Partner,
                    email: &email,
                    role: Role::Admin,
                    name: name.as_deref(),
                    provider_id: Some(provider_id),
                    fleet_id: Some(fleet_id),
                    company_id: None,
                    company_name: company_name.as_deref(),
                    invited_by,
                },
                ts,
            )?;
            let inv = load_by(tx, "id", &id, ts)?.ok_or_else(not_found)?.view;
            let inviter = inv.provider_name.clone().unwrap_or_default();
            send_invitation_email(tx, &inv, &token, &inviter, &rfc3339(now))?;
            tracing::info!(invitation = %id, fleet = fleet_id, %email, "partner invited");
            Ok(inv)
        })
    }

    /// `GET /api/v1/provider/partner-invitations`: every partner invitation
    /// of the provider.
    pub fn list_provider_invitations(&self, provider_id: &str) -> SimResult<Vec<Invitation>> {
        let now = self.now().timestamp();
        self.with_db(|c| list_where(c, "i.provider_id = ?1", provider_id, now))
    }

    /// `POST /api/v1/partner/invitations`: a partner admin invites a user
    /// by e-mail with a role (TECHNICIAN or ADMIN). 400 invalid fields, 409
    /// `email_registered`, 409 `invitation_pending`.
    pub fn invite_user(
        &self,
        company_id: &str,
        invited_by: &str,
        req: &NewUserInvitation,
    ) -> SimResult<Invitation> {
        if req.role == Role::Provider {
            return Err(SimError::bad_request("role must be TECHNICIAN or ADMIN"));
        }
        let email = checked_email(&req.email)?;
        let name = checked_name("name", req.name.as_deref())?;
        let now = self.now();
        let ts = now.timestamp();
        self.with_tx(|tx| {
            require_unregistered(tx, &email)?;
            require_no_pending(tx, &email, "company_id", company_id, ts)?;
            let (id, token) = insert_invitation(
                tx,
                &NewRow {
                    kind: InvitationKind::User,
                    email: &email,
                    role: req.role,
                    name: name.as_deref(),
                    provider_id: None,
                    fleet_id: None,
                    company_id: Some(company_id),
                    company_name: None,
                    invited_by,
                },
                ts,
            )?;
            let inv = load_by(tx, "id", &id, ts)?.ok_or_else(not_found)?.view;
            let inviter = inv.company_name.clone().unwrap_or_default();
            send_invitation_email(tx, &inv, &token, &inviter, &rfc3339(now))?;
            tracing::info!(invitation = %id, company = company_id, %email, role = req.role.as_str(), "user invited");
            Ok(inv)
        })
    }

    /// `GET /api/v1/partner/invitations`: every user invitation of the
    /// company.
    pub fn list_company_invitations(&self, company_id: &str) -> SimResult<Vec<Invitation>> {
        let now = self.now().timestamp();
        self.with_db(|c| list_where(c, "i.company_id = ?1 AND i.kind = 'USER'", company_id, now))
    }

    /// `GET /api/v1/registrations/{token}`: what the registration page
    /// shows (every state, EXPIRED included); 404 `invitation_not_found`.
    pub fn registration(&self, token: &str) -> SimResult<Invitation> {
        let now = self.now().timestamp();
        self.with_db(|c| Ok(load_by(c, "token", token, now)?.ok_or_else(not_found)?.view))
    }

    /// `POST /api/v1/registrations/{token}/complete`: "Complete
    /// Registration". Creates the account (e-mail of the invitation, the
    /// given password and name, the invitation's role); for a PARTNER
    /// invitation also the company (its details validated like the company
    /// settings, `display_name` required) and the ACCEPTED connection to
    /// the fleet. 400 invalid fields, 404 `invitation_not_found`, 409
    /// `invitation_used` / `invitation_declined` / `email_registered`, 409
    /// `conflict` when the inviting company was deleted, 410
    /// `invitation_expired`.
    pub fn complete_registration(
        &self,
        token: &str,
        req: &CompleteRegistration,
    ) -> SimResult<RegistrationResult> {
        let n = req.password.chars().count();
        if !PASSWORD_CHARS.contains(&n) {
            return Err(SimError::bad_request(format!(
                "password: {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            )));
        }
        let name = checked_name("name", req.name.as_deref())?;
        let now = self.now();
        let ts = now.timestamp();
        let now_s = rfc3339(now);
        let result = self.with_tx(|tx| {
            let row = load_by(tx, "token", token, ts)?.ok_or_else(not_found)?;
            check_answerable(&row, ts)?;
            let inv = row.view;
            let Some(name) = name.or_else(|| inv.name.clone()) else {
                return Err(SimError::bad_request(
                    "name: give your name (1 to 100 characters)",
                ));
            };
            require_unregistered(tx, &inv.email)?;
            let (company_id, connection) = match inv.kind {
                InvitationKind::Partner => {
                    let company = req.company.as_ref().ok_or_else(|| {
                        SimError::bad_request(
                            "company: give the company details (display_name required)",
                        )
                    })?;
                    let display_name = check_settings(company)
                        .map_err(|e| SimError::bad_request(format!("company.{}", e.message)))?
                        .ok_or_else(|| {
                            SimError::bad_request(
                                "company.display_name: give the name providers see, 1 to 100 characters",
                            )
                        })?;
                    let company_id = new_id();
                    tx.execute(
                        "INSERT INTO companies (id, name, settings, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![company_id, display_name, serde_json::to_string(company)?, now_s],
                    )?;
                    let fleet_id = inv.fleet_id.clone().unwrap_or_default();
                    let connection_id = new_id();
                    tx.execute(
                        "INSERT INTO connections (id, fleet_id, company_id, status, invited_at, expires_at, invite_token, responded_at) \
                         VALUES (?1, ?2, ?3, 'ACCEPTED', ?4, ?5, ?6, ?7)",
                        params![
                            connection_id,
                            fleet_id,
                            company_id,
                            row.expires_at - INVITATION_TTL_SECS,
                            row.expires_at,
                            format!("inv_{}", uuid::Uuid::new_v4().simple()),
                            ts
                        ],
                    )?;
                    (company_id, Some(connection_id))
                }
                InvitationKind::User => {
                    if req.company.is_some() {
                        return Err(SimError::bad_request(
                            "company: the company's details are set by its admin; leave company out",
                        ));
                    }
                    let company_id = inv.company_id.clone().unwrap_or_default();
                    let exists = tx
                        .query_row("SELECT 1 FROM companies WHERE id = ?1", [&company_id], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if !exists {
                        return Err(SimError::conflict(
                            "the company that invited you no longer exists",
                        ));
                    }
                    (company_id, None)
                }
            };
            let user_id = insert_user(
                tx,
                Some(&company_id),
                None,
                inv.role,
                &inv.email,
                &name,
                &req.password,
                None,
                &now_s,
            )?;
            tx.execute(
                "UPDATE invitations SET status = 'COMPLETED', responded_at = ?2, user_id = ?3, company_id = ?4 WHERE id = ?1",
                params![inv.id, ts, user_id, company_id],
            )?;
            let connection: Option<Connection> = match connection {
                Some(id) => Some(load_connection(tx, &id)?),
                None => None,
            };
            let invitation = load_by(tx, "id", &inv.id, ts)?.ok_or_else(not_found)?.view;
            tracing::info!(invitation = %inv.id, user = %user_id, company = %company_id, kind = inv.kind.as_str(), "registration completed");
            Ok(RegistrationResult {
                user: UserSummary {
                    id: user_id,
                    email: inv.email.clone(),
                    name,
                    role: inv.role,
                    company_id,
                    totp_enabled: false,
                },
                invitation,
                connection,
            })
        })?;
        Ok(result)
    }

    /// `POST /api/v1/registrations/{token}/decline`: the invited person
    /// declines; final (the link cannot be completed afterwards, a new
    /// invitation is needed). Declining again answers the same; 409
    /// `invitation_used` once completed, 410 `invitation_expired`.
    pub fn decline_registration(&self, token: &str) -> SimResult<Invitation> {
        let ts = self.now().timestamp();
        self.with_tx(|tx| {
            let row = load_by(tx, "token", token, ts)?.ok_or_else(not_found)?;
            if row.stored == InvitationStatus::Declined {
                return Ok(row.view);
            }
            check_answerable(&row, ts)?;
            tx.execute(
                "UPDATE invitations SET status = 'DECLINED', responded_at = ?2 WHERE id = ?1",
                params![row.view.id, ts],
            )?;
            tracing::info!(invitation = %row.view.id, "invitation declined");
            Ok(load_by(tx, "id", &row.view.id, ts)?
                .ok_or_else(not_found)?
                .view)
        })
    }

    /// `GET /_sim/emails`: the e-mails "sent", oldest first, optionally
    /// only those to `to` (case-insensitive).
    pub fn sent_emails(&self, to: Option<&str>) -> SimResult<Vec<SentEmail>> {
        self.with_db(|c| {
            Ok(c.prepare(
                "SELECT id, to_addr, subject, body, invitation_id, token, link, sent_at FROM sent_emails \
                 WHERE ?1 IS NULL OR to_addr = ?1 COLLATE NOCASE ORDER BY id",
            )?
            .query_map([to], |r| {
                Ok(SentEmail {
                    id: r.get(0)?,
                    to: r.get(1)?,
                    subject: r.get(2)?,
                    body: r.get(3)?,
                    invitation_id: r.get(4)?,
                    token: r.get(5)?,
                    link: r.get(6)?,
                    sent_at: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?)
        })
    }

    /// `PATCH /api/v1/partner/users/{id}`: a partner admin changes a user's
    /// name and/or role (TECHNICIAN or ADMIN); the change applies to the
    /// user's open sessions at once. 400 empty or invalid patch, 404 a user
    /// of another company, 409 `conflict` for the admin's own role (another
    /// admin must do it, so the company keeps one) or a technician still
    /// running jobs (they finish them or a colleague takes them over first).
    pub fn update_company_user(
        &self,
        company_id: &str,
        acting_admin_id: &str,
        user_id: &str,
        patch: &UserPatch,
    ) -> SimResult<UserSummary> {
        if patch.name.is_none() && patch.role.is_none() {
            return Err(SimError::bad_request("give name and/or role to change"));
        }
        if patch.role == Some(Role::Provider) {
            return Err(SimError::bad_request("role must be TECHNICIAN or ADMIN"));
        }
        let name = checked_name("name", patch.name.as_deref())?;
        self.with_tx(|tx| {
            let found: Option<(String, String, String, bool)> = tx
                .query_row(
                    "SELECT email, name, role, totp_secret IS NOT NULL FROM users WHERE id = ?1 AND company_id = ?2",
                    [user_id, company_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((email, old_name, old_role, totp_enabled)) = found else {
                return Err(SimError::not_found(format!("no user {user_id} in your company")));
            };
            let old_role = Role::parse(&old_role).unwrap_or(Role::Technician);
            let role = patch.role.unwrap_or(old_role);
            if role != old_role {
                if user_id == acting_admin_id {
                    return Err(SimError::conflict(
                        "an admin cannot change their own role; another admin of the company can",
                    ));
                }
                let running: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM jobs WHERE assignee_id = ?1 AND status = 'RUNNING'",
                    [user_id],
                    |r| r.get(0),
                )?;
                if running > 0 {
                    return Err(SimError::conflict(format!(
                        "{email} is running {running} job(s); they finish them or a colleague takes them over before the role changes"
                    )));
                }
            }
            let name = name.unwrap_or(old_name);
            tx.execute(
                "UPDATE users SET name = ?2, role = ?3 WHERE id = ?1",
                params![user_id, name, role.as_str()],
            )?;
            tracing::info!(company = company_id, user = user_id, role = role.as_str(), "user edited");
            Ok(UserSummary {
                id: user_id.to_owned(),
                email,
                name,
                role,
                company_id: company_id.to_owned(),
                totp_enabled,
            })
        })
    }
}
