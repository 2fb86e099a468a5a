//! The one rule for warehouse table names, shared by the workflow reader (`validate`), the
//! runners and the CLI's table arguments, so that a name `validate` accepts is one a run can
//! write.

use std::fmt;
use std::str::FromStr;

/// A warehouse table, `schema.table`, stored under `<warehouse>/<schema>/<table>`.
///
/// Both parts are lowercase SQL identifiers (`[a-z_][a-z0-9_]*`, at most 128 bytes). Lowercase
/// because the Delta session resolves identifiers case-sensitively and the parts are also
/// directory names: `Raw.Orders` and `raw.orders` must not become two tables on a
/// case-insensitive file system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    schema: String,
    table: String,
}

/// The longest part accepted: PostgreSQL's identifier limit is 63, Delta and most file systems
/// allow far more; 128 leaves room without letting a name become an unreadable path.
pub const MAX_TABLE_NAME_PART_LENGTH: usize = 128;

/// A table name that breaks the rule, and which part of the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid table name `{name}`: {reason}")]
pub struct InvalidTableName {
    pub name: String,
    pub reason: TableNameProblem,
}

/// What is wrong with a table name; the message says how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableNameProblem {
    #[error("expected `schema.table`, e.g. `raw.orders`")]
    NotSchemaDotTable,
    #[error("a name part is empty")]
    EmptyPart,
    #[error("`{part}` is longer than {MAX_TABLE_NAME_PART_LENGTH} characters")]
    PartTooLong { part: String },
    #[error("`{part}` must start with a lowercase letter or `_`")]
    InvalidStart { part: String },
    #[error("`{part}` contains `{character}`; use lowercase letters, digits and `_`")]
    InvalidCharacter { part: String, character: char },
}

impl TableName {
    pub fn new(schema: &str, table: &str) -> Result<TableName, InvalidTableName> {
        for part in [schema, table] {
            if let Err(reason) = check_part(part) {
                return Err(InvalidTableName {
                    name: format!("{schema}.{table}"),
                    reason,
                });
            }
        }
        Ok(TableName {
            schema: schema.to_owned(),
            table: table.to_owned(),
        })
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

fn check_part(part: &str) -> Result<(), TableNameProblem> {
    let mut characters = part.chars();
    let Some(first) = characters.next() else {
        return Err(TableNameProblem::EmptyPart);
    };
    if part.len() > MAX_TABLE_NAME_PART_LENGTH {
        return Err(TableNameProblem::PartTooLong {
            part: part.to_owned(),
        });
    }
    if !(first.is_ascii_lowercase() || first == '_') {
        return Err(TableNameProblem::InvalidStart {
            part: part.to_owned(),
        });
    }
    if let Some(character) =
        characters.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(TableNameProblem::InvalidCharacter {
            part: part.to_owned(),
            character,
        });
    }
    Ok(())
}

impl FromStr for TableName {
    type Err = InvalidTableName;

    /// Parses `schema.table`.
    fn from_str(name: &str) -> Result<TableName, InvalidTableName> {
        match name.split_once('.') {
            Some((schema, table)) if !table.contains('.') => TableName::new(schema, table),
            _ => Err(InvalidTableName {
                name: name.to_owned(),
                reason: TableNameProblem::NotSchemaDotTable,
            }),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// As `schema.table` in JSON output.
impl serde::Serialize for TableName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
