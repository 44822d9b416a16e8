//! A failed API call as the world's controllers see it: the HTTP code, the Status reason and
//! message the real apiserver sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

impl ApiError {
    pub fn other(message: impl Into<String>) -> Self {
        ApiError {
            code: 500,
            reason: "ClientError".into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound".into(),
            message: format!("{what} not found"),
        }
    }
}

impl From<kube::Error> for ApiError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => ApiError {
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            other => ApiError::other(other.to_string()),
        }
    }
}
