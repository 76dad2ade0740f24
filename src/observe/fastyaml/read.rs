//! Reading back the YAML ddx writes: serde_yaml 0.9's block style, parsed quickly.
//!
//! [`from_slice`] parses the narrow subset serde_yaml's emitter produces — block mappings and
//! sequences laid out exactly as it lays them out, `{}` and `[]`, and one-line plain,
//! single-quoted and double-quoted scalars — into a flat list of events, then hands them to the
//! target type through a serde `Deserializer` that types each scalar exactly as serde_yaml's
//! does. Anything outside the subset, and any value it cannot be sure serde_yaml would give the
//! same way, makes it answer `None`, and the caller parses with serde_yaml instead.
//!
//! The layout it accepts (anything else is `None`):
//! - UTF-8 without a BOM, every line ending in `\n`, no `\r`, no tab, no blank line, no
//!   trailing space, and only characters libyaml takes as printable (no line separators such
//!   as U+0085, U+2028, U+2029, no U+FEFF);
//! - the root is a block mapping or sequence starting at column 0; no line at column 0 starts
//!   with `---` or `...` (document markers);
//! - a mapping's keys sit at one column; `key: value` has one space after the colon; `key:`
//!   alone is followed by a mapping indented by exactly two more columns, by a sequence whose
//!   dashes sit at the key's column, or by nothing deeper (an empty value);
//! - a sequence item is `- value` or `- key: value`, the mapping's further keys two columns in;
//!   no `-` alone, no sequence directly in a sequence;
//! - keys are one-line scalars of at most 512 bytes, never repeated within a mapping;
//! - a value is `{}`, `[]` or a one-line scalar with nothing after it: plain (not starting with
//!   an indicator, no `: `, no ` #`, not ending in `:`), single-quoted (`''` escapes) or
//!   double-quoted with libyaml's escapes (`\0 \a \b \t \n \v \f \r \e \  \" \/ \\ \N \_ \L \P`,
//!   `\xXX`, `\uXXXX`, `\UXXXXXXXX`); no continuation lines.
//!
//! The typing follows serde_yaml's `DeserializerFromEvents` for untagged scalars: strings take
//! any scalar as its text; `bool` takes plain `true`/`True`/`TRUE`/`false`/`False`/`FALSE`;
//! `Option` is `None` for a plain empty, `~`, `null`, `Null` or `NULL`; sequences, maps and
//! structs also take a plain empty scalar as empty; enums take a scalar as a unit variant's
//! name. Integers are read only in plain canonical decimal (`0`, `42`, `-7`); every other form
//! serde_yaml may accept (`+1`, `0x1F`, `0o7`, `0b1`, out of range) gives `None`, as do floats,
//! 128-bit integers, and plain scalars `deserialize_any` might take as numbers.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
// Why the reader stopped (serde_yaml would fail here too, or might not): the emitter's error,
// which is a deserializer error as well.
use super::Unsupported as NotSure;
use std::borrow::Cow;

/// `T` as `serde_yaml::from_slice` reads `bytes`, or `None` when this reader is not sure of it
/// (then serde_yaml's answer, value or error, is the one to use).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let text = std::str::from_utf8(bytes).ok()?;
    let events = parse(text)?;
    let mut reader = Reader {
        events: &events,
        pos: 0,
        depth: DEPTH,
        unsure: false,
    };
    let value = T::deserialize(&mut reader).ok()?;
    // A type that swallowed one of this reader's errors may have gone on differently from
    // serde_yaml; a root the type did not read whole is not what serde_yaml would check.
    (!reader.unsure && reader.pos == events.len()).then_some(value)
}

/// serde_yaml's recursion budget (`remaining_depth`): sequences, mappings and newtypes.
const DEPTH: u8 = 128;

/// How deep the parser nests collections before giving up.
const MAX_NESTING: usize = 64;

/// The longest key taken as a simple key (libyaml allows 1,024 characters).
const MAX_KEY: usize = 512;

#[derive(Debug)]
enum Event<'a> {
    Scalar {
        text: Cow<'a, str>,
        plain: bool,
    },
    /// `end` is the index of the matching `SeqEnd`.
    SeqStart {
        end: usize,
    },
    SeqEnd,
    /// `end` is the index of the matching `MapEnd`.
    MapStart {
        end: usize,
    },
    MapEnd,
}

#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    body: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    next: usize,
    events: Vec<Event<'a>>,
    /// The event indices of the keys of the mappings being parsed (duplicate checks).
    keys: Vec<usize>,
    nesting: usize,
}

/// The events of `text`, or `None` when it is not in the subset.
fn parse(text: &str) -> Option<Vec<Event<'_>>> {
    if !printable(text) {
        return None;
    }
    let body = text.strip_suffix('\n')?;
    let mut lines = Vec::with_capacity(body.len() / 24 + 1);
    for raw in body.split('\n') {
        let content = raw.trim_start_matches(' ');
        let indent = raw.len() - content.len();
        if content.is_empty()
            || content.ends_with(' ')
            || (indent == 0 && (content.starts_with("---") || content.starts_with("...")))
        {
            return None;
        }
        lines.push(Line {
            indent,
            body: content,
        });
    }
    let events = Vec::with_capacity(lines.len() * 2 + 2);
    let mut p = Parser {
        lines,
        next: 0,
        events,
        keys: Vec::new(),
        nesting: 0,
    };
    let first = *p.lines.first()?;
    if first.indent != 0 {
        return None;
    }
    if is_item(first.body) {
        p.sequence(0)?;
    } else {
        p.mapping(0, None)?;
    }
    (p.next == p.lines.len()).then_some(p.events)
}

/// Whether every character is one libyaml reads as printable and this parser handles: `\n`
/// for line breaks, no tab, `\r`, other line separators or byte-order mark.
fn printable(text: &str) -> bool {
    let ascii_ok = |b: u8| b == b'\n' || (0x20..=0x7e).contains(&b);
    if text.is_ascii() {
        return text.bytes().all(ascii_ok);
    }
    text.chars().all(|c| match u32::from(c) {
        n @ 0..=0x7f => ascii_ok(n as u8),
        0x2028 | 0x2029 | 0xfeff => false,
        n => (0xa0..=0xd7ff).contains(&n) || (0xe000..=0xfffd).contains(&n) || n >= 0x10000,
    })
}

