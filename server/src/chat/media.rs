//! Pictures: sketches encoded to PNG on upload, and `GET /media/<id>` serving what the store
//! keeps apart from the log.
//!
//! Sketches arrive as the canvas's raw RGBA pixels. They are stored and served as PNG rather
//! than raw RGBA: a browser shows a PNG with a plain `<img>` (cached by the HTTP cache, no
//! canvas code, no base64), and PNG's compression makes a mostly-blank 1024×1024 pad a few KB
//! instead of 4 MiB on disk and on the wire.

use super::ChatState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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
/// caches may keep it forever.
pub async fn handler(Path(id): Path<String>, State(chat): State<ChatState>) -> Response {
    match chat.hub.store().media(&id).await {
        Ok(Some(media)) => {
            let mime = HeaderValue::from_str(&media.mime)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            (
                [
                    (header::CONTENT_TYPE, mime),
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
                media.bytes,
            )
                .into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no such picture (or no longer kept)").into_response(),
        Err(error) => {
            tracing::error!(%error, %id, "media read failed");
            (StatusCode::SERVICE_UNAVAILABLE, "storage failed").into_response()
        }
    }
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
