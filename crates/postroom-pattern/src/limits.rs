//! Size and complexity limits of the two services.

use std::collections::{BTreeMap, BTreeSet};

use crate::compile::Compiled;
use crate::eval::Node;
use crate::matcher::{AnythingBut, Matcher};
use crate::FilterPolicyScope;

/// Maximum length of an event pattern, in characters: the length constraint
/// of `EventPattern` in the EventBridge API reference. The default account
/// quota is lower (2048) and belongs to the service layer.
pub(crate) const EVENT_PATTERN_MAX_CHARS: usize = 4096;

/// Maximum size of an SNS filter policy, in bytes (256 KB, from the SNS
/// developer guide's filter policy constraints).
pub(crate) const FILTER_POLICY_MAX_BYTES: usize = 256 * 1024;

/// Maximum number of keys in an SNS filter policy.
const MAX_KEYS: usize = 5;

/// Maximum number of value combinations in an SNS filter policy.
const MAX_COMBINATIONS: u64 = 150;

/// Maximum wildcard weight of one EventBridge field; see `check_wildcards`.
const MAX_WILDCARD_WEIGHT: usize = 6;

/// Applies SNS's nesting, key and complexity limits, in the order AWS
/// checks them.
///
/// Keys are the distinct field paths, so a policy in the attribute scope
/// counts its top-level keys and one in the body scope its leaf paths. The
/// combinations multiply across the fields of an object and add across the
/// branches of `$or`. In the body scope each field counts its number of
/// values times the nesting depth of its key, as in the developer guide's
/// example (4 values at depth 3 and 3 values at depth 2 make 3 x 4 x 2 x 3 =
/// 72); in the attribute scope each field counts its number of values.
pub(crate) fn check_filter_policy(
    compiled: &Compiled,
    scope: FilterPolicyScope,
) -> Result<(), String> {
    if compiled.nested && scope == FilterPolicyScope::MessageAttributes {
        return Err(
            "Filter policy scope MessageAttributes does not support nested filter policy"
                .to_string(),
        );
    }
    let mut fields = Vec::new();
    reachable_fields(&compiled.root, &mut fields);
    let keys: BTreeSet<&str> = fields
        .iter()
        .map(|index| compiled.fields[*index].path.as_str())
        .collect();
    if keys.len() > MAX_KEYS {
        return Err(format!(
            "Filter policy can not have more than {MAX_KEYS} keys"
        ));
    }
    if combinations(&compiled.root, compiled, scope) > MAX_COMBINATIONS {
        return Err("Filter policy is too complex".to_string());
    }
    Ok(())
}

fn combinations(node: &Node, compiled: &Compiled, scope: FilterPolicyScope) -> u64 {
    match node {
        Node::Field(index) => {
            let (values, depth) = compiled.shapes[*index];
            let values = u64::try_from(values).unwrap_or(u64::MAX);
            let depth = u64::try_from(depth).unwrap_or(u64::MAX);
            match scope {
                FilterPolicyScope::MessageAttributes => values,
                FilterPolicyScope::MessageBody => values.saturating_mul(depth),
            }
        }
        Node::All(children) => children.iter().fold(1, |product, child| {
            product.saturating_mul(combinations(child, compiled, scope))
        }),
        Node::Any(children) => children.iter().fold(0, |sum, child| {
            sum.saturating_add(combinations(child, compiled, scope))
        }),
    }
}

/// Rejects EventBridge fields whose wildcards would make matching costly.
///
/// NOTE: AWS measures the states that a worst-case value keeps active in its
/// matching automaton, and its limit is not published. This estimate weighs a
/// field by the number of `*` in all its wildcard patterns plus one for each
/// pattern that starts with `*`, and rejects a weight above 6. It agrees with
/// the cases recorded from AWS: `*:*:*:*:*:event-bus/*` alone (weight 7) and
/// four patterns like `*.png` in one field (weight 8) are rejected, and two
/// patterns like `*/lib/*.png` (weight 6) are accepted.
pub(crate) fn check_wildcards(compiled: &Compiled) -> Result<(), String> {
    let mut fields = Vec::new();
    reachable_fields(&compiled.root, &mut fields);
    let mut weights: BTreeMap<&str, usize> = BTreeMap::new();
    for index in fields {
        let field = &compiled.fields[index];
        let mut weight = 0;
        for matcher in &field.matchers {
            match matcher {
                Matcher::Wildcard(pattern) => {
                    weight += pattern.star_count() + usize::from(pattern.starts_with_star())
                }
                Matcher::AnythingBut(AnythingBut::Wildcards(patterns)) => {
                    for pattern in patterns {
                        weight += pattern.star_count() + usize::from(pattern.starts_with_star());
                    }
                }
                _ => {}
            }
        }
        *weights.entry(field.path.as_str()).or_default() += weight;
    }
    if weights.values().any(|weight| *weight > MAX_WILDCARD_WEIGHT) {
        return Err("Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character".to_string());
    }
    Ok(())
}

fn reachable_fields(node: &Node, out: &mut Vec<usize>) {
    match node {
        Node::Field(index) => out.push(*index),
        Node::All(children) | Node::Any(children) => {
            for child in children {
                reachable_fields(child, out);
            }
        }
    }
}