/// A block sequence entry line (`- …`, or `-` alone).
fn is_item(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

impl<'a> Parser<'a> {
    fn enter(&mut self) -> Option<()> {
        self.nesting += 1;
        (self.nesting <= MAX_NESTING).then_some(())
    }

    /// A block mapping whose keys sit at `col`. `first` is the rest of a `- ` line whose item
    /// this mapping is (its first entry, already consumed).
    fn mapping(&mut self, col: usize, mut first: Option<&'a str>) -> Option<()> {
        self.enter()?;
        let start = self.events.len();
        self.events.push(Event::MapStart { end: 0 });
        let keys_from = self.keys.len();
        loop {
            let body = match first.take() {
                Some(body) => body,
                None => {
                    let Some(line) = self.lines.get(self.next) else {
                        break;
                    };
                    // A shallower line ends the mapping; a dash at this column belongs to
                    // the caller (which refuses it unless it is its own sequence).
                    if line.indent < col || (line.indent == col && is_item(line.body)) {
                        break;
                    }
                    if line.indent > col {
                        return None;
                    }
                    self.next += 1;
                    line.body
                }
            };
            let (key, rest) = scalar_prefix(body)?;
            if body.len() - rest.len() > MAX_KEY {
                return None;
            }
            let rest = rest.strip_prefix(':')?;
            self.keys.push(self.events.len());
            self.events.push(key);
            if rest.is_empty() {
                self.block_value(col)?;
            } else {
                self.inline_value(rest.strip_prefix(' ')?)?;
            }
        }
        if self.keys.len() == keys_from || self.repeated_key(keys_from) {
            return None;
        }
        self.keys.truncate(keys_from);
        let end = self.events.len();
        self.events[start] = Event::MapStart { end };
        self.events.push(Event::MapEnd);
        self.nesting -= 1;
        Some(())
    }

    /// Whether two of the keys from `keys_from` on have the same text.
    fn repeated_key(&self, keys_from: usize) -> bool {
        let text = |i: usize| match &self.events[i] {
            Event::Scalar { text, .. } => text.as_ref(),
            _ => unreachable!("keys are scalars"),
        };
        let keys = &self.keys[keys_from..];
        if keys.len() <= 16 {
            return keys
                .iter()
                .enumerate()
                .any(|(n, &a)| keys[n + 1..].iter().any(|&b| text(a) == text(b)));
        }
        let mut sorted: Vec<&str> = keys.iter().map(|&k| text(k)).collect();
        sorted.sort_unstable();
        sorted.windows(2).any(|w| w[0] == w[1])
    }

    /// The value of a `key:` at `col` with nothing after the colon.
    fn block_value(&mut self, col: usize) -> Option<()> {
        match self.lines.get(self.next) {
            Some(l) if l.indent == col && is_item(l.body) => self.sequence(col),
            Some(l) if l.indent > col => {
                if l.indent != col + 2 || is_item(l.body) {
                    return None;
                }
                self.mapping(col + 2, None)
            }
            _ => {
                self.events.push(Event::Scalar {
                    text: Cow::Borrowed(""),
                    plain: true,
                });
                Some(())
            }
        }
    }

    /// A block sequence whose dashes sit at `col`.
    fn sequence(&mut self, col: usize) -> Option<()> {
        self.enter()?;
        let start = self.events.len();
        self.events.push(Event::SeqStart { end: 0 });
        while let Some(line) = self.lines.get(self.next).copied() {
            if line.indent != col || !is_item(line.body) {
                break;
            }
            self.next += 1;
            let rest = line.body.strip_prefix("- ")?;
            if matches!(rest.as_bytes(), b"{}" | b"[]") {
                self.inline_value(rest)?;
                continue;
            }
            let (_, after) = scalar_prefix(rest)?;
            if after.is_empty() {
                self.inline_value(rest)?;
            } else {
                // `- key: …`: a mapping two columns in, its first entry on this line.
                self.mapping(col + 2, Some(rest))?;
            }
        }
        let end = self.events.len();
        self.events[start] = Event::SeqStart { end };
        self.events.push(Event::SeqEnd);
        self.nesting -= 1;
        Some(())
    }

    /// A value written on its key's or dash's line: `{}`, `[]` or a whole scalar.
    fn inline_value(&mut self, text: &'a str) -> Option<()> {
        match text.as_bytes() {
            b"{}" => {
                let at = self.events.len();
                self.events.push(Event::MapStart { end: at + 1 });
                self.events.push(Event::MapEnd);
            }
            b"[]" => {
                let at = self.events.len();
                self.events.push(Event::SeqStart { end: at + 1 });
                self.events.push(Event::SeqEnd);
            }
            _ => {
                let (scalar, rest) = scalar_prefix(text)?;
                if !rest.is_empty() {
                    return None;
                }
                self.events.push(scalar);
            }
        }
        Some(())
    }
}

/// The scalar at the start of `s` (one line, no trailing space) and what follows it: for a
/// plain scalar, the rest from the first `:` that ends it (a colon followed by a space or the
/// end of the line), or nothing.
fn scalar_prefix(s: &str) -> Option<(Event<'_>, &str)> {
    match s.as_bytes().first()? {
        b'\'' => single_quoted(s),
        b'"' => double_quoted(s),
        _ => plain(s),
    }
}

fn plain(s: &str) -> Option<(Event<'_>, &str)> {
    let b = s.as_bytes();
    let starts_plain = match b[0] {
        // These start a plain scalar only when a non-blank follows.
        b'-' | b'?' | b':' => b.len() > 1 && b[1] != b' ',
        b' ' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>'
        | b'\'' | b'"' | b'%' | b'@' | b'`' => false,
        _ => true,
    };
    if !starts_plain {
        return None;
    }
    // One pass: the scalar ends at a colon followed by a space or the end of the line; ` #`
    // before that starts a comment.
    let mut end = 0;
    let mut prev = 0;
    while let Some(&c) = b.get(end) {
        if c == b':' && b.get(end + 1).is_none_or(|&n| n == b' ') {
            break;
        }
        if c == b'#' && prev == b' ' {
            return None;
        }
        prev = c;
        end += 1;
    }
    // A space before the colon would be trimmed by libyaml.
    if end == 0 || prev == b' ' {
        return None;
    }
    let text = &s[..end];
    Some((
        Event::Scalar {
            text: Cow::Borrowed(text),
            plain: true,
        },
        &s[end..],
    ))
}

fn single_quoted(s: &str) -> Option<(Event<'_>, &str)> {
    let b = s.as_bytes();
    let mut owned: Option<String> = None;
    let mut from = 1;
    let mut i = 1;
    loop {
        match b.get(i)? {
            b'\'' if b.get(i + 1) == Some(&b'\'') => {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&s[from..=i]);
                i += 2;
                from = i;
            }
            b'\'' => break,
            _ => i += 1,
        }
    }
    let text = match owned {
        Some(mut o) => {
            o.push_str(&s[from..i]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(&s[1..i]),
    };
    Some((Event::Scalar { text, plain: false }, &s[i + 1..]))
}

fn double_quoted(s: &str) -> Option<(Event<'_>, &str)> {
    let b = s.as_bytes();
    let mut owned: Option<String> = None;
    let mut from = 1;
    let mut i = 1;
    loop {
        match b.get(i)? {
            b'"' => break,
            b'\\' => {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&s[from..i]);
                // A backslash at the end of the line continues the scalar: not handled.
                let (c, len) = match b.get(i + 1)? {
                    b'0' => ('\0', 2),
                    b'a' => ('\x07', 2),
                    b'b' => ('\x08', 2),
                    b't' => ('\t', 2),
                    b'n' => ('\n', 2),
                    b'v' => ('\x0b', 2),
                    b'f' => ('\x0c', 2),
                    b'r' => ('\r', 2),
                    b'e' => ('\x1b', 2),
                    b' ' => (' ', 2),
                    b'"' => ('"', 2),
                    b'/' => ('/', 2),
                    b'\\' => ('\\', 2),
                    b'N' => ('\u{85}', 2),
                    b'_' => ('\u{a0}', 2),
                    b'L' => ('\u{2028}', 2),
                    b'P' => ('\u{2029}', 2),
                    b'x' => (hex_char(b.get(i + 2..i + 4)?)?, 4),
                    b'u' => (hex_char(b.get(i + 2..i + 6)?)?, 6),
                    b'U' => (hex_char(b.get(i + 2..i + 10)?)?, 10),
                    _ => return None,
                };
                o.push(c);
                i += len;
                from = i;
            }
            _ => i += 1,
        }
    }
    let text = match owned {
        Some(mut o) => {
            o.push_str(&s[from..i]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(&s[1..i]),
    };
    Some((Event::Scalar { text, plain: false }, &s[i + 1..]))
}

/// The character of an escape's hex digits; `None` for a non-digit or an invalid code point
/// (a surrogate, or above U+10FFFF), which libyaml refuses too.
fn hex_char(digits: &[u8]) -> Option<char> {
    let mut n: u32 = 0;
    for &d in digits {
        n = n * 16 + char::from(d).to_digit(16)?;
    }
    char::from_u32(n)
}

type Result<T> = std::result::Result<T, NotSure>;

struct Reader<'e, 'a> {
    events: &'e [Event<'a>],
    pos: usize,
    /// What is left of serde_yaml's recursion budget.
    depth: u8,
    /// Set by every error this reader raises, so that one a type swallows still counts.
    unsure: bool,
}

/// serde_yaml's null words (`parse_null`); a plain empty scalar is null too.
fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// serde_yaml's booleans (`parse_bool`).
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// `0` or a digit string without a leading zero: the only integer form read here. On these
/// serde_yaml's integer parsing comes down to `from_str_radix(s, 10)` (no prefix, no sign
/// handling, not a leading-zero string).
fn canonical_digits(s: &str) -> bool {
    let b = s.as_bytes();
    match b {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => b.iter().all(u8::is_ascii_digit),
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    canonical_digits(s).then(|| s.parse().ok()).flatten()
}

fn parse_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    canonical_digits(digits).then(|| s.parse().ok()).flatten()
}

impl<'e, 'a> Reader<'e, 'a> {
    fn fail<T>(&mut self) -> Result<T> {
        self.unsure = true;
        Err(NotSure)
    }

    fn peek(&mut self) -> Result<&'e Event<'a>> {
        let events = self.events;
        match events.get(self.pos) {
            Some(e) => Ok(e),
            None => self.fail(),
        }
    }

    fn next(&mut self) -> Result<&'e Event<'a>> {
        let e = self.peek()?;
        self.pos += 1;
        Ok(e)
    }

    /// The next event if it is a plain scalar.
    fn next_plain(&mut self) -> Result<&'e str> {
        match self.next()? {
            Event::Scalar { text, plain: true } => Ok(text.as_ref()),
            _ => self.fail(),
        }
    }

    /// Runs `f` one level deeper, as serde_yaml's `recursion_check` does.
    fn deeper<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return self.fail();
        };
        let before = std::mem::replace(&mut self.depth, depth);
        let result = f(self);
        self.depth = before;
        result
    }

    /// A sequence whose start event was just read; its end must follow what the visitor read.
    fn visit_sequence<V: Visitor<'a>>(&mut self, visitor: V) -> Result<V::Value> {
        let value = self.deeper(|r| visitor.visit_seq(Access { r, empty: false }))?;
        match self.next()? {
            Event::SeqEnd => Ok(value),
            _ => self.fail(),
        }
    }

    fn visit_mapping<V: Visitor<'a>>(&mut self, visitor: V) -> Result<V::Value> {
        let value = self.deeper(|r| visitor.visit_map(Access { r, empty: false }))?;
        match self.next()? {
            Event::MapEnd => Ok(value),
            _ => self.fail(),
        }
    }
}

