//! The rules of an order's end: `reservations_of` reads an order's reservations back; a
//! release gives the stock back once and never for consumed reservations; consuming counts
//! once; a tombstone is recorded once per order and not by a dropped transaction.

use std::collections::BTreeMap;

use domain::{OrderId, ProductId, ReservationLine};
use ports::inventory::{InventoryTx, ProductStore, Reservation, ReservationStatus};

use super::{begin, commit, find, insert_all, product, qty, reserve_lines, stock_of};

async fn reservations(store: &dyn ProductStore, order: OrderId) -> Vec<Reservation> {
    let mut tx = begin(store).await;
    tx.reservations_of(order)
        .await
        .expect("inventory store: reservations_of must succeed")
}

fn res(product_id: ProductId, n: i64, status: ReservationStatus) -> Reservation {
    Reservation {
        product_id,
        quantity: qty(n),
        status,
    }
}

pub(super) async fn reservations_are_released_once_and_consumed_for_good(store: &dyn ProductStore) {
    let (x, y) = (product("Released X", 10), product("Released Y", 10));
    let (low, high) = if x.id() < y.id() { (x, y) } else { (y, x) };
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, &[low.clone(), high.clone()]).await;

    let cancelled = OrderId::new();
    // Reserved in descending product order; read back ascending.
    reserve_lines(store, cancelled, &[(high.id(), 3), (low.id(), 2)]).await;
    assert_eq!(
        reservations(store, cancelled).await,
        vec![
            res(low.id(), 2, ReservationStatus::Active),
            res(high.id(), 3, ReservationStatus::Active),
        ],
        "inventory store: reservations_of must return the order's reservations, active, in \
         ascending product id order"
    );
    assert!(
        reservations(store, OrderId::new()).await.is_empty(),
        "inventory store: reservations_of an order without reservations must be empty"
    );

    let mut tx = begin(store).await;
    let released = tx
        .release_reservations(cancelled)
        .await
        .expect("inventory store: release_reservations must succeed");
    drop(tx);
    assert_eq!(
        released.len(),
        2,
        "inventory store: release_reservations must release every active reservation"
    );
    assert_eq!(
        (
            stock_of(store, low.id()).await,
            stock_of(store, high.id()).await
        ),
        (8, 7),
        "inventory store: a release of a dropped transaction must change nothing"
    );

    let mut tx = begin(store).await;
    let released = tx
        .release_reservations(cancelled)
        .await
        .expect("inventory store: release_reservations must succeed");
    assert_eq!(
        released,
        vec![
            ReservationLine {
                product_id: low.id(),
                quantity: qty(2)
            },
            ReservationLine {
                product_id: high.id(),
                quantity: qty(3)
            },
        ],
        "inventory store: release_reservations must return the released lines in ascending \
         product id order"
    );
    assert!(
        tx.release_reservations(cancelled)
            .await
            .expect("inventory store: release_reservations must succeed")
            .is_empty(),
        "inventory store: a second release in the same transaction must release nothing"
    );
    commit(tx).await;
    let (l, h) = (
        find(store, low.id()).await.expect("a committed product"),
        find(store, high.id()).await.expect("a committed product"),
    );
    assert_eq!(
        (l.stock().get(), h.stock().get()),
        (10, 10),
        "inventory store: a release must give back exactly the reserved units"
    );
    assert!(
        l.version() > low.version() + 1 && h.version() > high.version() + 1,
        "inventory store: a release must bump the version of each product it touches"
    );
    assert_eq!(
        reservations(store, cancelled).await,
        vec![
            res(low.id(), 2, ReservationStatus::Released),
            res(high.id(), 3, ReservationStatus::Released),
        ],
        "inventory store: released reservations must read back as released"
    );
    let mut tx = begin(store).await;
    assert!(
        tx.release_reservations(cancelled)
            .await
            .expect("inventory store: release_reservations must succeed")
            .is_empty(),
        "inventory store: releasing an order released by an earlier transaction must release \
         nothing"
    );
    commit(tx).await;
    assert_eq!(
        stock_of(store, low.id()).await,
        10,
        "inventory store: releasing twice must give the units back once"
    );

    let shipped = OrderId::new();
    reserve_lines(store, shipped, &[(low.id(), 4)]).await;
    let mut tx = begin(store).await;
    assert_eq!(
        tx.consume_reservations(shipped)
            .await
            .expect("inventory store: consume_reservations must succeed"),
        1,
        "inventory store: consume_reservations must count the consumed reservations"
    );
    assert_eq!(
        tx.consume_reservations(shipped)
            .await
            .expect("inventory store: consume_reservations must succeed"),
        0,
        "inventory store: consuming twice must consume nothing the second time"
    );
    assert!(
        tx.release_reservations(shipped)
            .await
            .expect("inventory store: release_reservations must succeed")
            .is_empty(),
        "inventory store: consumed reservations must never be released"
    );
    commit(tx).await;
    assert_eq!(
        stock_of(store, low.id()).await,
        6,
        "inventory store: consuming must leave the stock as it is (10 - 4 reserved)"
    );
    assert_eq!(
        reservations(store, shipped).await,
        vec![res(low.id(), 4, ReservationStatus::Consumed)],
        "inventory store: consumed reservations must read back as consumed"
    );
    let mut tx = begin(store).await;
    assert_eq!(
        tx.consume_reservations(cancelled)
            .await
            .expect("inventory store: consume_reservations must succeed"),
        0,
        "inventory store: released reservations must not be consumed"
    );
    commit(tx).await;
}

pub(super) async fn tombstones_are_recorded_once(store: &dyn ProductStore) {
    async fn tombstoned(tx: &mut Box<dyn InventoryTx>, order: OrderId) -> bool {
        tx.tombstoned(&[order])
            .await
            .expect("inventory store: tombstoned must succeed")
            .contains(&order)
    }
    async fn tombstone(tx: &mut Box<dyn InventoryTx>, order: OrderId) -> bool {
        tx.insert_tombstone(order, crate::now())
            .await
            .expect("inventory store: insert_tombstone must succeed, also for a duplicate")
    }
    let order = OrderId::new();
    let mut tx = begin(store).await;
    assert!(
        !tombstoned(&mut tx, order).await,
        "inventory store: tombstoned must say false for an order without a tombstone"
    );
    assert!(
        tombstone(&mut tx, order).await,
        "inventory store: insert_tombstone must return true the first time"
    );
    assert!(
        !tombstone(&mut tx, order).await,
        "inventory store: insert_tombstone must return false when the tombstone exists"
    );
    commit(tx).await;
    let mut tx = begin(store).await;
    assert!(
        tombstoned(&mut tx, order).await,
        "inventory store: tombstoned must say true for a committed tombstone"
    );
    assert!(
        !tombstone(&mut tx, order).await,
        "inventory store: insert_tombstone must return false for a tombstone committed earlier"
    );
    assert!(
        !tombstoned(&mut tx, OrderId::new()).await,
        "inventory store: tombstoned must say false for another order"
    );
    let other = OrderId::new();
    assert_eq!(
        tx.tombstoned(&[other, order])
            .await
            .expect("inventory store: tombstoned must succeed"),
        std::collections::HashSet::from([order]),
        "inventory store: tombstoned must return exactly the orders among its ids that have one"
    );
    drop(tx);
    let forgotten = OrderId::new();
    let mut tx = begin(store).await;
    assert!(tombstone(&mut tx, forgotten).await);
    drop(tx);
    let mut tx = begin(store).await;
    assert!(
        !tombstoned(&mut tx, forgotten).await,
        "inventory store: a tombstone of a dropped transaction must not exist"
    );
}
