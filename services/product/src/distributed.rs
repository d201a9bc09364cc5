//! The distributed composition root: the product service on MySQL, Redis and RabbitMQ.
//! `main` and the test harness call [`start`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use adapters::rabbitmq::RabbitMqMessaging;
use adapters::redis::{self, RedisCache};
use adapters::runtime::{Background, Running, ServiceAdapters, ServiceOptions};
use adapters::sql::{self, ProductMigrator, SqlIdempotencyStore, SqlOutboxStore, SqlProductStore};
use domain::Currency;
use ports::inventory::{CachePolicy, ROUTING_KEYS};
use ports::{Clock, OutboxSignal, SystemClock};

use crate::app::{self, ProductAdapters, ProductConfig, SERVICE};
use crate::settings::Settings;

/// Connects to every dependency, applies migrations, declares the topology, binds the
/// listener (port 0 picks a free port) and starts the background tasks.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let currency = Currency::parse(&settings.currency).context("invalid `currency` setting")?;
    let conn = sql::open_database::<ProductMigrator>(&settings.database).await?;
    let signal = OutboxSignal::new();
    // One clock for the whole service: the use cases and every store read time from it.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cache = RedisCache::new(&settings.redis.options())?;
    let messaging = RabbitMqMessaging::start(SERVICE, &settings.amqp, ROUTING_KEYS).await;
    let health = vec![
        sql::health_check(&conn),
        redis::health_check(&cache),
        messaging.health_check(),
    ];
    let adapters = ProductAdapters {
        store: SqlProductStore::new(conn.clone(), signal.clone()).with_clock(clock.clone()),
        cache: Arc::new(cache),
        shared: ServiceAdapters {
            outbox: Arc::new(SqlOutboxStore::new(conn.clone()).with_clock(clock.clone())),
            signal,
            publisher: messaging.publisher,
            source: Arc::new(messaging.source),
            dead_letters: messaging.dead_letters,
            idempotency: Arc::new(SqlIdempotencyStore::new(conn.clone()).with_clock(clock.clone())),
            health,
            clock,
            samplers: vec![
                messaging.depths,
                Arc::new(sql::PoolSampler {
                    db: conn,
                    name: "product",
                }),
            ],
        },
    };
    let config = ProductConfig {
        currency,
        cache: CachePolicy {
            ttl: Duration::from_secs(settings.redis.ttl_secs),
            negative_ttl: Duration::from_secs(settings.redis.negative_ttl_secs),
        },
        shared: ServiceOptions {
            service: SERVICE,
            http: settings.http.clone(),
            rate_limit: settings.rate_limit.clone(),
            relay: settings.outbox.relay_options(),
            idempotency: settings.idempotency.clone(),
            auth: settings.auth.clone(),
        },
    };
    let mut background = Background::new();
    background.set_drain_delay(Duration::from_millis(settings.http.readiness_drain_ms));
    let built = app::build(adapters, &config, &mut background)?;
    Ok(Running::new(built.api.port, built.api.server, background))
}

/// Applies the pending migrations of the product database (the `migrate` subcommand).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    sql::open_database::<ProductMigrator>(&settings.database)
        .await
        .map(drop)
}
