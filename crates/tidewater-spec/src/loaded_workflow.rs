use std::fmt::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use std::ops::Range;

use tidewater_core::{TableName, Workflow};

/// A checked workflow with the exact text it was read from, so that a run can be pinned to
/// this version (by `hash`) and re-read later with [`crate::Project::parse_workflow`].
#[derive(Debug, Clone)]
pub struct LoadedWorkflow {
    pub path: PathBuf,
    pub source: String,
    /// The SHA-256 of `source`, in lowercase hex.
    pub hash: String,
    pub workflow: Workflow,
    /// Where each table of `schedule: { on }` is named, for
    /// [`crate::Project::check_trigger_tables`].
    pub trigger_tables: Vec<(TableName, Range<usize>)>,
}

impl LoadedWorkflow {
    pub(crate) fn new(path: PathBuf, source: String, workflow: Workflow) -> LoadedWorkflow {
        LoadedWorkflow {
            hash: LoadedWorkflow::hash_of(&source),
            path,
            source,
            workflow,
            trigger_tables: Vec::new(),
        }
    }

    /// The hash a workflow file's text is pinned by.
    pub fn hash_of(source: &str) -> String {
        let digest = Sha256::digest(source.as_bytes());
        let mut hex = String::with_capacity(digest.len() * 2);
        for byte in digest {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_the_sha256_hex_of_the_source() {
        assert_eq!(
            LoadedWorkflow::hash_of("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
