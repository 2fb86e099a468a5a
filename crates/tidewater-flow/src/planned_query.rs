use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::parser::Statement as DataFusionStatement;
use datafusion::sql::sqlparser::ast::{self, TableFactor, Visit, Visitor};
use deltalake::delta_datafusion::create_session;

use tidewater_core::ServingView;

use crate::TableName;
use crate::flow_error::FlowError;
use crate::serving_view::view_provider;
use crate::table_functions::FileSourceCalls;
use crate::warehouse_location::WarehouseLocation;

/// One SQL query planned on its own session: the warehouse tables it names and the files its
/// table functions read are registered, nothing else.
///
/// A session per query, rather than one long-lived session with a catalog of every table,
/// means each query sees the tables' latest versions, opens only the tables it reads, and
/// shares no mutable state with concurrent queries. The session comes from deltalake's
/// `create_session()`: Delta writes need its query planner (DEPS.md pitfall 1).
pub(crate) struct PlannedQuery {
    pub(crate) dataframe: DataFrame,
}

/// Rows a query reads by a bare name beside the warehouse's tables: a stream's micro-batch
/// as `messages`.
pub(crate) struct NamedBatch<'a> {
    pub(crate) name: &'a str,
    pub(crate) batch: RecordBatch,
}

impl PlannedQuery {
    pub(crate) async fn plan(
        location: &WarehouseLocation,
        project_root: &Path,
        sql: &str,
        views: &[ServingView],
    ) -> Result<PlannedQuery, FlowError> {
        PlannedQuery::plan_with_batch(location, project_root, sql, views, None).await
    }

    /// [`PlannedQuery::plan`], with `batch` readable by its bare name too.
    pub(crate) async fn plan_with_batch(
        location: &WarehouseLocation,
        project_root: &Path,
        sql: &str,
        views: &[ServingView],
        batch: Option<NamedBatch<'_>>,
    ) -> Result<PlannedQuery, FlowError> {
        let ParsedQuery {
            context,
            query,
            references,
        } = ParsedQuery::parse(sql)?;
        let state = context.state();
        let default_catalog = state.config().options().catalog.default_catalog.clone();
        let mut registered_schemas = BTreeSet::new();
        if let Some(NamedBatch { name, batch }) = &batch {
            context.register_batch(*name, batch.clone())?;
        }
        for (reference, name) in references {
            if let (TableReference::Bare { table }, Some(batch)) = (&reference, &batch)
                && **table == *batch.name
            {
                continue;
            }
            // A serving view (`serving.<name>`) is a union over its two tables' snapshots.
            if let Some(view) = name
                .as_ref()
                .and_then(|name| views.iter().find(|view| view.name == *name))
            {
                if registered_schemas.insert(view.name.schema().to_owned())
                    && let Some(catalog) = context.catalog(&default_catalog)
                {
                    catalog.register_schema(
                        view.name.schema(),
                        Arc::new(MemorySchemaProvider::new()),
                    )?;
                }
                let provider = view_provider(location, view, &state).await?;
                context.register_table(reference, provider)?;
                continue;
            }
            let table = match &name {
                Some(name) => location.open(name).await?,
                None => None,
            };
            let (Some(name), Some(table)) = (name, table) else {
                return Err(FlowError::UnknownTable {
                    name: reference.to_string(),
                    known: location
                        .tables()
                        .await?
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                });
            };
            if registered_schemas.insert(name.schema().to_owned())
                && let Some(catalog) = context.catalog(&default_catalog)
            {
                catalog.register_schema(name.schema(), Arc::new(MemorySchemaProvider::new()))?;
            }
            table.update_datafusion_session(&state)?;
            let provider = table.table_provider().await?;
            context.register_table(reference, provider)?;
        }

        FileSourceCalls::find(&query)?
            .resolve(&state, project_root)
            .await?
            .register(&context);

        let state = context.state();
        let plan = state
            .statement_to_plan(DataFusionStatement::Statement(query))
            .await?;
        Ok(PlannedQuery {
            dataframe: DataFrame::new(state, plan),
        })
    }

    /// The warehouse tables `sql` reads, from its text alone: nothing is opened, so it is
    /// known before the query runs (lineage's start event). Planning registers exactly
    /// these tables and fails on any it cannot open, so a query that runs reads these.
    pub(crate) fn tables_read(sql: &str) -> Result<Vec<TableName>, FlowError> {
        let parsed = ParsedQuery::parse(sql)?;
        let mut tables: Vec<TableName> = parsed
            .references
            .into_iter()
            .filter_map(|(_, name)| name)
            .collect();
        tables.sort();
        tables.dedup();
        Ok(tables)
    }
}

/// A query parsed on its own session, with the table references it makes: each with its
/// warehouse table name, `None` for a reference that cannot be one (another catalog, a bare
/// name). Table function calls are not references.
struct ParsedQuery {
    context: SessionContext,
    /// A query (`SELECT`, `WITH`, ...): any other statement is refused by `parse`.
    query: Box<ast::Statement>,
    references: Vec<(TableReference, Option<TableName>)>,
}

impl ParsedQuery {
    fn parse(sql: &str) -> Result<ParsedQuery, FlowError> {
        let context = create_session().into_inner();
        let state = context.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = match state.sql_to_statement(sql, &dialect) {
            Ok(statement) => statement,
            Err(DataFusionError::NotImplemented(message)) => {
                return Err(FlowError::NotAQuery { found: message });
            }
            Err(error) => return Err(error.into()),
        };
        let query = match &statement {
            DataFusionStatement::Statement(inner)
                if matches!(**inner, ast::Statement::Query(_)) =>
            {
                // A copy of the syntax tree (microseconds), kept as the query type itself
                // so that planning needs no second check that it is one.
                inner.clone()
            }
            other => {
                return Err(FlowError::NotAQuery {
                    found: statement_head(&other.to_string()),
                });
            }
        };
        let references = state.resolve_table_references(&statement)?;
        let function_calls = TableFunctionNames::find(&query);
        let default_catalog = state.config().options().catalog.default_catalog.clone();
        let references = references
            .into_iter()
            .filter(|reference| {
                !matches!(reference, TableReference::Bare { table }
                    if function_calls.contains(table.as_ref()))
            })
            .map(|reference| {
                let name = match &reference {
                    TableReference::Partial { schema, table } => TableName::new(schema, table).ok(),
                    TableReference::Full {
                        catalog,
                        schema,
                        table,
                    } if **catalog == *default_catalog => TableName::new(schema, table).ok(),
                    _ => None,
                };
                (reference, name)
            })
            .collect();
        Ok(ParsedQuery {
            context,
            query,
            references,
        })
    }
}

/// Names used as table functions (`FROM name(...)`): DataFusion lists them among the table
/// references, but they are not tables.
#[derive(Default)]
struct TableFunctionNames {
    names: BTreeSet<String>,
}

impl TableFunctionNames {
    fn find(statement: &ast::Statement) -> BTreeSet<String> {
        let mut finder = TableFunctionNames::default();
        // The visitor never breaks.
        let _ = statement.visit(&mut finder);
        finder.names
    }
}

impl Visitor for TableFunctionNames {
    type Break = ();

    fn pre_visit_table_factor(&mut self, table_factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = table_factor
            && let [part] = name.0.as_slice()
            && let Some(ident) = part.as_ident()
        {
            self.names.insert(ident.value.clone());
        }
        ControlFlow::Continue(())
    }
}

/// The start of a refused statement, enough to recognise it in an error message.
fn statement_head(statement: &str) -> String {
    const SHOWN: usize = 60;
    match statement.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &statement[..end]),
        None => statement.to_owned(),
    }
}
