//! A service's HTTP server: the listener, and the app every service shares (problem+json
//! extractor errors and unknown routes, readiness, the dead-letter admin endpoints) around its
//! own routes.

use std::net::TcpListener;

use anyhow::Context;

use crate::settings::HttpSettings;

/// Builds the HTTP server for one service's routes: problem+json extractor errors and
/// unknown routes, no signal handling of its own (the composition root owns shutdown).
pub fn http_server<F>(
    listener: TcpListener,
    http: &HttpSettings,
    readiness: super::health::Readiness,
    dead_letters: super::dead_letters::DeadLetterQueue,
    metrics: super::observe::MetricsEndpoint,
    authenticator: super::auth::Authenticator,
    routes: F,
) -> anyhow::Result<actix_web::dev::Server>
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
{
    use actix_web::{App, HttpServer, web};
    let readiness = web::Data::new(readiness);
    let dead_letters = web::Data::new(dead_letters);
    let metrics = web::Data::new(metrics);
    let authenticator = web::Data::new(authenticator);
    let mut server = HttpServer::new(move || {
        let app = App::new()
            .wrap(actix_web::middleware::from_fn(super::auth::authenticate))
            .wrap(actix_web::middleware::from_fn(
                super::observe::observe_request,
            ))
            .configure(super::configure_extractors)
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
