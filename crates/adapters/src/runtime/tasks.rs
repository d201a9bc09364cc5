//! What both service binaries share at run time: background tasks tied to one shutdown token,
//! and serving HTTP until a shutdown signal.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Long-running tasks (outbox relay, consumers) that stop together.
#[derive(Debug, Default)]
pub struct Background {
    token: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    readiness: crate::http::health::Readiness,
    drain_delay: Duration,
}

impl Background {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The service's readiness, turned false when shutdown begins.
    pub fn readiness(&self) -> crate::http::health::Readiness {
        self.readiness.clone()
    }

    /// How long to keep serving after readiness turned false, before the servers stop
    /// accepting: the time a load balancer needs to notice.
    pub fn set_drain_delay(&mut self, delay: Duration) {
        self.drain_delay = delay;
    }

    /// The token every task watches.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Spawns a task that must stop when [`Background::token`] is cancelled.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push((name, tokio::spawn(task)));
    }

    /// Cancels the token and waits for every task to finish its current unit of work.
    pub async fn shutdown(self) {
        self.token.cancel();
        for (name, task) in self.tasks {
            if let Err(e) = task.await {
                warn!(task = name, error = %e, "background task ended abnormally");
            }
        }
        info!("background tasks stopped");
    }
}

/// A built service: its HTTP server bound, its background tasks started.
pub struct Running {
    port: u16,
    server: actix_web::dev::Server,
    background: Background,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// A service listening on `port`.
    pub fn new(port: u16, server: actix_web::dev::Server, background: Background) -> Self {
        Self {
            port,
            server,
            background,
        }
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then drains HTTP and the background tasks.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        serve(vec![self.server], self.background, shutdown).await
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => info!("SIGINT received, shutting down"),
        _ = terminate => info!("SIGTERM received, shutting down"),
    }
}

/// Serves until `shutdown` resolves or a server stops, then drains: readiness turns false,
/// then (after the drain delay) the HTTP servers stop accepting and let in-flight requests
/// finish, then the background tasks stop: consumers finish their message (unacknowledged
/// ones go back to the queue), relays stop between batches.
pub async fn serve(
    servers: Vec<actix_web::dev::Server>,
    background: Background,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let handles: Vec<_> = servers.iter().map(|s| s.handle()).collect();
    let mut running = futures_util::future::select_all(servers.into_iter().map(tokio::spawn));
    let first = tokio::select! {
        (result, _, _) = &mut running => Some(result),
        _ = shutdown => None,
    };
    background.readiness.set_not_ready();
    if first.is_none() && !background.drain_delay.is_zero() {
        info!(
            delay_ms = background.drain_delay.as_millis() as u64,
            "not ready any more; draining"
        );
        tokio::time::sleep(background.drain_delay).await;
    }
    for handle in &handles {
        handle.stop(true).await;
    }
    let mut results: Vec<_> = futures_util::future::join_all(running.into_inner()).await;
    results.extend(first);
    background.shutdown().await;
    for result in results {
        match result {
            Ok(r) => r?,
            Err(e) => return Err(anyhow::Error::from(e).context("HTTP server task failed")),
        }
    }
    Ok(())
}
