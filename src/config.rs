//! [`CacheConfig`] and [`make_cache`]: one setting picks the backend (the
//! `config` feature).
//!
//! The configuration is plain data that any serde format reads (TOML, JSON,
//! YAML, environment loaders); [`make_cache`] turns it into an
//! [`AnyCache`], which implements [`KvCache`] by handing each call to the
//! backend it holds. Code written against `KvCache` runs on either.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::counter::Counter;
use crate::error::{BuildError, Error};
use crate::keys::KeyBuilder;
use crate::lookup::{Lookup, Ttl};
#[cfg(feature = "redis")]
use crate::redis::{RedisCache, RedisOptions};
use crate::{kv::KvCache, memory::AsyncCache};

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
            ConfigError::Invalid(e) => write!(f, "invalid cache configuration: {e}"),
            ConfigError::FeatureDisabled(feature) => {
                write!(f, "the configured backend needs wheelcache's `{feature}` feature")
            }
            ConfigError::Connect(e) => write!(f, "cannot reach the cache backend: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Invalid(e) => Some(e),
            ConfigError::Connect(e) => Some(e),
            ConfigError::FeatureDisabled(_) => None,
        }
    }
}

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
/// cache.set("app:greeting", "hello".to_string()).await?;
/// assert_eq!(cache.get("app:greeting").await?.as_deref(), Some("hello"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn make_cache<V>(config: &CacheConfig) -> Result<AnyCache<V>, ConfigError>
where
    V: Clone + Send + Sync + 'static,
{
    if config.default_ttl == Some(Duration::ZERO) {
        return Err(ConfigError::Invalid(BuildError::ZeroDefaultTtl));
    }
    if config.negative_ttl.is_zero() {
        return Err(ConfigError::Invalid(BuildError::ZeroNegativeTtl));
    }
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
            Ok(AnyCache::Memory(cache))
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
            Ok(AnyCache::Redis(cache))
        }
        #[cfg(not(feature = "redis"))]
        BackendConfig::Redis { .. } => Err(ConfigError::FeatureDisabled("redis")),
    }
}

/// A cache of either backend, as [`make_cache`] returns it: [`KvCache`]
/// calls go to the backend it holds.
///
/// An enum rather than a `Box<dyn KvCache>`, because `KvCache`'s async
/// methods make it a trait that cannot be a trait object.
///
/// Its `KvCache` impl needs `V: Serialize + DeserializeOwned` whether or
/// not the `redis` feature is on, so that turning the feature on changes
/// no bound; the enum is `#[non_exhaustive]` for the same reason.
///
/// # Example
///
/// ```
/// # futures::executor::block_on(async {
/// use wheelcache::{AnyCache, AsyncCache, Cache, KeyBuilder, KvCache};
///
/// let memory = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
/// let cache: AnyCache<u64> = AnyCache::Memory(memory);
/// assert_eq!(cache.incr("app:hits", 2).await?, 2);
/// # Ok::<(), wheelcache::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyCache<V> {
    /// The in-memory cache.
    Memory(AsyncCache<V>),
    /// The Redis cache.
    #[cfg(feature = "redis")]
    Redis(RedisCache<V>),
}

/// Calls `$call` on whichever cache `$self` holds.
macro_rules! each {
    ($self:ident, $cache:ident => $call:expr) => {
        match $self {
            AnyCache::Memory($cache) => $call,
            #[cfg(feature = "redis")]
            AnyCache::Redis($cache) => $call,
        }
    };
}

