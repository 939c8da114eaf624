//! The crate's error types: [`Error`] for calls, [`BuildError`] for configuration.

use std::fmt;
use std::sync::Arc;

/// What went wrong in a cache call.
///
/// Every fallible call returns it; nothing is logged instead of returned.
/// A call that fails with any variant but [`Error::Backend`] has changed
/// nothing. A backend error says what the failed call did in
/// [`BackendError::outcome`]: a network backend cannot promise that a
/// request it sent and got no answer to was not applied.
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
    /// A non-memory backend (Redis) failed: connection, timeout, an error
    /// answer of the server, or encoding. Whether the call changed anything
    /// is [`BackendError::outcome`].
    ///
    /// Shown as `backend error: ` and the backend error (its message and
    /// outcome); [`source`](std::error::Error::source) is the backend
    /// error's cause, which the message does not repeat.
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
    /// For [`Error::Backend`], the backend error's cause: the backend
    /// error's own message is already part of this error's message.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Backend(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

/// What a failed backend call did to the cache: [`BackendError::outcome`].
///
/// A call that fails before its request reaches the server, or that the
/// server refuses with an error answer, changed nothing. A call whose
/// request was sent but whose answer never came (a timeout, a connection
/// lost in flight) may have been applied: the server can still run it
/// after the caller has given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The call changed nothing: it failed before its request was sent,
    /// the server answered with an error, or the call only reads. Calling
    /// again is as if this call had never been made.
    NotApplied,
    /// The call may have changed the cache, in full, in part or not at all:
    /// its request was sent and no usable answer came back. Look at the
    /// entry before repeating a call that is not idempotent (`incr`,
    /// `decr`, `pop`, `popitem`).
    Unknown,
    /// The call's change was made, but its answer could not be used (for
    /// example `pop` removed a value that does not decode as the value
    /// type).
    Applied,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::NotApplied => "not applied",
            Outcome::Unknown => "outcome unknown: it may have been applied",
            Outcome::Applied => "applied",
        })
    }
}

/// The failure of a non-memory backend: a message, what the call did
/// ([`outcome`](BackendError::outcome)) and the error that caused it.
///
/// Shown as its message and outcome (`redis SET failed (not applied)`);
/// the cause is [`source`](std::error::Error::source), not repeated in the
/// message.
///
/// Two backend errors compare equal when their messages and outcomes are
/// equal; the causes are not compared (an arbitrary error has no equality).
#[derive(Debug, Clone)]
pub struct BackendError {
    message: String,
    outcome: Outcome,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl BackendError {
    /// A backend error with a message and the error that caused it, of
    /// outcome [`Outcome::Unknown`] until
    /// [`with_outcome`](BackendError::with_outcome) says otherwise.
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BackendError {
            message: message.into(),
            outcome: Outcome::Unknown,
            source: Some(Arc::new(source)),
        }
    }

    /// A backend error with a message only, of outcome
    /// [`Outcome::Unknown`] until
    /// [`with_outcome`](BackendError::with_outcome) says otherwise.
    pub fn msg(message: impl Into<String>) -> Self {
        BackendError { message: message.into(), outcome: Outcome::Unknown, source: None }
    }

    /// This error with what the failed call did to the cache.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::{BackendError, Outcome};
    ///
    /// let refused = BackendError::msg("server refused the connection");
    /// assert_eq!(refused.outcome(), Outcome::Unknown);
    /// let refused = refused.with_outcome(Outcome::NotApplied);
    /// assert_eq!(refused.outcome(), Outcome::NotApplied);
    /// assert_eq!(refused.to_string(), "server refused the connection (not applied)");
    /// ```
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// What the failed call did to the cache: nothing
    /// ([`Outcome::NotApplied`]), perhaps something
    /// ([`Outcome::Unknown`]), or its change ([`Outcome::Applied`]).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The message, without the outcome or the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.outcome)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message && self.outcome == other.outcome
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

#[cfg(test)]
pub(crate) mod tests {
    use std::error::Error as _;
    use std::io;

    use super::*;

    /// The messages of `error` and its causes, outermost first.
    pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut messages = vec![error.to_string()];
        let mut cause = error.source();
        while let Some(e) = cause {
            messages.push(e.to_string());
            cause = e.source();
        }
        messages
    }

    fn timed_out() -> BackendError {
        BackendError::new("redis SET failed", io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    }

    #[test]
    fn backend_error_shows_its_message_and_outcome_and_its_cause_as_source() {
        let e = timed_out();
        assert_eq!(e.outcome(), Outcome::Unknown, "unknown unless told otherwise");
        assert_eq!(e.message(), "redis SET failed");
        assert_eq!(
            chain(&e),
            ["redis SET failed (outcome unknown: it may have been applied)", "timed out"]
        );
        let cause = e.source().and_then(|c| c.downcast_ref::<io::Error>());
        assert_eq!(cause.map(io::Error::kind), Some(io::ErrorKind::TimedOut));

        let e = BackendError::msg("no cause").with_outcome(Outcome::NotApplied);
        assert_eq!(chain(&e), ["no cause (not applied)"]);
        assert_eq!(
            BackendError::msg("gone").with_outcome(Outcome::Applied).to_string(),
            "gone (applied)"
        );
    }

    #[test]
    fn error_backend_names_the_cause_once_through_source() {
        let e = Error::Backend(timed_out().with_outcome(Outcome::NotApplied));
        assert_eq!(chain(&e), ["backend error: redis SET failed (not applied)", "timed out"]);
        assert!(e.source().and_then(|c| c.downcast_ref::<io::Error>()).is_some());
        assert_eq!(chain(&Error::Backend(BackendError::msg("bad answer"))).len(), 1);
    }

    #[test]
    fn no_layer_repeats_its_cause() {
        let errors = [
            Error::Backend(timed_out()),
            Error::Backend(BackendError::new("invalid options", BuildError::ZeroNegativeTtl)),
        ];
        for e in errors {
            let messages = chain(&e);
            for pair in messages.windows(2) {
                assert!(
                    !pair[0].contains(&pair[1]),
                    "{:?} repeats its cause {:?}",
                    pair[0],
                    pair[1]
                );
            }
        }
    }

    #[test]
    fn backend_errors_compare_message_and_outcome_not_cause() {
        let other_cause =
            BackendError::new("redis SET failed", io::Error::new(io::ErrorKind::BrokenPipe, "x"));
        assert_eq!(timed_out(), other_cause, "causes are not compared");
        assert_eq!(timed_out(), BackendError::msg("redis SET failed"));
        assert_ne!(timed_out(), timed_out().with_outcome(Outcome::NotApplied));
        assert_ne!(timed_out(), BackendError::msg("redis GET failed"));
        assert_eq!(Error::Backend(timed_out()), Error::Backend(other_cause));
    }
}
