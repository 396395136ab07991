//! Accounts, passwords, TOTP and tokens.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use smartcontrol_cloud_api::{LoginRequest, TokenResponse, UserInfo};
use totp_rs::{Algorithm, Secret, TOTP};

use super::grants::{parse_hex32, to_hex};
use super::{new_id, AuthUser, SimAdmin};
use crate::error::{SimError, SimResult};
use crate::model::Role;

/// Lifetime of refresh tokens.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;

/// `sha256(salt + password)` as hex.
pub(crate) fn hash_password(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(password.as_bytes());
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The TOTP generator of a base32 secret (SHA1, 6 digits, 30 s, skew 1).
pub fn totp_for_secret(base32_secret: &str) -> SimResult<TOTP> {
    let bytes = Secret::Encoded(base32_secret.to_owned())
        .to_bytes()
        .map_err(|e| SimError::bad_request(format!("invalid TOTP secret: {e:?}")))?;
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes)
        .map_err(|e| SimError::bad_request(format!("invalid TOTP secret: {e}")))
}

/// The current 6-digit code of a base32 secret (for tests and demos).
pub fn current_totp_code(base32_secret: &str) -> SimResult<String> {
    totp_for_secret(base32_secret)?
        .generate_current()
        .map_err(|e| SimError::internal(format!("clock error: {e}")))
}

struct UserRow {
    user: AuthUser,
    salt: String,
    password_hash: String,
    totp_secret: Option<String>,
}

const USER_SELECT: &str = "SELECT u.id, u.name, u.email, u.role, u.company_id, u.provider_id, \
     COALESCE(c.name, p.name, ''), u.salt, u.password_hash, u.totp_secret \
     FROM users u LEFT JOIN companies c ON c.id = u.company_id LEFT JOIN providers p ON p.id = u.provider_id";

fn read_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = r.get(3)?;
    Ok(UserRow {
        user: AuthUser {
            id: r.get(0)?,
            name: r.get(1)?,
            email: r.get(2)?,
            role: Role::parse(&role).unwrap_or(Role::Technician),
            company_id: r.get(4)?,
            provider_id: r.get(5)?,
            org_name: r.get(6)?,
            phone_public_key: None,
        },
        salt: r.get(7)?,
        password_hash: r.get(8)?,
        totp_secret: r.get(9)?,
    })
}

fn user_info(u: &AuthUser) -> UserInfo {
    UserInfo {
        id: u.id.clone(),
        name: u.name.clone(),
        email: u.email.clone(),
        role: u.role.as_str().to_owned(),
        company_id: u
            .company_id
            .clone()
            .or_else(|| u.provider_id.clone())
            .unwrap_or_default(),
        company_name: u.org_name.clone(),
    }
}

/// Inserts a user row; e-mail must be unique.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_user(
    conn: &Connection,
    company_id: Option<&str>,
    provider_id: Option<&str>,
    role: Role,
    email: &str,
    name: &str,
    password: &str,
    totp_secret: Option<&str>,
    now: &str,
) -> SimResult<String> {
    if email.trim().is_empty() || !email.contains('@') {
        return Err(SimError::bad_request("a valid e-mail is required"));
    }
    if password.is_empty() {
        return Err(SimError::bad_request("a password is required"));
    }
    if let Some(s) = totp_secret {
        totp_for_secret(s)?;
    }
    let exists = conn
        .query_row("SELECT 1 FROM users WHERE email = ?1", [email], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Err(SimError::conflict(format!(
            "e-mail {email} is already registered"
        )));
    }
    let id = new_id();
    let salt = new_id();
    conn.execute(
        "INSERT INTO users (id, company_id, provider_id, role, email, name, salt, password_hash, totp_secret, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id,
            company_id,
            provider_id,
            role.as_str(),
            email,
            name,
            salt,
            hash_password(&salt, password),
            totp_secret,
            now
        ],
    )?;
    Ok(id)
}

