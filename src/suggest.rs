//! "Did you mean …?" for misspelt names (config keys, themes).

/// The known name closest to a misspelt one, if it is close enough to be
/// what was meant.
pub fn did_you_mean<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::damerau_levenshtein(given, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_names() {
        let names = ["dark", "light", "high-contrast"];
        assert_eq!(did_you_mean("drak", names.into_iter()), Some("dark"));
        assert_eq!(
            did_you_mean("hgih-contrast", names.into_iter()),
            Some("high-contrast")
        );
        assert_eq!(did_you_mean("solar", names.into_iter()), None);
    }
}
