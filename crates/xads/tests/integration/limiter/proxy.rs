//! A TCP proxy to Redis that a test can cut and restore, to play a Redis outage.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// Forwards `addr()` to the target until stopped.
pub(super) struct Proxy {
    listen: SocketAddr,
    target: String,
    /// Tells the accept loop to close the port and every connection, then waits for it.
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub(super) async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Proxy {
            listen: listener.local_addr().unwrap(),
            target: target.to_owned(),
            running: None,
        };
        proxy.serve(listener);
        proxy
    }

    /// Where clients connect.
    pub(super) fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// Closes the port and every open connection; returns once they are all gone.
    pub(super) async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await.unwrap();
        }
    }

    /// Opens the same port again.
    pub(super) async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.listen).await.unwrap();
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let target = self.target.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let target = target.clone();
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                }
            }
            // Aborts every connection and waits until their sockets are dropped.
            connections.shutdown().await;
        });
        self.running = Some((stop_tx, task));
    }
}
