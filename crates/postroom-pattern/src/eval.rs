//! Evaluation of a compiled pattern against the leaves of an event.
//!
//! A pattern is a tree of "all of" and "any of" nodes over fields. A field
//! is satisfied when one of its leaves meets one of its conditions, or when
//! it accepts absence (`{"exists": false}`) and the event has no leaf at its
//! path.
//!
//! Arrays add one rule: the leaves chosen for different fields must not come
//! from different elements of the same array, so the keys of one pattern
//! object match inside one element of an array of objects. Only arrays that
//! the candidate leaves of two or more fields pass through can cause a
//! conflict, so every other array is dropped from the trails first. Parts of
//! the tree whose fields have no such conflict are decided as plain boolean
//! logic. The rest is a depth-first search over the choice of leaves.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{FlatEvent, Step};
use crate::matcher::Matcher;

/// A node of a compiled pattern.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// Satisfied when every child is.
    All(Vec<Node>),
    /// Satisfied when at least one child is (`$or`).
    Any(Vec<Node>),
    /// Index into the pattern's fields.
    Field(usize),
}

/// The conditions on one path of the event.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    /// Keys from the root, joined with dots.
    pub(crate) path: String,
    /// Conditions of which at least one must hold for some leaf.
    pub(crate) matchers: Vec<Matcher>,
    /// Whether the field is also satisfied when the event has no leaf at the
    /// path.
    pub(crate) absent_matches: bool,
}

/// Maximum search steps per evaluation; see `evaluate`.
const MAX_SEARCH_STEPS: usize = 100_000;

/// Tells whether the event satisfies the pattern rooted at `root`.
pub(crate) fn evaluate(root: &Node, fields: &[Field], event: &FlatEvent<'_>) -> bool {
    evaluate_within(root, fields, event, MAX_SEARCH_STEPS)
}

fn evaluate_within(root: &Node, fields: &[Field], event: &FlatEvent<'_>, max_steps: usize) -> bool {
    let states = field_states(fields, event);
    let plan = plan(root, &states);
    if let Plan::Decided(result) = plan {
        return result;
    }
    let mut search = Search {
        steps: 0,
        max_steps,
    };
    let mut assignment = Vec::new();
    match search.solve(&[&plan], &mut assignment) {
        Ok(result) => result,
        // NOTE: past the step limit the array rule is dropped, so a
        // pathological pattern and event may match across array elements.
        Err(Exhausted) => plan.ignoring_arrays(),
    }
}

/// The requirement of one field on the event.
enum FieldState {
    Satisfied,
    Unsatisfied,
    /// Satisfied by any one of these trails that fits the other choices.
    NeedsOneOf(Vec<Vec<Step>>),
}

fn field_states(fields: &[Field], event: &FlatEvent<'_>) -> Vec<FieldState> {
    let mut candidates: Vec<(bool, Vec<&[Step]>)> = Vec::with_capacity(fields.len());
    for field in fields {
        let leaves = event.leaves(&field.path);
        let absent_satisfies = field.absent_matches && leaves.is_empty();
        let matching = leaves
            .iter()
            .filter(|flat| {
                field
                    .matchers
                    .iter()
                    .any(|matcher| matcher.matches(&flat.leaf))
            })
            .map(|flat| flat.trail.as_slice())
            .collect();
        candidates.push((absent_satisfies, matching));
    }

    // Arrays that the candidates of two or more fields pass through.
    let mut fields_by_array: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
    for (index, (_, trails)) in candidates.iter().enumerate() {
        for step in trails.iter().flat_map(|trail| trail.iter()) {
            fields_by_array.entry(step.0).or_default().insert(index);
        }
    }
    let shared: BTreeSet<u32> = fields_by_array
        .into_iter()
        .filter(|(_, users)| users.len() > 1)
        .map(|(array, _)| array)
        .collect();

    candidates
        .into_iter()
        .map(|(absent_satisfies, trails)| {
            if absent_satisfies {
                return FieldState::Satisfied;
            }
            let mut distinct_trails: Vec<Vec<Step>> = Vec::new();
            for trail in trails {
                let steps: Vec<Step> = trail
                    .iter()
                    .copied()
                    .filter(|step| shared.contains(&step.0))
                    .collect();
                if steps.is_empty() {
                    return FieldState::Satisfied;
                }
                if !distinct_trails.contains(&steps) {
                    distinct_trails.push(steps);
                }
            }
            if distinct_trails.is_empty() {
                FieldState::Unsatisfied
            } else {
                FieldState::NeedsOneOf(distinct_trails)
            }
        })
        .collect()
}

