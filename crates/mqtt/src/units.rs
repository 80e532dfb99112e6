//! Units of measure as meters name them (SenML `u`, CIM ReadingType multiplier and unit codes, a
//! mapping's `unit`), reduced to a power of ten and a base symbol so that a reading in kWh can
//! feed a point kept in Wh.

use std::fmt;

/// A unit as a decimal multiplier and a base symbol (`kWh` is 10^3 × `Wh`).
///
/// Symbols this module does not know stay opaque with exponent 0, so they only match themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Power of ten applied to `symbol`.
    pub exponent: i8,
    /// The base symbol (`W`, `Wh`, `var`, ...), or the whole string when it is not one we know.
    pub symbol: String,
}

/// Base symbols that take SI prefixes: the electrical quantities meters report, plus a few
/// from the SenML registry (RFC 8428 §12.1, RFC 8798) that appear on multi-utility meters.
const PREFIXABLE: &[&str] = &["W", "Wh", "var", "varh", "VA", "VAh", "V", "A", "Ah", "Hz", "J", "m3", "l", "Cel", "K"];

/// SI prefixes meters use, with their power of ten.
const PREFIXES: &[(&str, i8)] = &[("k", 3), ("M", 6), ("G", 9), ("m", -3), ("u", -6)];

impl Unit {
    /// Reads a unit string. CIM spells reactive units `VAr`/`VArh`; they are the SenML `var`/`varh`.
    pub fn parse(text: &str) -> Self {
        let canonical = |s: &str| {
            match s {
                "VAr" => "var",
                "VArh" => "varh",
                other => other,
            }
            .to_owned()
        };
        let base = canonical(text);
        if PREFIXABLE.contains(&base.as_str()) {
            return Self { exponent: 0, symbol: base };
        }
        for (prefix, exponent) in PREFIXES {
            if let Some(rest) = text.strip_prefix(prefix) {
                let rest = canonical(rest);
                if PREFIXABLE.contains(&rest.as_str()) {
                    return Self { exponent: *exponent, symbol: rest };
                }
            }
        }
        Self { exponent: 0, symbol: text.to_owned() }
    }

    /// The factor that turns a value in `self` into a value in `target`, or `None` when the
    /// two measure different things.
    pub fn factor_to(&self, target: &Unit) -> Option<f64> {
        (self.symbol == target.symbol).then(|| 10f64.powi(i32::from(self.exponent) - i32::from(target.exponent)))
    }

    /// The unit of a CIM ReadingType from its `multiplier` (a power of ten, IEC 61968-9
    /// UnitMultiplier) and `unit` (UnitSymbol) codes. Unknown unit codes stay opaque
    /// (`cim-unit-<code>`), so they can still be mapped when the mapping names them.
    pub fn from_cim_codes(multiplier: i8, unit_code: u16) -> Self {
        let symbol = match unit_code {
            5 => "A",
            29 => "V",
            31 => "J",
            33 => "Hz",
            38 => "W",
            42 => "m3",
            61 => "VA",
            63 => "var",
            71 => "VAh",
            72 => "Wh",
            73 => "varh",
            106 => "Ah",
            other => return Self { exponent: multiplier, symbol: format!("cim-unit-{other}") },
        };
        Self { exponent: multiplier, symbol: symbol.to_owned() }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match PREFIXES.iter().find(|(_, e)| *e == self.exponent) {
            Some((prefix, _)) => write!(f, "{prefix}{}", self.symbol),
            None if self.exponent == 0 => f.write_str(&self.symbol),
            None => write!(f, "1e{}·{}", self.exponent, self.symbol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_units_convert_to_their_base() {
        let kwh = Unit::parse("kWh");
        assert_eq!(kwh, Unit { exponent: 3, symbol: "Wh".into() });
        assert_eq!(kwh.factor_to(&Unit::parse("Wh")), Some(1000.0));
        assert_eq!(Unit::parse("Wh").factor_to(&Unit::parse("kWh")), Some(0.001));
        assert_eq!(Unit::parse("MW").factor_to(&Unit::parse("kW")), Some(1000.0));
        assert_eq!(Unit::parse("kVArh"), Unit::parse("kvarh"));
    }

    #[test]
    fn different_quantities_do_not_convert() {
        assert_eq!(Unit::parse("kWh").factor_to(&Unit::parse("W")), None);
        assert_eq!(Unit::parse("%RH").factor_to(&Unit::parse("%RH")), Some(1.0));
        // "m3" is a base symbol, not milli-"3".
        assert_eq!(Unit::parse("m3"), Unit { exponent: 0, symbol: "m3".into() });
    }

    #[test]
    fn cim_codes_name_units() {
        assert_eq!(Unit::from_cim_codes(3, 72).to_string(), "kWh");
        assert_eq!(Unit::from_cim_codes(3, 73).to_string(), "kvarh");
        assert_eq!(Unit::from_cim_codes(0, 38).to_string(), "W");
        assert_eq!(Unit::from_cim_codes(0, 999).symbol, "cim-unit-999");
    }
}
