//! Providers, fleets, service partners, their users, settings and fleet
//! connections.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection as Db, OptionalExtension};
use smartcontrol_cloud_api::{JobStatus, RemovalReason};

use super::auth::{insert_user, tombstone_tokens, TOKENS_ACCOUNT_REMOVED, TOKENS_COMPANY_DELETED};
use super::grants::{
    new_fleet_seed, public_key_of, revoke_job_grants, to_hex, REVOKED_ACCOUNT_REMOVED,
    REVOKED_COMPANY_DELETED, REVOKED_CONNECTION_DELETED,
};
use super::{load_job, new_id, record_removal, rfc3339, rfc3339_ts, save_changed_job, SimAdmin};
use crate::error::{SimError, SimResult};
use crate::model::{Connection, ConnectionStatus, Fleet, NewUser, Role, UserSummary};

/// How long an invitation stays valid.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

const CONNECTION_SELECT: &str = "SELECT c.id, c.fleet_id, f.name, f.provider_id, p.name, c.company_id, \
     COALESCE(co.name, ''), c.status, c.invited_at, c.expires_at, c.invite_token, c.responded_at \
     FROM connections c JOIN fleets f ON f.id = c.fleet_id JOIN providers p ON p.id = f.provider_id \
     LEFT JOIN companies co ON co.id = c.company_id";

fn read_connection(r: &rusqlite::Row<'_>) -> rusqlite::Result<Connection> {
    let status: String = r.get(7)?;
    Ok(Connection {
        id: r.get(0)?,
        fleet_id: r.get(1)?,
        fleet_name: r.get(2)?,
        provider_id: r.get(3)?,
        provider_name: r.get(4)?,
        company_id: r.get(5)?,
        company_name: r.get(6)?,
        status: ConnectionStatus::parse(&status).unwrap_or(ConnectionStatus::Deleted),
        invited_at: rfc3339_ts(r.get(8)?),
        expires_at: rfc3339_ts(r.get(9)?),
        invite_token: r.get(10)?,
        responded_at: r.get::<_, Option<i64>>(11)?.map(rfc3339_ts),
    })
}

pub(crate) fn load_connection(conn: &Db, id: &str) -> SimResult<Connection> {
    conn.query_row(
        &format!("{CONNECTION_SELECT} WHERE c.id = ?1"),
        [id],
        read_connection,
    )
    .optional()?
    .ok_or_else(|| SimError::not_found(format!("no connection {id}")))
}

fn expires_at_ts(conn: &Db, id: &str) -> SimResult<i64> {
    Ok(conn.query_row(
        "SELECT expires_at FROM connections WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

/// Whether `e` looks like an e-mail address (`local@domain.tld`, no
/// spaces).
pub(crate) fn is_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty()
            && d.contains('.')
            && !d.starts_with('.')
            && !d.ends_with('.')
            && !d.contains('@')
    }) && !e.chars().any(char::is_whitespace)
}

/// Longest company display name.
pub(crate) const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Validates company settings: a JSON object whose known fields are
/// `display_name` (1 to [`MAX_DISPLAY_NAME_CHARS`] characters, not blank),
/// `contact_email` (an e-mail address) and `phone` (up to 30 characters of
/// digits, spaces and `+-/()`); other fields are kept as given. Returns the
/// trimmed display name when one is given.
pub(crate) fn check_settings(settings: &serde_json::Value) -> SimResult<Option<String>> {
    let obj = settings
        .as_object()
        .ok_or_else(|| SimError::bad_request("settings must be a JSON object"))?;
    let text = |key: &str| -> SimResult<Option<&str>> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(SimError::bad_request(format!("{key} must be a string"))),
        }
    };
    let display_name = match text("display_name")?.map(str::trim) {
        None => None,
        Some(n) if n.is_empty() || n.chars().count() > MAX_DISPLAY_NAME_CHARS => {
            return Err(SimError::bad_request(format!(
                "display_name: give the name providers see, 1 to {MAX_DISPLAY_NAME_CHARS} characters"
            )))
        }
        Some(n) => Some(n.to_owned()),
    };
    if let Some(e) = text("contact_email")? {
        if !is_email(e) {
            return Err(SimError::bad_request(format!(
                "contact_email {e:?} is not an e-mail address"
            )));
        }
    }
    if let Some(p) = text("phone")? {
        let valid = !p.trim().is_empty()
            && p.chars().count() <= 30
            && p.chars()
                .all(|c| c.is_ascii_digit() || " +-/()".contains(c));
        if !valid {
            return Err(SimError::bad_request(format!(
                "phone {p:?}: up to 30 characters of digits, spaces and +-/()"
            )));
        }
    }
    Ok(display_name)
}

