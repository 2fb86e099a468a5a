//! One module per command.

mod backfill;
mod ballista;
mod cancel;
mod clear;
mod connections;
mod control;
mod follow;
mod foreground;
mod init;
mod logs;
mod maintain;
mod next;
mod query;
mod queue;
mod retry;
pub(crate) mod run;
mod runs;
mod server;
mod show;
mod status;
mod store;
mod stream;
mod tables;
mod test;
mod token;
mod validate;
mod worker;
mod workers;
mod workflows;

pub(crate) use ballista::remote_engines;

use crate::Outcome;
use crate::args::{Cli, Command};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let project = cli.project;
    match cli.command {
        Command::Init(args) => init::init(&project, args),
        Command::Validate => validate::validate(&project).await,
        Command::Workflows(args) => workflows::workflows(&project, args).await,
        Command::Run(args) => run::run(&project, args).await,
        Command::Test(args) => test::test(&project, args).await,
        Command::Retry(args) => retry::retry(&project, args).await,
        Command::Cancel(args) => cancel::cancel(&project, args).await,
        Command::Clear(args) => clear::clear(&project, args).await,
        Command::Runs(args) => runs::runs(&project, args).await,
        Command::Status(args) => status::status(&project, args).await,
        Command::Logs(args) => logs::logs(&project, args).await,
        Command::Show(args) => show::show(&project, args),
        Command::Next(args) => next::next(&project, args),
        Command::Query(args) => query::query(&project, args).await,
        Command::Tables(args) => tables::tables(&project, args).await,
        Command::Compact(args) => maintain::compact(&project, args).await,
        Command::Vacuum(args) => maintain::vacuum(&project, args).await,
        Command::Server(args) => server::server(&project, args).await,
        Command::Worker(args) => worker::worker(&project, args).await,
        Command::Workers(args) => workers::workers(&project, args).await,
        Command::Pause(args) => control::pause(&project, args, true).await,
        Command::Unpause(args) => control::pause(&project, args, false).await,
        Command::Trigger(args) => control::trigger(&project, args).await,
        Command::Backfill(args) => backfill::backfill(&project, args).await,
        Command::Queue(args) => queue::queue(&project, args).await,
        Command::Store(command) => store::store(&project, command).await,
        Command::Token(command) => token::token(&project, command).await,
        Command::Connections(args) => connections::connections(&project, args).await,
        Command::Stream(command) => stream::stream(&project, command).await,
        Command::Streams(args) => stream::streams(&project, args).await,
        Command::Ballista(command) => ballista::ballista(command).await,
    }
}
