//! Layering, validation and the README's configuration table.

use super::*;

#[test]
fn defaults_need_nothing() {
    let c = Config::load(None, &ConfigOverrides::default()).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("data"));
    assert_eq!(c.web.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.agency.listen.to_string(), "127.0.0.1:8443");
    assert_eq!(c.database_url(), "sqlite://data/platform.db");
}

#[test]
fn file_then_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "data_dir = \"/srv/p\"\n[web]\nlisten = \"0.0.0.0:9000\"\npublic_url = \"https://homes.example/\"\n[database]\npool_size = 3\n",
    )
    .unwrap();
    let from_file = Config::load(Some(&path), &ConfigOverrides::default()).unwrap();
    assert_eq!(from_file.data_dir, PathBuf::from("/srv/p"));
    assert_eq!(from_file.web.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(from_file.web.public_url, "https://homes.example");
    assert_eq!(from_file.database.pool_size, 3);
    // Untouched sections keep their defaults.
    assert_eq!(from_file.agency, AgencyConfig::default());

    let overrides = ConfigOverrides {
        web_listen: Some("127.0.0.1:9001".parse().unwrap()),
        database_url: Some("postgres://root@127.0.0.1/test".into()),
        ..Default::default()
    };
    let layered = Config::load(Some(&path), &overrides).unwrap();
    assert_eq!(layered.web.listen.to_string(), "127.0.0.1:9001");
    assert_eq!(layered.data_dir, PathBuf::from("/srv/p"));
    assert_eq!(layered.database_url(), "postgres://root@127.0.0.1/test");
}

