//! The order store contract: [`OrderStore`] and [`OrderTx`].
//!
//! The suite keeps a ledger of every order it committed, so listings are checked against the
//! exact expected set (which also proves that orders of dropped transactions never show up).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use domain::{
    Currency, CustomerId, MessageId, Money, NewOrderItem, Order, OrderId, OrderStatus, ProductId,
    Quantity, RejectionReason,
};
use ports::PageRequest;
use ports::ordering::{Cause, HistoryEntry, OrderFilter, OrderStore, OrderTx};

/// What the order store suite runs against.
#[async_trait]
pub trait OrderStoreFixture: Send + Sync {
    /// The store under test. It must hold no orders when the suite starts.
    fn store(&self) -> Arc<dyn OrderStore>;

    /// The history rows of `order_id` in `seq` order, read behind the port (which has no
    /// history reader). `None` when the adapter cannot tell: the suite then skips reading
    /// history back.
    async fn history(&self, order_id: OrderId) -> Option<Vec<HistoryEntry>>;
}

/// Runs every rule of the order store contract against `fixture`; panics on the first broken
/// one.
pub async fn order_store_contract<F: OrderStoreFixture + ?Sized>(fixture: &F) {
    let store = fixture.store();
    let mut ledger = Ledger::default();
    starts_empty(store.as_ref()).await;
    insert_then_find_round_trips(store.as_ref(), &mut ledger).await;
    unknown_order_is_none(store.as_ref()).await;
    dropped_transaction_leaves_nothing(store.as_ref()).await;
    update_is_conditional_on_the_version(store.as_ref(), &mut ledger).await;
    inbox_records_each_message_once_per_consumer(store.as_ref()).await;
    history_reads_back_as_appended(fixture, store.as_ref(), &mut ledger).await;
    stuck_orders_are_found_and_counted(store.as_ref(), &mut ledger).await;
    list_pages_newest_first_exactly_once(store.as_ref(), &mut ledger).await;
    list_filters_return_exactly_the_matching_orders(store.as_ref(), &ledger).await;
}

/// Every order the suite committed, in its current state.
#[derive(Default)]
struct Ledger {
    orders: BTreeMap<OrderId, Order>,
}

impl Ledger {
    fn put(&mut self, order: &Order) {
        self.orders.insert(order.id(), order.clone());
    }

    /// The committed orders matching `filter`, newest (highest id) first.
    fn matching(&self, filter: &OrderFilter) -> Vec<Order> {
        self.orders
            .values()
            .rev()
            .filter(|o| filter.status.is_none_or(|s| o.status() == s))
            .filter(|o| {
                filter
                    .customer_id
                    .as_ref()
                    .is_none_or(|c| o.customer_id() == Some(c))
            })
            .filter(|o| {
                filter
                    .product_id
                    .is_none_or(|p| o.items().iter().any(|i| i.product_id() == p))
            })
            .cloned()
            .collect()
    }
}

/// A `pending` order placed now, with its events taken (an order read back has none).
fn place(customer: Option<&str>, lines: &[(ProductId, &str, i64, i64)]) -> Order {
    let items = lines
        .iter()
        .map(|(product_id, name, price_minor, quantity)| NewOrderItem {
            product_id: *product_id,
            product_name: (*name).to_owned(),
            unit_price: Money::from_minor(*price_minor, Currency::USD).expect("a valid price"),
            quantity: Quantity::new(*quantity).expect("a valid quantity"),
        })
        .collect();
    let customer = customer.map(|c| CustomerId::parse(c).expect("a valid customer id"));
    let mut order = Order::place(OrderId::new(), customer, items, Currency::USD, crate::now())
        .expect("a valid order");
    order.take_events();
    order
}

fn one_line(customer: Option<&str>) -> Order {
    place(customer, &[(ProductId::new(), "Widget", 1_00, 1)])
}

async fn begin(store: &dyn OrderStore) -> Box<dyn OrderTx> {
    store
        .begin()
        .await
        .expect("order store: begin must succeed")
}

async fn commit(tx: Box<dyn OrderTx>) {
    tx.commit().await.expect("order store: commit must succeed");
}

async fn insert_all(store: &dyn OrderStore, ledger: &mut Ledger, orders: &[Order]) {
    let mut tx = begin(store).await;
    for order in orders {
        tx.insert_order(order)
            .await
            .expect("order store: insert_order must succeed");
    }
    commit(tx).await;
    for order in orders {
        ledger.put(order);
    }
}

