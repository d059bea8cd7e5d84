//! Retention rules of a hosted namespace (as Gitea's package cleanup rules): which versions of
//! a module a run removes. Pure: the store feeds it each module's versions with their upload
//! times, and deletes what it names (a tombstone and its log record stay, so the version
//! answers `410`, as a delete does).
//!
//! - `keep_pseudo`: the newest N pseudo-versions of each module are kept (newest by the
//!   commit time a pseudo-version carries);
//! - `keep_pseudo_days`: pseudo-versions uploaded within that many days are kept;
//!   with both, a pseudo-version is kept when either keeps it; with neither, none is removed;
//! - `prerelease_days`: prereleases (not pseudo-versions) uploaded more than that many days
//!   ago are removed.
//!
//! Releases are never removed.

use serde::{Deserialize, Serialize};

use super::version;

const DAY: i64 = 86_400;

/// A namespace's rules; every field optional (`None`: that rule is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_pseudo: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_pseudo_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prerelease_days: Option<u32>,
}

impl Retention {
    /// Whether no rule is set (nothing would ever be removed).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keep_pseudo.is_none()
            && self.keep_pseudo_days.is_none()
            && self.prerelease_days.is_none()
    }

    /// One line saying what the rules do, for the CLI, the API's readers and the web page.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.keep_pseudo, self.keep_pseudo_days) {
            (None, None) => {}
            (Some(n), None) => parts.push(format!("keep the newest {n} pseudo-versions of each module")),
            (None, Some(d)) => parts.push(format!("keep pseudo-versions uploaded in the last {d} days")),
            (Some(n), Some(d)) => parts.push(format!(
                "keep the newest {n} pseudo-versions of each module and those uploaded in the last {d} days"
            )),
        }
        if let Some(d) = self.prerelease_days {
            parts.push(format!(
                "remove prereleases uploaded more than {d} days ago"
            ));
        }
        if parts.is_empty() {
            "no rules".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Why a version goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A pseudo-version neither among the newest kept nor recent enough.
    Pseudo,
    /// A prerelease older than `prerelease_days`.
    Prerelease,
}

impl Reason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Pseudo => "pseudo-version beyond the kept ones",
            Reason::Prerelease => "prerelease older than prerelease_days",
        }
    }
}

