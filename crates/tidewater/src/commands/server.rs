//! `tidewater server`: the scheduler, the local executor and the HTTP API, until SIGTERM or
//! Ctrl-C.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tidewater_control::ServerReport;
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::ServerArgs;
use crate::service_log::ServiceLog;

pub(super) async fn server(project: &Path, args: ServerArgs) -> anyhow::Result<Outcome> {
    let control = Arc::new(crate::project_context::open(project).await?);
    let listen = match (&args.listen, &control.project.config.listen) {
        (Some(flag), _) => loopback_address("--listen", flag)?,
        (None, Some(file)) => loopback_address("[server] listen in tidewater.toml", file)?,
        (None, None) => loopback_address("--listen", DEFAULT_LISTEN)?,
    };
    let me = control.claim_server().await?;
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            control.release_server(me).await?;
            return Err(error).with_context(|| {
                format!("cannot listen on {listen} (`--listen` or `[server] listen` picks another address)")
            });
        }
    };
    let log = Arc::new(ServiceLog::default());
    // Tests and scripts read the port from this line when `--listen` asked for port 0.
    log.line(&format!(
        "HTTP API on http://{}/api/v1",
        listener.local_addr()?
    ));
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    // The API stops once the scheduler has stopped, so that a request never finds the store
    // without its server.
    let (stopped, api_stop) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(tidewater_server::serve_http(
        control.clone(),
        args.execution.parallelism,
        listener,
        async move {
            let _ = api_stop.await;
        },
    ));
    let result = control
        .serve(me, args.execution.parallelism, log.clone(), stop)
        .await;
    let _ = stopped.send(());
    let api_result = api.await;
    control.release_server(me).await?;
    result?;
    api_result
        .context("the HTTP API failed")?
        .context("the HTTP API failed")?;
    log.line("server stopped");
    Ok(Outcome::Success)
}

/// Where the API listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The address `listen` (from `origin`) names, refused unless every address it resolves to
/// is loopback: the API has no tokens yet, so anyone who can reach it could run and cancel
/// anything.
fn loopback_address(origin: &str, listen: &str) -> anyhow::Result<SocketAddr> {
    let addresses: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .with_context(|| format!("{origin}: `{listen}` is not an address like 127.0.0.1:8080"))?
        .collect();
    match addresses.first() {
        Some(first) if addresses.iter().all(|address| address.ip().is_loopback()) => Ok(*first),
        Some(_) => anyhow::bail!(
            "{origin}: `{listen}` is not a loopback address; the HTTP API has no tokens yet, so it \
             only listens where nobody else can reach it (127.0.0.1 or ::1)"
        ),
        None => anyhow::bail!("{origin}: `{listen}` resolves to no address"),
    }
}
