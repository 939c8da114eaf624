//! The stream of [`RedisCache::iter_keys`](crate::KvCache::iter_keys):
//! one `SCAN` page at a time.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::Core;
use crate::error::Error;

/// A `SCAN` page being fetched.
type PageFuture = Pin<Box<dyn Future<Output = Result<(u64, Vec<String>), Error>> + Send>>;

/// The stream of `RedisCache::iter_keys`: one `SCAN` page of live keys at a
/// time, fetched when the previous page is used up. No request is in flight
/// while the consumer runs, so it may call the cache.
pub(super) struct KeyStream {
    core: Arc<Core>,
    /// Where the next page starts; `None` once `SCAN` has finished.
    cursor: Option<u64>,
    /// Keys of the last page not yet yielded.
    ready: VecDeque<String>,
    /// Every key yielded or queued: `SCAN` may return a key twice.
    seen: HashSet<String>,
    page: Option<PageFuture>,
    ended: bool,
}

impl Stream for KeyStream {
    type Item = Result<String, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if this.core.manager.read().is_none() {
                this.end();
                return Poll::Ready(Some(Err(Error::Closed)));
            }
            if let Some(key) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(key)));
            }
            if let Some(page) = &mut this.page {
                match page.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => {
                        this.end();
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(Ok((next, keys))) => {
                        this.page = None;
                        this.cursor = (next != 0).then_some(next);
                        let fresh = keys.into_iter().filter(|k| this.seen.insert(k.clone()));
                        this.ready.extend(fresh);
                        continue;
                    }
                }
            }
            let Some(cursor) = this.cursor else {
                this.end();
                return Poll::Ready(None);
            };
            let core = this.core.clone();
            this.page = Some(Box::pin(async move {
                let mut conn = core.conn()?;
                core.live_page(&mut conn, cursor).await
            }));
        }
    }
}

impl KeyStream {
    /// A stream over the live keys of `core`'s namespace, from the start.
    pub(super) fn new(core: Arc<Core>) -> Self {
        KeyStream {
            core,
            cursor: Some(0),
            ready: VecDeque::new(),
            seen: HashSet::new(),
            page: None,
            ended: false,
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.page = None;
        self.ready.clear();
        self.seen.clear();
    }
}
