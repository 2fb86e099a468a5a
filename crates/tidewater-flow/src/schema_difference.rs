use std::fmt;

use deltalake::kernel::StructType;

/// One way the query's output differs from the table it is written to. Types are Delta type
/// names (`string`, `long`, `timestamp`, ...), the names every Delta client shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaDifference {
    /// The query returns a column the table does not have.
    Added { column: String, data_type: String },
    /// The table has a column the query does not return.
    Removed { column: String, data_type: String },
    /// Both have the column, with different types.
    TypeChanged {
        column: String,
        table_type: String,
        query_type: String,
    },
}

impl SchemaDifference {
    /// Differences by column name; column order and nullability are not differences, because
    /// the Delta writer matches columns by name and every column we create is nullable.
    pub(crate) fn between(table: &StructType, query: &StructType) -> Vec<SchemaDifference> {
        let mut differences = Vec::new();
        for query_field in query.fields() {
            match table.field(query_field.name()) {
                None => differences.push(SchemaDifference::Added {
                    column: query_field.name().clone(),
                    data_type: query_field.data_type().to_string(),
                }),
                Some(table_field) if table_field.data_type() != query_field.data_type() => {
                    differences.push(SchemaDifference::TypeChanged {
                        column: query_field.name().clone(),
                        table_type: table_field.data_type().to_string(),
                        query_type: query_field.data_type().to_string(),
                    })
                }
                Some(_) => {}
            }
        }
        for table_field in table.fields() {
            if query.field(table_field.name()).is_none() {
                differences.push(SchemaDifference::Removed {
                    column: table_field.name().clone(),
                    data_type: table_field.data_type().to_string(),
                });
            }
        }
        differences
    }

    pub fn column(&self) -> &str {
        match self {
            SchemaDifference::Added { column, .. }
            | SchemaDifference::Removed { column, .. }
            | SchemaDifference::TypeChanged { column, .. } => column,
        }
    }
}

impl fmt::Display for SchemaDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaDifference::Added { column, data_type } => {
                write!(f, "new column `{column}` ({data_type})")
            }
            SchemaDifference::Removed { column, data_type } => {
                write!(f, "missing column `{column}` ({data_type})")
            }
            SchemaDifference::TypeChanged {
                column,
                table_type,
                query_type,
            } => write!(
                f,
                "column `{column}` is {query_type} in the query but {table_type} in the table"
            ),
        }
    }
}
