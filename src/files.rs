//! Reading files that options and users name (config, tokens, themes,
//! details): always with a size limit, so a path such as `/dev/zero` or a
//! huge file is refused instead of read without end.

use std::io::Read;
use std::path::Path;

/// The most read of a key, certificate or key-set (JWKS) file. Real ones
/// are a few KB (a long PEM chain tens of KB); the limit is there so that a
/// wrong path (`/dev/zero`, a log file) is an error, not a memory blow-up.
pub const MAX_KEY_FILE: u64 = 1024 * 1024;

/// At most `limit` bytes of a file as UTF-8 text; the error says why in
/// words (the caller names the file).
pub fn read_limited(path: &Path, limit: u64) -> Result<String, String> {
    let bytes = read_limited_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}

/// At most `limit` bytes of a file; the error says why in words (the
/// caller names the file).
pub fn read_limited_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_and_binary_files_are_refused() {
        assert!(
            read_limited(Path::new("/dev/zero"), 1024)
                .unwrap_err()
                .contains("larger than")
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bin");
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(read_limited(&f, 1024).unwrap_err().contains("UTF-8"));
        std::fs::write(&f, "ok").unwrap();
        assert_eq!(read_limited(&f, 2).unwrap(), "ok");
        assert!(
            read_limited_bytes(Path::new("/dev/zero"), MAX_KEY_FILE)
                .unwrap_err()
                .contains("larger than")
        );
    }
}
