//! A service's HTTP server: the listener, and the app every service shares (problem+json
//! extractor errors and unknown routes, readiness, the dead-letter admin endpoints, security
//! headers, CORS, rate limits, connection bounds) around its own routes.

use std::net::TcpListener;

use anyhow::Context;

use std::time::Duration;

use crate::settings::HttpSettings;

/// Builds the HTTP server for one service's routes: problem+json extractor errors and
/// unknown routes, no signal handling of its own (the composition root owns shutdown).
///
/// Every request passes, outermost first: observation (span and metrics, so refusals are
/// counted too), [`security_headers`](super::security::security_headers) (on every answer,
/// refusals included), CORS (only with configured origins), authentication (not yet: see
/// below), [`rate_limit::middleware`](super::rate_limit::middleware) (after authentication, to
/// key by subject), then the routes.
#[allow(
    clippy::too_many_arguments,
    reason = "the parts every service's server is made of"
)]
pub fn http_server<F>(
    listener: TcpListener,
    http: &HttpSettings,
    rate_limits: super::rate_limit::RateLimits,
    readiness: super::health::Readiness,
    dead_letters: super::dead_letters::DeadLetterQueue,
    metrics: super::observe::MetricsEndpoint,
    authenticator: super::auth::Authenticator,
    routes: F,
) -> anyhow::Result<actix_web::dev::Server>
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
{
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpServer, web};
    let readiness = web::Data::new(readiness);
    let dead_letters = web::Data::new(dead_letters);
    let metrics = web::Data::new(metrics);
    let authenticator = web::Data::new(authenticator);
    let rate_limits = web::Data::new(rate_limits);
    let request_limits = web::Data::new(super::security::RequestLimits::from(&http.limits));
    let origins = http.limits.cors_allowed_origins.clone();
    let limits = &http.limits;
    let mut server = HttpServer::new(move || {
        // `wrap` puts a middleware around what is already there: the last one runs first.
        let app = App::new()
            .wrap(from_fn(super::rate_limit::middleware))
            // Authentication between CORS (preflights need no credentials) and the rate
            // limiter (which keys by the `rate_limit::CallerKey` it leaves behind).
            .wrap(from_fn(super::auth::authenticate))
            .wrap(super::security::cors(&origins))
            .wrap(from_fn(super::security::security_headers))
            .wrap(from_fn(super::observe::observe_request))
            .configure(super::configure_extractors)
            .app_data(rate_limits.clone())
            .app_data(request_limits.clone())
            .app_data(readiness.clone())
            .app_data(dead_letters.clone())
            .app_data(metrics.clone())
            .app_data(authenticator.clone())
            .service(super::observe::metrics)
            .service(super::health::ready)
            .service(super::dead_letters::list_dead_letters)
            .service(super::dead_letters::replay_dead_letters)
            .configure(routes.clone())
            .default_service(web::to(super::not_found));
        #[cfg(feature = "fault-points")]
        let app = app.wrap(actix_web::middleware::from_fn(crate::fault::http_faults));
        app
    })
    .disable_signals()
    .shutdown_timeout(http.shutdown_timeout_secs);
    // The bounds on one connection: how long its request head may take (the slow-header
    // attack), how long it may idle between requests, how long it gets to close, and how many
    // a worker holds. Header size is bounded by `security_headers`, below actix-http's own
    // fixed 128 KiB / 96 headers.
    server = server
        .client_request_timeout(Duration::from_millis(limits.request_head_timeout_ms))
        .client_disconnect_timeout(Duration::from_millis(limits.disconnect_timeout_ms))
        .keep_alive(match limits.keep_alive_secs {
            0 => actix_web::http::KeepAlive::Disabled,
            secs => actix_web::http::KeepAlive::Timeout(Duration::from_secs(secs)),
        })
        .max_connections(limits.max_connections.max(1));
    server = server.workers(
        http.workers
            .unwrap_or_else(crate::settings::HttpSettings::default_workers),
    );
    Ok(server.listen(listener)?.run())
}

/// Binds the HTTP listener (port 0 picks a free port) and returns it with its port.
pub fn bind(http: &HttpSettings) -> anyhow::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind((http.host.as_str(), http.port))
        .with_context(|| format!("failed to bind {}:{}", http.host, http.port))?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}
