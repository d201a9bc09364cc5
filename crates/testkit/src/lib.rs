//! Test harness for black-box tests, in both compositions.
//!
//! [`spawn_system`] starts both services in-process on port 0 against real MariaDB/MySQL,
//! Redis and RabbitMQ, each test with its own databases, exchange/queue prefix and Redis key
//! prefix, so tests run in parallel without seeing each other. The servers come from
//! `make test` (see `deploy/local-infra/`), which exports `TEST_MYSQL_URL`, `TEST_REDIS_URL`
//! and `TEST_AMQP_URL`; a missing variable is a loud failure, never a skipped test.
//! [`spawn_standalone`] starts the standalone composition (SQLite, in-process bus, memory
//! caches) on free ports with its own data directory. Both return a [`TestSystem`], so each
//! black-box test runs against both.
//!
//! Layout:
//! - [`Infra`]: where the servers are.
//! - [`TestSystem`]: a running system plus helpers per endpoint, database, bus and cache.
//! - [`contracts`]: the port contract suites.

use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the test servers are.
#[derive(Debug, Clone)]
pub struct Infra {
    /// `mysql://user:pass@host:port` (no database).
    pub mysql_url: String,
    /// `redis://host:port`.
    pub redis_url: String,
    /// `amqp://user:pass@host:port/vhost`.
    pub amqp_url: String,
}

fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set. Run the tests with `make test`, which starts MariaDB, Redis and \
             RabbitMQ (deploy/local-infra/infra.sh), or export TEST_MYSQL_URL, TEST_REDIS_URL \
             and TEST_AMQP_URL pointing at running servers."
        ),
    }
}

impl Infra {
    /// Reads the servers' addresses from the environment; panics with instructions when
    /// one is missing.
    pub fn from_env() -> Self {
        Self {
            mysql_url: required("TEST_MYSQL_URL").trim_end_matches('/').to_owned(),
            redis_url: required("TEST_REDIS_URL"),
            amqp_url: required("TEST_AMQP_URL"),
        }
    }
}

/// A service running in the test process.
#[derive(Debug)]
pub struct ServiceHandle {
    /// The bound port.
    pub port: u16,
    /// `http://127.0.0.1:{port}`.
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl ServiceHandle {
    fn spawn<F>(port: u16, run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(stopped));
        Self {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the service gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("service failed: {e:#}"),
                Ok(Err(e)) => panic!("service task panicked: {e}"),
                Err(_) => panic!("service did not stop within 30 s"),
            }
        }
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

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
        bus: adapters::bus::InProcessBus,
        /// The product service's cache.
        product_cache: adapters::memory_cache::MemoryCache,
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
    fn new(port: u16) -> Self {
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
    running: Vec<ServiceHandle>,
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        adapters::telemetry::init("tests");
    }
}

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
    database.url = format!("{}/t_{}_{service}", infra.mysql_url, iso.id);
    database.create_if_missing = true;
    redis.url = infra.redis_url.clone();
    redis.key_prefix = format!("t{}:{service}:", iso.id);
    amqp.url = infra.amqp_url.clone();
    amqp.prefix = format!("t{}.", iso.id);
    amqp.retry_delay_ms = 200;
    outbox.poll_interval_ms = 200;
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
    s.product_service.url = product_url.to_owned();
    s
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Starts both services against the test servers, isolated from every other test.
pub async fn spawn_system() -> TestSystem {
    spawn_system_with(|_| {}, |_| {}).await
}

