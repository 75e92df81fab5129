//! Wire types shared by the platform and the agency client.
