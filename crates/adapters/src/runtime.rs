//! What both service binaries share at run time: background tasks tied to one shutdown token,
//! and serving HTTP until a shutdown signal.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Long-running tasks (outbox relay, consumers) that stop together.
#[derive(Debug, Default)]
pub struct Background {
    token: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Background {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
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

/// Serves until `shutdown` resolves or the server stops, then drains: the HTTP server stops
/// accepting and lets in-flight requests finish, then the background tasks stop.
pub async fn serve(
    server: actix_web::dev::Server,
    background: Background,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let handle = server.handle();
    let mut server = tokio::spawn(server);
    let result = tokio::select! {
        result = &mut server => result,
        _ = shutdown => {
            handle.stop(true).await;
            server.await
        }
    };
    background.shutdown().await;
    match result {
        Ok(r) => r.map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e).context("HTTP server task failed")),
    }
}
