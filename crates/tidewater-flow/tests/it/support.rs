use std::path::Path;

use tempfile::TempDir;
use tidewater_flow::{
    CommitInfo, OutputFormat, SchemaPolicy, TableName, Warehouse, WriteMode, WriteOutcome,
    WriteSpec, WriteSummary, format_batches,
};

/// A temporary project folder with a warehouse in `warehouse/`.
pub(crate) struct Project {
    pub folder: TempDir,
    pub warehouse: Warehouse,
}

impl Project {
    pub(crate) fn new() -> Project {
        let folder = tempfile::tempdir().expect("temporary folder");
        let warehouse = Warehouse::new("warehouse", folder.path()).expect("warehouse");
        Project { folder, warehouse }
    }

    pub(crate) fn root(&self) -> &Path {
        self.folder.path()
    }

    pub(crate) fn write_file(&self, relative: &str, contents: &str) {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().expect("file has a folder")).expect("folder");
        std::fs::write(path, contents).expect("file written");
    }

    /// The query's rows as CSV lines without the header, sorted, so tests compare exact table
    /// contents independent of file order.
    pub(crate) async fn rows(&self, sql: &str) -> Vec<String> {
        let batches = self.warehouse.query(sql).await.expect("query runs");
        let csv = format_batches(&batches, OutputFormat::Csv).expect("formats");
        let mut lines: Vec<String> = csv.lines().skip(1).map(str::to_owned).collect();
        lines.sort();
        lines
    }

    pub(crate) async fn version(&self, table: &str) -> u64 {
        self.warehouse
            .describe(&table.parse().expect("table name"))
            .await
            .expect("describe")
            .version
    }

    pub(crate) async fn write(
        &self,
        sql: &str,
        spec: &WriteSpec,
        commit: &CommitInfo,
    ) -> WriteSummary {
        self.warehouse
            .write(sql, spec, commit)
            .await
            .unwrap_or_else(|error| panic!("write to {} failed: {error}", spec.table))
    }
}

pub(crate) fn table(name: &str) -> TableName {
    name.parse().expect("valid table name")
}

pub(crate) fn commit(run_id: i64, task: &str, attempt: u32) -> CommitInfo {
    CommitInfo {
        workflow: "daily_sales".to_owned(),
        run_id,
        task: task.to_owned(),
        attempt,
    }
}

pub(crate) fn spec(table_name: &str, mode: WriteMode, partition: &[(&str, &str)]) -> WriteSpec {
    WriteSpec {
        table: table(table_name),
        partition: partition
            .iter()
            .map(|(column, value)| ((*column).to_owned(), (*value).to_owned()))
            .collect(),
        mode,
        keys: Vec::new(),
        schema_policy: SchemaPolicy::Strict,
    }
}

pub(crate) fn committed_version(summary: &WriteSummary) -> u64 {
    match summary.outcome {
        WriteOutcome::Committed { version, .. } => version,
        WriteOutcome::AlreadyCommitted { .. } => panic!("expected a commit, got {summary:?}"),
    }
}

pub(crate) fn lines(expected: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = expected.iter().map(|line| (*line).to_owned()).collect();
    lines.sort();
    lines
}