/// The pattern tree with every part that needs no search decided.
enum Plan<'s> {
    Decided(bool),
    All(Vec<Plan<'s>>),
    Any(Vec<Plan<'s>>),
    Field(&'s [Vec<Step>]),
}

fn plan<'s>(node: &Node, states: &'s [FieldState]) -> Plan<'s> {
    match node {
        Node::Field(index) => match states.get(*index) {
            Some(FieldState::Satisfied) => Plan::Decided(true),
            Some(FieldState::NeedsOneOf(trails)) => Plan::Field(trails),
            Some(FieldState::Unsatisfied) | None => Plan::Decided(false),
        },
        Node::All(children) => {
            let mut open = Vec::new();
            for child in children {
                match plan(child, states) {
                    Plan::Decided(true) => {}
                    Plan::Decided(false) => return Plan::Decided(false),
                    undecided => open.push(undecided),
                }
            }
            match open.len() {
                0 => Plan::Decided(true),
                1 => open.pop().unwrap_or(Plan::Decided(true)),
                _ => Plan::All(open),
            }
        }
        Node::Any(children) => {
            let mut open = Vec::new();
            for child in children {
                match plan(child, states) {
                    Plan::Decided(true) => return Plan::Decided(true),
                    Plan::Decided(false) => {}
                    undecided => open.push(undecided),
                }
            }
            match open.len() {
                0 => Plan::Decided(false),
                1 => open.pop().unwrap_or(Plan::Decided(false)),
                _ => Plan::Any(open),
            }
        }
    }
}

impl Plan<'_> {
    /// Evaluates the plan as if every field with candidates were satisfied.
    fn ignoring_arrays(&self) -> bool {
        match self {
            Plan::Decided(value) => *value,
            Plan::All(children) => children.iter().all(Plan::ignoring_arrays),
            Plan::Any(children) => children.iter().any(Plan::ignoring_arrays),
            Plan::Field(_) => true,
        }
    }
}

/// The search ran out of steps.
struct Exhausted;

struct Search {
    steps: usize,
    max_steps: usize,
}

impl Search {
    /// Tells whether all `pending` plans are satisfied together, with choices
    /// that fit `assignment`, the array elements chosen so far.
    fn solve(
        &mut self,
        pending: &[&Plan<'_>],
        assignment: &mut Vec<Step>,
    ) -> Result<bool, Exhausted> {
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(Exhausted);
        }
        let Some((first, rest)) = pending.split_first() else {
            return Ok(true);
        };
        match first {
            Plan::Decided(true) => self.solve(rest, assignment),
            Plan::Decided(false) => Ok(false),
            Plan::All(children) => {
                let mut next: Vec<&Plan<'_>> = children.iter().collect();
                next.extend_from_slice(rest);
                self.solve(&next, assignment)
            }
            Plan::Any(children) => {
                for child in children {
                    let mut next = Vec::with_capacity(rest.len() + 1);
                    next.push(child);
                    next.extend_from_slice(rest);
                    if self.solve(&next, assignment)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Plan::Field(trails) => {
                for trail in trails.iter() {
                    if !fits(trail, assignment) {
                        continue;
                    }
                    let before = assignment.len();
                    for step in trail {
                        if !assignment.contains(step) {
                            assignment.push(*step);
                        }
                    }
                    let found = self.solve(rest, assignment)?;
                    assignment.truncate(before);
                    if found {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

/// Tells whether a trail agrees with the chosen elements: for every array it
/// passes through that already has a chosen element, it uses that element.
fn fits(trail: &[Step], assignment: &[Step]) -> bool {
    trail.iter().all(|(array, index)| {
        assignment
            .iter()
            .all(|(chosen_array, chosen_index)| chosen_array != array || chosen_index == index)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::{Number, EVENTBRIDGE_NUMBERS};
    use serde_json::json;

    fn equals(path: &str, value: &str) -> Field {
        let number = Number::from_text(value, &EVENTBRIDGE_NUMBERS);
        Field {
            path: path.to_string(),
            matchers: number.map(Matcher::ExactNumber).into_iter().collect(),
            absent_matches: false,
        }
    }

    /// `{"r": {"k": [1], "v": [2]}}` against elements that each hold one of
    /// the two values.
    fn split_across_elements() -> (Node, Vec<Field>, serde_json::Value) {
        let fields = vec![equals("r.k", "1"), equals("r.v", "2")];
        let root = Node::All(vec![Node::Field(0), Node::Field(1)]);
        let event = json!({"r": [{"k": 1, "v": 0}, {"k": 0, "v": 2}]});
        (root, fields, event)
    }

    #[test]
    fn fields_must_share_an_array_element() {
        let (root, fields, event) = split_across_elements();
        let flat = FlatEvent::from_json(&event, &EVENTBRIDGE_NUMBERS).unwrap_or_default();
        assert!(!evaluate(&root, &fields, &flat));
    }

    #[test]
    fn exhausted_search_ignores_arrays() {
        let (root, fields, event) = split_across_elements();
        let flat = FlatEvent::from_json(&event, &EVENTBRIDGE_NUMBERS).unwrap_or_default();
        assert!(evaluate_within(&root, &fields, &flat, 1));
    }

    #[test]
    fn unrelated_arrays_need_no_search() {
        let fields = vec![equals("a", "1"), equals("b", "2")];
        let root = Node::All(vec![Node::Field(0), Node::Field(1)]);
        let event = json!({"a": [0, 1], "b": [2, 3]});
        let flat = FlatEvent::from_json(&event, &EVENTBRIDGE_NUMBERS).unwrap_or_default();
        let states = field_states(&fields, &flat);
        assert!(matches!(plan(&root, &states), Plan::Decided(true)));
    }
}
