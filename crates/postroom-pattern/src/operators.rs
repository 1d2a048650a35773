//! Match expressions: the `{"operator": ...}` objects in a field's array.
//!
//! The checks run in the order AWS runs them, so a pattern with several
//! problems reports the same one. The texts are AWS's, as recorded from
//! EventBridge's InvalidEventPatternException and SNS's InvalidParameter
//! responses. Both services use the texts of event-ruler, AWS's open-source
//! implementation, but SNS accepts fewer operators:
//!
//! - EventBridge only: `wildcard`, `prefix`/`suffix` with
//!   `{"equals-ignore-case": ...}`, and `anything-but` with `suffix`,
//!   `equals-ignore-case`, `wildcard` or a list of prefixes.
//! - SNS `anything-but` accepts only a single `prefix` inside an object.
//!
//! NOTE: the SNS operator set follows responses recorded in May 2024.
//! Operators that SNS has added since are rejected here.

use crate::cidr::CidrBlock;
use crate::compile::Dialect;
use crate::json::Json;
use crate::matcher::{AnythingBut, Matcher};
use crate::numeric::{Bound, Number, Range};
use crate::wildcard::Wildcard;

const ONLY_ONE_KEY: &str = "Only one key allowed in match expression";
/// AWS reports extra keys after `numeric` and `anything-but` with this text.
const TOO_MANY_ELEMENTS: &str = "Too many elements in numeric expression";
const ANYTHING_BUT_VALUE: &str =
    "Value of anything-but must be an array or single string/number value.";

/// A parsed match expression.
#[derive(Debug)]
pub(crate) enum Expression {
    Matcher(Matcher),
    /// `{"exists": false}`: the field holds when the event lacks it.
    Absent,
}

/// Parses one match expression object.
pub(crate) fn match_expression(
    members: &[(String, Json)],
    dialect: Dialect,
) -> Result<Expression, String> {
    let Some((name, value)) = members.first() else {
        return Err("Match expression name not found".to_string());
    };
    let extra_keys = members.len() > 1;
    let only_one_key = |expression: Expression| {
        if extra_keys {
            Err(ONLY_ONE_KEY.to_string())
        } else {
            Ok(expression)
        }
    };
    match name.as_str() {
        "prefix" | "suffix" => only_one_key(affix(name, value, dialect)?),
        "equals-ignore-case" => {
            let text = string_operand(value, "equals-ignore-case match pattern must be a string")?;
            only_one_key(Expression::Matcher(Matcher::EqualsIgnoreCase(
                text.to_lowercase(),
            )))
        }
        "wildcard" if dialect.is_eventbridge() => {
            let text = string_operand(value, "wildcard match pattern must be a string")?;
            only_one_key(Expression::Matcher(Matcher::Wildcard(Wildcard::parse(
                text,
            )?)))
        }
        "numeric" => {
            let range = numeric(value, dialect)?;
            if extra_keys {
                return Err(TOO_MANY_ELEMENTS.to_string());
            }
            Ok(Expression::Matcher(Matcher::Numeric(range)))
        }
        "anything-but" => {
            let excluded = anything_but(value, dialect)?;
            if extra_keys {
                return Err(TOO_MANY_ELEMENTS.to_string());
            }
            Ok(Expression::Matcher(Matcher::AnythingBut(excluded)))
        }
        "exists" => match value {
            Json::Bool(true) => only_one_key(Expression::Matcher(Matcher::Exists)),
            Json::Bool(false) => only_one_key(Expression::Absent),
            _ => Err("exists match pattern must be either true or false.".to_string()),
        },
        "cidr" => {
            // AWS reports a non-string CIDR with the prefix text.
            let text = string_operand(value, "prefix match pattern must be a string")?;
            only_one_key(Expression::Matcher(Matcher::Cidr(CidrBlock::parse(text)?)))
        }
        other => Err(format!("Unrecognized match type {other}")),
    }
}

fn string_operand<'j>(value: &'j Json, message: &str) -> Result<&'j str, String> {
    match value {
        Json::String(text) => Ok(text),
        _ => Err(message.to_string()),
    }
}