/// Whether serde_yaml might read a plain scalar as a number. Every integer it reads
/// (`from_str_radix` after an optional sign and a `0x`/`0o`/`0b` prefix) and every float
/// (`.inf`, `.nan`, or Rust's `f64` syntax, finite) starts with a digit or a dot after at most
/// one sign; anything else is a string to it.
fn maybe_number(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// A scalar's text to a visitor, borrowed from the input when it is (as serde_yaml does when
/// the text is the scalar's source).
fn visit_text<'a, V: Visitor<'a>>(visitor: V, text: &Cow<'a, str>) -> Result<V::Value> {
    match text {
        Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
        Cow::Owned(s) => visitor.visit_str(s),
    }
}

impl<'a> de::Deserializer<'a> for &mut Reader<'_, 'a> {
    type Error = NotSure;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Event::Scalar { text, plain: false } => visit_text(visitor, text),
            Event::Scalar { text, plain: true } => {
                // serde_yaml's `visit_untagged_scalar`: null, bool, integer, float, string.
                if is_null(text) {
                    return visitor.visit_unit();
                }
                if let Some(b) = parse_bool(text) {
                    return visitor.visit_bool(b);
                }
                if let Some(n) = parse_u64(text) {
                    return visitor.visit_u64(n);
                }
                if text.starts_with('-') {
                    if let Some(n) = parse_i64(text) {
                        return visitor.visit_i64(n);
                    }
                }
                if maybe_number(text) {
                    return self.fail();
                }
                visit_text(visitor, text)
            }
            Event::SeqStart { .. } => self.visit_sequence(visitor),
            Event::MapStart { .. } => self.visit_mapping(visitor),
            Event::SeqEnd | Event::MapEnd => self.fail(),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match parse_bool(self.next_plain()?) {
            Some(b) => visitor.visit_bool(b),
            None => self.fail(),
        }
    }

    fn deserialize_i8<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match parse_i64(self.next_plain()?) {
            Some(n) => visitor.visit_i64(n),
            None => self.fail(),
        }
    }

    fn deserialize_i128<V: Visitor<'a>>(self, _: V) -> Result<V::Value> {
        self.fail()
    }

    fn deserialize_u8<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match parse_u64(self.next_plain()?) {
            Some(n) => visitor.visit_u64(n),
            None => self.fail(),
        }
    }

    fn deserialize_u128<V: Visitor<'a>>(self, _: V) -> Result<V::Value> {
        self.fail()
    }

    fn deserialize_f32<V: Visitor<'a>>(self, _: V) -> Result<V::Value> {
        self.fail()
    }

    fn deserialize_f64<V: Visitor<'a>>(self, _: V) -> Result<V::Value> {
        self.fail()
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Event::Scalar { text, .. } => visit_text(visitor, text),
            _ => self.fail(),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, _: V) -> Result<V::Value> {
        self.fail()
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, _: V) -> Result<V::Value> {
        self.fail()
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            Event::Scalar { text, plain: true } if is_null(text) => {
                self.pos += 1;
                visitor.visit_none()
            }
            Event::Scalar { .. } | Event::SeqStart { .. } | Event::MapStart { .. } => {
                visitor.visit_some(self)
            }
            Event::SeqEnd | Event::MapEnd => self.fail(),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        if is_null(self.next_plain()?) {
            visitor.visit_unit()
        } else {
            self.fail()
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deeper(|r| visitor.visit_newtype_struct(r))
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Event::SeqStart { .. } => self.visit_sequence(visitor),
            // A plain empty value is an empty sequence to serde_yaml.
            Event::Scalar { text, plain: true } if text.is_empty() => visitor.visit_seq(Access {
                r: self,
                empty: true,
            }),
            _ => self.fail(),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Event::MapStart { .. } => self.visit_mapping(visitor),
            Event::Scalar { text, plain: true } if text.is_empty() => visitor.visit_map(Access {
                r: self,
                empty: true,
            }),
            _ => self.fail(),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        // Untagged, only a scalar names a (unit) variant.
        match self.peek()? {
            Event::Scalar { .. } => visitor.visit_enum(UnitVariant { r: self }),
            _ => self.fail(),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Event::Scalar { .. } => {}
            Event::SeqStart { end } | Event::MapStart { end } => self.pos = end + 1,
            Event::SeqEnd | Event::MapEnd => return self.fail(),
        }
        visitor.visit_unit()
    }
}

