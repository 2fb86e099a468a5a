use std::path::Path;

use anyhow::{Context, bail};

use crate::Outcome;
use crate::args::InitArgs;
use crate::output;

/// The example project, the same files as the repository's `example/` folder.
const FILES: &[(&str, &str, bool)] = &[
    (
        "tidewater.toml",
        include_str!("../../../../example/tidewater.toml"),
        false,
    ),
    (
        "workflows/daily_orders.yaml",
        include_str!("../../../../example/workflows/daily_orders.yaml"),
        false,
    ),
    (
        "scripts/extract.sh",
        include_str!("../../../../example/scripts/extract.sh"),
        true,
    ),
    (
        "sql/daily_revenue.sql",
        include_str!("../../../../example/sql/daily_revenue.sql"),
        false,
    ),
    (
        ".gitignore",
        include_str!("../../../../example/.gitignore"),
        false,
    ),
];

pub(super) fn init(project: &Path, args: InitArgs) -> anyhow::Result<Outcome> {
    let dir = args.dir.as_deref().unwrap_or(project);
    if dir.join("tidewater.toml").exists() {
        bail!(
            "{} already holds a project (tidewater.toml exists); nothing was written",
            dir.display()
        );
    }
    for (name, contents, is_executable) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if *is_executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    output::note(format!(
        "created a Tidewater project in {}\nnext: tidewater --project {} run daily_orders --date 2026-01-01",
        dir.display(),
        dir.display()
    ));
    Ok(Outcome::Success)
}
