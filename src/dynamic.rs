//! [`DynKvCache`]: the [`KvCache`] interface as a dyn-compatible trait, for
//! code that picks its backend at run time.
//!
//! `KvCache` cannot be a trait object: its methods return `impl Future`
//! and its loading methods are generic over the loader. `DynKvCache` has
//! the same methods with the futures and streams boxed
//! ([`BoxFuture`], [`BoxStream`]) and the loaders boxed too, their error
//! fixed to [`Error`]. Every `KvCache` is a `DynKvCache` (a blanket impl),
//! so `&dyn DynKvCache<V>`, `Box<dyn DynKvCache<V>>` and
//! `Arc<dyn DynKvCache<V>>` hold any backend.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

use crate::counter::Counter;
use crate::error::Error;
use crate::keys::KeyBuilder;
use crate::kv::KvCache;
use crate::lookup::{Loaded, Lookup, Ttl};

/// A boxed `Send` future borrowing for `'a`: what [`DynKvCache`]'s methods
/// return and its loaders take.
///
/// The same type as `futures::future::BoxFuture`, so either name can be
/// used.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed `Send` stream borrowing for `'a`: what
/// [`DynKvCache::iter_keys`] returns.
///
/// The same type as `futures::stream::BoxStream`.
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;

/// The [`KvCache`] interface as a dyn-compatible trait: the same methods
/// with the same semantics, returning boxed futures and streams.
///
/// Every `KvCache<V>` implements it (for `V: Send + 'static`), so a
/// `&dyn DynKvCache<V>`, `Box<dyn DynKvCache<V>>` or
/// `Arc<dyn DynKvCache<V>>` can hold an [`AsyncCache`](crate::AsyncCache),
/// a `RedisCache` or any other backend.
///
/// # When to use it
///
/// Where the backend is picked at run time and the code that calls the
/// cache should not be generic over it: a cache stored in a struct field
/// or a map of caches, a plugin boundary, a function that must not be
/// compiled once per backend. Code that knows its backend at compile time,
/// or can be generic (`C: KvCache<V>`), should use `KvCache`: it is
/// cheaper.
///
/// # Cost
///
/// Each call allocates its future once (a `Box`, freed when the future
/// ends) and polls it through a virtual call; a loading call boxes its
/// loader as well. For the in-memory cache, whose calls take tens of
/// nanoseconds, that allocation is a sizeable part of a call; for a network
/// backend it is lost in the round trip.
///
/// # Loaders
///
/// The loaders of [`get_or_load`](DynKvCache::get_or_load),
/// [`try_get_or_load`](DynKvCache::try_get_or_load) and
/// [`load`](DynKvCache::load) are boxed futures whose error is [`Error`]:
/// map your error into one (for example as an [`Error::Backend`] with your
/// error as its cause), or use `AnyCache` (the `config` feature), which
/// implements `KvCache` over a `DynKvCache` and hands a loader's own error
/// type back to its caller.
///
/// # Method names
///
/// The methods have `KvCache`'s names, so a concrete cache with both
/// traits in scope makes a call like `cache.get(key)` ambiguous. Import
/// `DynKvCache` where trait objects are used, or call through the trait:
/// `DynKvCache::get(&cache, key)`.
///
/// # Errors
///
/// Each method returns what its `KvCache` counterpart returns (see the
/// [`KvCache` docs](KvCache#errors-every-method-can-return)).
///
/// # Example
///
/// ```
/// # futures::executor::block_on(async {
/// use wheelcache::{AsyncCache, Cache, DynKvCache, Error, KeyBuilder, Loaded};
///
/// /// Compiled once, whatever the backend.
/// async fn greet(cache: &dyn DynKvCache<String>, user: &str) -> Result<String, Error> {
///     let key = cache.key_builder().build(["greeting", user]);
///     let name = user.to_string();
///     let found = cache
///         .load(&key, Box::pin(async move { Ok(Loaded::Value(format!("hello, {name}"))) }))
///         .await?;
///     Ok(found.unwrap_or_default())
/// }
///
/// let caches: Vec<Box<dyn DynKvCache<String>>> =
///     vec![Box::new(AsyncCache::new(Cache::new(), KeyBuilder::new("app")))];
/// for cache in &caches {
///     assert_eq!(greet(cache.as_ref(), "ada").await?, "hello, ada");
///     assert_eq!(cache.get("app:greeting:ada").await?.as_deref(), Some("hello, ada"));
/// }
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
pub trait DynKvCache<V>: Send + Sync {
    /// [`KvCache::key_builder`].
    fn key_builder(&self) -> &KeyBuilder;