#[test]
fn bad_toml_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[web]\nlisten = \"127.0.0.1:8080\"\nport = 3\n").unwrap();
    let err = Config::load(Some(&path), &ConfigOverrides::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("port"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn missing_file_is_clear() {
    let err = Config::load(
        Some(Path::new("/nonexistent/platform.toml")),
        &ConfigOverrides::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read configuration file /nonexistent/platform.toml"),
        "{err}"
    );
}

#[test]
fn mail_section_layers_and_is_checked() {
    let c = Config::from_toml(
        "[mail]\nsmtp_host = \"smtp.example\"\nsmtp_tls = \"tls\"\nbatch_window_secs = 5\n",
    )
    .unwrap();
    assert_eq!(c.mail.smtp_host.as_deref(), Some("smtp.example"));
    assert_eq!(c.mail.port(), 465);
    assert_eq!(c.mail.batch_window_secs, 5);
    assert_eq!(MailConfig::default().port(), 587);
    let o = ConfigOverrides {
        smtp_port: Some(2525),
        mail_digest_hour: Some(24),
        ..Default::default()
    };
    let err = Config::load(None, &o).unwrap_err();
    assert!(err.to_string().contains("mail.digest_hour_utc"), "{err}");
    let o = ConfigOverrides {
        mail_from: Some("not an address".into()),
        ..Default::default()
    };
    assert!(
        Config::load(None, &o)
            .unwrap_err()
            .to_string()
            .contains("mail.from")
    );
}

#[test]
fn ca_options_layer_and_are_checked() {
    let c = Config::load(None, &ConfigOverrides::default()).unwrap();
    assert_eq!(
        c.ca_public_url(),
        "https://127.0.0.1:8443",
        "the agency URL by default"
    );
    assert!(!c.ca.allow_unencrypted_keys);
    assert!(!c.is_production());
    let c = Config::from_toml(
        "[ca]\npublic_url = \"http://pki.homes.example/\"\nallow_unencrypted_keys = true\nserver_renew_days = 40\ncheck_interval_secs = 60\n",
    )
    .unwrap();
    assert_eq!(c.ca_public_url(), "http://pki.homes.example");
    assert!(c.ca.allow_unencrypted_keys);
    assert_eq!((c.ca.server_renew_days, c.ca.check_interval_secs), (40, 60));
    let o = ConfigOverrides {
        ca_public_url: Some("https://ca.homes.example".into()),
        ca_allow_unencrypted_keys: Some(true),
        ca_server_renew_days: Some(400),
        ca_check_interval_secs: Some(1),
        public_url: Some("https://homes.example".into()),
        ..Default::default()
    };
    let c = Config::load(None, &o).unwrap();
    assert_eq!(c.ca_public_url(), "https://ca.homes.example");
    assert!(c.ca.allow_unencrypted_keys && c.is_production());
    assert_eq!((c.ca.server_renew_days, c.ca.check_interval_secs), (400, 1));
    for (o, option) in [
        (
            ConfigOverrides {
                ca_public_url: Some("ftp://x".into()),
                ..Default::default()
            },
            "ca.public_url",
        ),
        (
            ConfigOverrides {
                agency_public_url: Some("not a url".into()),
                ..Default::default()
            },
            "agency.public_url",
        ),
        (
            ConfigOverrides {
                ca_server_renew_days: Some(0),
                ..Default::default()
            },
            "ca.server_renew_days",
        ),
        (
            ConfigOverrides {
                ca_check_interval_secs: Some(0),
                ..Default::default()
            },
            "ca.check_interval_secs",
        ),
    ] {
        let err = Config::load(None, &o).unwrap_err();
        assert!(err.to_string().contains(option), "{err}");
    }
}

#[test]
fn invalid_values_are_refused() {
    let o = ConfigOverrides {
        public_url: Some("ftp://x".into()),
        ..Default::default()
    };
    let err = Config::load(None, &o).unwrap_err();
    assert!(err.to_string().contains("web.public_url"), "{err}");

    let o = ConfigOverrides {
        database_url: Some("mysql://x".into()),
        ..Default::default()
    };
    let err = Config::load(None, &o).unwrap_err();
    assert!(err.to_string().contains("database.url"), "{err}");
}

/// The rows of the README's configuration table (under "## Configuration").
fn readme_rows() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md beside the workspace's Cargo.toml");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("a Configuration section in README.md");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| l.trim_end().to_owned())
        .collect()
}

#[test]
fn readme_table_is_the_declared_options() {
    let declared: Vec<String> = documented_options()
        .iter()
        .map(OptionDoc::markdown)
        .collect();
    let readme = readme_rows();
    let missing: Vec<&String> = declared.iter().filter(|r| !readme.contains(r)).collect();
    let extra: Vec<&String> = readme.iter().filter(|r| !declared.contains(r)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && readme.len() == declared.len(),
        "README.md's configuration table differs from the options declared in \
         platform/src/config/options.rs.\nRows to add:\n{}\nRows to remove:\n{}\nThe whole table:\n{}",
        missing
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        extra
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        declared.join("\n"),
    );
    let mut keys: Vec<&str> = documented_options()
        .iter()
        .map(|o| if o.key.is_empty() { o.env } else { o.key })
        .collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "each option is declared once");
}

