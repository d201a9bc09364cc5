//! The order aggregate and its status machine.
//!
//! ```text
//! pending --qty_confirmed--> confirmed --ship--> shipped --deliver--> delivered
//!    |  \--qty_failed------> rejected
//!    \---cancel---> cancelled <---cancel--- confirmed
//! ```
//! `delivered`, `rejected` and `cancelled` are terminal. Every change goes through one
//! transition table ([`OrderStatus::allowed_targets`]); an illegal move is an
//! [`InvalidTransition`], never a silent no-op.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, ProductId};
use crate::money::{Currency, Money, MoneyError};
use crate::quantity::Quantity;

/// Most lines in one order.
pub const MAX_ITEMS_PER_ORDER: usize = 100;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, waiting for the inventory's answer.
    Pending,
    /// Stock is reserved.
    Confirmed,
    /// Stock could not be reserved (terminal).
    Rejected,
    /// Cancelled by the customer or the system (terminal).
    Cancelled,
    /// Handed to a carrier.
    Shipped,
    /// Received by the customer (terminal).
    Delivered,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Rejected,
        OrderStatus::Cancelled,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ];

    /// The one transition table: the statuses reachable in one step from `self`.
    pub const fn allowed_targets(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[Confirmed, Rejected, Cancelled],
            Confirmed => &[Shipped, Cancelled],
            Shipped => &[Delivered],
            Rejected | Cancelled | Delivered => &[],
        }
    }

    /// Whether one step may lead from `self` to `to`.
    pub fn can_transition_to(self, to: OrderStatus) -> bool {
        self.allowed_targets().contains(&to)
    }

    /// Whether no transition leaves this status.
    pub fn is_terminal(self) -> bool {
        self.allowed_targets().is_empty()
    }

    /// The wire and storage name (`"pending"`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
        }
    }

    /// Parses a wire or storage name.
    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    /// At least one product had fewer units on hand than ordered.
    InsufficientStock,
    /// At least one product no longer exists in the inventory.
    UnknownProduct,
    /// The inventory did not answer before the order's deadline.
    Timeout,
}

impl RejectionReason {
    /// The wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionReason::InsufficientStock => "insufficient_stock",
            RejectionReason::UnknownProduct => "unknown_product",
            RejectionReason::Timeout => "timeout",
        }
    }

    /// Parses a wire or storage name.
    pub fn parse(input: &str) -> Option<Self> {
        [Self::InsufficientStock, Self::UnknownProduct, Self::Timeout]
            .into_iter()
            .find(|r| r.as_str() == input)
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text field of an order outside its bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct DetailError {
    /// Which field (`shipping_address.city`, `note`, `carrier`...).
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn bounded(
    field: &'static str,
    value: &str,
    max_chars: usize,
    errors: &mut Vec<DetailError>,
) -> String {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        errors.push(DetailError {
            field,
            problem: "must not be empty".into(),
        });
    } else if chars > max_chars {
        errors.push(DetailError {
            field,
            problem: format!("must be at most {max_chars} characters"),
        });
    } else if trimmed.chars().any(char::is_control) {
        errors.push(DetailError {
            field,
            problem: "must not contain control characters".into(),
        });
    }
    trimmed.to_owned()
}

/// Where an order ships to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingAddress {
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    country: String,
}

/// The raw fields of a shipping address, before checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShippingAddressFields {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// More of the address.
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

