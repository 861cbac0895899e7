//! The binary upload frame: `[u32 BE header length][header JSON][payload]`.

use crate::{IMAGE_TYPES, MAX_ID_BYTES, MAX_SKETCH_SIDE};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The header of a binary upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UploadHeader {
    /// An image file; the payload is the file's bytes.
    Image {
        /// The client's id of this message.
        client_msg_id: String,
        /// One of [`IMAGE_TYPES`].
        mime: String,
    },
    /// A sketch; the payload is `width × height × 4` RGBA bytes.
    Sketch {
        /// The client's id of this message.
        client_msg_id: String,
        /// Width in pixels (1–1024).
        width: u32,
        /// Height in pixels (1–1024).
        height: u32,
    },
}

/// Why a binary frame is not a valid upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    /// Shorter than its header says.
    Truncated,
    /// The header is not valid JSON of the right shape.
    BadHeader(String),
    /// The image type is not accepted.
    BadMime(String),
    /// The sketch's size and bytes do not agree, or it is too large.
    BadSketch {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Bytes received.
        bytes: usize,
    },
    /// No payload.
    Empty,
}

impl fmt::Display for BinaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BinaryError::Truncated => write!(f, "binary frame is shorter than its header length says"),
            BinaryError::BadHeader(error) => write!(f, "binary frame header is not valid: {error}"),
            BinaryError::BadMime(mime) => write!(f, "image type {mime:?} is not one of {}", IMAGE_TYPES.join(", ")),
            BinaryError::BadSketch { width, height, bytes } => write!(
                f,
                "sketch of {width}×{height} needs {} RGBA bytes (sides 1–{MAX_SKETCH_SIDE}), got {bytes}",
                *width as u64 * *height as u64 * 4
            ),
            BinaryError::Empty => write!(f, "binary frame has no payload"),
        }
    }
}

impl std::error::Error for BinaryError {}

/// The header's length, before the header: a big-endian `u32`.
const UPLOAD_LENGTH_BYTES: usize = 4;

/// The length of the upload frame [`encode_upload`] builds for this header and a payload of
/// `payload_len` bytes: what the server's binary limit applies to.
///
/// ```
/// use heartline_protocol::{encode_upload, upload_frame_bytes, UploadHeader};
/// let header = UploadHeader::Image { client_msg_id: "m-1".into(), mime: "image/png".into() };
/// assert_eq!(upload_frame_bytes(&header, 3), encode_upload(&header, &[1, 2, 3]).len());
/// ```
pub fn upload_frame_bytes(header: &UploadHeader, payload_len: usize) -> usize {
    let header = serde_json::to_vec(header).map_or(0, |header| header.len());
    UPLOAD_LENGTH_BYTES + header + payload_len
}

/// Builds a binary upload frame.
///
/// ```
/// use heartline_protocol::{decode_upload, encode_upload, UploadHeader};
/// let header = UploadHeader::Image { client_msg_id: "m-1".into(), mime: "image/png".into() };
/// let frame = encode_upload(&header, &[137, 80, 78, 71]);
/// let (decoded, bytes) = decode_upload(&frame).unwrap();
/// assert_eq!((decoded, bytes), (header, &[137u8, 80, 78, 71][..]));
/// ```
pub fn encode_upload(header: &UploadHeader, payload: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(header).unwrap_or_default();
    let mut frame = Vec::with_capacity(UPLOAD_LENGTH_BYTES + header.len() + payload.len());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(payload);
    frame
}

/// Splits and checks a binary upload frame.
pub fn decode_upload(frame: &[u8]) -> Result<(UploadHeader, &[u8]), BinaryError> {
    let (length, rest) = frame
        .split_first_chunk::<UPLOAD_LENGTH_BYTES>()
        .ok_or(BinaryError::Truncated)?;
    let length = u32::from_be_bytes(*length) as usize;
    if rest.len() < length {
        return Err(BinaryError::Truncated);
    }
    let (header, payload) = rest.split_at(length);
    let header: UploadHeader = serde_json::from_slice(header)
        .map_err(|error| BinaryError::BadHeader(error.to_string()))?;
    if payload.is_empty() {
        return Err(BinaryError::Empty);
    }
    let (UploadHeader::Image { client_msg_id, .. } | UploadHeader::Sketch { client_msg_id, .. }) =
        &header;
    if client_msg_id.len() > MAX_ID_BYTES {
        return Err(BinaryError::BadHeader(format!(
            "client_msg_id is longer than {MAX_ID_BYTES} bytes"
        )));
    }
    match &header {
        UploadHeader::Image { mime, .. } if !IMAGE_TYPES.contains(&mime.as_str()) => {
            return Err(BinaryError::BadMime(mime.clone()))
        }
        UploadHeader::Sketch { width, height, .. } => {
            let fits =
                (1..=MAX_SKETCH_SIDE).contains(width) && (1..=MAX_SKETCH_SIDE).contains(height);
            if !fits || payload.len() as u64 != *width as u64 * *height as u64 * 4 {
                return Err(BinaryError::BadSketch {
                    width: *width,
                    height: *height,
                    bytes: payload.len(),
                });
            }
        }
        UploadHeader::Image { .. } => {}
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_sizes_must_agree() {
        let header = UploadHeader::Sketch {
            client_msg_id: "s".into(),
            width: 2,
            height: 2,
        };
        assert!(decode_upload(&encode_upload(&header, &[0; 16])).is_ok());
        assert!(matches!(
            decode_upload(&encode_upload(&header, &[0; 15])),
            Err(BinaryError::BadSketch { .. })
        ));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(decode_upload(&[0, 0]), Err(BinaryError::Truncated));
        assert_eq!(
            decode_upload(&[0, 0, 0, 9, b'{']),
            Err(BinaryError::Truncated)
        );
        assert!(matches!(
            decode_upload(&[0, 0, 0, 1, b'{', 1]),
            Err(BinaryError::BadHeader(_))
        ));
        let header = UploadHeader::Image {
            client_msg_id: "i".into(),
            mime: "text/html".into(),
        };
        assert!(matches!(
            decode_upload(&encode_upload(&header, &[1])),
            Err(BinaryError::BadMime(_))
        ));
        let header = UploadHeader::Image {
            client_msg_id: "i".into(),
            mime: "image/png".into(),
        };
        assert_eq!(
            decode_upload(&encode_upload(&header, &[])),
            Err(BinaryError::Empty)
        );
    }
}
