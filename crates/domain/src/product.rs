//! The product aggregate: a name, a unit price and the units on hand.

use chrono::{DateTime, Utc};

use crate::ids::ProductId;
use crate::money::{Money, MoneyError};
use crate::quantity::{QuantityError, Stock};

/// Why a product could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// Names are 1..=[`ProductName::MAX_CHARS`] characters after trimming.
    #[error("a product name must be 1 to {} characters", ProductName::MAX_CHARS)]
    InvalidName,
    /// The price is not a positive amount.
    #[error(transparent)]
    Price(#[from] MoneyError),
    /// The stock is out of range.
    #[error(transparent)]
    Stock(#[from] QuantityError),
}

/// A product's display name: trimmed, not empty, at most 200 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductName(String);

impl ProductName {
    /// Longest accepted name, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Parses a name.
    pub fn parse(input: &str) -> Result<Self, ProductError> {
        let trimmed = input.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS || trimmed.chars().any(char::is_control) {
            return Err(ProductError::InvalidName);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product with its stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    id: ProductId,
    name: ProductName,
    price: Money,
    stock: Stock,
    version: u32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Product {
    /// A new product (version 1). The price must be positive.
    pub fn create(
        id: ProductId,
        name: ProductName,
        price: Money,
        stock: Stock,
        now: DateTime<Utc>,
    ) -> Result<Self, ProductError> {
        Self::restore(id, name, price, stock, 1, now, now)
    }

    /// Rebuilds a product read back from storage or a cache, with the same checks.
    pub fn restore(
        id: ProductId,
        name: ProductName,
        price: Money,
        stock: Stock,
        version: u32,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Result<Self, ProductError> {
        if price.minor() <= 0 {
            return Err(ProductError::Price(MoneyError::NotPositive(
                price.to_string(),
            )));
        }
        Ok(Self {
            id,
            name,
            price,
            stock,
            version,
            created_at,
            updated_at,
        })
    }

    /// The product's id.
    pub fn id(&self) -> ProductId {
        self.id
    }
    /// Its name.
    pub fn name(&self) -> &ProductName {
        &self.name
    }
    /// Its unit price.
    pub fn price(&self) -> Money {
        self.price
    }
    /// Units on hand.
    pub fn stock(&self) -> Stock {
        self.stock
    }
    /// Optimistic-concurrency version: 1 when created, +1 per change (stock included).
    pub fn version(&self) -> u32 {
        self.version
    }
    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ProductName::parse("  Laptop ").unwrap().as_str(), "Laptop");
        assert_eq!(ProductName::parse("   "), Err(ProductError::InvalidName));
        assert_eq!(
            ProductName::parse("a\u{0}b"),
            Err(ProductError::InvalidName)
        );
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert!(ProductName::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn a_product_needs_a_positive_price() {
        let zero = Money::zero(Currency::USD);
        let err = Product::create(
            ProductId::new(),
            ProductName::parse("Free lunch").unwrap(),
            zero,
            Stock::new(1).unwrap(),
            Utc::now(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ProductError::Price(MoneyError::NotPositive(_))
        ));
    }
}