async fn find(store: &dyn OrderStore, id: OrderId) -> Option<Order> {
    store
        .find(id)
        .await
        .expect("order store: find must succeed")
}

async fn starts_empty(store: &dyn OrderStore) {
    let page = store
        .list(
            &OrderFilter::default(),
            PageRequest::new(1, None).expect("a valid page"),
        )
        .await
        .expect("order store: list must succeed");
    assert!(
        page.items.is_empty(),
        "order store: the suite needs an empty store, this one already holds orders"
    );
}

async fn insert_then_find_round_trips(store: &dyn OrderStore, ledger: &mut Ledger) {
    let mut ids: Vec<ProductId> = (0..3).map(|_| ProductId::new()).collect();
    ids.sort();
    // Lines not in product id order, so the store must keep the order's own line order.
    let full = place(
        Some("customer-1@example.org"),
        &[
            (ids[2], "Tasse à café ☕", 19_99, 3),
            (ids[0], "Widget", 5, 1),
            (ids[1], "Gadget \"deluxe\"", 1_234_567, 10_000),
        ],
    );
    let anonymous = one_line(None);
    insert_all(store, ledger, &[full.clone(), anonymous.clone()]).await;
    for expected in [&full, &anonymous] {
        assert_eq!(
            find(store, expected.id()).await.as_ref(),
            Some(expected),
            "order store: insert then find must return the order exactly (items in order, \
             snapshots, totals, customer, status, version, timestamps to the microsecond)"
        );
    }

    let mut tx = begin(store).await;
    let locked = tx
        .load_for_update(full.id())
        .await
        .expect("order store: load_for_update must succeed");
    assert_eq!(
        locked.as_ref(),
        Some(&full),
        "order store: load_for_update must return the committed order exactly"
    );
    let missing = tx
        .load_for_update(OrderId::new())
        .await
        .expect("order store: load_for_update must succeed");
    assert!(
        missing.is_none(),
        "order store: load_for_update of an unknown id must be None"
    );
}

async fn unknown_order_is_none(store: &dyn OrderStore) {
    assert!(
        find(store, OrderId::new()).await.is_none(),
        "order store: find of an unknown id must be None"
    );
}

async fn dropped_transaction_leaves_nothing(store: &dyn OrderStore) {
    let order = place(None, &[(ProductId::new(), "Dropped", 2_00, 2)]);
    let mut tx = begin(store).await;
    tx.insert_order(&order)
        .await
        .expect("order store: insert_order must succeed");
    drop(tx);
    assert!(
        find(store, order.id()).await.is_none(),
        "order store: an order inserted by a transaction dropped without commit must not exist"
    );
}

