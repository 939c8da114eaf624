//! Decompression of the zstd-compressed trace files, in process.

use std::io::{self, Read};

use ruzstd::decoding::StreamingDecoder;

/// Decompresses every zstd frame in `compressed`, one after another,
/// checking each frame's content checksum where it has one.
pub fn decompress(compressed: &[u8]) -> io::Result<Vec<u8>> {
    let mut input = compressed;
    let mut out = Vec::new();
    while !input.is_empty() {
        let mut frame = StreamingDecoder::new(&mut input).map_err(io::Error::other)?;
        frame.read_to_end(&mut out)?;
        let stored = frame.decoder.get_checksum_from_data();
        let computed = frame.decoder.get_calculated_checksum();
        if let (Some(stored), Some(computed)) = (stored, computed) {
            if stored != computed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "zstd checksum mismatch"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::decompress;
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};

    #[test]
    fn one_frame() {
        let text = b"1 1 0 0\n2 1 0 0\n".repeat(1000);
        let compressed = compress_to_vec(&text[..], CompressionLevel::Fastest);
        assert!(compressed.len() < text.len());
        assert_eq!(decompress(&compressed).unwrap(), text);
    }

    #[test]
    fn frames_one_after_another() {
        let mut compressed = compress_to_vec(&b"0\n1\n"[..], CompressionLevel::Fastest);
        compressed.extend(compress_to_vec(&b"2\n"[..], CompressionLevel::Fastest));
        assert_eq!(decompress(&compressed).unwrap(), b"0\n1\n2\n");
    }

    #[test]
    fn not_zstd() {
        assert!(decompress(b"0\n1\n2\n").is_err());
    }

    #[test]
    fn empty_input_is_empty_output() {
        assert_eq!(decompress(b"").unwrap(), b"");
    }
}
