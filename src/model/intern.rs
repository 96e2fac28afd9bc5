//! String interning: each distinct owner, repo name and policy name is stored
//! once and referred to by a small id. Alerts repeat the same few thousand
//! names millions of times, so this is where memory per alert is won.

use std::collections::HashMap;
use std::sync::Arc;

/// A table of distinct strings, each with a dense `u32` id.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    /// The id of `s`, if it was interned before.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The id of `s`, interning it on first sight.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct names");
        let name: Arc<str> = Arc::from(s);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    /// The string of an id handed out by this interner.
    pub fn name(&self, id: u32) -> &Arc<str> {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_dense() {
        let mut i = Interner::default();
        let a = i.intern("ossf");
        let b = i.intern("allstar");
        assert_eq!(i.intern("ossf"), a);
        assert_ne!(a, b);
        assert_eq!((a, b), (0, 1));
        assert_eq!(&**i.name(b), "allstar");
        assert_eq!(i.get("nope"), None);
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn the_same_name_shares_one_allocation() {
        let mut i = Interner::default();
        let id = i.intern("Branch Protection");
        let again = i.intern(&String::from("Branch Protection"));
        assert!(Arc::ptr_eq(i.name(id), i.name(again)));
    }
}
