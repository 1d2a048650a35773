//! Events and message attributes as flat lists of values by path.
//!
//! AWS matches a pattern against the leaves of an event, each named by the
//! keys on its way from the root joined with dots, so `{"a": {"b": 1}}` and
//! `{"a.b": 1}` both have the leaf `a.b`. An array adds no key: each element
//! is a value of the same path. Objects, empty arrays and empty objects are
//! not leaves, so `exists` matches only scalar values.
//!
//! Each leaf records the array elements it sits in as its trail, so that the
//! matcher can keep the fields of one pattern object inside one element.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::matcher::Leaf;
use crate::numeric::{Number, NumberLimits};
use crate::MessageAttribute;

/// An array element on the way to a leaf: the array's id within this event
/// and the element's index.
pub(crate) type Step = (u32, u32);

/// A leaf value and the array elements that contain it.
#[derive(Clone, Debug)]
pub(crate) struct FlatLeaf<'a> {
    pub(crate) leaf: Leaf<'a>,
    pub(crate) trail: Vec<Step>,
}

/// The leaves of one event, grouped by path.
#[derive(Debug, Default)]
pub(crate) struct FlatEvent<'a> {
    leaves: HashMap<String, Vec<FlatLeaf<'a>>>,
}

impl<'a> FlatEvent<'a> {
    /// Returns the leaves at `path`, in document order.
    pub(crate) fn leaves(&self, path: &str) -> &[FlatLeaf<'a>] {
        self.leaves.get(path).map(Vec::as_slice).unwrap_or(&[])
    }

    fn push(&mut self, path: &str, leaf: Leaf<'a>, trail: Vec<Step>) {
        self.leaves
            .entry(path.to_string())
            .or_default()
            .push(FlatLeaf { leaf, trail });
    }

