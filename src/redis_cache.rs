//! [`RedisCache`]: the [`KvCache`] trait on a Redis server (the `redis`
//! feature).
//!
//! ## Ground rules
//!
//! - **Connection.** One `redis::aio::ConnectionManager` per
//!   [`RedisCache::connect`]: a multiplexed connection that reconnects by
//!   itself. A call that meets a dead connection fails with
//!   [`Error::Backend`] and starts a reconnect; calls after the server is
//!   back succeed. Nothing panics when the server goes away.
//! - **Outcome of a failure.** Every [`Error::Backend`] says what the call
//!   did ([`BackendError::outcome`]). A request that only reads changed
//!   nothing, however it failed. A write that failed before it was sent
//!   (refused connection, failed handshake) or that the server answered
//!   with an error changed nothing; a write sent without an answer
//!   (timeout, connection lost in flight) may have been applied: the server
//!   can still run it after the call has returned. `write_outcome` sorts
//!   redis-rs's errors into the two.
//! - **Values** are stored in the text format of `format.rs`: strings as
//!   their text, integers as decimal text, the rest as JSON. A negative
//!   marker is a byte string that is not UTF-8, so no value can look like
//!   one.
//! - **Atomicity.** A call is one Redis command, one `MULTI` transaction or
//!   one Lua script (`scripts.rs`), so it is atomic wherever the in-memory
//!   call is: `setdefault`, `pop`, `popitem`, `incr`, `expire`; and
//!   `get_many` (one `MGET`) and `set_many` (one transaction) are atomic
//!   too. The calls over the whole namespace (`len`, `keys`, `values`,
//!   `items`, `clear`, `iter_keys`) walk it with `SCAN`, a page at a time,
//!   like the in-memory cache walks its shards: not a snapshot of one
//!   instant.
//! - **Loading** is single flight within this process (`flights.rs`):
//!   callers in other processes may load the same key at the same time.
//! - **Namespace.** Whole-namespace calls see only the keys matching
//!   `prefix + split + *`, found with `SCAN` (never `KEYS`, which blocks the
//!   server). Other keys of the database are never read or touched.
//! - **Closing** drops this handle's connection; every later call is
//!   [`Error::Closed`].

mod flights;
mod format;
mod options;
mod scripts;
mod stream;

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_core::Stream;
use parking_lot::RwLock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::counter::Counter;
use crate::error::{BackendError, Error, Outcome};
use crate::flight::{Landing, Loader};
use crate::keys::KeyBuilder;
use crate::kv::KvCache;
use crate::lookup::{Loaded, Lookup, Ttl};

use self::flights::{Begin, Flights, LoadGuard, LOOKS};
use self::format::{decode, encode, NEGATIVE};
pub use self::options::RedisOptions;
use self::stream::KeyStream;

/// How many keys one `SCAN` call asks for.
const PAGE: usize = 256;

/// The longest TTL sent to Redis, in ms (about 146 million years): Redis
/// refuses a deadline past `i64::MAX` ms, so longer TTLs are capped here.
const MAX_TTL_MS: u64 = 1 << 62;

