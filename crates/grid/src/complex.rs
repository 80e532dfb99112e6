//! The few complex-number operations the admittance matrix and the Jacobian need; not worth a
//! dependency.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// A complex number in rectangular form.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct C64 {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

impl C64 {
    /// `re + j im`.
    pub const fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }

    /// `m e^{j a}`.
    pub fn polar(m: f64, a: f64) -> Self {
        Self { re: m * a.cos(), im: m * a.sin() }
    }

    /// Complex conjugate.
    pub fn conj(self) -> Self {
        Self { re: self.re, im: -self.im }
    }

    /// `|z|²`.
    pub fn norm_sqr(self) -> f64 {
        self.re * self.re + self.im * self.im
    }

    /// `|z|`.
    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }

    /// Argument in radians.
    pub fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }

    /// `1 / z` (infinite for zero, as for `f64`).
    pub fn inv(self) -> Self {
        let d = self.norm_sqr();
        Self { re: self.re / d, im: -self.im / d }
    }

    /// `j z`.
    pub fn times_j(self) -> Self {
        Self { re: -self.im, im: self.re }
    }

    /// `z · s` for a real `s`.
    pub fn scale(self, s: f64) -> Self {
        Self { re: self.re * s, im: self.im * s }
    }
}

impl Add for C64 {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self { re: self.re + o.re, im: self.im + o.im }
    }
}

impl AddAssign for C64 {
    fn add_assign(&mut self, o: Self) {
        self.re += o.re;
        self.im += o.im;
    }
}

impl Sub for C64 {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self { re: self.re - o.re, im: self.im - o.im }
    }
}

impl Neg for C64 {
    type Output = Self;
    fn neg(self) -> Self {
        Self { re: -self.re, im: -self.im }
    }
}

impl Mul for C64 {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Self { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
}

impl Div for C64 {
    type Output = Self;
    #[allow(clippy::suspicious_arithmetic_impl)] // z / w = z · w⁻¹
    fn div(self, o: Self) -> Self {
        self * o.inv()
    }
}