impl<V> KvCache<V> for AnyCache<V>
where
    V: Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
{
    fn key_builder(&self) -> &KeyBuilder {
        each!(self, c => c.key_builder())
    }

    async fn get_item(&self, key: &str) -> Result<Lookup<V>, Error> {
        each!(self, c => c.get_item(key).await)
    }

    async fn set_item(&self, key: &str, value: V) -> Result<(), Error> {
        each!(self, c => c.set_item(key, value).await)
    }

    async fn del_item(&self, key: &str) -> Result<bool, Error> {
        each!(self, c => c.del_item(key).await)
    }

    async fn len(&self) -> Result<usize, Error> {
        each!(self, c => c.len().await)
    }

    async fn is_empty(&self) -> Result<bool, Error> {
        each!(self, c => c.is_empty().await)
    }

    async fn contains(&self, key: &str) -> Result<bool, Error> {
        each!(self, c => c.contains(key).await)
    }

    async fn get(&self, key: &str) -> Result<Option<V>, Error> {
        each!(self, c => c.get(key).await)
    }

    async fn setdefault(&self, key: &str, default: V) -> Result<V, Error> {
        each!(self, c => c.setdefault(key, default).await)
    }

    async fn clear(&self) -> Result<(), Error> {
        each!(self, c => c.clear().await)
    }

    async fn pop(&self, key: &str) -> Result<Option<V>, Error> {
        each!(self, c => c.pop(key).await)
    }

    async fn popitem(&self) -> Result<Option<(String, V)>, Error> {
        each!(self, c => c.popitem().await)
    }

    async fn set(&self, key: &str, value: V) -> Result<(), Error> {
        each!(self, c => c.set(key, value).await)
    }

    async fn setx(&self, key: &str, value: V, ttl: Option<Duration>) -> Result<(), Error> {
        each!(self, c => c.setx(key, value, ttl).await)
    }

    async fn set_negative(&self, key: &str) -> Result<(), Error> {
        each!(self, c => c.set_negative(key).await)
    }

    async fn ttl(&self, key: &str) -> Result<Ttl, Error> {
        each!(self, c => c.ttl(key).await)
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool, Error> {
        each!(self, c => c.expire(key, ttl).await)
    }

    async fn incr(&self, key: &str, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        each!(self, c => c.incr(key, amount).await)
    }

    async fn decr(&self, key: &str, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        each!(self, c => c.decr(key, amount).await)
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        each!(self, c => c.keys().await)
    }

    async fn values(&self) -> Result<Vec<V>, Error> {
        each!(self, c => c.values().await)
    }

    async fn items(&self) -> Result<Vec<(String, V)>, Error> {
        each!(self, c => c.items().await)
    }

    /// The backend's stream, boxed (the two backends' streams are of
    /// different, unnameable types).
    fn iter_keys(&self) -> impl Stream<Item = Result<String, Error>> + Send {
        let keys: Pin<Box<dyn Stream<Item = Result<String, Error>> + Send + '_>> =
            each!(self, c => Box::pin(c.iter_keys()));
        keys
    }

    async fn close(&self) -> Result<(), Error> {
        each!(self, c => c.close().await)
    }
}

// ---- durations ------------------------------------------------------------

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserializer.deserialize_any(DurationVisitor).map(Some)
}

/// A duration: a number of seconds, or a number with a unit.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a duration: seconds, or a string like "250ms", "30s", "5m", "1h", "1d""#)
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs)
            .map(Duration::from_secs)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(secs), &self))
    }

    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(secs)
            .map_err(|_| E::invalid_value(de::Unexpected::Float(secs), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse_duration(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// `"250ms"`, `"1.5s"`, `"5m"`, `"30"` (seconds): a non-negative number and
/// an optional unit. Whole numbers are exact; fractions go through `f64`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = (text[..split].trim(), &text[split..]);
    let unit_ns: u64 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return None,
    };
    if number.bytes().all(|b| b.is_ascii_digit()) && !number.is_empty() {
        let nanos = u128::from(number.parse::<u64>().ok()?) * u128::from(unit_ns);
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    } else {
        let value: f64 = number.parse().ok()?;
        Duration::try_from_secs_f64(value * unit_ns as f64 / 1e9).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CacheConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn durations_take_units() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("250ms"), Some(ms(250)));
        assert_eq!(parse_duration("30s"), Some(ms(30_000)));
        assert_eq!(parse_duration("30"), Some(ms(30_000)));
        assert_eq!(parse_duration("1.5s"), Some(ms(1500)));
        assert_eq!(parse_duration("5m"), Some(ms(300_000)));
        assert_eq!(parse_duration("2h"), Some(ms(7_200_000)));
        assert_eq!(parse_duration("1d"), Some(ms(86_400_000)));
        assert_eq!(parse_duration("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse_duration("7ns"), Some(Duration::from_nanos(7)));
        assert_eq!(parse_duration(" 3 s "), Some(ms(3000)));
        for bad in ["", "s", "-1s", "1x", "1.2.3s", "abc", "1 s s", "NaNs"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert!(parse_duration(&format!("{}d", u64::MAX)).is_none(), "overflow is refused");
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
            assert!(matches!(cache, AnyCache::Memory(_)));
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
            assert!(zero.to_string().contains("max_capacity"));
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