/// The [`KvCache`] on a Redis server (6.2 or later): the same calls, the
/// same semantics as [`AsyncCache`](crate::AsyncCache), shared by every
/// process that connects to the server.
///
/// - Values are `serde` values, stored as text: a string as itself, an
///   integer as its decimal text, anything else as JSON (so a `String`
///   `"41"` and an integer `41` are both stored as `41`, and Redis's
///   `INCRBY` counts either, as the in-memory cache does).
/// - Negative markers are a reserved non-UTF-8 byte string that no value
///   can equal; they never appear in `get`, `contains`, `len`, `keys`,
///   `values`, `items`, `popitem` or `iter_keys`.
/// - `setdefault`, `pop`, `popitem`, `incr` and `expire` are atomic (one
///   command, a transaction or a Lua script), and so are the batches:
///   `get_many` is one `MGET`, `set_many` one `MULTI`/`EXEC` transaction
///   (sent in one round trip), so no client ever sees part of a batch.
/// - Whole-namespace calls (`len`, `keys`, `values`, `items`, `clear`,
///   `popitem`, `iter_keys`) see only the keys under the key builder's
///   prefix, walked with `SCAN`.
///
/// # Differences from the in-memory cache
///
/// - Redis keeps deadlines in whole milliseconds: a TTL is rounded up to
///   the next millisecond, and TTLs longer than about 146 million years are
///   capped there (the in-memory cache saturates at about 584 years).
///   A key is gone once its deadline's millisecond has passed.
/// - Counters are the values Redis can count: a value stored as decimal
///   text (`String`s and the primitive integers). `incr` on a value of a
///   custom [`Counter`] type that serializes otherwise is
///   [`Error::NotAnInteger`].
/// - A value that does not decode as `V` (written by another program, or
///   under another value type) is [`Error::Backend`]; `pop` and `popitem`
///   have removed it by then.
/// - `iter_keys` remembers the keys it has yielded (SCAN may return a key
///   twice), so it holds memory in proportion to the keys walked.
/// - Keys of the namespace written by other programs as other Redis types
///   (lists, hashes) are not entries: whole-namespace calls skip them
///   (except `clear`, which removes every key of the namespace), and a
///   call on such a key is [`Error::Backend`] (Redis's `WRONGTYPE`).
/// - The in-memory cache's failed calls change nothing; a failed call
///   here can have changed the cache, and its error says whether
///   ([`BackendError::outcome`], below).
///
/// # What a failed call did
///
/// | failure | outcome |
/// |---|---|
/// | any failure of a call that only reads (`get`, `get_item`, `get_many`, `contains`, `ttl`, `len`, `is_empty`, `keys`, `values`, `items`, `iter_keys`) | [`Outcome::NotApplied`] |
/// | no tokio runtime, a value that does not encode, a refused connection, a failed handshake | [`Outcome::NotApplied`]: nothing was sent |
/// | an error answer of the server (`WRONGTYPE`, `OOM`, `READONLY`, a script's error) | [`Outcome::NotApplied`]: the server ran nothing of the call |
/// | a write that timed out (see [`RedisOptions::response_timeout`]), or whose connection was closed or reset before the answer | [`Outcome::Unknown`]: the server may have run it, or may still |
/// | `clear` failing after it removed keys | [`Outcome::Unknown`]: the keys removed stay removed |
/// | `pop`, `popitem`: the removed value does not decode as `V` | [`Outcome::Applied`] |
/// | `incr`: the stored counter does not fit a custom [`Counter`] (not an interval) | [`Outcome::Applied`] |
///
/// A timeout while reconnecting is [`Outcome::Unknown`] too: redis-rs
/// reports it exactly as a timeout waiting for an answer. Before calling
/// `incr`, `decr`, `pop` or `popitem` again after [`Outcome::Unknown`],
/// read the entry: the first call may have been applied.
///
/// # Loading
///
/// `get_or_load`, `try_get_or_load` and `load` are single flight within
/// this process: concurrent callers for one key, through this cache, its
/// clones or the caches [`with_key_builder`](RedisCache::with_key_builder)
/// makes from it, run one loader; the others wait for its result without
/// blocking a thread. Other processes (and caches connected on their own)
/// do not take part: they may run their own loader for the same key at the
/// same time, and the last to store wins.
///
/// A hit costs one `GET` and returns without running the loader. A loader
/// that fails, panics or is dropped, or whose result cannot be stored,
/// leaves nothing behind (what the key held stays), and a waiting caller
/// runs its own loader. A loader that asks for its own key in the same
/// task does not wait for itself: it loads again. The loaded value is
/// stored as `set` stores it (the default TTL), [`Loaded::ValueWithTtl`]
/// as `setx` does, [`Loaded::Absent`] as a negative marker; the callers
/// that waited decode the stored text, as `get` would.
///
/// A failed store is reported as that write's failure ([`Error::Backend`]
/// with its outcome) and the loaded value is lost with it.
///
/// # Runtime
///
/// The connection runs on tokio: connect and call from inside a tokio
/// runtime (a call awaited elsewhere is [`Error::Backend`]). The futures
/// are `Send`.
///
/// `Clone` is a cheap handle: clones share the connection and the closed
/// state.
///
/// # Example
///
/// ```no_run
/// # async fn run() -> Result<(), wheelcache::Error> {
/// use std::time::Duration;
/// use wheelcache::{KeyBuilder, KvCache, Lookup, RedisCache, RedisOptions};
///
/// let options = RedisOptions::new().negative_ttl(Duration::from_secs(30));
/// let cache: RedisCache<String> =
///     RedisCache::connect("redis://127.0.0.1:6379", KeyBuilder::new("app"), options).await?;
/// let key = cache.key_builder().build(["user", "42"]);
/// cache.setx(&key, "ada".to_string(), Some(Duration::from_secs(60))).await?;
/// assert_eq!(cache.get(&key).await?.as_deref(), Some("ada"));
/// cache.set_negative(&cache.key_builder().build(["user", "404"])).await?;
/// assert_eq!(cache.get_item("app:user:404").await?, Lookup::Negative);
/// # Ok(())
/// # }
/// ```
pub struct RedisCache<V> {
    core: Arc<Core>,
    /// `fn() -> V`: the cache holds no `V`, so it is `Send + Sync` whatever `V`.
    values: PhantomData<fn() -> V>,
}

/// What every clone of one [`RedisCache`] shares.
struct Core {
    /// The connection; `None` once closed. Each call clones the manager
    /// (an `Arc`) out under the read lock and never holds the lock across
    /// an await.
    manager: RwLock<Option<ConnectionManager>>,
    keys: KeyBuilder,
    /// `SCAN`'s `MATCH` pattern of the namespace: the escaped prefix and
    /// split, then `*`.
    pattern: String,
    options: RedisOptions,
    /// The TTLs as Redis takes them: whole milliseconds.
    default_ttl_ms: Option<u64>,
    negative_ttl_ms: u64,
    /// The value type's counter range as decimal text (empty for `i64`'s
    /// own bound), worked out on the first `incr`.
    counter_range: OnceLock<(String, String)>,
    /// The loads in flight in this process, shared with the caches
    /// `with_key_builder` makes.
    flights: Arc<Flights>,
}

impl<V> Clone for RedisCache<V> {
    fn clone(&self) -> Self {
        RedisCache { core: self.core.clone(), values: PhantomData }
    }
}

impl<V> fmt::Debug for RedisCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("key_builder", &self.core.keys)
            .field("closed", &self.is_closed())
            .field("options", &self.core.options)
            .finish()
    }
}

