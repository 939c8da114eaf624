//! [`RedisCache`] against a real `redis-server` that each test starts on a
//! free loopback port and kills when done: the conformance suite unchanged,
//! then what only real time and a real server can show.
//!
//! Needs `redis-server` on the `PATH` (`apt-get install redis-server`).

mod loading;
mod outage;
mod outcome;
mod semantics;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wheelcache::{
    make_cache, AnyCache, BackendConfig, CacheConfig, ConfigError, Error, KeyBuilder, KvCache,
    RedisCache, RedisOptions,
};

use crate::conformance::{run_all, Backend};

/// A `redis-server` of the test's own, on a loopback port, without
/// persistence; killed on drop.
pub(crate) struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// A server on a free port.
    pub(crate) fn start() -> Self {
        for _ in 0..5 {
            // Another process may take the port between the probe and the
            // server's bind: then try another.
            if let Some(server) = Self::try_start(free_port()) {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// A server on `port` (to restart one that was killed).
    pub(crate) fn start_on(port: u16) -> Self {
        Self::try_start(port).unwrap_or_else(|| panic!("redis-server did not start on {port}"))
    }

    fn try_start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on the PATH (apt-get install redis-server)");
        let mut server = RedisServer { port, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.answers_ping() {
                return Some(server);
            }
            let exited = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server at once (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server (SIGSTOP) without closing its sockets: requests
    /// are accepted by the kernel and wait, unanswered, until
    /// [`resume`](Self::resume).
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server run again (SIGCONT): it answers what waited.
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server is running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill is on the PATH");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// A plain redis-rs connection, to look at what the cache stored.
    pub(crate) async fn raw(&self) -> ::redis::aio::MultiplexedConnection {
        let client = ::redis::Client::open(self.url()).expect("valid url");
        client.get_multiplexed_async_connection().await.expect("raw connection")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("bound").port()
}

/// Connects a `RedisCache` with fast-failing timeouts.
pub(crate) async fn connect<V>(server: &RedisServer, keys: KeyBuilder) -> RedisCache<V> {
    connect_with(server, keys, RedisOptions::new()).await
}

pub(crate) async fn connect_with<V>(
    server: &RedisServer,
    keys: KeyBuilder,
    options: RedisOptions,
) -> RedisCache<V> {
    RedisCache::connect(&server.url(), keys, options).await.expect("connects")
}

/// Polls `check` every few milliseconds until it holds or `bound` passes;
/// whether it held. Real TTLs are awaited this way, never by a fixed sleep.
pub(crate) async fn eventually<F, Fut>(bound: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + bound;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

// ---- the conformance suite --------------------------------------------

/// `RedisCache`s sharing one connection, each in a namespace of its own.
struct Redis {
    template: RedisCache<String>,
    next: AtomicU64,
    /// Namespaces whose prefix is full of glob characters, to prove `SCAN`
    /// patterns are escaped.
    globby: bool,
}

impl Backend for Redis {
    type Cache = RedisCache<String>;

    fn cache(&self) -> RedisCache<String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let keys = if self.globby {
            KeyBuilder::with_split_char(format!("g*?[{n}]\\"), "/")
        } else {
            KeyBuilder::new(format!("conformance{n}"))
        };
        self.template.with_key_builder(keys)
    }

    /// A real server's clock cannot be moved: the suite skips its
    /// time-moving checks, and `semantics` covers them with real, short TTLs.
    fn advance(&self, _: Duration) -> bool {
        false
    }
}

/// `AnyCache` from `make_cache`: the delegation is checked by the same suite.
struct Any {
    server_url: Option<String>,
    next: AtomicU64,
    /// `make_cache` is async and `Backend::cache` is not: caches are made
    /// ahead of time.
    made: std::sync::Mutex<Vec<AnyCache<String>>>,
}

impl Any {
    async fn new(server_url: Option<String>, checks: usize) -> Self {
        let any = Any { server_url, next: AtomicU64::new(0), made: Default::default() };
        for _ in 0..checks {
            let cache = any.make().await;
            any.made.lock().expect("not poisoned").push(cache);
        }
        any
    }

    async fn make(&self) -> AnyCache<String> {
        let mut config = CacheConfig::default();
        config.prefix = format!("any{}", self.next.fetch_add(1, Ordering::Relaxed));
        if let Some(url) = &self.server_url {
            config.backend = BackendConfig::Redis { url: url.clone() };
        }
        make_cache(&config).await.expect("the config makes a cache")
    }
}

impl Backend for Any {
    type Cache = AnyCache<String>;

    fn cache(&self) -> AnyCache<String> {
        self.made.lock().expect("not poisoned").pop().expect("enough caches made ahead")
    }

    fn advance(&self, _: Duration) -> bool {
        false
    }
}

/// How many caches one `run_all` asks for (one per check), with room to spare.
const CHECKS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_on_redis() {
    let server = RedisServer::start();
    let template = connect(&server, KeyBuilder::new("template")).await;
    // Spawning the suite proves every future it awaits is `Send`.
    tokio::spawn(async move {
        for globby in [false, true] {
            run_all(&Redis { template: template.clone(), next: AtomicU64::new(0), globby }).await;
        }
    })
    .await
    .expect("the suite passes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_on_any_cache_of_both_backends() {
    let server = RedisServer::start();
    run_all(&Any::new(None, CHECKS).await).await;
    run_all(&Any::new(Some(server.url()), CHECKS).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_cache_picks_the_backend() {
    let server = RedisServer::start();
    let mut config: CacheConfig = toml::from_str(&format!(
        "prefix = \"cfg\"\ndefault_ttl = \"1h\"\nnegative_ttl = \"5s\"\n\
         [backend]\ntype = \"redis\"\nurl = \"{}\"",
        server.url()
    ))
    .expect("valid toml");
    let cache: AnyCache<u64> = make_cache(&config).await.expect("connects");
    let redis = cache.as_redis().unwrap_or_else(|| panic!("expected the Redis backend: {cache:?}"));
    assert_eq!(cache.backend(), "redis");
    let options = RedisOptions::new()
        .default_ttl(Duration::from_secs(3600))
        .negative_ttl(Duration::from_secs(5));
    assert_eq!(redis.options(), &options);
    assert_eq!(cache.incr("cfg:n", 3).await, Ok(3));
    let ttl = cache.ttl("cfg:n").await.expect("ttl").remaining().expect("the default TTL");
    assert!(ttl > Duration::from_secs(3590) && ttl <= Duration::from_secs(3600), "{ttl:?}");

    // Memory, from the same kind of file.
    config.backend = BackendConfig::Memory { capacity: Some(10) };
    let memory: AnyCache<u64> = make_cache(&config).await.expect("builds");
    assert_eq!(memory.backend(), "memory");
    assert!(memory.as_memory().is_some() && memory.as_redis().is_none());

    // A URL redis-rs refuses (an unreachable server is checked with
    // short timeouts in `semantics`).
    config.backend = BackendConfig::Redis { url: "redis://127.0.0.1:notaport/".to_string() };
    let err = make_cache::<u64>(&config).await.expect_err("no such URL");
    assert!(matches!(err, ConfigError::Connect(Error::Backend(_))), "{err}");
}
