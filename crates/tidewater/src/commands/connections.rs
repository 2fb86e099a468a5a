//! `tidewater connections [test NAME]`: the project's connections, never their secrets.

use std::path::Path;

use tidewater_control::json::{ConnectionCheckJson, ConnectionJson};

use crate::Outcome;
use crate::args::{ConnectionsArgs, ConnectionsCommand};
use crate::output;

pub(super) async fn connections(project: &Path, args: ConnectionsArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    match args.command {
        None => {
            let connections = control.list_connections();
            if args.json {
                output::json(
                    &connections
                        .iter()
                        .map(ConnectionJson::new)
                        .collect::<Vec<_>>(),
                )?;
                return Ok(Outcome::Success);
            }
            if connections.is_empty() {
                output::note(
                    "no connections; declare one in tidewater.toml: `[connections.NAME]` with \
                     `url = \"...\"` and `password = \"env:VAR\"`",
                );
                return Ok(Outcome::Success);
            }
            let rows: Vec<Vec<String>> = connections
                .iter()
                .flat_map(|connection| {
                    connection.fields.iter().map(|field| {
                        let value = match (&field.error, &field.shown, field.is_secret) {
                            (Some(error), _, _) => format!("(cannot be read: {error})"),
                            (None, _, true) => "(secret)".to_owned(),
                            (None, Some(shown), false) => shown.clone(),
                            (None, None, false) => String::new(),
                        };
                        vec![
                            connection.name.clone(),
                            connection.kind.name().to_owned(),
                            field.name.clone(),
                            field.source.clone(),
                            value,
                        ]
                    })
                })
                .collect();
            output::data(output::table(
                &["CONNECTION", "KIND", "FIELD", "FROM", "VALUE"],
                &rows,
            ));
            Ok(Outcome::Success)
        }
        Some(ConnectionsCommand::Test(test)) => {
            let check = control.test_connection(&test.name).await?;
            if test.json {
                output::json(&ConnectionCheckJson::new(&check))?;
            } else {
                match &check.outcome {
                    Ok(detail) => output::data(format!(
                        "{} ({}): ok, {detail}\nchecked: {}",
                        check.name,
                        check.kind.name(),
                        check.checked
                    )),
                    Err(detail) => output::data(format!(
                        "{} ({}): failed, {detail}\nchecked: {}",
                        check.name,
                        check.kind.name(),
                        check.checked
                    )),
                }
            }
            Ok(if check.outcome.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            })
        }
    }
}
