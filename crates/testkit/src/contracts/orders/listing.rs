//! The listing rules: `list` is newest first, every order on exactly one page, full pages
//! before the last, `next_after` the last id of a page and `None` on the last page; its
//! filters (status, product, customer, combined) return exactly the matching orders.

use domain::{CustomerId, Order, OrderId, OrderStatus, ProductId};
use ports::PageRequest;
use ports::ordering::{OrderFilter, OrderStore};

use super::{Ledger, insert_all, one_line};

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

pub(super) async fn list_pages_newest_first_exactly_once(
    store: &dyn OrderStore,
    ledger: &mut Ledger,
) {
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

pub(super) async fn list_filters_return_exactly_the_matching_orders(
    store: &dyn OrderStore,
    ledger: &Ledger,
) {
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
