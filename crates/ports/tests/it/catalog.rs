//! The cached catalogue in front of the product catalogue, on the in-process cache.

use std::sync::Arc;
use std::time::Duration;

use adapters::memory::MemoryCache;
use domain::ProductId;
use ports::HandleOutcome;
use ports::events::{ProductCreatedV1, ProductSnapshotV1, ProductUpdatedV1};
use ports::ordering::{CachedCatalog, CatalogError, PlaceOrderError, ProductCatalog};

use crate::support::{FakeCatalog, Shop, deliver, line, manual_clock, message, placing, usd};

type Cached = CachedCatalog<MemoryCache, Arc<FakeCatalog>>;

fn cached(inner: &Arc<FakeCatalog>, negative_ttl: Duration) -> Cached {
    CachedCatalog::new(
        MemoryCache::new(1000),
        inner.clone(),
        Duration::from_secs(300),
        negative_ttl,
    )
}

async fn names(catalog: &Cached, ids: &[ProductId]) -> Vec<String> {
    let mut names: Vec<String> = catalog
        .find_many(ids)
        .await
        .expect("the catalogue answers")
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_cached_catalogue_asks_the_inner_catalogue_only_for_misses_in_one_call() {
    let (inner, ids) = FakeCatalog::with(&[("Lamp", "1.00"), ("Desk", "2.00")]);
    let (lamp, desk, unknown) = (ids[0], ids[1], ProductId::new());
    let catalog = cached(&inner, Duration::from_secs(300));

    assert_eq!(names(&catalog, &[lamp, unknown]).await, ["Lamp"]);
    assert_eq!(
        names(&catalog, &[lamp, desk, unknown]).await,
        ["Desk", "Lamp"]
    );
    assert_eq!(
        names(&catalog, &[desk, unknown, lamp]).await,
        ["Desk", "Lamp"]
    );

    // The lamp and the unknown id were cached by the first call, the desk by the second.
    assert_eq!(inner.calls(), vec![vec![lamp, unknown], vec![desk]]);
}

#[tokio::test]
async fn an_unknown_product_is_cached_only_briefly() {
    let (inner, ids) = FakeCatalog::with(&[("Lamp", "1.00")]);
    let (lamp, unknown) = (ids[0], ProductId::new());
    let catalog = cached(&inner, Duration::from_millis(10));
    assert_eq!(names(&catalog, &[lamp, unknown]).await, ["Lamp"]);

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(names(&catalog, &[lamp, unknown]).await, ["Lamp"]);

    // The "not found" expired, the product did not.
    assert_eq!(inner.calls(), vec![vec![lamp, unknown], vec![unknown]]);
}

#[tokio::test]
async fn cached_products_are_served_through_a_catalogue_outage() {
    let (inner, ids) = FakeCatalog::with(&[("Lamp", "1.00"), ("Desk", "2.00")]);
    let catalog = cached(&inner, Duration::from_secs(5));
    assert_eq!(names(&catalog, &[ids[0]]).await, ["Lamp"]);
    inner.go_down();

    assert_eq!(names(&catalog, &[ids[0]]).await, ["Lamp"]);
    let err = catalog.find_many(&ids).await.unwrap_err();
    assert!(matches!(err, CatalogError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn warming_loads_the_cache_and_names_the_missing_products() {
    let (inner, ids) = FakeCatalog::with(&[("Lamp", "1.00")]);
    let unknown = ProductId::new();
    let shop = Shop::new(cached(&inner, Duration::from_secs(5)), manual_clock()).await;

    let (found, missing) = shop
        .orders
        .warm_catalog(&[ids[0], unknown], 4)
        .await
        .unwrap();

    assert_eq!((found, missing), (vec![ids[0]], vec![unknown]));
    shop.place(vec![line(ids[0], 1)]).await;
    assert_eq!(
        inner.calls().len(),
        1,
        "the order was priced from the cache"
    );
}

fn snapshot(id: ProductId, name: &str, price: &str, version: u32) -> ProductSnapshotV1 {
    ProductSnapshotV1 {
        product_id: id,
        name: name.into(),
        price: price.into(),
        currency: "USD".into(),
        version,
    }
}

#[tokio::test]
async fn a_product_change_evicts_its_cached_copy() {
    let (inner, ids) = FakeCatalog::with(&[("Lamp", "1.00")]);
    let lamp = ids[0];
    let shop = Shop::new(cached(&inner, Duration::from_secs(300)), manual_clock()).await;
    assert_eq!(shop.place(vec![line(lamp, 1)]).await.total(), usd("1.00"));
    inner.set(lamp, "Lamp", "2.00");
    assert_eq!(shop.place(vec![line(lamp, 1)]).await.total(), usd("1.00"));

    let updated = message(
        &ProductUpdatedV1(snapshot(lamp, "Lamp", "2.00", 2)),
        &shop.clock,
    );
    assert_eq!(deliver(&shop.orders, &updated).await, HandleOutcome::Ack);

    assert_eq!(shop.place(vec![line(lamp, 1)]).await.total(), usd("2.00"));
}

#[tokio::test]
async fn a_new_product_cached_as_unknown_can_be_ordered_once_announced() {
    let (inner, _) = FakeCatalog::with(&[]);
    let shop = Shop::new(cached(&inner, Duration::from_secs(300)), manual_clock()).await;
    let lamp = ProductId::new();
    let order_lamp = || shop.orders.place_order(placing(vec![line(lamp, 1)]));
    assert!(matches!(
        order_lamp().await,
        Err(PlaceOrderError::UnknownProducts(_))
    ));
    inner.set(lamp, "Lamp", "1.00");
    assert!(matches!(
        order_lamp().await,
        Err(PlaceOrderError::UnknownProducts(_))
    ));

    let created = message(
        &ProductCreatedV1(snapshot(lamp, "Lamp", "1.00", 1)),
        &shop.clock,
    );
    assert_eq!(deliver(&shop.orders, &created).await, HandleOutcome::Ack);

    assert_eq!(order_lamp().await.unwrap().total(), usd("1.00"));
}
