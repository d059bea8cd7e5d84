//! go.sum hashes: dirhash `Hash1` over a zip's entries, and over a lone go.mod (spec.md §4).
//!
//! The builder takes each file's SHA-256 rather than its bytes, so that callers stream file
//! contents through a hasher and never hold a whole file in memory.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Collects `(name, sha256 of content)` pairs and produces `h1:<base64>`.
#[derive(Debug, Default, Clone)]
pub struct H1Builder {
    files: Vec<(String, [u8; 32])>,
}

impl H1Builder {
    /// An empty builder; `finish` on it gives the hash of the empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file. Names containing `\n` are refused by `finish`.
    pub fn add(&mut self, name: &str, sha256: [u8; 32]) {
        self.files.push((name.to_owned(), sha256));
    }

    /// `dirhash.Hash1` over the files added (spec.md §4.1): names sorted bytewise, one line
    /// `hex(sha256)  name\n` each, then `h1:` and the standard base64 of the summary's SHA-256.
    ///
    /// # Errors
    /// When a name contains a newline (`dirhash: filenames with newlines are not supported`).
    pub fn finish(mut self) -> Result<String, crate::gomod::zip::ZipError> {
        self.files
            .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut summary = Sha256::new();
        for (name, sum) in &self.files {
            if name.contains('\n') {
                return Err(crate::gomod::zip::ZipError::Invalid(
                    "dirhash: filenames with newlines are not supported".to_owned(),
                ));
            }
            summary.update(hex::encode(sum).as_bytes());
            summary.update(b"  ");
            summary.update(name.as_bytes());
            summary.update(b"\n");
        }
        Ok(h1_text(&summary.finalize().into()))
    }
}

/// `dirhash.Hash1` (as `H1Builder::finish`) over `(name, sha256 of content)` pairs borrowed
/// from the caller, so that a zip of 200,000 entries costs 48 bytes per entry here, not a
/// copy of every name.
///
/// # Errors
/// When a name contains a newline.
pub fn hash1_of<'a>(
    files: impl IntoIterator<Item = (&'a [u8], [u8; 32])>,
) -> Result<String, crate::gomod::zip::ZipError> {
    let mut files: Vec<(&[u8], [u8; 32])> = files.into_iter().collect();
    files.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut summary = Sha256::new();
    let mut hex_sum = [0_u8; 64];
    for (name, sum) in &files {
        if name.contains(&b'\n') {
            return Err(crate::gomod::zip::ZipError::Invalid(
                "dirhash: filenames with newlines are not supported".to_owned(),
            ));
        }
        // Infallible: 64 bytes hold the hex of 32.
        hex::encode_to_slice(sum, &mut hex_sum).ok();
        summary.update(hex_sum);
        summary.update(b"  ");
        summary.update(name);
        summary.update(b"\n");
    }
    Ok(h1_text(&summary.finalize().into()))
}

/// `h1:` followed by the padded standard base64 of a summary digest.
fn h1_text(digest: &[u8; 32]) -> String {
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The go.sum hash of a `.mod` response: `Hash1` of one file named `go.mod`.
#[must_use]
pub fn hash_go_mod(content: &[u8]) -> String {
    // spec.md §4.3: a single file named exactly `go.mod`, whatever the module path.
    let line = format!("{}  go.mod\n", hex::encode(Sha256::digest(content)));
    h1_text(&Sha256::digest(line.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash1_of_borrowed_names_is_the_builders_hash() {
        let files = [
            ("b.go", &b"package b\n"[..]),
            ("a/x", b""),
            ("go.mod", b"module m\n"),
        ];
        let mut builder = H1Builder::new();
        for (name, data) in files {
            builder.add(name, sha(data));
        }
        let borrowed = hash1_of(files.iter().map(|(n, d)| (n.as_bytes(), sha(d)))).unwrap();
        assert_eq!(borrowed, builder.finish().unwrap());
        assert!(hash1_of([(&b"a\nb"[..], sha(b""))]).is_err());
    }

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    fn h1_of_empty_tree_is_sha256_of_nothing() {
        // spec.md §4.4.
        assert_eq!(
            H1Builder::new().finish().unwrap(),
            "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn h1_sorts_names_and_formats_summary_lines() {
        // dirhash's TestHash1: files `xyz` and `abc` with contents "data for <name>", added out
        // of order; the summary is computed independently here.
        let mut b = H1Builder::new();
        b.add("xyz", sha(b"data for xyz"));
        b.add("abc", sha(b"data for abc"));
        let summary = format!(
            "{}  abc\n{}  xyz\n",
            hex::encode(sha(b"data for abc")),
            hex::encode(sha(b"data for xyz"))
        );
        let want = format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(sha(summary.as_bytes()))
        );
        assert_eq!(b.finish().unwrap(), want);
    }

    #[test]
    fn h1_of_simple_module_matches_go() {
        // zip/testdata/create/simple.txt (spec.md §4.4).
        let files: [(&str, &str); 3] = [
            ("example.com/m@v1.0.0/go.mod", "module example.com/m\n\ngo 1.13\n"),
            ("example.com/m@v1.0.0/m.go", "package m\n\nfunc Foo() int { return 42 }\n"),
            (
                "example.com/m@v1.0.0/cmd/hello/hello.go",
                "package main\n\nimport (\n  \"fmt\"\n  \"example.com/m\"\n)\n\nfunc main() {\n  fmt.Println(m.Foo())\n}\n",
            ),
        ];
        let mut b = H1Builder::new();
        for (name, data) in files {
            b.add(name, sha(data.as_bytes()));
        }
        assert_eq!(
            b.finish().unwrap(),
            "h1:tpqYOOmuilagXzyqoJ3roUjp8gneQeTv5YVpL6BG7/k="
        );
    }

    #[test]
    fn h1_rejects_names_with_newlines() {
        let mut b = H1Builder::new();
        b.add("a\nb", sha(b""));
        assert_eq!(
            b.finish().unwrap_err().to_string(),
            "dirhash: filenames with newlines are not supported"
        );
    }

    #[test]
    fn hash_go_mod_matches_go_sum_lines() {
        // spec.md §4.4.
        assert_eq!(
            hash_go_mod(b"module example.com/m\n\ngo 1.13\n"),
            "h1:UWkIka9t4wTRf5TZ+sRdwnADRAp+U7R9A2lAeNEx1cA="
        );
        assert_eq!(
            hash_go_mod(b"module \"rsc.io/quote\"\n\nrequire \"rsc.io/sampler\" v1.3.0\n"),
            "h1:LzX7hefJvL54yjefDEDHNONDjII0t9xZLPXsUe+TKr0="
        );
        // The legacy hash of an empty go.mod that cmd/go drops.
        assert_eq!(
            hash_go_mod(b""),
            "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY="
        );
    }

    #[test]
    fn hash_go_mod_equals_builder_with_one_go_mod() {
        let content = b"module example.com/x\n";
        let mut b = H1Builder::new();
        b.add("go.mod", sha(content));
        assert_eq!(hash_go_mod(content), b.finish().unwrap());
    }
}
