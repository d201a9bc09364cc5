//! The all-or-nothing reservation decision.
//!
//! The inventory adapter locks the products of an order (in ascending id order), hands their
//! stock levels to [`plan_reservation`], and applies the decrements only when every line is
//! covered. The decision lives here so that every adapter (MySQL, SQLite...) decides the same
//! way.

use std::collections::HashMap;

use crate::ids::ProductId;
use crate::quantity::{Quantity, Stock};

/// One line to reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationLine {
    /// The product.
    pub product_id: ProductId,
    /// Units to reserve.
    pub quantity: Quantity,
}

/// A line that cannot be covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortage {
    /// The product.
    pub product_id: ProductId,
    /// Units requested.
    pub requested: u32,
    /// Units on hand (0 for a product that does not exist).
    pub available: u32,
    /// Whether the product exists at all.
    pub known: bool,
}

/// Decides whether every line can be reserved from `stock` (the current levels of the
/// products involved; a missing entry is an unknown product). Returns the new level per
/// product, or every shortage when at least one line cannot be covered: then nothing may be
/// reserved.
pub fn plan_reservation(
    lines: &[ReservationLine],
    stock: &HashMap<ProductId, Stock>,
) -> Result<Vec<(ProductId, Stock)>, Vec<Shortage>> {
    let mut after = Vec::with_capacity(lines.len());
    let mut shortages = Vec::new();
    for line in lines {
        match stock.get(&line.product_id) {
            None => shortages.push(Shortage {
                product_id: line.product_id,
                requested: line.quantity.get(),
                available: 0,
                known: false,
            }),
            Some(level) => match level.take(line.quantity) {
                Ok(left) => after.push((line.product_id, left)),
                Err(e) => shortages.push(Shortage {
                    product_id: line.product_id,
                    requested: e.requested,
                    available: e.available,
                    known: true,
                }),
            },
        }
    }
    if shortages.is_empty() {
        Ok(after)
    } else {
        Err(shortages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: ProductId, q: i64) -> ReservationLine {
        ReservationLine {
            product_id: id,
            quantity: Quantity::new(q).unwrap(),
        }
    }

    #[test]
    fn covered_lines_are_planned_with_their_new_levels() {
        let (a, b) = (ProductId::new(), ProductId::new());
        let stock = HashMap::from([(a, Stock::new(5).unwrap()), (b, Stock::new(1).unwrap())]);
        let plan = plan_reservation(&[line(a, 2), line(b, 1)], &stock).unwrap();
        assert_eq!(
            plan,
            vec![(a, Stock::new(3).unwrap()), (b, Stock::new(0).unwrap())]
        );
    }

    #[test]
    fn one_short_line_refuses_the_whole_order() {
        let (a, b) = (ProductId::new(), ProductId::new());
        let stock = HashMap::from([(a, Stock::new(5).unwrap()), (b, Stock::new(1).unwrap())]);
        let shortages = plan_reservation(&[line(a, 2), line(b, 2)], &stock).unwrap_err();
        assert_eq!(
            shortages,
            vec![Shortage {
                product_id: b,
                requested: 2,
                available: 1,
                known: true
            }]
        );
    }

    #[test]
    fn an_unknown_product_is_a_shortage() {
        let a = ProductId::new();
        let shortages = plan_reservation(&[line(a, 1)], &HashMap::new()).unwrap_err();
        assert!(!shortages[0].known);
    }
}
