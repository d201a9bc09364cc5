//! The recovery rule: `stuck_pending` lists pending orders placed before a time with their
//! re-emission count, and `reemit` counts once per call, whether the outbox row exists or not.

use domain::OrderId;
use ports::ordering::OrderStore;

use super::{Ledger, begin, commit, insert_all, one_line};

pub(super) async fn stuck_orders_are_found_and_counted(
    store: &dyn OrderStore,
    ledger: &mut Ledger,
) {
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
