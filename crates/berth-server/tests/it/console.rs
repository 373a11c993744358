//! The embedded console: files, client-side routes and what is not a file.

use berth_testkit::TestServer;

#[tokio::test]
async fn console_routes_serve_the_page_and_unknown_files_do_not() {
    let server = TestServer::start().await.expect("server starts");
    let http = reqwest::Client::new();

    for path in ["/", "/spaces/alice", "/settings"] {
        let response = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/html"),
            "{path}"
        );
        let body = response.text().await.expect("body");
        assert!(body.contains("<title>Berth"), "{path}: {body}");
    }

    let missing = http
        .get(format!("{}/assets/missing-1234.js", server.url))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);

    let post = http
        .post(format!("{}/settings", server.url))
        .send()
        .await
        .expect("request");
    assert_eq!(post.status(), 405);
}
