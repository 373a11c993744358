//! `berth context add|use|list|remove` and the file they keep.

use crate::Cli;

#[test]
fn contexts_round_trip_through_every_output_format() {
    let cli = Cli::new();
    assert!(!cli.config_file().exists());
    cli.ok(&["context", "add", "dev", "http://127.0.0.1:8080/"]);
    cli.ok(&["context", "add", "prod", "https://berth.example.com"]);

    // The first context added becomes current.
    let table = cli.ok(&["context", "list"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["CURRENT", "NAME", "URL"],
            vec!["*", "dev", "http://127.0.0.1:8080"],
            vec!["prod", "https://berth.example.com"],
        ]
    );

    cli.ok(&["context", "use", "prod"]);
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["context", "list", "-o", "json"])).expect("JSON output");
    assert_eq!(
        json,
        serde_json::json!([
            {"name": "dev", "url": "http://127.0.0.1:8080", "current": false},
            {"name": "prod", "url": "https://berth.example.com", "current": true}
        ])
    );

    let yaml = cli.ok(&["context", "list", "--output", "yaml"]);
    let from_yaml: serde_json::Value = serde_yaml_ng::from_str(&yaml).expect("YAML output");
    assert_eq!(from_yaml, json);

    cli.ok(&["context", "remove", "prod"]);
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["context", "list", "-o", "json"])).expect("JSON output");
    assert_eq!(
        json,
        serde_json::json!([{"name": "dev", "url": "http://127.0.0.1:8080", "current": false}])
    );
}

#[cfg(unix)]
#[test]
fn the_configuration_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    cli.ok(&["context", "add", "dev", "http://127.0.0.1:8080"]);
    let mode = std::fs::metadata(cli.config_file())
        .expect("config written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn mistakes_say_what_is_wrong_and_what_to_do() {
    let cli = Cli::new();
    cli.ok(&["context", "add", "dev", "http://127.0.0.1:8080"]);
    for (args, expected) in [
        (vec!["context", "use", "nope"], "no context named nope"),
        (vec!["context", "remove", "nope"], "no context named nope"),
        (
            vec!["context", "add", "dev", "http://127.0.0.1:9"],
            "already exists",
        ),
        (
            vec!["context", "add", "bad name", "http://x"],
            "invalid context name",
        ),
        (
            vec!["context", "add", "x", "ftp://host"],
            "invalid server URL",
        ),
        (
            vec!["context", "add", "x", "not a url"],
            "invalid server URL",
        ),
    ] {
        let stderr = cli.fails(&args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // Nothing a failed command touched was lost.
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["context", "list", "-o", "json"])).expect("JSON output");
    assert_eq!(json.as_array().map(Vec::len), Some(1));
}

#[test]
fn a_broken_configuration_file_is_named_and_left_alone() {
    let cli = Cli::new();
    let file = cli.config_file();
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, "current = \"dev\"\nsurprise = 1\n").expect("write");
    let stderr = cli.fails(&["context", "add", "dev", "http://127.0.0.1:8080"]);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("surprise"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "current = \"dev\"\nsurprise = 1\n"
    );
}

#[test]
fn completion_scripts_name_the_commands() {
    let cli = Cli::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = cli.ok(&["completion", shell]);
        assert!(script.contains("context"), "{shell}");
        assert!(script.contains("completion"), "{shell}");
    }
}
