//! A technician's network link in the demo: a loopback TCP relay in front
//! of the simulated cloud that can be cut and restored, like a phone going
//! into an underground garage. While cut, open connections are torn down
//! and new ones are closed right after they are accepted, so the core sees
//! real transport errors, not a simulated answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

pub struct Link {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    online: AtomicBool,
    /// Connections refused while the link was cut.
    refused: AtomicU64,
    /// Connections relayed while the link was up.
    relayed: AtomicU64,
    open: Mutex<Vec<AbortHandle>>,
}

impl Link {
    /// Listens on a free loopback port and relays to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Link> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        shared.online.store(true, Ordering::SeqCst);
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !s.online.load(Ordering::SeqCst) {
                    s.refused.fetch_add(1, Ordering::SeqCst);
                    drop(inbound);
                    continue;
                }
                s.relayed.fetch_add(1, Ordering::SeqCst);
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut open = s.open.lock().unwrap_or_else(PoisonError::into_inner);
                open.retain(|h| !h.is_finished());
                open.push(conn.abort_handle());
            }
        });
        Ok(Link { addr, shared, task })
    }

    /// The URL a device uses to reach the cloud through this link.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// No network: tears down open connections, refuses new ones.
    pub fn cut(&self) {
        self.shared.online.store(false, Ordering::SeqCst);
        let open = std::mem::take(
            &mut *self
                .shared
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for h in open {
            h.abort();
        }
    }

    /// Network is back.
    pub fn restore(&self) {
        self.shared.online.store(true, Ordering::SeqCst);
    }

    /// Connections refused while cut, so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
