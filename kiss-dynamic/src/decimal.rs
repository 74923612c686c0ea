//! An exact decimal that remembers how it was written.
//!
//! Hand-written because no decimal crate promises to give back the JSON text digit for digit
//! (`19.9500` stays `19.9500`, `1E+3` stays `1E+3`), which is what lossless round trips need.
//! Arithmetic is not our job: [`Decimal::to_rust_decimal`] hands over to `rust_decimal`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A JSON number kept exactly as it was written.
///
/// Ordinary numbers (`-12.3400`, up to 18 digits) are stored inline without allocating;
/// anything else (exponents, very long digit strings) keeps its text. Equality is by
/// representation: `19.95` and `19.9500` are different values here (use
/// [`Decimal::to_rust_decimal`] to compare numerically).
///
/// ```
/// use kiss_dynamic::Decimal;
/// let price: Decimal = "19.9500".parse().unwrap();
/// assert_eq!(price.to_string(), "19.9500");
/// assert_eq!(price.scale(), 4);
/// assert_eq!(price.to_rust_decimal().unwrap(), rust_decimal::Decimal::new(199500, 4));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// `units × 10^-scale`, written without exponent, sign only when negative and non-zero.
    Fixed { units: i64, scale: u8 },
    /// Any other valid JSON number, verbatim. Boxed twice so a decimal stays two words
    /// (a `Box<str>` is two words by itself), which keeps every [`crate::Value`] at three.
    #[allow(clippy::box_collection)]
    Text(Box<String>),
}

/// Text that is not a JSON number.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text:?} is not a JSON number")]
pub struct NotANumber {
    /// The offending text (cut to 40 characters).
    pub text: String,
}

/// The number could not become a `rust_decimal::Decimal` (too many digits, exponent too big).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text} does not fit rust_decimal's 28 digits: {reason}")]
pub struct DecimalOutOfRange {
    /// The number as written.
    pub text: String,
    /// rust_decimal's reason.
    pub reason: String,
}

/// Whether `text` is exactly one JSON number (RFC 8259 grammar).
pub(crate) fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == bytes.len()
}

impl Decimal {
    /// Builds a decimal from JSON number text the caller has already validated.
    pub(crate) fn from_valid_json(text: &str) -> Decimal {
        Decimal(Self::fixed(text).unwrap_or_else(|| Repr::Text(Box::new(text.to_owned()))))
    }

