//! `cargo xtask image`: Berth's image, built from this tree with no Docker
//! daemon and no registry. Static (musl) binaries, stripped, on a
//! distroless-like root filesystem (users, CA certificates, /tmp, nothing
//! else: no shell, no libc), written as an OCI archive and a Docker
//! archive under `target/image/`.
//!
//! Reproducible: every entry, time and owner comes from the tree and
//! `SOURCE_DATE_EPOCH` (the last commit's time when unset), and paths are
//! remapped out of the binaries, so two builds of one commit give one
//! digest. The archive formats are small enough to write with `tar`,
//! `flate2` and `sha2` directly (the OCI image layout and Docker's
//! `docker save` layout); `skopeo inspect` reads both.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{cargo, run, setup};

/// The only target built here: see docs/operations.md for arm64.
pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// The image's user, as the chart runs it (distroless's `nonroot`).
const NONROOT: u64 = 65532;
/// The repository the chart names by default.
pub const REPOSITORY: &str = "ghcr.io/berth-dev/berthd";

pub struct Built {
    pub oci_archive: PathBuf,
    pub docker_archive: PathBuf,
    pub reference: String,
    pub digest: String,
    pub size: u64,
}

/// Reads `--tag REF` from the task's arguments; the chart's default
/// repository at the workspace's version when none.
pub fn reference(args: &[String]) -> anyhow::Result<String> {
    let mut args = args.iter();
    let mut reference = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tag" => {
                let value = args.next().context("--tag needs an image reference")?;
                if tag_of(value).is_none() {
                    bail!(
                        "--tag {value}: give a repository and a tag, e.g. registry.example.com/berth/berthd:1.2.0"
                    );
                }
                reference = Some(value.clone());
            }
            other => bail!("cargo xtask image: unknown argument {other:?} (it takes --tag REF)"),
        }
    }
    Ok(reference.unwrap_or_else(|| format!("{REPOSITORY}:{}", workspace_version())))
}

fn workspace_version() -> &'static str {
    // xtask has the workspace's version, as the binaries it packs.
    env!("CARGO_PKG_VERSION")
}

/// The tag of `repository:tag` (a registry's `host:port/` is no tag).
fn tag_of(reference: &str) -> Option<&str> {
    reference
        .rsplit_once(':')
        .map(|(_, tag)| tag)
        .filter(|tag| !tag.is_empty() && !tag.contains('/'))
}

/// Builds the binaries and writes both archives.
pub fn build(root: &Path, reference: &str) -> anyhow::Result<Built> {
    setup::musl()?;
    setup::web_packages(root)?;
    crate::build_web(root)?;
    let epoch = source_date_epoch(root)?;
    let binaries = build_binaries(root, epoch)?;
    let out = root.join("target/image");
    std::fs::create_dir_all(&out)?;
    let layer = rootfs_layer(&binaries, epoch)?;
    let image = Image::new(layer, reference, epoch)?;
    let oci_archive = out.join("berthd.oci.tar");
    let docker_archive = out.join("berthd.docker.tar");
    write_atomically(&oci_archive, &image.oci_archive(epoch)?)?;
    write_atomically(&docker_archive, &image.docker_archive(epoch)?)?;
    std::fs::write(out.join("reference"), format!("{reference}\n"))?;
    std::fs::write(out.join("digest"), format!("{}\n", image.digest))?;
    Ok(Built {
        oci_archive,
        docker_archive,
        reference: reference.to_owned(),
        digest: image.digest.clone(),
        size: image.size(),
    })
}

/// The commit's time, so a rebuild of the same commit stamps the same.
fn source_date_epoch(root: &Path) -> anyhow::Result<i64> {
    if let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") {
        return value
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={value:?} is not a number of seconds"));
    }
    let out = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .output()
        .context("cannot run git to date the image (or set SOURCE_DATE_EPOCH)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().with_context(|| {
        format!(
            "git log gave no commit time ({}); set SOURCE_DATE_EPOCH",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

struct Binaries {
    berthd: Vec<u8>,
    berth: Vec<u8>,
}

/// `berthd` and `berth`, static and stripped, built in a target folder of
/// their own (other flags than the tests' build, which stays untouched).
fn build_binaries(root: &Path, epoch: i64) -> anyhow::Result<Binaries> {
    let target_dir = root.join("target/image-build");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    // Paths of this machine stay out of the binaries (panic locations).
    let rustflags = format!(
        "--remap-path-prefix={}=/berth --remap-path-prefix={}=/cargo",
        root.display(),
        cargo_home.display()
    );
    run(cargo()
        .args(["build", "--profile", "dist", "--locked", "--target", TARGET])
        .args(["--package", "berthd", "--package", "berth-cli"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", rustflags)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env(format!("CC_{}", TARGET.replace('-', "_")), "musl-gcc"))?;
    let folder = target_dir.join(TARGET).join("dist");
    let read = |name: &str| -> anyhow::Result<Vec<u8>> {
        let bytes = std::fs::read(folder.join(name))
            .with_context(|| format!("cannot read {}", folder.join(name).display()))?;
        if dynamically_linked(&bytes) {
            bail!(
                "{name} was linked dynamically: it would not start in a dev container without the same libc"
            );
        }
        Ok(bytes)
    };
    Ok(Binaries {
        berthd: read("berthd")?,
        berth: read("berth")?,
    })
}

/// Whether an ELF file asks for a program interpreter (the dynamic
/// loader): a static executable has no `PT_INTERP` header.
pub fn dynamically_linked(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        // Not a 64-bit ELF: not something this image can run either.
        return true;
    }
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&elf[at..at + 8]);
        u64::from_le_bytes(bytes) as usize
    };
    let (offset, size, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = offset + i * size;
        elf.get(at..at + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) == PT_INTERP)
    })
}

