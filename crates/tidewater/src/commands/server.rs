//! `tidewater server`: the scheduler, the local executor, the project's streams and the HTTP
//! API, until SIGTERM or Ctrl-C. It listens beyond loopback only once a valid token exists.

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
    let (control, leases) = crate::project_context::open(project)
        .await?
        .join_servers()
        .await?;
    // The server's tasks and streams read the view files as they change (`Control::serve`).
    let control = Arc::new(control.with_live_views());
    let (origin, text) = listen_setting(
        args.listen.as_deref(),
        control.project.config.listen.as_deref(),
    );
    let addresses: Vec<SocketAddr> = text
        .to_socket_addrs()
        .with_context(|| format!("{origin}: `{text}` is not an address like 127.0.0.1:8080"))?
        .collect();
    let listen = allowed_address(origin, text, &addresses, control.has_valid_tokens().await?)?;
    let me = control.claim_server(leases).await?;
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            control.release_server(&me).await?;
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
    // The streams stop with the scheduler: on a signal, or when it stops on its own (its
    // store's files replaced), which drops the sender.
    let (streams_stop, mut streams_stopping) = tokio::sync::watch::channel(false);
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        let _ = streams_stop.send(true);
    };
    let streams = tidewater_stream::StreamSupervisor::new(
        control.clone(),
        Arc::new(control.warehouse()?),
        log.clone(),
    );
    let woken = control.wakeups.listen().ok();
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
    let (result, ()) = tokio::join!(
        control.serve(&me, args.execution.parallelism, log.clone(), stop),
        streams.run(woken, async move {
            let _ = streams_stopping.wait_for(|is_stopping| *is_stopping).await;
        }),
    );
    let _ = stopped.send(());
    let api_result = api.await;
    control.release_server(&me).await?;
    result?;
    api_result
        .context("the HTTP API failed")?
        .context("the HTTP API failed")?;
    log.line("server stopped");
    Ok(Outcome::Success)
}

/// Where the API listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Where to listen, and where that was said: the flag wins over `tidewater.toml`, and
/// without either the API stays on this machine ([`DEFAULT_LISTEN`]).
fn listen_setting<'a>(flag: Option<&'a str>, file: Option<&'a str>) -> (&'static str, &'a str) {
    match (flag, file) {
        (Some(flag), _) => ("--listen", flag),
        (None, Some(file)) => ("[server] listen in tidewater.toml", file),
        (None, None) => ("--listen", DEFAULT_LISTEN),
    }
}

/// The address to listen on among `addresses` (what `listen`, from `origin`, resolves to).
/// Beyond loopback only while a valid token exists: without one the API is open to anyone
/// who can reach it, who could then run and cancel anything. (Once a token exists the API
/// asks every request for one, even after every token is revoked.)
fn allowed_address(
    origin: &str,
    listen: &str,
    addresses: &[SocketAddr],
    has_valid_tokens: bool,
) -> anyhow::Result<SocketAddr> {
    match addresses.first() {
        Some(first)
            if has_valid_tokens || addresses.iter().all(|address| address.ip().is_loopback()) =>
        {
            Ok(*first)
        }
        Some(_) => anyhow::bail!(
            "{origin}: `{listen}` is not a loopback address, and the HTTP API has no valid token: \
             anyone who could reach it could run and cancel anything. Create a token first \
             (`tidewater token create --name NAME --scope read|operate|admin`), or listen on \
             127.0.0.1 or ::1"
        ),
        None => anyhow::bail!("{origin}: `{listen}` resolves to no address"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17: "default `127.0.0.1:8080`", checked without binding the port, which may be
    /// busy on the machine running the tests.
    #[test]
    fn the_api_listens_on_loopback_port_8080_unless_told_otherwise() {
        assert_eq!(listen_setting(None, None), ("--listen", "127.0.0.1:8080"));
        assert_eq!(
            listen_setting(None, Some("127.0.0.1:9000")),
            ("[server] listen in tidewater.toml", "127.0.0.1:9000")
        );
        assert_eq!(
            listen_setting(Some("[::1]:7000"), Some("127.0.0.1:9000")),
            ("--listen", "[::1]:7000")
        );
    }

    #[test]
    fn beyond_loopback_only_with_a_valid_token() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().expect("an address");
        let loopback_6: SocketAddr = "[::1]:8080".parse().expect("an address");
        let everywhere: SocketAddr = "0.0.0.0:8080".parse().expect("an address");
        let allowed = |addresses: &[SocketAddr], has_valid_tokens| {
            allowed_address("--listen", "x", addresses, has_valid_tokens).ok()
        };
        assert_eq!(allowed(&[loopback], false), Some(loopback));
        assert_eq!(allowed(&[loopback_6, loopback], false), Some(loopback_6));
        assert_eq!(allowed(&[everywhere], false), None);
        assert_eq!(
            allowed(&[loopback, everywhere], false),
            None,
            "every address counts"
        );
        assert_eq!(allowed(&[everywhere], true), Some(everywhere));
        assert_eq!(allowed(&[loopback], true), Some(loopback));
        assert_eq!(allowed(&[], true), None);
        let refusal = allowed_address("--listen", "0.0.0.0:8080", &[everywhere], false)
            .expect_err("refused")
            .to_string();
        assert!(refusal.contains("tidewater token create"), "{refusal}");
    }
}
