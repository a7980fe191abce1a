//! What `doctor` prints: the settings, one line per check, the fix under each failure, and the
//! exit code the failures add up to.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use crate::failure::{Exit, Failure};
use crate::text::one_line;

/// What a failed check stops working: the exit code follows the most serious one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Area {
    /// The model cannot be called as an agent would (exit 6).
    Bedrock,
    /// The store cannot be used: missing, of the wrong shape, refused (exit 4).
    StoreUnusable,
    /// The store could not be reached, or was throttled (exit 1).
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "dynamodb")),
        allow(dead_code, reason = "only the stores' checks reach a store")
    )]
    StoreUnreachable,
}

/// How wide the check-name column is.
const NAME_WIDTH: usize = 15;

/// The checks printed so far, and their failures.
pub(super) struct Report {
    out: anstream::Stdout,
    passed: usize,
    skipped: usize,
    failures: Vec<(Area, &'static str)>,
    /// The first error writing the output, if any.
    write_error: Option<std::io::Error>,
}

impl Report {
    pub(super) fn new() -> Self {
        Self {
            out: anstream::stdout(),
            passed: 0,
            skipped: 0,
            failures: Vec::new(),
            write_error: None,
        }
    }

    fn line(&mut self, line: std::fmt::Arguments<'_>) {
        if self.write_error.is_some() {
            return;
        }
        let written = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
        if let Err(error) = written {
            self.write_error = Some(error);
        }
    }

    /// The first line.
    pub(super) fn title(&mut self, title: &str) {
        let bold = Style::new().bold();
        self.line(format_args!("{bold}{title}{bold:#}"));
    }

    /// A section's heading, after an empty line.
    pub(super) fn heading(&mut self, heading: &str) {
        let bold = Style::new().bold();
        self.line(format_args!(""));
        self.line(format_args!("{bold}{heading}{bold:#}"));
    }

    /// One resolved setting.
    pub(super) fn setting(&mut self, name: &str, value: &str) {
        self.line(format_args!("  {name:<12} {}", one_line(value)));
    }

    fn check(&mut self, status: &str, style: Style, name: &str, why: &str) {
        self.line(format_args!(
            "  {style}{status:<8}{style:#} {name:<NAME_WIDTH$} {}",
            one_line(why)
        ));
    }

    /// A check that passed.
    pub(super) fn ok(&mut self, name: &'static str, why: &str) {
        self.passed += 1;
        let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
        self.check("ok", green, name, why);
    }

    /// A check that was not made, and why.
    pub(super) fn skipped(&mut self, name: &'static str, why: &str) {
        self.skipped += 1;
        let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
        self.check("skipped", yellow, name, why);
    }

    /// A check that failed: what happened, and the fix on the next line.
    pub(super) fn failed(&mut self, area: Area, name: &'static str, why: &str, fix: &str) {
        self.failures.push((area, name));
        let red = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
        self.check("FAILED", red, name, why);
        self.detail(&format!("fix: {fix}"));
    }

    /// A line under the last check (a fix, a note).
    pub(super) fn detail(&mut self, text: &str) {
        let indent = 2 + 8 + 1 + NAME_WIDTH + 1;
        self.line(format_args!("{:indent$}{}", "", one_line(text)));
    }

    /// Prints the summary: `Ok` when no check failed, else the failure whose exit code the
    /// worst failure sets (Bedrock 6, an unusable store 4, an unreachable store 1).
    pub(super) fn finish(mut self) -> Result<(), Failure> {
        let checked = self.passed + self.failures.len();
        let skipped = match self.skipped {
            0 => String::new(),
            1 => ", 1 skipped".to_owned(),
            n => format!(", {n} skipped"),
        };
        self.line(format_args!(""));
        if self.failures.is_empty() {
            let passed = match self.passed {
                1 => "The 1 check passed".to_owned(),
                n => format!("All {n} checks passed"),
            };
            self.line(format_args!("{passed}{skipped}."));
            return match self.write_error.take() {
                Some(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                    Err(Failure::reader_gone())
                }
                Some(error) => Err(Failure::failed(format!("cannot write the output: {error}"))),
                None => Ok(()),
            };
        }
        let names: Vec<&str> = self.failures.iter().map(|(_, name)| *name).collect();
        self.line(format_args!(
            "{} of {checked} checks failed{skipped}: {}.",
            self.failures.len(),
            names.join(", ")
        ));
        let area = |wanted: Area| self.failures.iter().any(|(area, _)| *area == wanted);
        let exit = if area(Area::Bedrock) {
            Exit::BedrockFailed
        } else if area(Area::StoreUnusable) {
            Exit::StoreUnusable
        } else {
            Exit::Failed
        };
        Err(Failure::new(
            exit,
            format!(
                "{} of {checked} doctor checks failed ({}): the fix is under each FAILED line",
                self.failures.len(),
                names.join(", ")
            ),
        ))
    }
}
