//! Composing the email: a multipart (plain text and HTML) lettre message from rendered content,
//! with a random Message-ID fixed when it is composed and the RFC 8058 unsubscribe headers.

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use super::settings::WorkerSettings;
use crate::notify::render::Rendered;
use crate::notify::unsubscribe::UnsubscribeKey;

/// What turns claimed rows into messages: the batching and digest settings, the site's address
/// (for links), the sender, and the key that signs unsubscribe links.
#[derive(Debug, Clone)]
pub(super) struct Composer {
    pub(super) settings: WorkerSettings,
    pub(super) public_url: String,
    pub(super) from: Mailbox,
    pub(super) key: UnsubscribeKey,
}

impl Composer {
    /// A multipart message with a new random Message-ID. The message is stored as composed
    /// ([`crate::notify::messages`]), so every attempt at it carries this same id.
    pub(super) fn message(
        &self,
        to: &str,
        rendered: &Rendered,
        unsubscribe: Option<&str>,
    ) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("invalid recipient address: {e}"))?;
        let domain = self.from.email.domain().to_owned();
        let message_id = format!("<{}@{domain}>", hex::encode(rand::random::<[u8; 16]>()));
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(message_id))
            .date_now();
        if let Some(url) = unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
    }
}
