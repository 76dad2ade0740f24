//! ddx's canonical YAML encoding of the documents it stores (`state.yml`, `entry.yml`, the
//! heads journal): block style, fields in declaration order, maps sorted by key, two-space
//! indents, sequences under a key aligned with it, `{}`/`[]` for empty collections.
//!
//! This is the one definition of those bytes: writers use it, and `ddx audit verify` compares a
//! replayed state with it by blob id, so it must never change for a given value. A string is
//! written plain when no YAML parser (1.1 or 1.2) can read it as anything but that string,
//! single-quoted when it is one printable line, double-quoted with escapes otherwise
//! (multi-line, control characters, YAML line breaks). Keys longer than a simple key may be are
//! written as explicit `? ` keys. Everything it writes is read back by serde_yaml (tested).
//! Reading is serde_yaml's alone.

use serde::ser::{self, Serialize};
use std::fmt;

/// A value outside the shapes this encoding defines (floats, bytes, enum payloads, non-string
/// keys, a struct whose fields are all skipped).
#[derive(Debug, thiserror::Error)]
#[error("the value is outside ddx's YAML encoding (it has no float, byte string, enum payload or non-string key)")]
pub struct Unsupported;

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

type R = Result<(), Unsupported>;

/// `value` in ddx's canonical encoding.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Unsupported> {
    let mut out = String::with_capacity(4096);
    write(value, &mut out)?;
    Ok(out)
}

/// Writes `value` into `out` (cleared first, its capacity reused).
pub fn write<T: Serialize>(value: &T, out: &mut String) -> R {
    out.clear();
    let mut e = Emitter {
        out: std::mem::take(out),
        stack: Vec::new(),
    };
    let result = value.serialize(&mut e);
    *out = e.out;
    result
}

/// Bytes that never make a string starting with a letter need quotes.
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

/// Words some YAML parser reads as a boolean or null (YAML 1.1 and 1.2).
fn is_reserved_word(s: &str) -> bool {
    matches!(
        s,
        "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "null"
            | "Null"
            | "NULL"
            | "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "y"
            | "Y"
            | "n"
            | "N"
    )
}

/// Whether `s` is read back as itself when written without quotes.
fn plain_is_safe(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if !first.is_ascii_alphabetic() || last == b' ' || last == b':' || is_reserved_word(s) {
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

/// `2026-01-14T12:34:56Z`: plain (serde types it as the string it is).
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

/// An object id (SHA-1 or SHA-256) that cannot be read as a number (a letter other than `e` in
/// it): plain.
fn is_hex_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64)
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        && s.bytes().any(|c| matches!(c, b'a'..=b'd' | b'f'))
}

