//! User code that panics or re-enters, and races that could lose work:
//! whatever keys, values, listeners and loaders do, no shard is corrupted,
//! no expiry is lost, and no other cache is affected.

mod background;
mod hostile;
mod loading;
mod reentrancy;

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// A key whose `Hash` panics while its fuse is lit.
#[derive(Clone, Debug)]
pub(crate) struct Touchy {
    pub(crate) id: u32,
    pub(crate) fuse: Arc<AtomicBool>,
}

impl Touchy {
    pub(crate) fn new(id: u32) -> Self {
        Touchy { id, fuse: Arc::new(AtomicBool::new(false)) }
    }

    pub(crate) fn light(&self) {
        self.fuse.store(true, SeqCst);
    }

    pub(crate) fn put_out(&self) {
        self.fuse.store(false, SeqCst);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Touchy {}

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        assert!(!self.fuse.load(SeqCst), "the hash of key {} panics", self.id);
        self.id.hash(state);
    }
}

/// A value whose `Clone` panics the next `fuse` times it is cloned.
#[derive(Debug)]
pub(crate) struct Brittle {
    pub(crate) n: u64,
    pub(crate) fuse: Arc<AtomicUsize>,
}

impl Brittle {
    pub(crate) fn new(n: u64, fuse: &Arc<AtomicUsize>) -> Self {
        Brittle { n, fuse: fuse.clone() }
    }
}

impl Clone for Brittle {
    fn clone(&self) -> Self {
        let left = self.fuse.load(SeqCst);
        if left > 0 {
            self.fuse.store(left - 1, SeqCst);
            panic!("the clone of {} panics", self.n);
        }
        Brittle { n: self.n, fuse: self.fuse.clone() }
    }
}

/// A panic payload whose own `Drop` panics.
pub(crate) struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the panic payload's drop panics too");
    }
}