impl<V> RedisCache<V> {
    /// Connects to the Redis server at `url` (`redis://host:port/db`, with
    /// an optional `user:password@`), for the keys of `key_builder`.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] if the URL is invalid, the server cannot be
    /// reached within the connection attempts, there is no tokio runtime,
    /// or `options` holds a zero default or negative TTL (the cause is then
    /// the [`BuildError`](crate::BuildError)).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), wheelcache::Error> {
    /// use wheelcache::{KeyBuilder, RedisCache, RedisOptions};
    ///
    /// let cache: RedisCache<u64> =
    ///     RedisCache::connect("redis://127.0.0.1/", KeyBuilder::new("app"), RedisOptions::new())
    ///         .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(
        url: &str,
        key_builder: KeyBuilder,
        options: RedisOptions,
    ) -> Result<Self, Error> {
        options.check().map_err(|e| backend("invalid RedisOptions", e, Outcome::NotApplied))?;
        tokio_runtime()?;
        let client = redis::Client::open(url).map_err(read_failed("URL parsing"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.reconnect_attempts);
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(read_failed("connection"))?;
        Ok(Self::from_parts(Some(manager), key_builder, options, Flights::new()))
    }

    /// Another cache on this one's connection, for the keys of
    /// `key_builder`, with the same options. It has its own closed state
    /// (a closed cache gives a closed one), and shares this one's loads in
    /// flight (see [`try_get_or_load`](KvCache::try_get_or_load)).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn run(cache: wheelcache::RedisCache<String>) -> Result<(), wheelcache::Error> {
    /// use wheelcache::{KeyBuilder, KvCache};
    ///
    /// let sessions = cache.with_key_builder(KeyBuilder::new("sessions"));
    /// sessions.clear().await?; // only keys under "sessions:"
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_key_builder(&self, key_builder: KeyBuilder) -> Self {
        let manager = self.core.manager.read().clone();
        let flights = self.core.flights.clone();
        Self::from_parts(manager, key_builder, self.core.options.clone(), flights)
    }

    fn from_parts(
        manager: Option<ConnectionManager>,
        keys: KeyBuilder,
        options: RedisOptions,
        flights: Arc<Flights>,
    ) -> Self {
        let pattern = format!("{}{}*", glob_escape(keys.prefix()), glob_escape(keys.split_char()));
        let core = Core {
            manager: RwLock::new(manager),
            keys,
            pattern,
            default_ttl_ms: options.default_ttl.map(ttl_ms),
            negative_ttl_ms: ttl_ms(options.negative_ttl),
            options,
            counter_range: OnceLock::new(),
            flights,
        };
        RedisCache { core: Arc::new(core), values: PhantomData }
    }

    /// The options the cache was connected with.
    pub fn options(&self) -> &RedisOptions {
        &self.core.options
    }

    /// Whether [`close`](KvCache::close) has been called on this cache (or
    /// a clone).
    pub fn is_closed(&self) -> bool {
        self.core.manager.read().is_none()
    }

    /// The connection, unless closed or `key` is outside the namespace
    /// (`Closed` wins).
    fn conn_for(&self, key: &str) -> Result<ConnectionManager, Error> {
        let conn = self.core.conn()?;
        if self.core.keys.validate(key) {
            Ok(conn)
        } else {
            Err(Error::InvalidKey)
        }
    }

    /// The connection, unless closed or any of `keys` is outside the
    /// namespace (`Closed` wins).
    fn conn_for_all<'k>(
        &self,
        mut keys: impl Iterator<Item = &'k str>,
    ) -> Result<ConnectionManager, Error> {
        let conn = self.core.conn()?;
        if keys.all(|k| self.core.keys.validate(k)) {
            Ok(conn)
        } else {
            Err(Error::InvalidKey)
        }
    }

    /// Stores `value` under `key` for `ttl_ms` (no expiry if `None`).
    async fn store(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), Error> {
        let mut conn = self.conn_for(key)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        if let Some(ms) = ttl_ms {
            cmd.arg("PX").arg(ms);
        }
        cmd.query_async::<()>(&mut conn).await.map_err(write_failed("SET"))
    }
}

