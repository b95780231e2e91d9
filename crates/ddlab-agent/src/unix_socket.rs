//! The file side of the agent's Unix socket listeners (DogStatsD's `dogstatsd_socket` and the trace
//! receiver's `apm_config.receiver_socket`): a stale socket file left by an earlier run is replaced,
//! anything else at the path is refused, and the new socket is made writable by everyone (mode 0722,
//! as the Datadog Agent does) so clients running as other users can send. What is served on the socket,
//! datagrams or streams, stays with each listener, and so does the error that names its config key.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of a listening socket: everyone may write to it, only the agent's user may read it.
const SOCKET_MODE: u32 = 0o722;

/// Why a socket could not be set up at its path.
#[derive(Debug)]
pub(crate) enum SocketPathError {
    /// Something other than a socket is at the path; it is left alone.
    NotASocket,
    /// Removing the stale socket, binding or setting the permissions failed.
    Io(io::Error),
}

/// Binds a socket at `path` with `bind` (given the path), after removing a stale socket file there, and
/// makes it writable by everyone. The file-system calls around the bind run off the runtime's threads.
pub(crate) async fn bind<S>(
    path: &Path,
    bind: impl FnOnce(PathBuf) -> io::Result<S>,
) -> Result<S, SocketPathError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || remove_stale(&owned))
        .await
        .map_err(|err| SocketPathError::Io(io::Error::other(err)))??;
    let socket = bind(path.to_path_buf()).map_err(SocketPathError::Io)?;
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::set_permissions(&owned, std::fs::Permissions::from_mode(SOCKET_MODE))
    })
    .await
    .map_err(|err| SocketPathError::Io(io::Error::other(err)))?
    .map_err(SocketPathError::Io)?;
    Ok(socket)
}

fn remove_stale(path: &Path) -> Result<(), SocketPathError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(SocketPathError::Io),
        Ok(_) => Err(SocketPathError::NotASocket),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SocketPathError::Io(source)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::{UnixDatagram, UnixListener};

    use super::*;

    #[tokio::test]
    async fn a_new_socket_is_writable_by_everyone() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("listen.sock");
        let socket = bind(&path, UnixDatagram::bind).await.expect("bound");
        let meta = std::fs::symlink_metadata(&path).expect("socket file");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o722);
        UnixDatagram::unbound()
            .expect("client")
            .send_to(b"ping", &path)
            .expect("sent");
        let mut buffer = [0; 8];
        assert_eq!(socket.recv(&mut buffer).expect("received"), 4);
        assert_eq!(&buffer[..4], b"ping");
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("listen.sock");
        drop(UnixListener::bind(&path).expect("stale socket"));
        let listener = bind(&path, UnixListener::bind)
            .await
            .expect("bound over the stale socket");
        let _client = std::os::unix::net::UnixStream::connect(&path).expect("connected");
        assert!(listener.accept().is_ok(), "the new socket accepts connections");
    }

    #[tokio::test]
    async fn anything_else_at_the_path_is_refused_and_kept() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("listen.sock");
        std::fs::write(&path, "not a socket").expect("plain file");
        let refused = bind(&path, UnixDatagram::bind).await;
        assert!(matches!(refused, Err(SocketPathError::NotASocket)), "{refused:?}");
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), "not a socket");
    }

    #[tokio::test]
    async fn a_failed_bind_is_an_io_error() {
        let path = Path::new("/nonexistent-ddlab-folder/listen.sock");
        let failed = bind(path, UnixDatagram::bind).await;
        assert!(
            matches!(&failed, Err(SocketPathError::Io(err)) if err.kind() == io::ErrorKind::NotFound),
            "{failed:?}"
        );
    }
}
