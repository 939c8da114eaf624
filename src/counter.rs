//! [`Counter`]: the value types `incr`/`decr` work on.

/// A value type that can hold an `i64` counter, for `incr` and `decr`.
///
/// Implemented for the primitive integers and for `String` (strict base-10
/// text, as Redis reads counters: `"41"` is 41; `"abc"`, `" 41"` and `"+41"`
/// hold no integer).
pub trait Counter: Sized {
    /// The integer this value holds, if any.
    fn to_counter(&self) -> Option<i64>;
    /// The value holding `n`, or `None` if `n` does not fit the type.
    fn from_counter(n: i64) -> Option<Self>;
}

macro_rules! int_counter {
    ($($t:ty),*) => {$(
        impl Counter for $t {
            fn to_counter(&self) -> Option<i64> {
                i64::try_from(*self).ok()
            }
            fn from_counter(n: i64) -> Option<Self> {
                <$t>::try_from(n).ok()
            }
        }
    )*};
}

int_counter!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl Counter for String {
    fn to_counter(&self) -> Option<i64> {
        parse_strict(self)
    }
    fn from_counter(n: i64) -> Option<Self> {
        Some(n.to_string())
    }
}

/// Base-10 `i64` text as Redis accepts it: an optional `-`, digits, no
/// leading zeros (but `0` itself), no sign on zero, nothing else.
fn parse_strict(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0";
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_parse_strictly() {
        assert_eq!("41".to_string().to_counter(), Some(41));
        assert_eq!("-7".to_string().to_counter(), Some(-7));
        assert_eq!("0".to_string().to_counter(), Some(0));
        assert_eq!("9223372036854775807".to_string().to_counter(), Some(i64::MAX));
        assert_eq!("-9223372036854775808".to_string().to_counter(), Some(i64::MIN));
        for bad in ["", "-", "abc", " 1", "1 ", "+1", "01", "-0", "1.0", "9223372036854775808"] {
            assert_eq!(bad.to_string().to_counter(), None, "{bad:?}");
        }
    }

    #[test]
    fn integers_check_their_range() {
        assert_eq!(u8::from_counter(256), None);
        assert_eq!(u8::from_counter(255), Some(255));
        assert_eq!(u64::from_counter(-1), None);
        assert_eq!(u64::MAX.to_counter(), None);
        assert_eq!(i32::from_counter(-5), Some(-5));
    }
}
