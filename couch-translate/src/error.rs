use std::fmt;

/// One problem found in an SQL statement, with its position in the SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateError {
    /// What is wrong, in words a newcomer understands.
    pub message: String,
    /// Line and column (1-based) in the SQL text, when known.
    pub location: Option<(u64, u64)>,
    /// An optional hint ("did you mean `name`?").
    pub help: Option<String>,
}

impl TranslateError {
    pub(crate) fn new(message: impl Into<String>, location: Option<(u64, u64)>) -> Self {
        TranslateError { message: message.into(), location, help: None }
    }

    pub(crate) fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some((line, column)) = self.location {
            write!(f, " (SQL line {line}, column {column})")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TranslateError {}

/// Every problem found in one statement: translation reports all of them at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TranslateErrors(pub Vec<TranslateError>);

impl TranslateErrors {
    pub(crate) fn push(&mut self, e: TranslateError) {
        self.0.push(e);
    }

    /// The errors, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &TranslateError> {
        self.0.iter()
    }

    /// Whether there is no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<TranslateError> for TranslateErrors {
    fn from(e: TranslateError) -> Self {
        TranslateErrors(vec![e])
    }
}

impl fmt::Display for TranslateErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TranslateErrors {}
