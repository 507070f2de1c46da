//! [`HookPatch`]: the changes a pre hook makes to what follows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Attachment, HookContext};

/// Changes a pre hook makes to the run, turn or tool call that follows.
///
/// * `prompt` / `model`: replace the current value when set.
/// * `attachments`: appended to the turn's attachments.
/// * `metadata`: entries are inserted, replacing existing values under the same key.
///
/// Deserialized from camelCase JSON, which is what a
/// [`ShellCommandHook`](crate::ShellCommandHook) prints on stdout; every field is optional and
/// unknown fields are rejected (so a typo is reported, not ignored).
///
/// ```
/// use codex_hooks::{Attachment, HookPatch};
///
/// let patch: HookPatch = serde_json::from_str(
///     r#"{"prompt": "be brief", "attachments": [{"type": "path", "path": "NOTES.md"}]}"#,
/// ).unwrap();
/// assert_eq!(patch.prompt.as_deref(), Some("be brief"));
/// assert_eq!(patch.attachments, [Attachment::Path("NOTES.md".into())]);
///
/// let built = HookPatch::new().with_model("gpt-5-codex").with_metadata("team", "infra".into());
/// assert!(!built.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HookPatch {
    /// Replaces the prompt when set.
    pub prompt: Option<String>,
    /// Replaces the model when set.
    pub model: Option<String>,
    /// Appended to the attachments.
    pub attachments: Vec<Attachment>,
    /// Inserted into the metadata (replacing values under the same keys).
    pub metadata: BTreeMap<String, Value>,
}

impl HookPatch {
    /// An empty patch (changes nothing).
    pub fn new() -> Self {
        HookPatch::default()
    }

    /// Sets the replacement prompt.
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Sets the replacement model.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Adds an attachment.
    pub fn with_attachment(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.prompt.is_none()
            && self.model.is_none()
            && self.attachments.is_empty()
            && self.metadata.is_empty()
    }

    /// Folds a later patch into this one: `later`'s prompt and model win when set, its
    /// attachments come after ours, its metadata entries replace ours under the same keys.
    ///
    /// Applying the merged patch equals applying `self` then `later`.
    pub fn merge(&mut self, later: HookPatch) {
        if later.prompt.is_some() {
            self.prompt = later.prompt;
        }
        if later.model.is_some() {
            self.model = later.model;
        }
        self.attachments.extend(later.attachments);
        self.metadata.extend(later.metadata);
    }

    /// Applies the patch to a context (what the next hook in the chain sees).
    pub fn apply_to(&self, ctx: &mut HookContext) {
        if let Some(prompt) = &self.prompt {
            ctx.prompt = Some(prompt.clone());
        }
        if let Some(model) = &self.model {
            ctx.model = Some(model.clone());
        }
        ctx.attachments.extend(self.attachments.iter().cloned());
        ctx.metadata
            .extend(self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HookPhase;
    use serde_json::json;

    #[test]
    fn merge_then_apply_equals_apply_in_sequence() {
        let first = HookPatch::new()
            .with_prompt("one")
            .with_model("m1")
            .with_attachment(Attachment::Path("a".into()))
            .with_metadata("k", json!(1))
            .with_metadata("keep", json!(true));
        let second = HookPatch::new()
            .with_prompt("two")
            .with_attachment(Attachment::ImageUrl("u".into()))
            .with_metadata("k", json!(2));

        let base = HookContext::new(HookPhase::PreTurn, "/w").with_prompt("zero");
        let mut sequential = base.clone();
        first.apply_to(&mut sequential);
        second.apply_to(&mut sequential);

        let mut merged = first.clone();
        merged.merge(second);
        let mut at_once = base;
        merged.apply_to(&mut at_once);

        assert_eq!(sequential, at_once);
        assert_eq!(at_once.prompt.as_deref(), Some("two"));
        assert_eq!(at_once.model.as_deref(), Some("m1"));
        assert_eq!(
            at_once.attachments,
            [
                Attachment::Path("a".into()),
                Attachment::ImageUrl("u".into())
            ]
        );
        assert_eq!(at_once.metadata["k"], json!(2));
        assert_eq!(at_once.metadata["keep"], json!(true));
    }

    #[test]
    fn empty_object_is_empty_patch_and_unknown_fields_are_rejected() {
        let patch: HookPatch = serde_json::from_str("{}").unwrap();
        assert!(patch.is_empty());
        let err = serde_json::from_str::<HookPatch>(r#"{"promt": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("promt"), "{err}");
    }
}
