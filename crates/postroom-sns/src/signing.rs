//! Message signatures, as SNS signs its notifications.
//!
//! Postroom creates one RSA key and a self-signed X.509 certificate for it
//! on first use and keeps both in the store, so a restart keeps signing
//! with the same key. The certificate is served at the `SigningCertURL` of
//! every message, so subscribers verify signatures as they would on AWS:
//! SHA1withRSA for `SignatureVersion` 1 and SHA256withRSA for version 2, over
//! the canonical string of the message's fields.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;

/// Store kind and key of the key pair.
pub const KEY_KIND: &str = "sns/signing-key";
pub const KEY_NAME: &str = "default";
/// Path of the certificate on this server.
pub const CERTIFICATE_PATH: &str = "/_postroom/sns/SimpleNotificationService.pem";

/// A signing key with its certificate.
pub struct KeyPair {
    key: RsaPrivateKey,
    pub certificate_pem: String,
}

impl KeyPair {
    /// Creates a new 2048-bit key and its certificate, valid from `now_ms`
    /// for ten years.
    pub fn generate(now_ms: u64) -> Result<Self, String> {
        let mut rng = rand_core_rng();
        let key = RsaPrivateKey::new(&mut rng, 2048).map_err(|error| error.to_string())?;
        Self::from_key(key, now_ms)
    }

    fn from_key(key: RsaPrivateKey, now_ms: u64) -> Result<Self, String> {
        let certificate = certificate_der(&key, now_ms)?;
        Ok(Self { key, certificate_pem: pem("CERTIFICATE", &certificate) })
    }

    /// Encodes the key for the store: PKCS#8 DER, then the certificate PEM.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let der = self.key.to_pkcs8_der().map_err(|error| error.to_string())?;
        let mut bytes = (der.as_bytes().len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(der.as_bytes());
        bytes.extend_from_slice(self.certificate_pem.as_bytes());
        Ok(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let length = u32::from_be_bytes(bytes.get(..4).and_then(|b| b.try_into().ok()).ok_or("the stored key is truncated")?) as usize;
        let der = bytes.get(4..4 + length).ok_or("the stored key is truncated")?;
        let key = RsaPrivateKey::from_pkcs8_der(der).map_err(|error| error.to_string())?;
        let certificate_pem = String::from_utf8(bytes[4 + length..].to_vec()).map_err(|error| error.to_string())?;
        Ok(Self { key, certificate_pem })
    }

    /// Signs the canonical string of a message and returns the base64
    /// signature for `SignatureVersion` 1 (SHA1) or 2 (SHA256).
    pub fn sign(&self, text: &str, version: &str) -> String {
        let signature = if version == "2" {
            SigningKey::<sha2::Sha256>::new(self.key.clone()).sign(text.as_bytes()).to_vec()
        } else {
            SigningKey::<sha1::Sha1>::new(self.key.clone()).sign(text.as_bytes()).to_vec()
        };
        STANDARD.encode(signature)
    }
}

/// Builds the string that SNS signs: each present field's name and value,
/// each on its own line, in the order SNS lists them.
pub fn canonical_string(fields: &[(&str, Option<&str>)]) -> String {
    let mut text = String::new();
    for (name, value) in fields {
        if let Some(value) = value {
            text.push_str(name);
            text.push('\n');
            text.push_str(value);
            text.push('\n');
        }
    }
    text
}

fn rand_core_rng() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

// Minimal DER encoding, enough for one self-signed certificate.

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes: Vec<u8> = length.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// Encodes a non-negative big-endian integer in its minimal DER form.
fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let mut content: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if content.first().is_none_or(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    der(0x02, &content)
}

fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn oid(encoded: &[u8]) -> Vec<u8> {
    der(0x06, encoded)
}

/// sha256WithRSAEncryption, 1.2.840.113549.1.1.11.
const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
/// commonName, 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

fn utc_time(millis: u64) -> Vec<u8> {
    let text = postroom_queue::time::iso8601(millis, false);
    // 2026-12-04T21:00:00Z to 261204210000Z.
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    der(0x17, format!("{}Z", &digits[2..14]).as_bytes())
}

fn certificate_der(key: &RsaPrivateKey, now_ms: u64) -> Result<Vec<u8>, String> {
    let algorithm = sequence(&[oid(SHA256_WITH_RSA), vec![0x05, 0x00]]);
    let name = sequence(&[der(0x31, &sequence(&[oid(COMMON_NAME), der(0x0c, b"sns.postroom.local")]))]);
    let day = 86_400_000;
    let validity = sequence(&[utc_time(now_ms.saturating_sub(day)), utc_time(now_ms + 3650 * day)]);
    let public_key = key.to_public_key().to_public_key_der().map_err(|error| error.to_string())?;
    let serial = der_integer(&(now_ms | 1).to_be_bytes());
    let tbs = sequence(&[der(0xa0, &der_integer(&[2])), serial, algorithm.clone(), name.clone(), validity, name, public_key.as_bytes().to_vec()]);
    let signature = SigningKey::<sha2::Sha256>::new(key.clone()).sign(&tbs).to_vec();
    let mut bit_string = vec![0u8];
    bit_string.extend(signature);
    Ok(sequence(&[tbs, algorithm, der(0x03, &bit_string)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    #[test]
    fn signs_and_round_trips() {
        let signer = KeyPair::generate(1_796_418_000_000).expect("key");
        assert!(signer.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let text = canonical_string(&[("Message", Some("hello")), ("Subject", None), ("Type", Some("Notification"))]);
        assert_eq!(text, "Message\nhello\nType\nNotification\n");
        for version in ["1", "2"] {
            let signature = STANDARD.decode(signer.sign(&text, version)).expect("base64");
            let signature = Signature::try_from(signature.as_slice()).expect("signature");
            let public = signer.key.to_public_key();
            let verified = if version == "2" {
                VerifyingKey::<sha2::Sha256>::new(public).verify(text.as_bytes(), &signature)
            } else {
                VerifyingKey::<sha1::Sha1>::new(public).verify(text.as_bytes(), &signature)
            };
            assert!(verified.is_ok(), "version {version}");
        }
        let restored = KeyPair::from_bytes(&signer.to_bytes().expect("encode")).expect("decode");
        assert_eq!(restored.certificate_pem, signer.certificate_pem);
        assert_eq!(restored.sign(&text, "2"), signer.sign(&text, "2"));
    }
}
