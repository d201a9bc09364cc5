//! The rules under concurrency: 10 concurrent releases of one order restore its stock once;
//! a tombstone and a reservation of one order never both exist; and 50 concurrent
//! reservations of one unit against a stock of 20 reserve exactly 20, the stock ends at 0
//! without ever going negative, and exactly the winners hold a reservation (conservation).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use domain::{OrderId, Product, ProductId};
use ports::StoreError;
use ports::inventory::ProductStore;

use super::{
    CONCURRENT_TASKS, CONTESTED_STOCK, begin, insert_all, line, product, reserve, reserve_lines,
    stock_of,
};

/// Retries `attempt` while it fails as `Unavailable` (deadlock, lock wait), as a redelivered
/// message would.
async fn retrying<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for i in 0..50u64 {
        match attempt().await {
            Ok(value) => return value,
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(10 + (i * 7) % 30)).await;
            }
            Err(e) => panic!(
                "inventory store: {what} failed: {:#}",
                anyhow::Error::from(e)
            ),
        }
    }
    panic!("inventory store: {what} stayed unavailable after 50 attempts");
}

pub(super) async fn concurrent_releases_restore_the_stock_once(store: Arc<dyn ProductStore>) {
    let p = product("Released concurrently", 10);
    let mut unused = BTreeMap::new();
    insert_all(store.as_ref(), &mut unused, std::slice::from_ref(&p)).await;
    let order = OrderId::new();
    reserve_lines(store.as_ref(), order, &[(p.id(), 4)]).await;

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                retrying("a concurrent release", || {
                    let store = store.clone();
                    async move {
                        let mut tx = store.begin().await?;
                        let released = tx.release_reservations(order).await?;
                        tx.commit().await?;
                        Ok(released.len())
                    }
                })
                .await
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        match task.await {
            Ok(n) => total += n,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a release task was cancelled: {e}"),
        }
    }
    assert_eq!(
        total, 1,
        "inventory store: 10 concurrent releases of one reservation must release it exactly once"
    );
    assert_eq!(
        stock_of(store.as_ref(), p.id()).await,
        10,
        "inventory store: concurrent releases must give the units back exactly once"
    );
}

pub(super) async fn a_tombstone_and_a_reservation_of_one_order_exclude_each_other(
    store: Arc<dyn ProductStore>,
) {
    const PAIRS: usize = 8;
    let products: Vec<Product> = (0..PAIRS)
        .map(|i| product(&format!("Raced {i}"), 1))
        .collect();
    let mut unused = BTreeMap::new();
    insert_all(store.as_ref(), &mut unused, &products).await;

    let mut tasks = Vec::new();
    for p in &products {
        let (order, id) = (OrderId::new(), p.id());
        // The cancellation: a tombstone only when nothing was reserved.
        let cancel = tokio::spawn({
            let store = store.clone();
            async move {
                retrying("a concurrent cancellation", || {
                    let store = store.clone();
                    async move {
                        let mut tx = store.begin().await?;
                        let none = tx.reservations_of(order).await?.is_empty();
                        if none {
                            tx.insert_tombstone(order, crate::now()).await?;
                        }
                        tx.commit().await?;
                        Ok(none)
                    }
                })
                .await
            }
        });
        // The reservation: nothing when tombstoned.
        let reserve = tokio::spawn({
            let store = store.clone();
            async move {
                retrying("a concurrent reservation", || {
                    let store = store.clone();
                    async move {
                        let mut tx = store.begin().await?;
                        if tx.tombstoned(&[order]).await?.contains(&order) {
                            return Ok(false);
                        }
                        tx.lock_stock(&[id]).await?;
                        if !tx.decrement_stock(id, 1).await? {
                            return Ok(false);
                        }
                        tx.insert_reservations(&[(order, line(id, 1))]).await?;
                        tx.commit().await?;
                        Ok(true)
                    }
                })
                .await
            }
        });
        tasks.push((order, cancel, reserve));
    }
    for (order, cancel, reserve) in tasks {
        let tombstoned = match cancel.await {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a cancellation task was cancelled: {e}"),
        };
        let reserved = match reserve.await {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a reservation task was cancelled: {e}"),
        };
        assert!(
            !(tombstoned && reserved),
            "inventory store: order {order} got both a tombstone and a reservation: \
             reservations_of must lock the order's (missing) reservations and is_tombstoned its \
             (missing) tombstone until the transaction ends"
        );
    }
}

