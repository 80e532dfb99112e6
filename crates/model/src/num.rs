//! Float conversions that `as` would do silently: the one place the protocol crates (Modbus,
//! MMS, C37.118) cast a float, so their `cast_possible_truncation` deny holds everywhere else.

/// `v` when it is a whole number within i64's range; `None` for fractions, NaN, infinities and
/// numbers beyond i64. Callers narrow further with `try_from`.
pub fn whole(v: f64) -> Option<i64> {
    // -2^63 is i64::MIN; 2^63 is the first float above i64::MAX (both exact in f64).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
        // Whole and inside i64's range (checked just above), so the cast is exact; std has no
        // checked float-to-integer conversion.
        #[allow(clippy::cast_possible_truncation)]
        let exact = v as i64;
        Some(exact)
    } else {
        None
    }
}

/// `v` rounded to the nearest f32, for values whose home is single precision (the data model's
/// FLOAT32, the protocol's float fields): the narrowing is intended; magnitudes beyond f32 become
/// infinities, which those formats carry.
pub fn to_f32(v: f64) -> f32 {
    // Rounding, not truncation: IEEE 754 narrowing to the nearest representable f32.
    #[allow(clippy::cast_possible_truncation)]
    let nearest = v as f32;
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_convert_and_the_rest_do_not() {
        assert_eq!(whole(-0.0), Some(0));
        assert_eq!(whole(65535.0), Some(65535));
        assert_eq!(whole(-9_223_372_036_854_775_808.0), Some(i64::MIN));
        assert_eq!(whole(9_223_372_036_854_775_808.0), None);
        assert_eq!(whole(0.5), None);
        assert_eq!(whole(f64::NAN), None);
        assert_eq!(whole(f64::INFINITY), None);
    }

    #[test]
    fn to_f32_rounds_to_nearest() {
        assert_eq!(to_f32(0.1), 0.1_f32);
        assert_eq!(to_f32(1e300), f32::INFINITY);
    }
}
