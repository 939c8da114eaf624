//! How [`RedisCache`](crate::RedisCache) stores a value: the text format and
//! the negative marker.
//!
//! ## The format
//!
//! - A value that serializes as a string (a `String`, a `char`, anything
//!   serialized with `serialize_str`) is stored as that text, unquoted.
//! - A value that serializes as an integer is stored as its decimal text.
//! - Anything else (structs, enums, options, floats, sequences, ...) is
//!   stored as JSON.
//!
//! Newtype structs are looked through. So `"41"` and `41` are both stored as
//! the two bytes `41`, which Redis's own `INCRBY` counts, just as the
//! in-memory cache counts a `String` `"41"` or an integer `41`.
//!
//! Reading is led by the value type, so it is unambiguous for every type
//! that asks for what it wants (`String` asks for a string, `u64` for an
//! integer, a struct for a struct): string and integer requests read the
//! text as it is, every other request reads JSON. Only a type that asks for
//! "anything" (`serde_json::Value`, `#[serde(untagged)]` enums) has to
//! guess: it reads text that is valid JSON as JSON and any other text as a
//! string, so such a type stored as the string `"42"` reads back as the
//! number 42.
//!
//! ## The marker
//!
//! Every value is valid UTF-8 (text, decimal digits or JSON), so the
//! negative marker is a byte string that is not: it starts with `0xFF`,
//! which UTF-8 never contains. No value can be mistaken for a marker.

use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Impossible, Serialize};

/// The stored bytes of a negative marker: invalid UTF-8, so never a value.
pub(crate) const NEGATIVE: &[u8] = b"\xff\xfewheelcache:negative";

/// Encodes `value` in the format of the module docs.
pub(crate) fn encode<V: Serialize + ?Sized>(value: &V) -> Result<Vec<u8>, serde_json::Error> {
    match value.serialize(Scalar) {
        Ok(bytes) => Ok(bytes),
        Err(NotScalar) => serde_json::to_vec(value),
    }
}

/// Decodes bytes written by [`encode`] (or by `INCRBY`) as a `V`.
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V, serde_json::Error> {
    V::deserialize(Text(bytes))
}

// ---- encoding -----------------------------------------------------------

/// A serializer that only accepts a top-level string or integer (through
/// any newtype structs) and gives its bytes; anything else is [`NotScalar`]
/// and goes to JSON instead. It stops at the first call, so a struct costs
/// one failed call before its JSON encoding.
struct Scalar;

/// "Not a string or an integer": encode as JSON. Also what a value's own
/// `Serialize` error becomes, which JSON then reports properly.
#[derive(Debug)]
struct NotScalar;

impl fmt::Display for NotScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a string or an integer")
    }
}

impl std::error::Error for NotScalar {}

impl ser::Error for NotScalar {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotScalar
    }
}

macro_rules! decimal {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<Vec<u8>, NotScalar> {
            Ok(v.to_string().into_bytes())
        }
    )*};
}

macro_rules! not_scalar {
    ($($method:ident($($arg:ty),*)),*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Vec<u8>, NotScalar> {
            Err(NotScalar)
        }
    )*};
}

impl ser::Serializer for Scalar {
    type Ok = Vec<u8>;
    type Error = NotScalar;
    type SerializeSeq = Impossible<Vec<u8>, NotScalar>;
    type SerializeTuple = Impossible<Vec<u8>, NotScalar>;
    type SerializeTupleStruct = Impossible<Vec<u8>, NotScalar>;
    type SerializeTupleVariant = Impossible<Vec<u8>, NotScalar>;
    type SerializeMap = Impossible<Vec<u8>, NotScalar>;
    type SerializeStruct = Impossible<Vec<u8>, NotScalar>;
    type SerializeStructVariant = Impossible<Vec<u8>, NotScalar>;

    decimal!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128
    );

    fn serialize_str(self, v: &str) -> Result<Vec<u8>, NotScalar> {
        Ok(v.as_bytes().to_vec())
    }

    fn serialize_char(self, v: char) -> Result<Vec<u8>, NotScalar> {
        Ok(v.to_string().into_bytes())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Vec<u8>, NotScalar> {
        value.serialize(self)
    }

    not_scalar!(
        serialize_bool(bool),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str)
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Vec<u8>, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Vec<u8>, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotScalar> {
        Err(NotScalar)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotScalar> {
        Err(NotScalar)
    }
}

// ---- decoding -----------------------------------------------------------

/// The stored bytes of one value, read as the value type asks.
struct Text<'de>(&'de [u8]);

impl<'de> Text<'de> {
    fn str(&self) -> Result<&'de str, serde_json::Error> {
        std::str::from_utf8(self.0).map_err(|_| de::Error::custom("the value is not UTF-8 text"))
    }

    /// The decimal integer the text holds, handed to `visitor` as the
    /// narrowest of `i64`, `u64`, `i128`, `u128` it fits (the visitor checks
    /// its own range).
    fn integer<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, serde_json::Error> {
        let text = self.str()?;
        if let Ok(n) = text.parse::<i64>() {
            visitor.visit_i64(n)
        } else if let Ok(n) = text.parse::<u64>() {
            visitor.visit_u64(n)
        } else if let Ok(n) = text.parse::<i128>() {
            visitor.visit_i128(n)
        } else if let Ok(n) = text.parse::<u128>() {
            visitor.visit_u128(n)
        } else {
            Err(de::Error::invalid_value(de::Unexpected::Str(text), &visitor))
        }
    }

    fn json(&self) -> serde_json::Deserializer<serde_json::de::SliceRead<'de>> {
        serde_json::Deserializer::from_slice(self.0)
    }
}

