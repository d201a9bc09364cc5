//! Wiring shared by both composition roots: the database, messaging (topology, publisher,
//! outbox relay, consumer), the standard health checks and the listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use crate::amqp::{self, RabbitMqPublisher, Topology};
use crate::db::{self, OutboxSignal, SqlOutboxStore};
use crate::http::health::HealthCheck;
use crate::redis_cache::RedisCache;
use crate::runtime::Background;
use crate::settings::{AmqpSettings, DatabaseSettings, HttpSettings, OutboxSettings};
use ports::MessageHandler;

/// How often expired idempotency keys are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Opens the pool (creating the database first when configured to) and applies `M`'s
/// pending migrations.
pub async fn open_database<M: MigratorTrait>(
    settings: &DatabaseSettings,
) -> anyhow::Result<DatabaseConnection> {
    if settings.create_if_missing {
        db::ensure_database(&settings.url).await?;
    }
    let conn = db::connect(&settings.options()).await?;
    M::up(&conn, None)
        .await
        .context("failed to apply the database migrations")?;
    Ok(conn)
}

/// What [`start_messaging`] started that the rest of the service uses.
#[derive(Debug)]
pub struct Messaging {
    /// The publisher (its connection state feeds `/health`).
    pub publisher: Arc<RabbitMqPublisher>,
    /// The service's dead-letter queue, for the admin endpoints.
    pub dead_letters: crate::http::dead_letters::DeadLetterQueue,
}

/// Declares the service's topology, then starts the outbox relay (publishing the rows of
/// `conn`'s outbox, woken by `signal`) and the consumer feeding `handler`, both tied to
/// `background`.
pub async fn start_messaging(
    service: &'static str,
    amqp_settings: &AmqpSettings,
    outbox: &OutboxSettings,
    conn: &DatabaseConnection,
    signal: OutboxSignal,
    handler: Arc<dyn MessageHandler>,
    background: &mut Background,
) -> anyhow::Result<Messaging> {
    let topology = Topology::for_service(
        &amqp_settings.prefix,
        service,
        handler
            .routing_keys()
            .into_iter()
            .map(String::from)
            .collect(),
        amqp_settings.delivery_limit,
    );
    // Best effort: a broker that is down at startup must not stop order intake (the outbox
    // keeps the events). The consumer declares the topology again on every (re)connection,
    // and the publisher declares the exchange.
    match tokio::time::timeout(
        Duration::from_secs(10),
        declare(service, amqp_settings, &topology),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "RabbitMQ unavailable at startup; events wait in the outbox")
        }
        Err(_) => tracing::warn!("RabbitMQ did not answer at startup; events wait in the outbox"),
    }

    let publisher = Arc::new(
        RabbitMqPublisher::new(
            amqp_settings.url.clone(),
            service,
            topology.exchange.clone(),
        )
        .with_confirm_timeout(Duration::from_millis(amqp_settings.confirm_timeout_ms)),
    );
    background.spawn(
        "outbox-relay",
        crate::relay::run_relay(
            Arc::new(SqlOutboxStore::new(conn.clone())),
            publisher.clone(),
            signal,
            outbox.relay_options(),
            background.token(),
        ),
    );
    let dead_letters = crate::http::dead_letters::DeadLetterQueue(Arc::new(
        amqp::RabbitMqDeadLetters::new(amqp_settings.url.clone(), topology.clone()),
    ));
    let consumer = amqp::run_consumer(
        amqp_settings.url.clone(),
        service.to_owned(),
        topology,
        handler,
        amqp_settings.prefetch,
        Duration::from_millis(amqp_settings.retry_delay_ms),
        background.token(),
    );
    background.spawn("consumer", async move {
        if let Err(e) = consumer.await {
            tracing::error!(error = %format!("{e:#}"), "consumer stopped");
        }
    });
    Ok(Messaging {
        publisher,
        dead_letters,
    })
}

async fn declare(
    service: &str,
    amqp_settings: &AmqpSettings,
    topology: &Topology,
) -> anyhow::Result<()> {
    let setup = amqp::connect(&amqp_settings.url, service).await?;
    let channel = setup
        .create_channel()
        .await
        .context("failed to open an AMQP channel")?;
    topology.declare(&channel).await?;
    channel.close(200, "topology declared".into()).await.ok();
    setup.close(200, "topology declared".into()).await.ok();
    Ok(())
}

/// The checks every service reports: its database (critical), Redis and RabbitMQ.
pub fn standard_checks(
    conn: &DatabaseConnection,
    cache: &RedisCache,
    publisher: &Arc<RabbitMqPublisher>,
) -> Vec<HealthCheck> {
    let (conn, cache, publisher) = (conn.clone(), cache.clone(), publisher.clone());
    vec![
        HealthCheck::critical("database", move || {
            let conn = conn.clone();
            async move { db::ping(&conn).await }
        }),
        HealthCheck::optional("redis", move || {
            let cache = cache.clone();
            async move { cache.ping().await }
        }),
        HealthCheck::optional("rabbitmq", move || {
            let publisher = publisher.clone();
            async move {
                publisher
                    .ensure_connected()
                    .await
                    .map_err(anyhow::Error::from)
            }
        }),
    ]
}

/// Builds the HTTP server for one service's routes: problem+json extractor errors and
/// unknown routes, no signal handling of its own (the composition root owns shutdown).
pub fn http_server<F>(
    listener: TcpListener,
    http: &HttpSettings,
    readiness: crate::http::health::Readiness,
    dead_letters: crate::http::dead_letters::DeadLetterQueue,
    routes: F,
) -> anyhow::Result<actix_web::dev::Server>
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
{
    use actix_web::{App, HttpServer, web};
    let readiness = web::Data::new(readiness);
    let dead_letters = web::Data::new(dead_letters);
    let mut server = HttpServer::new(move || {
        let app = App::new()
            .configure(crate::http::configure_extractors)
            .app_data(readiness.clone())
            .app_data(dead_letters.clone())
            .service(crate::http::health::ready)
            .service(crate::http::dead_letters::list_dead_letters)
            .service(crate::http::dead_letters::replay_dead_letters)
            .configure(routes.clone())
            .default_service(web::to(crate::http::not_found));
        #[cfg(feature = "fault-points")]
        let app = app.wrap(actix_web::middleware::from_fn(crate::fault::http_faults));
        app
    })
    .disable_signals()
    .shutdown_timeout(http.shutdown_timeout_secs);
    if let Some(workers) = http.workers {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}

/// The idempotency policy over `conn`'s `idempotency_keys`, with its purger running in
/// `background`.
pub fn idempotency(
    settings: &crate::settings::IdempotencySettings,
    conn: &DatabaseConnection,
    background: &mut Background,
) -> crate::http::idempotency::Idempotency {
    let policy = settings.policy(Arc::new(db::SqlIdempotencyStore::new(conn.clone())));
    background.spawn(
        "idempotency-purger",
        policy.clone().run_purger(PURGE_EVERY, background.token()),
    );
    policy
}

/// Binds the HTTP listener (port 0 picks a free port) and returns it with its port.
pub fn bind(http: &HttpSettings) -> anyhow::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind((http.host.as_str(), http.port))
        .with_context(|| format!("failed to bind {}:{}", http.host, http.port))?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}
