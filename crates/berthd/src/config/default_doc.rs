//! The commented configuration file `berthd config default` prints.

/// The output of `berthd config default`. A test keeps it equal to
/// [`Config::default`](super::Config::default).
pub const DEFAULT_TOML: &str = r#"# berthd configuration. Every key is optional; these are the defaults.
# Precedence: these defaults < this file (--config) < BERTH_* environment
# variables < command-line flags. Nested keys use a double underscore in the
# environment: BERTH_LOG__FORMAT=json sets [log] format.
# Secrets are never written here: settings that need one take a file path.

# Where the store lives (sled database, lock file, keys). --data-dir, BERTH_DATA_DIR
data_dir = "./.berth"

# The address the HTTP server binds. --listen, BERTH_LISTEN
listen = "127.0.0.1:8080"

[server]
# The URL users reach the daemon at, when it differs from `listen`
# (for example behind an ingress). Used in links the daemon prints.
# public_url = "https://berth.example.com"

# How long shutdown waits for in-flight requests and WebSockets to finish.
shutdown_grace = "4s"

# Also serve the Kubernetes API proxy (kubectl, helm) over HTTPS here, with a
# certificate berthd makes and keeps in <data_dir>/keys/: for a daemon that is
# not reached through HTTPS, since kubectl sends no credentials over plain
# HTTP. Unset: kubectl reaches <public_url>/kube.
# BERTH_SERVER__KUBE_LISTEN
# kube_listen = "127.0.0.1:8443"

[store]
# The store's cache, in MiB. Unset: a quarter of the container's memory
# limit (cgroup memory.max), at most 256; 256 when there is no limit. The
# daemon's memory is about this plus what requests and watches use.
# BERTH_STORE__CACHE_MIB
# cache_mib = 128

[log]
# "pretty" for people, "json" for log pipelines. --log-format
format = "pretty"
# A RUST_LOG-style filter. RUST_LOG, when set, takes its place.
filter = "info"

[telemetry]
# Base URL of an OTLP/HTTP collector. Traces and metrics are exported there
# when set, and nowhere when not. /metrics serves Prometheus text either way.
# otlp_endpoint = "http://otel-collector:4318"

# The service.name resource attribute.
service_name = "berthd"

# Share of new traces to sample, from 0 to 1. A caller's sampled traceparent
# is always followed.
trace_sample_ratio = 1.0

# How often metrics are pushed to the collector.
metrics_interval = "30s"

[auth]
# Built-in accounts: the first admin (made with the setup link berthd prints
# while no user exists) and break-glass access. Turn off once SSO works.
local_accounts = true
# How long the first-admin setup link stays valid.
setup_link_ttl = "1h"
# A console session ends after this long without a request...
session_idle_timeout = "12h"
# ...and after this long in any case.
session_max_lifetime = "7days"
# Lifetime of the token `berth login` receives.
cli_token_ttl = "30days"
# Lifetime of the tokens kubectl gets through `berth kube-credential`.
kube_token_ttl = "1h"
# The longest lifetime a personal access token may ask for.
max_token_ttl = "365days"
# Sign-ins allowed per account, and per source address, per minute.
login_attempts_per_account = 10
login_attempts_per_source = 30
# Mark cookies Secure. Unset: decided from server.public_url (https = secure).
# secure_cookies = true

# Single sign-on with any OpenID Connect provider. Uncomment to turn it on;
# register <public_url>/auth/oidc/callback as the redirect URI.
# [auth.oidc]
# issuer_url = "https://idp.example.com/realms/dev"
# client_id = "berth"
# client_secret_file = "/etc/berth/secrets/oidc-client-secret"
# display_name = "Example SSO"
# scopes = ["openid", "profile", "email", "groups"]
# username_claim = "preferred_username"
# email_claim = "email"
# groups_claim = "groups"
# allowed_email_domains = ["example.com"]
# required_groups = []
# clock_skew = "60s"
# The initial group-to-role mapping (then edited in the console):
# admin_groups = ["platform-admins"]
# auditor_groups = ["security"]

[audit]
# How often the head of the hash chain is signed with the audit key
# (<data_dir>/keys/audit-signing; export its public half with
# `berth audit public-key`).
checkpoint_interval = "1m"
# Events older than this are pruned (what remains still verifies).
# Unset: kept forever.
# retention = "400days"
# Ship every event to an OTLP/HTTP logs collector, at least once (a cursor in
# the store survives outages and restarts).
# otlp_endpoint = "http://otel-collector:4318"
# A file of `Name: value` lines sent as headers (for example an API key).
# otlp_headers_file = "/etc/berth/secrets/otlp-headers"