/// What one reservation task ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Reserved,
    OutOfStock,
}

/// One reservation as the product service makes it: lock, decrement if covered, reserve,
/// commit. A transient failure (`Unavailable`: deadlock, lock wait) starts over, as a
/// redelivered message would.
async fn reserve_one(store: Arc<dyn ProductStore>, product: ProductId, order: OrderId) -> Attempt {
    for _ in 0..50 {
        match try_reserve_one(store.as_ref(), product, order).await {
            Ok(attempt) => return attempt,
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!(
                "inventory store: a concurrent reservation failed: {:#}",
                anyhow::Error::from(e)
            ),
        }
    }
    panic!("inventory store: a concurrent reservation stayed unavailable after 50 attempts");
}

async fn try_reserve_one(
    store: &dyn ProductStore,
    product: ProductId,
    order: OrderId,
) -> Result<Attempt, StoreError> {
    let mut tx = store.begin().await?;
    let locked = tx.lock_stock(&[product]).await?;
    let on_hand = locked
        .get(&product)
        .expect("inventory store: lock_stock must return an existing product")
        .get();
    if on_hand < 1 {
        return Ok(Attempt::OutOfStock);
    }
    let taken = tx.decrement_stock(product, 1).await?;
    assert!(
        taken,
        "inventory store: lock_stock must lock: {on_hand} units were seen under the lock, yet \
         decrement_stock could not take 1"
    );
    tx.insert_reservations(&[(order, line(product, 1))]).await?;
    tx.commit().await?;
    Ok(Attempt::Reserved)
}

pub(super) async fn concurrent_reservations_never_oversell(store: Arc<dyn ProductStore>) {
    let contested = product("Contested", CONTESTED_STOCK);
    let mut unused = BTreeMap::new();
    insert_all(
        store.as_ref(),
        &mut unused,
        std::slice::from_ref(&contested),
    )
    .await;
    let id = contested.id();

    // Samples the stock while the tasks run: reading it back must never fail (a negative
    // stock is refused by `Stock`, so a read of one is an error).
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (store, done) = (store.clone(), done.clone());
        async move {
            let mut samples = 0u32;
            while !done.load(Ordering::Relaxed) {
                let stock = store
                    .find(id)
                    .await
                    .expect("inventory store: the stock must stay readable (never negative)")
                    .expect("inventory store: the contested product must exist")
                    .stock()
                    .get();
                assert!(
                    i64::from(stock) <= CONTESTED_STOCK,
                    "inventory store: the stock must never grow during reservations"
                );
                samples += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            samples
        }
    });

    let orders: Vec<OrderId> = (0..CONCURRENT_TASKS).map(|_| OrderId::new()).collect();
    let tasks: Vec<_> = orders
        .iter()
        .map(|order| tokio::spawn(reserve_one(store.clone(), id, *order)))
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a reservation task was cancelled: {e}"),
        }
    }
    done.store(true, Ordering::Relaxed);
    match sampler.await {
        Ok(_) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("inventory store: the stock sampler was cancelled: {e}"),
    }

    let winners: Vec<OrderId> = orders
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == Attempt::Reserved)
        .map(|(order, _)| *order)
        .collect();
    assert_eq!(
        winners.len() as i64,
        CONTESTED_STOCK,
        "inventory store: {CONCURRENT_TASKS} concurrent reservations of 1 unit against a stock \
         of {CONTESTED_STOCK} must reserve exactly {CONTESTED_STOCK}"
    );
    assert_eq!(
        stock_of(store.as_ref(), id).await,
        0,
        "inventory store: after the concurrent reservations the stock must be exactly 0"
    );

    // Conservation: initial = stock + reserved. A reservation exists exactly when a second one
    // for the same (order, product) is refused.
    let mut tx = begin(store.as_ref()).await;
    let mut reserved = 0;
    for (order, outcome) in orders.iter().zip(&outcomes) {
        let exists = !reserve(&mut tx, *order, id).await;
        assert_eq!(
            exists,
            *outcome == Attempt::Reserved,
            "inventory store: exactly the orders whose transaction committed must hold a \
             reservation (order {order}, outcome {outcome:?})"
        );
        reserved += i64::from(exists);
    }
    drop(tx);
    assert_eq!(
        reserved, CONTESTED_STOCK,
        "inventory store: conservation: initial stock {CONTESTED_STOCK} = stock 0 + reserved units"
    );
}
