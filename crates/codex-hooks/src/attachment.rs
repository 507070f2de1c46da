//! [`Attachment`]: extra input a pre hook can add to a turn.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Extra input a hook adds to a turn through [`HookPatch::attachments`](crate::HookPatch).
///
/// Serialized with a `type` tag:
/// `{"type":"path","path":"src/lib.rs"}`, `{"type":"image","path":"shot.png"}`,
/// `{"type":"imageUrl","url":"https://…"}`, `{"type":"skill","name":"deploy","path":"…/SKILL.md"}`.
///
/// ```
/// use codex_hooks::Attachment;
///
/// let a: Attachment = serde_json::from_str(r#"{"type":"path","path":"README.md"}"#).unwrap();
/// assert_eq!(a, Attachment::Path("README.md".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "AttachmentRepr", from = "AttachmentRepr")]
pub enum Attachment {
    /// A file mention: codex is pointed at this file.
    Path(PathBuf),
    /// A local image file.
    Image(PathBuf),
    /// An image by URL.
    ImageUrl(String),
    /// A skill, by name and the path of its definition.
    Skill {
        /// The skill's name.
        name: String,
        /// The path of the skill's definition (e.g. its `SKILL.md`).
        path: PathBuf,
    },
}

/// The tagged wire form of [`Attachment`].
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum AttachmentRepr {
    Path { path: PathBuf },
    Image { path: PathBuf },
    ImageUrl { url: String },
    Skill { name: String, path: PathBuf },
}

impl From<Attachment> for AttachmentRepr {
    fn from(a: Attachment) -> Self {
        match a {
            Attachment::Path(path) => AttachmentRepr::Path { path },
            Attachment::Image(path) => AttachmentRepr::Image { path },
            Attachment::ImageUrl(url) => AttachmentRepr::ImageUrl { url },
            Attachment::Skill { name, path } => AttachmentRepr::Skill { name, path },
        }
    }
}

impl From<AttachmentRepr> for Attachment {
    fn from(r: AttachmentRepr) -> Self {
        match r {
            AttachmentRepr::Path { path } => Attachment::Path(path),
            AttachmentRepr::Image { path } => Attachment::Image(path),
            AttachmentRepr::ImageUrl { url } => Attachment::ImageUrl(url),
            AttachmentRepr::Skill { name, path } => Attachment::Skill { name, path },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_variant_round_trips_through_its_tagged_form() {
        let cases = [
            (
                Attachment::Path("a/b.rs".into()),
                json!({"type": "path", "path": "a/b.rs"}),
            ),
            (
                Attachment::Image("shot.png".into()),
                json!({"type": "image", "path": "shot.png"}),
            ),
            (
                Attachment::ImageUrl("https://x/y.png".into()),
                json!({"type": "imageUrl", "url": "https://x/y.png"}),
            ),
            (
                Attachment::Skill {
                    name: "deploy".into(),
                    path: "/s/SKILL.md".into(),
                },
                json!({"type": "skill", "name": "deploy", "path": "/s/SKILL.md"}),
            ),
        ];
        for (value, wire) in cases {
            assert_eq!(serde_json::to_value(&value).unwrap(), wire);
            assert_eq!(serde_json::from_value::<Attachment>(wire).unwrap(), value);
        }
    }

    #[test]
    fn unknown_type_and_missing_field_are_errors() {
        let err = serde_json::from_value::<Attachment>(json!({"type": "video", "path": "x"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("video"), "{err}");
        let err = serde_json::from_value::<Attachment>(json!({"type": "imageUrl"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("url"), "{err}");
    }
}