    /// [`KvCache::get_item`].
    fn get_item<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Lookup<V>, Error>>;

    /// [`KvCache::set_item`].
    fn set_item<'a>(&'a self, key: &'a str, value: V) -> BoxFuture<'a, Result<(), Error>>;

    /// [`KvCache::del_item`].
    fn del_item<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>>;

    /// [`KvCache::len`].
    fn len(&self) -> BoxFuture<'_, Result<usize, Error>>;

    /// [`KvCache::is_empty`].
    fn is_empty(&self) -> BoxFuture<'_, Result<bool, Error>>;

    /// [`KvCache::contains`].
    fn contains<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>>;

    /// [`KvCache::get`].
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<V>, Error>>;

    /// [`KvCache::setdefault`].
    fn setdefault<'a>(&'a self, key: &'a str, default: V) -> BoxFuture<'a, Result<V, Error>>;

    /// [`KvCache::clear`].
    fn clear(&self) -> BoxFuture<'_, Result<(), Error>>;

    /// [`KvCache::pop`].
    fn pop<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<V>, Error>>;

    /// [`KvCache::popitem`].
    fn popitem(&self) -> BoxFuture<'_, Result<Option<(String, V)>, Error>>;

    /// [`KvCache::set`].
    fn set<'a>(&'a self, key: &'a str, value: V) -> BoxFuture<'a, Result<(), Error>>;

    /// [`KvCache::setx`].
    fn setx<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// [`KvCache::set_negative`].
    fn set_negative<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>>;

    /// [`KvCache::ttl`].
    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Ttl, Error>>;

    /// [`KvCache::expire`].
    fn expire<'a>(
        &'a self,
        key: &'a str,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, Error>>;

    /// [`KvCache::incr`].
    fn incr<'a>(&'a self, key: &'a str, amount: i64) -> BoxFuture<'a, Result<i64, Error>>
    where
        V: Counter;

    /// [`KvCache::decr`].
    fn decr<'a>(&'a self, key: &'a str, amount: i64) -> BoxFuture<'a, Result<i64, Error>>
    where
        V: Counter;

    /// [`KvCache::keys`].
    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>, Error>>;

    /// [`KvCache::values`].
    fn values(&self) -> BoxFuture<'_, Result<Vec<V>, Error>>;

    /// [`KvCache::items`].
    fn items(&self) -> BoxFuture<'_, Result<Vec<(String, V)>, Error>>;

    /// [`KvCache::iter_keys`].
    fn iter_keys(&self) -> BoxStream<'_, Result<String, Error>>;

    /// [`KvCache::close`].
    fn close(&self) -> BoxFuture<'_, Result<(), Error>>;

    /// [`KvCache::get_many`].
    fn get_many<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Option<V>>, Error>>;

    /// [`KvCache::set_many`].
    fn set_many<'a>(&'a self, items: Vec<(&'a str, V)>) -> BoxFuture<'a, Result<(), Error>>;

    /// [`KvCache::get_or_load`], with the loader boxed.
    fn get_or_load<'a>(
        &'a self,
        key: &'a str,
        load: BoxFuture<'a, V>,
    ) -> BoxFuture<'a, Result<V, Error>>;

    /// [`KvCache::try_get_or_load`], with the loader boxed and its error
    /// an [`Error`].
    fn try_get_or_load<'a>(
        &'a self,
        key: &'a str,
        load: BoxFuture<'a, Result<V, Error>>,
    ) -> BoxFuture<'a, Result<V, Error>>;

    /// [`KvCache::load`], with the loader boxed and its error an
    /// [`Error`].
    fn load<'a>(
        &'a self,
        key: &'a str,
        load: BoxFuture<'a, Result<Loaded<V>, Error>>,
    ) -> BoxFuture<'a, Result<Option<V>, Error>>;
}

