use std::path::Path;

use deltalake::{DeltaTable, DeltaTableBuilder, ObjectStore, Path as StorePath};
use url::Url;

use crate::TableName;
use crate::flow_error::FlowError;

/// The root under which tables live, as a URL ending in `/`: `file:///…/warehouse/`,
/// `s3://bucket/warehouse/`, ... Local folders and object stores take the same path through
/// deltalake's object store layer; only creating the root folder is local-only.
#[derive(Debug, Clone)]
pub(crate) struct WarehouseLocation {
    root: Url,
}

impl WarehouseLocation {
    /// `location` is a URL (`scheme://…`) or a path, relative paths resolved against the
    /// project root. A local root is created if missing, so a new project can write at once.
    pub(crate) fn new(location: &str, project_root: &Path) -> Result<WarehouseLocation, FlowError> {
        let invalid = |reason: String| FlowError::InvalidLocation {
            location: location.to_owned(),
            reason,
        };
        let mut root = if location.contains("://") {
            Url::parse(location).map_err(|error| invalid(error.to_string()))?
        } else {
            let path = project_root.join(location);
            create_local_folder(&path)?;
            let path = path.canonicalize().map_err(|source| FlowError::Io {
                action: "resolving the warehouse folder",
                path: path.display().to_string(),
                source,
            })?;
            Url::from_directory_path(&path)
                .map_err(|()| invalid("not an absolute local path".to_owned()))?
        };
        if root.scheme() == "file" {
            let path = root
                .to_file_path()
                .map_err(|()| invalid("not a local file URL".to_owned()))?;
            create_local_folder(&path)?;
        }
        if !root.path().ends_with('/') {
            // `Url::join` replaces the last segment of a URL that does not end in `/`.
            root.set_path(&format!("{}/", root.path()));
        }
        Ok(WarehouseLocation { root })
    }

    pub(crate) fn root(&self) -> &Url {
        &self.root
    }

    pub(crate) fn table_url(&self, table: &TableName) -> Url {
        let mut url = self.root.clone();
        // Table names are validated identifiers, so they need no escaping.
        url.set_path(&format!(
            "{}{}/{}/",
            self.root.path(),
            table.schema(),
            table.table()
        ));
        url
    }

    /// The table handle, loaded when the table exists; `Ok(None)` when it does not.
    pub(crate) async fn open(&self, table: &TableName) -> Result<Option<DeltaTable>, FlowError> {
        let url = self.table_url(table);
        if url.scheme() == "file"
            && let Ok(path) = url.to_file_path()
            && !path.is_dir()
        {
            // Reading must not leave an empty folder behind for a mistyped name.
            return Ok(None);
        }
        let handle = DeltaTable::try_from_url(url).await?;
        Ok(handle.version().is_some().then_some(handle))
    }

    /// A handle that may point at a table not created yet: the first write creates it.
    pub(crate) async fn handle(&self, table: &TableName) -> Result<DeltaTable, FlowError> {
        let url = self.table_url(table);
        if url.scheme() == "file"
            && let Ok(path) = url.to_file_path()
        {
            // deltalake refuses a local table URL whose folder does not exist.
            create_local_folder(&path)?;
        }
        Ok(DeltaTable::try_from_url(url).await?)
    }

    /// Every `<schema>/<table>/` with a `_delta_log/`; folders whose names are not valid
    /// table names are not tables of this warehouse and are skipped.
    pub(crate) async fn tables(&self) -> Result<Vec<TableName>, FlowError> {
        let store = DeltaTableBuilder::from_url(self.root.clone())?
            .build_storage()?
            .object_store(None);
        let mut tables = Vec::new();
        for schema_prefix in folders(store.as_ref(), None).await? {
            let Some(schema) = schema_prefix.filename() else {
                continue;
            };
            for table_prefix in folders(store.as_ref(), Some(&schema_prefix)).await? {
                let Some(table) = table_prefix.filename() else {
                    continue;
                };
                let Ok(name) = TableName::new(schema, table) else {
                    continue;
                };
                let has_log = folders(store.as_ref(), Some(&table_prefix))
                    .await?
                    .iter()
                    .any(|inner| inner.filename() == Some("_delta_log"));
                if has_log {
                    tables.push(name);
                }
            }
        }
        tables.sort();
        Ok(tables)
    }
}

async fn folders(
    store: &dyn ObjectStore,
    prefix: Option<&StorePath>,
) -> Result<Vec<StorePath>, FlowError> {
    match store.list_with_delimiter(prefix).await {
        Ok(listing) => Ok(listing.common_prefixes),
        Err(deltalake::ObjectStoreError::NotFound { .. }) => Ok(Vec::new()),
        Err(error) => Err(FlowError::Delta(Box::new(error.into()))),
    }
}

fn create_local_folder(path: &Path) -> Result<(), FlowError> {
    std::fs::create_dir_all(path).map_err(|source| FlowError::Io {
        action: "creating the folder",
        path: path.display().to_string(),
        source,
    })
}
