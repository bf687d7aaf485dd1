//! The ways a request can fail, as values; `documents` renders them.

/// One JSON:API error object (one `errors[]` entry with links).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) detail: String,
    pub(crate) pointer: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            pointer: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(400, detail)
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(403, detail)
    }

    pub(crate) fn with_pointer(mut self, pointer: impl Into<String>) -> ApiError {
        self.pointer = Some(pointer.into());
        self
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiError {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// An entity validation violation: rendered as a 422 entry without links.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    /// Drupal's property path, e.g. `name` or `mail.0.value`.
    pub(crate) property_path: String,
    pub(crate) message: String,
}

impl Violation {
    pub(crate) fn new(property_path: &str, message: impl Into<String>) -> Violation {
        Violation {
            property_path: property_path.to_string(),
            message: message.into(),
        }
    }

    /// JSON:API drops the delta of single-valued fields: `mail.0.value` →
    /// `/data/attributes/mail/value`.
    pub(crate) fn pointer(&self) -> String {
        // Multi-valued reference fields keep their delta (recorded 363b, 386b).
        if self.property_path.ends_with(".target_id") {
            return format!("/data/attributes/{}", self.property_path.replace('.', "/"));
        }
        let parts: Vec<&str> = self
            .property_path
            .split('.')
            .filter(|p| *p != "0")
            .collect();
        format!("/data/attributes/{}", parts.join("/"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    Api(ApiError),
    Violations(Vec<Violation>),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure::Api(error)
    }
}

impl Failure {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Failure::Api(error) => error.status,
            Failure::Violations(_) => 422,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_pointer_drops_the_field_delta() {
        assert_eq!(
            Violation::new("mail.0.value", "x").pointer(),
            "/data/attributes/mail/value"
        );
        assert_eq!(
            Violation::new("name", "x").pointer(),
            "/data/attributes/name"
        );
    }
}