/// One entry of the root filesystem.
enum Node {
    Dir { mode: u32, owner: u64 },
    File { mode: u32, content: Vec<u8> },
}

/// The root filesystem as one layer (an uncompressed tar), sorted, owned
/// by root but for the non-root user's home, stamped `epoch`.
fn rootfs_layer(binaries: &Binaries, epoch: i64) -> anyhow::Result<Vec<u8>> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
         nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnobody:x:65534:\nnonroot:x:{NONROOT}:\n");
    let certificates = std::fs::read("/etc/ssl/certs/ca-certificates.crt").context(
        "cannot read /etc/ssl/certs/ca-certificates.crt (install Debian's ca-certificates)",
    )?;
    let dir = |mode| Node::Dir { mode, owner: 0 };
    let file = |mode, content: Vec<u8>| Node::File { mode, content };
    let mut nodes: Vec<(&str, Node)> = vec![
        ("etc", dir(0o755)),
        ("etc/group", file(0o644, group.into_bytes())),
        (
            "etc/nsswitch.conf",
            file(0o644, b"hosts: files dns\n".to_vec()),
        ),
        ("etc/passwd", file(0o644, passwd.into_bytes())),
        ("etc/ssl", dir(0o755)),
        ("etc/ssl/certs", dir(0o755)),
        (
            "etc/ssl/certs/ca-certificates.crt",
            file(0o644, certificates),
        ),
        ("home", dir(0o755)),
        (
            "home/nonroot",
            Node::Dir {
                mode: 0o700,
                owner: NONROOT,
            },
        ),
        ("root", dir(0o700)),
        ("tmp", dir(0o1777)),
        ("usr", dir(0o755)),
        ("usr/local", dir(0o755)),
        ("usr/local/bin", dir(0o755)),
        ("usr/local/bin/berth", file(0o755, binaries.berth.clone())),
        ("usr/local/bin/berthd", file(0o755, binaries.berthd.clone())),
        ("var", dir(0o755)),
        ("var/lib", dir(0o755)),
        // The chart mounts the data volume here.
        (
            "var/lib/berth",
            Node::Dir {
                mode: 0o700,
                owner: NONROOT,
            },
        ),
    ];
    nodes.sort_by(|a, b| a.0.cmp(b.0));
    let mut tar = tar::Builder::new(Vec::new());
    for (path, node) in nodes {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(epoch.try_into().unwrap_or(0));
        match node {
            Node::Dir { mode, owner } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(mode);
                header.set_uid(owner);
                header.set_gid(owner);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), std::io::empty())?;
            }
            Node::File { mode, content } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_uid(0);
                header.set_gid(0);
                header.set_size(content.len() as u64);
                tar.append_data(&mut header, path, content.as_slice())?;
            }
        }
    }
    Ok(tar.into_inner()?)
}

/// A blob of the image, by its digest.
struct Blob {
    media_type: &'static str,
    bytes: Vec<u8>,
    digest: String,
}

impl Blob {
    fn new(media_type: &'static str, bytes: Vec<u8>) -> Blob {
        let digest = sha256(&bytes);
        Blob {
            media_type,
            bytes,
            digest,
        }
    }

    fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.bytes.len(),
        })
    }

    fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

struct Image {
    reference: String,
    /// The layer uncompressed (Docker archives carry it so).
    layer_tar: Vec<u8>,
    layer: Blob,
    config: Blob,
    manifest: Blob,
    /// The manifest's digest: the image's.
    digest: String,
}

