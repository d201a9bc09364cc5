//! The order and inventory model, free of IO.
//!
//! Everything here is plain data and rules: no async runtime, database, broker, HTTP or logging
//! crate is a dependency, so the compiler keeps the hexagon's centre pure. Values are built
//! through parsing constructors ("parse, don't validate"); once you hold an [`Order`], a
//! [`Money`] or a [`Quantity`], it is valid.
//!
//! Layout:
//! - [`access`]: the [`Caller`], its [`Role`] and what each may do to whose orders.
//! - [`ids`]: UUIDv7 identifiers and the customer reference.
//! - [`money`]: [`Currency`], [`Money`] in integer minor units, decimal-string parsing.
//! - [`quantity`]: [`Quantity`] (ordered units) and [`Stock`] (units on hand, never negative).
//! - [`order`]: the [`Order`] aggregate, its items and the [`OrderStatus`] machine.
//! - [`product`]: the [`Product`] aggregate.
//! - [`inventory`]: the all-or-nothing reservation decision.

pub mod access;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod order;
pub mod product;
pub mod quantity;

pub use access::{Action, Caller, Forbidden, NotYourCustomerId, Role};
pub use ids::{CustomerId, IdError, MessageId, OrderId, ProductId};
pub use inventory::{ReservationLine, Shortage, plan_reservation};
pub use money::{Currency, Money, MoneyError};
pub use order::{
    DetailError, DetailsPatch, InvalidTransition, MAX_ITEMS_PER_ORDER, NewOrderItem, NotEditable,
    Order, OrderDetails, OrderError, OrderEvent, OrderItem, OrderLine, OrderNote, OrderSnapshot,
    OrderStatus, RejectionReason, Shipment, ShippingAddress, ShippingAddressFields, Transition,
    validate_lines,
};
pub use product::{Product, ProductError, ProductName};
pub use quantity::{InsufficientStock, MAX_QUANTITY, MAX_STOCK, Quantity, QuantityError, Stock};