#[test]
fn declared_keys_and_literal_defaults_are_the_config_s() {
    let defaults = serde_json::to_value(Config::default()).unwrap();
    let mut checked = 0;
    for option in documented_options().iter().filter(|o| !o.key.is_empty()) {
        let value = option
            .key
            .split('.')
            .try_fold(&defaults, |v, k| v.get(k))
            .unwrap_or_else(|| panic!("{} is not a key of Config", option.key));
        let rendered = match value {
            serde_json::Value::Null => continue, // the default is worded, not a value
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        let stated = option
            .default
            .strip_prefix('`')
            .and_then(|d| d.strip_suffix('`'))
            .filter(|d| !d.contains('`'))
            .unwrap_or_else(|| {
                panic!(
                    "{}: the default {:?} is one value",
                    option.key, option.default
                )
            });
        assert!(
            stated == rendered || stated.strip_prefix("./") == Some(&rendered),
            "{}: README/--help say {stated}, Config::default() has {rendered}",
            option.key
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} defaults checked");
}

#[test]
fn help_lists_each_option_with_its_variable() {
    use clap::CommandFactory;
    let help = crate::cli::Cli::command().render_long_help().to_string();
    for option in ConfigOverrides::documented() {
        let line = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&*option.flag))
            .enumerate()
            // Up to the next option's line (less indented than descriptions).
            .take_while(|(i, l)| {
                *i == 0 || !(l.trim_start().starts_with('-') && l.len() - l.trim_start().len() < 8)
            })
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            line.contains(&format!("[env: {}", option.env)),
            "{} in --help without [env: {}]: {line:?}",
            option.flag,
            option.env
        );
    }
    for secret in [
        "PLATFORM_CA_PASSPHRASE",
        "PLATFORM_CA_EXPORT_PASSPHRASE",
        "PLATFORM_SMTP_PASSWORD",
    ] {
        assert!(
            !help.contains(&format!("[env: {secret}")),
            "{secret} is not an option"
        );
    }
}

#[test]
fn environment_and_flags_layer_over_the_file() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "[database]\npool_size = 3\ntimeout_ms = 7\n").unwrap();
    let cli = crate::cli::Cli::try_parse_from([
        "platform",
        "--db-pool-size",
        "5",
        "--smtp-host",
        " ",
        "--agency-server-names",
        "a.example,b.example",
        "--ca-allow-unencrypted-keys",
    ])
    .unwrap();
    let c = Config::load(Some(&path), &cli.overrides).unwrap();
    assert_eq!(c.database.pool_size, 5, "a flag over the file");
    assert_eq!(c.database.timeout_ms, 7, "the file over the default");
    assert_eq!(c.mail.smtp_host, None, "a blank host unsets it");
    assert_eq!(c.agency.server_names, ["a.example", "b.example"]);
    assert!(c.ca.allow_unencrypted_keys);
}

#[test]
fn web_settings_come_by_flag_as_well_as_by_file() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "[web]\nsecure_cookies = true\n").unwrap();
    let cli = crate::cli::Cli::try_parse_from([
        "platform",
        "--trust-forwarded-for",
        "--secure-cookies",
        "false",
    ])
    .unwrap();
    let c = Config::load(Some(&path), &cli.overrides).unwrap();
    assert!(c.web.trust_forwarded_for, "a bare flag means true");
    assert_eq!(c.web.secure_cookies, Some(false), "the flag over the file");
    let none = crate::cli::Cli::try_parse_from(["platform"]).unwrap();
    let c = Config::load(Some(&path), &none.overrides).unwrap();
    assert!(!c.web.trust_forwarded_for);
    assert_eq!(c.web.secure_cookies, Some(true), "the file's value stays");
}

#[test]
fn a_private_listener_behind_an_https_url_without_forwarded_for_is_warned_about() {
    let mut web = WebConfig::default();
    assert_eq!(web.proxy_warning(), None, "plain-HTTP development");
    web.public_url = "https://homes.example".into();
    let warning = web.proxy_warning().expect("loopback behind https");
    assert!(
        warning.contains("PLATFORM_TRUST_FORWARDED_FOR"),
        "{warning}"
    );
    web.listen = "10.1.2.3:8080".parse().unwrap();
    assert!(web.proxy_warning().is_some(), "RFC 1918");
    web.listen = "[fd00::1]:8080".parse().unwrap();
    assert!(web.proxy_warning().is_some(), "RFC 4193");
    web.listen = "203.0.113.5:8080".parse().unwrap();
    assert_eq!(
        web.proxy_warning(),
        None,
        "a public address sees its visitors"
    );
    web.listen = "127.0.0.1:8080".parse().unwrap();
    web.trust_forwarded_for = true;
    assert_eq!(web.proxy_warning(), None, "configured");
}
