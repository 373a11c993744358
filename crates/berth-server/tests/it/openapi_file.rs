//! The console's copy of the OpenAPI document (`web/openapi.json`), from which
//! its API types and client are generated, is the server's own document.

use std::path::PathBuf;

const REFRESH: &str =
    "BERTH_UPDATE_OPENAPI=1 cargo nextest run -p berth-server openapi_json_is_current";

#[test]
fn openapi_json_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/openapi.json");
    let mut expected = serde_json::to_string_pretty(&berth_server::openapi())
        .expect("the OpenAPI document is plain data and always serializes");
    expected.push('\n');

    if std::env::var("BERTH_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &expected)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }

    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "web/openapi.json is not the server's OpenAPI document (berth_server::openapi()); \
         the console's API types are generated from it. Refresh it with\n\n    {REFRESH}\n\n\
         then run `npm run gen` in web/ and fix what the console's build says."
    );
}
