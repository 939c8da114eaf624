//! [`CacheConfig`] and [`make_cache`]: one setting picks the backend (the
//! `config` feature).
//!
//! The configuration is plain data that any serde format reads (TOML, JSON,
//! YAML, environment loaders); [`make_cache`] turns it into an
//! [`AnyCache`], which implements [`KvCache`](crate::KvCache) by handing
//! each call to the backend it holds. Code written against `KvCache` runs
//! on either.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
#[cfg(feature = "redis")]
use serde::{de::DeserializeOwned, Serialize};

use crate::any::AnyCache;
use crate::cache::Cache;
use crate::duration::{duration, optional_duration};
use crate::error::{BuildError, Error};
use crate::keys::KeyBuilder;
use crate::memory::AsyncCache;
#[cfg(feature = "redis")]
use crate::redis_cache::{RedisCache, RedisOptions};

/// The settings of a cache, whichever its backend: what [`make_cache`]
/// builds from.
///
/// Deserializable with serde. Every field but `backend`'s own has a
/// default, and unknown fields are refused (a misspelt setting is an
/// error, not a silent default). Durations are a number of seconds or a
/// string with a unit: `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` (also
/// `ns`, `us`).
///
/// In TOML:
///
/// ```toml
/// prefix = "myapp"        # default "wheelcache"
/// split_char = ":"        # default ":"
/// default_ttl = "5m"      # default: none
/// negative_ttl = "30s"    # default: 60 s
///
/// [backend]               # default: memory, unbounded
/// type = "memory"
/// capacity = 100_000      # entries; default: unbounded
///
/// # or
/// # [backend]
/// # type = "redis"
/// # url = "redis://127.0.0.1:6379/0"
/// ```
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wheelcache::{BackendConfig, CacheConfig};
///
/// let config: CacheConfig = toml::from_str(
///     r#"
///     prefix = "myapp"
///     default_ttl = "5m"
///     [backend]
///     type = "memory"
///     capacity = 1000
///     "#,
/// )?;
/// assert_eq!(config.default_ttl, Some(Duration::from_secs(300)));
/// assert_eq!(config.backend, BackendConfig::Memory { capacity: Some(1000) });
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Which backend, with its own settings.
    pub backend: BackendConfig,
    /// The key prefix of the namespace.
    pub prefix: String,
    /// The string between the prefix and each key part.
    pub split_char: String,
    /// The TTL of `set`, `set_item`, `setdefault` and new counters; `None`
    /// for none.
    #[serde(deserialize_with = "optional_duration")]
    pub default_ttl: Option<Duration>,
    /// The TTL of negative markers.
    #[serde(deserialize_with = "duration")]
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    /// An unbounded in-memory cache under `"wheelcache:"`, no default TTL,
    /// 60 s negative TTL: the defaults of [`Cache::builder`] and
    /// [`KeyBuilder::default`].
    fn default() -> Self {
        CacheConfig {
            backend: BackendConfig::default(),
            prefix: KeyBuilder::DEFAULT_PREFIX.to_string(),
            split_char: KeyBuilder::DEFAULT_SPLIT.to_string(),
            default_ttl: None,
            negative_ttl: Duration::from_secs(60),
        }
    }
}

impl CacheConfig {
    /// The key builder of the configured namespace.
    pub fn key_builder(&self) -> KeyBuilder {
        KeyBuilder::with_split_char(self.prefix.clone(), self.split_char.clone())
    }
}

/// The backend a [`CacheConfig`] picks, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum BackendConfig {
    /// [`AsyncCache`]: in this process.
    Memory {
        /// The most entries (negative markers count); `None` for unbounded.
        #[serde(default)]
        capacity: Option<u64>,
    },
    /// `RedisCache` (needs the `redis` feature): on a
    /// Redis server.
    Redis {
        /// The server's URL, `redis://[user:password@]host:port/db`.
        url: String,
    },
}

impl Default for BackendConfig {
    /// Memory, unbounded.
    fn default() -> Self {
        BackendConfig::Memory { capacity: None }
    }
}

/// Why [`make_cache`] made no cache.
///
/// Each variant displays only its own part; the error it wraps, if any, is
/// its [`source`](std::error::Error::source), not repeated in the message
/// (so an error reporter that walks the chain shows each cause once).
///
/// # Example
///
/// ```
/// # futures::executor::block_on(async {
/// use std::error::Error as _;
/// use std::time::Duration;
/// use wheelcache::{make_cache, BuildError, CacheConfig, ConfigError};
///
/// let mut config = CacheConfig::default();
/// config.negative_ttl = Duration::ZERO;
/// let err = make_cache::<String>(&config).await.unwrap_err();
/// assert_eq!(err, ConfigError::Invalid(BuildError::ZeroNegativeTtl));
/// assert_eq!(err.to_string(), "invalid cache configuration");
/// assert_eq!(err.source().unwrap().to_string(), "negative_ttl must be longer than zero");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting the cache refuses: a zero TTL or capacity.
    Invalid(BuildError),
    /// The configured backend is not compiled in: the named cargo feature
    /// is off.
    FeatureDisabled(&'static str),
    /// The backend could not be reached (Redis: bad URL, no server).
    Connect(Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid(_) => f.write_str("invalid cache configuration"),
            ConfigError::FeatureDisabled(feature) => {
                write!(f, "the configured backend needs wheelcache's `{feature}` feature")
            }
            ConfigError::Connect(_) => f.write_str("cannot reach the cache backend"),
        }
    }
}

