//! CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0), WIRE.md §3.

use crc::{Crc, CRC_16_IBM_3740};

/// CRC-16/IBM-3740 is the catalogue name of CRC-16/CCITT-FALSE.
static CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// CRC over `data`; `crc16(b"123456789") == 0x29B1`.
pub fn crc16(data: &[u8]) -> u16 {
    CRC16.checksum(data)
}

/// Incremental CRC over several slices (tag ‖ length ‖ ciphertext without concatenating).
pub fn crc16_parts(parts: &[&[u8]]) -> u16 {
    let mut d = CRC16.digest();
    for p in parts {
        d.update(p);
    }
    d.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc16(b""), 0xFFFF);
        assert_eq!(crc16_parts(&[b"1234", b"", b"56789"]), 0x29B1);
    }
}
