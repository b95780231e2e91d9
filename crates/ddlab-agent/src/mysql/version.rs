//! The server's version and flavor, read the way the integration reads them (`version_utils.py`), and the
//! metadata the Agent records from them.

/// Build suffixes the integration recognises in `VERSION()`.
const BUILDS: [&str; 5] = ["log", "standard", "debug", "valgrind", "embedded"];

/// What `SELECT VERSION()` and `SELECT @@version_comment` say about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// The part of `VERSION()` before the first `-`, e.g. `10.11.6`.
    pub version: String,
    /// `MySQL`, `MariaDB` or `Percona`.
    pub flavor: String,
    /// One of [`BUILDS`], else `unspecified`.
    pub build: String,
}

impl ServerVersion {
    /// Splits `VERSION()` on `-`: any part equal to `MariaDB` makes the flavor MariaDB, a comment starting
    /// with `percona` makes it Percona, and a part naming a known build is the build.
    pub fn parse(raw_version: &str, version_comment: Option<&str>) -> Self {
        let parts: Vec<&str> = raw_version.split('-').collect();
        let version = parts.first().copied().unwrap_or_default().to_owned();
        let mut flavor = "";
        let mut build = "";
        for part in &parts {
            if *part == "MariaDB" {
                flavor = "MariaDB";
            }
            if *part != "MariaDB" && flavor.is_empty() {
                flavor = "MySQL";
            }
            if BUILDS.contains(part) {
                build = part;
            }
        }
        if version_comment.is_some_and(|c| c.to_lowercase().starts_with("percona")) {
            flavor = "Percona";
        }
        if build.is_empty() {
            build = "unspecified";
        }
        ServerVersion {
            version,
            flavor: flavor.to_owned(),
            build: build.to_owned(),
        }
    }

    pub fn is_mariadb(&self) -> bool {
        self.flavor == "MariaDB"
    }

    /// Whether the server is at least `major.minor.patch`; a version that cannot be read counts as older,
    /// and letters after the patch number (`5.0.51a`) are ignored.
    pub fn at_least(&self, wanted: (u64, u64, u64)) -> bool {
        let mut parts = self.version.split('.');
        let mut number = |digits_only: bool| -> Option<u64> {
            let part = parts.next()?;
            let part = if digits_only {
                part
            } else {
                let end = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
                &part[..end]
            };
            part.parse().ok()
        };
        match (number(true), number(true), number(false)) {
            (Some(major), Some(minor), Some(patch)) => (major, minor, patch) >= wanted,
            _ => false,
        }
    }

    /// The metadata the check sets: `set_metadata('version', '<version>+<build>')` as the base class's
    /// semver transformer expands it, then `flavor`.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let raw = format!("{}+{}", self.version, self.build);
        let mut out = Vec::new();
        if let Some(parts) = semver_parts(&raw) {
            out.extend(parts.into_iter().map(|(k, v)| (format!("version.{k}"), v)));
            out.push(("version.raw".to_owned(), raw));
            out.push(("version.scheme".to_owned(), "semver".to_owned()));
        }
        out.push(("flavor".to_owned(), self.flavor.clone()));
        out
    }
}

/// The parts of the first semantic version found in `text` (`major minor patch [release] [build]`), as the
/// base class's `SEMVER_PATTERN.search` finds them; `None` when there is none, in which case the base class
/// logs a warning and sets no version metadata.
fn semver_parts(text: &str) -> Option<Vec<(&'static str, String)>> {
    (0..text.len())
        .filter(|&start| text.is_char_boundary(start))
        .find_map(|start| semver_at(&text[start..]))
}

