//! A TCP proxy to Redis that a test can cut and restore, to play a Redis outage.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Forwards `addr()` to the target until stopped.
pub(super) struct Proxy {
    listen: SocketAddr,
    target: String,
    /// The accept loop; it owns the connections, so aborting it cuts them too.
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub(super) async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = listener.local_addr().unwrap();
        let mut proxy = Proxy {
            listen,
            target: target.to_owned(),
            task: None,
        };
        proxy.task = Some(tokio::spawn(serve(listener, proxy.target.clone())));
        proxy
    }

    /// Where clients connect.
    pub(super) fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// Closes the port and every open connection.
    pub(super) async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Opens the same port again.
    pub(super) async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.listen).await.unwrap();
        self.task = Some(tokio::spawn(serve(listener, self.target.clone())));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, target: String) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let target = target.clone();
        connections.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
