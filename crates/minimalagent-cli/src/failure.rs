//! What the command reports when it fails: one line on stderr, and an exit code.

use std::fmt;
use std::process::ExitCode;

use minimalagent::session::{SessionError, SessionErrorKind};
use minimalagent::{ConfigError, ErrorKind, ResumeRefusal};

use crate::text::one_line;

/// The exit codes (documented in docs/cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: the store failed while the command ran (unreachable, throttled, damaged data), or
    /// something else went wrong.
    Failed = 1,
    /// 2: the command line is wrong (arguments, store URL, session id, follow position).
    Usage = 2,
    /// 3: the session does not exist (never written, expired or deleted).
    NotFound = 3,
    /// 4: the store cannot be used: a missing SQLite file or DynamoDB table, a file that is
    /// not a session store, a table of the wrong shape, missing credentials or permissions.
    StoreUnusable = 4,
    /// 5: a deletion was not confirmed.
    NotConfirmed = 5,
    /// 6: `doctor`: a Bedrock check failed (model access, permissions, Region, credentials,
    /// quotas).
    #[cfg_attr(not(feature = "bedrock"), allow(dead_code))]
    BedrockFailed = 6,
    /// 7: a conflict with what the store holds: a decision on a held tool call was not
    /// recorded as asked (no run waits for it: nothing paused, an unknown interrupt id;
    /// someone answered it first; or the call had expired, recorded as expired), or the new
    /// session of a fork exists already.
    Conflict = 7,
}

/// A failure: what to print, and how to exit.
#[derive(Debug)]
pub(crate) struct Failure {
    exit: Exit,
    message: String,
    /// Nothing to report, and success: the reader of the output went away (`… | head`).
    quiet: bool,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            quiet: false,
        }
    }

    /// The reader of the output went away: stop, report nothing, and exit 0.
    pub(crate) fn reader_gone() -> Self {
        Self {
            exit: Exit::Failed,
            message: String::new(),
            quiet: true,
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub(crate) fn unusable(message: impl Into<String>) -> Self {
        Self::new(Exit::StoreUnusable, message)
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, message)
    }

    pub(crate) fn not_found(session: &str, store: &str) -> Self {
        Self::new(
            Exit::NotFound,
            format!(
                "session `{}` not found in {store}: check the id with `minimalagent sessions list` \
                 (sessions expire an hour after their last run unless the agent sets another TTL)",
                one_line(session)
            ),
        )
    }

    /// A failure of the store used by a command that is already running.
    pub(crate) fn from_error(error: &minimalagent::Error, store: &str) -> Self {
        match error.kind() {
            ErrorKind::InvalidSessionId => Self::usage(error.to_string()),
            ErrorKind::Config => match error.config_error() {
                Some(config) => from_config(config, store),
                None => Self::unusable(error.to_string()),
            },
            ErrorKind::Store => match error.session_error() {
                Some(session) => {
                    let exit = match session.kind() {
                        SessionErrorKind::NotFound => Exit::NotFound,
                        SessionErrorKind::Misconfigured | SessionErrorKind::Unsupported => {
                            Exit::StoreUnusable
                        }
                        _ => Exit::Failed,
                    };
                    let hint = match session.kind() {
                        SessionErrorKind::Unavailable | SessionErrorKind::Throttled => {
                            " (try again; check the network, the endpoint and the region)"
                        }
                        SessionErrorKind::Incompatible => {
                            " (written by a newer version: update minimalagent)"
                        }
                        _ => "",
                    };
                    Self::new(exit, format!("{store}: {session}{hint}"))
                }
                None => Self::failed(format!("{store}: {error}")),
            },
            ErrorKind::NotResumable => match error.resume_refusal() {
                // The store failed under the claim: trying again may work.
                Some(ResumeRefusal::ClaimFailed { .. }) => Self::failed(format!(
                    "{store}: {error}{}",
                    error
                        .session_error()
                        .map(|session| format!(" ({session})"))
                        .unwrap_or_default()
                )),
                Some(ResumeRefusal::NoDecisions) => Self::usage(error.to_string()),
                _ => Self::new(Exit::Conflict, error.to_string()),
            },
            _ => Self::failed(error.to_string()),
        }
    }

    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        if self.quiet {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(self.exit as u8)
        }
    }

    /// Prints the failure as one line on stderr.
    pub(crate) fn report(&self) {
        if self.quiet {
            return;
        }
        let style = anstyle::Style::new()
            .bold()
            .fg_color(Some(anstyle::AnsiColor::Red.into()));
        anstream::eprintln!("{style}error:{style:#} {}", one_line(&self.message));
    }
}

impl Failure {
    /// Prints the failure as a warning, for errors a command goes on after.
    pub(crate) fn warn(&self) {
        let style = anstyle::Style::new()
            .bold()
            .fg_color(Some(anstyle::AnsiColor::Yellow.into()));
        anstream::eprintln!("{style}warning:{style:#} {}", one_line(&self.message));
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A store that could not be opened.
fn from_config(error: &ConfigError, store: &str) -> Failure {
    match error {
        ConfigError::InvalidStoreUrl { .. } => Failure::usage(format!(
            "{error} (see `minimalagent --help` for store URLs)"
        )),
        ConfigError::FeatureDisabled { feature, .. } => Failure::usage(format!(
            "{store} needs the `{feature}` feature, which this build of minimalagent does not \
             have: install it with `cargo install minimalagent-cli --features {feature}`"
        )),
        ConfigError::InvalidTableName(name) => Failure::usage(format!(
            "invalid DynamoDB table name `{}`: 3 to 255 characters of A-Z a-z 0-9 _ . -",
            one_line(name)
        )),
        ConfigError::Store(session) => Failure::from_open(session, store),
        other => Failure::unusable(format!("{store}: {other}")),
    }
}

impl Failure {
    /// A store that could not be opened: the store's own error, with what to do about it.
    pub(crate) fn from_open(error: &SessionError, store: &str) -> Self {
        let exit = match error.kind() {
            SessionErrorKind::Unavailable | SessionErrorKind::Throttled => Exit::Failed,
            _ => Exit::StoreUnusable,
        };
        // A file of an older schema cannot be migrated by a read-only open (the doctor tells
        // this case by the same word): say who migrates it, so that nobody forces it by hand
        // under a running agent.
        let hint = match error.kind() {
            SessionErrorKind::Incompatible => " (update minimalagent to read it)",
            _ if error.message().contains("migrat") => {
                " (this command only reads, and leaves the file as it is: an agent of this \
                 version, or a command that writes, migrates it when it opens it)"
            }
            _ => "",
        };
        Failure::new(
            exit,
            format!(
                "{store} cannot be used as a session store: {}{hint}",
                error.message()
            ),
        )
    }
}