/// Parses `prefix` or `suffix`, with EventBridge's ignore-case object form.
fn affix(name: &str, value: &Json, dialect: Dialect) -> Result<Expression, String> {
    let is_prefix = name == "prefix";
    let matcher = match value {
        Json::Object(inner) if dialect.is_eventbridge() => {
            let capitalized = if is_prefix { "Prefix" } else { "Suffix" };
            let Some((operator, operand)) = inner.first() else {
                return Err(format!("{capitalized} expression name not found"));
            };
            if operator != "equals-ignore-case" {
                return Err(format!("Unsupported {name} pattern: {operator}"));
            }
            let text =
                string_operand(operand, "equals-ignore-case match pattern must be a string")?;
            if inner.len() > 1 {
                return Err(ONLY_ONE_KEY.to_string());
            }
            if is_prefix {
                Matcher::PrefixIgnoreCase(text.to_lowercase())
            } else {
                Matcher::SuffixIgnoreCase(text.to_lowercase())
            }
        }
        Json::String(text) if is_prefix => Matcher::Prefix(text.clone()),
        Json::String(text) => Matcher::Suffix(text.clone()),
        _ => return Err(format!("{name} match pattern must be a string")),
    };
    Ok(Expression::Matcher(matcher))
}

/// Parses the array of a `numeric` expression into a range.
fn numeric(value: &Json, dialect: Dialect) -> Result<Range, String> {
    let Json::Array(items) = value else {
        return Err("Value of numeric must be an array.".to_string());
    };
    // Jackson names the token it stopped at; "]" is the end of the array.
    let token = |index: usize| {
        items
            .get(index)
            .map_or_else(|| "]".to_string(), Json::token_text)
    };
    let number_at = |index: usize| match items.get(index) {
        Some(Json::Number(text)) => Some(text.as_str()),
        _ => None,
    };
    let Some(Json::String(operator)) = items.first() else {
        return Err(format!("Invalid member in numeric match: {}", token(0)));
    };
    let operator = operator.as_str();
    match operator {
        "=" => {
            let text = number_at(1).ok_or("Value of equals must be numeric")?;
            if items.len() > 2 {
                return Err(TOO_MANY_ELEMENTS.to_string());
            }
            let value = units(text, dialect)?;
            let bound = Some(Bound {
                value,
                inclusive: true,
            });
            Ok(Range {
                lower: bound,
                upper: bound,
            })
        }
        ">" | ">=" => {
            let bottom_text =
                number_at(1).ok_or_else(|| format!("Value of {operator} must be numeric"))?;
            let lower_inclusive = operator == ">=";
            if items.len() == 2 {
                let lower = Bound {
                    value: units(bottom_text, dialect)?,
                    inclusive: lower_inclusive,
                };
                return Ok(Range {
                    lower: Some(lower),
                    upper: None,
                });
            }
            let Some(Json::String(top_operator)) = items.get(2) else {
                return Err(format!("Bad value in numeric range: {}", token(2)));
            };
            if top_operator != "<" && top_operator != "<=" {
                return Err(format!("Bad numeric range operator: {top_operator}"));
            }
            let top_text =
                number_at(3).ok_or_else(|| format!("Value of {top_operator} must be numeric"))?;
            if items.len() > 4 {
                return Err("Too many terms in numeric range expression".to_string());
            }
            let lower = Bound {
                value: units(bottom_text, dialect)?,
                inclusive: lower_inclusive,
            };
            let upper = Bound {
                value: units(top_text, dialect)?,
                inclusive: top_operator == "<=",
            };
            if lower.value >= upper.value {
                return Err("Bottom must be less than top".to_string());
            }
            Ok(Range {
                lower: Some(lower),
                upper: Some(upper),
            })
        }
        "<" | "<=" => {
            let text =
                number_at(1).ok_or_else(|| format!("Value of {operator} must be numeric"))?;
            if items.len() > 2 {
                return Err(TOO_MANY_ELEMENTS.to_string());
            }
            let upper = Bound {
                value: units(text, dialect)?,
                inclusive: operator == "<=",
            };
            Ok(Range {
                lower: None,
                upper: Some(upper),
            })
        }
        other => Err(format!("Unrecognized numeric range operator: {other}")),
    }
}

/// Converts a pattern number to units of the dialect's precision, or
/// returns the range error when it lies outside the comparable range.
fn units(text: &str, dialect: Dialect) -> Result<i64, String> {
    let limits = dialect.numbers();
    Number::from_text(text, &limits)
        .and_then(|number| number.comparable())
        .ok_or_else(|| limits.range_error())
}

fn checked_number(text: &str, dialect: Dialect) -> Result<Number, String> {
    let limits = dialect.numbers();
    match Number::from_text(text, &limits) {
        Some(number) if number.comparable().is_some() => Ok(number),
        _ => Err(limits.range_error()),
    }
}

