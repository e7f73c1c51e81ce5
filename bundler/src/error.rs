//! The CLI's error type. Library errors are wrapped here with their
//! `#[source]` chain kept; `report::print_error` is the one place that
//! formats them for people, each cause once (see [`Error::causes`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{message}")]
    Failed { message: String, hint: Option<String> },
    /// What failed, in the caller's words, and the library error that made it
    /// fail, kept whole as the source so its own causes can be printed.
    #[error("{message}")]
    Caused {
        message: String,
        hint: Option<String>,
        #[source]
        source: BoxError,
    },
}

/// Any library error, kept with its own chain of causes.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn failed(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// `message` failed because of `source`, which is kept (not flattened into
    /// the message) so the printer can show its whole chain.
    pub fn failed_with(message: impl Into<String>, source: impl Into<BoxError>, hint: impl Into<String>) -> Self {
        Error::Caused {
            message: message.into(),
            hint: Some(hint.into()),
            source: source.into(),
        }
    }

    /// An error made with [`Error::failed`], now with `source` as what made
    /// it fail (printed as its cause). Other errors keep their own.
    pub fn because(self, source: impl Into<BoxError>) -> Self {
        match self {
            Error::Failed { message, hint } => Error::Caused {
                message,
                hint,
                source: source.into(),
            },
            other => other,
        }
    }

    /// A library error that says itself what failed: its own message leads,
    /// its causes follow, and `hint` says what to do.
    pub fn from_source(source: impl Into<BoxError>, hint: impl Into<String>) -> Self {
        let source = source.into();
        Error::Caused {
            message: source.to_string(),
            hint: Some(hint.into()),
            source,
        }
    }

    /// The lines to print: this error's message, then each cause in its
    /// `source` chain that says something new. A cause whose text is already
    /// part of a line before it (a library that writes `"{path}: {source}"`,
    /// or a wrapper that repeats its source) is left out, so nothing is said
    /// twice.
    pub fn causes(&self) -> Vec<String> {
        chain_lines(self)
    }

    /// The message and its causes on one line, joined with `: `, for places
    /// that hold one string (JSON output).
    pub fn full_message(&self) -> String {
        self.causes().join(": ")
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => Some("check the path".into()),
                std::io::ErrorKind::PermissionDenied => {
                    Some("check the file's permissions, or run as its owner".into())
                }
                std::io::ErrorKind::AlreadyExists => {
                    Some("something is in the way: remove it, or choose another path".into())
                }
                _ => None,
            },
            Error::Usage(_) => Some("see --help".into()),
            // An empty hint is no hint: never printed as one.
            Error::Failed { hint, .. } | Error::Caused { hint, .. } => hint.clone().filter(|h| !h.trim().is_empty()),
        }
    }

    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The text of `top` and of each error in its source chain that adds
/// something: empty texts and texts contained in an earlier line are skipped.
pub fn chain_lines(top: &(dyn std::error::Error + 'static)) -> Vec<String> {
    meshbundle_core::error_lines(top)
}
