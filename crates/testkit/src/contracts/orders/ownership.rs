//! The ownership rule: with an owner, `find`, `history` and `load_for_update` see an order
//! only when it is that customer's, exactly as without one when it is; another customer's
//! order (or one placed without a customer) is invisible, the same as a missing one.

use domain::CustomerId;
use ports::ordering::{Cause, HistoryEntry, OrderStore};

use super::{Ledger, begin, commit, one_line};

pub(super) async fn an_owner_sees_only_its_own_orders(store: &dyn OrderStore, ledger: &mut Ledger) {
    let owner = CustomerId::parse("owner-1").expect("a customer id");
    let other = CustomerId::parse("owner-2").expect("a customer id");
    let order = one_line(Some(owner.as_str()));
    let anonymous = one_line(None);
    let entry = HistoryEntry {
        order_id: order.id(),
        seq: order.version(),
        from: None,
        to: order.status(),
        reason: None,
        cause: Cause::Request(None).to_string(),
        at: order.created_at(),
    };
    let mut tx = begin(store).await;
    for placed in [&order, &anonymous] {
        tx.insert_order(placed)
            .await
            .expect("order store: insert_order must succeed");
    }
    tx.append_history(&entry)
        .await
        .expect("order store: append_history must succeed");
    commit(tx).await;
    ledger.put(&order);
    ledger.put(&anonymous);

    let find = |owner: Option<CustomerId>, id| async move {
        store
            .find(id, owner.as_ref())
            .await
            .expect("order store: find must succeed")
    };
    assert_eq!(
        find(Some(owner.clone()), order.id()).await.as_ref(),
        Some(&order),
        "order store: find with the order's owner must return it exactly"
    );
    assert!(
        find(Some(other.clone()), order.id()).await.is_none(),
        "order store: find with another owner must not see the order"
    );
    assert!(
        find(Some(owner.clone()), anonymous.id()).await.is_none(),
        "order store: find with an owner must not see an order placed without a customer"
    );
    let id = order.id();
    let history = |who: CustomerId| async move {
        store
            .history(id, Some(&who))
            .await
            .expect("order store: history must succeed")
    };
    assert_eq!(
        history(owner.clone()).await,
        vec![entry],
        "order store: history with the order's owner must return its rows"
    );
    assert!(
        history(other.clone()).await.is_empty(),
        "order store: history with another owner must be empty"
    );
    let mut tx = begin(store).await;
    assert!(
        tx.load_for_update(order.id(), Some(&other))
            .await
            .expect("order store: load_for_update must succeed")
            .is_none(),
        "order store: load_for_update with another owner must not see the order"
    );
    assert_eq!(
        tx.load_for_update(order.id(), Some(&owner))
            .await
            .expect("order store: load_for_update must succeed")
            .as_ref(),
        Some(&order),
        "order store: load_for_update with the order's owner must return it"
    );
    drop(tx);
}
