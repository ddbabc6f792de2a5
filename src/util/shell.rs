//! POSIX shell quoting, as Python's `shlex.quote` does it (for `replay.sh` and trace lines).

/// Quotes one argument: bare when it only has `[A-Za-z0-9@%+=:,./_-]`, else single-quoted with
/// `'"'"'` for embedded quotes; the empty string becomes `''`.
pub fn quote(arg: &str) -> String {
    if arg.is_empty() {
        return "''".to_string();
    }
    let safe = arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if safe { arg.to_string() } else { format!("'{}'", arg.replace('\'', "'\"'\"'")) }
}

/// Quotes and joins an argv.
pub fn join(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("claude"), "claude");
        assert_eq!(quote("/a/b-c_d.md"), "/a/b-c_d.md");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(join(&["x".into(), "".into(), "$HOME".into()]), "x '' '$HOME'");
    }
}
