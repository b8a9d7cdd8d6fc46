//! Small integers for the policy vocabulary, so that per-subject facts stay
//! a few bytes each (memory per subject is measured in BENCHMARKS.md).

use std::collections::HashMap;

/// Maps names to dense `u32`s, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }
}
