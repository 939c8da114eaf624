//! `incr` and `decr`: typed errors, overflow, deadlines kept exactly.

use std::time::Duration;

use wheelcache::{Error, Lookup, Ttl};

use super::mock_builder;
use crate::common::{mock_cache, ms};

#[test]
fn incr_creates_missing_counters_and_adds_in_place() {
    let (cache, _clock) = mock_cache::<&str, i64>();
    assert_eq!(cache.incr("c", 5), Ok(5));
    assert_eq!(cache.incr("c", 3), Ok(8));
    assert_eq!(cache.incr("c", -10), Ok(-2));
    assert_eq!(cache.decr("c", 4), Ok(-6));
    assert_eq!(cache.decr("d", 4), Ok(-4), "decr creates too");
    assert_eq!(cache.get("c"), Some(-6));
    assert_eq!(cache.len(), 2);
    cache.assert_invariants();
}

#[test]
fn incr_on_string_values_reads_strict_base_10() {
    let (cache, _clock) = mock_cache::<&str, String>();
    cache.set("hits", "41".to_string());
    assert_eq!(cache.incr("hits", 1), Ok(42));
    assert_eq!(cache.get("hits").as_deref(), Some("42"));
    cache.set("neg", "-7".to_string());
    assert_eq!(cache.decr("neg", 3), Ok(-10));
    assert_eq!(cache.get("neg").as_deref(), Some("-10"));
    assert_eq!(cache.incr("new", 7), Ok(7));
    assert_eq!(cache.get("new").as_deref(), Some("7"));
}

#[test]
fn incr_on_a_non_integer_is_not_an_integer_and_changes_nothing() {
    let (cache, clock) = mock_cache::<&str, String>();
    for bad in ["abc", "", " 41", "41 ", "+1", "01", "1.5", "-0", "9223372036854775808"] {
        cache.setx("k", bad.to_string(), Some(ms(700)));
        clock.advance(ms(100));
        assert_eq!(cache.incr("k", 1), Err(Error::NotAnInteger), "{bad:?}");
        assert_eq!(cache.decr("k", 1), Err(Error::NotAnInteger), "{bad:?}");
        assert_eq!(cache.get("k").as_deref(), Some(bad), "value untouched");
        assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(600)), "deadline untouched");
    }
    assert_eq!(cache.stats().updates, 8, "only the sets updated");
    cache.assert_invariants();
}

#[test]
fn incr_past_i64_max_is_overflow_and_changes_nothing() {
    let (cache, _clock) = mock_cache::<&str, i64>();
    cache.set("max", i64::MAX);
    assert_eq!(cache.incr("max", 1), Err(Error::Overflow));
    assert_eq!(cache.get("max"), Some(i64::MAX));
    cache.set("min", i64::MIN);
    assert_eq!(cache.decr("min", 1), Err(Error::Overflow));
    assert_eq!(cache.incr("min", -1), Err(Error::Overflow));
    assert_eq!(cache.get("min"), Some(i64::MIN));
    assert_eq!(cache.incr("min", i64::MAX), Ok(-1));

    let (strings, _clock) = mock_cache::<&str, String>();
    strings.set("max", i64::MAX.to_string());
    assert_eq!(strings.incr("max", 1), Err(Error::Overflow));
    assert_eq!(strings.get("max"), Some(i64::MAX.to_string()));
}

#[test]
fn decr_by_i64_min_is_overflow_not_a_panic() {
    let (cache, _clock) = mock_cache::<&str, i64>();
    assert_eq!(cache.decr("missing", i64::MIN), Err(Error::Overflow));
    assert_eq!(cache.get_item("missing"), Lookup::Miss, "nothing was created");
    cache.set("zero", 0);
    assert_eq!(cache.decr("zero", i64::MIN), Err(Error::Overflow));
    assert_eq!(cache.get("zero"), Some(0));
    assert_eq!(cache.decr("zero", i64::MAX), Ok(-i64::MAX));
    assert_eq!(cache.incr("zero", i64::MIN), Err(Error::Overflow));
    assert_eq!(cache.decr("zero", 1), Ok(i64::MIN));
    assert_eq!(cache.len(), 1);
}