impl<V> RedisCache<V>
where
    V: Serialize + DeserializeOwned + Send,
{
    /// Single-flight loading, for `try_get_or_load` (`markers` false: a
    /// negative marker counts as absent, and `load` always finds a value)
    /// and `load` (`markers` true: a live marker answers `None`).
    ///
    /// A hit returns after one `GET`, without a waker, a flight or a copy
    /// of the key. After a miss the caller waits for the load in flight,
    /// or registers one and runs `load`; see `flights.rs` for why it may
    /// look at the server again first.
    async fn single_flight<F, E>(&self, key: &str, markers: bool, load: F) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Loaded<V>, E>> + Send,
        E: From<Error> + Send,
    {
        let flights = &self.core.flights;
        let mut seen = flights.landings(key);
        match self.get_item(key).await? {
            Lookup::Hit(v) => return Ok(Some(v)),
            Lookup::Negative if markers => return Ok(None),
            Lookup::Negative | Lookup::Miss => {}
        }
        let me = Loader::this_task().await;
        let mut load = Some(load);
        let mut looks = 0;
        loop {
            match flights.begin(key, &me, seen, looks < LOOKS) {
                Begin::Look => looks += 1,
                Begin::Wait(flight) => {
                    looks = 0;
                    match flight.wait_async().await {
                        Landing::Value(bytes) => {
                            return Ok(Some(decode_value(key, &bytes, Outcome::NotApplied)?))
                        }
                        Landing::Absent if markers => return Ok(None),
                        // The loader gave up, or found nothing (which a
                        // marker does not answer here): look again.
                        Landing::Absent | Landing::Retry => {}
                    }
                }
                Begin::Load(guard) => {
                    let load = load.take().expect("a caller loads at most once: it returns after");
                    // An error, a panic or a drop of this future drops the
                    // guard, which abandons the load.
                    let loaded = load.await?;
                    return Ok(self.store_loaded(key, loaded, guard).await?);
                }
            }
            seen = flights.landings(key);
            match self.get_item(key).await? {
                Lookup::Hit(v) => return Ok(Some(v)),
                Lookup::Negative if markers => return Ok(None),
                Lookup::Negative | Lookup::Miss => {}
            }
        }
    }

    /// Stores what a loader found, as `set`, `setx` or `set_negative`
    /// would, then lands the flight; returns the value (`None`: absent).
    /// If storing fails the guard is dropped, and a waiter loads next.
    async fn store_loaded(
        &self,
        key: &str,
        loaded: Loaded<V>,
        guard: LoadGuard,
    ) -> Result<Option<V>, Error> {
        let (value, ttl_ms) = match loaded {
            Loaded::Value(v) => (v, self.core.default_ttl_ms),
            Loaded::ValueWithTtl(v, Some(Duration::ZERO)) => {
                // Stored already expired: removed. The callers still get
                // the value, as from the in-memory cache.
                let encoded = encode_value(&v)?;
                self.del_item(key).await?;
                guard.land(Landing::Value(encoded));
                return Ok(Some(v));
            }
            Loaded::ValueWithTtl(v, ttl) => (v, ttl.map(ttl_ms)),
            Loaded::Absent => {
                self.store(key, NEGATIVE, Some(self.core.negative_ttl_ms)).await?;
                guard.land(Landing::Absent);
                return Ok(None);
            }
        };
        let encoded = encode_value(&value)?;
        self.store(key, &encoded, ttl_ms).await?;
        guard.land(Landing::Value(encoded));
        Ok(Some(value))
    }
}

impl Core {
    /// The connection, unless closed; an error outside a tokio runtime,
    /// where redis-rs would panic (its timeouts and reconnects need one).
    fn conn(&self) -> Result<ConnectionManager, Error> {
        let conn = self.manager.read().clone().ok_or(Error::Closed)?;
        tokio_runtime()?;
        Ok(conn)
    }

