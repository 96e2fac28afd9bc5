//! Numbers as people read them, for every screen and line that shows a
//! count (the TUI, a viewer's status bar): `12345` → `12,345`.

/// `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_of_three_from_the_right() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (43_890, "43,890"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(super::thousands(n), text);
        }
    }
}