    /// Adds the elements of a `String.Array` attribute value.
    fn push_array(&mut self, name: &str, text: &'a str, limits: &NumberLimits) {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                for item in &items {
                    if let Some(leaf) = owned_scalar_leaf(item, limits) {
                        self.push(name, leaf, Vec::new());
                    }
                }
            }
            _ => self.push(name, Leaf::String(Cow::Borrowed(text)), Vec::new()),
        }
    }

    /// Flattens a JSON object; returns `None` for any other value.
    ///
    /// The walk uses an explicit stack, so a deeply nested event cannot
    /// overflow the thread's stack.
    pub(crate) fn from_json(event: &'a Value, limits: &NumberLimits) -> Option<FlatEvent<'a>> {
        if !event.is_object() {
            return None;
        }
        let mut flat = FlatEvent::default();
        let mut next_array_id: u32 = 0;
        let mut stack: Vec<(&'a Value, String, Vec<Step>)> =
            vec![(event, String::new(), Vec::new())];
        while let Some((value, path, trail)) = stack.pop() {
            match value {
                Value::Object(members) => {
                    for (key, member) in members.iter().rev() {
                        stack.push((member, join(&path, key), trail.clone()));
                    }
                }
                Value::Array(items) => {
                    let array_id = next_array_id;
                    next_array_id = next_array_id.wrapping_add(1);
                    for (index, item) in items.iter().enumerate().rev() {
                        let mut item_trail = trail.clone();
                        item_trail.push((array_id, u32::try_from(index).unwrap_or(u32::MAX)));
                        stack.push((item, path.clone(), item_trail));
                    }
                }
                scalar => {
                    if let Some(leaf) = scalar_leaf(scalar, limits) {
                        flat.push(&path, leaf, trail);
                    }
                }
            }
        }
        Some(flat)
    }

    /// Converts SNS message attributes into leaves, one path per attribute.
    ///
    /// `String` (and `String.<custom>`) values are strings, `Number` values
    /// numbers, and each element of a `String.Array` is a value of its own
    /// with its JSON type. `Binary` attributes are left out, so a policy
    /// treats them as absent. A `Number` that does not parse is kept as a string,
    /// and a `String.Array` that is not a JSON array as one string.
    pub(crate) fn from_attributes(
        attributes: &'a BTreeMap<String, MessageAttribute>,
        limits: &NumberLimits,
    ) -> FlatEvent<'a> {
        let mut flat = FlatEvent::default();
        for (name, attribute) in attributes {
            let base_type = attribute.data_type.split('.').next().unwrap_or_default();
            let text = attribute.value.as_str();
            match base_type {
                "String" if attribute.data_type == "String.Array" => {
                    flat.push_array(name, text, limits)
                }
                "String" => flat.push(name, Leaf::String(Cow::Borrowed(text)), Vec::new()),
                "Number" => {
                    let leaf = match serde_json::from_str::<serde_json::Number>(text.trim()) {
                        Ok(number) => Leaf::Number(Number::from_json(&number, limits)),
                        Err(_) => Leaf::String(Cow::Borrowed(text)),
                    };
                    flat.push(name, leaf, Vec::new());
                }
                _ => {}
            }
        }
        flat
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn scalar_leaf<'a>(value: &'a Value, limits: &NumberLimits) -> Option<Leaf<'a>> {
    match value {
        Value::String(text) => Some(Leaf::String(Cow::Borrowed(text))),
        Value::Number(number) => Some(Leaf::Number(Number::from_json(number, limits))),
        Value::Bool(flag) => Some(Leaf::Bool(*flag)),
        Value::Null => Some(Leaf::Null),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Like `scalar_leaf`, for a value that does not outlive the call.
fn owned_scalar_leaf<'a>(value: &Value, limits: &NumberLimits) -> Option<Leaf<'a>> {
    match value {
        Value::String(text) => Some(Leaf::String(Cow::Owned(text.clone()))),
        Value::Number(number) => Some(Leaf::Number(Number::from_json(number, limits))),
        Value::Bool(flag) => Some(Leaf::Bool(*flag)),
        Value::Null => Some(Leaf::Null),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::EVENTBRIDGE_NUMBERS;
    use serde_json::json;

    #[test]
    fn nested_and_dotted_keys_share_paths() {
        let event = json!({"a": {"b": 1}, "a.b": 2, "c": {}});
        let flat = FlatEvent::from_json(&event, &EVENTBRIDGE_NUMBERS).unwrap_or_default();
        assert_eq!(flat.leaves("a.b").len(), 2);
        assert!(flat.leaves("c").is_empty());
    }

    #[test]
    fn array_elements_carry_trails() {
        let event = json!({"r": [{"k": "x"}, {"k": ["y", "z"]}]});
        let flat = FlatEvent::from_json(&event, &EVENTBRIDGE_NUMBERS).unwrap_or_default();
        let trails: Vec<Vec<Step>> = flat
            .leaves("r.k")
            .iter()
            .map(|leaf| leaf.trail.clone())
            .collect();
        assert_eq!(
            trails,
            vec![vec![(0, 0)], vec![(0, 1), (1, 0)], vec![(0, 1), (1, 1)]]
        );
    }

    #[test]
    fn non_objects_have_no_leaves() {
        assert!(FlatEvent::from_json(&json!([1, 2]), &EVENTBRIDGE_NUMBERS).is_none());
        assert!(FlatEvent::from_json(&json!("text"), &EVENTBRIDGE_NUMBERS).is_none());
    }

    #[test]
    fn attributes_follow_their_data_types() {
        let attribute = |data_type: &str, value: &str| MessageAttribute {
            data_type: data_type.to_string(),
            value: value.to_string(),
        };
        let attributes = BTreeMap::from([
            ("s".to_string(), attribute("String.custom", "text")),
            ("n".to_string(), attribute("Number.float", "3.5")),
            (
                "a".to_string(),
                attribute("String.Array", r#"["x", 2, true, null]"#),
            ),
            ("b".to_string(), attribute("Binary", "AAEC")),
        ]);
        let flat = FlatEvent::from_attributes(&attributes, &EVENTBRIDGE_NUMBERS);
        assert!(matches!(
            flat.leaves("s"),
            [FlatLeaf {
                leaf: Leaf::String(_),
                ..
            }]
        ));
        assert!(matches!(
            flat.leaves("n"),
            [FlatLeaf {
                leaf: Leaf::Number(_),
                ..
            }]
        ));
        assert_eq!(flat.leaves("a").len(), 4);
        assert!(flat.leaves("b").is_empty());
    }
}