    fn fixed(text: &str) -> Option<Repr> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (digits, ""),
        };
        if whole.len() + fraction.len() > 18
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
            || whole.is_empty()
            || (whole.len() > 1 && whole.starts_with('0'))
            || (digits.contains('.') && fraction.is_empty())
        {
            return None;
        }
        let mut units: i64 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            units = units * 10 + i64::from(b - b'0');
        }
        if negative {
            if units == 0 {
                // `-0.00` would print as `0.00`: keep the text.
                return None;
            }
            units = -units;
        }
        Some(Repr::Fixed {
            units,
            scale: u8::try_from(fraction.len()).ok()?,
        })
    }

    /// A decimal of `units × 10^-scale`, such as `Decimal::new(199500, 4)` for `19.9500`.
    pub fn new(units: i64, scale: u8) -> Decimal {
        if scale <= 18 {
            Decimal(Repr::Fixed { units, scale })
        } else {
            let text = rust_decimal::Decimal::new(units, 0).to_string();
            Decimal(Repr::Text(Box::new(format!("{text}e-{scale}"))))
        }
    }

    /// Digits after the decimal point as written (0 for exponent forms).
    pub fn scale(&self) -> u32 {
        match &self.0 {
            Repr::Fixed { scale, .. } => u32::from(*scale),
            Repr::Text(text) => match text.split_once('.') {
                Some((_, fraction)) => fraction
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .count()
                    .try_into()
                    .unwrap_or(u32::MAX),
                None => 0,
            },
        }
    }

    /// The exact value as a `rust_decimal::Decimal`, keeping the scale.
    pub fn to_rust_decimal(&self) -> Result<rust_decimal::Decimal, DecimalOutOfRange> {
        let out_of_range = |e: rust_decimal::Error| DecimalOutOfRange {
            text: self.to_string(),
            reason: e.to_string(),
        };
        match &self.0 {
            Repr::Fixed { units, scale } => rust_decimal::Decimal::try_from_i128_with_scale(
                i128::from(*units),
                u32::from(*scale),
            )
            .map_err(out_of_range),
            Repr::Text(text) if text.contains(['e', 'E']) => {
                rust_decimal::Decimal::from_scientific(text).map_err(out_of_range)
            }
            Repr::Text(text) => rust_decimal::Decimal::from_str_exact(text).map_err(out_of_range),
        }
    }

    /// The nearest `f64`: for display or statistics, never for money.
    pub fn to_f64_lossy(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// Writes the number's text.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Repr::Text(text) => out.extend_from_slice(text.as_bytes()),
            Repr::Fixed { units, scale } => {
                let mut buffer = itoa::Buffer::new();
                let digits = buffer.format(units.unsigned_abs());
                if *units < 0 {
                    out.push(b'-');
                }
                let scale = usize::from(*scale);
                if scale == 0 {
                    out.extend_from_slice(digits.as_bytes());
                } else if digits.len() > scale {
                    let (whole, fraction) = digits.split_at(digits.len() - scale);
                    out.extend_from_slice(whole.as_bytes());
                    out.push(b'.');
                    out.extend_from_slice(fraction.as_bytes());
                } else {
                    out.extend_from_slice(b"0.");
                    out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
                    out.extend_from_slice(digits.as_bytes());
                }
            }
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(24);
        self.write_to(&mut out);
        // Only ASCII digits, signs, dots and exponents are ever written.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl FromStr for Decimal {
    type Err = NotANumber;
    fn from_str(text: &str) -> Result<Decimal, NotANumber> {
        if is_json_number(text) {
            Ok(Decimal::from_valid_json(text))
        } else {
            Err(NotANumber {
                text: text.chars().take(40).collect(),
            })
        }
    }
}

impl From<rust_decimal::Decimal> for Decimal {
    fn from(value: rust_decimal::Decimal) -> Decimal {
        Decimal::from_valid_json(&value.to_string())
    }
}

impl From<i64> for Decimal {
    fn from(value: i64) -> Decimal {
        Decimal(Repr::Fixed {
            units: value,
            scale: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_documented_form_digit_for_digit() {
        for text in [
            "19.9500",
            "2.4500",
            "19.95",
            "30.00",
            "5400.00",
            "0",
            "0.05",
            "-12.34",
            "100.00",
            "-0.0",
            "-0",
            "1e5",
            "1E+3",
            "2.5e-3",
            "123456789012345678901234567890",
            "0.000000000000000000001",
            "999999999999999999",
        ] {
            let d: Decimal = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn rejects_what_json_would_reject() {
        for text in [
            "", "-", "01", "1.", ".5", "+1", "1e", "1e+", "NaN", "1.0.0", " 1", "0x10",
        ] {
            assert!(text.parse::<Decimal>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn converts_to_rust_decimal_exactly() {
        let d: Decimal = "19.9500".parse().unwrap();
        assert_eq!(d.to_rust_decimal().unwrap().to_string(), "19.9500");
        let d: Decimal = "1.5E+2".parse().unwrap();
        assert_eq!(
            d.to_rust_decimal().unwrap(),
            rust_decimal::Decimal::new(150, 0)
        );
        let d: Decimal = "123456789012345678901234567890123".parse().unwrap();
        assert!(d.to_rust_decimal().is_err());
        assert_eq!(Decimal::new(199500, 4).to_string(), "19.9500");
        assert_eq!(
            Decimal::from(rust_decimal::Decimal::new(5, 3)).to_string(),
            "0.005"
        );
        assert_eq!("19.9500".parse::<Decimal>().unwrap().scale(), 4);
        assert_eq!("1.25e3".parse::<Decimal>().unwrap().scale(), 2);
    }

    proptest::proptest! {
        #[test]
        fn any_json_number_round_trips(text in "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?") {
            let d: Decimal = text.parse().unwrap();
            proptest::prop_assert_eq!(d.to_string(), text);
        }
    }
}
