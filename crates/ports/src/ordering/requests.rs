//! What the order use cases accept: commands and queries in domain values, and the errors
//! they answer with.

use domain::{
    Action, Caller, Currency, CustomerId, DetailsPatch, Forbidden, MessageId, NotYourCustomerId,
    OrderDetails, OrderError, OrderId, OrderLine, OrderStatus, ProductId, Shipment,
};

use super::ports::CatalogError;
use crate::store::StoreError;

/// What caused a change, kept in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// An API request (with its `X-Request-Id` when the client sent one).
    Request(Option<String>),
    /// An API request carrying an `Idempotency-Key`: a retry of it is the same request. It
    /// holds the key's digest scoped to the caller, never the key the client sent.
    IdempotentRequest(String),
    /// An integration message.
    Message(MessageId),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Request(Some(id)) => write!(f, "request:{id}"),
            Cause::Request(None) => f.write_str("request"),
            Cause::IdempotentRequest(digest) => write!(f, "idempotent-request:{digest}"),
            Cause::Message(id) => write!(f, "message:{id}"),
        }
    }
}

/// A request to place an order, already parsed into domain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    /// The id to give the order: set when an idempotency key reserved one, so that a retry
    /// after a crash finds the order it already placed instead of placing a second.
    pub order_id: Option<OrderId>,
    /// Who asks.
    pub caller: Caller,
    /// The customer the order names, when it names one (see
    /// [`Caller::customer_of_new_order`]).
    pub customer_id: Option<CustomerId>,
    /// What, and how many.
    pub lines: Vec<OrderLine>,
    /// Shipping address and note.
    pub details: OrderDetails,
    /// The request that asked for it.
    pub cause: Cause,
}

/// Why an order was not placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// The lines break a rule (empty, too many, duplicates, overflow).
    #[error(transparent)]
    Invalid(#[from] OrderError),
    /// Some products do not exist.
    #[error("unknown products: {0:?}")]
    UnknownProducts(Vec<ProductId>),
    /// The catalogue could not price the order.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A product's price is in another currency than this deployment's.
    #[error("product {product_id} is priced in {found}, orders are in {expected}")]
    CurrencyMismatch {
        /// The product.
        product_id: ProductId,
        /// Its currency.
        found: Currency,
        /// The deployment's.
        expected: Currency,
    },
    /// A customer named another customer as the order's owner.
    #[error(transparent)]
    NotYourCustomerId(#[from] NotYourCustomerId),
    /// The caller's role may not place orders.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change a client asks of an existing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// `pending | confirmed → cancelled`; the inventory releases what it reserved.
    Cancel,
    /// `confirmed → shipped`; the reservation is consumed.
    Ship(Shipment),
    /// `shipped → delivered`.
    Deliver,
    /// A new shipping address and/or note, while `pending` or `confirmed`: a field the patch
    /// leaves out keeps its value.
    UpdateDetails(DetailsPatch),
}

impl OrderCommand {
    /// The action's name, as in `allowed_actions`.
    pub fn action(&self) -> &'static str {
        match self {
            OrderCommand::Cancel => "cancel",
            OrderCommand::Ship(_) => "ship",
            OrderCommand::Deliver => "deliver",
            OrderCommand::UpdateDetails(_) => "update",
        }
    }

    /// What the caller's role must allow.
    pub fn permission(&self) -> Action {
        match self {
            OrderCommand::Cancel => Action::CancelOrder,
            OrderCommand::Ship(_) => Action::ShipOrder,
            OrderCommand::Deliver => Action::DeliverOrder,
            OrderCommand::UpdateDetails(_) => Action::EditOrder,
        }
    }
}

/// Why orders could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadOrdersError {
    /// The caller's role may not read orders.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a change of an order was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeOrderError {
    /// No such order (or, to a customer, another customer's order: the same answer).
    #[error("no order {0}")]
    NotFound(OrderId),
    /// The caller's role may not do this to any order.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The client's `If-Match` version is not the current one.
    #[error("the order is at version {current_version}")]
    Stale {
        /// The order's version.
        current_version: u32,
    },
    /// The order's status does not allow the action.
    #[error("an order that is {status} cannot {action}")]
    NotAllowed {
        /// What was asked.
        action: &'static str,
        /// The order's status.
        status: OrderStatus,
        /// What may still be done with it.
        allowed_actions: Vec<&'static str>,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
