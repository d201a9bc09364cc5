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

/// `record_inbox_all`: one answer per message id, in order; `false` for an id recorded before
/// (in an earlier transaction or this one) and for a repeat within the call.
pub(super) async fn inbox_records_a_batch_once_per_message(store: &dyn OrderStore) {
    let consumer = "contract-batch-consumer";
    let (known, a, b) = (MessageId::new(), MessageId::new(), MessageId::new());
    let mut tx = begin(store).await;
    assert!(record(&mut tx, consumer, known).await);
    commit(tx).await;

    let mut tx = begin(store).await;
    let recorded = tx
        .record_inbox_all(consumer, &[a, known, b, a])
        .await
        .expect("order store: record_inbox_all must succeed, also with duplicates");
    assert_eq!(
        recorded,
        vec![true, false, true, false],
        "order store: record_inbox_all must be true for new ids only, false for an id \
         committed earlier and for a repeat within the call"
    );
    let again = tx
        .record_inbox_all(consumer, &[b, MessageId::new()])
        .await
        .expect("order store: record_inbox_all must succeed");
    assert_eq!(
        again,
        vec![false, true],
        "order store: record_inbox_all must see what this transaction recorded"
    );
    commit(tx).await;
    let mut tx = begin(store).await;
    assert!(
        !record(&mut tx, consumer, a).await,
        "order store: an id recorded by record_inbox_all must stay recorded after the commit"
    );
}
