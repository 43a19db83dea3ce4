//! Device certificate checks (WIRE.md §6.2, §6.3).
//!
//! The device proves itself by signing the constant `asdfg` with the key of the X.509
//! certificate it sends. X30TR: ECDSA P-384 / SHA-384, signature = hex(r ‖ s).
//! 300TR: RSA public-key operation on the raw signature, PKCS#1 block type 1 or 2, the first
//! 32 bytes of the data = SHA-256("asdfg") (no DigestInfo).
//!
//! [`CertPolicy::Vendor`] accepts exactly what the vendor accepts (so real devices connect):
//! no chain, date or subject check. [`CertPolicy::Strict`] adds a pinned CA bundle, the
//! validity period and (checked by the session once the device reports it) serial match.

use der::{Decode, DecodePem, Encode};
use p384::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_cert::Certificate;

use crate::DeviceModel;

/// The signed challenge (the vendor's global `verification_message`).
pub const CHALLENGE: &[u8] = b"asdfg";

/// OID of the subject attribute serialNumber (2.5.4.5) that carries the fiscal serial.
const OID_SERIAL_NUMBER: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.4.5");
/// ecdsa-with-SHA384.
const OID_ECDSA_SHA384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// How strictly to check device certificates.
#[derive(Debug, Clone, Default)]
pub enum CertPolicy {
    /// What the vendor accepts: only "the certificate's own key signed `asdfg`".
    #[default]
    Vendor,
    /// Vendor check plus: issued (ECDSA P-384/SHA-384) by one of `cas`, inside its validity
    /// period at verification time, and (enforced by the host session) subject serial equal
    /// to the serial the device reports.
    Strict { cas: Vec<Certificate> },
}

impl CertPolicy {
    /// A strict policy from a PEM bundle of CA certificates.
    pub fn strict_from_pem(bundle: &[u8]) -> Result<CertPolicy, CertError> {
        let cas = Certificate::load_pem_chain(bundle)
            .map_err(|e| CertError::BadCertificate(e.to_string()))?;
        if cas.is_empty() {
            return Err(CertError::BadCertificate("empty CA bundle".into()));
        }
        Ok(CertPolicy::Strict { cas })
    }

    pub fn is_strict(&self) -> bool {
        matches!(self, CertPolicy::Strict { .. })
    }
}

/// Why a certificate message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    /// The JSON lacks string members `certificate` and `sign` (vendor: "ERROR PARSING").
    Parsing(String),
    BadCertificate(String),
    /// `sign` is not valid hex of the right size.
    BadSignatureEncoding,
    UnsupportedKey(String),
    /// The signature does not verify.
    SignatureInvalid,
    /// Strict policy: not issued by a pinned CA.
    Untrusted,
    /// Strict policy: outside its validity period.
    Expired,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Parsing(e) => write!(f, "ERROR PARSING certificate message: {e}"),
            CertError::BadCertificate(e) => write!(f, "certificate cannot be read: {e}"),
            CertError::BadSignatureEncoding => write!(f, "signature is not valid hex"),
            CertError::UnsupportedKey(e) => write!(f, "unsupported certificate key: {e}"),
            CertError::SignatureInvalid => write!(f, "Certificate Verification Failed"),
            CertError::Untrusted => write!(f, "certificate is not issued by a pinned CA"),
            CertError::Expired => write!(f, "certificate is outside its validity period"),
        }
    }
}

impl std::error::Error for CertError {}

/// What a verified certificate says (logged, and used for the strict serial check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Subject serialNumber attribute (fiscal serial, e.g. `AV0000000507`), if present.
    pub subject_serial: Option<String>,
    /// Certificate serial number, hex.
    pub serial_hex: String,
    /// Validity, seconds since the Unix epoch.
    pub not_before: u64,
    pub not_after: u64,
}

#[derive(Deserialize)]
struct CertMessage {
    certificate: String,
    sign: String,
}

/// Parse the type-5 JSON: `(PEM text, signature bytes)`.
pub fn parse_message(json: &[u8]) -> Result<(String, Vec<u8>), CertError> {
    let m: CertMessage =
        serde_json::from_slice(json).map_err(|e| CertError::Parsing(e.to_string()))?;
    let sig = hex::decode(m.sign.trim()).map_err(|_| CertError::BadSignatureEncoding)?;
    Ok((m.certificate, sig))
}

/// Verify a type-5 certificate message for `model` under `policy`.
pub fn verify_message(
    json: &[u8],
    model: DeviceModel,
    policy: &CertPolicy,
) -> Result<CertInfo, CertError> {
    let (pem, sig) = parse_message(json)?;
    let cert = Certificate::from_pem(pem.as_bytes())
        .map_err(|e| CertError::BadCertificate(e.to_string()))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CertError::UnsupportedKey("unaligned key bits".into()))?;
    match model {
        DeviceModel::X30tr => verify_ecdsa_p384(key_bytes, &sig)?,
        DeviceModel::T300tr => {
            let der = spki
                .to_der()
                .map_err(|e| CertError::BadCertificate(e.to_string()))?;
            verify_rsa_raw(&der, &sig)?
        }
    }
    let info = cert_info(&cert);
    if let CertPolicy::Strict { cas } = policy {
        check_strict(&cert, &info, cas, SystemTime::now())?;
    }
    Ok(info)
}

