//! The SSH server's `sftp` subsystem (`russh-sftp` speaks the protocol;
//! this is the file system behind it): what `scp`, `sftp` and IDEs use to
//! read and write files in the dev container.
//!
//! Paths are the container's: absolute ones are under the agent's root (`/`
//! in a pod), relative ones under its working folder. Nothing outside the
//! root is reached: `..` stops at the root, and a path whose existing part
//! resolves (through links) outside it is refused.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The most one read answers.
const READ_AT_MOST: u32 = 256 * 1024;

/// Serves SFTP on an SSH channel until the client goes.
pub(crate) async fn serve<S>(channel: S, root: PathBuf, workdir: PathBuf)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let root = root.canonicalize().unwrap_or(root);
    let files = Files {
        root,
        workdir,
        handles: HashMap::new(),
        next: 0,
    };
    russh_sftp::server::run(channel, files).await;
}

enum Open {
    File(tokio::fs::File),
    /// A folder's entries, until read.
    Folder(Option<Vec<File>>),
}

struct Files {
    root: PathBuf,
    workdir: PathBuf,
    handles: HashMap<String, Open>,
    next: u64,
}

fn failed(error: std::io::Error) -> StatusReply {
    let code = match error.kind() {
        std::io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        std::io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    code.with_message(error.to_string())
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_owned(),
        language_tag: "en-US".to_owned(),
    }
}

