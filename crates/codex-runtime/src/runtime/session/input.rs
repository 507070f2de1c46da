//! The input items of a turn: the prompt and its attachments.
//!
//! A file attachment reaches the model the way codex's own clients send one: `@path` written
//! into the prompt text, with a text element marking its byte range. (A `mention` input item
//! names an app or plugin for codex, not a file.)

use crate::runtime::profile::Attachment;
use codex_runtime_protocol::{
    ByteRange, ImageUserInput, LocalImageUserInput, SkillUserInput, TextElement, TextUserInput,
    UserInput,
};
use serde_json::Value;

/// The input of one turn: one text item (the prompt, then one `@path` line per file
/// attachment), then the other attachments.
pub(super) fn turn_input(prompt: &str, attachments: &[Attachment]) -> Vec<UserInput> {
    let mut text = prompt.to_string();
    let mut elements = Vec::new();
    let mut rest = Vec::new();
    for a in attachments {
        match a {
            Attachment::Path(p) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                let mention = format!("@{}", p.to_string_lossy());
                let start = text.len() as u64;
                text.push_str(&mention);
                elements.push(TextElement {
                    byte_range: ByteRange {
                        start,
                        end: text.len() as u64,
                    },
                    placeholder: Some(mention),
                });
            }
            other => rest.push(other_input(other)),
        }
    }
    let mut input = vec![UserInput::Text(TextUserInput {
        text,
        text_elements: (!elements.is_empty()).then_some(elements),
    })];
    input.extend(rest);
    input
}

fn other_input(a: &Attachment) -> UserInput {
    match a {
        Attachment::Image(p) => UserInput::LocalImage(LocalImageUserInput {
            path: p.to_string_lossy().into_owned(),
            ..Default::default()
        }),
        Attachment::ImageUrl(url) => UserInput::Image(ImageUserInput {
            url: Some(url.clone()),
            ..Default::default()
        }),
        Attachment::Skill { name, path } => UserInput::Skill(SkillUserInput {
            name: name.clone(),
            path: path.to_string_lossy().into_owned(),
        }),
        other => UserInput::Unknown(serde_json::to_value(other).unwrap_or(Value::Null)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_path_becomes_an_at_mention_with_its_byte_range() {
        let input = turn_input(
            "Summarize",
            &[
                Attachment::Path(PathBuf::from("docs/API_REFERENCE.md")),
                Attachment::ImageUrl("https://x/y.png".into()),
            ],
        );
        let UserInput::Text(t) = &input[0] else {
            panic!("{input:?}")
        };
        assert_eq!(t.text, "Summarize\n@docs/API_REFERENCE.md");
        let el = &t.text_elements.as_ref().unwrap()[0];
        let (s, e) = (el.byte_range.start as usize, el.byte_range.end as usize);
        assert_eq!(&t.text[s..e], "@docs/API_REFERENCE.md");
        assert!(matches!(input[1], UserInput::Image(_)));
        assert_eq!(input.len(), 2);
    }

    #[test]
    fn no_attachment_leaves_the_prompt_alone() {
        let input = turn_input("hi", &[]);
        let UserInput::Text(t) = &input[0] else {
            panic!()
        };
        assert_eq!(t.text, "hi");
        assert!(t.text_elements.is_none());
    }
}
