//! Running user code that may panic, without letting the panic (or its
//! payload) escape where the cache cannot afford it.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, catching a panic: `None` if it panicked. The panic's payload
/// is dropped here, and a payload whose own `Drop` panics is leaked rather
/// than allowed to unwind any further.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            dispose(payload);
            None
        }
    }
}

/// Drops a panic payload, leaking it instead if its `Drop` panics too.
pub(crate) fn dispose(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("payload drop");
        }
    }

    #[test]
    fn catches_panics() {
        assert_eq!(catch(|| 7), Some(7));
        assert_eq!(catch(|| -> u8 { panic!("plain") }), None);
    }

    /// The payload is leaked by design, which Miri reports as a leak.
    #[test]
    #[cfg_attr(miri, ignore = "leaks the payload whose drop panics, by design")]
    fn catches_a_payload_whose_drop_panics() {
        assert_eq!(catch(|| -> u8 { std::panic::panic_any(PanicOnDrop) }), None);
    }
}
