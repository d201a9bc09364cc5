//! What scenarios send to or read from the running system besides orders: a poison message on
//! the broker, the consumers attached to a queue, a service's `/health`.

use crate::cluster::Env;
use crate::load;

/// Publishes a malformed `order.qty_confirmed`; the order service must dead-letter it.
pub(super) async fn publish_poison(env: &Env, prefix: &str) -> anyhow::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let conn = adapters::rabbitmq::connect(&env.amqp_url, "chaos").await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await?;
    adapters::rabbitmq::publish_raw(
        &channel,
        &adapters::rabbitmq::Topology::exchange_name(prefix),
        "order.qty_confirmed",
        b"{ this is not an event",
        Some(&id),
    )
    .await?;
    conn.close(200, "done".into()).await.ok();
    Ok(id)
}

/// Consumers attached to a service's queue.
pub(super) async fn consumers(env: &Env, prefix: &str, service: &str) -> anyhow::Result<u32> {
    let conn = adapters::rabbitmq::connect(&env.amqp_url, "chaos").await?;
    let channel = conn.create_channel().await?;
    let queue = adapters::rabbitmq::Topology::for_service(prefix, service, vec![], 1).queue;
    let consumers = adapters::rabbitmq::queue_consumers(&channel, &queue).await?;
    conn.close(200, "done".into()).await.ok();
    Ok(consumers)
}

/// `/health` of a service: `(status code, "status" field)`.
pub(super) async fn health(http: &reqwest::Client, base: &str) -> (u16, String) {
    let (code, _, body) = load::timed_get(http, &format!("{base}/health")).await;
    let status = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_owned))
        .unwrap_or(body);
    (code, status)
}
