//! Units ordered ([`Quantity`]) and units on hand ([`Stock`]).

use std::fmt;

/// Most units of one product in a single order line.
pub const MAX_QUANTITY: u32 = 10_000;
/// Most units of one product on hand (fits a signed 32-bit column with room to spare).
pub const MAX_STOCK: u32 = 1_000_000_000;

/// A quantity outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Order quantities are 1..=[`MAX_QUANTITY`].
    #[error("quantity {0} must be between 1 and {MAX_QUANTITY}")]
    OutOfRange(i64),
    /// Stock is 0..=[`MAX_STOCK`].
    #[error("stock {0} must be between 0 and {MAX_STOCK}")]
    StockOutOfRange(i64),
}

/// A positive number of units in an order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(u32);

impl Quantity {
    /// Parses a quantity from any integer the outside world sends.
    pub fn new(value: i64) -> Result<Self, QuantityError> {
        if (1..=i64::from(MAX_QUANTITY)).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(QuantityError::OutOfRange(value))
        }
    }

    /// The number of units.
    pub const fn get(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Not enough units on hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("requested {requested} but only {available} available")]
pub struct InsufficientStock {
    /// Units asked for.
    pub requested: u32,
    /// Units on hand.
    pub available: u32,
}

/// Units of a product on hand. Cannot go negative: taking more than is there is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stock(u32);

impl Stock {
    /// Parses a stock level.
    pub fn new(value: i64) -> Result<Self, QuantityError> {
        if (0..=i64::from(MAX_STOCK)).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(QuantityError::StockOutOfRange(value))
        }
    }

    /// Units on hand.
    pub const fn get(&self) -> u32 {
        self.0
    }

    /// Whether `quantity` units can be taken.
    pub const fn covers(&self, quantity: Quantity) -> bool {
        self.0 >= quantity.0
    }

    /// Stock left after taking `quantity` units, or why that is impossible.
    pub fn take(self, quantity: Quantity) -> Result<Stock, InsufficientStock> {
        self.0
            .checked_sub(quantity.0)
            .map(Stock)
            .ok_or(InsufficientStock {
                requested: quantity.0,
                available: self.0,
            })
    }
}

impl fmt::Display for Stock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_positive_and_bounded() {
        assert_eq!(Quantity::new(0), Err(QuantityError::OutOfRange(0)));
        assert_eq!(Quantity::new(-3), Err(QuantityError::OutOfRange(-3)));
        assert_eq!(
            Quantity::new(i64::from(MAX_QUANTITY) + 1),
            Err(QuantityError::OutOfRange(10_001))
        );
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::new(10_000).unwrap().get(), 10_000);
    }

    #[test]
    fn stock_is_never_negative() {
        assert!(Stock::new(-1).is_err());
        assert!(Stock::new(0).is_ok());
        assert!(Stock::new(i64::from(MAX_STOCK) + 1).is_err());
    }

    #[test]
    fn taking_more_than_is_on_hand_is_refused() {
        let stock = Stock::new(5).unwrap();
        let three = Quantity::new(3).unwrap();
        let six = Quantity::new(6).unwrap();
        assert_eq!(stock.take(three).unwrap().get(), 2);
        assert_eq!(
            stock.take(six),
            Err(InsufficientStock {
                requested: 6,
                available: 5
            })
        );
        assert_eq!(stock.take(Quantity::new(5).unwrap()).unwrap().get(), 0);
    }
}