impl std::error::Error for ConfigError {
    /// The wrapped [`BuildError`] or [`Error`], whose message the
    /// variant's own does not repeat.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Invalid(e) => Some(e),
            ConfigError::Connect(e) => Some(e),
            ConfigError::FeatureDisabled(_) => None,
        }
    }
}

/// The value types [`make_cache`] builds a cache for.
///
/// `Clone + Send + Sync + 'static` (what [`AsyncCache`] needs); with the
/// `redis` feature also `Serialize + DeserializeOwned`, since the
/// configuration may pick `RedisCache`, which stores values as text.
/// Implemented for every type with those bounds.
///
/// Cargo features are unified across a build: if any crate in it turns on
/// `redis`, `make_cache` asks for serde everywhere. Code whose values are
/// not serde types builds its [`AnyCache`] with
/// [`AnyCache::memory`], which never does.
#[cfg(feature = "redis")]
pub trait ConfigValue: Clone + Send + Sync + 'static + Serialize + DeserializeOwned {}

#[cfg(feature = "redis")]
impl<V> ConfigValue for V where V: Clone + Send + Sync + 'static + Serialize + DeserializeOwned {}

/// The value types [`make_cache`] builds a cache for.
///
/// `Clone + Send + Sync + 'static` (what [`AsyncCache`] needs); with the
/// `redis` feature also `Serialize + DeserializeOwned`, since the
/// configuration may pick `RedisCache`, which stores values as text.
/// Implemented for every type with those bounds.
///
/// Cargo features are unified across a build: if any crate in it turns on
/// `redis`, `make_cache` asks for serde everywhere. Code whose values are
/// not serde types builds its [`AnyCache`] with
/// [`AnyCache::memory`], which never does.
#[cfg(not(feature = "redis"))]
pub trait ConfigValue: Clone + Send + Sync + 'static {}

#[cfg(not(feature = "redis"))]
impl<V> ConfigValue for V where V: Clone + Send + Sync + 'static {}

