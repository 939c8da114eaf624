//! The Lua scripts behind [`RedisCache`](crate::RedisCache)'s calls that one
//! Redis command cannot do atomically.
//!
//! A script runs atomically on the server: no other client sees its steps.
//! Each one takes the keys it touches in `KEYS` and the negative marker as
//! `ARGV[1]`; "live" means "present and not the marker" (Redis never hands
//! a script an expired key). `redis::Script` calls them by SHA1 and loads
//! them again when a restarted server has forgotten them.
//!
//! Redis does not undo a script's writes when it fails part way, so each
//! script makes every call that can fail before its first write, and its
//! writes cannot fail once one is made (Redis lets a script that has
//! written go on past `maxmemory`; the user is assumed to be allowed every
//! command the scripts call). A script that answers an error has then
//! changed nothing: [`RedisCache`](crate::RedisCache) reports it as
//! [`Outcome::NotApplied`](crate::Outcome::NotApplied).

use std::sync::LazyLock;

use redis::Script;

/// `KEYS[1]` holds a value (not a marker): 1, else 0.
pub(super) static CONTAINS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 1 end
return 0
",
    )
});

/// The live value of `KEYS[1]`; else stores `ARGV[2]` (with a TTL of
/// `ARGV[3]` ms, none if empty) over any marker and returns nil.
pub(super) static SETDEFAULT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return v end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
",
    )
});

/// For each of `KEYS`, 1 if it holds a value, else 0 (a marker, or gone).
pub(super) static LIVE_FLAGS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local flags = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  flags[i] = (v and v ~= ARGV[1]) and 1 or 0
end
return flags
",
    )
});

/// Removes and returns `{key, value}` for the first of `KEYS` that holds a
/// value; nil (and nothing removed) if none does.
pub(super) static POPITEM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and v ~= ARGV[1] then
    redis.call('DEL', k)
    return {k, v}
  end
end
return false
",
    )
});

/// `incr` on `KEYS[1]`, returning `{status, new value}`: status 0 is done
/// (the new value as decimal text), 1 is "not an integer", 2 is overflow;
/// on 1 and 2 nothing changed.
///
/// - `ARGV[2]`: the amount, decimal.
/// - `ARGV[3]`: the encoded counter to create on a missing key or a
///   marker (the amount as the value type), empty if the amount does not
///   fit the value type.
/// - `ARGV[4]`: the default TTL in ms for a created counter, empty for none.
/// - `ARGV[5]`, `ARGV[6]`: the value type's smallest and largest counter,
///   decimal, or empty when that is `i64`'s own bound.
///
/// An existing counter is added to by `INCRBY`, which keeps its deadline
/// and checks the text and `i64` overflow exactly as the Redis counters
/// every client knows. If the sum leaves the value type's range, the old
/// text is put back (with `KEEPTTL`) before anyone can see the new one.
/// Lua numbers are doubles, so all arithmetic and comparison stays in
/// Redis or on decimal text.
pub(super) static INCR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- Compares two canonical decimal integers: -1, 0 or 1.
local function cmp(a, b)
  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if na ~= nb then return na and -1 or 1 end
  local r = 0
  if #a ~= #b then
    r = (#a < #b) and -1 or 1
  else
    for i = 1, #a do
      local x, y = a:byte(i), b:byte(i)
      if x ~= y then
        r = (x < y) and -1 or 1
        break
      end
    end
  end
  if na then return -r end
  return r
end

local old = redis.call('GET', KEYS[1])
if not old or old == ARGV[1] then
  if ARGV[3] == '' then return {2, false} end
  if ARGV[4] == '' then
    redis.call('SET', KEYS[1], ARGV[3])
  else
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  end
  return {0, ARGV[2]}
end
local r = redis.pcall('INCRBY', KEYS[1], ARGV[2])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'overflow', 1, true) then return {2, false} end
  if string.find(r.err, 'not an integer', 1, true) then return {1, false} end
  return r
end
local new = redis.call('GET', KEYS[1])
if (ARGV[5] ~= '' and cmp(new, ARGV[5]) < 0) or (ARGV[6] ~= '' and cmp(new, ARGV[6]) > 0) then
  redis.call('SET', KEYS[1], old, 'KEEPTTL')
  return {2, false}
end
return {0, new}
",
    )
});
