//! The crate's error types: [`Error`] for calls, [`BuildError`] for configuration.

use std::fmt;
use std::sync::Arc;

/// What went wrong in a cache call.
///
/// Every fallible call returns it; nothing is logged instead of returned.
/// When a call fails it has changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The key is outside the cache's namespace: it does not start with the
    /// key builder's prefix followed by its split character.
    InvalidKey,
    /// `incr`/`decr` found a value that holds no integer (for example the
    /// string `"abc"`); the value is left untouched.
    NotAnInteger,
    /// `incr`/`decr` would overflow `i64`, or the result does not fit the
    /// value type (a `u8` counter past 255); the value is left untouched.
    Overflow,
    /// The cache was closed with `close()`; it accepts no more calls.
    Closed,
    /// A non-memory backend (Redis) failed: connection, protocol or encoding.
    Backend(BackendError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidKey => f.write_str(
                "invalid key: it must start with the key builder's prefix and split character \
                 (build keys with `KeyBuilder::build`)",
            ),
            Error::NotAnInteger => {
                f.write_str("value is not an integer: incr/decr need a value holding an i64")
            }
            Error::Overflow => {
                f.write_str("integer overflow: the result does not fit in i64 or in the value type")
            }
            Error::Closed => f.write_str("cache is closed"),
            Error::Backend(e) => write!(f, "backend error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Backend(e) => e.source.as_deref().map(|s| s as _),
            _ => None,
        }
    }
}

/// The failure of a non-memory backend, with its cause.
///
/// Two backend errors compare equal when their messages are equal.
#[derive(Debug, Clone)]
pub struct BackendError {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl BackendError {
    /// A backend error with a message and the error that caused it.
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BackendError { message: message.into(), source: Some(Arc::new(source)) }
    }

    /// A backend error with a message only.
    pub fn msg(message: impl Into<String>) -> Self {
        BackendError { message: message.into(), source: None }
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for BackendError {}

/// A cache configuration that [`CacheBuilder::build`](crate::CacheBuilder::build)
/// refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `shards(0)`: a cache needs at least one shard.
    ZeroShards,
    /// More shards than [`CacheBuilder::MAX_SHARDS`](crate::CacheBuilder::MAX_SHARDS).
    TooManyShards,
    /// `tick(Duration::ZERO)`: the timing wheel needs a positive tick.
    ZeroTick,
    /// A tick longer than [`CacheBuilder::MAX_TICK`](crate::CacheBuilder::MAX_TICK).
    TickTooLong,
    /// `max_capacity(0)`: a cache that can hold nothing.
    ZeroCapacity,
    /// `default_ttl(Duration::ZERO)`: every plain `set` would be expired at once.
    ZeroDefaultTtl,
    /// `negative_ttl(Duration::ZERO)`: every negative marker would be expired at once.
    ZeroNegativeTtl,
    /// `time_to_idle(Duration::ZERO)`: every entry would be idle at once.
    ZeroTimeToIdle,
    /// A `weigher` without a `max_capacity`: the weights would bound nothing.
    WeigherWithoutCapacity,
    /// The operating system refused to start the background expiry thread.
    ExpiryThread,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildError::ZeroShards => "shards must be at least 1",
            BuildError::TooManyShards => "too many shards (at most 65536)",
            BuildError::ZeroTick => "tick must be longer than zero",
            BuildError::TickTooLong => "tick must be at most one second",
            BuildError::ZeroCapacity => "max_capacity must be at least 1",
            BuildError::ZeroDefaultTtl => {
                "default_ttl must be longer than zero (leave it unset for no expiry)"
            }
            BuildError::ZeroNegativeTtl => "negative_ttl must be longer than zero",
            BuildError::ZeroTimeToIdle => "time_to_idle must be longer than zero",
            BuildError::WeigherWithoutCapacity => {
                "a weigher needs a max_capacity (the weights bound nothing without one)"
            }
            BuildError::ExpiryThread => "could not start the background expiry thread",
        })
    }
}

impl std::error::Error for BuildError {}
