//! A running system: its endpoints, its composition, and stopping it (with the distributed
//! composition's clean-up of this test's databases, queues and exchanges).

use sea_orm::{ConnectionTrait, Database};

use crate::{Infra, ServiceHandle};

/// Where a running system's events and caches live.
#[derive(Debug)]
pub enum Backend {
    /// The two services over MySQL, Redis and RabbitMQ.
    Distributed {
        /// Server addresses.
        infra: Infra,
        /// Exchange and queue name prefix of this test.
        amqp_prefix: String,
        /// Redis key prefix of the product service in this test.
        product_cache_prefix: String,
    },
    /// The standalone process: SQLite, the in-process bus, memory caches.
    Standalone {
        /// The bus (dead letters, injection).
        bus: adapters::memory::InProcessBus,
        /// The product service's cache.
        product_cache: adapters::memory::MemoryCache,
        /// The data directory, removed when the test ends.
        _data_dir: tempfile::TempDir,
    },
}

/// An API's address.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The bound port.
    pub port: u16,
    /// `http://127.0.0.1:{port}`.
    pub base_url: String,
}

impl Endpoint {
    pub(crate) fn new(port: u16) -> Self {
        Self {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// Both services, isolated from every other test, in one of the two compositions.
#[derive(Debug)]
pub struct TestSystem {
    /// The order API.
    pub order: Endpoint,
    /// The product API.
    pub product: Endpoint,
    /// Database URL of the product service.
    pub product_db_url: String,
    /// Database URL of the order service.
    pub order_db_url: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The composition.
    pub backend: Backend,
    /// The running services, stopped in this order.
    pub(crate) running: Vec<ServiceHandle>,
}

impl TestSystem {
    /// The dependencies `/health` reports for (order service, product service).
    pub fn health_dependencies(&self) -> (&'static [&'static str], &'static [&'static str]) {
        match &self.backend {
            Backend::Distributed { .. } => (
                &["database", "redis", "rabbitmq", "product_service"],
                &["database", "redis", "rabbitmq"],
            ),
            Backend::Standalone { .. } => (&["database"], &["database"]),
        }
    }

    /// Stops the product service of the distributed composition (the order service keeps
    /// running, as when its peer crashes).
    pub async fn stop_product_service(&mut self) {
        assert!(
            matches!(self.backend, Backend::Distributed { .. }),
            "only the distributed composition has a separate product service"
        );
        // `running` holds the order service first, then the product service.
        self.running[1].stop().await;
    }

    /// Stops the system. The distributed composition then drops this test's databases,
    /// queues and exchanges so that repeated runs do not pile them up in the test servers.
    pub async fn stop(mut self) {
        for handle in &mut self.running {
            handle.stop().await;
        }
        let Backend::Distributed {
            infra, amqp_prefix, ..
        } = &self.backend
        else {
            return;
        };
        let conn = adapters::rabbitmq::connect(&infra.amqp_url, "tests")
            .await
            .expect("AMQP connection");
        let channel = conn.create_channel().await.expect("AMQP channel");
        for service in ["order-service", "product-service"] {
            adapters::rabbitmq::Topology::for_service(amqp_prefix, service, vec![], 10)
                .delete(&channel)
                .await
                .expect("delete the test topology");
        }
        conn.close(200, "test done".into()).await.ok();
        let server = Database::connect(format!("{}/", infra.mysql_url))
            .await
            .expect("database server");
        for url in [&self.product_db_url, &self.order_db_url] {
            let name = url.rsplit('/').next().expect("a database name");
            server
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .await
                .expect("drop the test database");
        }
    }
}
