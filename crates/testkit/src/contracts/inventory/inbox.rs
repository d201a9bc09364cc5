//! The inbox rule: `record_inbox` is `true` once per (consumer, message id), across
//! transactions, and forgets entries of dropped transactions.

use domain::MessageId;
use ports::inventory::{InventoryTx, ProductStore};

use super::{begin, commit};

pub(super) async fn inbox_records_each_message_once_per_consumer(store: &dyn ProductStore) {
    async fn record(tx: &mut Box<dyn InventoryTx>, consumer: &str, id: MessageId) -> bool {
        tx.record_inbox(consumer, id)
            .await
            .expect("inventory store: record_inbox must succeed, also for a duplicate")
    }
    let (first, other) = ("contract-consumer", "contract-other-consumer");
    let message = MessageId::new();
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, message).await,
        "inventory store: record_inbox must return true the first time"
    );
    commit(tx).await;
    let mut tx = begin(store).await;
    assert!(
        !record(&mut tx, first, message).await,
        "inventory store: record_inbox must return false for a (consumer, message id) committed \
         by an earlier transaction"
    );
    assert!(
        record(&mut tx, other, message).await,
        "inventory store: record_inbox must return true for the same message id under another \
         consumer"
    );
    commit(tx).await;
    let forgotten = MessageId::new();
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, forgotten).await,
        "inventory store: record_inbox must return true the first time"
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, forgotten).await,
        "inventory store: an inbox entry of a dropped transaction must not count"
    );
}
