//! The crash tests' seam inside a compaction: stop after its new Parquet files are written and
//! before its Delta commit.
//!
//! deltalake's `optimize` writes the files and commits them in one call, and its execute
//! hooks run before the writes or after the commit. The seam is therefore the table's object
//! store: [`StoppingStore`] passes everything through to the real store and stops the first
//! write of a commit file (`_delta_log/<version>.json`), which comes after every data file
//! of the compaction. Only [`crate::Warehouse::compact_stopping_before_commit`] builds one;
//! [`crate::Warehouse::compact`] opens the table as usual and pays nothing for it.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::BoxStream;
use tokio::sync::oneshot;

/// An object store that never completes the first commit-file write: it tells `reached` and
/// waits forever (the test kills the process there).
pub(crate) struct StoppingStore {
    inner: Arc<dyn ObjectStore>,
    reached: Mutex<Option<oneshot::Sender<()>>>,
}

impl StoppingStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, reached: oneshot::Sender<()>) -> StoppingStore {
        StoppingStore {
            inner,
            reached: Mutex::new(Some(reached)),
        }
    }

    async fn stop_at_commit(&self, location: &Path) {
        if !is_commit_file(location) {
            return;
        }
        let reached = match self.reached.lock() {
            Ok(mut reached) => reached.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        // The receiver may be gone (its waiter stopped); the store stops all the same.
        if let Some(reached) = reached {
            let _ = reached.send(());
        }
        std::future::pending::<()>().await;
    }
}

/// `…/_delta_log/00000000000000000007.json` (not a checkpoint, nor `_last_checkpoint`).
fn is_commit_file(location: &Path) -> bool {
    let mut parts: Vec<_> = location.parts().collect();
    let (Some(file), Some(folder)) = (parts.pop(), parts.pop()) else {
        return false;
    };
    folder.as_ref() == "_delta_log"
        && file
            .as_ref()
            .strip_suffix(".json")
            .is_some_and(|version| version.bytes().all(|byte| byte.is_ascii_digit()))
}

impl fmt::Debug for StoppingStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "StoppingStore({})", self.inner)
    }
}

impl fmt::Display for StoppingStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "StoppingStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for StoppingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.stop_at_commit(location).await;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    // Log stores that commit by copying or renaming a temporary file write the commit file
    // here.
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.stop_at_commit(to).await;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.stop_at_commit(to).await;
        self.inner.rename_opts(from, to, options).await
    }
}
