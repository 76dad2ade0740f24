//! The compact binary form of index entries, as cached and as held in memory.
//!
//! A warm search reads one cache file per source into a single buffer and never builds the
//! entries it does not show: each entry is a *record* (a byte range of that buffer) that is
//! validated once when the file is read, probed for query words as raw bytes, and decoded into
//! an [`Entry`] only when it matches. That keeps a warm search over 10,000 workflows to a few
//! allocations instead of hundreds of thousands.
//!
//! Layout, little-endian; `str` is a `u32` byte length and UTF-8 bytes, `list` a `u32` count
//! and that many `str`s: `f32 length, str name, str version, str category, list tags,
//! list keywords, list languages, str description, u32 phases, (str id, str name) per phase,
//! list artifacts, u32 artifact_count, str key`.

use super::index::{Entry, PhaseRef};
use std::sync::Arc;

/// Appends values in the record layout.
#[derive(Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u32(&mut self, n: u32) {
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    pub fn f32(&mut self, x: f32) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }

    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn list(&mut self, items: &[String]) {
        self.len(items.len());
        for i in items {
            self.str(i);
        }
    }

    /// Appends `e` as one record, preceded by its byte length.
    pub fn entry(&mut self, e: &Entry) {
        let mut r = Writer::default();
        r.f32(e.length);
        r.str(&e.name);
        r.str(&e.version);
        r.str(&e.category);
        r.list(&e.tags);
        r.list(&e.keywords);
        r.list(&e.languages);
        r.str(&e.description);
        r.len(e.phases.len());
        for p in &e.phases {
            r.str(&p.id);
            r.str(&p.name);
        }
        r.list(&e.artifacts);
        r.len(e.artifact_count);
        r.str(&e.key);
        self.len(r.buf.len());
        self.buf.extend_from_slice(&r.buf);
    }
}

/// Reads values in the record layout; `None` on any malformed input.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    pub fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn f32(&mut self) -> Option<f32> {
        let b = self.bytes(4)?;
        Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.bytes(n)?).ok()
    }

    fn list(&mut self) -> Option<Vec<String>> {
        let n = self.u32()? as usize;
        // Each item takes at least its 4-byte length: refuse counts the buffer cannot hold.
        if n > self.buf.len().saturating_sub(self.pos) / 4 {
            return None;
        }
        (0..n).map(|_| self.str().map(str::to_owned)).collect()
    }

    fn skip_list(&mut self) -> Option<()> {
        let n = self.u32()?;
        for _ in 0..n {
            self.str()?;
        }
        Some(())
    }

    /// Checks one record's content like [`Reader::entry`], without building anything.
    pub fn check_entry(&mut self) -> Option<()> {
        self.f32()?;
        for _ in 0..3 {
            self.str()?;
        }
        for _ in 0..3 {
            self.skip_list()?;
        }
        self.str()?;
        let n = self.u32()?;
        for _ in 0..n {
            self.str()?;
            self.str()?;
        }
        self.skip_list()?;
        self.u32()?;
        self.str()?;
        Some(())
    }

    /// Decodes one record's content (without its length prefix).
    pub fn entry(&mut self) -> Option<Entry> {
        let length = self.f32()?;
        let name = self.str()?.to_owned();
        let version = self.str()?.to_owned();
        let category = self.str()?.to_owned();
        let tags = self.list()?;
        let keywords = self.list()?;
        let languages = self.list()?;
        let description = self.str()?.to_owned();
        let n = self.u32()? as usize;
        if n > self.buf.len().saturating_sub(self.pos) / 8 {
            return None;
        }
        let mut phases = Vec::with_capacity(n);
        for _ in 0..n {
            let id = self.str()?.to_owned();
            let name = self.str()?.to_owned();
            phases.push(PhaseRef { id, name });
        }
        let artifacts = self.list()?;
        let artifact_count = self.u32()? as usize;
        let key = self.str()?.to_owned();
        Some(Entry {
            name,
            version,
            category,
            tags,
            keywords,
            languages,
            description,
            phases,
            artifacts,
            artifact_count,
            length,
            key,
        })
    }
}

/// One entry as a byte range of a shared buffer.
#[derive(Clone)]
pub struct Record {
    data: Arc<Vec<u8>>,
    start: u32,
    end: u32,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("name", &self.name())
            .finish()
    }
}

impl Record {
    /// A record of its own, for an entry built in memory.
    pub fn of(e: &Entry) -> Record {
        let mut w = Writer::default();
        w.entry(e);
        let data = Arc::new(w.buf);
        Record {
            start: 4,
            end: u32::try_from(data.len()).unwrap_or(u32::MAX),
            data,
        }
    }

    /// Splits `count` length-prefixed records from `data`, starting at byte `from`, checking
    /// that each one decodes. Returns them and where they end.
    pub fn split(data: Arc<Vec<u8>>, from: usize, count: usize) -> Option<(Vec<Record>, usize)> {
        let mut out = Vec::with_capacity(count.min(data.len() / 8));
        let mut r = Reader::new(&data);
        r.bytes(from)?;
        for _ in 0..count {
            let n = r.u32()? as usize;
            let start = r.pos();
            let body = r.bytes(n)?;
            let mut check = Reader::new(body);
            check.check_entry()?;
            if !check.at_end() {
                return None;
            }
            out.push(Record {
                data: data.clone(),
                start: u32::try_from(start).ok()?,
                end: u32::try_from(start + n).ok()?,
            });
        }
        let used = r.pos();
        Some((out, used))
    }

    /// The record's bytes: every string of the entry appears in them verbatim.
    pub fn raw(&self) -> &[u8] {
        &self.data[self.start as usize..self.end as usize]
    }

    pub fn length(&self) -> f32 {
        Reader::new(self.raw()).f32().unwrap_or(0.0)
    }

    pub fn name(&self) -> &str {
        let mut r = Reader::new(self.raw());
        r.f32();
        r.str().unwrap_or_default()
    }

    /// The decoded entry.
    pub fn entry(&self) -> Entry {
        Reader::new(self.raw())
            .entry()
            .expect("records are checked when they are split from their buffer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_damage_is_refused() {
        let e = Entry {
            name: "wf".into(),
            version: "1.0".into(),
            category: "quality".into(),
            tags: vec!["a".into(), "b".into()],
            keywords: vec!["ключ".into()],
            languages: vec![],
            description: "desc".into(),
            phases: vec![PhaseRef {
                id: "p".into(),
                name: "Plan".into(),
            }],
            artifacts: vec!["prd".into()],
            artifact_count: 3,
            length: 12.5,
            key: "abc".into(),
        };
        let r = Record::of(&e);
        assert_eq!(r.entry(), e);
        assert_eq!(r.name(), "wf");
        assert_eq!(r.length(), 12.5);

        let mut w = Writer::default();
        w.entry(&e);
        w.entry(&e);
        let full = Arc::new(w.buf.clone());
        let (records, used) = Record::split(full, 0, 2).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(used, w.buf.len());
        assert_eq!(records[1].entry(), e);

        let cut = Arc::new(w.buf[..w.buf.len() - 1].to_vec());
        assert!(Record::split(cut, 0, 2).is_none());
        let mut bad = w.buf.clone();
        bad[12] = 0xff; // the first byte of the first name: no longer UTF-8
        assert!(Record::split(Arc::new(bad), 0, 2).is_none());
    }
}
