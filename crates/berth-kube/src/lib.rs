//! Berth's Kubernetes side: what a space is made of in the cluster, how the
//! desired objects differ from what is there, and server-side apply of the
//! difference.
//!
//! Invariant: this is the only Berth crate that talks to a Kubernetes API
//! (the simulator's own crate aside). Planning is pure: [`plan::space`] turns
//! a space's spec into objects, [`plan::changes`] compares them with what
//! the cluster holds, and only [`apply`] writes, with one field manager.
//! What the cluster holds of a space reaches the crates above typed
//! ([`observed`]): its namespace, its quota, each object against the plan.

pub mod apply;
pub mod cluster;
pub mod dev;
pub mod endpoint;
pub mod helm;
pub mod in_cluster;
pub mod observed;
pub mod plan;
pub mod proxy;
pub mod reach;
pub mod sleep;
pub mod version;
pub mod workload;

pub use apply::{ApplyError, FIELD_MANAGER, apply_changes};
pub use cluster::{Cluster, ConnectError};
pub use observed::{NamespaceState, ObjectState, Observation, QuotaState, compare};
pub use plan::{
    Change, ClusterPolicy, ForeignNamespace, OWNER_LABEL, PodSecurity, QuotaProfile, SPACE_LABEL,
    SpaceSpec, changes, contains, space,
};
pub use sleep::{KindProblem, KindReport, WorkloadError, WorkloadKind};
