//! An order's lines: what a client asks for, and the priced snapshots an order keeps.

use std::collections::HashSet;

use crate::ids::ProductId;
use crate::money::{Money, MoneyError};
use crate::quantity::Quantity;

/// Most lines in one order.
pub const MAX_ITEMS_PER_ORDER: usize = 100;

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
    /// Prices a snapshot. Only the aggregate builds items, so its total always matches them.
    pub(super) fn new(item: NewOrderItem) -> Result<Self, OrderError> {
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
