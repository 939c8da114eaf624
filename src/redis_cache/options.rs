//! [`RedisOptions`]: the settings of a [`RedisCache`](crate::RedisCache)
//! besides its URL and key builder.

use std::time::Duration;

use crate::error::BuildError;

/// The settings of a [`RedisCache`](crate::RedisCache) besides its URL and key builder.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wheelcache::RedisOptions;
///
/// let options = RedisOptions::new()
///     .default_ttl(Duration::from_secs(300))
///     .negative_ttl(Duration::from_secs(30))
///     .response_timeout(Duration::from_millis(250));
/// assert_ne!(options, RedisOptions::default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    pub(super) default_ttl: Option<Duration>,
    pub(super) negative_ttl: Duration,
    pub(super) connection_timeout: Duration,
    pub(super) response_timeout: Duration,
    pub(super) reconnect_attempts: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            default_ttl: None,
            negative_ttl: Duration::from_secs(60),
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_attempts: 6,
        }
    }
}

impl RedisOptions {
    /// The defaults: no default TTL, a 60 s negative TTL, 1 s connection
    /// and response timeouts, 6 reconnect attempts.
    pub fn new() -> Self {
        Self::default()
    }

    /// The TTL of `set`, `set_item`, `setdefault` and of counters created
    /// by `incr`. Default: none. Zero is refused by
    /// [`RedisCache::connect`](crate::RedisCache::connect).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The TTL of negative markers. Default: 60 s. Zero is refused by
    /// [`RedisCache::connect`](crate::RedisCache::connect).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// How long one attempt to connect may take. Default: 1 s.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long a call waits for the server's answer before it fails with
    /// [`Error::Backend`](crate::Error::Backend). Default: 1 s.
    ///
    /// The request has been sent by then: a write that times out is
    /// [`Outcome::Unknown`](crate::Outcome::Unknown), since the server may
    /// have applied it, or may still.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times a lost connection is retried (with exponential
    /// backoff from 100 ms) before the calls waiting on it fail; the next
    /// call starts over. Default: 6.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// The first setting `connect` refuses, if any: a zero TTL.
    pub(super) fn check(&self) -> Result<(), BuildError> {
        crate::ttls::check(self.default_ttl, self.negative_ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_refuse_zero_ttls() {
        assert_eq!(RedisOptions::new().check(), Ok(()));
        let zero = RedisOptions::new().default_ttl(Duration::ZERO);
        assert_eq!(zero.check(), Err(BuildError::ZeroDefaultTtl));
        let zero = RedisOptions::new().negative_ttl(Duration::ZERO);
        assert_eq!(zero.check(), Err(BuildError::ZeroNegativeTtl));
    }
}
