//! [`KeyBuilder`]: namespaced keys, `prefix:part:part`.

/// Builds and checks the keys of one namespace: a prefix, then parts, joined
/// by a split string (`":"` unless told otherwise).
///
/// [`AsyncCache`](crate::AsyncCache) accepts only keys that
/// [`validate`](KeyBuilder::validate): those that start with the prefix
/// followed by the split string.
///
/// Parts are **not escaped**: a part that contains the split string makes
/// the same key as the parts it looks like. `build(["a:b"])` and
/// `build(["a", "b"])` are both `"prefix:a:b"`, and with an empty split
/// string `build(["ab"])` and `build(["a", "b"])` collide too. If parts come
/// from untrusted input and must stay apart, keep the split string out of
/// them (or encode them) before building.
///
/// # Example
///
/// ```
/// use wheelcache::KeyBuilder;
///
/// let keys = KeyBuilder::new("myapp");
/// assert_eq!(keys.build(["user", "123"]), "myapp:user:123");
/// assert!(keys.validate("myapp:session:abc"));
/// assert!(!keys.validate("other:user:123"));
/// assert!(!keys.validate("myapplication:user:123"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBuilder {
    prefix: String,
    split: String,
}

impl KeyBuilder {
    /// The prefix of [`KeyBuilder::default`].
    pub const DEFAULT_PREFIX: &'static str = "wheelcache";
    /// The split string of [`KeyBuilder::new`] and [`KeyBuilder::default`].
    pub const DEFAULT_SPLIT: &'static str = ":";

    /// Keys under `prefix`, parts split by `":"`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self::with_split_char(prefix, Self::DEFAULT_SPLIT)
    }

    /// Keys under `prefix`, parts split by `split` (a `char` or a string).
    ///
    /// Any prefix and split are accepted. An empty split makes
    /// [`validate`](KeyBuilder::validate) a bare prefix test and lets more
    /// keys collide (see the type docs).
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::KeyBuilder;
    ///
    /// let keys = KeyBuilder::with_split_char("app", '/');
    /// assert_eq!(keys.build(["img", "1.png"]), "app/img/1.png");
    /// assert!(!keys.validate("app:img"));
    /// ```
    pub fn with_split_char(prefix: impl Into<String>, split: impl Into<String>) -> Self {
        KeyBuilder { prefix: prefix.into(), split: split.into() }
    }

    /// The namespace prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The string between the prefix and each part.
    pub fn split_char(&self) -> &str {
        &self.split
    }

    /// The key `prefix`, then each part, joined by the split string.
    ///
    /// Parts are not escaped (see the type docs for what collides). With no
    /// parts the result is the bare prefix, which
    /// [`validate`](KeyBuilder::validate) rejects: a key of the namespace
    /// has at least one part.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::KeyBuilder;
    ///
    /// let keys = KeyBuilder::new("app");
    /// let id = 42.to_string();
    /// assert_eq!(keys.build(["user", &id]), "app:user:42");
    /// assert_eq!(keys.build(vec![String::from("a"), String::from("b")]), "app:a:b");
    /// assert_eq!(keys.build(["a:b"]), keys.build(["a", "b"])); // not escaped
    /// ```
    pub fn build<I>(&self, parts: I) -> String
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push_str(&self.split);
            key.push_str(part.as_ref());
        }
        key
    }

    /// Whether `key` belongs to the namespace: it starts with the prefix
    /// followed by the split string.
    pub fn validate(&self, key: &str) -> bool {
        key.strip_prefix(self.prefix.as_str()).is_some_and(|rest| rest.starts_with(&self.split))
    }
}

impl Default for KeyBuilder {
    /// Keys under `"wheelcache"`, parts split by `":"`.
    fn default() -> Self {
        Self::new(Self::DEFAULT_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_prefix_and_parts() {
        let keys = KeyBuilder::new("p");
        assert_eq!(keys.build(["user", "123"]), "p:user:123");
        assert_eq!(keys.build(["x"]), "p:x");
        assert_eq!(keys.build([""]), "p:");
        assert_eq!(keys.build(Vec::<String>::new()), "p");
        assert_eq!(keys.build(["a", "b"].iter()), "p:a:b");
    }

    #[test]
    fn validates_prefix_then_split() {
        let keys = KeyBuilder::new("p");
        assert!(keys.validate("p:"));
        assert!(keys.validate("p:a"));
        assert!(keys.validate("p::"));
        for bad in ["", "p", "pa", "pp:a", ":p:a", "P:a", " p:a", "q:a"] {
            assert!(!keys.validate(bad), "{bad:?}");
        }
    }

    #[test]
    fn every_built_key_with_parts_validates() {
        let keys = KeyBuilder::with_split_char("ns", "::");
        for parts in [&["a"][..], &["", ""], &["a::b", "c"], &["ünï", "cödé"]] {
            let key = keys.build(parts);
            assert!(keys.validate(&key), "{key:?}");
        }
        assert!(!keys.validate(&keys.build([] as [&str; 0])));
    }

    #[test]
    fn parts_are_not_escaped() {
        let keys = KeyBuilder::new("p");
        assert_eq!(keys.build(["a:b"]), keys.build(["a", "b"]));
        let bare = KeyBuilder::with_split_char("p", "");
        assert_eq!(bare.build(["ab"]), bare.build(["a", "b"]));
    }

    #[test]
    fn other_split_chars() {
        let keys = KeyBuilder::with_split_char("app", '/');
        assert_eq!(keys.split_char(), "/");
        assert_eq!(keys.build(["a", "b"]), "app/a/b");
        assert!(keys.validate("app/a"));
        assert!(!keys.validate("app:a"));

        let bare = KeyBuilder::with_split_char("app", "");
        assert!(bare.validate("app"));
        assert!(bare.validate("apple"));

        let empty_prefix = KeyBuilder::new("");
        assert_eq!(empty_prefix.build(["a"]), ":a");
        assert!(empty_prefix.validate(":a"));
        assert!(!empty_prefix.validate("a"));
    }

    #[test]
    fn default_and_accessors() {
        let keys = KeyBuilder::default();
        assert_eq!(keys.prefix(), "wheelcache");
        assert_eq!(keys.split_char(), ":");
        assert_eq!(keys, KeyBuilder::new("wheelcache"));
        assert_ne!(keys, KeyBuilder::with_split_char("wheelcache", "/"));
        assert_eq!(keys.clone(), keys);
    }
}