/// X30TR: ECDSA P-384 over SHA-384(`asdfg`), signature r ‖ s (each half left-padded to 48).
pub fn verify_ecdsa_p384(sec1_key: &[u8], sig: &[u8]) -> Result<(), CertError> {
    let key = VerifyingKey::from_sec1_bytes(sec1_key)
        .map_err(|_| CertError::UnsupportedKey("not a P-384 public key".into()))?;
    let sig = p1363_signature(sig)?;
    key.verify(CHALLENGE, &sig)
        .map_err(|_| CertError::SignatureInvalid)
}

fn p1363_signature(sig: &[u8]) -> Result<Signature, CertError> {
    if sig.is_empty() || sig.len() % 2 != 0 || sig.len() > 96 {
        return Err(CertError::BadSignatureEncoding);
    }
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut fixed = [0u8; 96];
    fixed[48 - r.len()..48].copy_from_slice(r);
    fixed[96 - s.len()..].copy_from_slice(s);
    Signature::from_slice(&fixed).map_err(|_| CertError::SignatureInvalid)
}

/// 300TR: raw RSA public operation, PKCS#1 type 01/02 padding stripped, the first 32 bytes of
/// the data must equal SHA-256(`asdfg`).
pub fn verify_rsa_raw(spki_der: &[u8], sig: &[u8]) -> Result<(), CertError> {
    use rsa::pkcs8::DecodePublicKey;
    let key = rsa::RsaPublicKey::from_public_key_der(spki_der)
        .map_err(|_| CertError::UnsupportedKey("not an RSA public key".into()))?;
    let k = key.size();
    if sig.is_empty() || sig.len() > k {
        return Err(CertError::BadSignatureEncoding);
    }
    let s = rsa::BigUint::from_bytes_be(sig);
    if &s >= key.n() {
        return Err(CertError::SignatureInvalid);
    }
    let m = rsa::hazmat::rsa_encrypt(&key, &s).map_err(|_| CertError::SignatureInvalid)?;
    let mb = m.to_bytes_be();
    if mb.len() > k {
        return Err(CertError::SignatureInvalid);
    }
    let mut em = vec![0u8; k];
    em[k - mb.len()..].copy_from_slice(&mb);
    // 00 01|02 <padding> 00 <data>
    if em.len() < 11 || em[0] != 0 || (em[1] != 1 && em[1] != 2) {
        return Err(CertError::SignatureInvalid);
    }
    let sep = em[2..]
        .iter()
        .position(|&b| b == 0)
        .ok_or(CertError::SignatureInvalid)?;
    let data = &em[2 + sep + 1..];
    let digest = Sha256::digest(CHALLENGE);
    if data.len() >= 32 && data[..32] == digest[..] {
        Ok(())
    } else {
        Err(CertError::SignatureInvalid)
    }
}

fn unix(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// Human-readable facts of a certificate.
pub fn cert_info(cert: &Certificate) -> CertInfo {
    let tbs = &cert.tbs_certificate;
    let mut subject_serial = None;
    for rdn in tbs.subject.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == OID_SERIAL_NUMBER {
                if let Ok(s) = der::asn1::PrintableStringRef::try_from(&atv.value) {
                    subject_serial = Some(s.as_str().to_string());
                } else if let Ok(s) = der::asn1::Utf8StringRef::try_from(&atv.value) {
                    subject_serial = Some(s.as_str().to_string());
                }
            }
        }
    }
    CertInfo {
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        subject_serial,
        serial_hex: hex::encode(tbs.serial_number.as_bytes()),
        not_before: unix(&tbs.validity.not_before),
        not_after: unix(&tbs.validity.not_after),
    }
}

fn check_strict(
    cert: &Certificate,
    info: &CertInfo,
    cas: &[Certificate],
    now: SystemTime,
) -> Result<(), CertError> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now < info.not_before || now > info.not_after {
        return Err(CertError::Expired);
    }
    if cert.signature_algorithm.oid != OID_ECDSA_SHA384 {
        return Err(CertError::Untrusted);
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| CertError::BadCertificate(e.to_string()))?;
    let sig_der = cert.signature.as_bytes().ok_or(CertError::Untrusted)?;
    let sig = p384::ecdsa::DerSignature::from_bytes(sig_der).map_err(|_| CertError::Untrusted)?;
    for ca in cas {
        if ca.tbs_certificate.subject != cert.tbs_certificate.issuer {
            continue;
        }
        let Some(k) = ca
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .as_bytes()
        else {
            continue;
        };
        if let Ok(vk) = VerifyingKey::from_sec1_bytes(k) {
            if vk.verify(&tbs, &sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err(CertError::Untrusted)
}

/// Parse a DER certificate (helper for tools and tests).
pub fn certificate_from_der(der: &[u8]) -> Result<Certificate, CertError> {
    Certificate::from_der(der).map_err(|e| CertError::BadCertificate(e.to_string()))
}