/// Like [`spawn_system`], with the settings of each service adjusted first (to point one at
/// a dead dependency, say).
pub async fn spawn_system_with(
    product: impl FnOnce(&mut product_service::Settings),
    order: impl FnOnce(&mut order_service::Settings),
) -> TestSystem {
    init_logs();
    let infra = Infra::from_env();
    let iso = Isolation::new();
    let mut ps = product_settings(&infra, &iso);
    product(&mut ps);
    let product_db_url = ps.database.url.clone();
    let product_app = product_service::build(ps)
        .await
        .expect("the product service must start");
    let product = ServiceHandle::spawn(product_app.port(), |stopped| {
        product_app.run_until_stopped(async {
            let _ = stopped.await;
        })
    });
    let mut os = order_settings(&infra, &iso, &product.base_url);
    order(&mut os);
    let order_db_url = os.database.url.clone();
    let order_app = order_service::build(os)
        .await
        .expect("the order service must start");
    let order = ServiceHandle::spawn(order_app.port(), |stopped| {
        order_app.run_until_stopped(async {
            let _ = stopped.await;
        })
    });
    TestSystem {
        order: Endpoint::new(order.port),
        product: Endpoint::new(product.port),
        product_db_url,
        order_db_url,
        http: http_client(),
        backend: Backend::Distributed {
            amqp_prefix: format!("t{}.", iso.id),
            product_cache_prefix: format!("t{}:product:", iso.id),
            infra,
        },
        // Stopped in this order: the order service first, as it calls the product service.
        running: vec![order, product],
    }
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
    s
}