impl ShippingAddress {
    /// Longest accepted line, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Checks every field; returns all failures at once.
    pub fn parse(fields: ShippingAddressFields) -> Result<Self, Vec<DetailError>> {
        let mut errors = Vec::new();
        let max = Self::MAX_CHARS;
        let name = bounded("shipping_address.name", &fields.name, max, &mut errors);
        let line1 = bounded("shipping_address.line1", &fields.line1, max, &mut errors);
        let line2 = fields
            .line2
            .filter(|l| !l.trim().is_empty())
            .map(|l| bounded("shipping_address.line2", &l, max, &mut errors));
        let city = bounded("shipping_address.city", &fields.city, max, &mut errors);
        let region = fields
            .region
            .filter(|r| !r.trim().is_empty())
            .map(|r| bounded("shipping_address.region", &r, max, &mut errors));
        let postal_code = bounded(
            "shipping_address.postal_code",
            &fields.postal_code,
            20,
            &mut errors,
        );
        let country = fields.country.trim().to_owned();
        if !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase())) {
            errors.push(DetailError {
                field: "shipping_address.country",
                problem: "must be an ISO 3166-1 alpha-2 code such as \"DE\"".into(),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            name,
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
        })
    }

    /// The fields, for display and storage.
    pub fn fields(&self) -> ShippingAddressFields {
        ShippingAddressFields {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

/// A free-text note of the customer, at most [`OrderNote::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderNote(String);

impl OrderNote {
    /// Longest accepted note, in characters.
    pub const MAX_CHARS: usize = 500;

    /// Checks a note.
    pub fn parse(input: &str) -> Result<Self, DetailError> {
        let trimmed = input.trim();
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(DetailError {
                field: "note",
                problem: format!("must be at most {} characters", Self::MAX_CHARS),
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The note.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who carries a shipped order and how to track it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    carrier: String,
    tracking_number: String,
}

impl Shipment {
    /// Longest accepted carrier or tracking number.
    pub const MAX_CHARS: usize = 64;

    /// Checks both fields.
    pub fn parse(carrier: &str, tracking_number: &str) -> Result<Self, Vec<DetailError>> {
        let mut errors = Vec::new();
        let carrier = bounded("carrier", carrier, Self::MAX_CHARS, &mut errors);
        let tracking_number = bounded(
            "tracking_number",
            tracking_number,
            Self::MAX_CHARS,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(Self {
                carrier,
                tracking_number,
            })
        } else {
            Err(errors)
        }
    }

    /// The carrier.
    pub fn carrier(&self) -> &str {
        &self.carrier
    }

    /// The tracking number.
    pub fn tracking_number(&self) -> &str {
        &self.tracking_number
    }
}

/// The editable details of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderDetails {
    /// Where it ships.
    pub shipping_address: Option<ShippingAddress>,
    /// The customer's note.
    pub note: Option<OrderNote>,
}

/// The details of an order cannot change in its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order's details cannot change once it is {status}")]
pub struct NotEditable {
    /// The order's status.
    pub status: OrderStatus,
}

impl OrderStatus {
    /// Whether shipping address and note may still change (until it ships).
    pub fn is_editable(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Confirmed)
    }

    /// What a client may still do with an order in this status: `cancel`, `ship`,
    /// `deliver`, `update`.
    pub fn allowed_actions(self) -> Vec<&'static str> {
        let mut actions: Vec<&'static str> = self
            .allowed_targets()
            .iter()
            .filter_map(|t| match t {
                OrderStatus::Cancelled => Some("cancel"),
                OrderStatus::Shipped => Some("ship"),
                OrderStatus::Delivered => Some("deliver"),
                // Confirmation and rejection come from the inventory, not from clients.
                _ => None,
            })
            .collect();
        if self.is_editable() {
            actions.push("update");
        }
        actions
    }
}

/// A status change the transition table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct InvalidTransition {
    /// The order's current status.
    pub from: OrderStatus,
    /// The refused target.
    pub to: OrderStatus,
}

impl InvalidTransition {
    /// The targets that are still allowed from the current status.
    pub fn allowed(&self) -> &'static [OrderStatus] {
        self.from.allowed_targets()
    }
}

/// Why an order could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// An order needs at least one line.
    #[error("an order needs at least one item")]
    NoItems,
    /// More than [`MAX_ITEMS_PER_ORDER`] lines.
    #[error("an order has at most {MAX_ITEMS_PER_ORDER} items, got {0}")]
    TooManyItems(usize),
    /// The same product appears on two lines.
    #[error("product {0} appears more than once")]
    DuplicateProduct(ProductId),
    /// A line's price is not in the order's currency, or a total overflowed.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// Stored data that breaks an invariant (read back from storage).
    #[error("corrupt order data: {0}")]
    Corrupt(String),
}

/// A line as requested by a client: which product, how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine {
    /// The product.
    pub product_id: ProductId,
    /// Units wanted.
    pub quantity: Quantity,
}

/// Checks a client's list of lines: 1..=[`MAX_ITEMS_PER_ORDER`] lines, no product twice.
pub fn validate_lines(lines: &[OrderLine]) -> Result<(), OrderError> {
    if lines.is_empty() {
        return Err(OrderError::NoItems);
    }
    if lines.len() > MAX_ITEMS_PER_ORDER {
        return Err(OrderError::TooManyItems(lines.len()));
    }
    let mut seen = HashSet::with_capacity(lines.len());
    for line in lines {
        if !seen.insert(line.product_id) {
            return Err(OrderError::DuplicateProduct(line.product_id));
        }
    }
    Ok(())
}

