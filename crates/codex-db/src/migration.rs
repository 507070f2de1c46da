//! [`Migration`]: one numbered schema step, and the checks every runner applies to a list.

#[cfg(any(feature = "postgres", feature = "sqlite"))]
use crate::DbError;

/// One schema step of one component (`version` 1, 2, 3, ... in order).
///
/// `sql` may hold several statements. It runs inside the migration transaction, so it must not
/// contain its own `BEGIN`/`COMMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The version this step brings the component to; the first is 1.
    pub version: i64,
    /// A short name, recorded with the version and checked on later runs.
    pub name: &'static str,
    /// The statements of this step.
    pub sql: &'static str,
}

/// The name of the table that records applied versions, per component.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) const MIGRATIONS_TABLE: &str = "codex_schema_migrations";

/// Checks that `migrations` are numbered 1, 2, 3, ... and that `component` is a usable name.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn check_list(component: &str, migrations: &[Migration]) -> Result<(), DbError> {
    if component.trim().is_empty() {
        return Err(DbError::InvalidMigrations {
            component: component.to_owned(),
            reason: "the component name is empty".to_owned(),
        });
    }
    for (index, migration) in migrations.iter().enumerate() {
        let expected = index as i64 + 1;
        if migration.version != expected {
            return Err(DbError::InvalidMigrations {
                component: component.to_owned(),
                reason: format!(
                    "migration #{index} ({:?}) has version {}, expected {expected}",
                    migration.name, migration.version
                ),
            });
        }
    }
    Ok(())
}

/// Compares what the database recorded with what this binary knows, and returns the steps still
/// to apply.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn pending<'m>(
    component: &str,
    migrations: &'m [Migration],
    applied: &[(i64, String)],
) -> Result<&'m [Migration], DbError> {
    let known = migrations.len() as i64;
    for (version, name) in applied {
        if *version > known {
            return Err(DbError::SchemaTooNew {
                component: component.to_owned(),
                found: *version,
                known,
            });
        }
        let Some(ours) = usize::try_from(*version - 1)
            .ok()
            .and_then(|index| migrations.get(index))
        else {
            return Err(DbError::InvalidMigrations {
                component: component.to_owned(),
                reason: format!("the database records version {version}, which is not positive"),
            });
        };
        if ours.name != name {
            return Err(DbError::MigrationMismatch {
                component: component.to_owned(),
                version: *version,
                expected: ours.name.to_owned(),
                found: name.clone(),
            });
        }
    }
    let done = applied
        .iter()
        .map(|(version, _)| *version)
        .max()
        .unwrap_or(0);
    Ok(&migrations[done as usize..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[Migration] = &[
        Migration {
            version: 1,
            name: "one",
            sql: "",
        },
        Migration {
            version: 2,
            name: "two",
            sql: "",
        },
    ];

    #[test]
    fn a_gap_in_the_numbering_is_refused() {
        let list = [Migration {
            version: 2,
            name: "two",
            sql: "",
        }];
        let err = check_list("c", &list).unwrap_err();
        assert!(err.to_string().contains("expected 1"), "{err}");
    }

    #[test]
    fn pending_skips_what_is_applied_and_refuses_newer_or_renamed_versions() {
        assert_eq!(pending("c", LIST, &[]).unwrap().len(), 2);
        assert_eq!(
            pending("c", LIST, &[(1, "one".into())]).unwrap(),
            &LIST[1..]
        );
        let too_new = pending("c", LIST, &[(3, "three".into())]).unwrap_err();
        assert!(matches!(
            too_new,
            DbError::SchemaTooNew {
                found: 3,
                known: 2,
                ..
            }
        ));
        let renamed = pending("c", LIST, &[(1, "uno".into())]).unwrap_err();
        assert!(matches!(
            renamed,
            DbError::MigrationMismatch { version: 1, .. }
        ));
    }
}
