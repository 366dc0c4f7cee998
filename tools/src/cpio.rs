//! Writing a cpio archive in the "newc" format (magic `070701`), the one
//! Linux unpacks as an initramfs (`Documentation/driver-api/early-userspace/buffer-format.rst`).
//!
//! Each entry is a 110-byte ASCII header (the magic, then thirteen 8-digit
//! hexadecimal fields), the NUL-terminated name padded to a multiple of 4
//! bytes counted from the header's start, then the data padded to 4. The
//! archive ends with an entry named `TRAILER!!!`. Entries are written in
//! order, so a directory must come before what it holds. Owner is root,
//! time 0, one link each: the archive is the same bytes on every build.

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file and its contents.
    File(Vec<u8>),
    /// A symbolic link to the target path.
    Symlink(String),
    /// A character device node (major, minor).
    CharDev(u32, u32),
}

/// One archive member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the archive, without a leading `/` (`bin/sh`).
    pub name: String,
    /// Permission bits (`0o755`); the file type comes from `kind`.
    pub perm: u32,
    /// What it is.
    pub kind: Kind,
}

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// The newc magic.
pub const MAGIC: &[u8; 6] = b"070701";
/// The last entry's name.
pub const TRAILER: &str = "TRAILER!!!";
/// Header length: the magic and thirteen 8-digit fields.
pub const HEADER_LEN: usize = 6 + 13 * 8;

impl Entry {
    /// A directory.
    pub fn dir(name: &str) -> Entry {
        Entry { name: name.into(), perm: 0o755, kind: Kind::Dir }
    }

    /// A regular file.
    pub fn file(name: &str, perm: u32, data: Vec<u8>) -> Entry {
        Entry { name: name.into(), perm, kind: Kind::File(data) }
    }