fn semver_at(text: &str) -> Option<Vec<(&'static str, String)>> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (major, rest) = numeric_identifier(text)?;
    let rest = rest.strip_prefix('.')?;
    let (minor, rest) = numeric_identifier(rest)?;
    let rest = rest.strip_prefix('.')?;
    let (patch, rest) = numeric_identifier(rest)?;
    let mut parts = vec![
        ("major", major.to_owned()),
        ("minor", minor.to_owned()),
        ("patch", patch.to_owned()),
    ];
    let mut rest = rest;
    if let Some(after) = rest.strip_prefix('-') {
        let (release, tail) = dotted(after, true);
        if !release.is_empty() {
            parts.push(("release", release.to_owned()));
            rest = tail;
        }
    }
    if let Some(after) = rest.strip_prefix('+') {
        let (build, _) = dotted(after, false);
        if !build.is_empty() {
            parts.push(("build", build.to_owned()));
        }
    }
    Some(parts)
}

/// `0|[1-9]\d*` at the start of `text`.
fn numeric_identifier(text: &str) -> Option<(&str, &str)> {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    match end {
        0 => None,
        _ if text.starts_with('0') => Some(text.split_at(1)),
        _ => Some(text.split_at(end)),
    }
}

/// The longest run of dot-separated identifiers of `[0-9A-Za-z-]` at the start of `text`. For a release,
/// an all-digit identifier may not have a leading zero, as in the semver grammar.
fn dotted(text: &str, release: bool) -> (&str, &str) {
    let mut end = 0;
    loop {
        let rest = &text[end..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let ident = &rest[..len];
        let leading_zero_number =
            ident.len() > 1 && ident.starts_with('0') && ident.chars().all(|c| c.is_ascii_digit());
        let invalid = ident.is_empty() || (release && leading_zero_number);
        if invalid {
            // Drop a trailing dot that no identifier followed.
            return text.split_at(end.saturating_sub(usize::from(end > 0)));
        }
        end += len;
        if text[end..].starts_with('.') {
            end += 1;
        } else {
            return text.split_at(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, comment: Option<&str>, expected: (&str, &str, &str)) {
        let v = ServerVersion::parse(raw, comment);
        assert_eq!(
            (v.version.as_str(), v.flavor.as_str(), v.build.as_str()),
            expected,
            "{raw}"
        );
    }

    #[test]
    fn flavors_and_builds() {
        check(
            "10.11.6-MariaDB-0+deb12u1",
            Some("Debian 12"),
            ("10.11.6", "MariaDB", "unspecified"),
        );
        check(
            "8.0.36",
            Some("MySQL Community Server - GPL"),
            ("8.0.36", "MySQL", "unspecified"),
        );
        check("5.7.44-log", None, ("5.7.44", "MySQL", "log"));
        check(
            "10.0.1-MariaDB-mariadb1precise-log",
            None,
            ("10.0.1", "MariaDB", "log"),
        );
        check(
            "8.0.35-27",
            Some("Percona Server (GPL), Release 27"),
            ("8.0.35", "Percona", "unspecified"),
        );
    }

    #[test]
    fn version_comparison() {
        let v = ServerVersion::parse("10.11.6-MariaDB", None);
        assert!(v.at_least((10, 5, 1)));
        assert!(v.at_least((5, 6, 0)));
        assert!(!v.at_least((10, 11, 7)));
        assert!(ServerVersion::parse("5.0.51a", None).at_least((5, 0, 51)));
        assert!(!ServerVersion::parse("garbage", None).at_least((0, 0, 0)));
    }

    #[test]
    fn metadata_is_the_transformed_version_and_the_flavor() {
        let v = ServerVersion::parse("10.11.6-MariaDB-0+deb12u1", None);
        let pairs: Vec<String> = v.metadata().iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            pairs,
            [
                "version.major=10",
                "version.minor=11",
                "version.patch=6",
                "version.build=unspecified",
                "version.raw=10.11.6+unspecified",
                "version.scheme=semver",
                "flavor=MariaDB",
            ]
        );
    }

    #[test]
    fn semver_release_and_build() {
        let parts = semver_parts("1.2.3-rc.4+5").unwrap();
        assert_eq!(
            parts,
            [
                ("major", "1".to_owned()),
                ("minor", "2".to_owned()),
                ("patch", "3".to_owned()),
                ("release", "rc.4".to_owned()),
                ("build", "5".to_owned()),
            ]
        );
        assert_eq!(semver_parts("no version"), None);
    }
}
