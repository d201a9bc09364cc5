//! `GET /health`: every dependency probed concurrently with a timeout. A critical dependency
//! down makes the service `unhealthy` (503); a non-critical one (cache, broker, peer) makes it
//! `degraded` (200), because the service still serves.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use futures_util::future::{BoxFuture, join_all};
use serde::Serialize;
use utoipa::ToSchema;

type Probe = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// One dependency to probe.
#[derive(Clone)]
pub struct HealthCheck {
    name: &'static str,
    critical: bool,
    probe: Probe,
}

impl std::fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthCheck")
            .field("name", &self.name)
            .field("critical", &self.critical)
            .finish_non_exhaustive()
    }
}

impl HealthCheck {
    /// A dependency without which the service cannot work.
    pub fn critical<F, Fut>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self {
            name,
            critical: true,
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    /// A dependency whose loss degrades the service but does not stop it.
    pub fn optional<F, Fut>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self {
            critical: false,
            ..Self::critical(name, probe)
        }
    }
}

/// The health document.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `healthy`, `degraded` or `unhealthy`.
    #[schema(example = "healthy")]
    pub status: &'static str,
    /// `up` or `down` per dependency.
    #[schema(example = json!({"database": "up", "redis": "up", "rabbitmq": "up"}))]
    pub services: BTreeMap<&'static str, &'static str>,
}

/// Probes every dependency (each bounded by `timeout`) and builds the report.
pub async fn report(checks: &[HealthCheck], timeout: Duration) -> (bool, HealthReport) {
    let results = join_all(checks.iter().map(|c| {
        let probe = (c.probe)();
        async move {
            let ok = matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(())));
            (c.name, c.critical, ok)
        }
    }))
    .await;
    let critical_down = results.iter().any(|(_, critical, ok)| *critical && !ok);
    let any_down = results.iter().any(|(_, _, ok)| !ok);
    let status = if critical_down {
        "unhealthy"
    } else if any_down {
        "degraded"
    } else {
        "healthy"
    };
    let services = results
        .into_iter()
        .map(|(name, _, ok)| (name, if ok { "up" } else { "down" }))
        .collect();
    (!critical_down, HealthReport { status, services })
}

/// Whether the service takes new work. It turns false first on shutdown, so a load balancer
/// polling `/health/ready` stops sending requests before the server stops accepting them.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<std::sync::atomic::AtomicBool>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(std::sync::atomic::AtomicBool::new(true)))
    }
}

impl Readiness {
    /// Ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the service takes new work.
    pub fn is_ready(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// From now on, `/health/ready` answers 503.
    pub fn set_not_ready(&self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The readiness document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessReport {
    /// `true` while the service takes new work.
    pub ready: bool,
}

/// Readiness: `200` while the service takes new work, `503` once it is shutting down.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Takes new work", body = ReadinessReport),
        (status = 503, description = "Shutting down: send new work elsewhere", body = ReadinessReport),
    )
)]
#[actix_web::get("/health/ready")]
pub async fn ready(readiness: actix_web::web::Data<Readiness>) -> HttpResponse {
    let ready = readiness.is_ready();
    let body = ReadinessReport { ready };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The dependency checks of a service, as shared with the `/health` handler.
#[derive(Debug, Clone)]
pub struct HealthChecks(pub Arc<Vec<HealthCheck>>);

/// Reports the service's dependencies.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Healthy, or degraded but serving (a cache, broker or peer is down)", body = HealthReport),
        (status = 503, description = "Unhealthy: the database is down", body = HealthReport),
    )
)]
#[actix_web::get("/health")]
pub async fn health(checks: actix_web::web::Data<HealthChecks>) -> HttpResponse {
    let (serving, body) = report(&checks.0, Duration::from_secs(2)).await;
    if serving {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `healthcheck` subcommand of the binaries (container health checks without curl): succeeds
/// when `http://127.0.0.1:{port}/health` answers 2xx within 3 seconds.
#[cfg(feature = "http-client")]
pub async fn probe_local(port: u16) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let response = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "health answered {}",
        response.status()
    );
    Ok(())
}