/// The entries of a sequence or mapping; `empty` for one read from a plain empty scalar.
struct Access<'r, 'e, 'a> {
    r: &'r mut Reader<'e, 'a>,
    empty: bool,
}

impl<'a> de::SeqAccess<'a> for Access<'_, '_, 'a> {
    type Error = NotSure;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.empty || matches!(self.r.peek()?, Event::SeqEnd) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.r).map(Some)
    }
}

impl<'a> de::MapAccess<'a> for Access<'_, '_, 'a> {
    type Error = NotSure;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.empty || matches!(self.r.peek()?, Event::MapEnd) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.r).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.r)
    }
}

/// A scalar read as the name of a unit variant.
struct UnitVariant<'r, 'e, 'a> {
    r: &'r mut Reader<'e, 'a>,
}

impl<'r, 'e, 'a> de::EnumAccess<'a> for UnitVariant<'r, 'e, 'a> {
    type Error = NotSure;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'a>>(self, seed: V) -> Result<(V::Value, Self)> {
        let name = seed.deserialize(&mut *self.r)?;
        Ok((name, self))
    }
}

impl<'a> de::VariantAccess<'a> for UnitVariant<'_, '_, 'a> {
    type Error = NotSure;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, _: T) -> Result<T::Value> {
        self.r.fail()
    }

    fn tuple_variant<V: Visitor<'a>>(self, _: usize, _: V) -> Result<V::Value> {
        self.r.fail()
    }

    fn struct_variant<V: Visitor<'a>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        self.r.fail()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{
        Approval, CriterionState, FileRecord, GateKind, InstanceStatus, Metrics, PhaseState,
        PhaseStatus, State, TransitionRecord,
    };
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use std::fmt::Debug;

    /// The fast reading of `doc` as `T`, after checking it against serde_yaml's: a `Some` must
    /// be what serde_yaml reads.
    fn check<T: DeserializeOwned + PartialEq + Debug>(doc: &str) -> Option<T> {
        let fast = from_slice::<T>(doc.as_bytes());
        if let Some(fast) = &fast {
            match serde_yaml::from_str::<T>(doc) {
                Ok(slow) => assert_eq!(fast, &slow, "read differently: {doc:?}"),
                Err(e) => panic!("read where serde_yaml fails ({e}): {doc:?}"),
            }
        }
        fast
    }

    /// Texts that make serde_yaml quote, escape or otherwise work hard.
    const TRICKY: &[&str] = &[
        "",
        " ",
        " leading",
        "trailing ",
        "  both  ",
        "true",
        "True",
        "false",
        "yes",
        "no",
        "on",
        "null",
        "Null",
        "NULL",
        "~",
        "123",
        "-7",
        "+1",
        "012",
        "0",
        "0x10",
        "0o17",
        "0b101",
        "1_000",
        "1e3",
        "1.5",
        ".5",
        ".inf",
        "-.inf",
        ".nan",
        "nan",
        "inf",
        "-",
        "- a",
        "-a",
        "--",
        "---",
        "...",
        "?",
        "? a",
        "?a",
        ":",
        ":a",
        "a:",
        "a: b",
        "a:b",
        "a :b",
        "#x",
        "a #x",
        "a#x",
        "'quoted'",
        "it's",
        "''",
        "\"dq\"",
        "\"",
        "a \"b\" c",
        "\\",
        "back\\slash",
        "C:\\path\\x",
        "[a]",
        "{a: b}",
        "[]",
        "{}",
        "a, b",
        "&anchor",
        "*alias",
        "!tag",
        "|",
        ">",
        "%x",
        "@x",
        "`x`",
        "ünïcödé",
        "日本語",
        "emoji 🎉 here",
        "🎉",
        "\u{a0}nbsp",
        "zero\u{200b}width",
        "tab\there",
        "\t",
        "bell\u{7}",
        "nul\u{0}",
        "esc\u{1b}",
        "del\u{7f}",
        "bom\u{feff}x",
        "\u{fffe}",
        "2026-01-14T12:34:56Z",
        "2026-01-14",
        "12:30",
        "1:2:3",
        "0123456789abcdef0123456789abcdef01234567",
        "1234567890123456789012345678901234567890",
        "Ann <ann@example.com>",
        "docs/frame/problem.md",
        "The problem is stated, agreed and measurable.",
    ];

    /// Texts with line breaks (YAML's include U+0085, U+2028, U+2029): serde_yaml writes block
    /// scalars, multi-line quoted scalars or `? ` keys for them, which are left to it.
    const LINE_BREAKS: &[&str] = &[
        "two\nlines",
        "trailing\n",
        "\n",
        "a\r\nb",
        "cr\rx",
        "nel\u{85}x",
        "ls\u{2028}x",
        "ps\u{2029}",
    ];

    fn long_texts() -> Vec<String> {
        vec![
            "x".repeat(250),
            "word ".repeat(60).trim_end().to_owned(),
            format!("{} it's", "y".repeat(220)),
            "é".repeat(300),
        ]
    }

    /// A state with `t` in every string field and key, `shape` choosing which optional parts
    /// are there.
    fn state(t: &str, shape: usize) -> State {
        state_keyed(t, t, shape)
    }

    /// A state with `t` in every string field and `key` in every key.
    fn state_keyed(t: &str, key: &str, shape: usize) -> State {
        let some = |on: bool, v: &str| on.then(|| v.to_owned());
        let odd = shape % 2 == 1;
        State {
            format: 1,
            instance: t.into(),
            workflow: t.into(),
            version: t.into(),
            source: t.into(),
            status: [InstanceStatus::Running, InstanceStatus::Paused][shape % 2],
            paused_from: odd.then_some(InstanceStatus::Running),
            created: t.into(),
            created_by: t.into(),
            variables: BTreeMap::from([
                (key.to_owned(), t.to_owned()),
                ("project_name".into(), t.into()),
                ("z".into(), String::new()),
            ]),
            context: if shape.is_multiple_of(3) {
                BTreeMap::new()
            } else {
                BTreeMap::from([(key.to_owned(), "ctx".to_owned()), ("k".into(), t.into())])
            },
            phases: vec![
                PhaseState {
                    id: t.into(),
                    name: t.into(),
                    status: PhaseStatus::Completed,
                    started: Some(t.into()),
                    completed: some(odd, t),
                    reason: some(!odd, t),
                    forced: if odd {
                        vec![t.into(), "x".into()]
                    } else {
                        vec![]
                    },
                    criteria: vec![
                        CriterionState {
                            criteria: t.into(),
                            gate: GateKind::Exit,
                            kind: t.into(),
                            required: odd,
                            approval: Some(Approval {
                                by: t.into(),
                                at: t.into(),
                                comment: some(shape % 3 != 1, t),
                            }),
                        },
                        CriterionState {
                            criteria: "second".into(),
                            gate: GateKind::Input,
                            kind: "human".into(),
                            required: !odd,
                            approval: None,
                        },
                    ],
                },
                PhaseState {
                    id: "design".into(),
                    name: String::new(),
                    status: PhaseStatus::InProgress,
                    started: None,
                    completed: None,
                    reason: None,
                    forced: vec![],
                    criteria: vec![],
                },
            ],
            metrics: Metrics {
                events: 12 + shape as u64,
                transitions: 0,
                approvals: u64::MAX - shape as u64,
            },
            transitions: if shape % 4 == 3 {
                vec![]
            } else {
                vec![TransitionRecord {
                    at: t.into(),
                    by: t.into(),
                    event: t.into(),
                    phase: some(odd, t),
                    from: t.into(),
                    to: t.into(),
                    reason: some(!odd, t),
                }]
            },
            files: if shape % 3 == 2 {
                BTreeMap::new()
            } else {
                BTreeMap::from([(
                    key.to_owned(),
                    FileRecord {
                        before: some(odd, t),
                        after: some(!odd, t),
                        by: t.into(),
                        phase: some(odd, t),
                        at: t.into(),
                    },
                )])
            },
        }
    }

    /// Reads `s` back both ways from what ddx writes (and from what serde_yaml writes); true
    /// when the fast reader took it.
    fn round_trip(s: &State) -> bool {
        let yaml = s.to_yaml();
        assert_eq!(
            serde_yaml::from_slice::<State>(&yaml).unwrap(),
            *s,
            "serde_yaml reads back what ddx writes"
        );
        let by_serde_yaml = s.to_yaml_by_serde_yaml();
        assert_eq!(yaml, by_serde_yaml, "the emitter's bytes are serde_yaml's");
        match from_slice::<State>(&yaml) {
            Some(fast) => {
                assert_eq!(fast, *s, "{}", String::from_utf8_lossy(&yaml));
                true
            }
            None => false,
        }
    }

    #[test]
    fn generated_states_read_back_as_serde_yaml_reads_them() {
        let mut missed = Vec::new();
        for t in TRICKY {
            for shape in 0..6 {
                if !round_trip(&state(t, shape)) {
                    missed.push((*t, shape));
                }
            }
        }
        // Every one-line text serde_yaml writes is within the subset.
        assert_eq!(missed, vec![], "texts the fast reader gave up on");
        // Long texts are one line too; as keys (over 128 bytes) serde_yaml writes `? `.
        for t in long_texts() {
            for shape in 0..6 {
                assert!(round_trip(&state_keyed(&t, "key", shape)), "{t:?}");
                assert!(!round_trip(&state(&t, shape)), "{t:?}");
            }
        }
        for t in LINE_BREAKS {
            for shape in 0..6 {
                assert!(!round_trip(&state(t, shape)), "line breaks: {t:?}");
            }
        }
    }

    #[test]
    fn ordinary_states_take_the_fast_path() {
        for t in [
            "frame",
            "helix-20260114-123456-a3f9",
            "2026-01-14T12:34:56Z",
            "0123456789abcdef0123456789abcdef01234567",
            "Problem statement clearly documented",
            "Ann <ann@example.com>",
            "artifact docs/frame/problem.md",
        ] {
            for shape in 0..6 {
                let s = state(t, shape);
                let yaml = s.to_yaml();
                assert_eq!(from_slice::<State>(&yaml), Some(s), "{t:?}, shape {shape}");
            }
        }
    }

    /// Documents outside the subset, each with what makes it so.
    const REFUSED: &[(&str, &str)] = &[
        ("literal block scalar", "a: |\n  x\n"),
        ("stripped block scalar", "a: |-\n  x\n"),
        ("folded block scalar", "a: >\n  x\n"),
        ("flow sequence", "a: [x]\n"),
        ("flow mapping", "a: {b: c}\n"),
        ("empty flow mapping with a space", "a: { }\n"),
        ("text after []", "a: []x\n"),
        ("anchor", "a: &x 1\n"),
        ("alias", "b: *x\n"),
        ("core tag", "a: !!str 1\n"),
        ("local tag", "a: !t x\n"),
        ("tagged item", "- !t x\n"),
        ("comment line", "# c\na: b\n"),
        ("comment after a value", "a: b # c\n"),
        ("comment after a quoted value", "a: 'b' # c\n"),
        ("comment after a key", "a: # c\n  b: c\n"),
        ("indented comment", "a: b\n  # c\n"),
        ("document start", "---\na: b\n"),
        ("document start with content", "--- a: b\n"),
        ("second document", "a: b\n---\nc: d\n"),
        ("document end", "a: b\n...\n"),
        // Not markers to libyaml, but refused to keep the rule simple.
        ("a key starting with ---", "---a: b\n"),
        ("a key starting with ...", "a: b\n...: c\n"),
        ("directive", "%YAML 1.1\n---\na: b\n"),
        ("complex key", "? a\n: b\n"),
        ("complex key in a sequence", "- ? a\n  : b\n"),
        ("multi-line plain value", "a: b\n  c\n"),
        ("multi-line plain item", "- a\n  b\n"),
        ("multi-line plain, deeper", "a:\n  b: c\n    d\n"),
        ("multi-line single-quoted", "a: 'b\n  c'\n"),
        ("multi-line double-quoted", "a: \"b\n  c\"\n"),
        ("escaped line break", "a: \"b\\\n  c\"\n"),
        ("tab after the colon", "a:\tb\n"),
        ("tab in a value", "a: b\tc\n"),
        ("tab in a quoted value", "a: 'b\tc'\n"),
        ("tab indentation", "a:\n\tb: c\n"),
        ("duplicate key", "a: 1\na: 2\n"),
        ("duplicate key, quoted", "a: 1\n'a': 2\n"),
        ("duplicate key, escaped", "a: 1\n\"\\x61\": 2\n"),
        ("duplicate nested key", "m:\n  a: 1\n  b: 2\n  a: 3\n"),
        ("duplicate key in an item", "- a: 1\n  a: 2\n"),
        ("nested mapping three columns in", "a:\n   b: c\n"),
        ("nested mapping one column in", "a:\n b: c\n"),
        ("nested mapping four columns in", "a:\n    b: c\n"),
        ("indented sequence", "a:\n  - x\n"),
        ("item mapping one column off", "- a: 1\n   b: 2\n"),
        ("item mapping one column short", "- a: 1\n b: 2\n"),
        ("dedent to no column", "a:\n  b: c\n d: e\n"),
        ("indented root", " a: b\n"),
        ("two spaces after the colon", "a:  b\n"),
        ("two spaces after the dash", "-  a\n"),
        ("space before the colon", "a : b\n"),
        ("byte-order mark", "\u{feff}a: b\n"),
        ("byte-order mark inside", "a: b\u{feff}\n"),
        ("text after a single-quoted value", "a: 'b'c\n"),
        ("text after a double-quoted value", "a: \"b\" c\n"),
        ("text after a quoted key", "'a'b: c\n"),
        ("a mapping as a value on the key's line", "a: b: c\n"),
        ("value ending in a colon", "a: b:\n"),
        ("trailing space", "a: b \n"),
        ("trailing space after a key", "a: \n"),
        ("blank line", "a: b\n\nc: d\n"),
        ("line of spaces", "a: b\n  \nc: d\n"),
        ("no final line break", "a: b"),
        ("empty document", ""),
        ("only a line break", "\n"),
        ("carriage return", "a: b\r\n"),
        ("control character", "a: b\u{1}\n"),
        ("delete character", "a: \u{7f}\n"),
        ("raw NEL", "a: b\u{85}c\n"),
        ("raw line separator", "a: b\u{2028}c\n"),
        ("raw paragraph separator", "a: b\u{2029}c\n"),
        ("non-character", "a: \u{fffe}\n"),
        ("unknown escape", "a: \"\\q\"\n"),
        ("signed hex escape", "a: \"\\x+1\"\n"),
        ("non-hex escape", "a: \"\\xZZ\"\n"),
        ("short unicode escape", "a: \"\\u12\"\n"),
        ("surrogate escape", "a: \"\\ud800\"\n"),
        ("escape beyond unicode", "a: \"\\U00110000\"\n"),
        ("unterminated single quote", "a: 'b\n"),
        ("unterminated double quote", "a: \"b\n"),
        ("sequence in a sequence", "- - a\n"),
        ("dash alone", "-\n"),
        ("dash alone after an item", "- a\n-\n"),
        ("dash alone as a value", "a: -\n"),
        ("root plain scalar", "abc\n"),
        ("root quoted scalar", "'abc'\n"),
        ("sequence after a scalar value", "a: b\n- c\n"),
        ("sequence after an item mapping's value", "- a: b\n  - c\n"),
        ("plain starting with @", "a: @x\n"),
        ("plain starting with a backtick", "a: `x`\n"),
        ("plain starting with %", "a: %x\n"),
        ("plain starting with a comma", "a: ,x\n"),
        ("dash and space as a value", "a: - x\n"),
        ("question mark and space as a value", "a: ? x\n"),
        ("colon and space as a value", "a: : x\n"),
        ("empty key", ": b\n"),
        ("plain key after a comment", "a #c: b\n"),
        ("scalar where a key is due", "a:\n  b\n"),
    ];

    /// Documents in the subset (the controls of [`REFUSED`]).
    const ACCEPTED: &[&str] = &[
        "a: b\n",
        "a: 'b'\n",
        "a: \"b\\tc\"\n",
        "- a\n- b\n",
        "a:\n- x\n- y\nb: c\n",
        "a:\n  b: c\n",
        "- a: 1\n  b: 2\n- c: 3\n",
        "a: {}\nb: []\n",
        "- {}\n- []\n",
        "a:\n",
        "a:\nb: c\n",
        "- a:\n- b\n",
        "a: b#c\n",
        "a: b:c\n",
        "a: -x\n",
        "a: ?x\n",
        "a: :x\n",
        "a: b, c [d] {e}\n",
        "a: b'c\"d\n",
        "-x: 1\n",
        "'a b': c\n",
        "\"a\\tb\": c\n",
        "'': c\n",
        "a: ''\n",
        "a: 'it''s'\n",
        "a: '''a'\n",
        "a: \"\\x41\\u00e9\\U0001F389\\N\\_\\L\\P\\0\\a\\b\\v\\f\\r\\e\\ \\\"\\/\\\\\"\n",
        "a: \"\\\\q\"\n",
        "a:\n  b:\n  - c\n  d: e\nf: g\n",
        "- a:\n    b: c\n  d:\n  - e\n",
        "k:\n- a:\n  - x\n  b: y\n- c\n",
        "a: 日本語 🎉\n",
        "a: b\u{a0}c\n",
        "a: ---\n",
    ];

    #[test]
    fn documents_outside_the_subset_are_left_to_serde_yaml() {
        for (why, doc) in REFUSED {
            assert!(
                from_slice::<de::IgnoredAny>(doc.as_bytes()).is_none(),
                "{why}: {doc:?}"
            );
            assert_eq!(check::<serde_yaml::Value>(doc), None, "{why}: {doc:?}");
        }
        assert!(
            from_slice::<de::IgnoredAny>(b"a: \xff\n").is_none(),
            "bad UTF-8"
        );
        assert!(
            from_slice::<de::IgnoredAny>(b"a: b\n\xff").is_none(),
            "bad UTF-8"
        );
        let long = format!("{}: v\n", "k".repeat(MAX_KEY + 1));
        assert!(from_slice::<de::IgnoredAny>(long.as_bytes()).is_none());
        let repeated: String = (0..40).map(|i| format!("k{}: v\n", i % 39)).collect();
        assert!(from_slice::<de::IgnoredAny>(repeated.as_bytes()).is_none());
        let mut deep = String::new();
        for level in 0..=MAX_NESTING {
            deep.push_str(&format!("{}k:\n", "  ".repeat(level)));
        }
        assert!(from_slice::<de::IgnoredAny>(deep.as_bytes()).is_none());
        for doc in ACCEPTED {
            assert!(
                from_slice::<de::IgnoredAny>(doc.as_bytes()).is_some(),
                "{doc:?}"
            );
            assert!(check::<serde_yaml::Value>(doc).is_some(), "{doc:?}");
        }
        let long = format!("{}: v\n", "k".repeat(MAX_KEY));
        assert!(check::<BTreeMap<String, String>>(&long).is_some());
        let many: String = (0..40).map(|i| format!("k{i}: v\n")).collect();
        assert!(check::<BTreeMap<String, String>>(&many).is_some());
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Strings {
        a: String,
        #[serde(default)]
        b: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Unsigned {
        n: u32,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Signed {
        n: i64,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Flag {
        f: bool,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Status {
        s: PhaseStatus,
    }

    #[derive(Debug, PartialEq, Default, Deserialize)]
    struct Collections {
        #[serde(default)]
        v: Vec<String>,
        #[serde(default)]
        m: BTreeMap<String, String>,
        #[serde(default)]
        o: Option<Vec<String>>,
        #[serde(default)]
        d: Metrics,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        a: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Id(String);

    #[derive(Debug, PartialEq, Deserialize)]
    struct Odd {
        c: Option<char>,
        u: Option<()>,
        id: Option<Id>,
        pair: Option<(String, u8)>,
    }

    /// Asserts the fast reader reads `doc` (as serde_yaml does: [`check`]).
    fn taken<T: DeserializeOwned + PartialEq + Debug>(doc: &str) -> T {
        check::<T>(doc).unwrap_or_else(|| panic!("not taken: {doc:?}"))
    }

    /// Asserts the fast reader leaves `doc` to serde_yaml, and whether serde_yaml reads it.
    fn left<T: DeserializeOwned + PartialEq + Debug>(doc: &str, serde_yaml_reads: bool) {
        assert_eq!(check::<T>(doc), None, "taken: {doc:?}");
        assert_eq!(
            serde_yaml::from_str::<T>(doc).is_ok(),
            serde_yaml_reads,
            "serde_yaml on {doc:?}"
        );
    }

    /// `key: text`, or `key:` for an empty text.
    fn entry(key: &str, text: &str) -> String {
        if text.is_empty() {
            format!("{key}:\n")
        } else {
            format!("{key}: {text}\n")
        }
    }

    #[test]
    fn scalars_are_typed_as_serde_yaml_types_them() {
        // Any scalar is a string's text, plain or quoted.
        for plain in [
            "123", "true", "null", "~", "0x10", "1e3", ".inf", "a b", "é", "",
        ] {
            assert_eq!(taken::<Strings>(&entry("a", plain)).a, plain);
        }
        assert_eq!(taken::<Strings>("a: ''\n").a, "");
        assert_eq!(taken::<Strings>("a: '~'\n").a, "~");
        assert_eq!(taken::<Strings>("a: \"\\u00e9\\t\"\n").a, "é\t");
        assert_eq!(taken::<Strings>("a: \"nel\\Nx\"\n").a, "nel\u{85}x");
        // Option: null words and a plain empty value are None; quoted ones are text.
        for none in ["~", "null", "Null", "NULL", ""] {
            let doc = format!("a: x\n{}", entry("b", none));
            assert_eq!(taken::<Strings>(&doc).b, None, "{none:?}");
        }
        for some in ["'null'", "'~'", "''", "nUll", "none", "\"\""] {
            let doc = format!("a: x\nb: {some}\n");
            assert!(taken::<Strings>(&doc).b.is_some(), "{some}");
        }
        // Integers: plain canonical decimal only; the rest is left to serde_yaml, which reads
        // some of it (`0x1F`, `+1`, `0o17`, `0b1`) and refuses the rest.
        assert_eq!(taken::<Unsigned>("n: 7\n").n, 7);
        assert_eq!(taken::<Unsigned>("n: 0\n").n, 0);
        assert_eq!(taken::<Unsigned>("n: 4294967295\n").n, u32::MAX);
        for read in ["0x1F", "+1", "0o17", "0b1"] {
            left::<Unsigned>(&entry("n", read), true);
        }
        for refused in [
            "'1'",
            "\"1\"",
            "01",
            "1_000",
            "-1",
            "4294967296",
            "1.0",
            "~",
            "",
            "x",
            "{}",
        ] {
            left::<Unsigned>(&entry("n", refused), false);
        }
        assert_eq!(taken::<Signed>("n: -5\n").n, -5);
        assert_eq!(taken::<Signed>("n: -0\n").n, 0);
        assert_eq!(taken::<Signed>("n: 9223372036854775807\n").n, i64::MAX);
        assert_eq!(taken::<Signed>("n: -9223372036854775808\n").n, i64::MIN);
        left::<Signed>("n: 9223372036854775808\n", false);
        left::<Signed>("n: -0x10\n", true);
        left::<Signed>("n: -01\n", false);
        // Booleans: the six plain spellings.
        for (text, value) in [
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("false", false),
            ("False", false),
            ("FALSE", false),
        ] {
            assert_eq!(taken::<Flag>(&entry("f", text)).f, value);
        }
        for refused in ["yes", "on", "'true'", "\"false\"", "1", "tRUE", "~", ""] {
            left::<Flag>(&entry("f", refused), false);
        }
        // Unit variants: any scalar naming one, quoted too.
        for text in ["in_progress", "'in_progress'", "\"in_progress\""] {
            let s = taken::<Status>(&entry("s", text)).s;
            assert_eq!(s, PhaseStatus::InProgress);
        }
        for refused in [
            "s: bogus\n",
            "s: InProgress\n",
            "s:\n",
            "s: {}\n",
            "s:\n- ready\n",
        ] {
            left::<Status>(refused, false);
        }
    }

    #[test]
    fn collections_and_structs_are_typed_as_serde_yaml_types_them() {
        // A plain empty value is an empty sequence, map or struct; an absent Option is None.
        let c = taken::<Collections>("v:\nm:\no:\n");
        assert_eq!(c, Collections::default());
        // An empty struct still misses its fields.
        left::<Collections>("d:\n", false);
        let c = taken::<Collections>(
            "v:\n- a\n- 'b'\nm:\n  k: v\no: []\nd:\n  events: 3\n  transitions: 2\n  approvals: 1\n",
        );
        assert_eq!(c.v, ["a", "b"]);
        assert_eq!(c.m, BTreeMap::from([("k".to_owned(), "v".to_owned())]));
        assert_eq!(c.o, Some(vec![]));
        left::<Collections>("d:\n  events: 3\n  transitions: ''\n", false);
        left::<Collections>("v: ''\n", false);
        left::<Collections>("v: {}\n", false);
        left::<Collections>("m: []\n", false);
        left::<Collections>("v: x\n", false);
        left::<Collections>("d: []\n", false);
        // Unknown fields are skipped whole; denied ones and missing ones are errors.
        let doc = "a: x\nextra:\n  deep:\n  - 1\n  - {}\n  - k: v\n    l:\n    - m\nb: y\n";
        assert_eq!(taken::<Strings>(doc).b.as_deref(), Some("y"));
        left::<Strict>("a: x\nextra: y\n", false);
        assert_eq!(taken::<Strict>("a: x\n").a, "x");
        left::<Strings>("b: x\n", false);
        left::<Strings>("a:\n  x: y\n", false);
        left::<Strings>("a:\n- x\n", false);
        left::<Strings>("a: []\n", false);
        // Sequences, tuples, newtypes, chars and units.
        assert_eq!(taken::<Vec<u64>>("- 1\n- 2\n"), [1, 2]);
        assert_eq!(taken::<(String, u8)>("- a\n- 1\n"), ("a".to_owned(), 1));
        left::<(String, u8)>("- a\n- 1\n- 2\n", false);
        left::<(String, u8)>("- a\n", false);
        let odd = taken::<Odd>("c: x\nu: ~\nid: abc\npair:\n- b\n- 2\n");
        assert_eq!(odd.c, Some('x'));
        assert_eq!(odd.u, None);
        assert_eq!(odd.id, Some(Id("abc".into())));
        assert_eq!(odd.pair, Some(("b".into(), 2)));
        left::<Odd>("c: xy\nu:\nid:\npair:\n", false);
        left::<Odd>("c:\nu: x\nid:\npair:\n", false);
        // Any: null, bool, canonical integers and strings are typed; numbers in other forms
        // are left to serde_yaml.
        let v = taken::<serde_yaml::Value>(
            "a: 1\nb: -2\nc: x\nd: true\ne: ~\nf: ''\ng: '1'\nh:\n- 1\n- y\ni:\nj: {}\n",
        );
        assert_eq!(v["a"], serde_yaml::Value::from(1u64));
        assert_eq!(v["b"], serde_yaml::Value::from(-2i64));
        assert_eq!(v["g"], serde_yaml::Value::from("1"));
        assert_eq!(v["i"], serde_yaml::Value::Null);
        for number in ["1.5", "0x10", "+1", ".inf", "-.5", "012", "1e3"] {
            left::<serde_yaml::Value>(&entry("a", number), true);
        }
        left::<serde_yaml::Value>("a: 18446744073709551616\n", false);
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn pick<'t>(&mut self, xs: &[&'t str]) -> &'t str {
            xs[self.below(xs.len())]
        }
    }

    /// Keys and values in the subset, read by serde_yaml as text or as what they say.
    const KEYS: &[&str] = &[
        "a",
        "b",
        "n",
        "f",
        "s",
        "v",
        "m",
        "o",
        "c",
        "'a'",
        "\"b\"",
        "a b",
        "-x",
        "x:y",
        "'k''q'",
        "\"k\\tq\"",
        "é",
        "''",
    ];

    const VALUES: &[&str] = &[
        "x",
        "a b",
        "1",
        "0",
        "-3",
        "true",
        "False",
        "yes",
        "~",
        "null",
        "NULL",
        "",
        "''",
        "'x'",
        "'it''s'",
        "\"x\"",
        "\"\\t\\u00e9\"",
        "'a: b'",
        "a:b",
        "a#b",
        "-x",
        "?x",
        ":x",
        "{}",
        "[]",
        "in_progress",
        "ready",
        "é 🎉",
        "x'",
        "x\"",
        "18446744073709551615",
    ];

    /// Keys and values out of the subset, or numbers in forms left to serde_yaml.
    const ODD_KEYS: &[&str] = &["1", "true", "~", "? x", "[k]", "&a k", "k #c", "- k", "a "];

    const ODD_VALUES: &[&str] = &[
        "+1",
        "01",
        "0x1F",
        "1.5",
        "1e3",
        ".inf",
        "\"\\q\"",
        "a: b",
        "a #b",
        "#b",
        "- x",
        "-",
        "[x]",
        "{ }",
        "&a x",
        "*a",
        "!t x",
        "|",
        ">-",
        "@x",
        "'unclosed",
        "\"unclosed",
        "a\tb",
        "'x'y",
        "18446744073709551616",
        "-9223372036854775809",
    ];

    fn key(rng: &mut Rng) -> &'static str {
        if rng.below(12) == 0 {
            rng.pick(ODD_KEYS)
        } else {
            rng.pick(KEYS)
        }
    }

    fn scalar(rng: &mut Rng) -> &'static str {
        if rng.below(12) == 0 {
            rng.pick(ODD_VALUES)
        } else {
            rng.pick(VALUES)
        }
    }

    /// A random document, mostly in serde_yaml's layout.
    fn document(rng: &mut Rng) -> String {
        let mut out = String::new();
        if rng.below(4) == 0 {
            sequence(rng, 0, 0, &mut out);
        } else {
            mapping(rng, 0, 0, false, &mut out);
        }
        mutate(rng, out)
    }

    /// A mapping at `col`; `item` when its first key goes on a `- ` already written.
    fn mapping(rng: &mut Rng, col: usize, depth: usize, item: bool, out: &mut String) {
        for i in 0..1 + rng.below(4) {
            if i > 0 || !item {
                out.push_str(&" ".repeat(col));
            }
            out.push_str(key(rng));
            out.push(':');
            value(rng, col, depth, out);
        }
    }

    fn sequence(rng: &mut Rng, col: usize, depth: usize, out: &mut String) {
        for _ in 0..1 + rng.below(3) {
            out.push_str(&" ".repeat(col));
            out.push_str("- ");
            match rng.below(if depth > 3 { 1 } else { 3 }) {
                0 => {
                    out.push_str(scalar(rng));
                    out.push('\n');
                }
                1 => mapping(rng, col + 2, depth + 1, true, out),
                _ => {
                    out.push_str(scalar(rng));
                    out.push_str(": ");
                    out.push_str(scalar(rng));
                    out.push('\n');
                }
            }
        }
    }

    fn value(rng: &mut Rng, col: usize, depth: usize, out: &mut String) {
        match rng.below(if depth > 3 { 1 } else { 4 }) {
            0 => {
                let v = scalar(rng);
                if !v.is_empty() {
                    out.push(' ');
                    out.push_str(v);
                }
                out.push('\n');
            }
            1 => {
                out.push('\n');
                mapping(rng, col + 2, depth + 1, false, out);
            }
            _ => {
                out.push('\n');
                sequence(rng, col, depth + 1, out);
            }
        }
    }

    /// Now and then, one change a hand or a bug might make.
    fn mutate(rng: &mut Rng, doc: String) -> String {
        if rng.below(4) != 0 {
            return doc;
        }
        let mut lines: Vec<String> = doc.lines().map(str::to_owned).collect();
        let at = rng.below(lines.len());
        match rng.below(12) {
            0 => lines[at].insert(0, ' '),
            1 => {
                if lines[at].starts_with(' ') {
                    lines[at].remove(0);
                }
            }
            2 => lines[at].push(' '),
            3 => lines.insert(at, "# c".into()),
            4 => lines.insert(at, String::new()),
            5 => lines.insert(at, "---".into()),
            6 => lines.insert(at, lines[at].clone()),
            7 => {
                lines.remove(at);
            }
            8 => lines[at] = lines[at].replacen(": ", ":  ", 1),
            9 => lines[at].push_str(" # c"),
            10 => {
                let other = rng.below(lines.len());
                lines.swap(at, other);
            }
            _ => lines[at] = format!("{}  more", lines[at]),
        }
        let mut doc = lines.join("\n");
        doc.push('\n');
        doc
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Probe {
        #[serde(default)]
        a: Option<String>,
        #[serde(default)]
        b: String,
        #[serde(default)]
        n: u64,
        #[serde(default)]
        f: bool,
        #[serde(default)]
        s: Option<PhaseStatus>,
        #[serde(default)]
        v: Vec<String>,
        #[serde(default)]
        m: BTreeMap<String, String>,
        #[serde(default)]
        o: Option<Box<Probe>>,
        #[serde(default)]
        c: Vec<Probe>,
    }

    #[test]
    fn random_documents_are_read_as_serde_yaml_reads_them_or_left_to_it() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut values, mut probes, mut maps) = (0, 0, 0);
        let runs = 4000;
        for _ in 0..runs {
            let doc = document(&mut rng);
            if from_slice::<de::IgnoredAny>(doc.as_bytes()).is_some() {
                assert!(
                    serde_yaml::from_str::<de::IgnoredAny>(&doc).is_ok(),
                    "{doc:?}"
                );
            }
            values += usize::from(check::<serde_yaml::Value>(&doc).is_some());
            probes += usize::from(check::<Probe>(&doc).is_some());
            maps += usize::from(check::<BTreeMap<String, String>>(&doc).is_some());
        }
        // The generator reaches the fast path often enough for the comparisons to count.
        assert!(values > runs / 10, "{values} of {runs} read as values");
        assert!(probes > runs / 40, "{probes} of {runs} read as structs");
        assert!(maps > runs / 40, "{maps} of {runs} read as maps");
    }
}
