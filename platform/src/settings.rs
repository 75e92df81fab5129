//! What the running server uses, recorded in the database at each start (`platform_settings`):
//! its effective public addresses. Operator commands run with only the data directory or the
//! database URL read them, so the enrolment mail of `platform agency add` names the agency
//! address the server was started with, not the command's own defaults.

use diesel::prelude::*;

use crate::config::{Config, ConfigOverrides};
use crate::db::schema::platform_settings;

/// The website's public URL.
pub const WEB_PUBLIC_URL: &str = "web.public_url";
/// The agency API's public URL.
pub const AGENCY_PUBLIC_URL: &str = "agency.public_url";
/// The base URL of the CA downloads written into certificates.
pub const CA_PUBLIC_URL: &str = "ca.public_url";
/// The operator console's address (`http://ADDR` of the bound admin listener).
pub const CONSOLE_URL: &str = "admin.url";

/// The `platform_settings` queries, for both backends.
pub trait SettingsStore {
    /// Records `value` under `name` (replacing what was there).
    fn record_setting(&mut self, name: &str, value: &str, now: i64) -> QueryResult<()>;
    /// The value recorded under `name`.
    fn setting(&mut self, name: &str) -> QueryResult<Option<String>>;
}

crate::impl_for_backends!(SettingsStore {
    fn record_setting(&mut self, name: &str, value: &str, now: i64) -> QueryResult<()> {
        diesel::insert_into(platform_settings::table)
            .values((
                platform_settings::name.eq(name),
                platform_settings::value.eq(value),
                platform_settings::updated_at.eq(now),
            ))
            .on_conflict(platform_settings::name)
            .do_update()
            .set((
                platform_settings::value.eq(value),
                platform_settings::updated_at.eq(now),
            ))
            .execute(self)
            .map(drop)
    }

    fn setting(&mut self, name: &str) -> QueryResult<Option<String>> {
        platform_settings::table
            .find(name)
            .select(platform_settings::value)
            .first(self)
            .optional()
    }
});

/// Records the server's effective addresses; `console_url` is the bound admin listener's.
pub fn record_effective<C: SettingsStore>(
    c: &mut C,
    config: &Config,
    console_url: &str,
) -> QueryResult<()> {
    let now = crate::db::now_ms();
    c.record_setting(WEB_PUBLIC_URL, &config.web.public_url, now)?;
    c.record_setting(AGENCY_PUBLIC_URL, &config.agency.public_url, now)?;
    c.record_setting(CA_PUBLIC_URL, &config.ca_public_url(), now)?;
    c.record_setting(CONSOLE_URL, console_url, now)
}

/// The configuration an operator command acts with: `config`, with the addresses the running
/// server recorded in place of those the command did not give itself (by flag or variable).
pub fn effective_for_operator<C: SettingsStore>(
    c: &mut C,
    mut config: Config,
    given: &ConfigOverrides,
) -> QueryResult<Config> {
    if given.public_url.is_none()
        && let Some(v) = c.setting(WEB_PUBLIC_URL)?
    {
        config.web.public_url = v;
    }
    if given.agency_public_url.is_none()
        && let Some(v) = c.setting(AGENCY_PUBLIC_URL)?
    {
        config.agency.public_url = v;
    }
    if given.ca_public_url.is_none()
        && config.ca.public_url.is_none()
        && let Some(v) = c.setting(CA_PUBLIC_URL)?
    {
        config.ca.public_url = Some(v);
    }
    Ok(config)
}

/// The console's address for links an operator command prints: the running server's, else
/// the configured listener's.
pub fn console_url<C: SettingsStore>(c: &mut C, config: &Config) -> QueryResult<String> {
    Ok(c.setting(CONSOLE_URL)?
        .unwrap_or_else(|| format!("http://{}", config.admin.listen)))
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(
        operator_commands_take_the_servers_addresses_unless_given,
        |db| {
            let mut conn = db.get().unwrap();
            let mut served = Config::default();
            served.agency.public_url = "https://agencies.example:9443".into();
            served.web.public_url = "https://homes.example".into();
            crate::with_conn!(&mut conn, |c| {
                record_effective(c, &served, "http://127.0.0.1:9081").unwrap();
                let cfg = effective_for_operator(c, Config::default(), &ConfigOverrides::default())
                    .unwrap();
                assert_eq!(cfg.agency.public_url, "https://agencies.example:9443");
                assert_eq!(cfg.web.public_url, "https://homes.example");
                assert_eq!(console_url(c, &cfg).unwrap(), "http://127.0.0.1:9081");
                let given = ConfigOverrides {
                    agency_public_url: Some("https://other.example".into()),
                    ..Default::default()
                };
                let mut own = Config::default();
                own.agency.public_url = "https://other.example".into();
                let cfg = effective_for_operator(c, own, &given).unwrap();
                assert_eq!(cfg.agency.public_url, "https://other.example");
            });
        }
    );
}
