//! The editable details of an order (shipping address, note), the shipment, and the rule that
//! merges a partial change into them.

use serde::{Deserialize, Serialize};

use super::status::OrderStatus;

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

impl OrderDetails {
    /// These details with `patch` merged in: a field the patch leaves out keeps its value.
    pub fn patched(&self, patch: DetailsPatch) -> OrderDetails {
        OrderDetails {
            shipping_address: patch
                .shipping_address
                .unwrap_or_else(|| self.shipping_address.clone()),
            note: patch.note.unwrap_or_else(|| self.note.clone()),
        }
    }
}

/// A partial change of an order's details, as a PATCH sends it: a field left out keeps its
/// value, a null clears it, a value replaces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailsPatch {
    /// `None`: keep; `Some(None)`: clear; `Some(Some(a))`: replace with `a`.
    pub shipping_address: Option<Option<ShippingAddress>>,
    /// `None`: keep; `Some(None)`: clear; `Some(Some(n))`: replace with `n`.
    pub note: Option<Option<OrderNote>>,
}

/// The details of an order cannot change in its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order's details cannot change once it is {status}")]
pub struct NotEditable {
    /// The order's status.
    pub status: OrderStatus,
}