macro_rules! integer {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
            self.integer(visitor)
        }
    )*};
}

macro_rules! text {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
            visitor.visit_borrowed_str(self.str()?)
        }
    )*};
}

/// Requests read as JSON: the whole text is one JSON document.
macro_rules! from_json {
    ($($method:ident($($arg:ident: $t:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($arg: $t,)*
            visitor: V,
        ) -> Result<V::Value, serde_json::Error> {
            let mut json = self.json();
            let value = de::Deserializer::$method(&mut json, $($arg,)* visitor)?;
            json.end()?;
            Ok(value)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Text<'de> {
    type Error = serde_json::Error;

    /// A type that takes anything: JSON if the text is JSON, else a string.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        let is_json = serde_json::from_slice::<de::IgnoredAny>(self.0).is_ok();
        if is_json {
            let mut json = self.json();
            let value = de::Deserializer::deserialize_any(&mut json, visitor)?;
            json.end()?;
            Ok(value)
        } else {
            visitor.visit_borrowed_str(self.str()?)
        }
    }

    integer!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128
    );

    text!(deserialize_str, deserialize_string, deserialize_char, deserialize_identifier);

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_newtype_struct(self)
    }

    from_json!(
        deserialize_bool(),
        deserialize_f32(),
        deserialize_f64(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_option(),
        deserialize_unit(),
        deserialize_unit_struct(name: &'static str),
        deserialize_seq(),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_ignored_any(),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Debug;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[track_caller]
    fn round_trip<V>(value: V, stored: &str)
    where
        V: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        let bytes = encode(&value).expect("encodes");
        assert_eq!(String::from_utf8_lossy(&bytes), stored);
        assert_eq!(decode::<V>(&bytes).expect("decodes"), value);
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct User {
        name: String,
        age: u8,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Name(String);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    #[serde(transparent)]
    struct Hits(u64);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    enum Color {
        Red,
        Custom(u8, u8, u8),
    }

    #[test]
    fn strings_are_stored_as_their_text() {
        round_trip("41".to_string(), "41");
        round_trip("abc".to_string(), "abc");
        round_trip(String::new(), "");
        round_trip("\"quoted\" {json}".to_string(), "\"quoted\" {json}");
        round_trip("null".to_string(), "null");
        round_trip("ünïcödé".to_string(), "ünïcödé");
        round_trip('x', "x");
        round_trip(Name("ada".into()), "ada");
    }

    #[test]
    fn integers_are_stored_as_decimal_text() {
        round_trip(41_i64, "41");
        round_trip(-7_i8, "-7");
        round_trip(u64::MAX, "18446744073709551615");
        round_trip(i128::MIN, "-170141183460469231731687303715884105728");
        round_trip(u128::MAX, "340282366920938463463374607431768211455");
        round_trip(Hits(3), "3");
        // INCRBY's output reads back as any integer type it fits.
        assert_eq!(decode::<u8>(b"255").unwrap(), 255);
        assert!(decode::<u8>(b"256").is_err());
        assert!(decode::<u64>(b"-1").is_err());
        assert!(decode::<i64>(b"abc").is_err());
    }

    #[test]
    fn everything_else_is_json() {
        round_trip(User { name: "ada".into(), age: 36 }, r#"{"name":"ada","age":36}"#);
        round_trip(Some("x".to_string()), r#""x""#);
        round_trip(None::<String>, "null");
        round_trip(vec![1, 2, 3], "[1,2,3]");
        round_trip(1.5_f64, "1.5");
        round_trip(true, "true");
        round_trip((), "null");
        round_trip(Color::Red, r#""Red""#);
        round_trip(Color::Custom(1, 2, 3), r#"{"Custom":[1,2,3]}"#);
        round_trip(BTreeMap::from([("k".to_string(), 1)]), r#"{"k":1}"#);
        assert!(decode::<User>(br#"{"name":"ada","age":36} trailing"#).is_err());
    }

    #[test]
    fn self_describing_types_read_json_or_text() {
        use serde_json::{json, Value};
        round_trip(json!({"a": [1, "b"]}), r#"{"a":[1,"b"]}"#);
        round_trip(json!(42), "42");
        round_trip(json!("plain text"), "plain text");
        // The one ambiguity: a string that is valid JSON reads as that JSON.
        assert_eq!(decode::<Value>(&encode(&json!("42")).unwrap()).unwrap(), json!(42));
    }

    #[test]
    fn no_value_is_the_marker() {
        assert!(String::from_utf8(NEGATIVE.to_vec()).is_err());
        let as_string = String::from_utf8_lossy(NEGATIVE).into_owned();
        assert_ne!(encode(&as_string).unwrap(), NEGATIVE);
        assert!(decode::<String>(NEGATIVE).is_err());
    }

    #[test]
    fn serialize_errors_are_reported() {
        // JSON maps need string keys: the value's own error comes through.
        let map = BTreeMap::from([((1, 2), 3)]);
        assert!(encode(&map).is_err());
    }
}
