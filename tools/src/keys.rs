//! Typing keys on the serial console when a line shows up in the log
//! (`xen-run --keys-on TEXT=KEYS`): a script can ask for a hypervisor debug
//! key at the right moment, e.g. the memory table (`m`) while Linux's
//! balloon holds memory back.

/// Keys to type once `text` has appeared in the serial log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeysOn {
    /// What to wait for.
    pub text: String,
    /// What to type.
    pub keys: Vec<u8>,
    /// Already typed.
    pub sent: bool,
}

impl KeysOn {
    /// Parses `TEXT=KEYS` (split at the last `=`; both parts non-empty).
    pub fn parse(spec: &str) -> Option<KeysOn> {
        let (text, keys) = spec.rsplit_once('=')?;
        (!text.is_empty() && !keys.is_empty()).then(|| KeysOn {
            text: text.to_string(),
            keys: keys.as_bytes().to_vec(),
            sent: false,
        })
    }

    /// The keys to type now, once: when `serial` first holds the text.
    pub fn due(&mut self, serial: &str) -> Option<&[u8]> {
        if self.sent || !serial.contains(&self.text) {
            return None;
        }
        self.sent = true;
        Some(&self.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_splits_at_the_last_equals_sign_and_needs_both_parts() {
        let k = KeysOn::parse("a=b: table=m").unwrap();
        assert_eq!((k.text.as_str(), k.keys.as_slice()), ("a=b: table", &b"m"[..]));
        assert!(KeysOn::parse("no keys=").is_none());
        assert!(KeysOn::parse("=m").is_none());
        assert!(KeysOn::parse("plain").is_none());
    }

    #[test]
    fn keys_are_typed_once_when_the_text_first_appears() {
        let mut k = KeysOn::parse("init: balloon: hypervisor memory table:=m").unwrap();
        assert_eq!(k.due("init: balloon: target"), None);
        assert_eq!(k.due("x\ninit: balloon: hypervisor memory table:\n"), Some(&b"m"[..]));
        assert_eq!(k.due("x\ninit: balloon: hypervisor memory table:\n"), None);
    }
}
