//! [`Scenario`]: the ordered queue of replies a mock model serves, loadable from JSON.

use std::collections::VecDeque;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{MockError, Reply};

/// The ordered replies of a mock model: each `POST /v1/responses` takes the next one.
///
/// When the queue is empty the server answers HTTP 500 ("no scripted reply left for request #N"),
/// or serves `fallback` when one is set.
///
/// JSON form (also accepted: a bare array of replies):
/// ```json
/// {"replies": [{"kind": "shell", "cmd": "ls"}, {"kind": "text", "text": "done"}],
///  "fallback": {"kind": "text", "text": "nothing more"}}
/// ```
///
/// ```
/// use codex_mock_model::{Reply, Scenario};
/// let scenario = Scenario::new([Reply::shell("ls"), Reply::text("done")]);
/// let parsed = Scenario::from_json_str(r#"[{"kind":"shell","cmd":"ls"},{"kind":"text","text":"done"}]"#, "<doc>")?;
/// assert_eq!(scenario, parsed);
/// # Ok::<(), codex_mock_model::MockError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Replies, served first to last.
    #[serde(default)]
    pub replies: VecDeque<Reply>,
    /// Served (again and again) once `replies` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Reply>,
}

impl Scenario {
    /// A scenario serving `replies` in order, with no fallback.
    pub fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self {
            replies: replies.into_iter().collect(),
            fallback: None,
        }
    }

    /// An empty scenario (replies can be pushed at run time with [`crate::MockModel::push`]).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Appends a reply.
    #[must_use]
    pub fn then(mut self, reply: Reply) -> Self {
        self.replies.push_back(reply);
        self
    }

    /// Sets the reply served once the queue is empty.
    #[must_use]
    pub fn with_fallback(mut self, reply: Reply) -> Self {
        self.fallback = Some(reply);
        self
    }

    /// Parses a scenario from JSON; `origin` names the source in errors.
    pub fn from_json_str(json: &str, origin: &str) -> Result<Self, MockError> {
        // Decode straight from the text (not via a Value) so errors keep their line/column.
        let scenario = if json.trim_start().starts_with('[') {
            let replies: VecDeque<Reply> =
                serde_json::from_str(json).map_err(|err| invalid(origin, &err))?;
            Self {
                replies,
                fallback: None,
            }
        } else {
            serde_json::from_str(json).map_err(|err| invalid(origin, &err))?
        };
        scenario.validate(origin)?;
        Ok(scenario)
    }

    /// Reads and parses a scenario file.
    pub fn from_json_file(path: &Path) -> Result<Self, MockError> {
        let text = std::fs::read_to_string(path).map_err(|source| MockError::ReadScenario {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Checks what serde cannot: HTTP statuses must be error statuses (400..=599).
    pub fn validate(&self, origin: &str) -> Result<(), MockError> {
        let all = self.replies.iter().chain(self.fallback.iter());
        for (index, reply) in all.enumerate() {
            if let Reply::HttpError { status, .. } = reply {
                if !(400..=599).contains(status) {
                    return Err(MockError::InvalidScenario {
                        origin: origin.to_owned(),
                        line: 0,
                        column: 0,
                        message: format!(
                            "reply #{} is an http_error with status {status}; expected 400..=599",
                            index + 1
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

fn invalid(origin: &str, err: &serde_json::Error) -> MockError {
    MockError::InvalidScenario {
        origin: origin.to_owned(),
        line: err.line(),
        column: err.column(),
        message: err.to_string(),
    }
}

impl FromIterator<Reply> for Scenario {
    fn from_iter<T: IntoIterator<Item = Reply>>(iter: T) -> Self {
        Self::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_and_bare_forms_parse_to_the_same_replies() {
        let full = r#"{"replies":[{"kind":"text","text":"a"},{"kind":"shell","cmd":"ls"}],
                       "fallback":{"kind":"http_error","status":503}}"#;
        let scenario = Scenario::from_json_str(full, "full.json").unwrap();
        assert_eq!(scenario.replies, [Reply::text("a"), Reply::shell("ls")]);
        assert_eq!(
            scenario.fallback,
            Some(Reply::HttpError {
                status: 503,
                body: None
            })
        );
        let bare = Scenario::from_json_str(
            r#"[{"kind":"text","text":"a"},{"kind":"shell","cmd":"ls"}]"#,
            "bare",
        )
        .unwrap();
        assert_eq!(bare.replies, scenario.replies);
        assert_eq!(bare.fallback, None);
    }

    #[test]
    fn every_reply_round_trips_through_json() {
        let scenario = Scenario::new([
            Reply::text("t"),
            Reply::deltas(["a", "b"]),
            Reply::slow(["s"], std::time::Duration::from_millis(7)),
            Reply::reasoning(["r"], "t"),
            Reply::shell("ls"),
            Reply::shell_escalated("rm", "why"),
            Reply::apply_patch("*** Add File: a\n+x\n"),
            Reply::request_user_input([crate::UserInputQuestion::new("q", "Q?", ["a", "b"])]),
            Reply::function_call("f", json!({"x": 1})),
            Reply::mcp_tool_call("s", "t", json!({"x": 1})),
            Reply::json(json!([1])),
            Reply::json_from_schema(),
            Reply::stall(["p"]),
            Reply::http_error(429, json!({"error": {}})),
        ])
        .with_fallback(Reply::text("f"));
        let text = serde_json::to_string(&scenario).unwrap();
        assert_eq!(
            Scenario::from_json_str(&text, "round-trip").unwrap(),
            scenario
        );
    }

    #[test]
    fn unknown_kind_is_reported_with_its_position() {
        let err = Scenario::from_json_str("[\n {\"kind\":\"txt\",\"text\":\"a\"}]", "s.json")
            .unwrap_err();
        let MockError::InvalidScenario {
            origin,
            line,
            message,
            ..
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!(origin, "s.json");
        assert_eq!(*line, 2);
        assert!(message.contains("unknown variant `txt`"), "{message}");
    }

    #[test]
    fn misspelled_field_is_rejected() {
        let err = Scenario::from_json_str(r#"{"replys":[]}"#, "s.json").unwrap_err();
        assert!(err.to_string().contains("unknown field `replys`"), "{err}");
        let err = Scenario::from_json_str(r#"[{"kind":"text","txt":"a"}]"#, "s.json").unwrap_err();
        assert!(err.to_string().contains("txt"), "{err}");
    }

    #[test]
    fn non_error_http_status_is_rejected() {
        let err = Scenario::from_json_str(
            r#"[{"kind":"text","text":"a"},{"kind":"http_error","status":200}]"#,
            "s",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("reply #2 is an http_error with status 200"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Scenario::from_json_file(Path::new("/nonexistent/scenario.json")).unwrap_err();
        assert!(matches!(err, MockError::ReadScenario { .. }));
        assert!(
            err.to_string().contains("/nonexistent/scenario.json"),
            "{err}"
        );
    }
}
