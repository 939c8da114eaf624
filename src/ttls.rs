//! The rule the TTL settings of every backend follow: a default TTL and a
//! negative TTL must be longer than zero.
//!
//! A zero TTL stores an entry already expired. Where the caller names the
//! TTL of one entry (`setx`, `expire`), that is a way to remove it; as a
//! setting it makes no sense (every `set`, or every negative marker, would
//! be gone at once), so [`CacheBuilder::build`](crate::CacheBuilder::build),
//! `RedisCache::connect` and `make_cache` refuse it with the same
//! [`BuildError`], through [`check`].

use std::time::Duration;

use crate::error::BuildError;

/// Checks the TTL settings of a cache: `default_ttl` (`None`: no expiry)
/// and `negative_ttl` must be longer than zero.
///
/// # Errors
///
/// [`BuildError::ZeroDefaultTtl`] first, then
/// [`BuildError::ZeroNegativeTtl`].
pub(crate) fn check(
    default_ttl: Option<Duration>,
    negative_ttl: Duration,
) -> Result<(), BuildError> {
    if default_ttl.is_some_and(|t| t.is_zero()) {
        return Err(BuildError::ZeroDefaultTtl);
    }
    if negative_ttl.is_zero() {
        return Err(BuildError::ZeroNegativeTtl);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_ttl_settings_are_refused_and_the_default_comes_first() {
        let second = Duration::from_secs(1);
        assert_eq!(check(None, second), Ok(()));
        assert_eq!(check(Some(Duration::from_nanos(1)), Duration::from_nanos(1)), Ok(()));
        assert_eq!(check(Some(Duration::MAX), Duration::MAX), Ok(()));
        assert_eq!(check(Some(Duration::ZERO), second), Err(BuildError::ZeroDefaultTtl));
        assert_eq!(check(None, Duration::ZERO), Err(BuildError::ZeroNegativeTtl));
        assert_eq!(check(Some(Duration::ZERO), Duration::ZERO), Err(BuildError::ZeroDefaultTtl));
    }
}
