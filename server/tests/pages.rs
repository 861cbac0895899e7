//! The two pages: `/playground` is served from the playground's own bundle
//! (`dist/playground/index.html`), everything else that is not a file from the chat's.

use heartline_server::{start, ServerConfig, StoreConfig, StoreKind};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("answers in time")
    .expect("reads");
    response
}

#[tokio::test]
async fn the_playground_has_its_own_bundle_and_the_chat_is_the_fallback() {
    let dist =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pages-{}", std::process::id()));
    std::fs::create_dir_all(dist.join("playground")).unwrap();
    std::fs::write(dist.join("index.html"), "<title>chat page</title>").unwrap();
    std::fs::write(
        dist.join("playground/index.html"),
        "<title>playground page</title>",
    )
    .unwrap();
    std::fs::write(dist.join("playground/pg.js"), "// the playground's script").unwrap();
    let server = start(ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        dist: dist.clone(),
        // Pages only: no database file.
        store: StoreConfig {
            kind: StoreKind::Memory,
            ..StoreConfig::default()
        },
        ..ServerConfig::default()
    })
    .await
    .expect("server starts");

    let playground = get(server.addr, "/playground").await;
    assert!(playground.starts_with("HTTP/1.1 200"), "{playground}");
    assert!(playground.contains("playground page"), "{playground}");
    assert!(get(server.addr, "/playground/pg.js")
        .await
        .contains("the playground's script"));
    assert!(get(server.addr, "/").await.contains("chat page"));
    assert!(get(server.addr, "/some/room").await.contains("chat page"));
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(dist).ok();
}
