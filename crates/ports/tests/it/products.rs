//! The product use cases behind the API: create, change, read, adjust stock.

use std::time::Duration;

use domain::product::AdjustmentError;
use domain::{ProductId, ProductName, Stock};
use ports::Cache;
use ports::events::{ProductCreatedV1, ProductUpdatedV1};
use ports::inventory::{
    AdjustStockError, CacheStatus, NewProduct, ProductCache, ProductChange, UpdateProductError,
};

use crate::support::{Inventory, manual_clock, publish, the_only, usd};

fn lamp(id: Option<ProductId>) -> NewProduct {
    NewProduct {
        id,
        name: ProductName::parse("Lamp").expect("a valid name"),
        price: usd("12.50"),
        stock: Stock::new(3).expect("a valid stock"),
    }
}

fn gadget(expected_version: Option<u32>) -> ProductChange {
    ProductChange {
        name: Some(ProductName::parse("Gadget").expect("a valid name")),
        price: Some(usd("6.00")),
        expected_version,
    }
}

#[tokio::test]
async fn a_created_product_is_stored_and_announced() {
    let inventory = Inventory::new(manual_clock()).await;

    let product = inventory.service.create_product(lamp(None)).await.unwrap();

    assert_eq!(product.version(), 1);
    assert_eq!(inventory.stored(product.id()).await, product);
    let created: ProductCreatedV1 = the_only(&publish(&inventory.outbox).await);
    assert_eq!(created.0.product_id, product.id());
    assert_eq!(
        (
            created.0.name.as_str(),
            created.0.price.as_str(),
            created.0.version
        ),
        ("Lamp", "12.50", 1)
    );
}

#[tokio::test]
async fn a_retried_creation_answers_the_product_created_before() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = ProductId::new();
    let first = inventory
        .service
        .create_product(lamp(Some(id)))
        .await
        .unwrap();

    let retry = inventory
        .service
        .create_product(lamp(Some(id)))
        .await
        .unwrap();

    assert_eq!((retry.id(), &retry), (id, &first));
    let _: ProductCreatedV1 = the_only(&publish(&inventory.outbox).await);
}

#[tokio::test]
async fn an_update_is_stored_announced_and_evicts_the_cached_copy() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    inventory.service.get_product(id).await.unwrap();

    let updated = inventory
        .service
        .update_product(id, gadget(Some(1)))
        .await
        .unwrap();

    assert_eq!(
        (updated.name().as_str(), updated.price(), updated.version()),
        ("Gadget", usd("6.00"), 2)
    );
    assert_eq!(updated.stock().get(), 2);
    assert_eq!(inventory.stored(id).await, updated);
    let announced: ProductUpdatedV1 = the_only(&publish(&inventory.outbox).await);
    assert_eq!(
        (
            announced.0.product_id,
            announced.0.price.as_str(),
            announced.0.version
        ),
        (id, "6.00", 2)
    );
    let (read, status) = inventory.service.get_product(id).await.unwrap();
    assert_eq!((read, status), (Some(updated), CacheStatus::Miss));
}

#[tokio::test]
async fn an_update_to_the_values_the_product_has_writes_nothing() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Gadget", "6.00", 2).await;
    let before = inventory.stored(id).await;

    let answer = inventory
        .service
        .update_product(id, gadget(Some(1)))
        .await
        .unwrap();

    assert_eq!(answer, before);
    assert_eq!(inventory.stored(id).await, before);
    assert!(publish(&inventory.outbox).await.is_empty());
}

#[tokio::test]
async fn a_stale_if_match_refuses_an_update_and_writes_nothing() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    let before = inventory.stored(id).await;

    let err = inventory
        .service
        .update_product(id, gadget(Some(3)))
        .await
        .unwrap_err();

    assert!(
        matches!(err, UpdateProductError::VersionMismatch { current: 1 }),
        "{err:?}"
    );
    assert_eq!(inventory.stored(id).await, before);
    assert!(publish(&inventory.outbox).await.is_empty());
}

#[tokio::test]
async fn an_update_of_an_unknown_product_is_not_found() {
    let inventory = Inventory::new(manual_clock()).await;
    let unknown = ProductId::new();

    let err = inventory
        .service
        .update_product(unknown, gadget(None))
        .await
        .unwrap_err();

    assert!(
        matches!(err, UpdateProductError::NotFound(id) if id == unknown),
        "{err:?}"
    );
    assert!(publish(&inventory.outbox).await.is_empty());
}

