//! Compilation of a pattern's objects, fields and `$or` into a tree.
//!
//! Keys of nested objects join with dots into field paths. Each field's array
//! contains exact values (strings, numbers, booleans, null) and match
//! expressions, any one of which may match. A later field with the same path
//! in the same object replaces an earlier one, as in AWS.
//!
//! `$or` differs between the services. EventBridge treats every `$or` key as
//! the operator and rejects a malformed one. SNS treats it as the operator
//! only when its value is an array of at least two non-empty objects whose
//! keys are not operator names. Otherwise `$or` is an ordinary key, as the
//! SNS developer guide describes.

use crate::cidr::parse_ip;
use crate::eval::{Field, Node};
use crate::json::Json;
use crate::matcher::Matcher;
use crate::numeric::{Number, NumberLimits, EVENTBRIDGE_NUMBERS, SNS_NUMBERS};
use crate::operators::{match_expression, Expression};
use crate::FilterPolicyScope;

/// The service whose rules a pattern follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    EventBridge,
    Sns(FilterPolicyScope),
}

impl Dialect {
    pub(crate) fn is_eventbridge(self) -> bool {
        self == Dialect::EventBridge
    }

    pub(crate) fn numbers(self) -> NumberLimits {
        match self {
            Dialect::EventBridge => EVENTBRIDGE_NUMBERS,
            Dialect::Sns(_) => SNS_NUMBERS,
        }
    }
}

/// Names that event-ruler reserves; EventBridge rejects them as keys inside
/// `$or`, and SNS does not read `$or` as the operator when they appear.
const RESERVED_NAMES: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// A compiled pattern body.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub(crate) root: Node,
    pub(crate) fields: Vec<Field>,
    /// For each field, the number of values in its array and the nesting
    /// depth of its key (1 at the top level), which SNS's complexity counts.
    pub(crate) shapes: Vec<(usize, usize)>,
    /// Whether any key has an object as its value, which SNS's attribute
    /// scope rejects after the rest of the policy has compiled.
    pub(crate) nested: bool,
}

/// Compiles the members of a pattern's top-level object.
pub(crate) fn compile(members: &[(String, Json)], dialect: Dialect) -> Result<Compiled, String> {
    let mut compiler = Compiler {
        dialect,
        fields: Vec::new(),
        shapes: Vec::new(),
        nested: false,
    };
    let mut children = Vec::new();
    compiler.object(members, "", 1, false, &mut children)?;
    Ok(Compiled {
        root: Node::All(children),
        fields: compiler.fields,
        shapes: compiler.shapes,
        nested: compiler.nested,
    })
}

struct Compiler {
    dialect: Dialect,
    fields: Vec<Field>,
    shapes: Vec<(usize, usize)>,
    nested: bool,
}

impl Compiler {
    /// Adds the fields and `$or` nodes of one object to `out`, the children
    /// of the enclosing "all of" node.
    fn object(
        &mut self,
        members: &[(String, Json)],
        prefix: &str,
        depth: usize,
        inside_or: bool,
        out: &mut Vec<Node>,
    ) -> Result<(), String> {
        if members.is_empty() {
            return Err("Empty objects are not allowed".to_string());
        }
        for (key, value) in members {
            if key == "$or" && self.is_or_operator(value)? {
                out.push(self.or(value, prefix, depth)?);
                continue;
            }
            if inside_or && self.dialect.is_eventbridge() && RESERVED_NAMES.contains(&key.as_str())
            {
                return Err(format!(
                    "{key} is Ruler reserved fieldName which cannot be used inside $or."
                ));
            }
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Json::Object(inner) => {
                    self.nested = true;
                    self.object(inner, &path, depth + 1, inside_or, out)?;
                }
                Json::Array(items) => {
                    let index = self.field(path, items, depth)?;
                    self.replace_or_push(out, index);
                }
                _ => return Err(format!("\"{key}\" must be an object or an array")),
            }
        }
        Ok(())
    }

    /// Adds a field node, replacing a field with the same path among `out`.
    fn replace_or_push(&self, out: &mut Vec<Node>, index: usize) {
        let path = &self.fields[index].path;
        let earlier = out.iter().position(|node| match node {
            Node::Field(other) => self.fields[*other].path == *path,
            _ => false,
        });
        match earlier {
            Some(position) => out[position] = Node::Field(index),
            None => out.push(Node::Field(index)),
        }
    }

    /// Decides whether a `$or` key is the operator; see the module docs.
    fn is_or_operator(&self, value: &Json) -> Result<bool, String> {
        if !self.dialect.is_eventbridge() {
            let Json::Array(branches) = value else {
                return Ok(false);
            };
            let usable = |branch: &Json| match branch {
                Json::Object(members) => {
                    !members.is_empty()
                        && members
                            .iter()
                            .all(|(key, _)| !RESERVED_NAMES.contains(&key.as_str()))
                }
                _ => false,
            };
            return Ok(branches.len() >= 2 && branches.iter().all(usable));
        }
        let Json::Array(branches) = value else {
            return Err("It must be an Array followed with $or.".to_string());
        };
        if branches
            .iter()
            .any(|branch| !matches!(branch, Json::Object(_)))
        {
            return Err("Only JSON object is allowed in array of $or relationship.".to_string());
        }
        if branches.len() < 2 {
            return Err("There must have at least 2 Objects in $or relationship.".to_string());
        }
        Ok(true)
    }

    fn or(&mut self, value: &Json, prefix: &str, depth: usize) -> Result<Node, String> {
        let mut alternatives = Vec::new();
        if let Json::Array(branches) = value {
            for branch in branches {
                if let Json::Object(members) = branch {
                    let mut children = Vec::new();
                    self.object(members, prefix, depth, true, &mut children)?;
                    alternatives.push(Node::All(children));
                }
            }
        }
        Ok(Node::Any(alternatives))
    }

    /// Compiles a field's array of values and returns the field's index.
    fn field(&mut self, path: String, items: &[Json], depth: usize) -> Result<usize, String> {
        let limits = self.dialect.numbers();
        let mut matchers = Vec::with_capacity(items.len());
        let mut absent_matches = false;
        for item in items {
            match item {
                Json::Object(members) => match match_expression(members, self.dialect)? {
                    Expression::Matcher(matcher) => matchers.push(matcher),
                    Expression::Absent => absent_matches = true,
                },
                Json::String(text) => matchers.push(Matcher::ExactString {
                    text: text.clone(),
                    ip: parse_ip(text),
                }),
                Json::Number(text) => {
                    if let Some(number) = Number::from_text(text, &limits) {
                        matchers.push(Matcher::ExactNumber(number));
                    }
                }
                Json::Bool(value) => matchers.push(Matcher::ExactBool(*value)),
                Json::Null => matchers.push(Matcher::ExactNull),
                Json::Array(_) => {
                    return Err(
                        "Match value must be String, number, true, false, or null".to_string()
                    )
                }
            }
        }
        if items.is_empty() {
            return Err("Empty arrays are not allowed".to_string());
        }
        self.fields.push(Field {
            path,
            matchers,
            absent_matches,
        });
        self.shapes.push((items.len(), depth));
        Ok(self.fields.len() - 1)
    }
}
