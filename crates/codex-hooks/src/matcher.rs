//! [`HookMatcher`]: which contexts a registered hook runs for.

use std::path::{Path, PathBuf};

use crate::{HookContext, HookPhase};

/// Selects the contexts a registered hook runs for: by phase, by tool name and by cwd.
/// Every condition that is set must hold; [`HookMatcher::any`] has none and matches everything.
///
/// * **Phases**: the context's phase is one of them.
/// * **Tools**: a pattern of `|`-separated alternatives (surrounding spaces trimmed), each an
///   exact name or containing `*` wildcards (any run of characters, including none). A context
///   with no tool name never matches a tool pattern. A pattern without any non-empty
///   alternative matches no tool.
/// * **Cwd prefix**: the context's cwd is the prefix or below it, compared path component by
///   path component (`/a/b` matches `/a/b` and `/a/b/c`, not `/a/bc`). Paths are compared as
///   given, without touching the filesystem (no symlink resolution, no making relative paths
///   absolute).
///
/// ```
/// use codex_hooks::{HookContext, HookMatcher, HookPhase};
///
/// let shell_in_repo = HookMatcher::any()
///     .phases([HookPhase::PreToolUse])
///     .tools("exec_command|mcp__*")
///     .cwd_prefix("/repo");
/// let ctx = HookContext::new(HookPhase::PreToolUse, "/repo/crates/x").with_tool_name("mcp__fs__read");
/// assert!(shell_in_repo.matches(&ctx));
/// assert!(!shell_in_repo.matches(&ctx.clone().with_tool_name("apply_patch")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookMatcher {
    phases: Option<Vec<HookPhase>>,
    tools: Option<Vec<String>>,
    cwd_prefix: Option<PathBuf>,
}

impl HookMatcher {
    /// Matches every context.
    pub fn any() -> Self {
        HookMatcher::default()
    }

    /// Only these phases (replaces an earlier phase filter).
    pub fn phases(mut self, phases: impl IntoIterator<Item = HookPhase>) -> Self {
        self.phases = Some(phases.into_iter().collect());
        self
    }

    /// Only this phase.
    pub fn phase(self, phase: HookPhase) -> Self {
        self.phases([phase])
    }

    /// Only tool contexts whose tool name matches `pattern` (`"exec_command|apply_patch"`,
    /// `"mcp__github__*"`).
    pub fn tools(mut self, pattern: &str) -> Self {
        self.tools = Some(
            pattern
                .split('|')
                .map(str::trim)
                .filter(|alt| !alt.is_empty())
                .map(str::to_string)
                .collect(),
        );
        self
    }

    /// Only contexts whose cwd is `prefix` or below it.
    pub fn cwd_prefix(mut self, prefix: impl Into<PathBuf>) -> Self {
        self.cwd_prefix = Some(prefix.into());
        self
    }

    /// Whether a hook registered with this matcher runs for `ctx`.
    pub fn matches(&self, ctx: &HookContext) -> bool {
        if let Some(phases) = &self.phases {
            if !phases.contains(&ctx.phase) {
                return false;
            }
        }
        if let Some(alternatives) = &self.tools {
            let Some(tool) = ctx.tool_name.as_deref() else {
                return false;
            };
            if !alternatives.iter().any(|alt| wildcard_match(alt, tool)) {
                return false;
            }
        }
        if let Some(prefix) = &self.cwd_prefix {
            if !Path::new(&ctx.cwd).starts_with(prefix) {
                return false;
            }
        }
        true
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    // `split` always yields at least one item.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let middle_and_last: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle_and_last.split_last() else {
        // No `*` at all: exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let cases = [
            ("exec_command", "exec_command", true),
            ("exec_command", "exec_command2", false),
            ("exec_command", "exec", false),
            ("*", "", true),
            ("*", "anything", true),
            ("mcp__*", "mcp__fs__read", true),
            ("mcp__*", "mcp_", false),
            ("*_patch", "apply_patch", true),
            ("*_patch", "apply_patches", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXcYYb", false),
            ("ab*ba", "aba", false),
            ("a**a", "aa", true),
            ("*é*", "caféine", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                wildcard_match(pattern, text),
                expected,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    #[test]
    fn tool_pattern_alternatives_are_trimmed_and_empty_ones_dropped() {
        let m = HookMatcher::any().tools(" exec_command | apply_patch ||");
        let ctx = |tool: &str| HookContext::new(HookPhase::PreToolUse, "/").with_tool_name(tool);
        assert!(m.matches(&ctx("exec_command")));
        assert!(m.matches(&ctx("apply_patch")));
        assert!(!m.matches(&ctx("")));
        assert!(!HookMatcher::any().tools("").matches(&ctx("x")));
    }
}
