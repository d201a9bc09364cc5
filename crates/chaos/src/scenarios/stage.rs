//! A scenario's own system: the names that keep it apart from other scenarios and runs, the
//! services' settings, starting services and creating products.

use std::collections::BTreeMap;

use crate::check::Databases;
use crate::cluster::{Env, Role, Service, free_port};
use crate::load;
use crate::tokens::Tokens;

use super::{ORDER_DEADLINE_SECS, PRODUCT_TIMEOUT_MS};

/// One scenario's names, settings and bookkeeping.
pub(super) struct Stage {
    env: Env,
    /// Prefix of every name this scenario gives its services, databases and cache keys.
    pub(super) tag: String,
    /// Client for the services' APIs.
    pub(super) http: reqwest::Client,
    orders_db: String,
    products_db: String,
    /// Exchange and queue name prefix.
    pub(super) amqp_prefix: String,
    /// Stock of every product created, for the conservation check.
    pub(super) initial_stock: BTreeMap<String, i64>,
}

impl Stage {
    pub(super) async fn new(env: &Env, n: u32) -> anyhow::Result<Self> {
        // A scenario that failed may have left a server stopped or paused.
        env.signal_server("redis", "CONT").await.ok();
        env.infra(&["up"]).await?;
        let tag = format!("chaos{}s{n}", env.run_id);
        Ok(Self {
            env: env.clone(),
            http: load::http_client(&env.tokens)?,
            orders_db: format!("{tag}_orders"),
            products_db: format!("{tag}_products"),
            amqp_prefix: format!("{tag}."),
            tag,
            initial_stock: BTreeMap::new(),
        })
    }

    /// The run's tokens.
    pub(super) fn tokens(&self) -> &Tokens {
        &self.env.tokens
    }

    fn settings(&self, role: Role, port: u16) -> Vec<(String, String)> {
        let (db, short, amqp_url) = match role {
            Role::Order => (&self.orders_db, "order", &self.env.order_amqp_url),
            Role::Product => (&self.products_db, "product", &self.env.product_amqp_url),
        };
        let mut s: Vec<(String, String)> = [
            ("RUST_LOG", "info".to_owned()),
            ("APP__HTTP__HOST", "127.0.0.1".to_owned()),
            ("APP__HTTP__PORT", port.to_string()),
            ("APP__HTTP__WORKERS", "2".to_owned()),
            ("APP__HTTP__READINESS_DRAIN_MS", "0".to_owned()),
            ("APP__HTTP__SHUTDOWN_TIMEOUT_SECS", "5".to_owned()),
            // One client drives every scenario's load; quotas are not what is under test.
            ("APP__RATE_LIMIT__ENABLED", "false".to_owned()),
            ("APP__DATABASE__URL", format!("{}/{db}", self.env.mysql_url)),
            ("APP__DATABASE__MAX_CONNECTIONS", "20".to_owned()),
            ("APP__REDIS__URL", self.env.redis_url.clone()),
            ("APP__REDIS__KEY_PREFIX", format!("{}:{short}:", self.tag)),
            ("APP__AMQP__URL", amqp_url.clone()),
            ("APP__AMQP__PREFIX", self.amqp_prefix.clone()),
            ("APP__AMQP__RETRY_DELAY_MS", "200".to_owned()),
            ("APP__OUTBOX__POLL_INTERVAL_MS", "250".to_owned()),
            ("APP__IDEMPOTENCY__LEASE_SECS", "3".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(self.env.tokens.service_env())
        .collect();
        if role == Role::Order {
            s.extend(
                [
                    ("APP__SWEEPER__INTERVAL_SECS", "1".to_owned()),
                    (
                        "APP__SWEEPER__PENDING_DEADLINE_SECS",
                        ORDER_DEADLINE_SECS.to_string(),
                    ),
                    ("APP__SWEEPER__MAX_REEMITS", "2".to_owned()),
                    (
                        "APP__PRODUCT_SERVICE__TIMEOUT_MS",
                        PRODUCT_TIMEOUT_MS.to_string(),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v)),
            );
        }
        s
    }

    pub(super) fn product_service(&self, name: &str) -> anyhow::Result<Service> {
        let port = free_port()?;
        Ok(Service::new(
            &self.env,
            &format!("{}-{name}", self.tag),
            Role::Product,
            port,
            self.settings(Role::Product, port),
        ))
    }

    pub(super) fn order_service(&self, name: &str, product_url: &str) -> anyhow::Result<Service> {
        let port = free_port()?;
        let mut settings = self.settings(Role::Order, port);
        settings.push((
            "APP__PRODUCT_SERVICE__URL".to_owned(),
            product_url.to_owned(),
        ));
        Ok(Service::new(
            &self.env,
            &format!("{}-{name}", self.tag),
            Role::Order,
            port,
            settings,
        ))
    }

    /// Starts a product service and an order service reading prices from it.
    pub(super) async fn pair(
        &self,
        product_faults: &str,
        order_faults: &str,
    ) -> anyhow::Result<(Service, Service)> {
        let mut product = self.product_service("product-1")?;
        if !product_faults.is_empty() {
            product.set_env("CHAOS_FAULTS", product_faults);
        }
        product.start(&self.http).await?;
        let mut order = self.order_service("order-1", &product.url())?;
        if !order_faults.is_empty() {
            order.set_env("CHAOS_FAULTS", order_faults);
        }
        order.start(&self.http).await?;
        Ok((product, order))
    }

    /// A product and an order service (the product service with `product_faults`), `count`
    /// products of `stock` units each, their prices already cached by the order service.
    pub(super) async fn stocked_pair(
        &mut self,
        product_faults: &str,
        count: usize,
        stock: u32,
    ) -> anyhow::Result<(Service, Service, Vec<String>)> {
        let (product, order) = self.pair(product_faults, "").await?;
        let products = self.products(&product.url(), count, stock).await?;
        load::warm_prices(&self.http, &order.url(), &products).await?;
        Ok((product, order, products))
    }

    /// Creates `count` products with `stock` each.
    pub(super) async fn products(
        &mut self,
        product_url: &str,
        count: usize,
        stock: u32,
    ) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let id = load::create_product(
                &self.http,
                product_url,
                &format!("Chaos item {i}"),
                &format!("{}.99", 5 + i),
                stock,
            )
            .await?;
            self.initial_stock.insert(id.clone(), i64::from(stock));
            ids.push(id);
        }
        Ok(ids)
    }

    pub(super) async fn databases(&self) -> anyhow::Result<Databases> {
        Databases::connect(&self.env.mysql_url, &self.orders_db, &self.products_db).await
    }
}
