//! Kubernetes resource quantities ("100m", "1.5", "256Mi", "1G"), as
//! thousandths of a unit so CPU millicores and bytes share one type.

/// Parses a quantity into thousandths of its unit.
pub fn parse_millis(text: &str) -> Option<i128> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier_millis: i128 = match suffix {
        "" => 1_000,
        "m" => 1,
        "k" => 1_000_000,
        "M" => 1_000_000_000,
        "G" => 1_000_000_000_000,
        "T" => 1_000_000_000_000_000,
        "P" => 1_000_000_000_000_000_000,
        "Ki" => 1_024_000,
        "Mi" => 1_048_576_000,
        "Gi" => 1_073_741_824_000,
        "Ti" => 1_099_511_627_776_000,
        "Pi" => 1_125_899_906_842_624_000,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(multiplier_millis)?;
    if !fraction.is_empty() {
        let digits = fraction.len() as u32;
        let fraction: i128 = fraction.parse().ok()?;
        value += fraction * multiplier_millis / 10i128.pow(digits);
    }
    Some(value)
}

/// Formats thousandths of a unit the way the API server would for CPU.
pub fn format_cpu(millis: i128) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Formats thousandths of a byte with the largest binary suffix that divides
/// it exactly.
pub fn format_bytes(millis: i128) -> String {
    let bytes = millis / 1000;
    if bytes == 0 {
        return "0".to_owned();
    }
    for (suffix, size) in [
        ("Ti", 1i128 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes % size == 0 {
            return format!("{}{suffix}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_millis("100m"), Some(100));
        assert_eq!(parse_millis("1.5"), Some(1500));
        assert_eq!(parse_millis("2"), Some(2000));
        assert_eq!(parse_millis("256Mi"), Some(256 * 1024 * 1024 * 1000));
        assert_eq!(parse_millis("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_millis("1X"), None);
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(format_bytes(512 * 1024 * 1024 * 1000), "512Mi");
        assert_eq!(format_bytes(1000 * 1000), "1000");
    }
}