    /// One `SCAN` page of the namespace from `cursor`: the next cursor (0
    /// when done) and the keys. `strings` keeps only string keys (the
    /// others are not entries).
    async fn scan(
        &self,
        conn: &mut ConnectionManager,
        cursor: u64,
        strings: bool,
    ) -> Result<(u64, Vec<Vec<u8>>), Error> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(&self.pattern).arg("COUNT").arg(PAGE);
        if strings {
            cmd.arg("TYPE").arg("string");
        }
        cmd.query_async(conn).await.map_err(read_failed("SCAN"))
    }

    /// One `SCAN` page of the namespace's string keys that are UTF-8 (a
    /// key of this cache is a `&str`).
    async fn scan_keys(
        &self,
        conn: &mut ConnectionManager,
        cursor: u64,
    ) -> Result<(u64, Vec<String>), Error> {
        let (next, keys) = self.scan(conn, cursor, true).await?;
        Ok((next, keys.into_iter().filter_map(|k| String::from_utf8(k).ok()).collect()))
    }

    /// One page of live keys (values, not markers) from `cursor`.
    async fn live_page(
        &self,
        conn: &mut ConnectionManager,
        cursor: u64,
    ) -> Result<(u64, Vec<String>), Error> {
        let (next, keys) = self.scan_keys(conn, cursor).await?;
        if keys.is_empty() {
            return Ok((next, keys));
        }
        let flags: Vec<u8> = invoke(
            &scripts::LIVE_FLAGS,
            &keys,
            &[NEGATIVE],
            conn,
            read_failed("LIVE_FLAGS script"),
        )
        .await?;
        let live = keys.into_iter().zip(flags).filter(|&(_, f)| f == 1).map(|(k, _)| k).collect();
        Ok((next, live))
    }

    /// Every live key, once each.
    async fn live_keys(&self) -> Result<Vec<String>, Error> {
        let mut conn = self.conn()?;
        let (mut cursor, mut seen, mut keys) = (0, HashSet::new(), Vec::new());
        loop {
            let (next, page) = self.live_page(&mut conn, cursor).await?;
            keys.extend(page.into_iter().filter(|k| seen.insert(k.clone())));
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// Every live entry, once each, as stored bytes.
    async fn live_entries(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut conn = self.conn()?;
        let (mut cursor, mut seen, mut entries) = (0, HashSet::new(), Vec::new());
        loop {
            let (next, mut keys) = self.scan_keys(&mut conn, cursor).await?;
            keys.retain(|k| seen.insert(k.clone()));
            if !keys.is_empty() {
                let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(read_failed("MGET"))?;
                entries.extend(
                    keys.into_iter()
                        .zip(values)
                        .filter_map(|(k, v)| v.filter(|v| v != NEGATIVE).map(|v| (k, v))),
                );
            }
            if next == 0 {
                return Ok(entries);
            }
            cursor = next;
        }
    }
}

/// Calls the cache's backend exactly as [`AsyncCache`](crate::AsyncCache)
/// calls its core: check, one round trip (or one per `SCAN` page), map the
/// answer.
impl<V> KvCache<V> for RedisCache<V>
where
    V: Serialize + DeserializeOwned + Send,
{
    fn key_builder(&self) -> &KeyBuilder {
        &self.core.keys
    }

    async fn get_item(&self, key: &str) -> Result<Lookup<V>, Error> {
        let mut conn = self.conn_for(key)?;
        let bytes: Option<Vec<u8>> =
            redis::cmd("GET").arg(key).query_async(&mut conn).await.map_err(read_failed("GET"))?;
        Ok(match bytes {
            None => Lookup::Miss,
            Some(b) if b == NEGATIVE => Lookup::Negative,
            Some(b) => Lookup::Hit(decode_value(key, &b, Outcome::NotApplied)?),
        })
    }

    async fn del_item(&self, key: &str) -> Result<bool, Error> {
        let mut conn = self.conn_for(key)?;
        let removed: u64 =
            redis::cmd("DEL").arg(key).query_async(&mut conn).await.map_err(write_failed("DEL"))?;
        Ok(removed > 0)
    }

    async fn len(&self) -> Result<usize, Error> {
        Ok(self.core.live_keys().await?.len())
    }

    async fn contains(&self, key: &str) -> Result<bool, Error> {
        let mut conn = self.conn_for(key)?;
        let found: u8 = invoke(
            &scripts::CONTAINS,
            &[key],
            &[NEGATIVE],
            &mut conn,
            read_failed("CONTAINS script"),
        )
        .await?;
        Ok(found == 1)
    }

    async fn setdefault(&self, key: &str, default: V) -> Result<V, Error> {
        let mut conn = self.conn_for(key)?;
        let encoded = encode_value(&default)?;
        let ttl = self.core.default_ttl_ms.map(|ms| ms.to_string()).unwrap_or_default();
        let args: [&[u8]; 3] = [NEGATIVE, &encoded, ttl.as_bytes()];
        let existing: Option<Vec<u8>> = invoke(
            &scripts::SETDEFAULT,
            &[key],
            &args,
            &mut conn,
            write_failed("SETDEFAULT script"),
        )
        .await?;
        match existing {
            // The script found a value and wrote nothing.
            Some(bytes) => decode_value(key, &bytes, Outcome::NotApplied),
            None => Ok(default),
        }
    }

    async fn clear(&self) -> Result<(), Error> {
        let mut conn = self.core.conn()?;
        let (mut cursor, mut removed) = (0, 0);
        loop {
            let page = async {
                let (next, keys) = self.core.scan(&mut conn, cursor, false).await?;
                if keys.is_empty() {
                    return Ok((next, 0));
                }
                let unlinked: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(write_failed("UNLINK"))?;
                Ok((next, unlinked))
            };
            let (next, unlinked) = match page.await {
                Ok(page) => page,
                // Keys an earlier page removed stay removed.
                Err(e) if removed > 0 => return Err(partly_applied(e)),
                Err(e) => return Err(e),
            };
            removed += unlinked;
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn pop(&self, key: &str) -> Result<Option<V>, Error> {
        let mut conn = self.conn_for(key)?;
        let bytes: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(write_failed("GETDEL"))?;
        match bytes {
            // Removed already: the value is lost with the error.
            Some(b) if b != NEGATIVE => Ok(Some(decode_value(key, &b, Outcome::Applied)?)),
            _ => Ok(None),
        }
    }

    async fn popitem(&self) -> Result<Option<(String, V)>, Error> {
        let mut conn = self.core.conn()?;
        let mut cursor = 0;
        loop {
            let (next, keys) = self.core.scan_keys(&mut conn, cursor).await?;
            if !keys.is_empty() {
                let popped: Option<(String, Vec<u8>)> = invoke(
                    &scripts::POPITEM,
                    &keys,
                    &[NEGATIVE],
                    &mut conn,
                    write_failed("POPITEM script"),
                )
                .await?;
                if let Some((key, bytes)) = popped {
                    // Removed already: the value is lost with the error.
                    let value = decode_value(&key, &bytes, Outcome::Applied)?;
                    return Ok(Some((key, value)));
                }
            }
            if next == 0 {
                return Ok(None);
            }
            cursor = next;
        }
    }

    async fn set(&self, key: &str, value: V) -> Result<(), Error> {
        let encoded = encode_value(&value)?;
        self.store(key, &encoded, self.core.default_ttl_ms).await
    }

    async fn setx(&self, key: &str, value: V, ttl: Option<Duration>) -> Result<(), Error> {
        if ttl == Some(Duration::ZERO) {
            // Stored already expired: removed.
            self.del_item(key).await?;
            return Ok(());
        }
        let encoded = encode_value(&value)?;
        self.store(key, &encoded, ttl.map(ttl_ms)).await
    }

    async fn set_negative(&self, key: &str) -> Result<(), Error> {
        self.store(key, NEGATIVE, Some(self.core.negative_ttl_ms)).await
    }

    async fn ttl(&self, key: &str) -> Result<Ttl, Error> {
        let mut conn = self.conn_for(key)?;
        let ms: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(read_failed("PTTL"))?;
        Ok(match ms {
            -1 => Ttl::Persistent,
            ms if ms < 0 => Ttl::Missing,
            ms => Ttl::Remaining(Duration::from_millis(ms as u64)),
        })
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool, Error> {
        let mut conn = self.conn_for(key)?;
        match ttl {
            // PERSIST answers "had a TTL"; the question is "exists".
            None => {
                let (exists, _): (u64, u64) = redis::pipe()
                    .atomic()
                    .cmd("EXISTS")
                    .arg(key)
                    .cmd("PERSIST")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .map_err(write_failed("PERSIST"))?;
                Ok(exists > 0)
            }
            Some(Duration::ZERO) => {
                let removed: u64 = redis::cmd("DEL")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .map_err(write_failed("DEL"))?;
                Ok(removed > 0)
            }
            Some(ttl) => {
                let done: u64 = redis::cmd("PEXPIRE")
                    .arg(key)
                    .arg(ttl_ms(ttl))
                    .query_async(&mut conn)
                    .await
                    .map_err(write_failed("PEXPIRE"))?;
                Ok(done > 0)
            }
        }
    }

    async fn incr(&self, key: &str, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        let mut conn = self.conn_for(key)?;
        let created = match V::from_counter(amount) {
            Some(v) => encode_value(&v)?,
            None => Vec::new(),
        };
        let (lo, hi) = self.core.counter_range.get_or_init(counter_range::<V>);
        let amount_text = amount.to_string();
        let ttl = self.core.default_ttl_ms.map(|ms| ms.to_string()).unwrap_or_default();
        let args: [&[u8]; 6] = [
            NEGATIVE,
            amount_text.as_bytes(),
            &created,
            ttl.as_bytes(),
            lo.as_bytes(),
            hi.as_bytes(),
        ];
        let (status, new): (u8, Option<String>) =
            invoke(&scripts::INCR, &[key], &args, &mut conn, write_failed("INCR script")).await?;
        match (status, new) {
            (0, Some(new)) => {
                // Status 0: the counter is stored already.
                let n: i64 = new.parse().map_err(|e| {
                    backend("redis INCRBY answered no integer", e, Outcome::Applied)
                })?;
                // Only a custom `Counter` whose range is not an interval
                // can get here with a value that does not fit; it is
                // stored, so this is no `Overflow` (which changes nothing).
                if V::from_counter(n).is_none() {
                    return Err(Error::Backend(
                        BackendError::msg(format!(
                            "redis INCRBY stored {n}, which the value type cannot hold"
                        ))
                        .with_outcome(Outcome::Applied),
                    ));
                }
                Ok(n)
            }
            (1, _) => Err(Error::NotAnInteger),
            (2, _) => Err(Error::Overflow),
            (status, _) => Err(Error::Backend(
                BackendError::msg(format!(
                    "redis INCRBY script answered the unknown status {status}"
                ))
                .with_outcome(Outcome::Unknown),
            )),
        }
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        self.core.live_keys().await
    }

    async fn values(&self) -> Result<Vec<V>, Error> {
        let entries = self.core.live_entries().await?;
        entries.into_iter().map(|(k, v)| decode_value(&k, &v, Outcome::NotApplied)).collect()
    }

    async fn items(&self) -> Result<Vec<(String, V)>, Error> {
        let entries = self.core.live_entries().await?;
        entries
            .into_iter()
            .map(|(k, v)| {
                let value = decode_value(&k, &v, Outcome::NotApplied)?;
                Ok((k, value))
            })
            .collect()
    }

    /// One `MGET`. A key holding another Redis type (a list, a hash) is
    /// `None` here, where `get` fails with `WRONGTYPE`.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, Error> {
        let mut conn = self.conn_for_all(keys.iter().copied())?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .map_err(read_failed("MGET"))?;
        if values.len() != keys.len() {
            return Err(Error::Backend(
                BackendError::msg(format!(
                    "redis MGET answered {} values for {} keys",
                    values.len(),
                    keys.len()
                ))
                .with_outcome(Outcome::NotApplied),
            ));
        }
        keys.iter()
            .zip(values)
            .map(|(key, bytes)| match bytes {
                Some(b) if b != NEGATIVE => decode_value(key, &b, Outcome::NotApplied).map(Some),
                _ => Ok(None),
            })
            .collect()
    }

    /// One `MULTI`/`EXEC` transaction of `SET`s, sent in one round trip:
    /// atomic, so no other client sees part of the batch, and a failure
    /// the server answers leaves none of it applied.
    async fn set_many(&self, items: Vec<(&str, V)>) -> Result<(), Error> {
        let mut conn = self.conn_for_all(items.iter().map(|&(k, _)| k))?;
        if items.is_empty() {
            return Ok(());
        }
        let mut batch = redis::pipe();
        batch.atomic();
        for (key, value) in &items {
            let cmd = batch.cmd("SET").arg(*key).arg(encode_value(value)?);
            if let Some(ms) = self.core.default_ttl_ms {
                cmd.arg("PX").arg(ms);
            }
            cmd.ignore();
        }
        batch.query_async::<()>(&mut conn).await.map_err(write_failed("MULTI/EXEC of SETs"))
    }

    /// Single flight within this process; see the [type docs](RedisCache#loading).
    async fn try_get_or_load<F, E>(&self, key: &str, load: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>> + Send,
        E: From<Error> + Send,
    {
        let loaded = async { load.await.map(Loaded::Value) };
        let found = self.single_flight(key, false, loaded).await?;
        Ok(found.expect("a value is found or loaded: markers count as absent here"))
    }

    /// Single flight within this process; see the [type docs](RedisCache#loading).
    async fn load<F, E>(&self, key: &str, load: F) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Loaded<V>, E>> + Send,
        E: From<Error> + Send,
    {
        self.single_flight(key, true, load).await
    }

    fn iter_keys(&self) -> impl Stream<Item = Result<String, Error>> + Send {
        KeyStream::new(self.core.clone())
    }

    async fn close(&self) -> Result<(), Error> {
        // Dropping this handle's manager closes the connection once no
        // call in flight and no other cache made by `with_key_builder`
        // still holds it.
        self.core.manager.write().take();
        Ok(())
    }
}

// ---- helpers --------------------------------------------------------------

/// Maps the failure of a request that cannot change the cache (a read, or
/// connecting): [`Outcome::NotApplied`], wherever it failed.
fn read_failed(what: &'static str) -> impl FnOnce(RedisError) -> Error {
    move |e| backend(format!("redis {what} failed"), e, Outcome::NotApplied)
}

/// Maps the failure of a request that writes: what it did follows from
/// where it failed ([`write_outcome`]).
fn write_failed(what: &'static str) -> impl FnOnce(RedisError) -> Error {
    move |e| {
        let outcome = write_outcome(&e);
        backend(format!("redis {what} failed"), e, outcome)
    }
}

/// What a write request that failed with `e` did to the cache.
///
/// redis-rs does not say whether a request had left the client when it
/// failed, so only the failures that cannot happen once it has are
/// [`Outcome::NotApplied`]:
///
/// - A refused connection (`ECONNREFUSED`, or a Unix socket that does not
///   exist): only connecting reports it, and a request is only sent on a
///   connection that is up.
/// - A failed handshake of a new connection (authentication, RESP3, a
///   missing handshake answer) or a client setting redis-rs refuses: the
///   request waits for the connection and is never sent.
/// - An error answer of the server (`WRONGTYPE`, `OOM`, `READONLY`,
///   `NOSCRIPT`, `EXECABORT`, a script's error; anything with an error
///   code): Redis runs a command whole or not at all; each script here
///   makes every call that can fail before its first write (`scripts.rs`),
///   so an error never leaves one half done; and in the transactions
///   (`EXISTS` and `PERSIST`; `set_many`'s `SET`s) no command can fail once
///   it runs (a command the server refuses while queueing it, `OOM` for
///   one, aborts the whole transaction).
///
/// Everything else is [`Outcome::Unknown`]: a timeout (redis-rs reports
/// the response timeout and the connection timeout alike, as an I/O
/// `TimedOut`, so a timeout while reconnecting is unknown too); a
/// connection closed or reset while the request was queued or in flight
/// (`BrokenPipe`, `ConnectionReset`, `UnexpectedEof`: redis-rs reports a
/// request that never left a dead connection's queue as one whose answer
/// was lost); an answer that cannot be parsed (the server ran the
/// request); and any kind of error a later redis-rs adds.
fn write_outcome(e: &RedisError) -> Outcome {
    if e.is_connection_refusal() || e.code().is_some() {
        return Outcome::NotApplied;
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed
        | ErrorKind::RESP3NotSupported
        | ErrorKind::InvalidClientConfig
        | ErrorKind::Client => Outcome::NotApplied,
        _ => Outcome::Unknown,
    }
}

/// [`Error::Backend`] with `message`, `cause` and `outcome`.
fn backend(
    message: impl Into<String>,
    cause: impl std::error::Error + Send + Sync + 'static,
    outcome: Outcome,
) -> Error {
    Error::Backend(BackendError::new(message, cause).with_outcome(outcome))
}

/// The error of a call that had already changed the cache when a later
/// request failed: the call as a whole was applied in part.
fn partly_applied(e: Error) -> Error {
    match e {
        Error::Backend(b) if b.outcome() == Outcome::NotApplied => {
            Error::Backend(b.with_outcome(Outcome::Unknown))
        }
        e => e,
    }
}

/// Succeeds inside a tokio runtime.
fn tokio_runtime() -> Result<(), Error> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Ok(()),
        Err(e) => Err(backend("RedisCache needs a tokio runtime", e, Outcome::NotApplied)),
    }
}

/// Runs `script` with `keys` and `args`; a failure is mapped by `failed`.
async fn invoke<T, K>(
    script: &Script,
    keys: &[K],
    args: &[&[u8]],
    conn: &mut ConnectionManager,
    failed: impl FnOnce(RedisError) -> Error,
) -> Result<T, Error>
where
    T: redis::FromRedisValue,
    K: redis::ToRedisArgs,
{
    let mut call = script.prepare_invoke();
    for key in keys {
        call.key(key);
    }
    for arg in args {
        call.arg(*arg);
    }
    call.invoke_async(conn).await.map_err(failed)
}

/// Encodes a value to send; a failure is before any request.
fn encode_value<V: Serialize>(value: &V) -> Result<Vec<u8>, Error> {
    encode(value).map_err(|e| backend("cannot encode the value", e, Outcome::NotApplied))
}

/// Decodes the value of `key` that a request answered; `outcome` is what
/// that request did.
fn decode_value<V: DeserializeOwned>(
    key: &str,
    bytes: &[u8],
    outcome: Outcome,
) -> Result<V, Error> {
    decode(bytes).map_err(|e| backend(format!("cannot decode the value of {key:?}"), e, outcome))
}

/// A TTL in whole milliseconds as Redis takes it: rounded up (so a short
/// TTL never becomes zero, which Redis refuses) and capped at
/// [`MAX_TTL_MS`].
fn ttl_ms(ttl: Duration) -> u64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).min(MAX_TTL_MS)
}

