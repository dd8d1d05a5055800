//! Connections: one task reads and decodes frames, each request runs as its own task,
//! and a writer sends the responses in request order (Kafka's rule), so a slow produce
//! does not stop a pipelined client from sending more.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::Broker;
use crate::error::Result;
use crate::frame::{self, Frame};
use crate::handler::{self, Pending};

/// Accepts connections until `shutdown` resolves.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let broker = broker.clone();
                    tokio::spawn(async move {
                        broker.metrics.connections.inc();
                        if let Err(e) = connection(socket, peer, &broker).await {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                        broker.metrics.connections.dec();
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
        }
    }
}

async fn connection(socket: TcpStream, peer: std::net::SocketAddr, broker: &Arc<Broker>) -> Result<()> {
    socket.set_nodelay(true)?;
    let (mut rd, wr) = socket.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(broker.server.max_in_flight.max(1));
    let writer = tokio::spawn(write_responses(wr, rx));
    let outcome = loop {
        let frame = match frame::read_frame(&mut rd, broker.server.max_frame_bytes).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let pending: Pending = match frame::decode(frame) {
            Ok(Frame::Request(request)) => handler::start(broker, *request, peer).await,
            Ok(Frame::ApiVersionsTooNew { correlation_id }) => {
                tokio::spawn(async move { handler::api_versions::too_new(correlation_id).map(Some) })
            }
            Err(e) => break Err(e),
        };
        if tx.send(pending).await.is_err() {
            break Ok(());
        }
    };
    if let Err(e) = &outcome {
        broker.metrics.rejected_frames.inc();
        tracing::info!(error = %e, "closing connection after bad input");
    }
    // Answer what was accepted before the bad frame, then close.
    drop(tx);
    let _ = writer.await;
    outcome
}

async fn write_responses(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Pending>) {
    while let Some(pending) = rx.recv().await {
        match pending.await {
            Ok(Ok(Some(bytes))) => {
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "request failed; closing connection");
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "request handler panicked; closing connection");
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
}