/// Ok when the provider exists, else 404.
fn require_provider(conn: &Db, provider_id: &str) -> SimResult<()> {
    conn.query_row(
        "SELECT 1 FROM providers WHERE id = ?1",
        [provider_id],
        |_| Ok(()),
    )
    .optional()?
    .ok_or_else(|| SimError::not_found(format!("no provider {provider_id}")))
}

fn company_exists(conn: &Db, id: &str) -> SimResult<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM companies WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Ends a connection (DELETED) and takes the jobs of its fleet away from
/// the company: open ones go back to PENDING, every one gets a
/// CONNECTION_DELETED removal record.
fn cancel_connection(
    conn: &Db,
    c: &Connection,
    now: DateTime<Utc>,
    grant_revocation_reason: &str,
) -> SimResult<()> {
    conn.execute(
        "UPDATE connections SET status = 'DELETED', responded_at = ?2 WHERE id = ?1",
        params![c.id, now.timestamp()],
    )?;
    if c.status != ConnectionStatus::Accepted {
        return Ok(());
    }
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM jobs WHERE fleet_id = ?1 AND assigned_company_id = ?2")?
        .query_map([&c.fleet_id, &c.company_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let now_s = rfc3339(now);
    for id in &ids {
        let Some(mut stored) = load_job(conn, id)? else {
            continue;
        };
        revoke_job_grants(conn, id, None, grant_revocation_reason, now.timestamp())?;
        if !stored.job.status.is_final() {
            stored.job.status = JobStatus::Pending;
            stored.job.assigned_company_id = None;
            stored.job.assignee = None;
            stored.job.installation_started_at = None;
            save_changed_job(conn, &mut stored.job, &now_s)?;
        }
        record_removal(
            conn,
            id,
            &c.company_id,
            None,
            RemovalReason::ConnectionDeleted.as_str(),
        )?;
    }
    tracing::info!(connection = %c.id, jobs = ids.len(), "connection deleted");
    Ok(())
}

impl SimAdmin {
    /// Creates a mobility provider; returns its id.
    pub fn create_provider(&self, name: &str) -> SimResult<String> {
        let id = new_id();
        let now = rfc3339(self.now());
        self.with_db(|c| {
            c.execute(
                "INSERT INTO providers (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, name, now],
            )?;
            Ok(id)
        })
    }

    /// `POST /_sim/providers`: creates a mobility provider, its first
    /// PROVIDER user and the fleets named in `fleets` (each with a random
    /// signing key) in one transaction (QA); 400 on a blank name, a blank
    /// or repeated fleet name, or an invalid e-mail or password, 409 when
    /// the e-mail is registered.
    pub fn create_provider_account(
        &self,
        name: &str,
        email: &str,
        user_name: &str,
        password: &str,
        fleets: &[String],
    ) -> SimResult<(String, UserSummary, Vec<Fleet>)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(SimError::bad_request(
                "name: give the provider's name (1 to 200 characters)",
            ));
        }
        let mut fleet_names: Vec<&str> = Vec::with_capacity(fleets.len());
        for (i, f) in fleets.iter().enumerate() {
            let f = f.trim();
            if f.is_empty() || f.chars().count() > 200 {
                return Err(SimError::bad_request(format!(
                    "fleets[{i}]: give each fleet's name (1 to 200 characters)"
                )));
            }
            if fleet_names.contains(&f) {
                return Err(SimError::bad_request(format!(
                    "fleets[{i}]: fleet {f:?} is named twice; give each fleet once"
                )));
            }
            fleet_names.push(f);
        }
        let user_name = match user_name.trim() {
            "" => name,
            n => n,
        };
        let id = new_id();
        let now = rfc3339(self.now());
        let (user_id, created) = self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO providers (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, name, now],
            )?;
            let user_id = insert_user(
                tx,
                None,
                Some(&id),
                Role::Provider,
                email,
                user_name,
                password,
                None,
                &now,
            )?;
            let mut created = Vec::with_capacity(fleet_names.len());
            for f in &fleet_names {
                let fleet_id = new_id();
                let seed = new_fleet_seed();
                tx.execute(
                    "INSERT INTO fleets (id, provider_id, name, created_at, signing_seed) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![fleet_id, id, f, now, to_hex(&seed)],
                )?;
                created.push(Fleet {
                    id: fleet_id,
                    provider_id: id.clone(),
                    name: (*f).to_owned(),
                    public_key: to_hex(&public_key_of(&seed)),
                });
            }
            Ok((user_id, created))
        })?;
        tracing::info!(provider = %id, %email, fleets = created.len(), "provider created");
        Ok((
            id.clone(),
            UserSummary {
                id: user_id,
                email: email.to_owned(),
                name: user_name.to_owned(),
                role: Role::Provider,
                company_id: id,
                totp_enabled: false,
            },
            created,
        ))
    }

    /// Creates a fleet of a provider with a random signing key; returns its
    /// id.
    pub fn create_fleet(&self, provider_id: &str, name: &str) -> SimResult<String> {
        self.create_fleet_with_seed(provider_id, name, new_fleet_seed())
    }

    /// Creates a fleet whose Ed25519 signing key is derived from `seed`
    /// (deterministic demos and tests); returns its id.
    pub fn create_fleet_with_seed(
        &self,
        provider_id: &str,
        name: &str,
        seed: [u8; 32],
    ) -> SimResult<String> {
        let id = new_id();
        let now = rfc3339(self.now());
        self.with_db(|c| {
            require_provider(c, provider_id)?;
            c.execute(
                "INSERT INTO fleets (id, provider_id, name, created_at, signing_seed) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, provider_id, name, now, to_hex(&seed)],
            )?;
            Ok(id)
        })
    }

    /// Fleets of a provider.
    pub fn list_fleets(&self, provider_id: &str) -> SimResult<Vec<Fleet>> {
        self.with_db(|c| {
            Ok(c.prepare("SELECT id, provider_id, name, signing_seed FROM fleets WHERE provider_id = ?1 ORDER BY created_at, name")?
                .query_map([provider_id], |r| {
                    let seed: Option<String> = r.get(3)?;
                    Ok(Fleet {
                        id: r.get(0)?,
                        provider_id: r.get(1)?,
                        name: r.get(2)?,
                        public_key: seed
                            .as_deref()
                            .and_then(super::grants::parse_hex32)
                            .map(|s| to_hex(&public_key_of(&s)))
                            .unwrap_or_default(),
                    })
                })?
                .collect::<Result<_, _>>()?)
        })
    }

    /// Creates a service partner (installer company); returns its id.
    pub fn create_company(&self, name: &str) -> SimResult<String> {
        let id = new_id();
        let now = rfc3339(self.now());
        self.with_db(|c| {
            c.execute(
                "INSERT INTO companies (id, name, settings, created_at) VALUES (?1, ?2, '{}', ?3)",
                params![id, name, now],
            )?;
            Ok(id)
        })
    }

    /// Creates a user of a provider (role PROVIDER).
    pub fn create_provider_user(
        &self,
        provider_id: &str,
        email: &str,
        name: &str,
        password: &str,
    ) -> SimResult<UserSummary> {
        let now = rfc3339(self.now());
        let id = self.with_tx(|tx| {
            require_provider(tx, provider_id)?;
            insert_user(
                tx,
                None,
                Some(provider_id),
                Role::Provider,
                email,
                name,
                password,
                None,
                &now,
            )
        })?;
        Ok(UserSummary {
            id,
            email: email.to_owned(),
            name: name.to_owned(),
            role: Role::Provider,
            company_id: provider_id.to_owned(),
            totp_enabled: false,
        })
    }

    /// Creates a user of a service partner (`POST /api/v1/partner/users`):
    /// role TECHNICIAN or ADMIN, optional TOTP secret.
    pub fn create_company_user(&self, company_id: &str, user: &NewUser) -> SimResult<UserSummary> {
        if user.role == Role::Provider {
            return Err(SimError::bad_request("role must be TECHNICIAN or ADMIN"));
        }
        let now = rfc3339(self.now());
        let id = self.with_tx(|tx| {
            if !company_exists(tx, company_id)? {
                return Err(SimError::not_found(format!("no company {company_id}")));
            }
            insert_user(
                tx,
                Some(company_id),
                None,
                user.role,
                &user.email,
                &user.name,
                &user.password,
                user.totp_secret.as_deref(),
                &now,
            )
        })?;
        Ok(UserSummary {
            id,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
            company_id: company_id.to_owned(),
            totp_enabled: user.totp_secret.is_some(),
        })
    }

    /// Users of a service partner.
    pub fn list_company_users(&self, company_id: &str) -> SimResult<Vec<UserSummary>> {
        self.with_db(|c| {
            let mut stmt = c.prepare(
                "SELECT id, email, name, role, company_id, totp_secret IS NOT NULL FROM users \
                 WHERE company_id = ?1 ORDER BY created_at, email",
            )?;
            let rows = stmt
                .query_map([company_id], |r| {
                    let role: String = r.get(3)?;
                    Ok(UserSummary {
                        id: r.get(0)?,
                        email: r.get(1)?,
                        name: r.get(2)?,
                        role: Role::parse(&role).unwrap_or(Role::Technician),
                        company_id: r.get(4)?,
                        totp_enabled: r.get(5)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Settings JSON of a service partner.
    pub fn company_settings(&self, company_id: &str) -> SimResult<serde_json::Value> {
        self.with_db(|c| {
            let s: String = c
                .query_row(
                    "SELECT settings FROM companies WHERE id = ?1",
                    [company_id],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| SimError::not_found(format!("no company {company_id}")))?;
            Ok(serde_json::from_str(&s)?)
        })
    }

    /// Replaces the settings JSON (must be an object) of a service partner.
    /// The known fields are validated (see [`check_settings`]); a
    /// `display_name` becomes the company's name, which providers see on
    /// their connections.
    pub fn put_company_settings(
        &self,
        company_id: &str,
        settings: &serde_json::Value,
    ) -> SimResult<serde_json::Value> {
        let display_name = check_settings(settings)?;
        let text = serde_json::to_string(settings)?;
        self.with_db(|c| {
            let n = c.execute(
                "UPDATE companies SET settings = ?2, name = COALESCE(?3, name) WHERE id = ?1",
                params![company_id, text, display_name],
            )?;
            if n == 0 {
                return Err(SimError::not_found(format!("no company {company_id}")));
            }
            Ok(settings.clone())
        })
    }

    /// `DELETE /api/v1/partner/users/{id}`: removes a user of the admin's
    /// company. Their sessions end (401 `account_removed`), their access
    /// grants are revoked, and the jobs they were running return to the
    /// company's Available Jobs. 404 for a user of another company; 409 for
    /// the admin themself.
    pub fn remove_company_user(
        &self,
        company_id: &str,
        acting_admin_id: &str,
        user_id: &str,
    ) -> SimResult<()> {
        if user_id == acting_admin_id {
            return Err(SimError::conflict(
                "an admin cannot remove their own account",
            ));
        }
        let now = self.now();
        let now_s = rfc3339(now);
        self.with_tx(|tx| {
            let found: Option<String> = tx
                .query_row(
                    "SELECT id FROM users WHERE id = ?1 AND company_id = ?2",
                    [user_id, company_id],
                    |r| r.get(0),
                )
                .optional()?;
            if found.is_none() {
                return Err(SimError::not_found(format!(
                    "no user {user_id} in your company"
                )));
            }
            let running: Vec<String> = tx
                .prepare("SELECT id FROM jobs WHERE assignee_id = ?1 AND status = 'RUNNING'")?
                .query_map([user_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in &running {
                if let Some(mut stored) = load_job(tx, id)? {
                    stored.job.status = JobStatus::Assigned;
                    stored.job.assignee = None;
                    stored.job.installation_started_at = None;
                    save_changed_job(tx, &mut stored.job, &now_s)?;
                }
            }
            let seq = crate::db::next_seq(tx)?;
            tx.execute(
                "UPDATE grants SET revoked_at = ?2, revoked_reason = ?3, revoked_seq = ?4 \
                 WHERE technician_id = ?1 AND revoked_at IS NULL",
                params![user_id, now.timestamp(), REVOKED_ACCOUNT_REMOVED, seq],
            )?;
            tombstone_tokens(tx, "id = ?1", user_id, TOKENS_ACCOUNT_REMOVED)?;
            tx.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
            tracing::info!(
                company = company_id,
                user = user_id,
                jobs = running.len(),
                "user removed"
            );
            Ok(())
        })
    }

    /// Deletes a service partner: its users go and their sessions end as
    /// tombstones (401 `account_removed`), every
    /// fleet connection is cancelled (its jobs leave with CONNECTION_DELETED).
    pub fn delete_company(&self, company_id: &str) -> SimResult<()> {
        let now = self.now();
        self.with_tx(|tx| {
            if !company_exists(tx, company_id)? {
                return Err(SimError::not_found(format!("no company {company_id}")));
            }
            let conns: Vec<Connection> = tx
                .prepare(&format!(
                    "{CONNECTION_SELECT} WHERE c.company_id = ?1 AND c.status IN ('PENDING', 'ACCEPTED')"
                ))?
                .query_map([company_id], read_connection)?
                .collect::<Result<_, _>>()?;
            for c in &conns {
                cancel_connection(tx, c, now, REVOKED_COMPANY_DELETED)?;
            }
            tombstone_tokens(tx, "company_id = ?1", company_id, TOKENS_COMPANY_DELETED)?;
            tx.execute("DELETE FROM users WHERE company_id = ?1", [company_id])?;
            tx.execute("DELETE FROM companies WHERE id = ?1", [company_id])?;
            tracing::info!(company = company_id, "company deleted");
            Ok(())
        })
    }

    /// The provider invites a partner to a fleet: a new PENDING connection
    /// with an invite token, valid 7 days. 409 when an ACCEPTED connection
    /// or an unexpired PENDING invitation already exists.
    pub fn invite(
        &self,
        provider_id: &str,
        fleet_id: &str,
        company_id: &str,
    ) -> SimResult<Connection> {
        let now = self.now().timestamp();
        self.with_tx(|tx| {
            check_fleet_owner(tx, provider_id, fleet_id)?;
            if !company_exists(tx, company_id)? {
                return Err(SimError::not_found(format!("no company {company_id}")));
            }
            let blocking = tx
                .query_row(
                    "SELECT status FROM connections WHERE fleet_id = ?1 AND company_id = ?2 AND \
                     (status = 'ACCEPTED' OR (status = 'PENDING' AND expires_at > ?3)) LIMIT 1",
                    params![fleet_id, company_id, now],
                    |r| r.get::<_, String>(0),
                )
                .optional()?;
            if let Some(status) = blocking {
                return Err(SimError::conflict(format!("a {status} connection already exists")));
            }
            let id = new_id();
            let token = format!("inv_{}", uuid::Uuid::new_v4().simple());
            tx.execute(
                "INSERT INTO connections (id, fleet_id, company_id, status, invited_at, expires_at, invite_token) \
                 VALUES (?1, ?2, ?3, 'PENDING', ?4, ?5, ?6)",
                params![id, fleet_id, company_id, now, now + INVITATION_TTL_SECS, token],
            )?;
            load_connection(tx, &id)
        })
    }

    fn company_connection(
        &self,
        tx: &Db,
        company_id: &str,
        connection_id: &str,
    ) -> SimResult<Connection> {
        let c = load_connection(tx, connection_id)?;
        if c.company_id != company_id {
            return Err(SimError::forbidden("connection of another company"));
        }
        Ok(c)
    }

    /// The partner accepts an invitation. 409 `conflict` when it was
    /// declined or deleted, 410 `invitation_expired` after 7 days.
    /// Accepting an ACCEPTED connection again is a no-op.
    pub fn accept_connection(
        &self,
        company_id: &str,
        connection_id: &str,
    ) -> SimResult<Connection> {
        let now = self.now().timestamp();
        self.with_tx(|tx| {
            let c = self.company_connection(tx, company_id, connection_id)?;
            match c.status {
                ConnectionStatus::Accepted => return Ok(c),
                ConnectionStatus::Declined => {
                    return Err(SimError::conflict(
                        "the invitation was declined; the provider must invite again",
                    ))
                }
                ConnectionStatus::Deleted => {
                    return Err(SimError::conflict("the connection was deleted"))
                }
                ConnectionStatus::Pending => {}
            }
            if expires_at_ts(tx, connection_id)? <= now {
                return Err(SimError::new(
                    410,
                    "invitation_expired",
                    "the invitation has expired",
                ));
            }
            tx.execute(
                "UPDATE connections SET status = 'ACCEPTED', responded_at = ?2 WHERE id = ?1",
                params![connection_id, now],
            )?;
            tracing::info!(connection = connection_id, "connection accepted");
            load_connection(tx, connection_id)
        })
    }

    /// The partner declines an invitation (final). 409 unless PENDING.
    pub fn decline_connection(
        &self,
        company_id: &str,
        connection_id: &str,
    ) -> SimResult<Connection> {
        let now = self.now().timestamp();
        self.with_tx(|tx| {
            let c = self.company_connection(tx, company_id, connection_id)?;
            match c.status {
                ConnectionStatus::Declined => return Ok(c),
                ConnectionStatus::Pending => {}
                other => {
                    return Err(SimError::conflict(format!(
                        "cannot decline a {} connection",
                        other.as_str()
                    )))
                }
            }
            tx.execute(
                "UPDATE connections SET status = 'DECLINED', responded_at = ?2 WHERE id = ?1",
                params![connection_id, now],
            )?;
            load_connection(tx, connection_id)
        })
    }

    /// The partner deletes a PENDING or ACCEPTED connection; jobs of the
    /// fleet assigned to it leave its reach (CONNECTION_DELETED).
    pub fn delete_connection(
        &self,
        company_id: &str,
        connection_id: &str,
    ) -> SimResult<Connection> {
        let now = self.now();
        self.with_tx(|tx| {
            let c = self.company_connection(tx, company_id, connection_id)?;
            match c.status {
                ConnectionStatus::Pending | ConnectionStatus::Accepted => {}
                other => {
                    return Err(SimError::conflict(format!(
                        "cannot delete a {} connection",
                        other.as_str()
                    )))
                }
            }
            cancel_connection(tx, &c, now, REVOKED_CONNECTION_DELETED)?;
            load_connection(tx, connection_id)
        })
    }

    /// Connections of a service partner (every state).
    pub fn list_company_connections(&self, company_id: &str) -> SimResult<Vec<Connection>> {
        self.with_db(|c| {
            Ok(c.prepare(&format!(
                "{CONNECTION_SELECT} WHERE c.company_id = ?1 ORDER BY c.invited_at, c.id"
            ))?
            .query_map([company_id], read_connection)?
            .collect::<Result<_, _>>()?)
        })
    }

    /// Connections of a provider's fleets (every state).
    pub fn list_provider_connections(&self, provider_id: &str) -> SimResult<Vec<Connection>> {
        self.with_db(|c| {
            Ok(c.prepare(&format!(
                "{CONNECTION_SELECT} WHERE f.provider_id = ?1 ORDER BY c.invited_at, c.id"
            ))?
            .query_map([provider_id], read_connection)?
            .collect::<Result<_, _>>()?)
        })
    }

    /// One connection by id (in-process, unchecked).
    pub fn connection(&self, connection_id: &str) -> SimResult<Connection> {
        self.with_db(|c| load_connection(c, connection_id))
    }

    /// Test helper: moves a connection's invitation time (and with it the
    /// expiry, invited_at + 7 days), e.g. 8 days into the past.
    pub fn set_connection_invited_at(
        &self,
        connection_id: &str,
        invited_at: DateTime<Utc>,
    ) -> SimResult<()> {
        let ts = invited_at.timestamp();
        self.with_db(|c| {
            let n = c.execute(
                "UPDATE connections SET invited_at = ?2, expires_at = ?3 WHERE id = ?1",
                params![connection_id, ts, ts + INVITATION_TTL_SECS],
            )?;
            if n == 0 {
                return Err(SimError::not_found(format!(
                    "no connection {connection_id}"
                )));
            }
            Ok(())
        })
    }

    /// Convenience: invite and accept in one go; returns the ACCEPTED
    /// connection.
    pub fn connect(
        &self,
        provider_id: &str,
        fleet_id: &str,
        company_id: &str,
    ) -> SimResult<Connection> {
        let c = self.invite(provider_id, fleet_id, company_id)?;
        self.accept_connection(company_id, &c.id)
    }
}

/// Checks that `fleet_id` is a fleet of `provider_id`: 404 unknown, 403
/// another provider's.
pub(crate) fn check_fleet_owner(conn: &Db, provider_id: &str, fleet_id: &str) -> SimResult<()> {
    let owner: Option<String> = conn
        .query_row(
            "SELECT provider_id FROM fleets WHERE id = ?1",
            [fleet_id],
            |r| r.get(0),
        )
        .optional()?;
    match owner {
        None => Err(SimError::not_found(format!("no fleet {fleet_id}"))),
        Some(p) if p != provider_id => Err(SimError::forbidden("fleet of another provider")),
        Some(_) => Ok(()),
    }
}
