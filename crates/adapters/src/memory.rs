//! In-process adapters of the standalone composition: the event bus, the cache (moka) and the
//! product catalogue read straight from the product use cases. Same ports as RabbitMQ, Redis
//! and the HTTP catalogue client, inside one process.
//!
//! Layout:
//! - [`bus`]: [`InProcessBus`] (publisher, queues, consumers, dead letters) and
//!   [`BusQueue`], one service's queue as a [`ports::MessageSource`].
//! - [`cache`]: the moka cache, [`MemoryCache`].
//! - [`catalog`]: the catalogue read in-process, [`LocalProductCatalog`].

pub mod bus;
pub mod cache;
pub mod catalog;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use ports::messaging::Dispatch;
use ports::{MessageHandler, MessageSource};

pub use bus::{DeadLetter, InProcessBus, InProcessDeadLetters};
pub use cache::MemoryCache;
pub use catalog::LocalProductCatalog;

/// One declared queue of an [`InProcessBus`] as a [`MessageSource`].
#[derive(Debug, Clone)]
pub struct BusQueue {
    bus: InProcessBus,
    queue: &'static str,
    retry_delay: Duration,
    dispatch: Dispatch,
}

impl BusQueue {
    /// Declares `queue` on `bus`, bound to `routing_keys` with `delivery_limit`, and returns
    /// it as a source whose failed messages come back after `retry_delay` (doubling).
    pub fn declare(
        bus: &InProcessBus,
        queue: &'static str,
        routing_keys: &[&str],
        delivery_limit: u32,
        retry_delay: Duration,
    ) -> Self {
        bus.declare(queue, routing_keys, delivery_limit);
        Self {
            bus: bus.clone(),
            queue,
            retry_delay,
            dispatch: Dispatch::default(),
        }
    }

    /// Sets how many messages the consumer hands over at once and how many batches run
    /// together.
    #[must_use]
    pub fn with_dispatch(mut self, dispatch: Dispatch) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// The queue's name.
    pub fn name(&self) -> &'static str {
        self.queue
    }

    /// The queue's dead letters, for the admin endpoints.
    pub fn dead_letters(&self) -> InProcessDeadLetters {
        InProcessDeadLetters::new(self.bus.clone(), self.queue)
    }
}

#[async_trait]
impl MessageSource for BusQueue {
    async fn consume(
        &self,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.bus
            .run_consumer(
                self.queue,
                handler,
                self.retry_delay,
                self.dispatch,
                shutdown,
            )
            .await
    }
}