#[tokio::test]
async fn an_adjustment_is_applied_recorded_and_evicts_the_cached_copy() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    inventory.service.get_product(id).await.unwrap();

    let (after, adjustment) = inventory.adjust(id, 5, Some(1)).await.unwrap();

    assert_eq!((after.stock().get(), after.version()), (7, 2));
    assert_eq!(inventory.stored(id).await, after);
    assert_eq!(
        (adjustment.delta.get(), adjustment.stock_after.get()),
        (5, 7)
    );
    assert_eq!(
        (adjustment.reason.as_str(), adjustment.cause.as_str()),
        ("recount", "request:req-1")
    );
    let page = ports::PageRequest::new(10, None).unwrap();
    let listed = inventory
        .service
        .list_adjustments(id, page)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.items, vec![adjustment]);
    let (read, status) = inventory.service.get_product(id).await.unwrap();
    assert_eq!((read, status), (Some(after), CacheStatus::Miss));
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn an_adjustment_below_zero_is_refused_and_writes_nothing() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    let before = inventory.stored(id).await;

    let err = inventory.adjust(id, -3, None).await.unwrap_err();

    assert!(
        matches!(
            err,
            AdjustStockError::Refused(AdjustmentError::BelowZero {
                available: 2,
                delta: -3
            })
        ),
        "{err:?}"
    );
    assert_eq!(inventory.stored(id).await, before);
    let page = ports::PageRequest::new(10, None).unwrap();
    let listed = inventory
        .service
        .list_adjustments(id, page)
        .await
        .unwrap()
        .unwrap();
    assert!(listed.items.is_empty());
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_stale_if_match_refuses_an_adjustment_and_writes_nothing() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    let before = inventory.stored(id).await;

    let err = inventory.adjust(id, 1, Some(7)).await.unwrap_err();

    assert!(
        matches!(err, AdjustStockError::VersionMismatch { current: 1 }),
        "{err:?}"
    );
    assert_eq!(inventory.stored(id).await, before);
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_retried_adjustment_is_applied_once() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    let request = ports::inventory::AdjustStock {
        delta: domain::product::StockDelta::new(4).unwrap(),
        reason: domain::product::AdjustmentReason::parse("delivery").unwrap(),
        expected_version: Some(1),
        request_id: Some("key-1".into()),
        adjustment_id: Some(uuid::Uuid::now_v7()),
    };
    let first = inventory
        .service
        .adjust_stock(id, request.clone())
        .await
        .unwrap();

    let retry = inventory.service.adjust_stock(id, request).await.unwrap();

    assert_eq!(retry, first);
    assert_eq!(inventory.stock(id).await, 6);
}

#[tokio::test]
async fn a_read_fills_the_cache_and_the_next_one_is_served_from_it() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    let unknown = ProductId::new();

    let (first, miss) = inventory.service.get_product(id).await.unwrap();
    let (second, hit) = inventory.service.get_product(id).await.unwrap();

    assert_eq!((miss, hit), (CacheStatus::Miss, CacheStatus::Hit));
    assert_eq!(first, Some(inventory.stored(id).await));
    assert_eq!(second, first);
    // "Not found" is cached too.
    let reads: Vec<_> = [
        inventory.service.get_product(unknown).await.unwrap(),
        inventory.service.get_product(unknown).await.unwrap(),
    ]
    .into();
    assert_eq!(reads, [(None, CacheStatus::Miss), (None, CacheStatus::Hit)]);
}

#[tokio::test]
async fn an_unreadable_cache_entry_is_a_miss() {
    let inventory = Inventory::new(manual_clock()).await;
    let id = inventory.product("Lamp", "5.00", 2).await;
    let key = ProductCache::<adapters::memory::MemoryCache>::key(id);
    inventory
        .cache
        .set_many(&[(key, "{not a product".into())], Duration::from_secs(60))
        .await;

    let (read, status) = inventory.service.get_product(id).await.unwrap();

    assert_eq!(
        (read, status),
        (Some(inventory.stored(id).await), CacheStatus::Miss)
    );
    assert_eq!(
        inventory.service.get_product(id).await.unwrap().1,
        CacheStatus::Hit
    );
}
