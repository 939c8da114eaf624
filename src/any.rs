//! [`AnyCache`]: a cache of either backend behind one type, as
//! [`make_cache`](crate::make_cache) returns it (the `config` feature).
//!
//! It holds its backend as a [`DynKvCache`] trait object and implements
//! [`KvCache`] by handing each call to it, so the bounds each backend needs
//! of `V` are asked for once, by the constructor that picks the backend:
//! [`AnyCache::memory`] asks no serde, [`AnyCache::redis`] does.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use parking_lot::Mutex;

use crate::counter::Counter;
use crate::dynamic::DynKvCache;
use crate::error::{BackendError, Error, Outcome};
use crate::keys::KeyBuilder;
use crate::kv::KvCache;
use crate::lookup::{Loaded, Lookup, Ttl};
use crate::memory::AsyncCache;
#[cfg(feature = "redis")]
use crate::redis_cache::RedisCache;

/// A cache of either backend, as [`make_cache`](crate::make_cache) returns
/// it: [`KvCache`] calls go to the backend it holds.
///
/// Made by [`AnyCache::memory`] (any `V: Clone + Send + Sync + 'static`,
/// no serde) or `AnyCache::redis` (the `redis` feature; serde values).
/// It holds the backend as an `Arc<dyn DynKvCache<V>>`, so each call
/// allocates its future once (see [`DynKvCache`]'s costs); a loading
/// call boxes its loader too.
///
/// A loader's own error type crosses the trait object, which knows only
/// [`Error`], unchanged: the caller that ran a failing loader gets the
/// loader's error back exactly, as from the backend itself.
///
/// `Clone` is a cheap handle: clones share the backend.
///
/// # Example
///
/// ```
/// # futures::executor::block_on(async {
/// use wheelcache::{AnyCache, AsyncCache, Cache, KeyBuilder, KvCache};
///
/// /// Not a serde type: the in-memory backend does not need one.
/// #[derive(Clone, Debug, PartialEq)]
/// struct Session(u64);
///
/// let cache = AnyCache::memory(AsyncCache::new(Cache::new(), KeyBuilder::new("app")));
/// cache.set("app:s", Session(7)).await?;
/// assert_eq!(cache.get("app:s").await?, Some(Session(7)));
/// assert_eq!(cache.backend(), "memory");
/// # Ok::<(), wheelcache::Error>(())
/// # }).unwrap();
/// ```
pub struct AnyCache<V> {
    cache: Arc<dyn Backend<V>>,
    /// `"memory"` or `"redis"`.
    backend: &'static str,
}

/// A [`DynKvCache`] that can be looked at as its own type.
trait Backend<V>: DynKvCache<V> {
    fn as_any(&self) -> &dyn Any;
}

impl<V, C> Backend<V> for C
where
    C: DynKvCache<V> + Any,
{
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<V> AnyCache<V> {
    /// The in-memory `cache`. Asks of `V` only what [`AsyncCache`] does.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::{AnyCache, AsyncCache, Cache, KeyBuilder};
    ///
    /// let cache: AnyCache<u64> =
    ///     AnyCache::memory(AsyncCache::new(Cache::new(), KeyBuilder::new("app")));
    /// assert!(cache.as_memory().is_some());
    /// ```
    pub fn memory(cache: AsyncCache<V>) -> Self
    where
        V: Clone + Send + Sync + 'static,
    {
        AnyCache { cache: Arc::new(cache), backend: "memory" }
    }

    /// The Redis `cache`: values are serde types, stored as text.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), wheelcache::Error> {
    /// use wheelcache::{AnyCache, KeyBuilder, KvCache, RedisCache, RedisOptions};
    ///
    /// let redis: RedisCache<u64> =
    ///     RedisCache::connect("redis://127.0.0.1/", KeyBuilder::new("app"), RedisOptions::new())
    ///         .await?;
    /// let cache = AnyCache::redis(redis);
    /// assert_eq!(cache.backend(), "redis");
    /// cache.incr("app:hits", 1).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(cache: RedisCache<V>) -> Self
    where
        V: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        AnyCache { cache: Arc::new(cache), backend: "redis" }
    }

    /// The backend's name: `"memory"` or `"redis"`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The in-memory cache, if that is the backend: for what only it offers
    /// ([`AsyncCache::cache`] and its statistics).
    pub fn as_memory(&self) -> Option<&AsyncCache<V>>
    where
        V: 'static,
    {
        self.cache.as_any().downcast_ref()
    }

    /// The Redis cache, if that is the backend.
    #[cfg(feature = "redis")]
    pub fn as_redis(&self) -> Option<&RedisCache<V>>
    where
        V: 'static,
    {
        self.cache.as_any().downcast_ref()
    }
}

