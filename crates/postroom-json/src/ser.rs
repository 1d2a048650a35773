//! A serde serializer that writes the compact JSON of `serde_json::to_vec`.

use crate::push_string;
use serde::ser::{self, Serialize};
use std::fmt;

/// Failure to serialize a value: a map key that JSON cannot hold, or an
/// error raised by a `Serialize` implementation.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error(message.to_string())
    }
}

/// Serializes `value` to compact JSON, the same bytes as
/// `serde_json::to_vec`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut serializer = Serializer { out: Vec::with_capacity(256), key: false };
    value.serialize(&mut serializer)?;
    Ok(serializer.out)
}

struct Serializer {
    out: Vec<u8>,
    /// Set while a map key is written. JSON keys are strings, so numbers
    /// and booleans are quoted as serde_json quotes them, and other values
    /// fail.
    key: bool,
}

impl Serializer {
    /// Writes a number or boolean as serde_json does, quoted as a key.
    fn scalar<T: Serialize>(&mut self, value: T) -> Result<(), Error> {
        if self.key {
            self.out.push(b'"');
        }
        serde_json::to_writer(&mut self.out, &value).map_err(|error| Error(error.to_string()))?;
        if self.key {
            self.out.push(b'"');
        }
        Ok(())
    }

    fn float<T: Serialize>(&mut self, value: T, finite: bool) -> Result<(), Error> {
        if self.key && !finite {
            return Err(key_error());
        }
        self.scalar(value)
    }

    /// Fails when a value that cannot be a key is written as one.
    fn not_key(&self) -> Result<(), Error> {
        if self.key {
            Err(key_error())
        } else {
            Ok(())
        }
    }

    fn open(&mut self, bracket: u8) -> Result<Compound<'_>, Error> {
        self.not_key()?;
        self.out.push(bracket);
        Ok(Compound { serializer: self, first: true })
    }

    /// Opens `{"variant":` for the enum variants that hold data.
    fn open_variant(&mut self, variant: &str) -> Result<(), Error> {
        self.not_key()?;
        self.out.push(b'{');
        push_string(&mut self.out, variant);
        self.out.push(b':');
        Ok(())
    }
}

fn key_error() -> Error {
    Error("a JSON object key must be a string, a number or a boolean".into())
}

/// An array, object or enum variant being written.
struct Compound<'a> {
    serializer: &'a mut Serializer,
    first: bool,
}

impl Compound<'_> {
    fn separate(&mut self) {
        if !self.first {
            self.serializer.out.push(b',');
        }
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.separate();
        value.serialize(&mut *self.serializer)
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        self.separate();
        push_string(&mut self.serializer.out, name);
        self.serializer.out.push(b':');
        value.serialize(&mut *self.serializer)
    }

    fn close(self, bracket: u8) {
        self.serializer.out.push(bracket);
    }

    /// Closes a variant's value and the object around it.
    fn close_variant(self, bracket: u8) {
        self.serializer.out.extend_from_slice(&[bracket, b'}']);
    }
}

impl<'a> ser::Serializer for &'a mut Serializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_i8(self, value: i8) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_i16(self, value: i16) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_i32(self, value: i32) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_i64(self, value: i64) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_i128(self, value: i128) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_u8(self, value: u8) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_u16(self, value: u16) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_u32(self, value: u32) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_u64(self, value: u64) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_u128(self, value: u128) -> Result<(), Error> {
        self.scalar(value)
    }

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        self.float(value, value.is_finite())
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        self.float(value, value.is_finite())
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        push_string(&mut self.out, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        push_string(&mut self.out, value);
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        let mut array = self.open(b'[')?;
        for byte in value {
            ser::SerializeSeq::serialize_element(&mut array, byte)?;
        }
        array.close(b']');
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.not_key()?;
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        self.open(b'[')
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, Error> {
        self.open(b'[')
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        self.open(b'[')
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.open_variant(variant)?;
        self.open(b'[')
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        self.open(b'{')
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        self.open(b'{')
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.open_variant(variant)?;
        self.open(b'{')
    }
}

/// Implements a serde trait for arrays: elements separated by commas, closed
/// by `]` (and by `}` too for an enum variant).
macro_rules! array {
    ($trait:ident, $method:ident, $close:ident) => {
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                self.$close(b']');
                Ok(())
            }
        }
    };
}

