//! The built-in samples: two small Helm charts embedded in Berth's
//! binaries, so that a new user can try the catalog and `berth up` with
//! nothing else installed. `hello-web` is a web app (static files served
//! by a small Python server, the same command in the chart as in dev
//! mode) whose source `berth quickstart` writes into a folder; `hello-api`
//! is the HTTP API it asks for a greeting, with values to set in the
//! catalog's install form.
//!
//! `berthd` serves them as a chart repository of its own ([`PATH`]):
//! [`repository`] packages each chart into a `.tgz` and writes the
//! `index.yaml` with their SHA-256 digests, the same bytes on every start.
//!
//! Invariant: the archives are a pure function of the embedded files (no
//! times, owners or orders from the machine), so a digest never changes
//! within a build; no Berth dependencies.

mod package;

pub use package::Repository;

use std::sync::LazyLock;

/// The repository's name in the catalog.
pub const REPOSITORY: &str = "berth-samples";
/// Where `berthd` serves the repository (`index.yaml` and the archives).
pub const PATH: &str = "/samples/charts";
/// The web app: its chart, and the catalog item that installs it.
pub const WEB: &str = "hello-web";
/// The API the web app asks for a greeting: its chart and its item.
pub const API: &str = "hello-api";
/// The port the web app listens on unless told otherwise (the chart's
/// `port`).
pub const WEB_PORT: u16 = 8000;

/// A chart's files, by their path in the chart.
#[derive(Debug)]
pub struct Chart {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static [u8])],
}

/// Embeds the files of `charts/<chart>/`, each named by its path there.
macro_rules! chart {
    ($chart:literal: $($path:literal),* $(,)?) => {
        Chart {
            name: $chart,
            files: &[$((
                $path,
                include_bytes!(concat!("../charts/", $chart, "/", $path)) as &[u8],
            )),*],
        }
    };
}

/// Every sample chart. A test keeps each list equal to its folder.
pub const CHARTS: &[Chart] = &[
    chart!("hello-web":
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "templates/NOTES.txt",
        "templates/configmap.yaml",
        "templates/deployment.yaml",
        "templates/service.yaml",
        "files/app.js",
        "files/index.html",
        "files/server.py",
        "files/style.css",
    ),
    chart!("hello-api":
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "templates/NOTES.txt",
        "templates/configmap.yaml",
        "templates/deployment.yaml",
        "templates/service.yaml",
        "files/server.py",
    ),
];

/// The web app's source as `berth quickstart` writes it: the files under
/// the `hello-web` chart's `files/`, which the chart serves too.
pub fn web_source() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    CHARTS
        .iter()
        .filter(|chart| chart.name == WEB)
        .flat_map(|chart| chart.files.iter())
        .filter_map(|(path, bytes)| path.strip_prefix("files/").map(|name| (name, *bytes)))
}

/// The dev command of the web app for a port: what the chart's container
/// runs, in the folder its source is in.
pub fn web_command(port: u16) -> Vec<String> {
    vec![
        "python3".to_owned(),
        "server.py".to_owned(),
        port.to_string(),
    ]
}

static REPOSITORY_FILES: LazyLock<Repository> = LazyLock::new(|| {
    Repository::package(CHARTS)
        .expect("the embedded charts package: the crate's tests package and read them")
});

/// The packaged repository, built once per process.
pub fn repository() -> &'static Repository {
    &REPOSITORY_FILES
}
