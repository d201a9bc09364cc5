//! Each test's own names and settings, so tests run in parallel without seeing each other: a
//! unique id, and the services' settings pointed at the test servers under that id (or, for
//! the standalone composition, at a data directory of its own).

use crate::Infra;

/// The isolation names of one test.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// Short unique id.
    pub id: String,
}

impl Isolation {
    /// A fresh id.
    pub fn new() -> Self {
        // The tail of a v7 UUID is random (its head is the clock, shared by parallel tests).
        let uuid = uuid::Uuid::now_v7().simple().to_string();
        Self {
            id: uuid[20..].to_owned(),
        }
    }
}

impl Default for Isolation {
    fn default() -> Self {
        Self::new()
    }
}

/// Points one service's shared settings at the test servers, under this test's own names:
/// free port, database `t_{id}_{service}`, key prefix `t{id}:{service}:`, exchange and queue
/// prefix `t{id}.`, short retry and poll delays.
#[allow(clippy::too_many_arguments, reason = "one &mut per settings section")]
fn isolate(
    infra: &Infra,
    iso: &Isolation,
    service: &str,
    http: &mut adapters::settings::HttpSettings,
    database: &mut adapters::settings::DatabaseSettings,
    redis: &mut adapters::settings::RedisSettings,
    amqp: &mut adapters::settings::AmqpSettings,
    outbox: &mut adapters::settings::OutboxSettings,
) {
    http.host = "127.0.0.1".into();
    http.port = 0;
    http.workers = Some(2);
    http.shutdown_timeout_secs = 2;
    http.readiness_drain_ms = 0;
    database.url = format!("{}/t_{}_{service}", infra.mysql_url, iso.id).into();
    database.create_if_missing = true;
    redis.url = infra.redis_url.clone().into();
    redis.key_prefix = format!("t{}:{service}:", iso.id);
    amqp.url = infra.service_amqp_url(service).to_owned().into();
    amqp.prefix = format!("t{}.", iso.id);
    amqp.retry_delay_ms = 200;
    outbox.poll_interval_ms = 200;
    outbox.claim_after_ms = 1000;
}

/// Product service settings for a test.
pub fn product_settings(infra: &Infra, iso: &Isolation) -> product_service::Settings {
    let mut s = product_service::Settings::defaults().expect("product defaults must load");
    isolate(
        infra,
        iso,
        "product",
        &mut s.http,
        &mut s.database,
        &mut s.redis,
        &mut s.amqp,
        &mut s.outbox,
    );
    s.auth = crate::auth::auth_settings();
    s
}

/// Order service settings for a test.
pub fn order_settings(
    infra: &Infra,
    iso: &Isolation,
    product_url: &str,
) -> order_service::Settings {
    let mut s = order_service::Settings::defaults().expect("order defaults must load");
    isolate(
        infra,
        iso,
        "order",
        &mut s.http,
        &mut s.database,
        &mut s.redis,
        &mut s.amqp,
        &mut s.outbox,
    );
    s.auth = crate::auth::auth_settings();
    s.product_service.url = product_url.to_owned();
    s
}

/// Standalone settings for a test: free ports, a fresh data directory, short retry delays.
pub fn standalone_settings(data_dir: &std::path::Path) -> standalone::Settings {
    let mut s = standalone::Settings::defaults().expect("standalone defaults must load");
    s.data_dir = data_dir.to_owned();
    s.http.order_port = 0;
    s.http.product_port = 0;
    s.http.workers = Some(2);
    s.http.shutdown_timeout_secs = 2;
    s.http.readiness_drain_ms = 0;
    s.bus.retry_delay_ms = 200;
    s.outbox.poll_interval_ms = 200;
    s.outbox.claim_after_ms = 1000;
    s.auth = crate::auth::auth_settings();
    s
}
