//! The depths of a service's work queue and dead-letter queue, read when `/metrics` is
//! scraped, over one connection kept for it (not one per scrape).

use tokio::sync::Mutex;

use super::{Topology, connect, queue_depth};
use crate::observe;

/// A [`observe::Sampler`] of `queue_ready_messages` and `dead_letter_queue_messages`.
#[derive(Debug)]
pub struct QueueDepths {
    url: String,
    topology: Topology,
    connection: Mutex<Option<lapin::Connection>>,
}

impl QueueDepths {
    /// Reads the queues of `topology` on the broker at `url`, connecting on the first scrape.
    pub fn new(url: impl Into<String>, topology: Topology) -> Self {
        Self {
            url: url.into(),
            topology,
            connection: Mutex::new(None),
        }
    }

    async fn read(&self) -> anyhow::Result<(u32, u32)> {
        let mut connection = self.connection.lock().await;
        if !connection.as_ref().is_some_and(|c| c.status().connected()) {
            *connection = Some(connect(&self.url, "queue-depths").await?);
        }
        let Some(conn) = connection.as_ref() else {
            anyhow::bail!("no connection");
        };
        // A channel per reading: a passive declare of a missing queue closes its channel.
        let channel = conn.create_channel().await?;
        let ready = queue_depth(&channel, &self.topology.queue).await;
        let dead = queue_depth(&channel, &self.topology.dlq).await;
        channel.close(200, "read".into()).await.ok();
        Ok((ready?, dead?))
    }
}

#[async_trait::async_trait]
impl observe::Sampler for QueueDepths {
    async fn sample(&self) {
        match self.read().await {
            Ok((ready, dead)) => {
                observe::queue_depths(&self.topology.queue, Some(ready), Some(dead));
            }
            Err(e) => tracing::debug!(error = %format!("{e:#}"), "queue depths unavailable"),
        }
    }
}
