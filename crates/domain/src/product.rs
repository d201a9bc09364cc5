//! The product aggregate: a name, a unit price and the units on hand.

use chrono::{DateTime, Utc};

use crate::ids::ProductId;
use crate::money::{Money, MoneyError};
use crate::quantity::{MAX_STOCK, QuantityError, Stock};

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

/// Why a stock adjustment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentError {
    /// A delta is a non-zero number of units, at most [`MAX_STOCK`] either way.
    #[error("delta {0} must be a non-zero number of units between -{MAX_STOCK} and {MAX_STOCK}")]
    InvalidDelta(i64),
    /// Reasons are 1..=[`AdjustmentReason::MAX_CHARS`] characters after trimming.
    #[error("a reason must be 1 to {} characters", AdjustmentReason::MAX_CHARS)]
    InvalidReason,
    /// The stock would go below zero.
    #[error("a stock of {available} cannot take an adjustment of {delta}")]
    BelowZero {
        /// Units on hand.
        available: u32,
        /// The refused delta.
        delta: i64,
    },
    /// The stock would exceed [`MAX_STOCK`].
    #[error("a stock of {available} plus {delta} would exceed {MAX_STOCK}")]
    AboveMax {
        /// Units on hand.
        available: u32,
        /// The refused delta.
        delta: i64,
    },
}

/// A manual change of the units on hand: positive adds, negative removes, never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StockDelta(i64);

impl StockDelta {
    /// Parses a delta from any integer the outside world sends.
    pub fn new(value: i64) -> Result<Self, AdjustmentError> {
        if value != 0 && value.unsigned_abs() <= u64::from(MAX_STOCK) {
            Ok(Self(value))
        } else {
            Err(AdjustmentError::InvalidDelta(value))
        }
    }

    /// The signed number of units.
    pub const fn get(&self) -> i64 {
        self.0
    }
}

/// Why the stock was adjusted: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdjustmentReason(String);

impl AdjustmentReason {
    /// Longest accepted reason, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Parses a reason.
    pub fn parse(input: &str) -> Result<Self, AdjustmentError> {
        let trimmed = input.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS || trimmed.chars().any(char::is_control) {
            return Err(AdjustmentError::InvalidReason);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The reason as text.
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

    /// Renames and/or reprices the product (version +1). The price must be positive and in
    /// the product's currency; on an error nothing changes. Returns whether anything differed
    /// (when nothing did, the product, its version included, is left as it was).
    pub fn revise(
        &mut self,
        name: Option<ProductName>,
        price: Option<Money>,
        now: DateTime<Utc>,
    ) -> Result<bool, ProductError> {
        if let Some(price) = price {
            if price.currency() != self.price.currency() {
                return Err(ProductError::Price(MoneyError::CurrencyMismatch(
                    price.currency(),
                    self.price.currency(),
                )));
            }
            if price.minor() <= 0 {
                return Err(ProductError::Price(MoneyError::NotPositive(
                    price.to_string(),
                )));
            }
        }
        let name = name.filter(|n| *n != self.name);
        let price = price.filter(|p| *p != self.price);
        if name.is_none() && price.is_none() {
            return Ok(false);
        }
        if let Some(name) = name {
            self.name = name;
        }
        if let Some(price) = price {
            self.price = price;
        }
        self.version += 1;
        self.updated_at = now;
        Ok(true)
    }

    /// Adds `delta` units to the stock (version +1) and returns the new level; refused, with
    /// nothing changed, when the stock would go below zero or above [`MAX_STOCK`].
    pub fn adjust_stock(
        &mut self,
        delta: StockDelta,
        now: DateTime<Utc>,
    ) -> Result<Stock, AdjustmentError> {
        let available = self.stock.get();
        let after = i64::from(available) + delta.get();
        if after < 0 {
            return Err(AdjustmentError::BelowZero {
                available,
                delta: delta.get(),
            });
        }
        let stock = Stock::new(after).map_err(|_| AdjustmentError::AboveMax {
            available,
            delta: delta.get(),
        })?;
        self.stock = stock;
        self.version += 1;
        self.updated_at = now;
        Ok(stock)
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

    fn laptop(stock: i64) -> Product {
        Product::create(
            ProductId::new(),
            ProductName::parse("Laptop").unwrap(),
            Money::parse("699.99", Currency::USD).unwrap(),
            Stock::new(stock).unwrap(),
            Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn a_revision_changes_name_and_price_and_bumps_the_version() {
        let mut p = laptop(1);
        let changed = p
            .revise(
                Some(ProductName::parse("Laptop Pro").unwrap()),
                Some(Money::parse("799.00", Currency::USD).unwrap()),
                Utc::now(),
            )
            .unwrap();
        assert!(changed);
        assert_eq!(p.name().as_str(), "Laptop Pro");
        assert_eq!(p.price().to_string(), "799.00");
        assert_eq!(p.version(), 2);
    }

    #[test]
    fn a_revision_that_changes_nothing_keeps_the_version() {
        let mut p = laptop(1);
        let same = p.clone();
        let changed = p
            .revise(Some(same.name().clone()), Some(same.price()), Utc::now())
            .unwrap();
        assert!(!changed);
        assert_eq!(p, same);
    }

    #[test]
    fn a_revision_to_another_currency_or_a_zero_price_is_refused() {
        let mut p = laptop(1);
        let before = p.clone();
        let eur = Money::parse("1.00", Currency::parse("EUR").unwrap()).unwrap();
        assert!(p.revise(None, Some(eur), Utc::now()).is_err());
        let zero = Money::zero(Currency::USD);
        assert!(p.revise(None, Some(zero), Utc::now()).is_err());
        assert_eq!(p, before);
    }

    #[test]
    fn deltas_are_non_zero_and_bounded() {
        assert_eq!(StockDelta::new(0), Err(AdjustmentError::InvalidDelta(0)));
        assert!(StockDelta::new(-5).is_ok());
        assert!(StockDelta::new(i64::from(MAX_STOCK)).is_ok());
        assert!(StockDelta::new(-i64::from(MAX_STOCK) - 1).is_err());
        assert!(StockDelta::new(i64::MIN).is_err());
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(
            AdjustmentReason::parse(" recount ").unwrap().as_str(),
            "recount"
        );
        assert!(AdjustmentReason::parse("  ").is_err());
        assert!(AdjustmentReason::parse(&"x".repeat(201)).is_err());
        assert!(AdjustmentReason::parse("a\nb").is_err());
    }

    #[test]
    fn an_adjustment_never_takes_the_stock_below_zero() {
        let mut p = laptop(2);
        assert_eq!(
            p.adjust_stock(StockDelta::new(-3).unwrap(), Utc::now()),
            Err(AdjustmentError::BelowZero {
                available: 2,
                delta: -3
            })
        );
        assert_eq!((p.stock().get(), p.version()), (2, 1));
        let left = p
            .adjust_stock(StockDelta::new(-2).unwrap(), Utc::now())
            .unwrap();
        assert_eq!((left.get(), p.version()), (0, 2));
    }

    #[test]
    fn an_adjustment_never_takes_the_stock_above_the_maximum() {
        let mut p = laptop(i64::from(MAX_STOCK));
        assert!(matches!(
            p.adjust_stock(StockDelta::new(1).unwrap(), Utc::now()),
            Err(AdjustmentError::AboveMax { .. })
        ));
        assert_eq!(p.version(), 1);
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
