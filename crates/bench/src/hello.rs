//! The baselines: a bare hyper server and a hello-world `lambda_http` function, run as their own
//! processes so their CPU and memory are measured exactly like zgoda's.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// Serves "hello" on a free loopback port and prints the port on the first line of stdout.
pub async fn http_server() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    println!("{}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|_req| async { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"hello")))) });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The smallest `lambda_http` function: answers every request with "hello".
pub async fn lambda() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|_req: lambda_http::Request| async {
        Ok::<_, Infallible>(lambda_http::Response::new(lambda_http::Body::from("hello")))
    }))
    .await
}
