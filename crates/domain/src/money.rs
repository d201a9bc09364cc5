//! Money as integer minor units of one ISO 4217 currency. Floats never touch an amount.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an amount or a currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an ISO 4217 style code (three upper-case letters).
    #[error("`{0}` is not an ISO 4217 currency code")]
    InvalidCurrency(String),
    /// Not a plain decimal number such as `699.99`.
    #[error("`{0}` is not a decimal amount such as \"699.99\"")]
    Malformed(String),
    /// More fractional digits than the currency has.
    #[error("`{input}` has more than {max} decimal places for {currency}")]
    TooPrecise {
        /// The rejected input.
        input: String,
        /// Digits the currency allows after the point.
        max: u32,
        /// The currency.
        currency: Currency,
    },
    /// Below zero where an amount must be positive or zero.
    #[error("`{0}` must not be negative")]
    Negative(String),
    /// Zero where a positive amount is required.
    #[error("`{0}` must be greater than zero")]
    NotPositive(String),
    /// Larger than [`Money::MAX_MINOR`].
    #[error("`{0}` is too large")]
    TooLarge(String),
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    /// Arithmetic left the representable range.
    #[error("amount overflow")]
    Overflow,
}

/// An ISO 4217 currency code such as `USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar, the default deployment currency.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses a three-letter upper-case code.
    pub fn parse(input: &str) -> Result<Self, MoneyError> {
        match input.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(MoneyError::InvalidCurrency(input.to_owned())),
        }
    }

    /// The code as text.
    pub fn code(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn minor_digits(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

/// An amount of one currency, held as integer minor units (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// Largest amount accepted from outside: 10^15 minor units (ten trillion dollars), far
    /// below `i64::MAX`, so a line total of 10^4 units can never overflow.
    pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

    /// Zero of a currency.
    pub const fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// An amount from minor units, as read back from storage.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor.abs() > Self::MAX_MINOR {
            return Err(MoneyError::TooLarge(minor.to_string()));
        }
        Ok(Self { minor, currency })
    }

    /// Parses a decimal string such as `"699.99"` or `"5"`. Negative amounts parse; callers
    /// that need a price use [`Money::parse_price`].
    pub fn parse(input: &str, currency: Currency) -> Result<Self, MoneyError> {
        let malformed = || MoneyError::Malformed(input.to_owned());
        let (negative, body) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let (whole, fraction) = match body.split_once('.') {
            Some((w, f)) => (w, f),
            None => (body, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (body.contains('.') && !digits(fraction)) {
            return Err(malformed());
        }
        let max = currency.minor_digits();
        if fraction.len() as u32 > max {
            return Err(MoneyError::TooPrecise {
                input: input.to_owned(),
                max,
                currency,
            });
        }
        let scale = 10_i64.pow(max);
        let too_large = || MoneyError::TooLarge(input.to_owned());
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let mut frac: i64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| malformed())?
        };
        frac *= 10_i64.pow(max - fraction.len() as u32);
        let minor = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(too_large)?;
        if minor > Self::MAX_MINOR {
            return Err(too_large());
        }
        Ok(Self {
            minor: if negative { -minor } else { minor },
            currency,
        })
    }

    /// Parses a unit price: a decimal string greater than zero.
    pub fn parse_price(input: &str, currency: Currency) -> Result<Self, MoneyError> {
        let money = Self::parse(input, currency)?;
        if money.minor < 0 {
            return Err(MoneyError::Negative(input.to_owned()));
        }
        if money.minor == 0 {
            return Err(MoneyError::NotPositive(input.to_owned()));
        }
        Ok(money)
    }

    /// Minor units (cents for USD).
    pub const fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Sum of two amounts of the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    /// The amount times a whole factor (a line total).
    pub fn checked_mul(self, factor: u32) -> Result<Money, MoneyError> {
        let minor = self
            .minor
            .checked_mul(i64::from(factor))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    /// The decimal string shown to clients, with exactly the currency's minor digits.
    pub fn to_decimal_string(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if digits == 0 {
            return write!(f, "{sign}{abs}");
        }
        let scale = 10_u64.pow(digits);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = digits as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn decimal_strings_parse_to_exact_minor_units() {
        assert_eq!(usd("699.99").minor(), 69_999);
        assert_eq!(usd("0.1").minor(), 10);
        assert_eq!(usd("5").minor(), 500);
        assert_eq!(usd("-1.05").minor(), -105);
    }

    #[test]
    fn amounts_print_with_the_currency_minor_digits() {
        assert_eq!(usd("699.9").to_string(), "699.90");
        assert_eq!(usd("0.01").to_string(), "0.01");
        assert_eq!(usd("-3").to_string(), "-3.00");
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse("1500", yen).unwrap().to_string(), "1500");
        let dinar = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse("1.5", dinar).unwrap().to_string(), "1.500");
    }

    #[test]
    fn arithmetic_is_exact_where_floats_are_not() {
        // 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
        assert_eq!(usd("0.1").checked_add(usd("0.2")).unwrap(), usd("0.3"));
        assert_eq!(usd("699.99").checked_mul(3).unwrap(), usd("2099.97"));
        assert_eq!(usd("19.99").checked_mul(10_000).unwrap(), usd("199900"));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let big = Money::from_minor(Money::MAX_MINOR, Currency::USD).unwrap();
        assert_eq!(big.checked_mul(u32::MAX), Err(MoneyError::Overflow));
        let huge = Money {
            minor: i64::MAX,
            currency: Currency::USD,
        };
        assert_eq!(huge.checked_add(usd("0.01")), Err(MoneyError::Overflow));
    }

    #[test]
    fn currencies_do_not_mix() {
        let eur = Money::parse("1", Currency::parse("EUR").unwrap()).unwrap();
        assert!(matches!(
            usd("1").checked_add(eur),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in [
            "", "abc", "1,5", "1.", ".5", "1.2.3", "1e3", " 1", "+1", "--1", "NaN",
        ] {
            assert!(
                matches!(
                    Money::parse(bad, Currency::USD),
                    Err(MoneyError::Malformed(_))
                ),
                "{bad:?} should be malformed"
            );
        }
    }

    #[test]
    fn too_many_decimals_are_refused_not_rounded() {
        assert!(matches!(
            Money::parse("1.999", Currency::USD),
            Err(MoneyError::TooPrecise { max: 2, .. })
        ));
    }

    #[test]
    fn prices_must_be_positive_and_bounded() {
        assert!(matches!(
            Money::parse_price("-1.00", Currency::USD),
            Err(MoneyError::Negative(_))
        ));
        assert!(matches!(
            Money::parse_price("0.00", Currency::USD),
            Err(MoneyError::NotPositive(_))
        ));
        assert!(matches!(
            Money::parse_price("99999999999999999999", Currency::USD),
            Err(MoneyError::TooLarge(_))
        ));
        assert!(matches!(
            Money::parse_price("10000000000000.01", Currency::USD),
            Err(MoneyError::TooLarge(_))
        ));
        assert_eq!(
            Money::parse_price("0.01", Currency::USD).unwrap().minor(),
            1
        );
    }

    #[test]
    fn currency_codes_are_three_upper_case_letters() {
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["usd", "US", "USDX", "U1D", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad:?}");
        }
    }
}
