//! `read_csv('glob')`, `read_parquet('glob')` and `read_json('glob')`: files next to the
//! project, queryable like tables.
//!
//! DataFusion calls a table function while planning, synchronously, but building a
//! `ListingTable` needs IO (listing the files, inferring the schema). So the calls are found in
//! the parsed SQL first ([`FileSourceCalls::find`]), resolved asynchronously
//! ([`FileSourceCalls::resolve`]), and the registered table functions hand out those
//! providers. The rejected alternative, blocking on IO inside the function, needs a
//! multi-threaded runtime and would stall a runtime worker.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, TableFactor, Value, Visit, Visitor,
};
use futures::TryStreamExt;

use crate::flow_error::FlowError;

/// The file formats that have a table function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum FileFormatKind {
    Csv,
    Parquet,
    Json,
}

impl FileFormatKind {
    const ALL: [FileFormatKind; 3] = [
        FileFormatKind::Csv,
        FileFormatKind::Parquet,
        FileFormatKind::Json,
    ];

    pub(crate) fn function_name(self) -> &'static str {
        match self {
            FileFormatKind::Csv => "read_csv",
            FileFormatKind::Parquet => "read_parquet",
            FileFormatKind::Json => "read_json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            FileFormatKind::Csv => "csv",
            FileFormatKind::Parquet => "parquet",
            FileFormatKind::Json => "json",
        }
    }

    pub(crate) fn from_function_name(name: &str) -> Option<FileFormatKind> {
        FileFormatKind::ALL
            .into_iter()
            .find(|kind| kind.function_name().eq_ignore_ascii_case(name))
    }

    fn file_format(self) -> Arc<dyn FileFormat> {
        match self {
            // Landing-zone CSV files nearly always have a header row; types are inferred.
            FileFormatKind::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
            FileFormatKind::Parquet => Arc::new(ParquetFormat::default()),
            // Newline-delimited JSON, one object per line.
            FileFormatKind::Json => Arc::new(JsonFormat::default()),
        }
    }
}

/// The file table function calls of one statement: (format, path or glob as written).
#[derive(Debug, Default)]
pub(crate) struct FileSourceCalls {
    calls: BTreeSet<(FileFormatKind, String)>,
}

impl FileSourceCalls {
    /// Finds every `read_csv('…')`-style call in the statement, wherever it is nested.
    pub(crate) fn find(statement: &ast::Statement) -> Result<FileSourceCalls, FlowError> {
        let mut finder = CallFinder::default();
        match statement.visit(&mut finder) {
            ControlFlow::Continue(()) => Ok(finder.found),
            ControlFlow::Break(error) => Err(error),
        }
    }

    /// Lists each call's files and infers its schema. Paths are relative to the project root.
    pub(crate) async fn resolve(
        self,
        state: &SessionState,
        project_root: &Path,
    ) -> Result<ResolvedFileSources, FlowError> {
        let mut providers = HashMap::new();
        for (kind, path) in self.calls {
            let provider = listing_table(state, project_root, kind, &path).await?;
            providers.insert((kind, path), provider);
        }
        Ok(ResolvedFileSources { providers })
    }
}

#[derive(Default)]
struct CallFinder {
    found: FileSourceCalls,
}

impl Visitor for CallFinder {
    type Break = FlowError;

    fn pre_visit_table_factor(&mut self, table_factor: &TableFactor) -> ControlFlow<FlowError> {
        let TableFactor::Table {
            name,
            args: Some(arguments),
            ..
        } = table_factor
        else {
            return ControlFlow::Continue(());
        };
        let [part] = name.0.as_slice() else {
            return ControlFlow::Continue(());
        };
        let Some(kind) = part
            .as_ident()
            .and_then(|ident| FileFormatKind::from_function_name(&ident.value))
        else {
            return ControlFlow::Continue(());
        };
        match single_string_literal(&arguments.args) {
            Some(path) => {
                self.found.calls.insert((kind, path));
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(invalid_call(kind)),
        }
    }
}

fn single_string_literal(arguments: &[FunctionArg]) -> Option<String> {
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(ast::Expr::Value(value)))] = arguments else {
        return None;
    };
    match &value.value {
        Value::SingleQuotedString(path) | Value::DoubleQuotedString(path) => Some(path.clone()),
        _ => None,
    }
}