impl Image {
    fn new(layer_tar: Vec<u8>, reference: &str, epoch: i64) -> anyhow::Result<Image> {
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::best());
        gz.write_all(&layer_tar)?;
        let layer = Blob::new("application/vnd.oci.image.layer.v1.tar+gzip", gz.finish()?);
        let created = jiff::Timestamp::from_second(epoch)
            .with_context(|| format!("SOURCE_DATE_EPOCH {epoch} is out of range"))?
            .to_string();
        let config = json!({
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": format!("{NONROOT}:{NONROOT}"),
                "Env": [
                    "PATH=/usr/local/bin:/usr/bin:/bin",
                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                ],
                "Entrypoint": ["/usr/local/bin/berthd"],
                "Cmd": ["serve"],
                "ExposedPorts": {"8080/tcp": {}},
                "Labels": labels(),
            },
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer_tar)]},
            "history": [{"created": created, "created_by": "cargo xtask image"}],
        });
        let config = Blob::new(
            "application/vnd.oci.image.config.v1+json",
            serde_json::to_vec(&config)?,
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
            "annotations": labels(),
        });
        let manifest = Blob::new(
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::to_vec(&manifest)?,
        );
        let digest = manifest.digest.clone();
        Ok(Image {
            reference: reference.to_owned(),
            layer_tar,
            layer,
            config,
            manifest,
            digest,
        })
    }

    /// What a registry stores: the manifest, the config and the layer.
    fn size(&self) -> u64 {
        [&self.manifest, &self.config, &self.layer]
            .iter()
            .map(|b| b.bytes.len() as u64)
            .sum()
    }

    /// The OCI image layout in a tar (`skopeo copy oci-archive:…`): the
    /// tag is the reference's `ref.name`, the whole reference containerd's
    /// image name (`ctr images import`).
    fn oci_archive(&self, epoch: i64) -> anyhow::Result<Vec<u8>> {
        let tag = tag_of(&self.reference).unwrap_or("latest");
        let mut descriptor = self.manifest.descriptor();
        descriptor["annotations"] = json!({
            "org.opencontainers.image.ref.name": tag,
            "io.containerd.image.name": self.reference,
        });
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [descriptor],
        });
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (
                "oci-layout".to_owned(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".to_owned(), serde_json::to_vec(&index)?),
        ];
        for blob in [&self.manifest, &self.config, &self.layer] {
            files.push((format!("blobs/sha256/{}", blob.hex()), blob.bytes.clone()));
        }
        archive(&["blobs", "blobs/sha256"], files, epoch)
    }

    /// `docker save`'s layout (`docker load`, `skopeo copy docker-archive:…`).
    fn docker_archive(&self, epoch: i64) -> anyhow::Result<Vec<u8>> {
        let layer_hex = sha256(&self.layer_tar)
            .trim_start_matches("sha256:")
            .to_owned();
        let config_name = format!("{}.json", self.config.hex());
        let layer_name = format!("{layer_hex}/layer.tar");
        let manifest = json!([{
            "Config": config_name,
            "RepoTags": [self.reference],
            "Layers": [layer_name],
        }]);
        let files = vec![
            (config_name, self.config.bytes.clone()),
            (layer_name, self.layer_tar.clone()),
            ("manifest.json".to_owned(), serde_json::to_vec(&manifest)?),
        ];
        archive(&[layer_hex.as_str()], files, epoch)
    }
}

fn labels() -> Value {
    json!({
        "org.opencontainers.image.title": "berthd",
        "org.opencontainers.image.description": "Berth: berthd with the web console, and the berth CLI that doubles as the dev agent",
        "org.opencontainers.image.source": "https://github.com/berth-dev/berth",
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.version": workspace_version(),
    })
}

/// A tar of `folders` and `files`, sorted, owned by root, stamped `epoch`.
fn archive(folders: &[&str], files: Vec<(String, Vec<u8>)>, epoch: i64) -> anyhow::Result<Vec<u8>> {
    let mut entries: Vec<(String, Option<Vec<u8>>)> = folders
        .iter()
        .map(|f| (format!("{f}/"), None))
        .chain(files.into_iter().map(|(p, b)| (p, Some(b))))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(epoch.try_into().unwrap_or(0));
        header.set_uid(0);
        header.set_gid(0);
        match content {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, &path, std::io::empty())?;
            }
            Some(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, &path, bytes.as_slice())?;
            }
        }
    }
    Ok(tar.into_inner()?)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic_and_a_truncated_file_is_refused() {
        let me = std::fs::read(std::env::current_exe().expect("me")).expect("read");
        // The host's test binaries link glibc dynamically.
        assert!(dynamically_linked(&me));
        assert!(dynamically_linked(b"\x7fELF"));
        assert!(dynamically_linked(b"#!/bin/sh\n"));
    }

    #[test]
    fn a_reference_needs_a_tag() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            reference(&args(&["--tag", "r.example/b/berthd:1.0"])).expect("ok"),
            "r.example/b/berthd:1.0"
        );
        assert!(reference(&args(&["--tag", "berthd"])).is_err());
        assert!(reference(&args(&["--tag", "localhost:5000/berthd"])).is_err());
        assert_eq!(tag_of("localhost:5000/berthd:v1"), Some("v1"));
        assert!(reference(&args(&["--tag"])).is_err());
        assert!(reference(&args(&["--push"])).is_err());
        assert!(reference(&[]).expect("default").starts_with(REPOSITORY));
    }
}