/// The versions of one module that `rules` remove at `now` (Unix seconds), from `versions`
/// (each with its upload time), in the order given.
#[must_use]
pub fn to_remove<'a>(
    rules: &Retention,
    versions: &'a [(String, i64)],
    now: i64,
) -> Vec<(&'a str, Reason)> {
    let cutoff = |days: u32| now.saturating_sub(i64::from(days).saturating_mul(DAY));
    // Pseudo-versions, newest commit first (the upload time breaks ties, then the text).
    let mut pseudo: Vec<(i64, i64, &str)> = versions
        .iter()
        .filter(|(v, _)| version::is_pseudo(v))
        .map(|(v, at)| (version::pseudo_time(v).unwrap_or(*at), *at, v.as_str()))
        .collect();
    pseudo.sort_by(|a, b| b.cmp(a));
    let pseudo_rules = rules.keep_pseudo.is_some() || rules.keep_pseudo_days.is_some();
    let mut gone: Vec<(&str, Reason)> = Vec::new();
    if pseudo_rules {
        for (rank, (_, at, v)) in pseudo.iter().enumerate() {
            let by_rank = rules
                .keep_pseudo
                .is_some_and(|n| rank < usize::try_from(n).unwrap_or(usize::MAX));
            let by_age = rules.keep_pseudo_days.is_some_and(|d| *at >= cutoff(d));
            if !by_rank && !by_age {
                gone.push((v, Reason::Pseudo));
            }
        }
    }
    if let Some(d) = rules.prerelease_days {
        for (v, at) in versions {
            if !version::is_pseudo(v) && !version::prerelease(v).is_empty() && *at < cutoff(d) {
                gone.push((v.as_str(), Reason::Prerelease));
            }
        }
    }
    // In the order given (a module may hold thousands of pseudo-versions: no scan per one).
    let gone: std::collections::HashMap<&str, Reason> = gone.into_iter().collect();
    versions
        .iter()
        .filter_map(|(v, _)| gone.get(v.as_str()).map(|r| (v.as_str(), *r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn v(s: &str, days_ago: i64) -> (String, i64) {
        (s.to_owned(), NOW - days_ago * DAY)
    }

    fn names<'a>(r: &[(&'a str, Reason)]) -> Vec<&'a str> {
        r.iter().map(|(v, _)| *v).collect()
    }

    fn sample() -> Vec<(String, i64)> {
        vec![
            v("v1.0.0", 400),
            v("v1.1.0-rc.1", 100),
            v("v1.1.0-rc.2", 5),
            // Commit times: 2024-01-01, 2024-02-01, 2024-03-01, 2024-04-01 (uploaded in an
            // order that is not theirs).
            v("v0.0.0-20240101000000-aaaaaaaaaaaa", 1),
            v("v0.0.0-20240401000000-dddddddddddd", 50),
            v("v0.0.0-20240201000000-bbbbbbbbbbbb", 40),
            v("v1.0.1-0.20240301000000-cccccccccccc", 30),
            v("v2.0.0", 1),
        ]
    }

    #[test]
    fn no_rules_remove_nothing() {
        assert!(to_remove(&Retention::default(), &sample(), NOW).is_empty());
        assert!(Retention::default().is_empty());
        assert_eq!(Retention::default().describe(), "no rules");
        // Any one rule is a rule.
        for one in [
            Retention {
                keep_pseudo: Some(0),
                ..Retention::default()
            },
            Retention {
                keep_pseudo_days: Some(0),
                ..Retention::default()
            },
            Retention {
                prerelease_days: Some(0),
                ..Retention::default()
            },
        ] {
            assert!(!one.is_empty(), "{one:?}");
        }
    }

    #[test]
    fn each_reason_says_why() {
        assert_eq!(
            Reason::Pseudo.as_str(),
            "pseudo-version beyond the kept ones"
        );
        assert_eq!(
            Reason::Prerelease.as_str(),
            "prerelease older than prerelease_days"
        );
    }

    #[test]
    fn the_newest_pseudo_versions_by_commit_time_are_kept() {
        let rules = Retention {
            keep_pseudo: Some(2),
            ..Retention::default()
        };
        let versions = sample();
        let gone = to_remove(&rules, &versions, NOW);
        // Kept: 2024-04-01 and 2024-03-01 (whatever their upload order and base).
        assert_eq!(
            names(&gone),
            [
                "v0.0.0-20240101000000-aaaaaaaaaaaa",
                "v0.0.0-20240201000000-bbbbbbbbbbbb"
            ]
        );
        assert!(gone.iter().all(|(_, r)| *r == Reason::Pseudo));
        let none = Retention {
            keep_pseudo: Some(0),
            ..Retention::default()
        };
        assert_eq!(to_remove(&none, &sample(), NOW).len(), 4, "0 keeps none");
    }

    #[test]
    fn recent_uploads_are_kept_too() {
        let by_age = Retention {
            keep_pseudo_days: Some(35),
            ..Retention::default()
        };
        assert_eq!(
            names(&to_remove(&by_age, &sample(), NOW)),
            [
                "v0.0.0-20240401000000-dddddddddddd",
                "v0.0.0-20240201000000-bbbbbbbbbbbb"
            ]
        );
        // Either rule keeps: the newest one by rank, the 1-day-old one by age.
        let both = Retention {
            keep_pseudo: Some(1),
            keep_pseudo_days: Some(2),
            ..Retention::default()
        };
        assert_eq!(
            names(&to_remove(&both, &sample(), NOW)),
            [
                "v0.0.0-20240201000000-bbbbbbbbbbbb",
                "v1.0.1-0.20240301000000-cccccccccccc"
            ]
        );
        // Exactly at the cutoff is kept.
        let edge = vec![v("v0.0.0-20240101000000-aaaaaaaaaaaa", 35)];
        assert!(to_remove(&by_age, &edge, NOW).is_empty());
    }

    #[test]
    fn old_prereleases_go_and_releases_never() {
        let rules = Retention {
            prerelease_days: Some(30),
            ..Retention::default()
        };
        let versions = sample();
        let gone = to_remove(&rules, &versions, NOW);
        assert_eq!(gone, [("v1.1.0-rc.1", Reason::Prerelease)]);
        // Exactly at the cutoff is kept.
        let edge = vec![v("v1.1.0-rc.1", 30)];
        assert!(to_remove(&rules, &edge, NOW).is_empty());
        let all = Retention {
            keep_pseudo: Some(0),
            prerelease_days: Some(0),
            ..Retention::default()
        };
        let gone = names(&to_remove(&all, &versions, NOW));
        assert!(
            !gone.contains(&"v1.0.0") && !gone.contains(&"v2.0.0"),
            "{gone:?}"
        );
        assert_eq!(gone.len(), 6);
    }

    #[test]
    fn the_description_says_what_the_rules_do() {
        let r = Retention {
            keep_pseudo: Some(5),
            keep_pseudo_days: Some(30),
            prerelease_days: Some(90),
        };
        assert_eq!(
            r.describe(),
            "keep the newest 5 pseudo-versions of each module and those uploaded in the last 30 \
             days; remove prereleases uploaded more than 90 days ago"
        );
        let json = serde_json::to_string(&Retention {
            keep_pseudo: Some(3),
            ..Retention::default()
        })
        .unwrap();
        assert_eq!(json, r#"{"keep_pseudo":3}"#);
    }
}