fn invalid_call(kind: FileFormatKind) -> FlowError {
    FlowError::InvalidTableFunctionCall {
        function: kind.function_name().to_owned(),
        extension: kind.extension().to_owned(),
    }
}

async fn listing_table(
    state: &SessionState,
    project_root: &Path,
    kind: FileFormatKind,
    path: &str,
) -> Result<Arc<dyn TableProvider>, FlowError> {
    let missing = || FlowError::MissingSource {
        path: path.to_owned(),
    };
    let location = if path.contains("://") || Path::new(path).is_absolute() {
        path.to_owned()
    } else {
        project_root.join(path).to_string_lossy().into_owned()
    };
    let url = ListingTableUrl::parse(&location)?;
    // A folder reads the format's files in it; a file or glob reads exactly what it names,
    // whatever the extension (`landing/2026-01-01/*` may hold `.txt` CSV exports).
    let extension = if url.is_collection() {
        format!(".{}", kind.extension())
    } else {
        String::new()
    };
    let options = ListingOptions::new(kind.file_format()).with_file_extension(extension);

    if !has_files(state, &url, &options.file_extension).await? {
        return Err(missing());
    }

    let schema = options.infer_schema(state, &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

async fn has_files(
    state: &SessionState,
    url: &ListingTableUrl,
    extension: &str,
) -> Result<bool, FlowError> {
    let store = state.runtime_env().object_store(url)?;
    let listing = url.list_all_files(state, store.as_ref(), extension).await;
    match listing {
        Ok(mut files) => match files.try_next().await {
            Ok(first) => Ok(first.is_some()),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(error.into()),
        },
        Err(error) if is_not_found(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn is_not_found(error: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError;
    match error.find_root() {
        DataFusionError::ObjectStore(store_error) => {
            matches!(**store_error, deltalake::ObjectStoreError::NotFound { .. })
        }
        DataFusionError::IoError(io_error) => io_error.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// The providers of one statement's file table function calls.
#[derive(Debug, Default)]
pub(crate) struct ResolvedFileSources {
    providers: HashMap<(FileFormatKind, String), Arc<dyn TableProvider>>,
}

impl ResolvedFileSources {
    /// Registers `read_csv`, `read_parquet` and `read_json` on a per-query session.
    pub(crate) fn register(self, context: &SessionContext) {
        let sources = Arc::new(self);
        for kind in FileFormatKind::ALL {
            context.register_udtf(
                kind.function_name(),
                Arc::new(FileTableFunction {
                    kind,
                    sources: Arc::clone(&sources),
                }),
            );
        }
    }
}

#[derive(Debug)]
struct FileTableFunction {
    kind: FileFormatKind,
    sources: Arc<ResolvedFileSources>,
}

impl TableFunctionImpl for FileTableFunction {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let path = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(path)), _)]
            | [Expr::Literal(ScalarValue::Utf8View(Some(path)), _)]
            | [Expr::Literal(ScalarValue::LargeUtf8(Some(path)), _)] => path,
            _ => return plan_err!("{}", invalid_call(self.kind)),
        };
        match self.sources.providers.get(&(self.kind, path.clone())) {
            Some(provider) => Ok(Arc::clone(provider)),
            // Every call in the statement was resolved before planning; reaching this means
            // the finder and DataFusion's planner disagree about what a call is.
            None => plan_err!(
                "{}('{path}') was not resolved before planning; this is a bug in tidewater",
                self.kind.function_name()
            ),
        }
    }
}
