//! The CLI's error type. Library errors are wrapped here; `report` is the one
//! place that formats them for people.

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
}

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
            Error::Failed { hint, .. } => hint.clone().filter(|h| !h.trim().is_empty()),
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
