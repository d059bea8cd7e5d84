//! Go's character classes (`unicode.IsUpper` and the rest), from Go's own tables
//! (`unicode_tables.rs`), for every Go rule here that classes characters: file names and
//! go.mod text (`path`, `modfile`), doc comments, exported names and synopses (`doc`).
//! Rust's `char` properties differ beyond ASCII, each in the way its function says.

/// Go's `unicode.IsUpper` (category Lu). Rust's `char::is_uppercase` also takes Roman
/// numerals (Ⅻ) and circled letters (Ⓐ).
#[must_use]
pub fn is_upper(c: char) -> bool {
    in_table(super::unicode_tables::UPPER, c)
}

/// Go's `unicode.IsLower` (category Ll). Rust's `char::is_lowercase` also takes modifier
/// letters (ʰ), ª and º, small Roman numerals and circled letters.
#[must_use]
pub fn is_lower(c: char) -> bool {
    in_table(super::unicode_tables::LOWER, c)
}

/// Go's `unicode.IsLetter` (category L). Rust's `char::is_alphabetic` also takes letter
/// numbers (Ⅻ) and the combining vowel signs of Indic scripts (ी).
#[must_use]
pub fn is_letter(c: char) -> bool {
    in_table(super::unicode_tables::LETTER, c)
}

/// Go's `unicode.IsDigit` (category Nd). Rust's `char::is_numeric` also takes ², ½ and ①.
#[must_use]
pub fn is_digit(c: char) -> bool {
    in_table(super::unicode_tables::DIGIT, c)
}

/// Go's `unicode.IsPunct` (category P). `$`, `+`, `<`, `=`, `>`, `^`, `` ` ``, `|` and `~`
/// are symbols for Go; Rust's `is_ascii_punctuation` counts them.
#[must_use]
pub fn is_punct(c: char) -> bool {
    in_table(super::unicode_tables::PUNCT, c)
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space (not U+00A0, nor the soft hyphen U+00AD).
#[must_use]
pub fn is_print(c: char) -> bool {
    in_table(super::unicode_tables::PRINT, c)
}

/// Go's `unicode.Is`: whether `c` is in a range table of (first, last, stride), sorted.
fn in_table(table: &[(u32, u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    // The range that starts last at or before `c`.
    let after = table.partition_point(|&(first, _, _)| first <= c);
    after.checked_sub(1).is_some_and(|i| {
        let (first, last, stride) = table[i];
        c <= last && (c - first) % stride == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_classes_are_gos() {
        // Each table's ends, a gap between ranges, a stride's step and what it skips.
        for (c, upper, lower, letter, digit, punct) in [
            ('\0', false, false, false, false, false),
            ('@', false, false, false, false, true),
            ('A', true, false, true, false, false),
            ('Z', true, false, true, false, false),
            ('[', false, false, false, false, true),
            ('a', false, true, true, false, false),
            ('0', false, false, false, true, false),
            ('9', false, false, false, true, false),
            ('$', false, false, false, false, false),
            ('~', false, false, false, false, false),
            ('_', false, false, false, false, true),
            ('ª', false, false, true, false, false),
            ('Ā', true, false, true, false, false),
            ('ā', false, true, true, false, false),
            ('Ǆ', true, false, true, false, false),
            ('ǅ', false, false, true, false, false),
            ('Ǉ', true, false, true, false, false),
            ('ʰ', false, false, true, false, false),
            ('Ⅻ', false, false, false, false, false),
            ('ⅻ', false, false, false, false, false),
            ('Ⓐ', false, false, false, false, false),
            ('ी', false, false, false, false, false),
            ('²', false, false, false, false, false),
            ('½', false, false, false, false, false),
            ('٣', false, false, false, true, false),
            ('。', false, false, false, false, true),
            ('€', false, false, false, false, false),
            ('例', false, false, true, false, false),
            ('𝐀', true, false, true, false, false),
            ('\u{10FFFF}', false, false, false, false, false),
        ] {
            assert_eq!(is_upper(c), upper, "is_upper({c:?})");
            assert_eq!(is_lower(c), lower, "is_lower({c:?})");
            assert_eq!(is_letter(c), letter, "is_letter({c:?})");
            assert_eq!(is_digit(c), digit, "is_digit({c:?})");
            assert_eq!(is_punct(c), punct, "is_punct({c:?})");
        }
    }

    #[test]
    fn unicode_ranges_include_both_ends() {
        // LETTER holds U+00C0..=U+00D6 and U+00D8..=U+00F6 (U+00D7 is '×'); PRINT holds
        // U+00A1..=U+00AC (U+00A0 is a no-break space, U+00AD a soft hyphen).
        for (c, letter) in [
            ('\u{BF}', false),
            ('\u{C0}', true),
            ('\u{D6}', true),
            ('\u{D7}', false),
            ('\u{D8}', true),
        ] {
            assert_eq!(is_letter(c), letter, "{c:?}");
        }
        for (c, print) in [
            ('\u{1F}', false),
            (' ', true),
            ('~', true),
            ('\u{7F}', false),
            ('\u{A0}', false),
            ('\u{A1}', true),
            ('\u{AC}', true),
            ('\u{AD}', false),
            ('\u{AE}', true),
        ] {
            assert_eq!(is_print(c), print, "{c:?}");
        }
    }
}
