//! A small append-only JSON writer for generated records.
//!
//! Generated data is written straight into the response buffer in schema order, with decimals
//! as exact text (`19.9500`): building `serde_json::Value`s first would lose both the order and
//! the trailing zeros, and would cost an allocation per field on the hot path of every benchmark.

/// A scalar value to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// A JSON string (escaped on write).
    Str(std::borrow::Cow<'a, str>),
    /// JSON text written verbatim: a number, `true`, `false`, `null`, or a raw example value.
    Raw(std::borrow::Cow<'a, str>),
}

impl<'a> Scalar<'a> {
    pub(crate) fn str(s: impl Into<std::borrow::Cow<'a, str>>) -> Scalar<'a> {
        Scalar::Str(s.into())
    }
    pub(crate) fn null() -> Scalar<'static> {
        Scalar::Raw("null".into())
    }
    pub(crate) fn bool(b: bool) -> Scalar<'static> {
        Scalar::Raw(if b { "true" } else { "false" }.into())
    }
    pub(crate) fn int(n: i64) -> Scalar<'static> {
        Scalar::Raw(n.to_string().into())
    }
    /// A decimal from an integer count of `10^-scale` units: `decimal(199500, 4)` is `19.9500`.
    pub(crate) fn decimal(units: i64, scale: u32) -> Scalar<'static> {
        let divisor = 10i64.pow(scale);
        let sign = if units < 0 { "-" } else { "" };
        let units = units.unsigned_abs();
        let divisor = divisor.unsigned_abs();
        if scale == 0 {
            return Scalar::Raw(format!("{sign}{units}").into());
        }
        Scalar::Raw(
            format!(
                "{sign}{}.{:0width$}",
                units / divisor,
                units % divisor,
                width = scale as usize
            )
            .into(),
        )
    }
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping is correct for every code point; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

pub(crate) fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_str(out, key);
    out.push(b':');
}

pub(crate) fn write_scalar(out: &mut Vec<u8>, value: &Scalar<'_>) {
    match value {
        Scalar::Str(s) => write_str(out, s),
        Scalar::Raw(raw) => out.extend_from_slice(raw.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_scale() {
        let raw = |s: &'static str| Scalar::Raw(s.into());
        assert_eq!(Scalar::decimal(199500, 4), raw("19.9500"));
        assert_eq!(Scalar::decimal(5, 2), raw("0.05"));
        assert_eq!(Scalar::decimal(-1234, 2), raw("-12.34"));
        assert_eq!(Scalar::decimal(7, 0), raw("7"));
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\n€");
        assert_eq!(String::from_utf8(out).unwrap(), "\"a\\\"b\\\\c\\n€\"");
    }
}
