//! `tidewater token create|list|revoke`: the HTTP API's tokens.

use std::path::Path;

use tidewater_control::json::TokenJson;
use tidewater_core::Timestamp;
use tidewater_store::TokenScope;

use crate::Outcome;
use crate::args::{TokenCommand, TokenScopeArg};
use crate::output;

pub(super) async fn token(project: &Path, command: TokenCommand) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    match command {
        TokenCommand::Create(args) => {
            let scope = match args.scope {
                TokenScopeArg::Read => TokenScope::Read,
                TokenScopeArg::Operate => TokenScope::Operate,
                TokenScopeArg::Admin => TokenScope::Admin,
                TokenScopeArg::Worker => TokenScope::Worker,
            };
            let created = control.create_token(&args.name, scope).await?;
            output::note(format!(
                "token {} ({scope}) created; it is shown once, below: keep it now",
                created.record.name
            ));
            // Only the token on stdout, so that a script can capture it.
            output::data(created.secret.expose());
        }
        TokenCommand::List(args) => {
            let tokens = control.tokens().await?;
            if args.json {
                output::json(&tokens.iter().map(TokenJson::new).collect::<Vec<_>>())?;
            } else if tokens.is_empty() {
                output::note(
                    "no tokens; the API is open to loopback only. Create one with `tidewater \
                     token create --name NAME --scope read|operate|admin`",
                );
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|token| {
                        vec![
                            token.name.to_string(),
                            token.scope.to_string(),
                            time(Some(token.created_at)),
                            time(token.last_used_at),
                            time(token.revoked_at),
                        ]
                    })
                    .collect();
                output::data(output::table(
                    &["NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"],
                    &rows,
                ));
            }
        }
        TokenCommand::Revoke(args) => {
            let token = control.revoke_token(&args.name).await?;
            output::note(format!(
                "token {} revoked: it opens nothing from now on, and its sessions have ended",
                token.name
            ));
        }
    }
    Ok(Outcome::Success)
}

fn time(time: Option<Timestamp>) -> String {
    time.map_or_else(
        || "-".to_owned(),
        |time| time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}