/// A line priced from the catalogue at order time: the snapshot an item keeps forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderItem {
    /// The product.
    pub product_id: ProductId,
    /// Its name when the order was placed.
    pub product_name: String,
    /// Its unit price when the order was placed.
    pub unit_price: Money,
    /// Units ordered.
    pub quantity: Quantity,
}

/// One line of an order, with its price snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    product_id: ProductId,
    product_name: String,
    unit_price: Money,
    quantity: Quantity,
    line_total: Money,
}

impl OrderItem {
    fn new(item: NewOrderItem) -> Result<Self, OrderError> {
        let line_total = item.unit_price.checked_mul(item.quantity.get())?;
        Ok(Self {
            product_id: item.product_id,
            product_name: item.product_name,
            unit_price: item.unit_price,
            quantity: item.quantity,
            line_total,
        })
    }

    /// The product.
    pub fn product_id(&self) -> ProductId {
        self.product_id
    }
    /// The product's name when ordered.
    pub fn product_name(&self) -> &str {
        &self.product_name
    }
    /// The unit price when ordered.
    pub fn unit_price(&self) -> Money {
        self.unit_price
    }
    /// Units ordered.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
    /// `unit_price × quantity`.
    pub fn line_total(&self) -> Money {
        self.line_total
    }
}

/// A status change that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Status before.
    pub from: OrderStatus,
    /// Status after.
    pub to: OrderStatus,
    /// Why, for rejections.
    pub reason: Option<RejectionReason>,
    /// When.
    pub at: DateTime<Utc>,
    /// The order's version after the change.
    pub version: u32,
}