impl Files {
    /// Where a client's path is here, checked to stay under the root.
    fn resolve(&self, path: &str) -> Result<PathBuf, StatusReply> {
        let base = if path.starts_with('/') {
            PathBuf::new()
        } else {
            self.workdir
                .strip_prefix(&self.root)
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        let mut inside = base;
        for part in Path::new(path).components() {
            match part {
                Component::Normal(name) => inside.push(name),
                Component::ParentDir => {
                    inside.pop();
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        let full = self.root.join(inside);
        // The deepest part that exists, through its links, stays inside.
        let mut existing = full.as_path();
        loop {
            if let Ok(real) = existing.canonicalize() {
                if !real.starts_with(&self.root) {
                    return Err(StatusCode::PermissionDenied
                        .with_message(format!("{path} leads outside the dev container's root")));
                }
                break;
            }
            match existing.parent() {
                Some(parent) => existing = parent,
                None => break,
            }
        }
        Ok(full)
    }

    /// A path here as the client sees it.
    fn visible(&self, path: &Path) -> String {
        let inside = path.strip_prefix(&self.root).unwrap_or(path);
        format!("/{}", inside.display())
    }

    fn handle(&mut self, open: Open) -> String {
        self.next += 1;
        let name = self.next.to_string();
        self.handles.insert(name.clone(), open);
        name
    }

    fn file(&mut self, handle: &str) -> Result<&mut tokio::fs::File, StatusReply> {
        match self.handles.get_mut(handle) {
            Some(Open::File(file)) => Ok(file),
            _ => Err(StatusCode::Failure.with_message(format!("no open file {handle}"))),
        }
    }
}

/// Applies what a client sets of a file's attributes: permissions, size,
/// times (ownership is the container's own).
async fn set(path: &Path, attrs: &FileAttributes) -> Result<(), StatusReply> {
    if let Some(mode) = attrs.permissions {
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
            .await
            .map_err(failed)?;
    }
    if let Some(size) = attrs.size {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .await
            .map_err(failed)?;
        file.set_len(size).await.map_err(failed)?;
    }
    if let Some(times) = times(attrs) {
        let file = tokio::fs::File::open(path).await.map_err(failed)?;
        file.into_std().await.set_times(times).map_err(failed)?;
    }
    Ok(())
}

/// The access and modification times a client sets, when it sets both.
fn times(attrs: &FileAttributes) -> Option<std::fs::FileTimes> {
    let at = |secs: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.into());
    Some(
        std::fs::FileTimes::new()
            .set_accessed(at(attrs.atime?))
            .set_modified(at(attrs.mtime?)),
    )
}

impl russh_sftp::server::Handler for Files {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.into()
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.resolve(&filename)?;
        let mut options = std::fs::OpenOptions::from(pflags);
        options.mode(attrs.permissions.map_or(0o644, |m| m & 0o7777));
        let file = tokio::fs::OpenOptions::from(options)
            .open(&path)
            .await
            .map_err(failed)?;
        Ok(Handle {
            id,
            handle: self.handle(Open::File(file)),
        })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(Open::File(mut file)) => file.flush().await.map_err(failed)?,
            Some(Open::Folder(_)) => {}
            None => return Err(StatusCode::Failure.with_message(format!("no handle {handle}"))),
        }
        Ok(ok(id))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let file = self.file(&handle)?;
        file.seek(SeekFrom::Start(offset)).await.map_err(failed)?;
        let mut data = vec![0u8; len.min(READ_AT_MOST) as usize];
        let mut filled = 0;
        while filled < data.len() {
            match file.read(&mut data[filled..]).await.map_err(failed)? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 && !data.is_empty() {
            return Err(StatusCode::Eof.into());
        }
        data.truncate(filled);
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let file = self.file(&handle)?;
        file.seek(SeekFrom::Start(offset)).await.map_err(failed)?;
        file.write_all(&data).await.map_err(failed)?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = self.resolve(&path)?;
        let metadata = tokio::fs::symlink_metadata(&path).await.map_err(failed)?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&metadata),
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = self.resolve(&path)?;
        let metadata = tokio::fs::metadata(&path).await.map_err(failed)?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&metadata),
        })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let metadata = self.file(&handle)?.metadata().await.map_err(failed)?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&metadata),
        })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        set(&self.resolve(&path)?, &attrs).await?;
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let file = self.file(&handle)?;
        if let Some(mode) = attrs.permissions {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
                .await
                .map_err(failed)?;
        }
        if let Some(size) = attrs.size {
            file.set_len(size).await.map_err(failed)?;
        }
        if let Some(times) = times(&attrs) {
            let clone = file.try_clone().await.map_err(failed)?;
            clone.into_std().await.set_times(times).map_err(failed)?;
        }
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let path = self.resolve(&path)?;
        let mut entries = Vec::new();
        let mut folder = tokio::fs::read_dir(&path).await.map_err(failed)?;
        while let Some(entry) = folder.next_entry().await.map_err(failed)? {
            let Ok(metadata) = entry.metadata().await else {
                continue;
            };
            entries.push(File::new(
                entry.file_name().to_string_lossy(),
                FileAttributes::from(&metadata),
            ));
        }
        Ok(Handle {
            id,
            handle: self.handle(Open::Folder(Some(entries))),
        })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Folder(entries)) => match entries.take() {
                Some(files) => Ok(Name { id, files }),
                None => Err(StatusCode::Eof.into()),
            },
            _ => Err(StatusCode::Failure.with_message(format!("no open folder {handle}"))),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        tokio::fs::remove_file(self.resolve(&filename)?)
            .await
            .map_err(failed)?;
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let path = self.resolve(&path)?;
        tokio::fs::create_dir(&path).await.map_err(failed)?;
        if let Some(mode) = attrs.permissions {
            tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
                .await
                .map_err(failed)?;
        }
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        tokio::fs::remove_dir(self.resolve(&path)?)
            .await
            .map_err(failed)?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = self.resolve(&path)?;
        let real = path.canonicalize().unwrap_or(path);
        Ok(Name {
            id,
            files: vec![File::dummy(self.visible(&real))],
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        let (from, to) = (self.resolve(&oldpath)?, self.resolve(&newpath)?);
        tokio::fs::rename(from, to).await.map_err(failed)?;
        Ok(ok(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let target = tokio::fs::read_link(self.resolve(&path)?)
            .await
            .map_err(failed)?;
        Ok(Name {
            id,
            files: vec![File::dummy(target.to_string_lossy())],
        })
    }

    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, Self::Error> {
        // The link's text is kept as given; the link itself must be inside.
        tokio::fs::symlink(&targetpath, self.resolve(&linkpath)?)
            .await
            .map_err(failed)?;
        Ok(ok(id))
    }
}
