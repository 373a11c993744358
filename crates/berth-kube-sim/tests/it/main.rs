//! The conformance suite: each behaviour Berth relies on, asserted through
//! the dual-target harness, so the same assertions run against the simulator
//! and, with `BERTH_TEST_KUBECONFIG`, against a real cluster. Tests that only
//! make sense against the simulator say so and check `is_simulator()`.

mod apply;
mod crud;
mod deletion;
mod helm;
mod list;
mod namespaces;
mod patch;
mod runtime;
mod simulator;
mod subresources;
mod watch;

use std::time::Duration;

use kube::api::{Api, PostParams};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use berth_kube_sim::testing::{TestCluster, eventually};

/// Long enough for a real cluster's controllers; the simulator is instant.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The HTTP status and reason of an API error.
pub fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub fn object<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a well-formed object")
}

/// Reads `name`, changes it and replaces it, from a fresh read again while
/// the server answers 409: on a real cluster controllers write the objects
/// a test writes too (the deployment controller its status and
/// `deployment.kubernetes.io/revision`).
pub async fn update<T>(api: &Api<T>, name: &str, mut change: impl FnMut(&mut T)) -> kube::Result<T>
where
    T: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut object = api.get(name).await?;
        change(&mut object);
        match api.replace(name, &PostParams::default(), &object).await {
            Err(kube::Error::Api(status))
                if status.code == 409 && tokio::time::Instant::now() < until => {}
            result => return result,
        }
    }
}

pub async fn create<T>(api: &Api<T>, value: Value) -> T
where
    T: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), &object(value))
        .await
        .expect("create succeeds")
}