/// What happened to an order, recorded by the aggregate for the application layer to publish
/// and to write to the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// The order was placed (status `pending`).
    Placed {
        /// The order.
        order_id: OrderId,
    },
    /// The order changed status.
    StatusChanged {
        /// The order.
        order_id: OrderId,
        /// The change.
        transition: Transition,
    },
}

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
        order.events.push(OrderEvent::Placed { order_id: id });
        Ok(order)
    }

    /// Rebuilds an order read back from storage, checking the same invariants as
    /// [`Order::place`] and that the stored total matches the items.
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
            total = total.checked_add(item.line_total)?;
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
        self.transition(OrderStatus::Confirmed, None, now)
    }

    /// The inventory could not reserve the stock: `pending → rejected`.
    pub fn reject(
        &mut self,
        reason: RejectionReason,
        now: DateTime<Utc>,
    ) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Rejected, Some(reason), now)
    }

    /// `pending | confirmed → cancelled`.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Cancelled, None, now)
    }

    /// `confirmed → shipped`, with its carrier and tracking number.
    pub fn ship(
        &mut self,
        shipment: Shipment,
        now: DateTime<Utc>,
    ) -> Result<Transition, InvalidTransition> {
        let transition = self.transition(OrderStatus::Shipped, None, now)?;
        self.shipment = Some(shipment);
        Ok(transition)
    }

    /// Sets the details given when the order was placed (version 1, no event).
    pub fn with_details(mut self, details: OrderDetails) -> Self {
        self.details = details;
        self
    }

    /// Replaces the shipping address and note while the order has not shipped. Bumps the
    /// version; the status stays.
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
        Ok(self.version)
    }

    /// `shipped → delivered`.
    pub fn deliver(&mut self, now: DateTime<Utc>) -> Result<Transition, InvalidTransition> {
        self.transition(OrderStatus::Delivered, None, now)
    }

    /// Hands over the events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<OrderEvent> {
        std::mem::take(&mut self.events)
    }

    fn transition(
        &mut self,
        to: OrderStatus,
        reason: Option<RejectionReason>,
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
        });
        Ok(transition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn item(price: &str, qty: i64) -> NewOrderItem {
        NewOrderItem {
            product_id: ProductId::new(),
            product_name: "Widget".into(),
            unit_price: usd(price),
            quantity: Quantity::new(qty).unwrap(),
        }
    }

    fn shipment() -> Shipment {
        Shipment::parse("DHL", "JD0146").unwrap()
    }

    fn order_in(status: OrderStatus) -> Order {
        let mut order = Order::place(
            OrderId::new(),
            None,
            vec![item("1.00", 1)],
            Currency::USD,
            Utc::now(),
        )
        .unwrap();
        let now = Utc::now();
        match status {
            Pending => {}
            Confirmed => {
                order.confirm(now).unwrap();
            }
            Rejected => {
                order
                    .reject(RejectionReason::InsufficientStock, now)
                    .unwrap();
            }
            Cancelled => {
                order.cancel(now).unwrap();
            }
            Shipped => {
                order.confirm(now).unwrap();
                order.ship(shipment(), now).unwrap();
            }
            Delivered => {
                order.confirm(now).unwrap();
                order.ship(shipment(), now).unwrap();
                order.deliver(now).unwrap();
            }
        }
        order.take_events();
        order
    }

    fn apply(order: &mut Order, to: OrderStatus) -> Result<Transition, InvalidTransition> {
        let now = Utc::now();
        match to {
            Confirmed => order.confirm(now),
            Rejected => order.reject(RejectionReason::InsufficientStock, now),
            Cancelled => order.cancel(now),
            Shipped => order.ship(shipment(), now),
            Delivered => order.deliver(now),
            Pending => Err(InvalidTransition {
                from: order.status(),
                to: Pending,
            }),
        }
    }

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        let allowed = [
            (Pending, Confirmed),
            (Pending, Rejected),
            (Pending, Cancelled),
            (Confirmed, Shipped),
            (Confirmed, Cancelled),
            (Shipped, Delivered),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn every_allowed_transition_succeeds_through_the_aggregate() {
        for from in OrderStatus::ALL {
            for &to in from.allowed_targets() {
                let mut order = order_in(from);
                let version = order.version();
                let t = apply(&mut order, to).unwrap();
                assert_eq!((t.from, t.to), (from, to));
                assert_eq!(order.status(), to);
                assert_eq!(order.version(), version + 1);
                assert_eq!(t.version, version + 1);
                assert_eq!(
                    order.take_events(),
                    vec![OrderEvent::StatusChanged {
                        order_id: order.id(),
                        transition: t
                    }]
                );
            }
        }
    }

    #[test]
    fn every_refused_transition_is_an_error_and_changes_nothing() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                if from.can_transition_to(to) {
                    continue;
                }
                let mut order = order_in(from);
                let before = order.clone();
                let err = apply(&mut order, to).unwrap_err();
                assert_eq!(err, InvalidTransition { from, to });
                assert_eq!(err.allowed(), from.allowed_targets());
                assert_eq!(order, before, "{from} -> {to} must not change the order");
            }
        }
    }

    #[test]
    fn terminal_statuses_are_immutable() {
        for s in [Delivered, Rejected, Cancelled] {
            assert!(s.is_terminal());
        }
        for s in [Pending, Confirmed, Shipped] {
            assert!(!s.is_terminal());
        }
    }

    #[test]
    fn cancel_is_refused_once_shipped() {
        let mut order = order_in(Shipped);
        assert_eq!(
            order.cancel(Utc::now()),
            Err(InvalidTransition {
                from: Shipped,
                to: Cancelled
            })
        );
    }

    #[test]
    fn a_rejection_keeps_its_reason() {
        let mut order = order_in(Pending);
        order
            .reject(RejectionReason::InsufficientStock, Utc::now())
            .unwrap();
        assert_eq!(
            order.rejection_reason(),
            Some(RejectionReason::InsufficientStock)
        );
    }

    #[test]
    fn the_total_is_computed_from_the_snapshots() {
        let order = Order::place(
            OrderId::new(),
            None,
            vec![item("699.99", 2), item("0.10", 3)],
            Currency::USD,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(order.total(), usd("1400.28"));
        assert_eq!(order.items()[0].line_total(), usd("1399.98"));
        assert_eq!(order.status(), Pending);
        assert_eq!(order.version(), 1);
    }

    #[test]
    fn item_lists_are_validated() {
        let place = |items| Order::place(OrderId::new(), None, items, Currency::USD, Utc::now());
        assert_eq!(place(vec![]), Err(OrderError::NoItems));
        let many: Vec<_> = (0..101).map(|_| item("1.00", 1)).collect();
        assert_eq!(place(many), Err(OrderError::TooManyItems(101)));
        let hundred: Vec<_> = (0..100).map(|_| item("1.00", 1)).collect();
        assert!(place(hundred).is_ok());
        let a = item("1.00", 1);
        let dup = vec![a.clone(), a.clone()];
        assert_eq!(place(dup), Err(OrderError::DuplicateProduct(a.product_id)));
    }

    #[test]
    fn prices_in_another_currency_are_refused() {
        let mut foreign = item("1.00", 1);
        foreign.unit_price = Money::parse("1.00", Currency::parse("EUR").unwrap()).unwrap();
        assert!(matches!(
            Order::place(
                OrderId::new(),
                None,
                vec![foreign],
                Currency::USD,
                Utc::now()
            ),
            Err(OrderError::Money(MoneyError::CurrencyMismatch(_, _)))
        ));
    }

    #[test]
    fn a_restored_order_must_match_its_stored_total() {
        let order = order_in(Confirmed);
        let snapshot = |total_minor| OrderSnapshot {
            id: order.id(),
            customer_id: None,
            items: order
                .items()
                .iter()
                .map(|i| NewOrderItem {
                    product_id: i.product_id(),
                    product_name: i.product_name().into(),
                    unit_price: i.unit_price(),
                    quantity: i.quantity(),
                })
                .collect(),
            currency: Currency::USD,
            total_minor,
            status: Confirmed,
            rejection_reason: None,
            details: OrderDetails::default(),
            shipment: None,
            version: order.version(),
            created_at: order.created_at(),
            updated_at: order.updated_at(),
        };
        assert_eq!(Order::restore(snapshot(100)).unwrap(), order);
        assert!(matches!(
            Order::restore(snapshot(99)),
            Err(OrderError::Corrupt(_))
        ));
    }

    #[test]
    fn details_change_until_the_order_ships() {
        for status in [Pending, Confirmed] {
            let mut order = order_in(status);
            let before = order.version();
            let note = OrderNote::parse("leave at the door").unwrap();
            let details = OrderDetails {
                shipping_address: None,
                note: Some(note.clone()),
            };
            assert_eq!(order.update_details(details, Utc::now()), Ok(before + 1));
            assert_eq!(order.details().note.as_ref(), Some(&note));
            assert_eq!(order.status(), status);
        }
        for status in [Shipped, Delivered, Rejected, Cancelled] {
            let mut order = order_in(status);
            let before = order.clone();
            assert_eq!(
                order.update_details(OrderDetails::default(), Utc::now()),
                Err(NotEditable { status })
            );
            assert_eq!(order, before);
        }
    }

    #[test]
    fn allowed_actions_follow_the_transition_table() {
        assert_eq!(Pending.allowed_actions(), ["cancel", "update"]);
        assert_eq!(Confirmed.allowed_actions(), ["ship", "cancel", "update"]);
        assert_eq!(Shipped.allowed_actions(), ["deliver"]);
        for s in [Delivered, Rejected, Cancelled] {
            assert!(s.allowed_actions().is_empty());
        }
    }

    #[test]
    fn shipping_keeps_the_carrier_and_tracking_number() {
        let mut order = order_in(Confirmed);
        order.ship(shipment(), Utc::now()).unwrap();
        assert_eq!(order.shipment().map(Shipment::carrier), Some("DHL"));
        assert_eq!(
            order.shipment().map(Shipment::tracking_number),
            Some("JD0146")
        );
    }

    #[test]
    fn addresses_notes_and_shipments_are_checked() {
        let fields = ShippingAddressFields {
            name: "Ada Lovelace".into(),
            line1: "12 St James's Square".into(),
            line2: Some("  ".into()),
            city: "London".into(),
            region: None,
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
        };
        let address = ShippingAddress::parse(fields.clone()).unwrap();
        assert_eq!(
            address.fields().line2,
            None,
            "a blank optional line is dropped"
        );
        let bad = ShippingAddressFields {
            name: " ".into(),
            country: "gbr".into(),
            ..fields
        };
        let errors = ShippingAddress::parse(bad).unwrap_err();
        let failing: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            failing,
            ["shipping_address.name", "shipping_address.country"]
        );
        assert!(OrderNote::parse(&"x".repeat(501)).is_err());
        assert!(Shipment::parse("", &"9".repeat(65)).unwrap_err().len() == 2);
    }

    #[test]
    fn statuses_and_reasons_round_trip_through_their_names() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("PENDING"), None);
        for r in [
            RejectionReason::InsufficientStock,
            RejectionReason::UnknownProduct,
            RejectionReason::Timeout,
        ] {
            assert_eq!(RejectionReason::parse(r.as_str()), Some(r));
        }
    }
}
