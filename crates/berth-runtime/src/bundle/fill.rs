//! Test support for the field walk (issue #14): a serde `Deserializer` that produces a value
//! of any type with every field present — each `Option` is `Some`, each sequence and map has
//! one element, each struct gets every field its derive lists, each enum its first variant.
//! Deserializing `oci_spec::runtime::Spec` from it and serializing the result to JSON gives
//! every path oci-spec models, so a field a newer oci-spec adds shows up without anyone
//! listing it.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// The filler error (only `custom`, from a type's own validation).
#[derive(Debug)]
pub struct FillError(String);

impl std::fmt::Display for FillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FillError {}

impl de::Error for FillError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        FillError(msg.to_string())
    }
}

/// Fills any value. `path` is where the value is (`a.b[]`); a string is `strings(path)`,
/// for the types that parse their own strings (capability names: "CAP_CHOWN"). The path's
/// length bounds recursion (oci-spec has no recursive types; this only turns a surprise into
/// an error instead of a stack overflow).
#[derive(Clone)]
pub struct Filler {
    pub path: String,
    pub strings: fn(&str) -> &'static str,
}

impl Filler {
    pub fn new(strings: fn(&str) -> &'static str) -> Filler {
        Filler {
            path: String::new(),
            strings,
        }
    }

    fn at(&self, step: &str) -> Result<Filler, FillError> {
        if self.path.len() > 1000 {
            return Err(de::Error::custom("too deep"));
        }
        let path = match (self.path.is_empty(), step.starts_with('[')) {
            (true, _) | (_, true) => format!("{}{step}", self.path),
            _ => format!("{}.{step}", self.path),
        };
        Ok(Filler {
            path,
            strings: self.strings,
        })
    }

    fn string(&self) -> &'static str {
        (self.strings)(&self.path)
    }
}

impl<'de> de::Deserializer<'de> for Filler {
    type Error = FillError;

    /// A type that asks for "anything" (a custom deserializer): a string, the most common.
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_str(self.string())
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_bool(true)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_i8(1)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_i16(1)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_i32(1)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_i64(1)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_u8(1)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_u16(1)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_u32(1)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_u64(1)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_f32(1.0)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_f64(1.0)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_char('x')
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_str(self.string())
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_str(self.string())
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_bytes(b"1")
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_bytes(b"1")
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, FillError> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, FillError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_seq(Items { left: 1, at: self })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, FillError> {
        v.visit_seq(Items {
            left: len,
            at: self,
        })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, FillError> {
        self.deserialize_tuple(len, v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_map(Entries {
            keys: &["key"],
            next: 0,
            at: self,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, FillError> {
        v.visit_map(Entries {
            keys: fields,
            next: 0,
            at: self,
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, FillError> {
        let first = variants
            .first()
            .ok_or_else(|| de::Error::custom("enum without variants"))?;
        v.visit_enum(IntoDeserializer::<'de, FillError>::into_deserializer(
            *first,
        ))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_str("1")
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_unit()
    }
}

struct Items {
    left: usize,
    at: Filler,
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = FillError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, FillError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(self.at.at("[]")?).map(Some)
    }
}

struct Entries {
    keys: &'static [&'static str],
    next: usize,
    at: Filler,
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = FillError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FillError> {
        let Some(key) = self.keys.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        seed.deserialize(IntoDeserializer::<'de, FillError>::into_deserializer(*key))
            .map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, FillError> {
        let key = self.keys[self.next - 1];
        seed.deserialize(self.at.at(key)?)
    }
}