array!(SerializeSeq, serialize_element, close);
array!(SerializeTuple, serialize_element, close);
array!(SerializeTupleStruct, serialize_field, close);
array!(SerializeTupleVariant, serialize_field, close_variant);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.separate();
        self.serializer.key = true;
        let result = key.serialize(&mut *self.serializer);
        self.serializer.key = false;
        result?;
        self.serializer.out.push(b':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.serializer)
    }

    fn end(self) -> Result<(), Error> {
        self.close(b'}');
        Ok(())
    }
}

/// Implements a serde trait for objects with named fields.
macro_rules! object {
    ($trait:ident, $close:ident) => {
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Error> {
                self.field(name, value)
            }

            fn end(self) -> Result<(), Error> {
                self.$close(b'}');
                Ok(())
            }
        }
    };
}

object!(SerializeStruct, close);
object!(SerializeStructVariant, close_variant);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Pair(i32, String),
        Box { width: u32, label: Option<String> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapper(String);

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Document {
        body: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<String>,
        present: Option<u8>,
        numbers: Vec<i64>,
        big: (i128, u128),
        floats: [f64; 4],
        letter: char,
        flags: BTreeMap<bool, u8>,
        by_number: BTreeMap<u32, Wrapper>,
        by_letter: BTreeMap<char, Unit>,
        by_shape: BTreeMap<String, Shape>,
        shapes: Vec<Shape>,
        nothing: (),
        empty_list: Vec<u8>,
        empty_map: BTreeMap<String, String>,
    }

    fn document() -> Document {
        let body = format!("{}\"quoted\" \\ \n\t\u{1}\u{1F}\u{7F} é 😀 {}", "a".repeat(40), "z".repeat(17));
        Document {
            body,
            skipped: None,
            present: None,
            numbers: vec![-1, 0, i64::MAX, i64::MIN],
            big: (i128::MIN, u128::MAX),
            floats: [1.5, -0.0, f64::NAN, 1e300],
            letter: '"',
            flags: BTreeMap::from([(false, 0), (true, 1)]),
            by_number: BTreeMap::from([(7, Wrapper("seven".into())), (12, Wrapper(String::new()))]),
            by_letter: BTreeMap::from([('\n', Unit)]),
            by_shape: BTreeMap::from([("circle".into(), Shape::Circle(2.0)), ("empty".into(), Shape::Empty)]),
            shapes: vec![
                Shape::Empty,
                Shape::Circle(0.25),
                Shape::Pair(-3, "three".into()),
                Shape::Box { width: 4, label: Some("tab\there".into()) },
                Shape::Box { width: 0, label: None },
            ],
            nothing: (),
            empty_list: Vec::new(),
            empty_map: BTreeMap::new(),
        }
    }

    #[test]
    fn document_matches_serde_json() {
        let expected = serde_json::to_vec(&document()).expect("serde_json output");
        let written = to_vec(&document()).expect("output");
        assert_eq!(String::from_utf8(written).expect("UTF-8"), String::from_utf8(expected).expect("UTF-8"));
    }

    /// A map keyed by floats, which no standard map type allows.
    struct FloatKeys(Vec<f64>);

    impl Serialize for FloatKeys {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for key in &self.0 {
                map.serialize_entry(key, &true)?;
            }
            map.end()
        }
    }

    #[test]
    fn float_keys_match_serde_json() {
        let finite = FloatKeys(vec![0.5, -2.0, 1e21]);
        let expected = serde_json::to_vec(&finite).expect("serde_json output");
        assert_eq!(to_vec(&finite).expect("output"), expected);
        assert!(to_vec(&FloatKeys(vec![f64::NAN])).is_err());
        assert!(serde_json::to_vec(&FloatKeys(vec![f64::NAN])).is_err(), "serde_json rejects the same key");
    }

    #[test]
    fn composite_keys_fail() {
        let by_list = BTreeMap::from([(vec![1u8], 1u8)]);
        let by_unit = BTreeMap::from([((), 1u8)]);
        assert!(to_vec(&by_list).is_err());
        assert!(to_vec(&by_unit).is_err());
        assert!(serde_json::to_vec(&by_list).is_err(), "serde_json rejects the same key");
    }
}