/// Each method boxes the future of the `KvCache` method of the same name.
impl<V, C> DynKvCache<V> for C
where
    C: KvCache<V>,
    V: Send + 'static,
{
    fn key_builder(&self) -> &KeyBuilder {
        KvCache::key_builder(self)
    }

    fn get_item<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Lookup<V>, Error>> {
        Box::pin(KvCache::get_item(self, key))
    }

    fn set_item<'a>(&'a self, key: &'a str, value: V) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(KvCache::set_item(self, key, value))
    }

    fn del_item<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(KvCache::del_item(self, key))
    }

    fn len(&self) -> BoxFuture<'_, Result<usize, Error>> {
        Box::pin(KvCache::len(self))
    }

    fn is_empty(&self) -> BoxFuture<'_, Result<bool, Error>> {
        Box::pin(KvCache::is_empty(self))
    }

    fn contains<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(KvCache::contains(self, key))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<V>, Error>> {
        Box::pin(KvCache::get(self, key))
    }

    fn setdefault<'a>(&'a self, key: &'a str, default: V) -> BoxFuture<'a, Result<V, Error>> {
        Box::pin(KvCache::setdefault(self, key, default))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(KvCache::clear(self))
    }

    fn pop<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<V>, Error>> {
        Box::pin(KvCache::pop(self, key))
    }

    fn popitem(&self) -> BoxFuture<'_, Result<Option<(String, V)>, Error>> {
        Box::pin(KvCache::popitem(self))
    }

    fn set<'a>(&'a self, key: &'a str, value: V) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(KvCache::set(self, key, value))
    }

    fn setx<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(KvCache::setx(self, key, value, ttl))
    }

    fn set_negative<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(KvCache::set_negative(self, key))
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Ttl, Error>> {
        Box::pin(KvCache::ttl(self, key))
    }

    fn expire<'a>(
        &'a self,
        key: &'a str,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(KvCache::expire(self, key, ttl))
    }

    fn incr<'a>(&'a self, key: &'a str, amount: i64) -> BoxFuture<'a, Result<i64, Error>>
    where
        V: Counter,
    {
        Box::pin(KvCache::incr(self, key, amount))
    }

    fn decr<'a>(&'a self, key: &'a str, amount: i64) -> BoxFuture<'a, Result<i64, Error>>
    where
        V: Counter,
    {
        Box::pin(KvCache::decr(self, key, amount))
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>, Error>> {
        Box::pin(KvCache::keys(self))
    }

    fn values(&self) -> BoxFuture<'_, Result<Vec<V>, Error>> {
        Box::pin(KvCache::values(self))
    }

    fn items(&self) -> BoxFuture<'_, Result<Vec<(String, V)>, Error>> {
        Box::pin(KvCache::items(self))
    }

    fn iter_keys(&self) -> BoxStream<'_, Result<String, Error>> {
        Box::pin(KvCache::iter_keys(self))
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(KvCache::close(self))
    }

    fn get_many<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Option<V>>, Error>> {
        Box::pin(KvCache::get_many(self, keys))
    }

    fn set_many<'a>(&'a self, items: Vec<(&'a str, V)>) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(KvCache::set_many(self, items))
    }

    fn get_or_load<'a>(
        &'a self,
        key: &'a str,
        load: BoxFuture<'a, V>,
    ) -> BoxFuture<'a, Result<V, Error>> {
        Box::pin(KvCache::get_or_load(self, key, load))
    }

    fn try_get_or_load<'a>(
        &'a self,
        key: &'a str,
        load: BoxFuture<'a, Result<V, Error>>,
    ) -> BoxFuture<'a, Result<V, Error>> {
        Box::pin(KvCache::try_get_or_load(self, key, load))
    }

    fn load<'a>(
        &'a self,
        key: &'a str,
        load: BoxFuture<'a, Result<Loaded<V>, Error>>,
    ) -> BoxFuture<'a, Result<Option<V>, Error>> {
        Box::pin(KvCache::load(self, key, load))
    }
}
