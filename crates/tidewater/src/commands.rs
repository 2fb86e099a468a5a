//! One module per command.

mod clear;
mod foreground;
mod init;
mod logs;
mod next;
mod retry;
mod run;
mod runs;
mod show;
mod status;
mod validate;

use crate::Outcome;
use crate::args::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let project = cli.project;
    match cli.command {
        Command::Init(args) => init::init(&project, args),
        Command::Validate => validate::validate(&project),
        Command::Run(args) => run::run(&project, args).await,
        Command::Retry(args) => retry::retry(&project, args).await,
        Command::Clear(args) => clear::clear(&project, args).await,
        Command::Runs(args) => runs::runs(&project, args).await,
        Command::Status(args) => status::status(&project, args).await,
        Command::Logs(args) => logs::logs(&project, args).await,
        Command::Show(args) => show::show(&project, args),
        Command::Next(args) => next::next(&project, args),
    }
}
