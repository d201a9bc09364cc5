//! The order aggregate: the only way to place an order or change it.

use chrono::{DateTime, Utc};

use super::details::{DetailsPatch, NotEditable, OrderDetails, Shipment};
use super::events::{OrderEvent, Transition};
use super::items::{NewOrderItem, OrderError, OrderItem, OrderLine, validate_lines};
use super::status::{InvalidTransition, OrderStatus, RejectionReason};
use crate::ids::{CustomerId, OrderId};
use crate::money::{Currency, Money};

/// Every stored field of an order, for adapters that read one back.
#[derive(Debug, Clone)]
pub struct OrderSnapshot {
    /// See [`Order::id`].
    pub id: OrderId,
    /// See [`Order::customer_id`].
    pub customer_id: Option<CustomerId>,
    /// See [`Order::items`].
    pub items: Vec<NewOrderItem>,
    /// See [`Order::currency`].
    pub currency: Currency,
    /// The stored total, checked against the items.
    pub total_minor: i64,
    /// See [`Order::status`].
    pub status: OrderStatus,
    /// See [`Order::rejection_reason`].
    pub rejection_reason: Option<RejectionReason>,
    /// See [`Order::details`].
    pub details: OrderDetails,
    /// See [`Order::shipment`].
    pub shipment: Option<Shipment>,
    /// See [`Order::version`].
    pub version: u32,
    /// See [`Order::created_at`].
    pub created_at: DateTime<Utc>,
    /// See [`Order::updated_at`].
    pub updated_at: DateTime<Utc>,
}

/// An order: lines with price snapshots, a server-computed total, and a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    id: OrderId,
    customer_id: Option<CustomerId>,
    items: Vec<OrderItem>,
    currency: Currency,
    total: Money,
    status: OrderStatus,
    rejection_reason: Option<RejectionReason>,
    details: OrderDetails,
    shipment: Option<Shipment>,
    version: u32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    events: Vec<OrderEvent>,
}

