/// What to answer an inbound event with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Markdown; the channel renders it.
    pub text: String,
    /// The turn failed (provider outage, store error); the text says why.
    pub failed: bool,
}

impl Reply {
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            failed: false,
        }
    }

    pub fn failed(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            failed: true,
        }
    }
}
