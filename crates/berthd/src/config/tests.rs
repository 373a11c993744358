//! Loading and checking the configuration: precedence, named errors, and
//! the printed default.

use super::*;

fn load(toml: Option<&str>, env: &[(&str, &str)], overrides: Overrides) -> anyhow::Result<Config> {
    let mut result = None;
    figment::Jail::expect_with(|jail| {
        let mut overrides = overrides;
        if let Some(toml) = toml {
            jail.create_file("berthd.toml", toml)?;
            overrides.config = Some(PathBuf::from("berthd.toml"));
        }
        for (key, value) in env {
            jail.set_env(key, value);
        }
        result = Some(Config::load(&overrides).map_err(|e| anyhow::anyhow!("{e:#}")));
        Ok(())
    });
    result.expect("the jail ran the closure")
}

#[test]
fn the_printed_default_is_the_default() {
    let parsed: Config = toml::from_str(DEFAULT_TOML).expect("the default configuration parses");
    assert_eq!(parsed, Config::default());
}

#[test]
fn nothing_configured_gives_the_defaults() {
    let config = load(None, &[], Overrides::default()).expect("defaults load");
    assert_eq!(config, Config::default());
}

#[test]
fn later_sources_win() {
    let config = load(
        Some("listen = \"127.0.0.1:1\"\ndata_dir = \"/from/file\"\n[log]\nformat = \"json\"\n"),
        &[
            ("BERTH_LISTEN", "127.0.0.1:2"),
            ("BERTH_TELEMETRY__SERVICE_NAME", "env-name"),
        ],
        Overrides {
            data_dir: Some(PathBuf::from("/from/flag")),
            ..Overrides::default()
        },
    )
    .expect("loads");
    assert_eq!(config.listen, "127.0.0.1:2".parse().expect("addr"));
    assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.telemetry.service_name, "env-name");
}

#[test]
fn unknown_keys_are_named_with_their_source() {
    let err = load(
        Some("[server]\nshutdown_grase = \"1s\"\n"),
        &[],
        Overrides::default(),
    )
    .expect_err("unknown key");
    let message = err.to_string();
    assert!(message.contains("shutdown_grase"), "{message}");
    assert!(message.contains("berthd.toml"), "{message}");

    let err = load(
        None,
        &[("BERTH_LISTN", "127.0.0.1:1")],
        Overrides::default(),
    )
    .expect_err("unknown variable");
    let message = err.to_string();
    assert!(message.contains("listn"), "{message}");
    assert!(message.contains("BERTH_LISTN"), "{message}");
}

#[test]
fn wrong_types_are_named() {
    let err = load(Some("listen = 8080\n"), &[], Overrides::default()).expect_err("wrong type");
    let message = err.to_string();
    assert!(message.contains("listen"), "{message}");

    let err = load(
        Some("[server]\nshutdown_grace = \"soon\"\n"),
        &[],
        Overrides::default(),
    )
    .expect_err("bad duration");
    assert!(err.to_string().contains("shutdown_grace"), "{err}");
}

#[test]
fn values_are_validated() {
    for (toml, key) in [
        (
            "[telemetry]\ntrace_sample_ratio = 1.5\n",
            "telemetry.trace_sample_ratio",
        ),
        (
            "[telemetry]\notlp_endpoint = \"collector:4318\"\n",
            "telemetry.otlp_endpoint",
        ),
        ("[server]\npublic_url = \"ftp://x\"\n", "server.public_url"),
        ("[log]\nfilter = \"info,=[\"\n", "log.filter"),
        ("[store]\ncache_mib = 1\n", "store.cache_mib"),
    ] {
        let err = load(Some(toml), &[], Overrides::default()).expect_err(toml);
        assert!(err.to_string().contains(key), "{toml}: {err}");
    }
}

#[test]
fn client_and_test_variables_are_not_settings() {
    let config = load(
        None,
        &[
            ("BERTH_TOKEN", "x"),
            ("BERTH_TEST_KUBECONFIG", "/k"),
            ("BERTH_CONTEXT", "dev"),
        ],
        Overrides::default(),
    )
    .expect("client variables are ignored");
    assert_eq!(config, Config::default());
}

#[test]
fn a_missing_config_file_is_named() {
    let err = Config::load(&Overrides::from_file(PathBuf::from(
        "/nonexistent/berthd.toml",
    )))
    .expect_err("missing file");
    assert!(
        err.to_string().contains("/nonexistent/berthd.toml"),
        "{err}"
    );
}

#[test]
fn the_samples_are_on_unless_turned_off() {
    assert!(Config::default().catalog.samples);
    let config = load(
        None,
        &[("BERTH_CATALOG__SAMPLES", "false")],
        Overrides::default(),
    )
    .expect("loads");
    assert!(!config.catalog.samples);
    let err = load(
        Some("[catalog]\nsamples = \"maybe\"\n"),
        &[],
        Overrides::default(),
    )
    .expect_err("not a boolean");
    assert!(err.to_string().contains("samples"), "{err}");
}

#[test]
fn the_store_cache_is_set_or_sized_from_the_memory_limit() {
    let config = load(Some("[store]\ncache_mib = 64\n"), &[], Overrides::default()).expect("load");
    assert_eq!(config.store.options().cache_bytes(), 64 << 20);
    let config = load(
        None,
        &[("BERTH_STORE__CACHE_MIB", "32")],
        Overrides::default(),
    )
    .expect("load");
    assert_eq!(config.store.cache_mib, Some(32));
    let config = load(None, &[], Overrides::default()).expect("load");
    assert_eq!(config.store.cache_mib, None);
    let cache = config.store.options().cache_bytes();
    match berth_store::cgroup_memory_limit() {
        Some(limit) => assert!(cache <= limit / 2, "{cache} under a limit of {limit}"),
        None => assert_eq!(cache, 256 << 20),
    }
}
