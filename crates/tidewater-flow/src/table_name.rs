use std::fmt;
use std::str::FromStr;

use crate::flow_error::FlowError;

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

const MAX_IDENTIFIER_LENGTH: usize = 128;

impl TableName {
    pub fn new(schema: &str, table: &str) -> Result<TableName, FlowError> {
        let full_name = format!("{schema}.{table}");
        for part in [schema, table] {
            if let Err(reason) = check_identifier(part) {
                return Err(FlowError::InvalidTableName {
                    name: full_name,
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

fn check_identifier(part: &str) -> Result<(), String> {
    let mut characters = part.chars();
    let Some(first) = characters.next() else {
        return Err("a name part is empty".to_owned());
    };
    if part.len() > MAX_IDENTIFIER_LENGTH {
        return Err(format!(
            "`{part}` is longer than {MAX_IDENTIFIER_LENGTH} characters"
        ));
    }
    if !(first.is_ascii_lowercase() || first == '_') {
        return Err(format!(
            "`{part}` must start with a lowercase letter or `_`"
        ));
    }
    if let Some(bad) =
        characters.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "`{part}` contains `{bad}`; use lowercase letters, digits and `_`"
        ));
    }
    Ok(())
}

impl FromStr for TableName {
    type Err = FlowError;

    /// Parses `schema.table`.
    fn from_str(name: &str) -> Result<TableName, FlowError> {
        match name.split_once('.') {
            Some((schema, table)) if !table.contains('.') => TableName::new(schema, table),
            _ => Err(FlowError::InvalidTableName {
                name: name.to_owned(),
                reason: "expected `schema.table`, e.g. `raw.orders`".to_owned(),
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
