//! Query parameters as a tree of their dotted names, which both Query
//! protocol dialects read: `Attribute.1.Name` becomes the path
//! `Attribute` / `1` / `Name`.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Node {
    pub value: Option<String>,
    pub children: BTreeMap<String, Node>,
}

impl Node {
    /// Builds the tree of the parameters, leaving out `Action`, `Version`
    /// and the `X-Amz-*` signing parameters.
    pub fn from_parameters(parameters: &[(String, String)]) -> Self {
        let mut root = Node::default();
        for (name, value) in parameters {
            if matches!(name.as_str(), "Action" | "Version") || name.starts_with("X-Amz-") {
                continue;
            }
            let path: Vec<&str> = name.split('.').collect();
            root.insert(&path, value.clone());
        }
        root
    }

    fn insert(&mut self, path: &[&str], value: String) {
        match path.split_first() {
            None => self.value = Some(value),
            Some((first, rest)) => self.children.entry((*first).to_string()).or_default().insert(rest, value),
        }
    }

    /// Returns the children with numeric names, in numeric order.
    pub fn indexed(&self) -> Vec<&Node> {
        let mut indexed: Vec<(u64, &Node)> =
            self.children.iter().filter_map(|(index, node)| Some((index.parse().ok()?, node))).collect();
        indexed.sort_by_key(|(index, _)| *index);
        indexed.into_iter().map(|(_, node)| node).collect()
    }
}
