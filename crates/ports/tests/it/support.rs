//! Fixtures: each service's use cases on its own SQLite database in memory, the in-process
//! cache, one manual clock; reading the outbox as the relay would; delivering messages as a
//! consumer would; a product catalogue fake for the tests that need control over it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use adapters::memory::{LocalProductCatalog, MemoryCache};
use adapters::settings::DatabaseSettings;
use adapters::sql::entities::stock_reservations;
use adapters::sql::{
    OrderMigrator, ProductMigrator, SqlOrderStore, SqlOutboxStore, SqlProductStore, open_database,
};
use domain::product::{AdjustmentReason, StockDelta};
use domain::{
    Currency, Money, Order, OrderDetails, OrderId, OrderLine, Product, ProductId, ProductName,
    Quantity, Stock,
};
use ports::events::{self, IntegrationEvent, OutboxMessage};
use ports::inventory::{
    AdjustStock, AdjustStockError, CachePolicy, NewProduct, ProductService, ProductStore,
    Reservation, StockAdjustment,
};
use ports::ordering::{
    CatalogError, CatalogProduct, Cause, OrderService, PlaceOrder, ProductCatalog,
};
use ports::store::OutboxStore;
use ports::{Clock, HandleOutcome, InboundMessage, ManualClock, MessageHandler, OutboxSignal};

/// The product use cases as the tests run them.
pub type Products = ProductService<SqlProductStore, MemoryCache>;
/// The catalogue the order use cases read: the product use cases, in process.
pub type LocalCatalog = LocalProductCatalog<SqlProductStore, MemoryCache>;

/// How long the product cache keeps a product, and a "not found".
pub const CACHE_POLICY: CachePolicy = CachePolicy {
    ttl: Duration::from_secs(300),
    negative_ttl: Duration::from_secs(5),
};

pub fn sqlite_in_memory() -> DatabaseSettings {
    DatabaseSettings {
        url: "sqlite::memory:".into(),
        max_connections: 1,
        acquire_timeout_ms: 10_000,
        create_if_missing: true,
    }
}

/// A fresh clock, shared by every use case of a test.
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_now())
}

pub fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).expect("a valid amount")
}

pub fn line(product_id: ProductId, quantity: i64) -> OrderLine {
    OrderLine {
        product_id,
        quantity: Quantity::new(quantity).expect("a valid quantity"),
    }
}

/// A message as a producer writes it to its outbox, at the clock's time.
pub fn message<E: IntegrationEvent>(event: &E, clock: &ManualClock) -> OutboxMessage {
    OutboxMessage::new(event, clock.now())
}

/// Hands `msg` to `handler` as a consumer would.
pub async fn deliver(handler: &impl MessageHandler, msg: &OutboxMessage) -> HandleOutcome {
    handler
        .handle(&InboundMessage {
            trace: None,
            message_id: Some(msg.id),
            routing_key: msg.routing_key.clone(),
            body: msg.payload.clone().into_bytes(),
            redelivered: false,
        })
        .await
}

/// The `order.created` of `order_id` for `items` (product, quantity), as the order service
/// writes it.
pub fn created(
    inventory: &Inventory,
    order_id: OrderId,
    items: &[(ProductId, u32)],
) -> OutboxMessage {
    let items = items
        .iter()
        .map(|&(product_id, quantity)| ports::events::OrderedItemV1 {
            product_id,
            quantity,
        })
        .collect();
    message(
        &ports::events::OrderCreatedV1 { order_id, items },
        &inventory.clock,
    )
}

/// Hands `msgs` to `handler` together, as a consumer does with deliveries that arrived at once.
pub async fn deliver_batch(
    handler: &impl MessageHandler,
    msgs: &[OutboxMessage],
) -> Vec<HandleOutcome> {
    let inbound: Vec<InboundMessage> = msgs
        .iter()
        .map(|msg| InboundMessage {
            trace: None,
            message_id: Some(msg.id),
            routing_key: msg.routing_key.clone(),
            body: msg.payload.clone().into_bytes(),
            redelivered: false,
        })
        .collect();
    handler.handle_batch(&inbound).await
}

/// Takes every unpublished message of an outbox, as the relay does, and marks them
/// published: the next call sees only what was enqueued (or re-emitted) since.
pub async fn publish(outbox: &SqlOutboxStore) -> Vec<OutboxMessage> {
    let mut batch = outbox
        .claim(1_000, chrono::Duration::zero())
        .await
        .expect("claim the outbox");
    let messages = batch.messages().to_vec();
    let ids: Vec<_> = messages.iter().map(|m| m.id).collect();
    batch.mark_published(&ids).await.expect("mark published");
    batch.commit().await.expect("commit the outbox batch");
    messages
}

