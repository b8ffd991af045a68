//! The HTTPS client trusts the bundled Amazon Trust Services roots only (`zgoda_aws::http_client`).
//! A root the TLS library cannot load would panic when the first connection is made, in
//! production only (locally the emulator speaks plain HTTP): this makes that first connection.

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use zgoda_aws::{Clients, LocalEndpoints};

#[tokio::test]
async fn the_https_client_loads_its_trust_roots_and_opens_a_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    // Reads what the client sends first on each connection, then hangs up.
    let first_bytes = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("a connection");
        let mut buf = [0u8; 5];
        socket.read_exact(&mut buf).await.map(|_| buf)
    });
    let clients = Clients::local(&LocalEndpoints::single(&url), "eu-central-1").await;
    let call = clients.dynamodb.list_tables().send().await;
    assert!(call.is_err(), "the server hangs up, so the call fails (and does not panic)");
    let hello = first_bytes.await.expect("server task").expect("the client wrote");
    // A TLS record of type handshake (22), version 3.x: a ClientHello.
    assert_eq!((hello[0], hello[1]), (22, 3), "the client opened a TLS handshake: {hello:?}");
}
