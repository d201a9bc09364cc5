//! The update rule: `update` writes only at the expected version (status, rejection reason,
//! shipping address, note, carrier and tracking number), says whether it did, and a dropped
//! transaction's update changes nothing.

use domain::RejectionReason;
use ports::ordering::OrderStore;

use super::{Ledger, begin, commit, find, insert_all, one_line};

pub(super) async fn update_is_conditional_on_the_version(
    store: &dyn OrderStore,
    ledger: &mut Ledger,
) {
    let placed = one_line(Some("customer-2"));
    let to_reject = one_line(None);
    let to_cancel = one_line(None);
    insert_all(
        store,
        ledger,
        &[placed.clone(), to_reject.clone(), to_cancel.clone()],
    )
    .await;

    let mut confirmed = placed.clone();
    confirmed
        .confirm(crate::now())
        .expect("pending -> confirmed");
    confirmed.take_events();
    let mut tx = begin(store).await;
    let written = tx
        .update(&confirmed, placed.version())
        .await
        .expect("order store: update must succeed");
    assert!(
        written,
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    ledger.put(&confirmed);
    assert_eq!(
        find(store, placed.id()).await.as_ref(),
        Some(&confirmed),
        "order store: update must write status, version and updated_at"
    );

    let mut shipped = confirmed.clone();
    shipped
        .ship(
            domain::Shipment::parse("DHL", "JD0146").expect("a shipment"),
            crate::now(),
        )
        .expect("confirmed -> shipped");
    shipped.take_events();
    let mut tx = begin(store).await;
    let written = tx
        .update(&shipped, placed.version())
        .await
        .expect("order store: update must succeed");
    assert!(
        !written,
        "order store: update with a stale expected version must return false"
    );
    commit(tx).await;
    assert_eq!(
        find(store, placed.id()).await.as_ref(),
        Some(&confirmed),
        "order store: update with a stale expected version must change nothing"
    );

    // Details and the shipment round-trip too.
    let mut edited = confirmed.clone();
    let details = domain::OrderDetails {
        shipping_address: Some(
            domain::ShippingAddress::parse(domain::ShippingAddressFields {
                name: "Ada Lovelace".into(),
                line1: "12 St James's Square".into(),
                line2: Some("Flat 2".into()),
                city: "London".into(),
                region: None,
                postal_code: "SW1Y 4JH".into(),
                country: "GB".into(),
            })
            .expect("a valid address"),
        ),
        note: Some(domain::OrderNote::parse("ring twice").expect("a valid note")),
    };
    edited
        .update_details(details, crate::now())
        .expect("a confirmed order is editable");
    let mut tx = begin(store).await;
    assert!(
        tx.update(&edited, confirmed.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    let mut shipped = edited.clone();
    shipped
        .ship(
            domain::Shipment::parse("DHL", "JD0146").expect("a shipment"),
            crate::now(),
        )
        .expect("confirmed -> shipped");
    shipped.take_events();
    let mut tx = begin(store).await;
    assert!(
        tx.update(&shipped, edited.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    ledger.put(&shipped);
    assert_eq!(
        find(store, placed.id()).await.as_ref(),
        Some(&shipped),
        "order store: update must write the shipping address, note, carrier and tracking number"
    );

    let mut rejected = to_reject.clone();
    rejected
        .reject(RejectionReason::InsufficientStock, crate::now())
        .expect("pending -> rejected");
    rejected.take_events();
    let mut tx = begin(store).await;
    assert!(
        tx.update(&rejected, to_reject.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    commit(tx).await;
    ledger.put(&rejected);
    assert_eq!(
        find(store, rejected.id()).await.as_ref(),
        Some(&rejected),
        "order store: update must write the rejection reason"
    );

    let mut cancelled = to_cancel.clone();
    cancelled
        .cancel(crate::now())
        .expect("pending -> cancelled");
    cancelled.take_events();
    let mut tx = begin(store).await;
    assert!(
        tx.update(&cancelled, to_cancel.version())
            .await
            .expect("order store: update must succeed"),
        "order store: update with the stored version must write and return true"
    );
    drop(tx);
    assert_eq!(
        find(store, to_cancel.id()).await.as_ref(),
        Some(&to_cancel),
        "order store: an update_status of a dropped transaction must change nothing"
    );

    let never_inserted = one_line(None);
    let mut tx = begin(store).await;
    let written = tx
        .update(&never_inserted, 1)
        .await
        .expect("order store: update must succeed");
    assert!(
        !written,
        "order store: update_status of an unknown order must return false"
    );
}
