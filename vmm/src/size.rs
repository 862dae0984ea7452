//! Sizes as the command line and the control socket write them.

/// Parses `64M`, `1G`, `1536M`, `0x4000000`, `65536`: decimal or `0x` hex,
/// with an optional K/M/G/T suffix (powers of 1024; a trailing `B` or `iB`
/// is accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a size: expected a number with an optional K, M, G or T suffix, e.g. 64M or 5G");
    let t = s.trim();
    // `0x1B` is hex, not one byte with a `B` suffix.
    let hex = t.starts_with("0x") || t.starts_with("0X");
    let t = if hex { t } else { t.strip_suffix("iB").or_else(|| t.strip_suffix("B")).unwrap_or(t) };
    let (digits, shift) = match t.chars().last() {
        Some(c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T')) => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                _ => 40,
            };
            (&t[..t.len() - 1], shift)
        }
        _ => (t, 0),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).map_err(|_| bad())?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse::<u64>().map_err(|_| bad())?
    };
    value.checked_mul(1u64 << shift).ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn hex_digits_are_not_suffixes() {
        assert_eq!(parse_size("0x1B"), Ok(0x1b));
        assert_eq!(parse_size("0x10M"), Ok(16 << 20));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("27B"), Ok(27));
    }
}
