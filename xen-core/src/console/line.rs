//! One domain's partial console line, shared by `console_io` and the
//! console ring of a domain other than the hardware domain.
//!
//! Output of such a domain is printed a line at a time so that two
//! domains' output never interleaves mid-line and every line carries its
//! `(dN)` prefix. The buffer is fixed (no allocation on the hypercall
//! path) and bounded: a line longer than [`LINE_MAX`] bytes is written out
//! when the buffer is full and goes on on the next serial line (the
//! documented break), so a guest that never sends a newline costs at most
//! one buffer. Only printable ASCII and tabs are kept: NULs, escapes and
//! other control characters are dropped, so a guest cannot drive the
//! serial terminal.

/// Longest line printed whole; a longer one is broken after this many
/// kept bytes.
pub const LINE_MAX: usize = 512;

/// A partial line.
#[derive(Clone, Copy, Debug)]
pub struct LineBuf {
    bytes: [u8; LINE_MAX],
    len: usize,
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuf {
    /// An empty line.
    pub const fn new() -> LineBuf {
        LineBuf { bytes: [0; LINE_MAX], len: 0 }
    }

    /// Bytes waiting for their newline.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes one byte of the domain's output: a newline writes the line
    /// out (without its newline, then `b"\n"`), a full buffer is written
    /// out first, anything else that is not printable is dropped.
    pub fn push(&mut self, b: u8, out: &mut dyn FnMut(&[u8])) {
        if b == b'\n' {
            self.write_out(out);
            return;
        }
        if !((0x20..0x7f).contains(&b) || b == b'\t') {
            return;
        }
        if self.len == LINE_MAX {
            self.write_out(out);
        }
        self.bytes[self.len] = b;
        self.len += 1;
    }

    /// Writes out what is waiting, if anything, as a line of its own (the
    /// domain died, or its line was too long).
    pub fn flush(&mut self, out: &mut dyn FnMut(&[u8])) {
        if self.len > 0 {
            self.write_out(out);
        }
    }

    fn write_out(&mut self, out: &mut dyn FnMut(&[u8])) {
        out(&self.bytes[..self.len]);
        out(b"\n");
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(l: &mut LineBuf, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = vec![Vec::new()];
        for &b in bytes {
            l.push(b, &mut |s| {
                let last = lines.last_mut().unwrap();
                last.extend_from_slice(s);
                if s == b"\n" {
                    lines.push(Vec::new());
                }
            });
        }
        lines.pop();
        lines
    }

    #[test]
    fn a_line_up_to_the_limit_is_written_whole_at_its_newline() {
        let mut l = LineBuf::new();
        let mut text = vec![b'x'; LINE_MAX];
        text.push(b'\n');
        let lines = feed(&mut l, &text);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), LINE_MAX + 1);
        assert!(l.is_empty());
    }

    #[test]
    fn a_line_of_200_characters_is_not_split() {
        let mut l = LineBuf::new();
        let mut text = vec![b'a'; 200];
        text.push(b'\n');
        assert_eq!(feed(&mut l, &text), [text]);
    }

    #[test]
    fn a_longer_line_breaks_after_the_limit_and_goes_on() {
        let mut l = LineBuf::new();
        let mut text = vec![b'y'; LINE_MAX + 10];
        text.push(b'\n');
        let lines = feed(&mut l, &text);
        let lens: Vec<usize> = lines.iter().map(Vec::len).collect();
        assert_eq!(lens, [LINE_MAX + 1, 11]);
    }

    #[test]
    fn no_newline_ever_stays_bounded_and_loses_nothing_printable() {
        let mut l = LineBuf::new();
        let lines = feed(&mut l, &vec![b'z'; 10 * LINE_MAX + 3]);
        assert_eq!(lines.len(), 10);
        assert!(lines.iter().all(|s| s.len() == LINE_MAX + 1));
        assert_eq!(l.len(), 3);
        let mut rest = Vec::new();
        l.flush(&mut |s| rest.extend_from_slice(s));
        assert_eq!(rest, b"zzz\n");
        l.flush(&mut |_| panic!("an empty line is not written"));
    }

    #[test]
    fn nuls_escapes_and_control_characters_are_dropped_tabs_kept() {
        let mut l = LineBuf::new();
        let lines = feed(&mut l, b"a\0b\x1b[2Jc\td\r\x7f\xff\n");
        assert_eq!(lines, [b"ab[2Jc\td\n".to_vec()]);
    }

    #[test]
    fn an_empty_line_is_still_a_line() {
        let mut l = LineBuf::new();
        assert_eq!(feed(&mut l, b"\n\n"), [b"\n".to_vec(), b"\n".to_vec()]);
    }
}