impl<V> From<AsyncCache<V>> for AnyCache<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn from(cache: AsyncCache<V>) -> Self {
        AnyCache::memory(cache)
    }
}

#[cfg(feature = "redis")]
impl<V> From<RedisCache<V>> for AnyCache<V>
where
    V: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    fn from(cache: RedisCache<V>) -> Self {
        AnyCache::redis(cache)
    }
}

impl<V> Clone for AnyCache<V> {
    fn clone(&self) -> Self {
        AnyCache { cache: self.cache.clone(), backend: self.backend }
    }
}

impl<V> fmt::Debug for AnyCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyCache")
            .field("backend", &self.backend)
            .field("key_builder", self.cache.key_builder())
            .finish()
    }
}

/// What a failing loader's future answers the backend with; the caller
/// gets the loader's own error instead (see [`Failure`]).
fn loader_failed() -> Error {
    Error::Backend(
        BackendError::msg("the loader failed (its caller gets its own error)")
            .with_outcome(Outcome::NotApplied),
    )
}

/// Carries a loader's error of type `E` past a [`DynKvCache`], whose
/// loaders can only fail with [`Error`].
///
/// The boxed loader keeps its error here and answers the backend with a
/// placeholder [`Error`]; the backend stores nothing and returns that
/// error to the caller that ran the loader, which swaps the kept error back
/// in. An error the backend returns on its own (its loader never failed)
/// is converted with `From`, as the backend itself would.
struct Failure<E> {
    kept: Mutex<Option<E>>,
}

impl<E: From<Error>> Failure<E> {
    fn new() -> Self {
        Failure { kept: Mutex::new(None) }
    }

    /// `loaded`, with an error kept and replaced by the placeholder.
    fn keep<T>(&self, loaded: Result<T, E>) -> Result<T, Error> {
        loaded.map_err(|e| {
            *self.kept.lock() = Some(e);
            loader_failed()
        })
    }

    /// The caller's result: the loader's own error if it failed, else the
    /// backend's answer.
    fn answer<T>(self, answer: Result<T, Error>) -> Result<T, E> {
        match (answer, self.kept.into_inner()) {
            (Err(_), Some(e)) => Err(e),
            (answer, _) => answer.map_err(E::from),
        }
    }
}

