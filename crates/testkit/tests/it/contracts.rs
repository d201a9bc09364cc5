//! Every adapter against the contract suite of its port, and every suite against an adapter
//! broken on purpose (a suite that passes a broken adapter proves nothing).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use adapters::sql::{SqlIdempotencyStore, SqlOrderStore, SqlOutboxStore, SqlProductStore};
use ports::OutboxSignal;
use ports::inventory::ProductStore;
use testkit::contracts::broken::{ForgetfulInbox, IgnoresTtl, OverdrawingStock, SwallowsRetries};
use testkit::contracts::embedded::{InProcessBusFixture, MemoryCaches, SqliteDatabase};
use testkit::contracts::idempotency::idempotency_store_contract;
use testkit::contracts::rabbitmq::RabbitMqBus;
use testkit::contracts::redis::{RedisCaches, unreachable_redis_cache};
use testkit::contracts::sql::{MySqlDatabase, SqlOrderFixture};
use testkit::contracts::{
    OutboxThroughOrders, a_message_failing_for_a_while_holds_up_no_other, cache_contract,
    cache_outage_contract, event_bus_contract, inventory_store_contract, order_store_contract,
    outbox_contract,
};
use testkit::{Infra, Isolation};

type Panic = Box<dyn Any + Send>;

/// Runs a suite in a task of its own, so that the caller cleans up even when it panics.
async fn run(suite: impl Future<Output = ()> + Send + 'static) -> Result<(), Panic> {
    tokio::spawn(suite).await.map_err(|e| {
        assert!(e.is_panic(), "the suite was cancelled: {e}");
        e.into_panic()
    })
}