/// Token tombstone reason: the user's company was deleted.
pub(crate) const TOKENS_COMPANY_DELETED: &str = "COMPANY_DELETED";
/// Token tombstone reason: the partner admin removed the user.
pub(crate) const TOKENS_ACCOUNT_REMOVED: &str = "ACCOUNT_REMOVED";

/// 401 `account_removed`: the session's account no longer exists. Apps
/// end vehicle access at once (unlike `token_expired`, which a refresh
/// fixes).
fn account_removed(reason: &str) -> SimError {
    let why = match reason {
        TOKENS_COMPANY_DELETED => "the service partner company was deleted",
        _ => "the company's admin removed the account",
    };
    SimError::new(
        401,
        "account_removed",
        format!("this account no longer exists: {why}"),
    )
}

/// Ends every session of the users matched by `user_filter` (an SQL
/// condition on `users`, e.g. `company_id = ?1`): their tokens stay as
/// tombstones so the apps learn why (401 `account_removed`).
pub(crate) fn tombstone_tokens(
    conn: &Connection,
    user_filter: &str,
    arg: &str,
    reason: &str,
) -> SimResult<()> {
    conn.execute(
        &format!(
            "UPDATE tokens SET revoked_reason = ?2 WHERE revoked_reason IS NULL AND user_id IN \
             (SELECT id FROM users WHERE {user_filter})"
        ),
        params![arg, reason],
    )?;
    Ok(())
}

/// How long a rotated refresh token may be presented again (its answer
/// was lost on the way): within it the cloud answers with the same pair it
/// rotated the token into; after it, a reuse is taken as token theft and
/// every token of the login (the family) is revoked.
pub const REFRESH_REUSE_INTERVAL_SECS: i64 = 60;

/// 401 `refresh_token_reused`: a rotated refresh token came back after the
/// reuse interval; the whole session was ended, the user must log in again.
fn refresh_token_reused() -> SimError {
    SimError::new(
        401,
        "refresh_token_reused",
        format!(
            "this refresh token was already used more than {REFRESH_REUSE_INTERVAL_SECS} s ago; \
             the session was ended as a precaution, log in again"
        ),
    )
}

/// A refresh token's row.
struct RefreshRow {
    user_id: String,
    expires_at: i64,
    phone: Option<String>,
    revoked: Option<String>,
    family: String,
    rotated_at: Option<i64>,
    successor_access: Option<String>,
    successor_refresh: Option<String>,
}

/// What a refresh decided; the transaction commits in every case (a
/// revoked family must stay revoked even though the caller gets a 401).
enum RefreshOutcome {
    Tokens(TokenResponse),
    Refused(SimError),
}

