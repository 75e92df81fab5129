//! Numbers as ECMAScript's `Number.prototype.toString` writes them (RFC 8785 §3.2.2.3): the
//! shortest digits that read back as the same double, in the notation ECMAScript picks.

use super::CanonicalError;

/// A JSON number as ECMAScript's `Number.prototype.toString` writes it (RFC 8785 §3.2.2.3);
/// refuses NaN and the infinities, which JSON cannot express.
pub fn format_number(value: f64) -> Result<String, CanonicalError> {
    if !value.is_finite() {
        return Err(CanonicalError::Number {
            path: String::new(),
            literal: value.to_string(),
        });
    }
    if value == 0.0 {
        return Ok("0".to_owned()); // -0 too
    }
    let (digits, exponent) = shortest_digits(value.abs());
    let k = digits.len() as i32;
    let n = exponent + 1; // the value is 0.DIGITS × 10^n
    let mut out = String::with_capacity(24);
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
    Ok(out)
}

/// The significant digits and decimal exponent (`d.ddd × 10^exponent`) of a positive finite
/// double, as ECMAScript chooses them: the fewest digits that read back as the same double; of
/// several such, the closest to its exact value; of two equally close, the one ending in an
/// even digit.
fn shortest_digits(abs: f64) -> (String, i32) {
    // Rust's shortest form satisfies the first two rules; a tie it breaks upwards.
    let (digits, exponent) = scientific(&format!("{abs:e}"));
    let k = digits.len();
    // Two k-digit candidates can both read back only near the precision limit (15+ digits) or
    // in the subnormal range, and a tie needs the value's next digit to be a 5.
    if (k < 15 && abs >= f64::MIN_POSITIVE) || !scientific(&format!("{abs:.k$e}")).0.ends_with('5')
    {
        return (digits, exponent);
    }
    // A double's exact decimal expansion has at most 767 significant digits.
    let (exact, exact_exponent) = scientific(&format!("{abs:.770e}"));
    let exact = exact.trim_end_matches('0');
    if exact_exponent != exponent || exact.len() != k + 1 || !exact.ends_with('5') {
        return (digits, exponent);
    }
    let lower = &exact[..k];
    let Some(upper) = increment_digits(lower) else {
        return (digits, exponent);
    };
    let even = if lower.ends_with(['0', '2', '4', '6', '8']) {
        lower.to_owned()
    } else {
        upper
    };
    let reads_back = format!("{}.{}e{exponent}", &even[..1], &even[1..])
        .parse::<f64>()
        .is_ok_and(|f| f == abs);
    if reads_back {
        (even.trim_end_matches('0').to_owned(), exponent)
    } else {
        (digits, exponent)
    }
}

/// The digits (without the point) and exponent of Rust's `LowerExp` text.
fn scientific(text: &str) -> (String, i32) {
    let (mantissa, exponent) = text
        .split_once('e')
        .expect("LowerExp always writes an exponent");
    (
        mantissa.chars().filter(|c| *c != '.').collect(),
        exponent
            .parse()
            .expect("LowerExp writes a decimal exponent"),
    )
}

/// `digits` plus one in the last place, or `None` when that needs another digit (all nines).
fn increment_digits(digits: &str) -> Option<String> {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return Some(String::from_utf8(bytes).expect("ASCII digits"));
        }
    }
    None
}