[kubernetes]
# Where the Kubernetes API is: "embedded" (Berth's own simulator, saved under
# data_dir, for a try-out on one machine), "in_cluster" (the pod's service
# account; what the Helm chart sets) or "kubeconfig".
mode = "embedded"
# With mode = "kubeconfig": the file, and a context other than its current one.
# kubeconfig = "/home/me/.kube/config"
# context = "staging"
# With mode = "in_cluster": where the service account's token, ca.crt and
# namespace are, when not where the kubelet mounts them.
# service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount"

[spaces]
# Make each user a personal space, named after them, at their first sign-in.
personal_spaces = true
# The most spaces one user may own (admins are not limited).
max_per_user = 5
# A space with no activity (changes through the API, dev sessions, relay
# traffic, catalog actions) for this long sleeps: its Deployments and
# StatefulSets scale to zero and its CronJobs are suspended. Persistent
# spaces never sleep.
idle_sleep = "3h"
# A space idle for this long is deleted (persistent spaces never are).
# Unset: never.
# idle_delete = "14days"
idle_check_interval = "30s"
# Every space is checked at least this often, from the watch cache: no
# Kubernetes API request unless something drifted.
resync_interval = "10m"
# Spaces reconciled at once.
workers = 8
# The quota profile a space gets unless an admin picks another.
default_quota_profile = "default"
# The Pod Security admission level enforced in every space:
# "privileged", "baseline" or "restricted".
pod_security = "baseline"
# A NetworkPolicy in each space admits traffic only from the same space and
# from the ingress controllers' namespaces.
network_isolation = true
ingress_namespaces = ["ingress-nginx"]

# A quota profile: the ResourceQuota's `hard` limits and the LimitRange's
# container defaults. Add more as [spaces.quota_profiles.NAME].
[spaces.quota_profiles.default]
hard = { "requests.cpu" = "4", "requests.memory" = "8Gi", "limits.cpu" = "8", "limits.memory" = "16Gi", "pods" = "50", "persistentvolumeclaims" = "10" }
default_request = { cpu = "100m", memory = "128Mi" }
default_limit = { cpu = "1", memory = "1Gi" }

[endpoints]
# Services a space's owner marks as endpoints are served by berthd at
# https://SERVICE-SPACE.<domain>: point a wildcard DNS record and Ingress
# for *.<domain> at berthd. Off when unset; with the embedded cluster,
# "localhost" (http://SERVICE-SPACE.localhost:PORT on this machine).
# domain = "apps.berth.example.com"

[relay]
# How long a dev session waits for a side that dropped (a laptop that slept,
# a proxy that cut an idle socket) to come back and resume.
grace = "2m"
# A session with no traffic either way for this long ends.
idle_timeout = "8h"
# Each side is pinged this often; one that answers nothing for two
# intervals is taken as gone.
ping_interval = "15s"
max_sessions_per_user = 10
max_streams_per_session = 256

[dev]
# The image holding the `berth` binary; dev containers copy their agent
# from it. Defaults to this release's image.
# agent_image = "ghcr.io/berth-dev/berthd:0.1.0"
# How agents in dev pods reach berthd (the in-cluster Service URL); the
# public URL when left out.
# agent_url = "http://berth.berth.svc:8080"
# Run agents inside berthd, on folders under the data directory. Always on
# with the embedded cluster, which runs no pods.
local_agents = false
# A dev target's volume (berth.yaml `volumes`), in GiB: its size when the
# manifest names none, and the largest a manifest may ask for.
volume_gib = 10
max_volume_gib = 50

[catalog]
# How often every chart repository's index is fetched again (also on
# demand: `berth catalog repo refresh NAME`).
refresh_interval = "1h"
# How long one fetch of an index may take.
fetch_timeout = "30s"
# Repositories' credential and CA files must be under this folder (mount
# their Secrets there); without it, repositories take none.
# credentials_dir = "/etc/berth/catalog"
# Offer the built-in samples (hello-web and hello-api, for `berth
# quickstart`): berthd serves them as a chart repository at /samples/charts
# and adds it, as berth-samples, with an item per chart, once per store.
samples = true

[apps]
# Helm installs catalog items into spaces as a Job in the space, under its
# installer ServiceAccount, from this image (its entry point is `helm`).
helm_image = "docker.io/alpine/helm:3.17.3"
# How long one install, upgrade or uninstall may take (Helm's --timeout).
timeout = "5m"
# Run helm as a process of berthd instead (always so with the embedded
# cluster, which runs no pods), found on PATH or here.
local_helm = false
# helm = "/usr/local/bin/helm"
"#;
