//! Every request's span (HTTP semantic conventions, continuing the caller's `traceparent`)
//! and duration metric, and `GET /metrics` in the Prometheus text format.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, get, web};
use async_trait::async_trait;
use ports::DeadLetters;
use ports::store::OutboxStore;
use tracing::Instrument;

use crate::observe::{self, Sampler};
use crate::telemetry::propagation;

/// The middleware: a server span around the request when traces are exported, and the
/// request counted in `http_server_request_duration_seconds` by method, route and status.
pub async fn observe_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().clone();
    // The route's pattern (`/orders/{id}`), not the path: bounded label values.
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = server_span(&request, method.as_str(), &route);
    let result = next.call(request).instrument(span.clone()).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    observe::http_request(method.as_str(), &route, status.as_u16(), started.elapsed());
    result
}

fn server_span(request: &ServiceRequest, method: &str, route: &str) -> tracing::Span {
    if !propagation::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %request.path(),
        http.response.status_code = tracing::field::Empty,
    );
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    propagation::continue_from(
        &span,
        header(propagation::TRACEPARENT),
        header(propagation::TRACESTATE),
    );
    span
}

/// What `GET /metrics` renders: the process's recorder and the samplers of the service.
#[derive(Clone)]
pub struct MetricsEndpoint {
    handle: Option<metrics_exporter_prometheus::PrometheusHandle>,
    samplers: Vec<Arc<dyn Sampler>>,
}

impl std::fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("samplers", &self.samplers.len())
            .finish_non_exhaustive()
    }
}

/// How long a sampler may take before the scrape goes on without it.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

impl MetricsEndpoint {
    /// The endpoint of this process's recorder (installed here if need be).
    pub fn new(samplers: Vec<Arc<dyn Sampler>>) -> Self {
        Self {
            handle: observe::install(),
            samplers,
        }
    }

    /// Samples the gauges, then renders every metric.
    pub async fn render(&self) -> String {
        let samples = self
            .samplers
            .iter()
            .map(|s| tokio::time::timeout(SAMPLE_TIMEOUT, s.sample()));
        futures_util::future::join_all(samples).await;
        self.handle
            .as_ref()
            .map(metrics_exporter_prometheus::PrometheusHandle::render)
            .unwrap_or_default()
    }
}

/// Prometheus metrics of this service.
#[get("/metrics")]
pub async fn metrics(endpoint: web::Data<MetricsEndpoint>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(endpoint.render().await)
}

/// The outbox's backlog and the age of its oldest unpublished row.
#[allow(missing_debug_implementations, reason = "holds a trait object")]
pub struct OutboxSampler {
    /// The service's outbox.
    pub outbox: Arc<dyn OutboxStore>,
    /// The service (the `service` label: the standalone system has two outboxes).
    pub service: &'static str,
    /// The time the age is measured at.
    pub clock: Arc<dyn ports::Clock>,
}

#[async_trait]
impl Sampler for OutboxSampler {
    async fn sample(&self) {
        let Ok((pending, oldest)) = self.outbox.backlog().await else {
            return;
        };
        let now = self.clock.now();
        let age = oldest.map(|at| (now - at).to_std().unwrap_or_default());
        observe::outbox_backlog(self.service, pending, age);
    }
}

/// The depth of the service's dead-letter queue, labelled with the service's queue.
#[allow(missing_debug_implementations, reason = "holds a trait object")]
pub struct DeadLetterSampler {
    /// The dead-letter queue.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// The work queue it belongs to (the `queue` label).
    pub queue: String,
}

#[async_trait]
impl Sampler for DeadLetterSampler {
    async fn sample(&self) {
        if let Ok((depth, _)) = self.dead_letters.peek(0).await {
            observe::queue_depths(&self.queue, None, Some(depth));
        }
    }
}
