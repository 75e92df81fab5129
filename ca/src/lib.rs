//! The platform's certificate authority (filled in by the CA issue).
