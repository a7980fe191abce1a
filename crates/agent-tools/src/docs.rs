//! Reading a tool's description and its arguments' descriptions from the doc comment.
//!
//! The tool's description is the first paragraph. Argument descriptions come from a list under
//! an `# Arguments` heading (also `# Args`, `# Parameters`, `# Params`, at any heading level, or
//! a line `Arguments:` as in other languages' docstrings), one item per argument in any of
//! these forms, with continuation lines joined to the item:
//!
//! ```text
//! * `location` - City name to get weather for
//! - `location`: City name to get weather for
//! - location: City name to get weather for
//! ```

use proc_macro2::Span;
use syn::{Attribute, Expr, ExprLit, Lit, Meta};

/// What a doc comment says about a tool.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct DocComment {
    /// The first paragraph, its lines joined by spaces.
    pub(crate) summary: Option<String>,
    /// The entries of the arguments list, in order.
    pub(crate) arguments: Vec<DocArgument>,
}

/// One entry of the arguments list.
#[derive(Debug)]
pub(crate) struct DocArgument {
    /// The argument's name, without `r#`.
    pub(crate) name: String,
    /// What the entry says, its lines joined by spaces.
    pub(crate) description: String,
    /// The doc attribute the entry is in, for errors about it.
    pub(crate) span: Span,
}

impl PartialEq for DocArgument {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.description == other.description
    }
}

/// The names a heading (or a `Name:` line) of the arguments section may have.
const ARGUMENT_SECTION_NAMES: [&str; 4] = ["arguments", "args", "parameters", "params"];

/// Reads the doc attributes (`///`, `/** */` and `#[doc = "…"]`) of an item. Attributes whose
/// value is not a string literal (`#[doc = include_str!(…)]`) cannot be read here and are
/// skipped.
pub(crate) fn parse(attrs: &[Attribute]) -> DocComment {
    parse_lines(&doc_lines(attrs))
}

/// The doc comment's lines, each with the span of the attribute it came from.
fn doc_lines(attrs: &[Attribute]) -> Vec<(String, Span)> {
    let mut lines = Vec::new();
    for attr in attrs {
        let Meta::NameValue(name_value) = &attr.meta else {
            continue;
        };
        if !name_value.path.is_ident("doc") {
            continue;
        }
        let Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) = &name_value.value
        else {
            continue;
        };
        let span = text.span();
        let text = text.value();
        // Not `lines()`: an empty `///` line is an empty string, which `lines()` skips, and
        // that blank line is what ends the first paragraph.
        let mut block: Vec<&str> = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .collect();
        // A `/** … */` comment often starts each line with ` * `; rustdoc drops those stars
        // when every line has one, and so does this.
        if block.len() > 1
            && block
                .iter()
                .filter(|line| !line.trim().is_empty())
                .all(|line| line.trim_start().starts_with('*'))
        {
            for line in &mut block {
                if let Some(rest) = line.trim_start().strip_prefix('*') {
                    *line = rest;
                }
            }
        }
        lines.extend(block.into_iter().map(|line| (line.to_owned(), span)));
    }
    lines
}

/// Where the reader is in the doc comment.
#[derive(Clone, Copy, PartialEq)]
enum Section {
    /// Before the first paragraph.
    Start,
    /// In the first paragraph.
    Summary,
    /// In the arguments section.
    Arguments,
    /// Anywhere else.
    Other,
}

fn parse_lines(lines: &[(String, Span)]) -> DocComment {
    let mut doc = DocComment::default();
    let mut summary: Vec<&str> = Vec::new();
    let mut section = Section::Start;
    let mut in_code_block = false;
    // Whether the next non-blank line continues the last argument entry.
    let mut continues_entry = false;
    for (line, span) in lines {
        let line = line.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_code_block = !in_code_block;
            continues_entry = false;
            if section == Section::Start || section == Section::Summary {
                section = Section::Other;
            }
            continue;
        }
        if in_code_block {
            continue;
        }
        if let Some(name) = section_name(line) {
            section = if ARGUMENT_SECTION_NAMES.contains(&name.to_lowercase().as_str()) {
                Section::Arguments
            } else {
                Section::Other
            };
            continues_entry = false;
            continue;
        }
        if line.is_empty() {
            if section == Section::Summary {
                section = Section::Other;
            }
            continues_entry = false;
            continue;
        }
        match section {
            Section::Start | Section::Summary => {
                section = Section::Summary;
                summary.push(line);
            }
            Section::Arguments => {
                if let Some(item) = list_item(line) {
                    continues_entry = false;
                    if let Some((name, description)) = argument_entry(item) {
                        doc.arguments.push(DocArgument {
                            name,
                            description,
                            span: *span,
                        });
                        continues_entry = true;
                    }
                } else if continues_entry && let Some(entry) = doc.arguments.last_mut() {
                    if !entry.description.is_empty() {
                        entry.description.push(' ');
                    }
                    entry.description.push_str(line);
                }
            }
            Section::Other => {}
        }
    }
    if !summary.is_empty() {
        doc.summary = Some(summary.join(" "));
    }
    doc
}

/// The name of a section started by this line: a Markdown heading (`# Arguments`) or a line
/// of one word and a colon (`Arguments:`).
fn section_name(line: &str) -> Option<&str> {
    if let Some(heading) = line.strip_prefix('#') {
        let heading = heading.trim_start_matches('#');
        // `#tag` is not a heading in Markdown; a space must follow the hashes.
        if heading.is_empty() || heading.starts_with(char::is_whitespace) {
            return Some(heading.trim().trim_end_matches(':').trim_end());
        }
        return None;
    }
    let word = line.strip_suffix(':')?;
    (!word.is_empty() && word.chars().all(char::is_alphabetic)).then_some(word)
}

