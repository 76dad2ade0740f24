//! The YAML ddx writes (serde_yaml's block style), emitted quickly.
//!
//! `ddx audit verify` replays every event and compares the state it gets with the recorded
//! `state.yml` by blob id, so it must produce exactly the bytes serde_yaml writes — and
//! serde_yaml's emitter costs about 100 µs per state, most of a 100,000-event verification.
//! Writers use it too (`state.yml`, `entry.yml`, `.git/ddx/heads`), checking it against
//! serde_yaml in debug builds.
//! [`to_string`] writes the same block layout directly; a string it cannot be sure how
//! serde_yaml would write (quoting, block scalars, long keys) is handed to serde_yaml itself,
//! and anything else it does not know makes it give up (`None`). Callers fall back to
//! serde_yaml whenever the result does not match, so this is a fast path, never a source of
//! truth.
//!
//! [`from_slice`] is the reading counterpart (module [`read`]): the same block layout parsed
//! back and typed as serde_yaml types it, `None` whenever it is not sure.

use serde::ser::{self, Serialize};
use std::fmt;

pub mod read;

pub use read::from_slice;

#[derive(Debug)]
pub struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outside what the fast YAML emitter and reader handle")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

impl serde::de::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

type R = Result<(), Unsupported>;

/// `value` as serde_yaml 0.9 writes it, or `None` when this emitter cannot be sure.
pub fn to_string<T: Serialize>(value: &T) -> Option<String> {
    let mut out = String::with_capacity(4096);
    write(value, &mut out).then_some(out)
}

/// Writes `value` into `out` (cleared first, its capacity reused); false when this emitter
/// cannot be sure how serde_yaml writes it.
pub fn write<T: Serialize>(value: &T, out: &mut String) -> bool {
    out.clear();
    let mut e = Emitter {
        out: std::mem::take(out),
        stack: Vec::new(),
    };
    let ok = value.serialize(&mut e).is_ok();
    *out = e.out;
    ok
}

/// Bytes that never make serde_yaml quote a string that starts with a letter.
const SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'-' | b'_' | b'.' | b'/' | b'@' | b'(' | b')' | b'<' | b'>' | b'+' | b'='
            );
        c += 1;
    }
    t
};

/// How serde_yaml writes one string in block context, when this is certain without asking it.
fn plain_is_certain(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if !first.is_ascii_alphabetic() || last == b' ' || last == b':' {
        return false;
    }
    if b.len() <= 5
        && matches!(
            s,
            "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "null" | "Null" | "NULL"
        )
    {
        return false;
    }
    let mut prev = 0u8;
    for &c in b {
        if !SAFE[c as usize] {
            // `:` is plain unless a space follows it or precedes it.
            if c != b':' || prev == b' ' {
                return false;
            }
        } else if c == b' ' && prev == b':' {
            return false;
        }
        prev = c;
    }
    true
}

/// `2026-01-14T12:34:56Z`: written plain by serde_yaml.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// A commit id that cannot be read as a number (a letter other than `e` in it): plain.
fn is_hex_id(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        && s.bytes().any(|c| matches!(c, b'a'..=b'd' | b'f'))
}