fn message(panic: &Panic) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Re-raises a suite's panic once the caller cleaned up.
fn passed(outcome: Result<(), Panic>) {
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Asserts the suite panicked, for the rule the broken adapter breaks.
fn rejected(outcome: Result<(), Panic>, rule: &str) {
    let panic = outcome.expect_err("the suite must reject the broken adapter");
    let message = message(&panic);
    assert!(
        message.contains(rule),
        "the suite must reject the broken adapter for `{rule}`, it failed with: {message}"
    );
}

#[tokio::test]
async fn order_store_contract_mysql() {
    let db = MySqlDatabase::orders(&Infra::from_env(), &Isolation::new()).await;
    let fixture = SqlOrderFixture::new(db.connection().clone());
    let outcome = run(async move { order_store_contract(&fixture).await }).await;
    db.drop_database().await;
    passed(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inventory_store_contract_mysql() {
    let db = MySqlDatabase::products(&Infra::from_env(), &Isolation::new()).await;
    let store: Arc<dyn ProductStore> = Arc::new(SqlProductStore::new(
        db.connection().clone(),
        OutboxSignal::new(),
    ));
    let outcome = run(async move { inventory_store_contract(&store).await }).await;
    db.drop_database().await;
    passed(outcome);
}

#[tokio::test]
async fn outbox_contract_mysql() {
    let db = MySqlDatabase::orders(&Infra::from_env(), &Isolation::new()).await;
    let conn = db.connection().clone();
    let fixture = OutboxThroughOrders::new(
        Arc::new(SqlOutboxStore::new(conn.clone())),
        Arc::new(SqlOrderStore::new(conn, OutboxSignal::new())),
    );
    let outcome = run(async move { outbox_contract(&fixture).await }).await;
    db.drop_database().await;
    passed(outcome);
}

#[tokio::test]
async fn event_bus_contract_rabbitmq() {
    let bus = Arc::new(RabbitMqBus::new(&Infra::from_env(), &Isolation::new()).await);
    let fixture = bus.clone();
    let outcome = run(async move { event_bus_contract(fixture.as_ref()).await }).await;
    bus.teardown().await;
    passed(outcome);
}

#[tokio::test]
async fn cache_contract_redis() {
    let caches = RedisCaches::new(&Infra::from_env(), &Isolation::new());
    cache_contract(&caches).await;
}

#[tokio::test]
async fn cache_outage_contract_redis() {
    cache_outage_contract(&unreachable_redis_cache()).await;
}

#[tokio::test]
async fn order_store_contract_sqlite() {
    let db = SqliteDatabase::orders().await;
    let store = SqlOrderStore::new(db.connection().clone(), OutboxSignal::new())
        .with_readers(db.readers().clone());
    let fixture = SqlOrderFixture::with_store(Arc::new(store), db.connection().clone());
    passed(run(async move { order_store_contract(&fixture).await }).await);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inventory_store_contract_sqlite() {
    let db = SqliteDatabase::products().await;
    let store: Arc<dyn ProductStore> = Arc::new(
        SqlProductStore::new(db.connection().clone(), OutboxSignal::new())
            .with_readers(db.readers().clone()),
    );
    passed(run(async move { inventory_store_contract(&store).await }).await);
    drop(db);
}

#[tokio::test]
async fn outbox_contract_sqlite() {
    let db = SqliteDatabase::orders().await;
    let conn = db.connection().clone();
    let fixture = OutboxThroughOrders::new(
        Arc::new(SqlOutboxStore::new(conn.clone())),
        Arc::new(SqlOrderStore::new(conn, OutboxSignal::new())),
    );
    passed(run(async move { outbox_contract(&fixture).await }).await);
    drop(db);
}

#[tokio::test]
async fn idempotency_store_contract_mysql() {
    let db = MySqlDatabase::orders(&Infra::from_env(), &Isolation::new()).await;
    let store = SqlIdempotencyStore::new(db.connection().clone());
    let outcome = run(async move { idempotency_store_contract(&store).await }).await;
    db.drop_database().await;
    passed(outcome);
}

#[tokio::test]
async fn idempotency_store_contract_sqlite() {
    let db = SqliteDatabase::products().await;
    let store = SqlIdempotencyStore::new(db.connection().clone());
    passed(run(async move { idempotency_store_contract(&store).await }).await);
    drop(db);
}

#[tokio::test]
async fn event_bus_contract_in_process() {
    let fixture = InProcessBusFixture::new();
    passed(run(async move { event_bus_contract(&fixture).await }).await);
}

/// A minute of transient failure, retried 50 ms, 100 ms, ... 30 s apart: room for 20 retries.
const FAILING_FOR: Duration = Duration::from_secs(60);
const ROOM_FOR_RETRIES: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_failing_for_a_minute_holds_up_no_other_on_rabbitmq() {
    let bus = Arc::new(
        RabbitMqBus::with_delivery_limit(&Infra::from_env(), &Isolation::new(), ROOM_FOR_RETRIES)
            .await,
    );
    let fixture = bus.clone();
    let outcome = run(async move {
        a_message_failing_for_a_while_holds_up_no_other(fixture.as_ref(), FAILING_FOR).await
    })
    .await;
    bus.teardown().await;
    passed(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_failing_for_a_minute_holds_up_no_other_in_process() {
    let fixture = InProcessBusFixture::with_delivery_limit(ROOM_FOR_RETRIES);
    passed(
        run(async move { a_message_failing_for_a_while_holds_up_no_other(&fixture, FAILING_FOR).await })
            .await,
    );
}

#[tokio::test]
async fn cache_contract_memory() {
    cache_contract(&MemoryCaches::default()).await;
}

#[tokio::test]
async fn the_order_store_suite_rejects_an_inbox_that_forgets() {
    let db = MySqlDatabase::orders(&Infra::from_env(), &Isolation::new()).await;
    let conn = db.connection().clone();
    let inner = Arc::new(SqlOrderStore::new(conn.clone(), OutboxSignal::new()));
    let fixture = SqlOrderFixture::with_store(Arc::new(ForgetfulInbox(inner)), conn);
    let outcome = run(async move { order_store_contract(&fixture).await }).await;
    db.drop_database().await;
    rejected(outcome, "record_inbox must return false");
}

#[tokio::test]
async fn the_inventory_suite_rejects_a_decrement_that_oversells() {
    let db = MySqlDatabase::products(&Infra::from_env(), &Isolation::new()).await;
    let inner = Arc::new(SqlProductStore::new(
        db.connection().clone(),
        OutboxSignal::new(),
    ));
    let store: Arc<dyn ProductStore> = Arc::new(OverdrawingStock(inner));
    let outcome = run(async move { inventory_store_contract(&store).await }).await;
    db.drop_database().await;
    rejected(
        outcome,
        "decrement_stock must return false when fewer units are on hand",
    );
}

#[tokio::test]
async fn the_cache_suite_rejects_a_cache_that_ignores_the_ttl() {
    let caches = IgnoresTtl(RedisCaches::new(&Infra::from_env(), &Isolation::new()));
    let outcome = run(async move { cache_contract(&caches).await }).await;
    rejected(outcome, "must be gone once its TTL");
}

#[tokio::test]
async fn the_bus_suite_rejects_a_consumer_that_drops_redeliveries() {
    let bus = Arc::new(RabbitMqBus::new(&Infra::from_env(), &Isolation::new()).await);
    let fixture = SwallowsRetries(bus.clone());
    let outcome = run(async move { event_bus_contract(&fixture).await }).await;
    bus.teardown().await;
    rejected(outcome, "Retry must be delivered again");
}

/// The standalone stores read through read-only connections to their SQLite file: a read
/// waits neither for an open write transaction nor sees what it has not committed, and sees a
/// commit as soon as it returned. The same store without readers waits (the check that the
/// test can fail).
#[tokio::test]
async fn sqlite_reads_proceed_while_a_write_transaction_is_open() {
    use domain::{Currency, Money, NewOrderItem, Order, OrderId, ProductId, Quantity};
    use ports::PageRequest;
    use ports::ordering::{OrderFilter, OrderStore};
    use std::time::Duration;
    use tokio::time::timeout;

    let place = || {
        let item = NewOrderItem {
            product_id: ProductId::new(),
            product_name: "Widget".to_owned(),
            unit_price: Money::from_minor(1_00, Currency::USD).expect("a valid price"),
            quantity: Quantity::new(2).expect("a valid quantity"),
        };
        Order::place(
            OrderId::new(),
            None,
            vec![item],
            Currency::USD,
            testkit::now(),
        )
        .expect("a valid order")
    };
    let db = SqliteDatabase::orders().await;
    let store = SqlOrderStore::new(db.connection().clone(), OutboxSignal::new())
        .with_readers(db.readers().clone());
    let (committed, pending) = (place(), place());
    let mut tx = store.begin().await.expect("a transaction");
    tx.insert_order(&committed).await.expect("an insert");
    tx.commit().await.expect("a commit");

    let mut open = store.begin().await.expect("a second transaction");
    open.insert_order(&pending).await.expect("an insert");
    let read = timeout(Duration::from_secs(2), store.find(committed.id(), None))
        .await
        .expect("a read must not wait for the open write transaction")
        .expect("the read must succeed")
        .expect("the committed order must be found");
    assert_eq!(read.items(), committed.items());
    assert_eq!(read.total(), committed.total());
    let unseen = timeout(Duration::from_secs(2), store.find(pending.id(), None))
        .await
        .expect("a read must not wait for the open write transaction")
        .expect("the read must succeed");
    assert!(unseen.is_none(), "an uncommitted order must not be visible");
    let page = timeout(
        Duration::from_secs(2),
        store.list(
            &OrderFilter::default(),
            PageRequest::new(10, None).expect("a page"),
        ),
    )
    .await
    .expect("a listing must not wait for the open write transaction")
    .expect("the listing must succeed");
    let listed: Vec<OrderId> = page.items.iter().map(Order::id).collect();
    assert_eq!(listed, vec![committed.id()]);

    let writer_only = SqlOrderStore::new(db.connection().clone(), OutboxSignal::new());
    assert!(
        timeout(
            Duration::from_millis(300),
            writer_only.find(committed.id(), None)
        )
        .await
        .is_err(),
        "without readers a read queues behind the writer's transaction"
    );

    open.commit().await.expect("a commit");
    let seen = store
        .find(pending.id(), None)
        .await
        .expect("the read must succeed");
    assert_eq!(seen.map(|o| o.id()), Some(pending.id()));
}
