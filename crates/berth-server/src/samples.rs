//! The built-in samples' chart repository (`/samples/charts/index.yaml`
//! and its archives), served like the console's files: outside the API,
//! to anyone (a chart repository takes no credentials), and only while
//! `[catalog] samples` is on.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::App;

pub(crate) fn router() -> Router<App> {
    Router::new().route(&format!("{}/{{file}}", berth_samples::PATH), get(file))
}

async fn file(State(app): State<App>, Path(file): Path<String>) -> Response {
    let found = app
        .catalog()
        .samples()
        .then(|| berth_samples::repository().file(&file))
        .flatten();
    let Some(bytes) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let kind = if file.ends_with(".yaml") {
        "application/yaml"
    } else {
        "application/gzip"
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // A new berthd may bring new charts under the same names.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response()
}