#[test]
fn counters_that_leave_the_value_type_are_overflow() {
    let (cache, _clock) = mock_cache::<&str, u8>();
    cache.set("c", 250);
    assert_eq!(cache.incr("c", 5), Ok(255));
    assert_eq!(cache.incr("c", 1), Err(Error::Overflow), "u8 past 255");
    assert_eq!(cache.get("c"), Some(255));
    assert_eq!(cache.incr("new", 256), Err(Error::Overflow));
    assert_eq!(cache.decr("new", 1), Err(Error::Overflow), "u8 below 0");
    assert_eq!(cache.get_item("new"), Lookup::Miss, "nothing was created");

    let (unsigned, _clock) = mock_cache::<&str, u64>();
    unsigned.set("big", u64::MAX);
    assert!(
        matches!(unsigned.incr("big", 0), Err(Error::NotAnInteger | Error::Overflow)),
        "u64::MAX holds no i64"
    );
    assert_eq!(unsigned.get("big"), Some(u64::MAX));
    unsigned.set("c", 0);
    assert_eq!(unsigned.decr("c", 1), Err(Error::Overflow));
    assert_eq!(unsigned.get("c"), Some(0));
    assert_eq!(cache.len() + unsigned.len(), 3);
}

#[test]
fn incr_on_a_negative_marker_starts_from_zero_with_the_default_ttl() {
    let (builder, _clock) = mock_builder::<&str, i64>();
    let cache = builder.default_ttl(ms(500)).build().unwrap();
    cache.set_negative("k");
    assert_eq!(cache.incr("k", 3), Ok(3));
    assert_eq!(cache.get_item("k"), Lookup::Hit(3));
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(500)), "not the marker's 60 s");
    assert_eq!(cache.len(), 1);
    cache.assert_invariants();
}

#[test]
fn incr_on_an_expired_entry_starts_from_zero() {
    let (cache, clock) = mock_cache::<&str, i64>();
    cache.setx("k", 100, Some(ms(10)));
    clock.advance(ms(10));
    assert_eq!(cache.incr("k", 1), Ok(1), "the expired 100 is gone");
    assert_eq!(cache.ttl("k"), Ttl::Persistent, "the default TTL (none), not the old deadline");
    clock.advance(ms(100));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), Some(1));
    assert_eq!(cache.timers(), 0);
    cache.assert_invariants();
}

#[test]
fn incr_keeps_the_deadline_exactly() {
    let (builder, clock) = mock_builder::<&str, i64>();
    // A default TTL must not replace the entry's own deadline either.
    let cache = builder.default_ttl(Duration::from_secs(60)).build().unwrap();
    cache.setx("k", 1, Some(Duration::from_secs(2)));
    clock.advance(ms(1500));
    assert_eq!(cache.incr("k", 1), Ok(2));
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(500)), "0.5 s left, not floored to 0");
    clock.advance(ms(499));
    assert_eq!(cache.incr("k", 1), Ok(3));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), Some(3), "still lives 0.499 s later");
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(1)));
    clock.advance(ms(1));
    assert_eq!(cache.get("k"), None, "gone at 0.5 s");
    cache.run_pending_tasks();
    assert_eq!((cache.len(), cache.timers()), (0, 0));
    cache.assert_invariants();
}

#[test]
fn incr_keeps_a_persistent_entry_persistent() {
    let (builder, _clock) = mock_builder::<&str, i64>();
    let cache = builder.default_ttl(ms(10)).build().unwrap();
    cache.setx("k", 1, None);
    assert_eq!(cache.incr("k", 1), Ok(2));
    assert_eq!(cache.ttl("k"), Ttl::Persistent);
    assert_eq!(cache.timers(), 0);
}

#[test]
fn errors_are_typed_displayed_and_std_errors() {
    let errors = [Error::InvalidKey, Error::NotAnInteger, Error::Overflow, Error::Closed];
    for e in &errors {
        assert!(!e.to_string().is_empty(), "{e:?}");
        let as_std: &dyn std::error::Error = e;
        assert!(as_std.source().is_none());
    }
    assert_ne!(Error::NotAnInteger.to_string(), Error::Overflow.to_string());
    // `?` turns it into a boxed error.
    fn through_question_mark() -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
        let (cache, _clock) = mock_cache::<&str, String>();
        cache.set("k", "x".to_string());
        Ok(cache.incr("k", 1)?)
    }
    let err = through_question_mark().unwrap_err();
    assert_eq!(err.downcast_ref::<Error>(), Some(&Error::NotAnInteger));
}
