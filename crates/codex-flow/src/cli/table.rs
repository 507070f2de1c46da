//! Plain-text tables with aligned columns (rendered by `comfy-table`, borderless).

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};

/// Renders `rows` under `headers`, columns padded to their widest cell, no borders.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().copied());
    for row in rows {
        table.add_row(row.iter().map(String::as_str));
    }
    // comfy-table pads every cell by one space on each side; trim the frame's edges.
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end().strip_prefix(' ').unwrap_or(line.trim_end()));
        out.push('\n');
    }
    out
}

/// Shortens `text` to `max` characters with an ellipsis (one line).
pub fn clip(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut s: String = one_line.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned() {
        let text = render(
            &["ID", "STATUS"],
            &[
                vec!["run_1".into(), "completed".into()],
                vec!["run_longer".into(), "blocked".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let col = lines[0].find("STATUS").unwrap();
        assert_eq!(lines[1].find("completed"), Some(col), "{text}");
        assert_eq!(lines[2].find("blocked"), Some(col), "{text}");
    }
}