impl Order {
    /// Places a new `pending` order. The total is computed here, from the snapshots, never
    /// taken from a client.
    pub fn place(
        id: OrderId,
        customer_id: Option<CustomerId>,
        items: Vec<NewOrderItem>,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<Self, OrderError> {
        let mut order = Self::build(
            id,
            customer_id,
            items,
            currency,
            OrderStatus::Pending,
            None,
            1,
            now,
            now,
        )?;
        let lines = order
            .items
            .iter()
            .map(|i| OrderLine {
                product_id: i.product_id(),
                quantity: i.quantity(),
            })
            .collect();
        order.events.push(OrderEvent::Placed {
            order_id: id,
            lines,
            at: now,
        });
        Ok(order)
    }

    /// Rebuilds an order read back from storage, checking the same invariants as
    /// [`Order::place`] and that the stored total matches the items. Records no event: nothing
    /// happened to the order.
    pub fn restore(snapshot: OrderSnapshot) -> Result<Self, OrderError> {
        let OrderSnapshot {
            id,
            customer_id,
            items,
            currency,
            total_minor,
            status,
            rejection_reason,
            details,
            shipment,
            version,
            created_at,
            updated_at,
        } = snapshot;
        let mut order = Self::build(
            id,
            customer_id,
            items,
            currency,
            status,
            rejection_reason,
            version,
            created_at,
            updated_at,
        )?;
        order.details = details;
        order.shipment = shipment;
        if order.total.minor() != total_minor {
            return Err(OrderError::Corrupt(format!(
                "order {id}: stored total {total_minor} does not match its items ({})",
                order.total.minor()
            )));
        }
        Ok(order)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "private constructor shared by place and restore"
    )]
    fn build(
        id: OrderId,
        customer_id: Option<CustomerId>,
        items: Vec<NewOrderItem>,
        currency: Currency,
        status: OrderStatus,
        rejection_reason: Option<RejectionReason>,
        version: u32,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Result<Self, OrderError> {
        let lines: Vec<OrderLine> = items
            .iter()
            .map(|i| OrderLine {
                product_id: i.product_id,
                quantity: i.quantity,
            })
            .collect();
        validate_lines(&lines)?;
        let mut total = Money::zero(currency);
        let mut built = Vec::with_capacity(items.len());
        for item in items {
            let item = OrderItem::new(item)?;
            total = total.checked_add(item.line_total())?;
            built.push(item);
        }
        Ok(Self {
            id,
            customer_id,
            items: built,
            currency,
            total,
            status,
            rejection_reason,
            details: OrderDetails::default(),
            shipment: None,
            version,
            created_at,
            updated_at,
            events: Vec::new(),
        })
    }

    /// The order's id.
    pub fn id(&self) -> OrderId {
        self.id
    }
    /// Who placed it, when known.
    pub fn customer_id(&self) -> Option<&CustomerId> {
        self.customer_id.as_ref()
    }
    /// Its lines.
    pub fn items(&self) -> &[OrderItem] {
        &self.items
    }
    /// The deployment currency it was priced in.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// Sum of the line totals.
    pub fn total(&self) -> Money {
        self.total
    }
    /// Current status.
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    /// Why it was rejected, once rejected.
    pub fn rejection_reason(&self) -> Option<RejectionReason> {
        self.rejection_reason
    }
    /// Shipping address and note.
    pub fn details(&self) -> &OrderDetails {
        &self.details
    }
    /// Carrier and tracking number, once shipped.
    pub fn shipment(&self) -> Option<&Shipment> {
        self.shipment.as_ref()
    }
    /// Optimistic-concurrency version: 1 when placed, +1 per change.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// When it was placed.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// The inventory reserved the stock: `pending → confirmed`.
    pub fn confirm(&mut self, now: DateTime<Utc>) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Confirmed, None, None, now)
    }

    /// The inventory could not reserve the stock: `pending → rejected`.
    pub fn reject(
        &mut self,
        reason: RejectionReason,
        now: DateTime<Utc>,
    ) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Rejected, Some(reason), None, now)
    }

    /// `pending | confirmed → cancelled`.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Cancelled, None, None, now)
    }

    /// `confirmed → shipped`, with its carrier and tracking number.
    pub fn ship(
        &mut self,
        shipment: Shipment,
        now: DateTime<Utc>,
    ) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Shipped, None, Some(shipment), now)
    }

    /// `shipped → delivered`.
    pub fn deliver(&mut self, now: DateTime<Utc>) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Delivered, None, None, now)
    }

    /// Sets the details given when the order was placed (version 1, no event).
    pub fn with_details(mut self, details: OrderDetails) -> Self {
        self.details = details;
        self
    }

    /// Replaces the shipping address and note while the order has not shipped. Bumps the
    /// version and records [`OrderEvent::DetailsUpdated`]; the status stays.
    pub fn update_details(
        &mut self,
        details: OrderDetails,
        now: DateTime<Utc>,
    ) -> Result<u32, NotEditable> {
        if !self.status.is_editable() {
            return Err(NotEditable {
                status: self.status,
            });
        }
        self.details = details;
        self.version += 1;
        self.updated_at = now;
        self.events.push(OrderEvent::DetailsUpdated {
            order_id: self.id,
            status: self.status,
            version: self.version,
            at: now,
        });
        Ok(self.version)
    }

    /// Merges a PATCH into the shipping address and note (see [`DetailsPatch`]), with the same
    /// rules as [`Order::update_details`]. An empty patch still counts as a change: the client
    /// asked for one, so the version moves and the history shows it.
    pub fn edit_details(
        &mut self,
        patch: DetailsPatch,
        now: DateTime<Utc>,
    ) -> Result<u32, NotEditable> {
        let details = self.details.patched(patch);
        self.update_details(details, now)
    }

    /// Hands over the events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<OrderEvent> {
        std::mem::take(&mut self.events)
    }

    fn transition(
        &mut self,
        to: OrderStatus,
        reason: Option<RejectionReason>,
        shipment: Option<Shipment>,
        now: DateTime<Utc>,
    ) -> Result<Transition, InvalidTransition> {
        let from = self.status;
        if !from.can_transition_to(to) {
            return Err(InvalidTransition { from, to });
        }
        self.status = to;
        if reason.is_some() {
            self.rejection_reason = reason;
        }
        if shipment.is_some() {
            // The order keeps its shipment and the event carries it too, for the message.
            self.shipment.clone_from(&shipment);
        }
        self.version += 1;
        self.updated_at = now;
        let transition = Transition {
            from,
            to,
            reason,
            at: now,
            version: self.version,
        };
        self.events.push(OrderEvent::StatusChanged {
            order_id: self.id,
            transition,
            shipment,
        });
        Ok(transition)
    }
}