/// The text of a Markdown list item (`* `, `- ` or `+ ` and the rest).
fn list_item(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("* ")
        .or_else(|| line.strip_prefix("- "))
        .or_else(|| line.strip_prefix("+ "))?;
    Some(rest.trim_start())
}

/// The argument name and description of a list item: `` `name` - text ``, `` `name`: text ``,
/// `name: text` or `name - text`. Items of another shape are not argument entries.
fn argument_entry(item: &str) -> Option<(String, String)> {
    let (name, rest, quoted) = if let Some(quoted) = item.strip_prefix('`') {
        let end = quoted.find('`')?;
        (&quoted[..end], &quoted[end + 1..], true)
    } else {
        let end = item
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#'))
            .unwrap_or(item.len());
        (&item[..end], &item[end..], false)
    };
    let name = name.trim();
    let name = name.strip_prefix("r#").unwrap_or(name);
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let rest = rest.trim_start();
    let description = ["-", ":", "\u{2013}", "\u{2014}"]
        .iter()
        .find_map(|separator| rest.strip_prefix(separator));
    let description = match description {
        Some(description) => description,
        // Without a separator, only a name in backticks makes the item an argument entry;
        // otherwise any list item starting with a word would be taken for one.
        None if quoted => rest,
        None => return None,
    };
    Some((name.to_owned(), description.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> DocComment {
        let lines: Vec<(String, Span)> = text
            .lines()
            .map(|line| (line.to_owned(), Span::call_site()))
            .collect();
        parse_lines(&lines)
    }

    fn entries(doc: &DocComment) -> Vec<(&str, &str)> {
        doc.arguments
            .iter()
            .map(|entry| (entry.name.as_str(), entry.description.as_str()))
            .collect()
    }

    #[test]
    fn reads_the_summary_and_rustdoc_style_arguments() {
        let doc = doc(" Get the weather for a location.\n\
             \n\
             # Arguments\n\
             * `location` - City name to get weather for\n\
             * `units` - Unit system to answer in");
        assert_eq!(
            doc.summary.as_deref(),
            Some("Get the weather for a location.")
        );
        assert_eq!(
            entries(&doc),
            [
                ("location", "City name to get weather for"),
                ("units", "Unit system to answer in")
            ]
        );
    }

    #[test]
    fn the_summary_is_the_first_paragraph_with_its_lines_joined() {
        let doc = doc(" Looks up the weather\n for a city.\n\n More detail here.");
        assert_eq!(
            doc.summary.as_deref(),
            Some("Looks up the weather for a city.")
        );
    }

    #[test]
    fn reads_colon_forms_other_markers_and_headings() {
        let doc = doc(" Summary.\n\
             ## Args:\n\
             - location: City name\n\
             + `days`: How many days\n\
             - `units` Unit system\n\
             - r#type - The kind");
        assert_eq!(
            entries(&doc),
            [
                ("location", "City name"),
                ("days", "How many days"),
                ("units", "Unit system"),
                ("type", "The kind")
            ]
        );
    }

    #[test]
    fn joins_continuation_lines_and_stops_at_the_next_section() {
        let doc = doc(" Summary.\n\
             \n\
             # Arguments\n\
             \n\
             * `query` - What to search for,\n\
               in plain words\n\
             * `limit` - At most this many\n\
             \n\
             # Errors\n\
             * `query` - not an argument entry");
        assert_eq!(
            entries(&doc),
            [
                ("query", "What to search for, in plain words"),
                ("limit", "At most this many")
            ]
        );
    }

    #[test]
    fn reads_docstring_style_sections() {
        let doc = doc(" Adds two numbers.\n\
             \n\
             Arguments:\n\
             - a: The first\n\
             - b: The second\n\
             Returns:\n\
             - sum: not an argument");
        assert_eq!(entries(&doc), [("a", "The first"), ("b", "The second")]);
    }

    #[test]
    fn skips_code_blocks() {
        let doc = doc(" Summary.\n\
             ```\n\
             # Arguments\n\
             * `hidden` - inside code\n\
             ```\n\
             # Arguments\n\
             * `shown` - outside code");
        assert_eq!(entries(&doc), [("shown", "outside code")]);
    }

    #[test]
    fn a_doc_that_starts_with_a_heading_has_no_summary() {
        let doc = doc(" # Arguments\n * `a` - The first");
        assert_eq!(doc.summary, None);
        assert_eq!(entries(&doc), [("a", "The first")]);
    }

    #[test]
    fn block_comment_stars_are_dropped() {
        let attr: Attribute = syn::parse_quote!(
            #[doc = "\n * Multiplies.\n *\n * # Arguments\n * * `x` - A factor\n "]
        );
        let doc = parse(&[attr]);
        assert_eq!(doc.summary.as_deref(), Some("Multiplies."));
        assert_eq!(entries(&doc), [("x", "A factor")]);
    }

    #[test]
    fn an_empty_doc_line_ends_the_first_paragraph() {
        let attrs: Vec<Attribute> = vec![
            syn::parse_quote!(#[doc = " Checks the numbers."]),
            syn::parse_quote!(#[doc = ""]),
            syn::parse_quote!(#[doc = " More detail."]),
        ];
        assert_eq!(
            parse(&attrs).summary.as_deref(),
            Some("Checks the numbers.")
        );
    }

    #[test]
    fn list_items_that_are_not_entries_are_ignored() {
        let doc = doc(" Summary.\n# Arguments\n* see the guide\n* `ok` - fine");
        assert_eq!(entries(&doc), [("ok", "fine")]);
    }
}
