//! The spaces API: personal spaces, sharing, roles, limits, validation and
//! the audit trail, over HTTP against a served router and the simulator.

use std::sync::Arc;

use berth_testkit::TestServer;
use serde_json::{Value, json};

use crate::auth_local::{Api, member};

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn members_share_use_and_own_spaces_as_their_roles_allow() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let api = Api::new(&server, "/api/v1");
    let bob = member(&server, &admin, "bob").await;
    let carol = member(&server, &admin, "carol").await;
    let dave = member(&server, &admin, "dave.smith").await;

    // Each got a personal space at the first sign-in, named after them.
    let (status, list) = api.call("GET", "/spaces", &bob, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(names(&list), ["bob"]);
    assert_eq!(list[0]["personal"], true);
    assert_eq!(list[0]["owner"]["username"], "bob");
    assert_eq!(list[0]["your_role"], "owner");
    let (_, list) = api.call("GET", "/spaces", &dave, None).await;
    assert_eq!(names(&list), ["dave-smith"]);
    let (_, all) = api.call("GET", "/spaces", &admin, None).await;
    for name in ["admin", "bob", "carol", "dave-smith"] {
        assert!(names(&all).contains(&name.to_owned()), "admins see {name}");
    }

    // Share with carol by name: she sees it and may use it.
    let (status, view) = api
        .call(
            "POST",
            "/spaces/bob/members",
            &bob,
            Some(json!({"user": "carol"})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["members"].as_array().map(Vec::len), Some(2));
    let (status, view) = api.call("GET", "/spaces/bob", &carol, None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["your_role"], "member");
    let (status, view) = api
        .call(
            "PATCH",
            "/spaces/bob",
            &carol,
            Some(json!({"labels": {"team": "payments"}})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["generation"], 2);
    let (status, view) = api.call("POST", "/spaces/bob/sleep", &carol, None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["wakefulness"]["asleep"], true);
    assert_eq!(view["wakefulness"]["by"], "carol");
    let (status, view) = api.call("POST", "/spaces/bob/wake", &carol, None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["wakefulness"]["asleep"], false);

    // A member may not share, delete or take over; dave sees nothing.
    for (method, path, body) in [
        (
            "POST",
            "/spaces/bob/members",
            Some(json!({"user": "dave.smith"})),
        ),
        ("DELETE", "/spaces/bob", None),
        ("PATCH", "/spaces/bob", Some(json!({"owner": "carol"}))),
        (
            "PATCH",
            "/spaces/bob",
            Some(json!({"quota_profile": "default"})),
        ),
    ] {
        let (status, body) = api.call(method, path, &carol, body).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    for (method, path) in [
        ("GET", "/spaces/bob"),
        ("GET", "/spaces/bob/objects"),
        ("POST", "/spaces/bob/wake"),
        ("DELETE", "/spaces/bob/members/carol"),
    ] {
        let (status, body) = api.call(method, path, &dave, None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("bob")),
            "{body}"
        );
    }
    let (_, list) = api.call("GET", "/spaces", &dave, None).await;
    assert!(!names(&list).contains(&"bob".to_owned()));

    // Ownership moves to carol; bob stays a member and may no longer delete.
    let (status, view) = api
        .call(
            "PATCH",
            "/spaces/bob",
            &bob,
            Some(json!({"owner": "carol"})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["owner"]["username"], "carol");
    assert_eq!(view["your_role"], "member");
    let (status, _) = api.call("DELETE", "/spaces/bob", &bob, None).await;
    assert_eq!(status, 403);
    let (status, body) = api
        .call("DELETE", "/spaces/bob/members/carol", &carol, None)
        .await;
    assert_eq!(status, 409, "the owner cannot leave: {body}");
    // Bob leaves by himself.
    let (status, _) = api
        .call("DELETE", "/spaces/bob/members/bob", &bob, None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = api.call("GET", "/spaces/bob", &bob, None).await;
    assert_eq!(status, 404);

    // The reconciler made the objects; the objects view says they match.
    let objects = berth_testkit::eventually(
        std::time::Duration::from_secs(30),
        "the space's objects to be in sync",
        || async {
            let (status, objects) = api.call("GET", "/spaces/bob/objects", &carol, None).await;
            assert_eq!(status, 200, "{objects}");
            let all = objects
                .as_array()
                .is_some_and(|a| a.iter().all(|o| o["in_sync"] == true));
            Ok(all.then_some(objects))
        },
    )
    .await
    .expect("in sync");
    assert_eq!(objects[0]["kind"], "Namespace");
    assert_eq!(
        objects[0]["object"]["metadata"]["labels"]["team"],
        "payments"
    );

    // Deleting as the new owner: the space goes.
    let (status, view) = api.call("DELETE", "/spaces/bob", &carol, None).await;
    assert_eq!(status, 202, "{view}");
    assert_eq!(view["status"]["phase"], "Terminating");
    berth_testkit::eventually(
        std::time::Duration::from_secs(30),
        "the space to go",
        || async {
            Ok((api.call("GET", "/spaces/bob", &admin, None).await.0 == 404).then_some(()))
        },
    )
    .await
    .expect("gone");

    // Every change is in the audit log under the space.
    let (status, page) = api
        .call("GET", "/audit/events?space=bob&limit=100", &admin, None)
        .await;
    assert_eq!(status, 200, "{page}");
    let actions: Vec<&str> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "space.create",
        "space.share",
        "space.update",
        "space.sleep",
        "space.wake",
        "space.unshare",
        "space.delete",
        "space.deleted",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        page["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["action"] == "space.get"
                && e["outcome"] == "denied"
                && e["actor"]["name"] == "dave.smith"),
        "refusals are audited"
    );
}

#[tokio::test]
async fn bad_requests_and_limits_are_named() {
    let spaces = berth_spaces::SpacesConfig {
        max_per_user: 2,
        ..berth_spaces::SpacesConfig::default()
    };
    let server = TestServer::start_all(
        Default::default(),
        spaces,
        Arc::new(berth_core::SystemClock),
    )
    .await
    .expect("server");
    let admin = server.admin_token().await.expect("admin");
    let api = Api::new(&server, "/api/v1");
    let erin = member(&server, &admin, "erin").await;

    for (body, field) in [
        (json!({"name": "Bad_Name"}), "name"),
        (
            json!({"name": "ok", "labels": {"berth.dev/space": "x"}}),
            "labels",
        ),
        (
            json!({"name": "ok", "labels": {"team": "not ok!"}}),
            "labels",
        ),
        (json!({"name": "ok", "surprise": true}), "surprise"),
    ] {
        let (status, error) = api.call("POST", "/spaces", &erin, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {message}");
    }
    // A name the cluster keeps for its own namespaces is taken.
    let (status, error) = api
        .call("POST", "/spaces", &erin, Some(json!({"name": "kube-mine"})))
        .await;
    assert_eq!(status, 409, "{error}");
    let (status, _) = api
        .call(
            "POST",
            "/spaces",
            &erin,
            Some(json!({"name": "mine", "quota_profile": "default"})),
        )
        .await;
    assert_eq!(status, 403, "members do not pick quota profiles");
    let (status, error) = api
        .call(
            "POST",
            "/spaces",
            &admin,
            Some(json!({"name": "big", "quota_profile": "huge"})),
        )
        .await;
    assert_eq!(status, 404, "no such quota profile");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("huge"))
    );

    // erin has her personal space; one more is allowed, then no more.
    let (status, body) = api
        .call("POST", "/spaces", &erin, Some(json!({"name": "erin-two"})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .call(
            "POST",
            "/spaces",
            &erin,
            Some(json!({"name": "erin-three"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("most allowed")),
        "{body}"
    );
    let (status, body) = api
        .call("POST", "/spaces", &admin, Some(json!({"name": "erin-two"})))
        .await;
    assert_eq!(status, 409, "taken: {body}");
    // Admins may make spaces for others, past the limit.
    let (status, body) = api
        .call(
            "POST",
            "/spaces",
            &admin,
            Some(json!({"name": "erin-three", "owner": "erin"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["owner"]["username"], "erin");
}

/// The `Asleep` condition of a space view.
fn asleep_condition(view: &Value) -> (String, String) {
    view["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Asleep")
        .map(|c| {
            (
                c["reason"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .unwrap_or_default()
}

/// A wake that stops short shows as such in the API, and `berth up` into
/// that half-asleep space wakes it wholly first and says what it did.
#[tokio::test]
async fn dev_up_into_a_half_asleep_space_wakes_it_wholly_first_and_says_so() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let api = Api::new(&server, "/api/v1");
    let settle = |reason: &'static str| {
        let api = &api;
        let admin = &admin;
        async move {
            berth_testkit::eventually(
                std::time::Duration::from_secs(30),
                &format!("the Asleep condition to be {reason}"),
                || async {
                    let (_, view) = api.call("GET", "/spaces/admin", admin, None).await;
                    Ok((asleep_condition(&view).0 == reason).then_some(view))
                },
            )
            .await
            .expect("the condition")
        }
    };
    settle("Running").await;
    for object in [
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "admin"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "api:1"}]}}
            }
        }),
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "admin"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "job", "image": "job:1"}]
            }}}}}
        }),
    ] {
        server.sim.create_object(object).await.expect("workload");
    }
    let (status, _) = api.call("POST", "/spaces/admin/sleep", &admin, None).await;
    assert_eq!(status, 200);
    settle("ScaledToZero").await;

    // Berth may not resume CronJobs: the wake stops short, and says so.
    server
        .sim
        .faults()
        .fail_next(Some("PATCH"), "/namespaces/admin/cronjobs/", 403, 1_000);
    let (status, _) = api.call("POST", "/spaces/admin/wake", &admin, None).await;
    assert_eq!(status, 200);
    let view = settle("Waking").await;
    assert_eq!(view["status"]["phase"], "Waking", "{view}");
    assert_eq!(view["wakefulness"]["asleep"], false, "{view}");
    let (_, message) = asleep_condition(&view);
    assert!(
        message.starts_with("waking: 1 of 1 workload restored, 0 of 1 CronJob resumed; CronJobs skipped: Berth may not patch CronJobs"),
        "{message}"
    );
    assert!(!message.contains("injected"), "{message}");

    // Allowed again: `berth up` wakes the rest before dev mode, and says so.
    server.sim.faults().clear();
    let (status, dev) = api
        .call(
            "POST",
            "/spaces/admin/dev",
            &admin,
            Some(json!({"target": "api", "workload": "deployment/api"})),
        )
        .await;
    assert_eq!(status, 200, "{dev}");
    assert_eq!(dev["wake"], "Woke space admin: 1 CronJob resumed.", "{dev}");
    let cronjob = server
        .sim
        .get_object("batch/v1", "CronJob", "admin", "nightly")
        .await
        .expect("read")
        .expect("the CronJob");
    assert_eq!(cronjob["spec"]["suspend"], false, "{cronjob}");
    let (_, view) = api.call("GET", "/spaces/admin", &admin, None).await;
    assert_eq!(asleep_condition(&view).0, "Running", "{view}");
    assert_eq!(view["status"]["phase"], "Active", "{view}");

    // Into a space wholly awake, `up` says nothing about waking.
    let (status, dev) = api
        .call(
            "POST",
            "/spaces/admin/dev",
            &admin,
            Some(json!({"target": "api", "workload": "deployment/api"})),
        )
        .await;
    assert_eq!(status, 200, "{dev}");
    assert_eq!(dev["wake"], Value::Null, "{dev}");
}
