//! A server that responds to every request with the same small JSON body and
//! does no other work: what the load generator and HTTP/1.1 reach with no
//! queue behind them.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The fixed response body. `QueueUrl` lets CreateQueue succeed; every
/// other operation ignores what it does not expect.
pub const RESPONSE_BODY: &str =
    r#"{"QueueUrl":"http://127.0.0.1/000000000000/null-server","MessageId":"00000000-0000-0000-0000-000000000000"}"#;

/// Binds `listen` and returns the bound address with the server future,
/// which runs until `shutdown` completes.
pub async fn bind(
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    Ok((address, serve(listener, shutdown)))
}

async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let http = hyper::server::conn::http1::Builder::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    eprintln!("null server: accepting a connection failed: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), service_fn(respond));
        tokio::spawn(async move {
            // A client that disconnects mid-request is no error here.
            let _ = connection.await;
        });
    }
}

async fn respond(request: http::Request<hyper::body::Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    // Reading the whole body keeps the connection reusable, as a real
    // server's parsing would.
    let _ = request.into_body().collect().await;
    let response = http::Response::builder()
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from_static(RESPONSE_BODY.as_bytes())))
        .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new())));
    Ok(response)
}