/// Each call goes to the backend's [`DynKvCache`] method of the same name.
impl<V> KvCache<V> for AnyCache<V>
where
    V: Send + 'static,
{
    fn key_builder(&self) -> &KeyBuilder {
        self.cache.key_builder()
    }

    async fn get_item(&self, key: &str) -> Result<Lookup<V>, Error> {
        self.cache.get_item(key).await
    }

    async fn set_item(&self, key: &str, value: V) -> Result<(), Error> {
        self.cache.set_item(key, value).await
    }

    async fn del_item(&self, key: &str) -> Result<bool, Error> {
        self.cache.del_item(key).await
    }

    async fn len(&self) -> Result<usize, Error> {
        self.cache.len().await
    }

    async fn is_empty(&self) -> Result<bool, Error> {
        self.cache.is_empty().await
    }

    async fn contains(&self, key: &str) -> Result<bool, Error> {
        self.cache.contains(key).await
    }

    async fn get(&self, key: &str) -> Result<Option<V>, Error> {
        self.cache.get(key).await
    }

    async fn setdefault(&self, key: &str, default: V) -> Result<V, Error> {
        self.cache.setdefault(key, default).await
    }

    async fn clear(&self) -> Result<(), Error> {
        self.cache.clear().await
    }

    async fn pop(&self, key: &str) -> Result<Option<V>, Error> {
        self.cache.pop(key).await
    }

    async fn popitem(&self) -> Result<Option<(String, V)>, Error> {
        self.cache.popitem().await
    }

    async fn set(&self, key: &str, value: V) -> Result<(), Error> {
        self.cache.set(key, value).await
    }

    async fn setx(&self, key: &str, value: V, ttl: Option<Duration>) -> Result<(), Error> {
        self.cache.setx(key, value, ttl).await
    }

    async fn set_negative(&self, key: &str) -> Result<(), Error> {
        self.cache.set_negative(key).await
    }

    async fn ttl(&self, key: &str) -> Result<Ttl, Error> {
        self.cache.ttl(key).await
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool, Error> {
        self.cache.expire(key, ttl).await
    }

    async fn incr(&self, key: &str, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        self.cache.incr(key, amount).await
    }

    async fn decr(&self, key: &str, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        self.cache.decr(key, amount).await
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        self.cache.keys().await
    }

    async fn values(&self) -> Result<Vec<V>, Error> {
        self.cache.values().await
    }

    async fn items(&self) -> Result<Vec<(String, V)>, Error> {
        self.cache.items().await
    }

    fn iter_keys(&self) -> impl Stream<Item = Result<String, Error>> + Send {
        self.cache.iter_keys()
    }

    async fn close(&self) -> Result<(), Error> {
        self.cache.close().await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, Error> {
        self.cache.get_many(keys).await
    }

    async fn set_many(&self, items: Vec<(&str, V)>) -> Result<(), Error> {
        self.cache.set_many(items).await
    }

    async fn get_or_load<F>(&self, key: &str, load: F) -> Result<V, Error>
    where
        F: Future<Output = V> + Send,
        V: Send,
    {
        self.cache.get_or_load(key, Box::pin(load)).await
    }

    async fn try_get_or_load<F, E>(&self, key: &str, load: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>> + Send,
        E: From<Error> + Send,
    {
        let failure = Failure::new();
        let answer =
            self.cache.try_get_or_load(key, Box::pin(async { failure.keep(load.await) })).await;
        failure.answer(answer)
    }

    async fn load<F, E>(&self, key: &str, load: F) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Loaded<V>, E>> + Send,
        E: From<Error> + Send,
    {
        let failure = Failure::new();
        let answer = self.cache.load(key, Box::pin(async { failure.keep(load.await) })).await;
        failure.answer(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Mine {
        Upstream(u32),
        Cache(Error),
    }

    impl From<Error> for Mine {
        fn from(e: Error) -> Self {
            Mine::Cache(e)
        }
    }

    #[test]
    fn a_kept_error_wins_over_the_placeholder_and_the_backends_own_errors_convert() {
        let failure = Failure::<Mine>::new();
        let placeholder = failure.keep::<()>(Err(Mine::Upstream(3)));
        assert_eq!(placeholder, Err(loader_failed()));
        assert_eq!(failure.answer::<()>(placeholder), Err(Mine::Upstream(3)));

        let failure = Failure::<Mine>::new();
        assert_eq!(failure.keep(Ok::<_, Mine>(5)), Ok(5));
        assert_eq!(failure.answer::<()>(Err(Error::Closed)), Err(Mine::Cache(Error::Closed)));

        let failure = Failure::<Mine>::new();
        assert_eq!(failure.answer(Ok(1)), Ok(1));
    }
}
