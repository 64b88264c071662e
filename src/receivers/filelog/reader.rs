//! One known file: its fingerprint, its committed offset, the open handle, and the splitting of its
//! bytes into log records (lines, multiline records, `max_log_size` pieces, forced flushes).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;

use super::config::{Encoding, Resolved};

/// Bytes read per read call: otelcol's fileconsumer default buffer size (16 KiB).
const READ_CHUNK: usize = 16 * 1024;

pub enum Source {
    Plain(File),
    /// Gzip is read front to back; `pos` is the decompressed offset reached.
    Gz {
        dec: Box<MultiGzDecoder<File>>,
        pos: u64,
    },
}

/// A file handle with the identity of the file it was opened on.
pub struct Opened {
    pub source: Source,
    pub dev_ino: (u64, u64),
    pub len: u64,
    pub uid: u32,
    pub gid: u32,
}

/// Opens `path` and reads its fingerprint (the first `size` bytes; decompressed for gzip).
pub fn open(path: &Path, size: usize, gz: bool) -> std::io::Result<(Opened, Vec<u8>)> {
    let f = File::open(path)?;
    let m = f.metadata()?;
    let mut fp = vec![0u8; size];
    let n = if gz {
        let mut d = MultiGzDecoder::new(File::open(path)?);
        read_full(&mut d, &mut fp)
    } else {
        let mut n = 0;
        while n < size {
            match f.read_at(&mut fp[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        n
    };
    fp.truncate(n);
    let source = if gz {
        Source::Gz {
            dec: Box::new(MultiGzDecoder::new(f)),
            pos: 0,
        }
    } else {
        Source::Plain(f)
    };
    Ok((
        Opened {
            source,
            dev_ino: (m.dev(), m.ino()),
            len: m.len(),
            uid: m.uid(),
            gid: m.gid(),
        },
        fp,
    ))
}

/// Reads as much as is there (a truncated gzip stream ends the read, without an error).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

/// One record cut from a file: its decoded text and where its bytes start and end.
pub struct Token {
    pub text: String,
    pub start: u64,
}

pub struct Reader {
    pub id: u64,
    pub path: PathBuf,
    pub fp: Vec<u8>,
    /// Bytes passed on and accepted by the pipeline (what a checkpoint saves).
    pub offset: u64,
    pub record_num: u64,
    pub file: Option<Opened>,
    pub gz: bool,
    /// Bytes read and not yet cut into tokens are `buf[head..]`, starting at file offset `buf_start`.
    /// Cutting a token only moves `head`; the consumed front is dropped before the next read, so
    /// cutting costs nothing per line whatever the buffer's size.
    buf: Vec<u8>,
    head: usize,
    pub buf_start: u64,
    /// Records cut so far (committed `record_num` lags while a batch is in flight).
    pub cut_records: u64,
    scan_pos: usize,
    last_growth: Instant,
    /// The poll in which the file was last found by the globs.
    pub last_seen: u64,
    /// Per-file attributes (`log.file.name`, …), computed when the path changes.
    pub attrs: serde_json::Map<String, serde_json::Value>,
    /// `attrs` with the receiver's `attributes`, encoded as a log record's attributes.
    pub attrs_pb: Vec<u8>,
    pub attrs_path: PathBuf,
    /// Read to its end in the last poll (for `delete_after_read` and closing lost files).
    pub at_eof: bool,
    /// `header`: for files read from their first byte.
    pub header: Option<super::header::HeaderState>,
}

impl Reader {
    pub fn new(
        id: u64,
        path: PathBuf,
        fp: Vec<u8>,
        offset: u64,
        record_num: u64,
        gz: bool,
    ) -> Reader {
        Reader {
            id,
            path,
            fp,
            offset,
            record_num,
            file: None,
            gz,
            buf: Vec::new(),
            head: 0,
            buf_start: offset,
            cut_records: record_num,
            scan_pos: 0,
            last_growth: Instant::now(),
            last_seen: 0,
            attrs: Default::default(),
            attrs_pb: Vec::new(),
            attrs_path: PathBuf::new(),
            at_eof: false,
            header: None,
        }
    }

    /// Sets a new handle (the same file under a new name, or reopened). Pending bytes are dropped and
    /// re-read from the committed offset, so a replaced handle can never mix two files' bytes.
    pub fn attach(&mut self, o: Opened) {
        self.file = Some(o);
        self.rewind_to_committed();
    }

    pub fn rewind_to_committed(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.scan_pos = 0;
        self.buf_start = self.offset;
        self.cut_records = self.record_num;
    }

    pub fn close(&mut self) {
        self.file = None;
        self.buf = Vec::new();
        self.head = 0;
        self.scan_pos = 0;
        self.buf_start = self.offset;
        self.cut_records = self.record_num;
    }

    /// Whether the open handle still holds the content that gave this reader its fingerprint (a file
    /// truncated and rewritten through the same handle does not).
    pub fn still_same(&self) -> bool {
        match &self.file {
            Some(Opened {
                source: Source::Plain(f),
                ..
            }) => {
                let mut b = vec![0u8; self.fp.len()];
                let mut n = 0;
                while n < b.len() {
                    match f.read_at(&mut b[n..], n as u64) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                }
                n == b.len() && b == self.fp
            }
            Some(_) => true,
            None => false,
        }
    }

    /// The bytes read and not yet cut.
    fn pending(&self) -> &[u8] {
        self.buf.get(self.head..).unwrap_or(&[])
    }

    /// Drops the bytes already cut from the front of the buffer.
    fn compact(&mut self) {
        if self.head > 0 {
            self.buf.drain(..self.head.min(self.buf.len()));
            self.head = 0;
        }
    }

    fn read_more(&mut self) -> std::io::Result<usize> {
        self.compact();
        let pos = self.buf_start + self.buf.len() as u64;
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let r = match &mut self.file {
            None => Ok(0),
            Some(o) => match &mut o.source {
                Source::Plain(f) => f.read_at(&mut self.buf[old..], pos),
                Source::Gz { dec, pos: gpos } => {
                    // Skip decompressed bytes already passed on (after a restart or a rewind).
                    let mut skip = pos.saturating_sub(*gpos);
                    let mut sink = [0u8; 8192];
                    while skip > 0 {
                        let want = skip.min(sink.len() as u64) as usize;
                        match dec.read(&mut sink[..want]) {
                            Ok(0) => break,
                            Ok(k) => {
                                *gpos += k as u64;
                                skip -= k as u64;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    if *gpos > pos {
                        // A rewind behind the stream: start it again.
                        Ok(0)
                    } else {
                        let r = dec.read(&mut self.buf[old..]);
                        if let Ok(k) = r {
                            *gpos += k as u64;
                        }
                        r
                    }
                }
            },
        };
        let n = *r.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        r
    }

    /// Cuts up to `limit` tokens, reading the file as needed. Returns true at the end of the file
    /// (nothing more to read now).
    pub fn read_tokens(
        &mut self,
        cfg: &Resolved,
        settings: &Trim,
        limit: usize,
        out: &mut Vec<Token>,
    ) -> bool {
        let now = Instant::now();
        loop {
            while out.len() < limit {
                match self.split(cfg, settings, false) {
                    Some(t) => out.push(t),
                    None => break,
                }
            }
            if out.len() >= limit {
                return false;
            }
            match self.read_more() {
                Ok(0) | Err(_) => {
                    if !self.pending().is_empty()
                        && now.saturating_duration_since(self.last_growth) >= settings.force_flush
                    {
                        while let Some(t) = self.split(cfg, settings, true) {
                            out.push(t);
                        }
                    }
                    self.compact();
                    if self.buf.is_empty() {
                        // Give back the read buffer: a thousand idle files must not hold 64 KiB each.
                        self.buf = Vec::new();
                    } else if self.buf.capacity() > 2 * self.buf.len() + READ_CHUNK {
                        self.buf.shrink_to_fit();
                    }
                    self.at_eof = true;
                    return true;
                }
                Ok(_) => {
                    self.last_growth = now;
                    self.at_eof = false;
                }
            }
        }
    }

    fn newline(&self, enc: Encoding, from: usize) -> Option<(usize, usize)> {
        let buf = self.pending();
        match enc {
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let nl: [u8; 2] = if enc == Encoding::Utf16Le {
                    [b'\n', 0]
                } else {
                    [0, b'\n']
                };
                let mut i = from + (from & 1);
                while i + 1 < buf.len() {
                    if buf[i] == nl[0] && buf[i + 1] == nl[1] {
                        return Some((i, 2));
                    }
                    i += 2;
                }
                None
            }
            _ => memchr::memchr(b'\n', buf.get(from..).unwrap_or(&[])).map(|i| (from + i, 1)),
        }
    }

    /// A cut of at most `max` bytes that does not split a character.
    fn cut_at(&self, enc: Encoding, max: usize) -> usize {
        let buf = self.pending();
        let mut n = max.min(buf.len());
        match enc {
            Encoding::Utf8 => {
                let mut back = 0;
                while back < 3 && n > 0 && n < buf.len() && (buf[n] & 0xC0) == 0x80 {
                    n -= 1;
                    back += 1;
                }
                if back == 3 && (buf[n] & 0xC0) == 0x80 {
                    n = max.min(buf.len());
                }
            }
            Encoding::Utf16Le | Encoding::Utf16Be => n &= !1,
            _ => {}
        }
        n.max(1).min(buf.len())
    }

    fn take(&mut self, n: usize, skip: usize, cfg: &Resolved, trim: &Trim) -> Token {
        let text = decode(&self.pending()[..n], cfg.encoding, trim);
        let start = self.buf_start;
        self.head = (self.head + n + skip).min(self.buf.len());
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        }
        self.buf_start += (n + skip) as u64;
        self.scan_pos = 0;
        self.cut_records += 1;
        Token { text, start }
    }

    fn split(&mut self, cfg: &Resolved, trim: &Trim, force: bool) -> Option<Token> {
        loop {
            let t = self.split_once(cfg, trim, force)?;
            // Empty records (blank lines) are skipped, as otelcol does; their bytes still count.
            if !t.text.is_empty() {
                return Some(t);
            }
            self.cut_records -= 1;
        }
    }

    fn split_once(&mut self, cfg: &Resolved, trim: &Trim, force: bool) -> Option<Token> {
        if self.pending().is_empty() {
            return None;
        }
        let max = cfg.max_log_size;
        let nl_len = if matches!(cfg.encoding, Encoding::Utf16Le | Encoding::Utf16Be) {
            2
        } else {
            1
        };
        if let Some(re) = &cfg.line_start {
            let mut ls = self.scan_pos;
            while let Some((i, k)) = self.newline(cfg.encoding, ls) {
                if ls > 0 && re.is_match(&decode_line(&self.pending()[ls..i], cfg.encoding)) {
                    let n = ls - nl_len;
                    if n <= max {
                        return Some(self.take(n, nl_len, cfg, trim));
                    }
                    let n = self.cut_at(cfg.encoding, max);
                    return Some(self.take(n, 0, cfg, trim));
                }
                ls = i + k;
                self.scan_pos = ls;
                if ls >= max {
                    break;
                }
            }
        } else if let Some(re) = &cfg.line_end {
            let mut ls = self.scan_pos;
            while let Some((i, k)) = self.newline(cfg.encoding, ls) {
                if re.is_match(&decode_line(&self.pending()[ls..i], cfg.encoding)) && i <= max {
                    return Some(self.take(i, k, cfg, trim));
                }
                ls = i + k;
                self.scan_pos = ls;
                if ls >= max {
                    break;
                }
            }
        } else if let Some((i, k)) = self.newline(cfg.encoding, self.scan_pos) {
            if i <= max {
                return Some(self.take(i, k, cfg, trim));
            }
        } else {
            self.scan_pos = self.pending().len().saturating_sub(nl_len - 1);
        }
        if self.pending().len() >= max {
            // Longer than max_log_size: cut into pieces of max_log_size, as otelcol does.
            let n = self.cut_at(cfg.encoding, max);
            return Some(self.take(n, 0, cfg, trim));
        }
        if force {
            let pending = self.pending();
            let mut n = pending.len();
            let mut skip = 0;
            if pending.ends_with(b"\n") {
                n -= nl_len.min(n);
                skip = nl_len.min(pending.len());
            }
            return Some(self.take(n, skip, cfg, trim));
        }
        None
    }
}

/// Whitespace trimming (`preserve_leading_whitespaces`, `preserve_trailing_whitespaces`) and the
/// flush period, shared by every reader.
pub struct Trim {
    pub leading: bool,
    pub trailing: bool,
    pub force_flush: Duration,
}

fn decode_line(b: &[u8], enc: Encoding) -> std::borrow::Cow<'_, str> {
    match enc {
        Encoding::Utf16Le | Encoding::Utf16Be => std::borrow::Cow::Owned(decode(
            b,
            enc,
            &Trim {
                leading: false,
                trailing: false,
                force_flush: Duration::ZERO,
            },
        )),
        _ => String::from_utf8_lossy(b),
    }
}

/// Decodes a record's bytes; invalid sequences become U+FFFD, as Go's decoders do.
pub fn decode(b: &[u8], enc: Encoding, trim: &Trim) -> String {
    if matches!(enc, Encoding::Utf8 | Encoding::Nop) {
        // Valid UTF-8 (nearly every line): validated, trimmed in place, and copied once.
        if let Ok(s) = std::str::from_utf8(b) {
            return s[trimmed(s, trim)].to_owned();
        }
    }
    let mut s = match enc {
        Encoding::Utf8 | Encoding::Nop => String::from_utf8_lossy(b).into_owned(),
        Encoding::Ascii => b
            .iter()
            .map(|c| if *c < 128 { *c as char } else { '\u{FFFD}' })
            .collect(),
        Encoding::Utf16Le | Encoding::Utf16Be => {
            let units = b.chunks_exact(2).map(|c| {
                if enc == Encoding::Utf16Le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            });
            char::decode_utf16(units)
                .map(|r| r.unwrap_or('\u{FFFD}'))
                .collect()
        }
    };
    let keep = trimmed(&s, trim);
    s.truncate(keep.end);
    s.drain(..keep.start);
    s
}

/// The part of a record that `preserve_leading_whitespaces` / `preserve_trailing_whitespaces` keep:
/// surrounding whitespace trimmed unless preserved; a preserved end still loses a `\r` (CRLF ends).
fn trimmed(s: &str, trim: &Trim) -> std::ops::Range<usize> {
    let end = if !trim.trailing {
        s.trim_end().len()
    } else {
        s.strip_suffix('\r').unwrap_or(s).len()
    };
    let start = if !trim.leading {
        end - s[..end].trim_start().len()
    } else {
        0
    };
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_trims_as_configured_and_replaces_invalid_utf8() {
        let trim = |leading, trailing| Trim {
            leading,
            trailing,
            force_flush: Duration::ZERO,
        };
        let cases: [(&[u8], bool, bool, &str); 8] = [
            (b"  a line \t\r", false, false, "a line"),
            (b"  a line \t\r", true, false, "  a line"),
            (b"  a line \t\r", false, true, "a line \t"),
            (b"  a line \t\r", true, true, "  a line \t"),
            (b" \t ", false, false, ""),
            (
                b"\xe2\x80\x83em space\xe2\x80\x83",
                false,
                false,
                "em space",
            ),
            (b" bad \xff byte ", false, false, "bad \u{FFFD} byte"),
            (b" cut \xe2\x98", true, true, " cut \u{FFFD}"),
        ];
        for (bytes, leading, trailing, want) in cases {
            let got = decode(bytes, Encoding::Utf8, &trim(leading, trailing));
            assert_eq!(got, want, "{bytes:?} leading={leading} trailing={trailing}");
        }
        assert_eq!(
            decode(b" caf\xc3\xa9 ", Encoding::Ascii, &trim(false, false)),
            "caf\u{FFFD}\u{FFFD}"
        );
    }
}
