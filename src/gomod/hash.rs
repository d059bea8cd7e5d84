//! go.sum hashes: dirhash `Hash1` over a zip's entries, and over a lone go.mod (spec.md §4).

/// Collects `(name, sha256 of content)` pairs and produces `h1:<base64>`.
#[derive(Debug, Default, Clone)]
pub struct H1Builder {
    files: Vec<(String, [u8; 32])>,
}

impl H1Builder {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file. Names containing `\n` are refused by `finish`.
    pub fn add(&mut self, name: &str, sha256: [u8; 32]) {
        self.files.push((name.to_owned(), sha256));
    }

    /// `dirhash.Hash1` over the files added.
    ///
    /// # Errors
    /// When a name contains a newline (`dirhash: filenames with newlines are not supported`).
    pub fn finish(self) -> Result<String, crate::gomod::zip::ZipError> {
        todo!()
    }
}

/// The go.sum hash of a `.mod` response: `Hash1` of one file named `go.mod`.
#[must_use]
pub fn hash_go_mod(content: &[u8]) -> String {
    let _ = content;
    todo!()
}
