//! Exact decimal ⇄ fixed-point conversion.
//!
//! Every price, quantity, amount and rate on the wire is an `i64` at the **E8 scale**: the integer
//! is the decimal value times 10^8 (`"50000.1"` → `5_000_010_000_000`). One scale for all fields
//! keeps the feed-handler independent of instrument definitions and keeps conversions exact:
//! crypto venues publish at most 8 decimals. The engine re-expresses prices in ticks and
//! quantities in lots of each instrument when it loads them (and checks they are multiples).
//!
//! Conversion never rounds: a decimal with more than 8 fractional digits, or outside the `i64`
//! range at this scale (about ±9.2·10^10), is an error that says which. Formatting is the exact
//! inverse with trailing zeros trimmed.

use std::fmt;

/// Fractional digits of the wire scale.
pub const E8_DIGITS: u32 = 8;
/// The wire scale: one unit is 10^-8.
pub const E8: i64 = 100_000_000;

/// Why a decimal string could not be converted exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The string is empty (after trimming nothing: whitespace is not accepted either).
    #[error("empty decimal")]
    Empty,
    /// A character that is not a digit, a single leading sign or a single point.
    #[error("invalid decimal {0:?}: expected digits with an optional sign and point")]
    Syntax(String),
    /// More fractional digits than the scale holds (non-zero beyond the last digit).
    #[error("decimal {text:?} has more than {digits} fractional digits; it cannot be represented exactly")]
    TooPrecise {
        /// The offending text.
        text: String,
        /// The digits available.
        digits: u32,
    },
    /// The value does not fit the fixed-point integer.
    #[error("decimal {0:?} is out of range for a 64-bit fixed-point value")]
    Overflow(String),
}

/// Parses a decimal string exactly to a fixed-point integer with `digits` fractional digits.
///
/// Trailing zeros beyond `digits` are accepted (`"1.50000000000"` is exact); any non-zero digit
/// beyond them is [`DecimalError::TooPrecise`]. Scientific notation is rejected as
/// [`DecimalError::Syntax`].
pub fn parse_fixed(text: &str, digits: u32) -> Result<i64, DecimalError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (neg, rest) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if rest.is_empty() {
        return Err(DecimalError::Syntax(text.to_owned()));
    }
    let mut int_part: i128 = 0;
    let mut frac: i128 = 0;
    let mut frac_digits = 0u32;
    let mut seen_point = false;
    let mut seen_digit = false;
    for &b in rest {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                let d = i128::from(b - b'0');
                if seen_point {
                    if frac_digits < digits {
                        frac = frac * 10 + d;
                        frac_digits += 1;
                    } else if d != 0 {
                        return Err(DecimalError::TooPrecise {
                            text: text.to_owned(),
                            digits,
                        });
                    }
                } else {
                    int_part = int_part * 10 + d;
                    if int_part > i128::from(i64::MAX) {
                        return Err(DecimalError::Overflow(text.to_owned()));
                    }
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Err(DecimalError::Syntax(text.to_owned())),
        }
    }
    if !seen_digit {
        return Err(DecimalError::Syntax(text.to_owned()));
    }
    let scale = 10i128.pow(digits);
    let value = int_part * scale + frac * 10i128.pow(digits - frac_digits);
    let value = if neg { -value } else { value };
    i64::try_from(value).map_err(|_| DecimalError::Overflow(text.to_owned()))
}

/// Parses a decimal string exactly at the wire's E8 scale.
pub fn parse_e8(text: &str) -> Result<i64, DecimalError> {
    parse_fixed(text, E8_DIGITS)
}

/// Formats a fixed-point integer with `digits` fractional digits, trailing zeros trimmed.
pub fn format_fixed(value: i64, digits: u32) -> String {
    FixedDisplay {
        value: i128::from(value),
        digits,
    }
    .to_string()
}

/// Formats an E8 value exactly (`5_000_010_000_000` → `"50000.1"`).
pub fn format_e8(value: i64) -> String {
    format_fixed(value, E8_DIGITS)
}

/// Displays an `i128` fixed-point value with `digits` fractional digits, trailing zeros trimmed.
#[derive(Debug, Clone, Copy)]
pub struct FixedDisplay {
    /// The scaled integer.
    pub value: i128,
    /// Fractional digits.
    pub digits: u32,
}

impl fmt::Display for FixedDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10u128.pow(self.digits);
        let abs = self.value.unsigned_abs();
        let (int, mut frac) = (abs / scale, abs % scale);
        if self.value < 0 {
            f.write_str("-")?;
        }
        write!(f, "{int}")?;
        if frac != 0 {
            let mut width = self.digits as usize;
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            write!(f, ".{frac:0width$}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_e8("50000.1"), Ok(5_000_010_000_000));
        assert_eq!(parse_e8("-0.00000001"), Ok(-1));
        assert_eq!(parse_e8("+3"), Ok(300_000_000));
        assert_eq!(parse_e8(".5"), Ok(50_000_000));
        assert_eq!(parse_e8("7."), Ok(700_000_000));
        assert_eq!(parse_e8("1.500000000000"), Ok(150_000_000));
    }

    #[test]
    fn rejects_inexact_or_malformed() {
        assert!(matches!(
            parse_e8("0.000000001"),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(parse_e8("1e5"), Err(DecimalError::Syntax(_))));
        assert!(matches!(parse_e8("1.2.3"), Err(DecimalError::Syntax(_))));
        assert!(matches!(parse_e8("-"), Err(DecimalError::Syntax(_))));
        assert!(matches!(parse_e8("."), Err(DecimalError::Syntax(_))));
        assert!(matches!(parse_e8(" 1"), Err(DecimalError::Syntax(_))));
        assert_eq!(parse_e8(""), Err(DecimalError::Empty));
        assert!(matches!(
            parse_e8("100000000000"),
            Err(DecimalError::Overflow(_))
        ));
    }

    #[test]
    fn formats_trimmed() {
        assert_eq!(format_e8(5_000_010_000_000), "50000.1");
        assert_eq!(format_e8(-1), "-0.00000001");
        assert_eq!(format_e8(0), "0");
        assert_eq!(format_e8(i64::MIN), "-92233720368.54775808");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(v in any::<i64>()) {
            prop_assert_eq!(parse_e8(&format_e8(v)), Ok(v));
        }
    }
}
