//! The signed-in technician's session: account and tokens, kept in the
//! store's `meta` table so sync can run after a restart without a new login.

use serde::{Deserialize, Serialize};

use crate::model::Account;
use crate::rules::Actor;

/// Refresh the access token when less than this many seconds are left.
pub(crate) const REFRESH_MARGIN_SECS: i64 = 30;

/// What is stored for the signed-in technician.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSession {
    pub account: Account,
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds at which `access_token` expires.
    pub access_expires_at: i64,
}

impl StoredSession {
    pub(crate) fn from_tokens(t: smartcontrol_cloud_api::TokenResponse) -> StoredSession {
        StoredSession {
            account: Account {
                technician_id: t.user.id,
                name: t.user.name,
                email: t.user.email,
                company_id: t.user.company_id,
                company_name: t.user.company_name,
            },
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            access_expires_at: chrono::Utc::now().timestamp() + t.expires_in,
        }
    }

    /// The access token expires within the refresh margin.
    pub(crate) fn needs_refresh(&self) -> bool {
        self.access_expires_at - REFRESH_MARGIN_SECS <= chrono::Utc::now().timestamp()
    }

    pub(crate) fn actor(&self) -> Actor {
        Actor {
            id: self.account.technician_id.clone(),
            name: self.account.name.clone(),
        }
    }
}
