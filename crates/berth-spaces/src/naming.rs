//! Turning any user name into a space name.

use berth_core::space::SpaceName;

/// Names a space may not take: they are the cluster's own.
pub fn reserved(name: &str) -> bool {
    matches!(name, "default" | "berth")
        || name.starts_with("kube-")
        || name.starts_with("openshift")
}

/// The personal space name for `username`: lowercase, every run of
/// characters a DNS label cannot hold turned into one `-`, trimmed to 63
/// characters, with `u-` in front of a name the cluster keeps; when that
/// name is `taken`, `-2`, `-3`, ... is appended, so two users never share
/// a name.
pub fn personal(username: &str, taken: impl Fn(&str) -> bool) -> SpaceName {
    let mut base = String::new();
    for c in username.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            base.push(c);
        } else if !base.ends_with('-') {
            base.push('-');
        }
    }
    let mut base = base.trim_matches('-').to_owned();
    if base.is_empty() {
        base = "user".to_owned();
    }
    if reserved(&base) {
        // A suffix would not help a reserved prefix such as `kube-`.
        base = format!("u-{base}");
    }
    let fit = |mut stem: String, suffix: &str| {
        stem.truncate(63 - suffix.len());
        format!("{}{suffix}", stem.trim_end_matches('-'))
    };
    let mut name = fit(base.clone(), "");
    let mut n = 2;
    while taken(&name) {
        name = fit(base.clone(), &format!("-{n}"));
        n += 1;
    }
    SpaceName::try_from(name).expect("the rule above only makes DNS labels")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_user_name_becomes_a_dns_label() {
        let none = |_: &str| false;
        assert_eq!(personal("alice", none).as_str(), "alice");
        assert_eq!(personal("Alice.Smith_2", none).as_str(), "alice-smith-2");
        assert_eq!(personal("..__", none).as_str(), "user");
        assert_eq!(personal("kube-system", none).as_str(), "u-kube-system");
        assert_eq!(personal("default", none).as_str(), "u-default");
        let long = "a".repeat(80);
        assert_eq!(personal(&long, none).as_str().len(), 63);
        let taken = |n: &str| n == "a-b" || n == "a-b-2";
        assert_eq!(personal("a.b", taken).as_str(), "a-b-3");
        let long_taken = |n: &str| n == "a".repeat(63);
        let name = personal(&long, long_taken);
        assert!(name.as_str().ends_with("-2") && name.as_str().len() == 63);
    }
}
