//! Reading files that options and users name (config, tokens, themes,
//! details): always with a size limit, so a path such as `/dev/zero` or a
//! huge file is refused instead of read without end.

use std::io::Read;
use std::path::Path;

/// At most `limit` bytes of a file as UTF-8 text; the error says why in
/// words (the caller names the file).
pub fn read_limited(path: &Path, limit: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
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
    }
}