/// The operator inside an `anything-but` object.
#[derive(Clone, Copy, PartialEq)]
enum SetKind {
    IgnoreCase,
    Prefix,
    Suffix,
    Wildcard,
}

fn anything_but(value: &Json, dialect: Dialect) -> Result<AnythingBut, String> {
    match value {
        Json::Object(inner) if dialect.is_eventbridge() => {
            let Some((operator, operand)) = inner.first() else {
                return Err("Anything-But expression name not found".to_string());
            };
            let kind = match operator.as_str() {
                "equals-ignore-case" => SetKind::IgnoreCase,
                "prefix" => SetKind::Prefix,
                "suffix" => SetKind::Suffix,
                "wildcard" => SetKind::Wildcard,
                other => return Err(format!("Unsupported anything-but pattern: {other}")),
            };
            if !matches!(operand, Json::Array(_) | Json::String(_) | Json::Number(_)) {
                return Err(ANYTHING_BUT_VALUE.to_string());
            }
            let excluded = value_set(operand, kind)?;
            if inner.len() > 1 {
                return Err(TOO_MANY_ELEMENTS.to_string());
            }
            Ok(excluded)
        }
        Json::Object(inner) => {
            let Some((operator, operand)) = inner.first() else {
                return Err("Anything-But expression name not found".to_string());
            };
            if operator != "prefix" {
                return Err(format!("Unsupported anything-but pattern: {operator}"));
            }
            let text = string_operand(operand, "prefix match pattern must be a string")?;
            if text.is_empty() {
                return Err("Null prefix/suffix not allowed".to_string());
            }
            if inner.len() > 1 {
                return Err(ONLY_ONE_KEY.to_string());
            }
            Ok(AnythingBut::Prefixes(vec![text.to_string()]))
        }
        Json::Array(items) => anything_but_list(items, dialect),
        Json::String(text) => Ok(AnythingBut::Strings(vec![text.clone()])),
        Json::Number(text) => Ok(AnythingBut::Numbers(vec![checked_number(text, dialect)?])),
        _ => Err(ANYTHING_BUT_VALUE.to_string()),
    }
}

/// Parses a plain `anything-but` list: all strings or all numbers.
fn anything_but_list(items: &[Json], dialect: Dialect) -> Result<AnythingBut, String> {
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    for item in items {
        match item {
            Json::String(text) => strings.push(text.clone()),
            Json::Number(text) => numbers.push(checked_number(text, dialect)?),
            _ => {
                return Err(
                    "Inside anything but list, start|null|boolean is not supported.".to_string(),
                )
            }
        }
    }
    match (strings.is_empty(), numbers.is_empty()) {
        (false, true) => Ok(AnythingBut::Strings(strings)),
        (true, false) => Ok(AnythingBut::Numbers(numbers)),
        _ => Err(
            "Inside anything but list, either all values are number or string, mixed type is not supported"
                .to_string(),
        ),
    }
}

/// Parses the operand of EventBridge's `anything-but` object forms: one
/// string or a list of strings.
fn value_set(operand: &Json, kind: SetKind) -> Result<AnythingBut, String> {
    let items = match operand {
        Json::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    let mut texts = Vec::with_capacity(items.len());
    for item in items {
        let Json::String(text) = item else {
            return Err(match kind {
                SetKind::IgnoreCase => {
                    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                }
                SetKind::Wildcard => "wildcard match pattern must be a string",
                SetKind::Prefix | SetKind::Suffix => "prefix/suffix match pattern must be a string",
            }
            .to_string());
        };
        if text.is_empty() && matches!(kind, SetKind::Prefix | SetKind::Suffix) {
            return Err("Null prefix/suffix not allowed".to_string());
        }
        texts.push(text.clone());
    }
    Ok(match kind {
        SetKind::IgnoreCase => {
            AnythingBut::IgnoreCase(texts.iter().map(|text| text.to_lowercase()).collect())
        }
        SetKind::Prefix => AnythingBut::Prefixes(texts),
        SetKind::Suffix => AnythingBut::Suffixes(texts),
        SetKind::Wildcard => {
            let patterns = texts
                .iter()
                .map(|text| Wildcard::parse(text))
                .collect::<Result<_, _>>()?;
            AnythingBut::Wildcards(patterns)
        }
    })
}