async fn update_is_conditional_on_the_version(store: &dyn OrderStore, ledger: &mut Ledger) {
    let placed = one_line(Some("customer-2"));
    let to_reject = one_line(None);
    let to_cancel = one_line(None);
    insert_all(
        store,
        ledger,
        &[placed.clone(), to_reject.clone(), to_cancel.clone()],
    )
    .await;

    let mut confirmed = placed.clone();
    confirmed
        .confirm(crate::now())
        .expect("pending -> confirmed");
    confirmed.take_events();
    let mut tx = begin(store).await;
    let written = tx
        .update(&confirmed, placed.version())
        .await
        .expect("order store: update must succeed");
    assert!(
        written,
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    ledger.put(&confirmed);
    assert_eq!(
        find(store, placed.id()).await.as_ref(),
        Some(&confirmed),
        "order store: update must write status, version and updated_at"
    );

    let mut shipped = confirmed.clone();
    shipped
        .ship(
            domain::Shipment::parse("DHL", "JD0146").expect("a shipment"),
            crate::now(),
        )
        .expect("confirmed -> shipped");
    shipped.take_events();
    let mut tx = begin(store).await;
    let written = tx
        .update(&shipped, placed.version())
        .await
        .expect("order store: update must succeed");
    assert!(
        !written,
        "order store: update with a stale expected version must return false"
    );
    commit(tx).await;
    assert_eq!(
        find(store, placed.id()).await.as_ref(),
        Some(&confirmed),
        "order store: update with a stale expected version must change nothing"
    );

    // Details and the shipment round-trip too.
    let mut edited = confirmed.clone();
    let details = domain::OrderDetails {
        shipping_address: Some(
            domain::ShippingAddress::parse(domain::ShippingAddressFields {
                name: "Ada Lovelace".into(),
                line1: "12 St James's Square".into(),
                line2: Some("Flat 2".into()),
                city: "London".into(),
                region: None,
                postal_code: "SW1Y 4JH".into(),
                country: "GB".into(),
            })
            .expect("a valid address"),
        ),
        note: Some(domain::OrderNote::parse("ring twice").expect("a valid note")),
    };
    edited
        .update_details(details, crate::now())
        .expect("a confirmed order is editable");
    let mut tx = begin(store).await;
    assert!(
        tx.update(&edited, confirmed.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    let mut shipped = edited.clone();
    shipped
        .ship(
            domain::Shipment::parse("DHL", "JD0146").expect("a shipment"),
            crate::now(),
        )
        .expect("confirmed -> shipped");
    shipped.take_events();
    let mut tx = begin(store).await;
    assert!(
        tx.update(&shipped, edited.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    ledger.put(&shipped);
    assert_eq!(
        find(store, placed.id()).await.as_ref(),
        Some(&shipped),
        "order store: update must write the shipping address, note, carrier and tracking number"
    );

    let mut rejected = to_reject.clone();
    rejected
        .reject(RejectionReason::InsufficientStock, crate::now())
        .expect("pending -> rejected");
    rejected.take_events();
    let mut tx = begin(store).await;
    assert!(
        tx.update(&rejected, to_reject.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    ledger.put(&rejected);
    assert_eq!(
        find(store, rejected.id()).await.as_ref(),
        Some(&rejected),
        "order store: update must write the rejection reason"
    );

    let mut cancelled = to_cancel.clone();
    cancelled
        .cancel(crate::now())
        .expect("pending -> cancelled");
    cancelled.take_events();
    let mut tx = begin(store).await;
    assert!(
        tx.update(&cancelled, to_cancel.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    drop(tx);
    assert_eq!(
        find(store, to_cancel.id()).await.as_ref(),
        Some(&to_cancel),
        "order store: an update_status of a dropped transaction must change nothing"
    );

    let never_inserted = one_line(None);
    let mut tx = begin(store).await;
    let written = tx
        .update(&never_inserted, 1)
        .await
        .expect("order store: update must succeed");
    assert!(
        !written,
        "order store: update_status of an unknown order must return false"
    );
}

async fn record(tx: &mut Box<dyn OrderTx>, consumer: &str, id: MessageId) -> bool {
    tx.record_inbox(consumer, id)
        .await
        .expect("order store: record_inbox must succeed, also for a duplicate")
}

async fn inbox_records_each_message_once_per_consumer(store: &dyn OrderStore) {
    let (first, other) = ("contract-consumer", "contract-other-consumer");
    let message = MessageId::new();

    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, message).await,
        "order store: record_inbox must return true the first time"
    );
    assert!(
        !record(&mut tx, first, message).await,
        "order store: record_inbox must return false for a (consumer, message id) it already \
         recorded in the same transaction"
    );
    commit(tx).await;

    let mut tx = begin(store).await;
    assert!(
        !record(&mut tx, first, message).await,
        "order store: record_inbox must return false for a (consumer, message id) committed by \
         an earlier transaction"
    );
    assert!(
        record(&mut tx, other, message).await,
        "order store: record_inbox must return true for the same message id under another \
         consumer"
    );
    commit(tx).await;

    let forgotten = MessageId::new();
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, forgotten).await,
        "order store: record_inbox must return true the first time"
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, forgotten).await,
        "order store: an inbox entry of a dropped transaction must not count"
    );
    commit(tx).await;
}

async fn append(tx: &mut Box<dyn OrderTx>, entry: &HistoryEntry) {
    tx.append_history(entry)
        .await
        .expect("order store: append_history must succeed");
}

async fn history_reads_back_as_appended<F: OrderStoreFixture + ?Sized>(
    fixture: &F,
    store: &dyn OrderStore,
    ledger: &mut Ledger,
) {
    let request = Cause::Request(Some("req-1".to_owned()));
    let placed_entry = |order: &Order| HistoryEntry {
        order_id: order.id(),
        seq: order.version(),
        from: None,
        to: order.status(),
        reason: None,
        cause: request.to_string(),
        at: order.created_at(),
    };

    // Placed, then confirmed by a message in a later transaction.
    let order = one_line(Some("customer-3"));
    let placed = placed_entry(&order);
    let mut tx = begin(store).await;
    tx.insert_order(&order)
        .await
        .expect("order store: insert_order must succeed");
    append(&mut tx, &placed).await;
    commit(tx).await;
    ledger.put(&order);

    let mut confirmed = order.clone();
    let t = confirmed
        .confirm(crate::now())
        .expect("pending -> confirmed");
    confirmed.take_events();
    let confirmation = HistoryEntry {
        order_id: order.id(),
        seq: t.version,
        from: Some(t.from),
        to: t.to,
        reason: None,
        cause: Cause::Message(MessageId::new()).to_string(),
        at: t.at,
    };
    let mut tx = begin(store).await;
    assert!(
        tx.update(&confirmed, order.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    append(&mut tx, &confirmation).await;
    commit(tx).await;
    ledger.put(&confirmed);

    // A history row of a dropped transaction.
    let mut cancelled = confirmed.clone();
    let t = cancelled
        .cancel(crate::now())
        .expect("confirmed -> cancelled");
    let mut tx = begin(store).await;
    append(
        &mut tx,
        &HistoryEntry {
            order_id: order.id(),
            seq: t.version,
            from: Some(t.from),
            to: t.to,
            reason: None,
            cause: request.to_string(),
            at: t.at,
        },
    )
    .await;
    drop(tx);

    // Placed and rejected in one transaction, with a reason.
    let mut rejected = one_line(None);
    let placed_rejected = placed_entry(&rejected);
    let t = rejected
        .reject(RejectionReason::UnknownProduct, crate::now())
        .expect("pending -> rejected");
    rejected.take_events();
    let rejection = HistoryEntry {
        order_id: rejected.id(),
        seq: t.version,
        from: Some(t.from),
        to: t.to,
        reason: t.reason.map(|r| r.as_str().to_owned()),
        cause: Cause::Request(None).to_string(),
        at: t.at,
    };
    let mut tx = begin(store).await;
    tx.insert_order(&rejected)
        .await
        .expect("order store: insert_order must succeed");
    append(&mut tx, &placed_rejected).await;
    append(&mut tx, &rejection).await;
    commit(tx).await;
    ledger.put(&rejected);

    for (id, expected) in [
        (order.id(), vec![placed, confirmation]),
        (rejected.id(), vec![placed_rejected, rejection]),
    ] {
        if let Some(rows) = fixture.history(id).await {
            assert_eq!(
                rows, expected,
                "order store: committed history rows must read back exactly as appended, and \
                 rows of a dropped transaction must not exist"
            );
        }
        let through_port = store
            .history(id)
            .await
            .expect("order store: history must succeed");
        assert_eq!(
            through_port, expected,
            "order store: history must return the committed rows in seq order"
        );
        let mut tx = begin(store).await;
        let in_tx = tx
            .history(id)
            .await
            .expect("order store: history in a transaction must succeed");
        drop(tx);
        assert_eq!(
            in_tx, expected,
            "order store: history in a transaction must return the committed rows in seq order"
        );
    }
    assert!(
        store
            .history(domain::OrderId::new())
            .await
            .expect("order store: history must succeed")
            .is_empty(),
        "order store: the history of an unknown order is empty"
    );
}

async fn stuck_orders_are_found_and_counted(store: &dyn OrderStore, ledger: &mut Ledger) {
    let stuck = one_line(None);
    insert_all(store, ledger, std::slice::from_ref(&stuck)).await;
    let later = crate::now() + chrono::Duration::seconds(1);
    let found = |rows: Vec<(OrderId, u32)>| rows.into_iter().find(|(id, _)| *id == stuck.id());
    let before = store
        .stuck_pending(later, 1000)
        .await
        .expect("order store: stuck_pending must succeed");
    assert_eq!(
        found(before),
        Some((stuck.id(), 0)),
        "order store: stuck_pending must list a pending order placed before the time, never re-emitted"
    );
    let earlier = stuck.created_at() - chrono::Duration::seconds(1);
    assert_eq!(
        found(
            store
                .stuck_pending(earlier, 1000)
                .await
                .expect("order store: stuck_pending must succeed")
        ),
        None,
        "order store: stuck_pending must not list orders placed after the time"
    );
    let created = ports::events::OrderCreatedV1 {
        order_id: stuck.id(),
        items: vec![],
    };
    let message = ports::OutboxMessage::with_id(
        ports::ordering::created_message_id(stuck.id()),
        &created,
        stuck.created_at(),
    );
    for _ in 0..2 {
        let mut tx = begin(store).await;
        tx.reemit(stuck.id(), &message)
            .await
            .expect("order store: reemit must succeed, whether the outbox row exists or not");
        commit(tx).await;
    }
    assert_eq!(
        found(
            store
                .stuck_pending(later, 1000)
                .await
                .expect("order store: stuck_pending must succeed")
        ),
        Some((stuck.id(), 2)),
        "order store: each reemit must count once"
    );
}

/// Follows `next_after` from the first page to the last, checking the page shapes.
async fn walk(store: &dyn OrderStore, filter: &OrderFilter, limit: u32) -> Vec<Order> {
    let mut all = Vec::new();
    let mut after = None;
    for _ in 0..1000 {
        let page = store
            .list(
                filter,
                PageRequest::new(limit, after).expect("a valid page size"),
            )
            .await
            .expect("order store: list must succeed");
        assert!(
            page.items.len() <= limit as usize,
            "order store: list must return at most `limit` orders ({filter:?}, limit {limit})"
        );
        all.extend(page.items.iter().cloned());
        match page.next_after {
            None => return all,
            Some(next) => {
                assert_eq!(
                    page.items.len(),
                    limit as usize,
                    "order store: a page followed by another must be full ({filter:?}, limit \
                     {limit})"
                );
                assert_eq!(
                    page.items.last().map(|o| o.id().as_uuid()),
                    Some(next),
                    "order store: next_after must be the id of the page's last order"
                );
                after = Some(next);
            }
        }
    }
    panic!("order store: list never reached a page without next_after ({filter:?})");
}

fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(Order::id).collect()
}

async fn list_pages_newest_first_exactly_once(store: &dyn OrderStore, ledger: &mut Ledger) {
    // More orders, inserted in an order unrelated to their ids, across transactions.
    let mut more: Vec<Order> = (0..6)
        .map(|i| one_line(Some(&format!("lister-{i}"))))
        .collect();
    more.swap(0, 5);
    more.swap(1, 3);
    for chunk in more.chunks(2) {
        insert_all(store, ledger, chunk).await;
    }
    let expected = ledger.matching(&OrderFilter::default());
    let total = expected.len() as u32;
    for limit in [1, 3, total, total + 1, 100] {
        let listed = walk(store, &OrderFilter::default(), limit).await;
        assert_eq!(
            ids(&listed),
            ids(&expected),
            "order store: list must return every committed order exactly once, newest (highest \
             id) first, across pages of {limit}"
        );
        assert_eq!(
            listed, expected,
            "order store: listed orders must equal what find returns (items, totals, status...)"
        );
    }
}

async fn list_filters_return_exactly_the_matching_orders(store: &dyn OrderStore, ledger: &Ledger) {
    // The orders placed so far give every filter something to match and something to skip.
    let someone = ledger
        .orders
        .values()
        .find_map(|o| o.customer_id().cloned())
        .expect("an order with a customer");
    let full_order = ledger
        .orders
        .values()
        .find(|o| o.items().len() > 1)
        .expect("an order with several lines");
    let product = full_order.items()[1].product_id();
    let mut filters = vec![
        OrderFilter {
            customer_id: Some(someone.clone()),
            ..OrderFilter::default()
        },
        OrderFilter {
            product_id: Some(product),
            ..OrderFilter::default()
        },
        OrderFilter {
            product_id: Some(ProductId::new()),
            ..OrderFilter::default()
        },
        OrderFilter {
            customer_id: Some(CustomerId::parse("nobody").expect("a valid customer id")),
            ..OrderFilter::default()
        },
        OrderFilter {
            status: Some(OrderStatus::Pending),
            customer_id: Some(someone),
            product_id: None,
        },
        OrderFilter {
            status: Some(OrderStatus::Pending),
            customer_id: full_order.customer_id().cloned(),
            product_id: Some(product),
        },
    ];
    filters.extend(OrderStatus::ALL.into_iter().map(|status| OrderFilter {
        status: Some(status),
        ..OrderFilter::default()
    }));
    for filter in &filters {
        let expected = ledger.matching(filter);
        for limit in [2, 100] {
            let listed = walk(store, filter, limit).await;
            assert_eq!(
                ids(&listed),
                ids(&expected),
                "order store: list with {filter:?} must return exactly the matching orders, \
                 newest first, each once (pages of {limit})"
            );
        }
    }
}