thread_local! {
    /// What serde_yaml made of the strings this emitter could not decide on itself.
    static ASKED: std::cell::RefCell<std::collections::HashMap<String, Option<String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// One string as serde_yaml writes it in block context (on one line), or `None`.
fn scalar(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    if plain_is_certain(s) || is_timestamp(s) || is_hex_id(s) {
        return Some(Cow::Borrowed(s));
    }
    if s.contains('\n') || s.len() > 200 {
        return None;
    }
    if let Some(known) = ASKED.with(|a| a.borrow().get(s).cloned()) {
        return known.map(Cow::Owned);
    }
    // Ask serde_yaml, for this one string.
    let text = serde_yaml::to_string(s)
        .ok()
        .and_then(|t| t.strip_suffix('\n').map(str::to_owned))
        .filter(|t| !t.contains('\n'));
    ASKED.with(|a| {
        let mut a = a.borrow_mut();
        if a.len() > 10_000 {
            a.clear();
        }
        a.insert(s.to_owned(), text.clone());
    });
    text.map(Cow::Owned)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A block mapping whose keys are written at `indent`; `first` while on a `- ` line.
    Map { indent: usize, first: bool },
    /// A block sequence whose dashes are written at `indent`.
    Seq { indent: usize },
}

struct Emitter {
    out: String,
    stack: Vec<Frame>,
}

impl Emitter {
    /// What a value written now is: a mapping value (after `key:`), a sequence item (after
    /// `- `), or the root.
    fn context(&self) -> Option<Frame> {
        self.stack.last().copied()
    }

    fn scalar(&mut self, text: &str) -> R {
        match self.context() {
            None => {
                self.out.push_str(text);
                self.out.push('\n');
            }
            Some(Frame::Map { .. }) => {
                self.out.push(' ');
                self.out.push_str(text);
                self.out.push('\n');
            }
            Some(Frame::Seq { indent }) => {
                push_indent(&mut self.out, indent);
                self.out.push_str("- ");
                self.out.push_str(text);
                self.out.push('\n');
            }
        }
        Ok(())
    }

    fn string(&mut self, s: &str) -> R {
        let text = scalar(s).ok_or(Unsupported)?;
        self.scalar(&text)
    }

    /// Starts a mapping (`len` entries, if known) as the current value.
    fn begin_map(&mut self, len: Option<usize>) -> Result<bool, Unsupported> {
        if len == Some(0) {
            self.scalar("{}")?;
            return Ok(false);
        }
        let frame = match self.context() {
            None => Frame::Map {
                indent: 0,
                first: false,
            },
            Some(Frame::Map { indent, .. }) => {
                self.out.push('\n');
                Frame::Map {
                    indent: indent + 2,
                    first: false,
                }
            }
            Some(Frame::Seq { indent }) => {
                push_indent(&mut self.out, indent);
                self.out.push_str("- ");
                Frame::Map {
                    indent: indent + 2,
                    first: true,
                }
            }
        };
        self.stack.push(frame);
        Ok(true)
    }

    /// Writes a key; a struct's field names are Rust identifiers, plain by construction.
    fn key(&mut self, key: &str, field: bool) -> R {
        if !field && (key.len() >= 128 || !plain_is_certain(key)) {
            return Err(Unsupported);
        }
        match self.stack.last_mut() {
            Some(Frame::Map { indent, first }) => {
                if *first {
                    *first = false;
                } else {
                    push_indent(&mut self.out, *indent);
                }
                self.out.push_str(key);
                self.out.push(':');
                Ok(())
            }
            _ => Err(Unsupported),
        }
    }

    fn begin_seq(&mut self, len: Option<usize>) -> Result<bool, Unsupported> {
        if len == Some(0) {
            self.scalar("[]")?;
            return Ok(false);
        }
        let frame = match self.context() {
            None => Frame::Seq { indent: 0 },
            // A sequence under a key is not indented further: its dashes align with the key.
            Some(Frame::Map { indent, .. }) => {
                self.out.push('\n');
                Frame::Seq { indent }
            }
            Some(Frame::Seq { .. }) => return Err(Unsupported),
        };
        self.stack.push(frame);
        Ok(true)
    }

    fn end(&mut self) {
        self.stack.pop();
    }
}

/// A number in decimal, without allocating.
fn number(mut v: u64, negative: bool, buf: &mut [u8; 24]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

fn push_indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// A sequence or mapping that may have been written as `[]`/`{}` already.
struct Compound<'a> {
    e: &'a mut Emitter,
    open: bool,
}

impl Compound<'_> {
    fn close(self) -> R {
        if self.open {
            self.e.end();
        }
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Emitter {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = MapCompound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> R {
        self.scalar(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> R {
        let mut buf = [0u8; 24];
        self.scalar(number(v.unsigned_abs(), v < 0, &mut buf))
    }
    fn serialize_u8(self, v: u8) -> R {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> R {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> R {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> R {
        let mut buf = [0u8; 24];
        self.scalar(number(v, false, &mut buf))
    }
    fn serialize_f32(self, _: f32) -> R {
        Err(Unsupported)
    }
    fn serialize_f64(self, _: f64) -> R {
        Err(Unsupported)
    }
    fn serialize_char(self, v: char) -> R {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> R {
        self.string(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> R {
        Err(Unsupported)
    }
    fn serialize_none(self) -> R {
        self.scalar("null")
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R {
        self.scalar("null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        self.scalar("null")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> R {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> R {
        Err(Unsupported)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        let open = self.begin_seq(len)?;
        Ok(Compound { e: self, open })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapCompound<'a>, Unsupported> {
        // The number of entries is needed up front to write an empty map as `{}`.
        let len = len.ok_or(Unsupported)?;
        let open = self.begin_map(Some(len))?;
        Ok(MapCompound { e: self, open })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unsupported> {
        // Fields may be skipped, so a struct is never written as `{}` here; a struct whose
        // fields are all skipped is not supported (the root never is).
        let open = self.begin_map(None)?;
        Ok(Compound { e: self, open })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> R {
        v.serialize(&mut *self.e)
    }
    fn end(self) -> R {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> R {
        v.serialize(&mut *self.e)
    }
    fn end(self) -> R {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> R {
        v.serialize(&mut *self.e)
    }
    fn end(self) -> R {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> R {
        self.e.key(key, true)?;
        v.serialize(&mut *self.e)
    }
    fn skip_field(&mut self, _: &'static str) -> R {
        Ok(())
    }
    fn end(self) -> R {
        // A struct whose every field was skipped would have written nothing.
        if let Some(Frame::Map { first: true, .. }) = self.e.stack.last() {
            return Err(Unsupported);
        }
        self.close()
    }
}

pub struct MapCompound<'a> {
    e: &'a mut Emitter,
    open: bool,
}

/// Captures a map key as a string.
struct KeyCapture(Option<String>);

impl ser::Serializer for &mut KeyCapture {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<(), Unsupported>;
    type SerializeTuple = ser::Impossible<(), Unsupported>;
    type SerializeTupleStruct = ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = ser::Impossible<(), Unsupported>;
    type SerializeStruct = ser::Impossible<(), Unsupported>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;
    fn serialize_str(self, v: &str) -> R {
        self.0 = Some(v.to_owned());
        Ok(())
    }
    fn serialize_bool(self, _: bool) -> R {
        Err(Unsupported)
    }
    fn serialize_i8(self, _: i8) -> R {
        Err(Unsupported)
    }
    fn serialize_i16(self, _: i16) -> R {
        Err(Unsupported)
    }
    fn serialize_i32(self, _: i32) -> R {
        Err(Unsupported)
    }
    fn serialize_i64(self, _: i64) -> R {
        Err(Unsupported)
    }
    fn serialize_u8(self, _: u8) -> R {
        Err(Unsupported)
    }
    fn serialize_u16(self, _: u16) -> R {
        Err(Unsupported)
    }
    fn serialize_u32(self, _: u32) -> R {
        Err(Unsupported)
    }
    fn serialize_u64(self, _: u64) -> R {
        Err(Unsupported)
    }
    fn serialize_f32(self, _: f32) -> R {
        Err(Unsupported)
    }
    fn serialize_f64(self, _: f64) -> R {
        Err(Unsupported)
    }
    fn serialize_char(self, _: char) -> R {
        Err(Unsupported)
    }
    fn serialize_bytes(self, _: &[u8]) -> R {
        Err(Unsupported)
    }
    fn serialize_none(self) -> R {
        Err(Unsupported)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> R {
        Err(Unsupported)
    }
    fn serialize_unit(self) -> R {
        Err(Unsupported)
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Err(Unsupported)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> R {
        self.0 = Some(v.to_owned());
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> R {
        Err(Unsupported)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

impl ser::SerializeMap for MapCompound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> R {
        let mut k = KeyCapture(None);
        key.serialize(&mut k)?;
        let k = k.0.ok_or(Unsupported)?;
        self.e.key(&k, false)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> R {
        v.serialize(&mut *self.e)
    }
    fn end(self) -> R {
        if self.open {
            self.e.end();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{
        Approval, CriterionState, FileRecord, GateKind, InstanceStatus, Metrics, PhaseState,
        PhaseStatus, State, TransitionRecord,
    };
    use std::collections::BTreeMap;

    fn state(reason: &str, comment: &str, variable: &str) -> State {
        State {
            format: 1,
            instance: "helix-20260114-123456-a3f9".into(),
            workflow: "helix".into(),
            version: "1.0.0".into(),
            source: "path:./wf".into(),
            status: InstanceStatus::Running,
            paused_from: Some(InstanceStatus::Failed),
            created: "2026-01-14T12:34:56Z".into(),
            created_by: "Test User <test@example.com>".into(),
            variables: BTreeMap::from([
                ("project_name".into(), variable.into()),
                ("has_ui".into(), "no".into()),
                ("empty".into(), String::new()),
                ("count".into(), "012".into()),
            ]),
            context: BTreeMap::new(),
            phases: vec![
                PhaseState {
                    id: "frame".into(),
                    name: "Frame the problem".into(),
                    status: PhaseStatus::Completed,
                    started: Some("2026-01-14T12:34:56Z".into()),
                    completed: Some("2026-01-14T13:00:00Z".into()),
                    reason: Some(reason.into()),
                    forced: vec!["Success metrics: defined".into()],
                    criteria: vec![
                        CriterionState {
                            criteria: "Problem statement clearly documented".into(),
                            gate: GateKind::Exit,
                            kind: "human".into(),
                            required: true,
                            approval: Some(Approval {
                                by: "Ann <ann@example.com>".into(),
                                at: "2026-01-14T12:40:00Z".into(),
                                comment: Some(comment.into()),
                            }),
                        },
                        CriterionState {
                            criteria: "#1 [NEEDS CLARIFICATION] count".into(),
                            gate: GateKind::Input,
                            kind: "pattern".into(),
                            required: false,
                            approval: None,
                        },
                    ],
                },
                PhaseState {
                    id: "design".into(),
                    name: String::new(),
                    status: PhaseStatus::Pending,
                    started: None,
                    completed: None,
                    reason: None,
                    forced: vec![],
                    criteria: vec![],
                },
            ],
            metrics: Metrics {
                events: 12,
                transitions: 4,
                approvals: 1,
            },
            transitions: vec![TransitionRecord {
                at: "2026-01-14T12:34:56Z".into(),
                by: "Ann <ann@example.com>".into(),
                event: "start".into(),
                phase: Some("frame".into()),
                from: "ready".into(),
                to: "in_progress".into(),
                reason: None,
            }],
            files: BTreeMap::from([
                (
                    "docs/frame/problem.md".into(),
                    FileRecord {
                        before: None,
                        after: Some("0123456789abcdef0123456789abcdef01234567".into()),
                        by: "artifact problem".into(),
                        phase: Some("frame".into()),
                        at: "2026-01-14T12:35:00Z".into(),
                    },
                ),
                (
                    "docs/notes.md".into(),
                    FileRecord {
                        before: Some("1234567890123456789012345678901234567890".into()),
                        after: None,
                        by: format!("action {reason}"),
                        phase: None,
                        at: "2026-01-14T12:36:00Z".into(),
                    },
                ),
            ]),
        }
    }

    #[test]
    fn states_are_written_byte_for_byte_as_serde_yaml_writes_them() {
        let texts = [
            "plain text",
            "it's: tricky",
            "true",
            "yes",
            "null",
            "- dash first",
            "#hash",
            "a # comment",
            "ends with colon:",
            "012",
            "1.0",
            "1.0.0",
            " leading space",
            "trailing space ",
            "quote \"inside\"",
            "ünïcödé",
            "[flow] {map}",
            "*alias &anchor !tag |pipe >fold %pct @at `tick`",
            "2026-01-14T12:34:56Z",
            "",
        ];
        let mut written = 0;
        for t in texts {
            let s = state(t, t, t);
            let expected = serde_yaml::to_string(&s).unwrap();
            if let Some(fast) = to_string(&s) {
                assert_eq!(fast, expected, "for {t:?}");
                written += 1;
            }
        }
        // Only the multi-line-free, short texts are all handled; none is silently dropped.
        assert_eq!(written, texts.len(), "every one-line text is written");
        for id in [
            "0123456789abcdef0123456789abcdef01234567",
            "1234567890123456789012345678901234567890",
            "1234567e90123456789012345678901234567890",
        ] {
            let s = state(id, id, id);
            assert_eq!(to_string(&s).unwrap(), serde_yaml::to_string(&s).unwrap());
        }
        let multi = state("two\nlines", "x", "y");
        assert_eq!(
            to_string(&multi),
            None,
            "block scalars are left to serde_yaml"
        );
        // The common case is not given up on.
        let s = state("deadline", "looks right", "shop");
        assert_eq!(to_string(&s).unwrap(), serde_yaml::to_string(&s).unwrap());
        // A context that is empty becomes `{}`, a list `[]`.
        assert!(to_string(&s).unwrap().contains("context: {}\n"));
    }
}