/// Escapes the glob characters of `SCAN`'s `MATCH` in `text`.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The smallest and largest counter `V` holds, as decimal text, empty where
/// that is `i64`'s own bound. Found by bisection, assuming (as for every
/// `Counter` of this crate) that the counters `V` holds are one interval
/// around zero; a type without zero gets no bounds.
fn counter_range<V: Counter>() -> (String, String) {
    let fits = |n: i128| V::from_counter(n as i64).is_some();
    if !fits(0) {
        return (String::new(), String::new());
    }
    // The boundary between `inside` (fits) and `outside` (does not).
    let bisect = |mut inside: i128, mut outside: i128| {
        while (outside - inside).abs() > 1 {
            let mid = inside + (outside - inside) / 2;
            if fits(mid) {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        inside.to_string()
    };
    let (min, max) = (i128::from(i64::MIN), i128::from(i64::MAX));
    let lo = if fits(min) { String::new() } else { bisect(0, min) };
    let hi = if fits(max) { String::new() } else { bisect(0, max) };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_ms(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("app"), "app");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn writes_that_never_left_or_were_refused_are_not_applied() {
        let io = |kind| RedisError::from(std::io::Error::from(kind));
        let refused = io(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(write_outcome(&refused), Outcome::NotApplied);
        let wrong_type = redis::make_extension_error(
            "WRONGTYPE".to_string(),
            Some("Operation against a key holding the wrong kind of value".to_string()),
        );
        assert_eq!(write_outcome(&wrong_type), Outcome::NotApplied);
        let aborted = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ExecAbort),
            "Transaction discarded",
        ));
        assert_eq!(write_outcome(&aborted), Outcome::NotApplied);
        for kind in [ErrorKind::AuthenticationFailed, ErrorKind::InvalidClientConfig] {
            assert_eq!(write_outcome(&RedisError::from((kind, "handshake"))), Outcome::NotApplied);
        }
    }

    #[test]
    fn writes_that_may_have_reached_the_server_are_unknown() {
        use std::io::ErrorKind as Io;
        for kind in [Io::TimedOut, Io::BrokenPipe, Io::ConnectionReset, Io::UnexpectedEof] {
            let e = RedisError::from(std::io::Error::from(kind));
            assert_eq!(write_outcome(&e), Outcome::Unknown, "{kind:?}");
        }
        let garbled = RedisError::from(redis::ParsingError::from("unreadable answer"));
        assert_eq!(write_outcome(&garbled), Outcome::Unknown);
        let odd = RedisError::from((ErrorKind::UnexpectedReturnType, "not a transaction answer"));
        assert_eq!(write_outcome(&odd), Outcome::Unknown);
    }

    #[test]
    fn failures_map_to_backend_errors_with_their_outcome_and_cause() {
        let timed_out = || RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let Error::Backend(read) = read_failed("GET")(timed_out()) else { panic!("backend") };
        assert_eq!((read.message(), read.outcome()), ("redis GET failed", Outcome::NotApplied));
        let Error::Backend(write) = write_failed("SET")(timed_out()) else { panic!("backend") };
        assert_eq!((write.message(), write.outcome()), ("redis SET failed", Outcome::Unknown));
        let cause = std::error::Error::source(&write).and_then(|c| c.downcast_ref::<RedisError>());
        assert!(cause.is_some_and(RedisError::is_timeout));
    }

    #[test]
    fn a_failure_after_a_change_is_not_not_applied() {
        let outcome = |e: Error| match e {
            Error::Backend(b) => b.outcome(),
            e => panic!("expected a backend error: {e:?}"),
        };
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(outcome(partly_applied(read_failed("SCAN")(refused))), Outcome::Unknown);
        let applied = Error::Backend(BackendError::msg("x").with_outcome(Outcome::Applied));
        assert_eq!(outcome(partly_applied(applied)), Outcome::Applied);
        assert_eq!(partly_applied(Error::Closed), Error::Closed);
    }

    #[test]
    fn counter_ranges() {
        let text = |lo: &str, hi: &str| (lo.to_string(), hi.to_string());
        assert_eq!(counter_range::<String>(), text("", ""));
        assert_eq!(counter_range::<i64>(), text("", ""));
        assert_eq!(counter_range::<u8>(), text("0", "255"));
        assert_eq!(counter_range::<i8>(), text("-128", "127"));
        assert_eq!(counter_range::<u64>(), text("0", ""));
        assert_eq!(counter_range::<i32>(), text("-2147483648", "2147483647"));
    }
}
