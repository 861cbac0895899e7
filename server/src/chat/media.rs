//! Pictures: sketches encoded to PNG on upload, and `GET /media/<id>` serving what the store
//! keeps apart from the log.
//!
//! Sketches arrive as the canvas's raw RGBA pixels. They are stored and served as PNG rather
//! than raw RGBA: a browser shows a PNG with a plain `<img>` (cached by the HTTP cache, no
//! canvas code, no base64), and PNG's compression makes a mostly-blank 1024×1024 pad a few KB
//! instead of 4 MiB on disk and on the wire.

use super::store::StoreError;
use super::ChatState;
use crate::budget::Held;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

/// The pieces a picture is written in: its share of the memory budget is held until the last
/// piece is taken.
const PIECE: usize = 64 * 1024;

/// Encodes `width × height` RGBA pixels as a PNG.
pub fn sketch_png(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgba)?;
    writer.finish()?;
    Ok(out)
}

/// `GET /media/<id>`: the picture's bytes with its type. An id never names other content, so
/// caches may keep it forever. The bytes being served are held against the process's memory
/// budget (503 past it), and a client that takes nothing of them for the write deadline is cut
/// off (the accept loop's), so requests nobody reads cannot pile pictures up in memory.
pub async fn handler(Path(id): Path<String>, State(chat): State<ChatState>) -> Response {
    // Room for the picture before it is read.
    let size = match chat.hub.store().media_size(&id).await {
        Ok(Some(size)) => size,
        Ok(None) => return not_found(),
        Err(error) => return storage_failed(&id, &error),
    };
    let mut held = Held::new(&chat.budget);
    if !held.set(size) {
        return busy();
    }
    match chat.hub.store().media(&id).await {
        Ok(Some(media)) => {
            // Replaced meanwhile, by a picture of another size: hold what it is.
            if !held.set(media.bytes.len()) {
                return busy();
            }
            let mime = HeaderValue::from_str(&media.mime)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            (
                [
                    (header::CONTENT_TYPE, mime),
                    // Sent in pieces, yet not chunked: its length is known.
                    (header::CONTENT_LENGTH, HeaderValue::from(media.bytes.len())),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=31536000, immutable"),
                    ),
                    // The stored type is the one served: never let a browser guess another.
                    (
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    ),
                ],
                Body::from_stream(pieces(Bytes::from(media.bytes), held)),
            )
                .into_response()
        }
        Ok(None) => not_found(),
        Err(error) => storage_failed(&id, &error),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such picture (or no longer kept)").into_response()
}

fn storage_failed(id: &str, error: &StoreError) -> Response {
    tracing::error!(%error, %id, "media read failed");
    (StatusCode::SERVICE_UNAVAILABLE, "storage failed").into_response()
}

/// 503: the memory budget has not got the picture now.
fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
        "server busy: its memory budget is spent; try again later",
    )
        .into_response()
}

/// `bytes` in pieces of [`PIECE`]; `held` goes once the last piece is taken.
fn pieces(bytes: Bytes, held: Held) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures_util::stream::unfold((bytes, held), |(mut rest, held)| async move {
        if rest.is_empty() {
            return None;
        }
        let piece = rest.split_to(rest.len().min(PIECE));
        Some((Ok(piece), (rest, held)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sketch_becomes_a_png_of_its_size() {
        let rgba = [255u8, 0, 0, 255].repeat(6);
        let png = sketch_png(3, 2, &rgba).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&pixels[..info.buffer_size()], &rgba[..]);
    }
}
