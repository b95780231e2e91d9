//! Spotting Datadog keys committed in a submission's files (a classic pitfall: keys pushed to public forks).

/// Whether a line names a key (`api_key`, `app_key`, `application_key`, the `DD-*-KEY` headers) and carries
/// a 32-hex-digit (API key) or 40-hex-digit (application key) value.
pub fn looks_like_a_key(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let names_a_key = [
        "api_key",
        "app_key",
        "application_key",
        "dd-api-key",
        "dd-application-key",
    ]
    .iter()
    .any(|name| lower.contains(name));
    names_a_key
        && line
            .split(|c: char| !c.is_ascii_hexdigit())
            .any(|run| run.len() == 32 || run.len() == 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_non_keys() {
        assert!(looks_like_a_key("api_key: 0123456789abcdef0123456789abcdef"));
        assert!(looks_like_a_key(
            "  -H 'DD-APPLICATION-KEY: 0123456789abcdef0123456789abcdef01234567'"
        ));
        assert!(!looks_like_a_key("api_key: ${DD_API_KEY}"));
        assert!(!looks_like_a_key("checksum: 0123456789abcdef0123456789abcdef"));
    }
}
