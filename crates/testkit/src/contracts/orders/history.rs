//! The history rule: committed history rows read back exactly as appended, in `seq` order,
//! through the fixture, the store and a transaction; rows of a dropped transaction never
//! exist; an unknown order has no history.

use domain::{MessageId, Order, RejectionReason};
use ports::ordering::{Cause, HistoryEntry, OrderStore, OrderTx};

use super::{Ledger, OrderStoreFixture, begin, commit, one_line};

async fn append(tx: &mut Box<dyn OrderTx>, entry: &HistoryEntry) {
    tx.append_history(entry)
        .await
        .expect("order store: append_history must succeed");
}

pub(super) async fn history_reads_back_as_appended<F: OrderStoreFixture + ?Sized>(
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
            .history(id, None)
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
            .history(domain::OrderId::new(), None)
            .await
            .expect("order store: history must succeed")
            .is_empty(),
        "order store: the history of an unknown order is empty"
    );
}