    /// A symbolic link.
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry { name: name.into(), perm: 0o777, kind: Kind::Symlink(target.into()) }
    }

    /// A character device node.
    pub fn char_dev(name: &str, perm: u32, major: u32, minor: u32) -> Entry {
        Entry { name: name.into(), perm, kind: Kind::CharDev(major, minor) }
    }

    fn mode(&self) -> u32 {
        let ty = match self.kind {
            Kind::Dir => S_IFDIR,
            Kind::File(_) => S_IFREG,
            Kind::Symlink(_) => S_IFLNK,
            Kind::CharDev(..) => S_IFCHR,
        };
        ty | (self.perm & 0o7777)
    }

    fn data(&self) -> &[u8] {
        match &self.kind {
            Kind::File(d) => d,
            Kind::Symlink(t) => t.as_bytes(),
            Kind::Dir | Kind::CharDev(..) => &[],
        }
    }
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Appends one header, name and data (`ino` numbers the entry).
fn push(out: &mut Vec<u8>, ino: u32, mode: u32, rdev: (u32, u32), name: &str, data: &[u8]) {
    debug_assert!(out.len().is_multiple_of(4), "entries start 4-aligned");
    let namesize = name.len() as u32 + 1;
    let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, namesize, 0];
    out.extend_from_slice(MAGIC);
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// The archive of `entries`, in order, with its trailer. Fails on a name
/// that is empty, absolute, holds a NUL, or is too big for the format.
pub fn archive(entries: &[Entry]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.name.is_empty() || e.name.starts_with('/') || e.name.contains('\0') || e.name == TRAILER {
            return Err(format!("cpio: bad entry name {:?}", e.name));
        }
        if u32::try_from(e.data().len()).is_err() {
            return Err(format!("cpio: {} is larger than 4 GiB", e.name));
        }
        let rdev = if let Kind::CharDev(maj, min) = e.kind { (maj, min) } else { (0, 0) };
        // Inode 0 is avoided: some readers treat it as "no inode".
        push(&mut out, i as u32 + 1, e.mode(), rdev, &e.name, e.data());
    }
    push(&mut out, 0, 0, (0, 0), TRAILER, &[]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member as an independent reader sees it.
    #[derive(Debug, PartialEq, Eq)]
    struct Read {
        ino: u32,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        name: String,
        data: Vec<u8>,
    }

    /// Reads a newc archive back by the format's rules, up to its trailer.
    fn read(mut b: &[u8]) -> Vec<Read> {
        let total = b.len();
        let mut out = Vec::new();
        loop {
            let at = total - b.len();
            assert_eq!(at % 4, 0, "header at {at} not 4-aligned");
            assert_eq!(&b[..6], MAGIC, "magic at {at}");
            let f =
                |i: usize| u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap();
            let (namesize, filesize) = (f(11) as usize, f(6) as usize);
            assert_eq!(f(12), 0, "check field");
            let name_end = HEADER_LEN + namesize;
            assert_eq!(b[name_end - 1], 0, "name NUL-terminated");
            let name = String::from_utf8(b[HEADER_LEN..name_end - 1].to_vec()).unwrap();
            let data_at = name_end.next_multiple_of(4);
            assert!(b[name_end..data_at].iter().all(|&x| x == 0), "name padding is zeros");
            let data = b[data_at..data_at + filesize].to_vec();
            let next = (data_at + filesize).next_multiple_of(4);
            assert!(b[data_at + filesize..next].iter().all(|&x| x == 0), "data padding is zeros");
            let entry = Read { ino: f(0), mode: f(1), nlink: f(4), rdev: (f(9), f(10)), name, data };
            b = &b[next..];
            if entry.name == TRAILER {
                assert!(b.is_empty(), "nothing after the trailer");
                return out;
            }
            out.push(entry);
        }
    }

    #[test]
    fn an_empty_archive_is_just_the_trailer() {
        let a = archive(&[]).unwrap();
        assert_eq!(&a[..6], b"070701");
        // 110-byte header + "TRAILER!!!\0" (11) = 121, padded to 124.
        assert_eq!(a.len(), 124);
        assert_eq!(&a[HEADER_LEN..HEADER_LEN + 11], b"TRAILER!!!\0");
        assert!(read(&a).is_empty());
    }

    #[test]
    fn the_header_is_the_magic_and_thirteen_hex_fields_in_order() {
        let a = archive(&[Entry::file("init", 0o755, b"#!/bin/sh\n".to_vec())]).unwrap();
        let header = std::str::from_utf8(&a[..HEADER_LEN]).unwrap();
        // ino 1, mode 0100755, uid 0, gid 0, nlink 1, mtime 0, size 10,
        // dev 0:0, rdev 0:0, namesize 5 ("init\0"), check 0.
        assert_eq!(
            header,
            "070701\
             00000001000081ed000000000000000000000001000000000000000a\
             000000000000000000000000000000000000000500000000"
        );
        // The name ends at 115 and is padded to 116, where the data starts.
        assert_eq!(&a[HEADER_LEN..116], b"init\0\0");
        assert_eq!(&a[116..126], b"#!/bin/sh\n");
    }

    #[test]
    fn every_kind_of_entry_reads_back_with_its_type_permissions_and_contents() {
        let entries = [
            Entry::dir("bin"),
            Entry::file("bin/busybox", 0o755, vec![0x7f, b'E', b'L', b'F', 1, 2, 3]),
            Entry::symlink("bin/sh", "busybox"),
            Entry::dir("dev"),
            Entry::char_dev("dev/console", 0o600, 5, 1),
            Entry::file("empty", 0o644, Vec::new()),
        ];
        let back = read(&archive(&entries).unwrap());
        type Summary<'a> = (&'a str, u32, u32, (u32, u32), &'a [u8]);
        let summary: Vec<Summary> =
            back.iter().map(|r| (r.name.as_str(), r.mode, r.nlink, r.rdev, r.data.as_slice())).collect();
        assert_eq!(
            summary,
            [
                ("bin", 0o040755, 2, (0, 0), &b""[..]),
                ("bin/busybox", 0o100755, 1, (0, 0), &[0x7f, b'E', b'L', b'F', 1, 2, 3][..]),
                ("bin/sh", 0o120777, 1, (0, 0), &b"busybox"[..]),
                ("dev", 0o040755, 2, (0, 0), &b""[..]),
                ("dev/console", 0o020600, 1, (5, 1), &b""[..]),
                ("empty", 0o100644, 1, (0, 0), &b""[..]),
            ]
        );
        let inodes: Vec<u32> = back.iter().map(|r| r.ino).collect();
        assert_eq!(inodes, [1, 2, 3, 4, 5, 6], "distinct non-zero inodes, or Linux hard-links them together");
    }

    #[test]
    fn names_and_data_of_every_length_keep_the_next_header_aligned() {
        for name_len in 1..9 {
            for data_len in 0..9 {
                let name = "n".repeat(name_len);
                let entries = [Entry::file(&name, 0o644, vec![0xaa; data_len]), Entry::dir("d")];
                let back = read(&archive(&entries).unwrap());
                assert_eq!(back.len(), 2);
                assert_eq!((back[0].name.len(), back[0].data.len()), (name_len, data_len));
            }
        }
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "/init", "a\0b", TRAILER] {
            assert!(archive(&[Entry::dir(bad)]).is_err(), "{bad:?}");
        }
    }
}