/// Characters a single-quoted scalar cannot hold as they are: controls, YAML's line breaks
/// (NEL, LS, PS) and the byte-order mark.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// One string as a scalar on one line.
fn scalar(s: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if plain_is_safe(s) || is_timestamp(s) || is_hex_id(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    if !s.chars().any(needs_escape) {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
        return Cow::Owned(out);
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if needs_escape(c) => {
                let n = u32::from(c);
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else {
                    out.push_str(&format!("\\u{n:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
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
        let text = scalar(s);
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
        let text = match field {
            true => std::borrow::Cow::Borrowed(key),
            false => scalar(key),
        };
        // libyaml refuses a simple key over 1024 characters: a long one is an explicit key.
        let explicit = text.len() > 1000;
        match self.stack.last_mut() {
            Some(Frame::Map { indent, first }) => {
                if *first {
                    *first = false;
                } else {
                    push_indent(&mut self.out, *indent);
                }
                if explicit {
                    self.out.push_str("? ");
                    self.out.push_str(&text);
                    self.out.push('\n');
                    push_indent(&mut self.out, *indent);
                } else {
                    self.out.push_str(&text);
                }
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
        Approval, Conflict, CriterionState, FileRecord, GateKind, InstanceStatus, Metrics,
        PhaseState, PhaseStatus, State, TransitionRecord,
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
                        merged: None,
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
                        merged: None,
                        by: format!("action {reason}"),
                        phase: None,
                        at: "2026-01-14T12:36:00Z".into(),
                    },
                ),
            ]),
            conflicts: vec![Conflict {
                phase: Some("frame".into()),
                field: "status".into(),
                kept: "completed".into(),
                kept_from: "0123456789abcdef0123456789abcdef01234567".into(),
                other: format!("failed: {reason}"),
                other_from: "1234567890123456789012345678901234567890".into(),
            }],
        }
    }

    const TEXTS: &[&str] = &[
        "plain text",
        "it's: tricky",
        "true",
        "yes",
        "no",
        "Off",
        "y",
        "null",
        "~",
        "- dash first",
        "#hash",
        "a # comment",
        "ends with colon:",
        "key: value",
        "012",
        "0x1f",
        "1.0",
        "1.0.0",
        "1e3",
        ".inf",
        " leading space",
        "trailing space ",
        "quote \"inside\" and 'single'",
        "back\\slash",
        "ünïcödé 漢字 🦀",
        "[flow] {map}",
        "*alias &anchor !tag |pipe >fold %pct @at `tick`",
        "2026-01-14T12:34:56Z",
        "",
        "two\nlines\n",
        "\nleading newline",
        "tab\there",
        "bell\u{7} nul\u{0}",
        "nel\u{85} ls\u{2028} ps\u{2029} bom\u{feff}",
        "\r\n",
        "0123456789abcdef0123456789abcdef01234567",
        "1234567890123456789012345678901234567890",
        "1234567e90123456789012345678901234567890",
    ];

    #[test]
    fn serde_yaml_reads_back_every_shape_it_writes() {
        let long = "k".repeat(1500);
        let mut texts: Vec<String> = TEXTS.iter().map(|t| (*t).to_owned()).collect();
        texts.push(long.clone());
        for t in &texts {
            let mut s = state(t, t, t);
            s.variables.insert(t.clone(), t.clone());
            s.context.insert(format!("{t}!"), t.clone());
            let yaml = to_string(&s).unwrap();
            let back: State =
                serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("for {t:?}: {e}\n{yaml}"));
            assert_eq!(back, s, "for {t:?}:\n{yaml}");
            // The same value is written to the same bytes.
            assert_eq!(to_string(&back).unwrap(), yaml);
        }
    }

    #[test]
    fn strings_are_plain_only_when_no_parser_reads_them_otherwise() {
        let line = |t: &str| {
            let yaml = to_string(&BTreeMap::from([("k", t)])).unwrap();
            yaml.strip_prefix("k: ")
                .unwrap()
                .trim_end_matches('\n')
                .to_owned()
        };
        assert_eq!(line("plain text"), "plain text");
        assert_eq!(line("2026-01-14T12:34:56Z"), "2026-01-14T12:34:56Z");
        assert_eq!(line("no"), "'no'");
        assert_eq!(line("012"), "'012'");
        assert_eq!(line("it's"), "'it''s'");
        assert_eq!(line(""), "''");
        assert_eq!(line("ünï"), "'ünï'");
        assert_eq!(line("a\nb"), "\"a\\nb\"");
        assert_eq!(line("q\"\u{7}"), "\"q\\\"\\x07\"");
    }

    #[test]
    fn empty_collections_and_nesting_have_one_layout() {
        let s = state("deadline", "looks right", "shop");
        let yaml = to_string(&s).unwrap();
        assert!(yaml.contains("context: {}\n"), "{yaml}");
        assert!(
            yaml.contains("phases:\n- id: frame\n  name: Frame the problem\n"),
            "{yaml}"
        );
        assert_eq!(serde_yaml::from_str::<State>(&yaml).unwrap(), s);
        let empty: BTreeMap<String, Vec<String>> = BTreeMap::new();
        assert_eq!(to_string(&empty).unwrap(), "{}\n");
        assert!(
            to_string(&1.5f64).is_err(),
            "floats are outside the encoding"
        );
    }

    #[test]
    fn a_key_too_long_for_a_simple_key_is_explicit() {
        let key = "x".repeat(1200);
        let yaml = to_string(&BTreeMap::from([(key.clone(), "v")])).unwrap();
        assert_eq!(yaml, format!("? {key}\n: v\n"));
        let back: BTreeMap<String, String> = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back[&key], "v");
    }
}
