//! Text matching on names: suggestions by edit distance (strsim's optimal string alignment) and
//! PowerShell-style wildcards. The wildcard matcher stays hand-written: it is the module's
//! `-like` semantics (case-insensitive `*` and `?`, no character classes), which glob crates
//! do not offer without pulling in path and character-class rules.

/// Up to `n` close names: case-insensitive prefix matches first, then by edit distance
/// (optimal string alignment, so a transposition costs 1).
pub fn suggest(input: &str, candidates: &[&str], n: usize) -> Vec<String> {
    let a_text = input.to_lowercase();
    let a: Vec<char> = a_text.chars().collect();
    let limit = (a.len() / 3).max(2);
    let mut scored: Vec<(usize, usize, &str)> = Vec::new();
    for c in candidates {
        let b_text = c.to_lowercase();
        let b: Vec<char> = b_text.chars().collect();
        if a.len() >= 3 && b.starts_with(&a) {
            scored.push((0, b.len(), c));
            continue;
        }
        let d = strsim::osa_distance(&a_text, &b_text);
        if d <= limit {
            scored.push((1 + d, b.len(), c));
        }
    }
    scored.sort();
    scored.dedup_by(|x, y| x.2 == y.2);
    scored
        .into_iter()
        .take(n)
        .map(|(_, _, c)| c.to_string())
        .collect()
}

/// PowerShell-style wildcard match (`*`, `?`), case-insensitive. No pattern = match.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("mail.*", "Mail.Send"));
        assert!(wildcard_match("*read*", "User.Read.All"));
        assert!(wildcard_match("Mail.Sen?", "Mail.Send"));
        assert!(!wildcard_match("Mail.Sen?", "Mail.Sends"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a*b", "acbx"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
    }
}
