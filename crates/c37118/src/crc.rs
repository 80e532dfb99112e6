//! CRC-CCITT as C37.118.2 uses it to close every frame (polynomial 0x1021, initial value 0xFFFF,
//! no reflection, no final XOR; also known as CRC-16/CCITT-FALSE).

const POLY: u16 = 0x1021;

/// One table entry per leading byte, built at compile time so the hot path is a lookup per byte
/// (a `static`: a `const` array would be materialised afresh at each use).
// Evaluated at compile time: an index out of range would fail the build, never a run.
#[allow(clippy::indexing_slicing)]
static TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i: u16 = 0;
    while i < 256 {
        let mut crc = i << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ POLY } else { crc << 1 };
            bit += 1;
        }
        table[i as usize] = crc;
        i += 1;
    }
    table
};

/// The CRC-CCITT of `bytes`, as carried in a frame's CHK field.
// The one index is a u8 into a 256-entry table: always in range.
#[allow(clippy::indexing_slicing)]
pub fn crc_ccitt(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xffff, |crc, &b| (crc << 8) ^ TABLE[usize::from((crc >> 8) as u8 ^ b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_check_value() {
        // The catalogue check value of CRC-16/CCITT-FALSE over "123456789".
        assert_eq!(crc_ccitt(b"123456789"), 0x29b1);
        assert_eq!(crc_ccitt(b""), 0xffff);
    }
}