/// Starts the standalone composition in this process on free ports, with its own data
/// directory.
pub async fn spawn_standalone() -> TestSystem {
    init_logs();
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let app = standalone::Standalone::build(standalone_settings(data_dir.path()))
        .await
        .expect("the standalone system must start");
    let (order, product) = (
        Endpoint::new(app.order_port()),
        Endpoint::new(app.product_port()),
    );
    let (order_db_url, product_db_url) = (
        app.order_db_url().to_owned(),
        app.product_db_url().to_owned(),
    );
    let (bus, product_cache) = (app.bus().clone(), app.product_cache().clone());
    let handle = ServiceHandle::spawn(order.port, |stopped| {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
    });
    TestSystem {
        order,
        product,
        product_db_url,
        order_db_url,
        http: http_client(),
        backend: Backend::Standalone {
            bus,
            product_cache,
            _data_dir: data_dir,
        },
        running: vec![handle],
    }
}

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// Raw body.
    pub text: String,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status and code, and returns it.
    pub fn assert_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status, body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type"
        );
        assert_eq!(self.body["code"], code, "problem code, body: {}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string());
        &self.body
    }

    /// The `field` names of a validation problem.
    pub fn failing_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestSystem {
    /// `GET` on a service.
    pub async fn get(&self, base: &str, path: &str) -> Reply {
        Reply::read(
            self.http
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("GET failed"),
        )
        .await
    }

    /// `POST` JSON on a service.
    pub async fn post_json(&self, base: &str, path: &str, body: &Value) -> Reply {
        Reply::read(
            self.http
                .post(format!("{base}{path}"))
                .json(body)
                .send()
                .await
                .expect("POST failed"),
        )
        .await
    }

    /// Any request, with headers (`If-Match`, `Idempotency-Key`...) and an optional JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{base}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::read(request.send().await.expect("request failed")).await
    }

    /// Places an order and waits until the inventory answered; panics unless it ends in
    /// `expected`.
    pub async fn settled_order(&self, lines: &[(&str, i64)], expected: &str) -> Value {
        let reply = self.place_order(lines).await;
        assert_eq!(reply.status, 201, "place order: {}", reply.text);
        let order = self
            .wait_settled(
                reply.body["id"].as_str().expect("an order id"),
                Duration::from_secs(20),
            )
            .await;
        assert_eq!(order["status"], expected, "{order}");
        order
    }

    /// `POST` a raw body with a content type.
    pub async fn post_raw(&self, base: &str, path: &str, content_type: &str, body: &str) -> Reply {
        Reply::read(
            self.http
                .post(format!("{base}{path}"))
                .header("content-type", content_type)
                .body(body.to_owned())
                .send()
                .await
                .expect("POST failed"),
        )
        .await
    }

    /// Creates a product and returns its body; panics unless `201`.
    pub async fn create_product(&self, name: &str, price: &str, stock: i64) -> Value {
        let reply = self
            .post_json(
                &self.product.base_url,
                "/products",
                &json!({"name": name, "price": price, "stock": stock}),
            )
            .await;
        assert_eq!(reply.status, 201, "create product: {}", reply.text);
        reply.body
    }

    /// `POST /orders` with `(product_id, quantity)` lines.
    pub async fn place_order(&self, lines: &[(&str, i64)]) -> Reply {
        let items: Vec<Value> = lines
            .iter()
            .map(|(id, q)| json!({"product_id": id, "quantity": q}))
            .collect();
        self.post_json(&self.order.base_url, "/orders", &json!({"items": items}))
            .await
    }

    /// `GET /orders/{id}`.
    pub async fn get_order(&self, id: &str) -> Reply {
        self.get(&self.order.base_url, &format!("/orders/{id}"))
            .await
    }

    /// `GET /products/{id}`.
    pub async fn get_product(&self, id: &str) -> Reply {
        self.get(&self.product.base_url, &format!("/products/{id}"))
            .await
    }

    /// Polls an order until it leaves `pending` (or `timeout` passes) and returns it.
    pub async fn wait_settled(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.get_order(id).await;
            assert_eq!(reply.status, 200, "get order: {}", reply.text);
            if reply.body["status"] != "pending" || Instant::now() >= deadline {
                return reply.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens the product database.
    pub async fn product_db(&self) -> DatabaseConnection {
        Database::connect(&self.product_db_url)
            .await
            .expect("product database")
    }

    /// Opens the order database.
    pub async fn order_db(&self) -> DatabaseConnection {
        Database::connect(&self.order_db_url)
            .await
            .expect("order database")
    }

    /// The stock column of a product, read from the database (not the cache).
    pub async fn stock_in_db(&self, product_id: &str) -> i64 {
        let db = self.product_db().await;
        let id = uuid::Uuid::parse_str(product_id).expect("product id");
        scalar_i64(
            &db,
            "SELECT stock FROM products WHERE id = ?",
            vec![id.into()],
        )
        .await
    }

    /// Sum of the reservations of a product.
    pub async fn reserved_in_db(&self, product_id: &str) -> i64 {
        let db = self.product_db().await;
        let id = uuid::Uuid::parse_str(product_id).expect("product id");
        scalar_i64(
            &db,
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM stock_reservations WHERE product_id = ?",
            vec![id.into()],
        )
        .await
    }

    /// Publishes a raw message on the events exchange or bus, bypassing the outbox (to
    /// inject duplicates and poison).
    pub async fn inject(&self, routing_key: &str, body: &[u8], message_id: Option<&str>) {
        match &self.backend {
            Backend::Distributed {
                infra, amqp_prefix, ..
            } => {
                let conn = adapters::amqp::connect(&infra.amqp_url, "tests")
                    .await
                    .expect("AMQP connection");
                let channel = conn.create_channel().await.expect("AMQP channel");
                adapters::amqp::publish_raw(
                    &channel,
                    &adapters::amqp::Topology::exchange_name(amqp_prefix),
                    routing_key,
                    body,
                    message_id,
                )
                .await
                .expect("publish");
                channel.close(200, "done".into()).await.ok();
                conn.close(200, "done".into()).await.ok();
            }
            Backend::Standalone { bus, .. } => {
                let id = message_id.map(|m| domain::MessageId::parse(m).expect("a message id"));
                bus.publish_raw(routing_key, body, id).expect("publish");
            }
        }
    }

    /// Puts a message straight into `service`'s dead-letter queue, as if it had been
    /// dead-lettered after being published with `routing_key`.
    pub async fn inject_dead_letter(
        &self,
        service: &str,
        routing_key: &str,
        body: &[u8],
        message_id: &str,
    ) {
        match &self.backend {
            Backend::Distributed {
                infra, amqp_prefix, ..
            } => {
                let conn = adapters::amqp::connect(&infra.amqp_url, "tests")
                    .await
                    .expect("AMQP connection");
                let channel = conn.create_channel().await.expect("AMQP channel");
                channel
                    .confirm_select(lapin::options::ConfirmSelectOptions::default())
                    .await
                    .expect("confirms");
                let properties = lapin::BasicProperties::default()
                    .with_message_id(message_id.into())
                    .with_type(routing_key.into())
                    .with_delivery_mode(2);
                channel
                    .basic_publish(
                        format!("{amqp_prefix}shop.dlx").as_str().into(),
                        format!("{amqp_prefix}{service}.events").as_str().into(),
                        lapin::options::BasicPublishOptions {
                            mandatory: true,
                            ..Default::default()
                        },
                        body,
                        properties,
                    )
                    .await
                    .expect("publish to the dead-letter exchange")
                    .await
                    .expect("a confirm");
                channel.close(200, "done".into()).await.ok();
                conn.close(200, "done".into()).await.ok();
            }
            Backend::Standalone { bus, .. } => bus
                .add_dead_letter(
                    &format!("{service}.events"),
                    adapters::bus::DeadLetter {
                        message_id: Some(
                            domain::MessageId::parse(message_id).expect("a message id"),
                        ),
                        routing_key: routing_key.to_owned(),
                        body: body.to_vec(),
                        reason: "injected by a test".to_owned(),
                    },
                )
                .expect("a declared queue"),
        }
    }

    /// The bodies dead-lettered from `service`'s queue (taken out of a RabbitMQ DLQ).
    pub async fn dead_letters(&self, service: &str) -> Vec<Vec<u8>> {
        match &self.backend {
            Backend::Distributed {
                infra, amqp_prefix, ..
            } => {
                let conn = adapters::amqp::connect(&infra.amqp_url, "tests")
                    .await
                    .expect("AMQP connection");
                let channel = conn.create_channel().await.expect("AMQP channel");
                let dlq = format!("{amqp_prefix}{service}.events.dlq");
                let mut bodies = Vec::new();
                while let Some(m) = adapters::amqp::get_one(&channel, &dlq).await.expect("DLQ") {
                    bodies.push(m.delivery.data);
                }
                channel.close(200, "done".into()).await.ok();
                conn.close(200, "done".into()).await.ok();
                bodies
            }
            Backend::Standalone { bus, .. } => bus
                .dead_letters(&format!("{service}.events"))
                .into_iter()
                .map(|d| d.body)
                .collect(),
        }
    }

    /// The product service's cache entry of a product (Redis or memory), raw.
    pub async fn cached_product(&self, product_id: &str) -> Option<String> {
        let key = format!("product:{product_id}");
        match &self.backend {
            Backend::Distributed {
                infra,
                product_cache_prefix,
                ..
            } => {
                let client = deadpool_redis::redis::Client::open(infra.redis_url.as_str())
                    .expect("redis client");
                let mut conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis connection");
                deadpool_redis::redis::cmd("GET")
                    .arg(format!("{product_cache_prefix}{key}"))
                    .query_async(&mut conn)
                    .await
                    .expect("redis GET")
            }
            Backend::Standalone { product_cache, .. } => {
                use ports::Cache;
                product_cache.get_many(&[key]).await.pop().flatten()
            }
        }
    }

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
        let conn = adapters::amqp::connect(&infra.amqp_url, "tests")
            .await
            .expect("AMQP connection");
        let channel = conn.create_channel().await.expect("AMQP channel");
        for service in ["order-service", "product-service"] {
            adapters::amqp::Topology::for_service(amqp_prefix, service, vec![], 10)
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

/// Runs a query returning one integer.
pub async fn scalar_i64(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await
        .with_context(|| format!("query failed: {sql}"))
        .expect("query")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub mod contracts;