/// Builds the cache `config` describes: an in-memory [`AsyncCache`] or a
/// connected `RedisCache`, as an [`AnyCache`].
///
/// A Redis backend must be made inside a tokio runtime.
///
/// # Errors
///
/// [`ConfigError::Invalid`] for a zero TTL or capacity,
/// [`ConfigError::FeatureDisabled`] for `redis` without the `redis`
/// feature, [`ConfigError::Connect`] when the Redis server cannot be
/// reached.
///
/// # Example
///
/// ```
/// # futures::executor::block_on(async {
/// use wheelcache::{make_cache, AnyCache, CacheConfig, KvCache};
///
/// let mut config = CacheConfig::default();
/// config.prefix = "app".to_string();
/// let cache: AnyCache<String> = make_cache(&config).await?;
/// assert_eq!(cache.backend(), "memory");
/// cache.set("app:greeting", "hello".to_string()).await?;
/// assert_eq!(cache.get("app:greeting").await?.as_deref(), Some("hello"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn make_cache<V: ConfigValue>(config: &CacheConfig) -> Result<AnyCache<V>, ConfigError> {
    crate::ttls::check(config.default_ttl, config.negative_ttl).map_err(ConfigError::Invalid)?;
    match &config.backend {
        BackendConfig::Memory { capacity } => {
            let mut builder = Cache::builder().negative_ttl(config.negative_ttl);
            if let Some(ttl) = config.default_ttl {
                builder = builder.default_ttl(ttl);
            }
            if let Some(capacity) = *capacity {
                builder = builder.max_capacity(capacity);
            }
            let cache = AsyncCache::from_builder(builder, config.key_builder())
                .map_err(ConfigError::Invalid)?;
            Ok(AnyCache::memory(cache))
        }
        #[cfg(feature = "redis")]
        BackendConfig::Redis { url } => {
            let mut options = RedisOptions::new().negative_ttl(config.negative_ttl);
            if let Some(ttl) = config.default_ttl {
                options = options.default_ttl(ttl);
            }
            let cache = RedisCache::connect(url, config.key_builder(), options)
                .await
                .map_err(ConfigError::Connect)?;
            Ok(AnyCache::redis(cache))
        }
        #[cfg(not(feature = "redis"))]
        BackendConfig::Redis { .. } => Err(ConfigError::FeatureDisabled("redis")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::chain;
    use crate::kv::KvCache;

    fn parse(text: &str) -> Result<CacheConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn toml_configs() {
        assert_eq!(parse("").unwrap(), CacheConfig::default());
        let config = parse(
            r#"
            prefix = "app"
            split_char = "/"
            default_ttl = 90
            negative_ttl = 2.5
            [backend]
            type = "redis"
            url = "redis://127.0.0.1:6379/1"
            "#,
        )
        .unwrap();
        assert_eq!(config.prefix, "app");
        assert_eq!(config.key_builder(), KeyBuilder::with_split_char("app", "/"));
        assert_eq!(config.default_ttl, Some(Duration::from_secs(90)));
        assert_eq!(config.negative_ttl, Duration::from_millis(2500));
        assert_eq!(config.backend, BackendConfig::Redis { url: "redis://127.0.0.1:6379/1".into() });
    }

    #[test]
    fn toml_mistakes_are_errors() {
        for bad in [
            "prefx = \"app\"",
            "default_ttl = -1",
            "default_ttl = \"soon\"",
            "[backend]\ntype = \"memcached\"",
            "[backend]\ntype = \"redis\"",
            "[backend]\ntype = \"memory\"\nurl = \"redis://x\"",
            "[backend]\ntype = \"redis\"\nurl = \"redis://x\"\ncapacity = 3",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn make_cache_builds_memory_caches() {
        futures::executor::block_on(async {
            let mut config = parse("prefix = \"t\"\ndefault_ttl = \"1h\"").unwrap();
            let cache: AnyCache<String> = make_cache(&config).await.unwrap();
            assert_eq!(cache.backend(), "memory");
            assert!(cache.as_memory().is_some());
            cache.set("t:k", "v".to_string()).await.unwrap();
            let ttl = cache.ttl("t:k").await.unwrap().remaining().unwrap();
            assert!(ttl <= Duration::from_secs(3600) && ttl > Duration::from_secs(3590));
            assert_eq!(cache.get("other:k").await, Err(Error::InvalidKey));

            config.default_ttl = Some(Duration::ZERO);
            let zero = make_cache::<String>(&config).await.unwrap_err();
            assert_eq!(zero, ConfigError::Invalid(BuildError::ZeroDefaultTtl));
            config.default_ttl = None;
            config.backend = BackendConfig::Memory { capacity: Some(0) };
            let zero = make_cache::<String>(&config).await.unwrap_err();
            assert_eq!(zero, ConfigError::Invalid(BuildError::ZeroCapacity));
            let cause = std::error::Error::source(&zero).map(ToString::to_string);
            assert!(cause.is_some_and(|c| c.contains("max_capacity")));
        });
    }

    #[test]
    fn config_errors_name_each_cause_once() {
        let invalid = ConfigError::Invalid(BuildError::ZeroDefaultTtl);
        assert_eq!(
            chain(&invalid),
            [
                "invalid cache configuration",
                "default_ttl must be longer than zero (leave it unset for no expiry)"
            ]
        );
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let backend = crate::error::BackendError::new("redis connection failed", refused)
            .with_outcome(crate::error::Outcome::NotApplied);
        let connect = ConfigError::Connect(Error::Backend(backend));
        assert_eq!(
            chain(&connect),
            [
                "cannot reach the cache backend",
                "backend error: redis connection failed (not applied)",
                "refused"
            ]
        );
        let disabled = ConfigError::FeatureDisabled("redis");
        assert_eq!(chain(&disabled), ["the configured backend needs wheelcache's `redis` feature"]);
        for e in [invalid, connect, disabled] {
            let messages = chain(&e);
            for pair in messages.windows(2) {
                assert!(!pair[0].contains(&pair[1]), "{:?} repeats {:?}", pair[0], pair[1]);
            }
        }
    }

    /// Without the `redis` feature, `make_cache` asks no serde of the
    /// values.
    #[cfg(not(feature = "redis"))]
    #[test]
    fn make_cache_takes_values_without_serde() {
        /// No serde impls.
        #[derive(Clone, Debug, PartialEq)]
        struct Plain(u32);
        futures::executor::block_on(async {
            let config = parse("prefix = \"t\"").unwrap();
            let cache: AnyCache<Plain> = make_cache(&config).await.unwrap();
            cache.set("t:k", Plain(7)).await.unwrap();
            assert_eq!(cache.get("t:k").await, Ok(Some(Plain(7))));
        });
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_needs_its_feature() {
        futures::executor::block_on(async {
            let config = parse("[backend]\ntype = \"redis\"\nurl = \"redis://x\"").unwrap();
            let err = make_cache::<String>(&config).await.unwrap_err();
            assert_eq!(err, ConfigError::FeatureDisabled("redis"));
        });
    }
}
