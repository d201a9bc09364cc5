//! What every service runs besides its own use cases: the adapters all services take (the
//! outbox, the broker or bus, dead letters, idempotency keys, health checks, the clock), the
//! background tasks they feed (outbox relay, consumer, idempotency purger), and the HTTP server
//! around the service's routes. Each service's builder hands its use cases and routes to
//! [`ServiceAdapters::start`], so these tasks are spawned in one place for every service.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::ServiceConfig;

use super::Background;
use crate::http::auth::{AuthSettings, Authenticator};
use crate::http::dead_letters::DeadLetterQueue;
use crate::http::health::{HealthCheck, HealthChecks};
use crate::http::idempotency::Idempotency;
use crate::http::observe::{MetricsEndpoint, OutboxSampler};
use crate::http::rate_limit::RateLimits;
use crate::observe::Sampler;
use crate::settings::{HttpSettings, IdempotencySettings, RateLimitSettings};
use ports::idempotency::{IdempotencyStore, run_purger};
use ports::relay::{RelayOptions, run_relay};
use ports::store::OutboxStore;
use ports::{Clock, DeadLetters, EventPublisher, MessageHandler, MessageSource, OutboxSignal};

/// How often expired idempotency keys are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The adapters every service takes besides its own store, chosen by a composition root.
#[allow(
    missing_debug_implementations,
    reason = "a bag of trait objects, handed over once"
)]
pub struct ServiceAdapters {
    /// The outbox as the relay reads it (the service's own database).
    pub outbox: Arc<dyn OutboxStore>,
    /// Wakes the relay after commits that wrote outbox rows.
    pub signal: OutboxSignal,
    /// Where the relay publishes.
    pub publisher: Arc<dyn EventPublisher>,
    /// The service's inbound messages.
    pub source: Arc<dyn MessageSource>,
    /// The service's dead-letter queue, for the admin endpoints.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// `Idempotency-Key` records (the service's own database).
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// What `/health` probes.
    pub health: Vec<HealthCheck>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// What `/metrics` reads besides the outbox: the pool, the queues, the service's own.
    pub samplers: Vec<Arc<dyn Sampler>>,
}

/// How every service's shared parts are configured.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The service's name: the `service` label of its outbox gauges.
    pub service: &'static str,
    /// The listener and the server.
    pub http: HttpSettings,
    /// Per-caller request quotas (this service's own, in this process).
    pub rate_limit: RateLimitSettings,
    /// The outbox relay.
    pub relay: RelayOptions,
    /// `Idempotency-Key` lease and retention.
    pub idempotency: IdempotencySettings,
    /// Who issues the bearer tokens the API accepts, and its keys.
    pub auth: AuthSettings,
}

/// A service listening, its background tasks running.
pub struct Listening {
    /// The port it listens on.
    pub port: u16,
    /// The server, to run until shutdown.
    pub server: actix_web::dev::Server,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl ServiceAdapters {
    /// Spawns the outbox relay, the consumer feeding `handler` and the idempotency purger into
    /// `background`, then binds the API: `routes` (given the health checks and the idempotency
    /// policy) plus what every service serves (readiness, dead letters, problem+json errors).
    pub fn start<F>(
        self,
        handler: Arc<dyn MessageHandler>,
        config: &ServiceOptions,
        background: &mut Background,
        routes: impl FnOnce(HealthChecks, Idempotency) -> F,
    ) -> anyhow::Result<Listening>
    where
        F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
    {
        background.spawn(
            "outbox-relay",
            run_relay(
                self.outbox.clone(),
                self.publisher,
                self.signal,
                config.relay.clone(),
                background.token(),
            ),
        );
        let (source, token) = (self.source, background.token());
        background.spawn("consumer", async move {
            if let Err(e) = source.consume(handler, token).await {
                tracing::error!(error = %format!("{e:#}"), "consumer stopped");
            }
        });
        background.spawn(
            "idempotency-purger",
            run_purger(self.idempotency.clone(), PURGE_EVERY, background.token()),
        );
        let (authenticator, jwks) = Authenticator::from_settings(&config.auth, self.clock.clone())?;
        if let Some(jwks) = jwks {
            let every = Duration::from_secs(config.auth.jwks_refresh_secs.max(1));
            background.spawn("jwks-refresh", jwks.run(every, background.token()));
        }
        let idempotency = config.idempotency.policy(self.idempotency);
        let mut samplers: Vec<Arc<dyn Sampler>> = vec![Arc::new(OutboxSampler {
            outbox: self.outbox.clone(),
            service: config.service,
            clock: self.clock.clone(),
        })];
        samplers.extend(self.samplers);
        let metrics = MetricsEndpoint::new(samplers);
        let (listener, port) = crate::http::bind(&config.http)?;
        let server = crate::http::http_server(
            listener,
            &config.http,
            RateLimits::new(&config.rate_limit)?,
            background.readiness(),
            DeadLetterQueue(self.dead_letters),
            metrics,
            authenticator,
            routes(HealthChecks(Arc::new(self.health)), idempotency),
        )?;
        Ok(Listening { port, server })
    }
}