impl SimAdmin {
    fn issue_tokens(
        &self,
        conn: &Connection,
        user: &AuthUser,
        phone_public_key: Option<&[u8; 32]>,
        family: &str,
    ) -> SimResult<TokenResponse> {
        let now = self.now().timestamp();
        let ttl = self.access_ttl();
        let access = format!("at_{}", uuid::Uuid::new_v4().simple());
        let refresh = format!("rt_{}", uuid::Uuid::new_v4().simple());
        let mut stmt = conn.prepare_cached(
            "INSERT INTO tokens (token, kind, user_id, expires_at, phone_public_key, family) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let phone = phone_public_key.map(|k| to_hex(k));
        stmt.execute(params![access, "ACCESS", user.id, now + ttl, phone, family])?;
        stmt.execute(params![
            refresh,
            "REFRESH",
            user.id,
            now + REFRESH_TOKEN_TTL_SECS,
            phone,
            family
        ])?;
        Ok(TokenResponse {
            access_token: access,
            refresh_token: refresh,
            expires_in: ttl,
            user: user_info(user),
        })
    }

    /// `POST /api/v1/auth/login`: checks password and, when the account has
    /// a TOTP secret, the code; issues an access and a refresh token. A
    /// `phone_public_key` (64 hex digits, else 400 `bad_request`) is stored
    /// with the tokens: access grants issued to the session name it.
    pub fn login(&self, req: &LoginRequest) -> SimResult<TokenResponse> {
        let phone = match req.phone_public_key.as_deref() {
            None => None,
            Some(h) => Some(parse_hex32(h).ok_or_else(|| {
                SimError::bad_request(
                    "phone_public_key must be 64 hex digits (an Ed25519 public key)",
                )
            })?),
        };
        self.with_tx(|tx| {
            let row = tx
                .query_row(
                    &format!("{USER_SELECT} WHERE u.email = ?1"),
                    [&req.email],
                    read_user,
                )
                .optional()?;
            let Some(row) = row else {
                return Err(SimError::new(
                    401,
                    "invalid_credentials",
                    "unknown e-mail or wrong password",
                ));
            };
            if hash_password(&row.salt, &req.password) != row.password_hash {
                return Err(SimError::new(
                    401,
                    "invalid_credentials",
                    "unknown e-mail or wrong password",
                ));
            }
            if let Some(secret) = &row.totp_secret {
                let Some(code) = req.totp.as_deref().filter(|c| !c.trim().is_empty()) else {
                    return Err(SimError::new(
                        401,
                        "totp_required",
                        "this account requires a TOTP code",
                    ));
                };
                let ok = totp_for_secret(secret)?
                    .check_current(code.trim())
                    .map_err(|e| SimError::internal(format!("clock error: {e}")))?;
                if !ok {
                    return Err(SimError::new(401, "invalid_totp", "wrong TOTP code"));
                }
            }
            tracing::debug!(user = %row.user.email, phone_key = phone.is_some(), "login");
            let family = new_id();
            self.issue_tokens(tx, &row.user, phone.as_ref(), &family)
        })
    }

    /// `POST /api/v1/auth/refresh`: rotates the refresh token. The token
    /// presented again within [`REFRESH_REUSE_INTERVAL_SECS`] of its
    /// rotation (the client lost the answer and retries) gets the same pair
    /// it was rotated into, as long as that pair has not been rotated in
    /// turn; any other reuse of a rotated token revokes every token of the
    /// login and answers 401 `refresh_token_reused`.
    pub fn refresh(&self, refresh_token: &str) -> SimResult<TokenResponse> {
        let now = self.now().timestamp();
        let outcome = self.with_tx(|tx| {
            let found = tx
                .query_row(
                    "SELECT user_id, expires_at, phone_public_key, revoked_reason, COALESCE(family, token), \
                     rotated_at, successor_access, successor_refresh \
                     FROM tokens WHERE token = ?1 AND kind = 'REFRESH'",
                    [refresh_token],
                    |r| {
                        Ok(RefreshRow {
                            user_id: r.get(0)?,
                            expires_at: r.get(1)?,
                            phone: r.get(2)?,
                            revoked: r.get(3)?,
                            family: r.get(4)?,
                            rotated_at: r.get(5)?,
                            successor_access: r.get(6)?,
                            successor_refresh: r.get(7)?,
                        })
                    },
                )
                .optional()?;
            let Some(row) = found else {
                return Ok(RefreshOutcome::Refused(SimError::unauthorized(
                    "invalid refresh token",
                )));
            };
            if let Some(reason) = &row.revoked {
                return Ok(RefreshOutcome::Refused(account_removed(reason)));
            }
            if row.rotated_at.is_none() && row.expires_at <= now {
                tx.execute("DELETE FROM tokens WHERE token = ?1", [refresh_token])?;
                return Ok(RefreshOutcome::Refused(SimError::unauthorized(
                    "refresh token expired",
                )));
            }
            let user = tx
                .query_row(
                    &format!("{USER_SELECT} WHERE u.id = ?1"),
                    [&row.user_id],
                    read_user,
                )
                .optional()?
                .ok_or_else(|| SimError::unauthorized("user no longer exists"))?;
            if let Some(rotated_at) = row.rotated_at {
                if now - rotated_at <= REFRESH_REUSE_INTERVAL_SECS {
                    if let Some(pair) = self.successor_pair(tx, &row, &user.user, now)? {
                        tracing::info!(user = %user.user.email, "refresh token reused within the reuse interval: same pair");
                        return Ok(RefreshOutcome::Tokens(pair));
                    }
                }
                let n = tx.execute("DELETE FROM tokens WHERE family = ?1", [&row.family])?;
                tracing::warn!(user = %user.user.email, tokens = n, "rotated refresh token reused: session revoked");
                return Ok(RefreshOutcome::Refused(refresh_token_reused()));
            }
            let phone = row.phone.as_deref().and_then(parse_hex32);
            let pair = self.issue_tokens(tx, &user.user, phone.as_ref(), &row.family)?;
            tx.execute(
                "UPDATE tokens SET rotated_at = ?2, successor_access = ?3, successor_refresh = ?4 \
                 WHERE token = ?1",
                params![refresh_token, now, pair.access_token, pair.refresh_token],
            )?;
            Ok(RefreshOutcome::Tokens(pair))
        })?;
        match outcome {
            RefreshOutcome::Tokens(pair) => Ok(pair),
            RefreshOutcome::Refused(e) => Err(e),
        }
    }

    /// The pair a refresh token was rotated into, while its refresh token
    /// is still unused; `None` once it has been rotated in turn or is gone.
    fn successor_pair(
        &self,
        conn: &Connection,
        row: &RefreshRow,
        user: &AuthUser,
        now: i64,
    ) -> SimResult<Option<TokenResponse>> {
        let (Some(access), Some(refresh)) = (&row.successor_access, &row.successor_refresh) else {
            return Ok(None);
        };
        let live: Option<i64> = conn
            .query_row(
                "SELECT a.expires_at FROM tokens a JOIN tokens r ON r.token = ?2 AND r.kind = 'REFRESH' \
                 WHERE a.token = ?1 AND a.kind = 'ACCESS' AND r.rotated_at IS NULL \
                 AND r.revoked_reason IS NULL AND a.revoked_reason IS NULL",
                params![access, refresh],
                |r| r.get(0),
            )
            .optional()?;
        Ok(live.map(|expires_at| TokenResponse {
            access_token: access.clone(),
            refresh_token: refresh.clone(),
            expires_in: (expires_at - now).max(0),
            user: user_info(user),
        }))
    }

    /// The user behind an access token: 401 `unauthorized` when unknown,
    /// 401 `token_expired` when expired.
    pub fn authenticate(&self, access_token: &str) -> SimResult<AuthUser> {
        let now = self.now().timestamp();
        self.with_db(|conn| {
            let found: Option<(String, i64, Option<String>, Option<String>)> = conn
                .prepare_cached(
                    "SELECT user_id, expires_at, phone_public_key, revoked_reason FROM tokens WHERE token = ?1 AND kind = 'ACCESS'",
                )?
                .query_row([access_token], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((user_id, expires_at, phone, revoked)) = found else {
                return Err(SimError::unauthorized("invalid access token"));
            };
            if let Some(reason) = revoked {
                return Err(account_removed(&reason));
            }
            if expires_at <= now {
                return Err(SimError::new(
                    401,
                    "token_expired",
                    "the access token has expired",
                ));
            }
            let user = conn
                .prepare_cached(&format!("{USER_SELECT} WHERE u.id = ?1"))?
                .query_row([&user_id], read_user)
                .optional()?
                .ok_or_else(|| SimError::unauthorized("user no longer exists"))?;
            let mut user = user.user;
            user.phone_public_key = phone.as_deref().and_then(parse_hex32);
            Ok(user)
        })
    }

    /// Looks a user up by e-mail (in-process; no password needed).
    pub fn user_by_email(&self, email: &str) -> SimResult<AuthUser> {
        self.with_db(|conn| {
            conn.query_row(
                &format!("{USER_SELECT} WHERE u.email = ?1"),
                [email],
                read_user,
            )
            .optional()?
            .map(|u| u.user)
            .ok_or_else(|| SimError::not_found(format!("no user {email}")))
        })
    }
}
