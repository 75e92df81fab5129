//! The agency desk program (built by the agency-client issue).