/// The payload of the only message in `messages`, which must be an `E`.
pub fn the_only<E: IntegrationEvent>(messages: &[OutboxMessage]) -> E {
    let [msg] = messages else {
        panic!("expected exactly one {}, got {messages:#?}", E::TYPE);
    };
    events::decode::<E>(msg.payload.as_bytes())
        .unwrap_or_else(|e| panic!("expected a {}: {e}", E::TYPE))
        .data
}

/// The product service on its own database, with a ledger of the units each product
/// received (initial stock plus adjustments) to check that no unit appears or vanishes.
pub struct Inventory {
    pub service: Arc<Products>,
    /// The service's cache (clones share the entries).
    pub cache: MemoryCache,
    pub outbox: SqlOutboxStore,
    pub clock: Arc<ManualClock>,
    conn: DatabaseConnection,
    units: Mutex<HashMap<ProductId, i64>>,
}

impl Inventory {
    pub async fn new(clock: Arc<ManualClock>) -> Self {
        let conn = open_database::<ProductMigrator>(&sqlite_in_memory())
            .await
            .expect("the product database");
        let store = SqlProductStore::new(conn.clone(), OutboxSignal::new())
            .with_clock(clock.clone() as Arc<dyn Clock>);
        let cache = MemoryCache::new(1000);
        let service = ProductService::new(
            store,
            cache.clone(),
            CACHE_POLICY,
            clock.clone() as Arc<dyn Clock>,
        );
        Self {
            service: Arc::new(service),
            cache,
            outbox: SqlOutboxStore::new(conn.clone()).with_clock(clock.clone() as Arc<dyn Clock>),
            clock,
            conn,
            units: Mutex::default(),
        }
    }

    /// Creates a product and publishes its `product.created`, so that the outbox holds only
    /// what the test itself causes.
    pub async fn product(&self, name: &str, price: &str, stock: i64) -> ProductId {
        let product = self
            .service
            .create_product(NewProduct {
                id: None,
                name: ProductName::parse(name).expect("a valid name"),
                price: usd(price),
                stock: Stock::new(stock).expect("a valid stock"),
            })
            .await
            .expect("create the product");
        publish(&self.outbox).await;
        self.ledger().insert(product.id(), stock);
        product.id()
    }

    /// Adjusts a product's stock through the use case; the ledger counts what was applied.
    pub async fn adjust(
        &self,
        id: ProductId,
        delta: i64,
        expected_version: Option<u32>,
    ) -> Result<(Product, StockAdjustment), AdjustStockError> {
        let result = self
            .service
            .adjust_stock(
                id,
                AdjustStock {
                    delta: StockDelta::new(delta).expect("a valid delta"),
                    reason: AdjustmentReason::parse("recount").expect("a valid reason"),
                    expected_version,
                    request_id: Some("req-1".into()),
                    adjustment_id: None,
                },
            )
            .await;
        if result.is_ok() {
            *self.ledger().entry(id).or_default() += delta;
        }
        result
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, HashMap<ProductId, i64>> {
        self.units.lock().expect("the ledger")
    }

    /// The product as stored (not the cache's copy).
    pub async fn stored(&self, id: ProductId) -> Product {
        self.service
            .store()
            .find(id)
            .await
            .expect("read the product")
            .expect("the product exists")
    }

    /// Units on hand, as stored.
    pub async fn stock(&self, id: ProductId) -> u32 {
        self.stored(id).await.stock().get()
    }

    /// The order's reservations, whatever their status, in ascending product id order.
    pub async fn reservations(&self, order_id: OrderId) -> Vec<Reservation> {
        let mut tx = self.service.store().begin().await.expect("begin");
        tx.reservations_of(order_id)
            .await
            .expect("read reservations")
    }

    /// Whether the order was cancelled before anything was reserved for it.
    pub async fn is_tombstoned(&self, order_id: OrderId) -> bool {
        let mut tx = self.service.store().begin().await.expect("begin");
        tx.tombstoned(&[order_id])
            .await
            .expect("read the tombstone")
            .contains(&order_id)
    }

    /// Checks, for every product the test created, that the units it received (initial
    /// stock plus adjustments) are all accounted for: on hand, held by an active reservation,
    /// or gone with a shipment (a consumed reservation). Released units are back on hand.
    pub async fn assert_units_conserved(&self) {
        let received = self.ledger().clone();
        for (id, units) in received {
            let on_hand = i64::from(self.stock(id).await);
            let held: i64 = stock_reservations::Entity::find()
                .filter(stock_reservations::Column::ProductId.eq(id.as_uuid()))
                .filter(stock_reservations::Column::Status.ne("released"))
                .all(&self.conn)
                .await
                .expect("read reservations")
                .iter()
                .map(|r| i64::from(r.quantity))
                .sum();
            assert_eq!(
                on_hand + held,
                units,
                "product {id}: {on_hand} on hand + {held} reserved or shipped"
            );
        }
    }
}

/// The order service on its own database, over the catalogue `C`.
pub struct Shop<C> {
    pub orders: OrderService<SqlOrderStore, C>,
    pub outbox: SqlOutboxStore,
    pub clock: Arc<ManualClock>,
}

impl<C: ProductCatalog> Shop<C> {
    pub async fn new(catalog: C, clock: Arc<ManualClock>) -> Self {
        let conn = open_database::<OrderMigrator>(&sqlite_in_memory())
            .await
            .expect("the order database");
        let store = SqlOrderStore::new(conn.clone(), OutboxSignal::new())
            .with_clock(clock.clone() as Arc<dyn Clock>);
        Self {
            orders: OrderService::new(
                store,
                catalog,
                Currency::USD,
                clock.clone() as Arc<dyn Clock>,
            ),
            outbox: SqlOutboxStore::new(conn).with_clock(clock.clone() as Arc<dyn Clock>),
            clock,
        }
    }

