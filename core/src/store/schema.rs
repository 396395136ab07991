//! Schema of the local store: numbered SQL migrations, included at compile
//! time and applied with `rusqlite_migration` (tracked in `user_version`).
//!
//! Never edit a released migration: add the next numbered file and append it
//! here. The test below upgrades from every older version and compares the
//! result with a fresh database.

use rusqlite_migration::{Migrations, M};

/// Every migration, oldest first. The schema version is their count.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/001_initial.sql")),
    M::up(include_str!("migrations/002_view_order_index.sql")),
    M::up(include_str!("migrations/003_access_grants.sql")),
    M::up(include_str!("migrations/004_workflow_reports.sql")),
    M::up(include_str!(
        "migrations/005_site_data_attestations_revocations.sql"
    )),
    M::up(include_str!("migrations/006_job_tombstones.sql")),
    M::up(include_str!("migrations/007_lighter_action_commit.sql")),
    M::up(include_str!("migrations/008_search_grams.sql")),
    M::up(include_str!("migrations/009_pending_in_job_row.sql")),
    M::up(include_str!("migrations/010_search_after_sync.sql")),
    M::up(include_str!("migrations/011_open_jobs_list_index.sql")),
];

/// The migrations of the local store.
pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

/// Version a fresh database has after all migrations.
#[cfg(test)]
pub(crate) const VERSION: usize = MIGRATIONS.len();

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn schema_of(conn: &rusqlite::Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn upgrading_from_every_version_matches_a_fresh_database() {
        let mut fresh = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut fresh).unwrap();
        for from in 0..VERSION {
            let mut old = rusqlite::Connection::open_in_memory().unwrap();
            migrations()
                .to_version(&mut old, from)
                .expect("older version applies");
            migrations().to_latest(&mut old).unwrap();
            assert_eq!(schema_of(&old), schema_of(&fresh), "upgrade from v{from}");
        }
    }
}
