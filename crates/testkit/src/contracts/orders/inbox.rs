//! The inbox rule: `record_inbox` is `true` once per (consumer, message id), within and
//! across transactions, and forgets entries of dropped transactions.

use domain::MessageId;
use ports::ordering::{OrderStore, OrderTx};

use super::{begin, commit};

async fn record(tx: &mut Box<dyn OrderTx>, consumer: &str, id: MessageId) -> bool {
    tx.record_inbox(consumer, id)
        .await
        .expect("order store: record_inbox must succeed, also for a duplicate")
}

pub(super) async fn inbox_records_each_message_once_per_consumer(store: &dyn OrderStore) {
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