    /// Places an order for `lines` (cause `request:req-1`).
    pub async fn place(&self, lines: Vec<OrderLine>) -> Order {
        self.orders
            .place_order(placing(lines))
            .await
            .expect("place the order")
    }

    /// The order as stored.
    pub async fn order(&self, id: OrderId) -> Order {
        self.orders
            .find_order(id, &admin())
            .await
            .expect("read the order")
            .expect("the order exists")
    }

    /// How many history rows the order has.
    pub async fn history_len(&self, id: OrderId) -> usize {
        self.orders
            .history(id, &admin())
            .await
            .expect("read the history")
            .map_or(0, |h| h.len())
    }
}

/// An admin: may do everything to every order.
pub fn admin() -> domain::Caller {
    domain::Caller::new(
        domain::CustomerId::parse("ops").expect("a customer id"),
        domain::Role::Admin,
    )
}

/// A customer.
pub fn customer(name: &str) -> domain::Caller {
    domain::Caller::new(
        domain::CustomerId::parse(name).expect("a customer id"),
        domain::Role::Customer,
    )
}

/// A request to place `lines`, with request id `req-1`.
pub fn placing(lines: Vec<OrderLine>) -> PlaceOrder {
    PlaceOrder {
        order_id: None,
        caller: admin(),
        customer_id: None,
        lines,
        details: OrderDetails::default(),
        cause: Cause::Request(Some("req-1".into())),
    }
}

/// The order service over the real product service (each on its own database), on one
/// clock.
pub async fn shop_and_inventory() -> (Shop<LocalCatalog>, Inventory) {
    let clock = manual_clock();
    let inventory = Inventory::new(clock.clone()).await;
    let catalog = LocalProductCatalog::new(inventory.service.clone());
    (Shop::new(catalog, clock).await, inventory)
}

/// A catalogue the test controls: its products, whether it is down, and the calls it got.
#[derive(Debug, Default)]
pub struct FakeCatalog {
    products: Mutex<HashMap<ProductId, CatalogProduct>>,
    down: AtomicBool,
    calls: Mutex<Vec<Vec<ProductId>>>,
}

impl FakeCatalog {
    /// A catalogue holding `products` (name, price in USD), with their new ids.
    pub fn with(products: &[(&str, &str)]) -> (Arc<Self>, Vec<ProductId>) {
        let catalog = Arc::new(Self::default());
        let ids = products
            .iter()
            .map(|(name, price)| {
                let id = ProductId::new();
                catalog.set(id, name, price);
                id
            })
            .collect();
        (catalog, ids)
    }

    /// Adds or changes a product.
    pub fn set(&self, id: ProductId, name: &str, price: &str) {
        let product = CatalogProduct {
            id,
            name: name.into(),
            price: usd(price),
        };
        self.products
            .lock()
            .expect("the products")
            .insert(id, product);
    }

    /// From now on every call fails as unavailable.
    pub fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    /// The ids of each call so far, in order.
    pub fn calls(&self) -> Vec<Vec<ProductId>> {
        self.calls.lock().expect("the calls").clone()
    }
}

#[async_trait]
impl ProductCatalog for FakeCatalog {
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
        self.calls.lock().expect("the calls").push(ids.to_vec());
        if self.down.load(Ordering::SeqCst) {
            return Err(CatalogError::Unavailable(anyhow::anyhow!(
                "connection refused"
            )));
        }
        let products = self.products.lock().expect("the products");
        Ok(ids
            .iter()
            .filter_map(|id| products.get(id).cloned())
            .collect())
    }
}
