//! Device identities for the simulator: a certificate and the type-5 message that proves it.
//!
//! X30TR: a P-384 key in a self-signed certificate, signature over `asdfg` as hex(r ‖ s).
//! 300TR: an RSA-2048 key, signature = PKCS#1 v1.5 type 1 over the raw SHA-256 of `asdfg`
//! (no DigestInfo), hex of the raw signature — exactly what the host's check expects.

use std::str::FromStr;
use std::time::Duration;

use der::EncodePem;
use p384::ecdsa::signature::{Keypair, Signer};
use p384::ecdsa::{Signature, SigningKey};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    DynSignatureAlgorithmIdentifier, EncodePublicKey, SignatureBitStringEncoding,
    SubjectPublicKeyInfoOwned,
};
use x509_cert::time::Validity;

use okclink_wire::cert::CHALLENGE;
use okclink_wire::DeviceModel;

/// A certificate message (type-5 payload) plus what it says.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    pub model: DeviceModel,
    /// The certificate in PEM.
    pub certificate_pem: String,
    /// The type-5 payload `{"certificate":…,"sign":…}`.
    pub message: Vec<u8>,
}

fn subject(serial: &str) -> Result<Name, String> {
    Name::from_str(&format!("2.5.4.5={serial},O=TOKEN SIMULATOR,C=TR")).map_err(|e| e.to_string())
}

fn message(pem: &str, sign_hex: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "certificate": pem, "sign": sign_hex }))
        .expect("serialising two strings cannot fail")
}

/// A self-signed 10-year certificate for `spki` with fiscal serial `serial`, signed by
/// `signer` with signature type `Sig`, in PEM.
fn certificate_pem<S, Sig>(
    signer: &S,
    spki: SubjectPublicKeyInfoOwned,
    serial: &str,
) -> Result<String, String>
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>,
    S::VerifyingKey: EncodePublicKey,
    Sig: SignatureBitStringEncoding,
{
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(rand_serial()),
        Validity::from_now(Duration::from_secs(10 * 365 * 86400)).map_err(|e| e.to_string())?,
        subject(serial)?,
        spki,
        signer,
    )
    .map_err(|e| e.to_string())?;
    let cert = builder.build::<Sig>().map_err(|e| e.to_string())?;
    cert.to_pem(der::pem::LineEnding::LF)
        .map_err(|e| e.to_string())
}

impl DeviceIdentity {
    /// Generate a fresh identity for `model` with fiscal serial `serial`.
    pub fn generate(model: DeviceModel, serial: &str) -> Result<Self, String> {
        match model {
            DeviceModel::X30tr => Self::generate_x30tr(serial),
            DeviceModel::T300tr => Self::generate_300tr(serial),
        }
    }

    /// P-384 identity (X30TR).
    pub fn generate_x30tr(serial: &str) -> Result<Self, String> {
        let key = SigningKey::random(&mut OsRng);
        let spki =
            SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(|e| e.to_string())?;
        let pem = certificate_pem::<_, p384::ecdsa::DerSignature>(&key, spki, serial)?;
        let sig: Signature = key.sign(CHALLENGE);
        Ok(DeviceIdentity {
            model: DeviceModel::X30tr,
            message: message(&pem, &hex::encode(sig.to_bytes())),
            certificate_pem: pem,
        })
    }

    /// RSA-2048 identity (300TR).
    pub fn generate_300tr(serial: &str) -> Result<Self, String> {
        let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(|e| e.to_string())?;
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
        let spki =
            SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(|e| e.to_string())?;
        let pem = certificate_pem::<_, rsa::pkcs1v15::Signature>(&signer, spki, serial)?;
        let digest = Sha256::digest(CHALLENGE);
        let sig = key
            .sign(rsa::Pkcs1v15Sign::new_unprefixed(), &digest)
            .map_err(|e| e.to_string())?;
        Ok(DeviceIdentity {
            model: DeviceModel::T300tr,
            message: message(&pem, &hex::encode(sig)),
            certificate_pem: pem,
        })
    }

    /// An identity from a type-5 payload (e.g. a real device's, which verifies forever since
    /// it signs a constant). Reading it from a file is the caller's job (`okc sim
    /// --cert-message FILE`).
    pub fn from_message(model: DeviceModel, message: Vec<u8>) -> Result<Self, String> {
        let (pem, _) = okclink_wire::cert::parse_message(&message).map_err(|e| e.to_string())?;
        Ok(DeviceIdentity {
            model,
            certificate_pem: pem,
            message,
        })
    }

    /// The same identity with a corrupted signature (fault injection: bad certificate).
    pub fn tampered(&self) -> Self {
        let mut v: serde_json::Value =
            serde_json::from_slice(&self.message).expect("own message is JSON");
        let s = v["sign"].as_str().unwrap_or_default().to_string();
        let mut b = hex::decode(&s).unwrap_or_default();
        if let Some(x) = b.last_mut() {
            *x ^= 0x5a;
        }
        v["sign"] = serde_json::Value::String(hex::encode(b));
        DeviceIdentity {
            model: self.model,
            certificate_pem: self.certificate_pem.clone(),
            message: serde_json::to_vec(&v).expect("JSON"),
        }
    }
}

/// The type-5 payload of the real X30TR `AV0000017893` (Tria log 2026-04-08). Its signature
/// covers the constant challenge, so it verifies forever.
pub const REAL_X30TR_MESSAGE: &[u8] = include_bytes!("data/real-cert-x30tr.json");
/// The type-5 payload of the real 300TR `AT0000531911` (Tria log 2026-04-09), RSA.
pub const REAL_300TR_MESSAGE: &[u8] = include_bytes!("data/real-cert-300tr.json");

impl DeviceIdentity {
    /// The certificate message a real device of `model` sent (see the constants above).
    pub fn real(model: DeviceModel) -> Self {
        let message = match model {
            DeviceModel::X30tr => REAL_X30TR_MESSAGE,
            DeviceModel::T300tr => REAL_300TR_MESSAGE,
        };
        let (pem, _) =
            okclink_wire::cert::parse_message(message).expect("embedded real certificate");
        DeviceIdentity {
            model,
            certificate_pem: pem,
            message: message.to_vec(),
        }
    }
}

/// Identities generated by [`DeviceIdentity::cached`], per model and serial.
static CACHE: once_cell::sync::Lazy<
    parking_lot::Mutex<std::collections::HashMap<(DeviceModel, String), DeviceIdentity>>,
> = once_cell::sync::Lazy::new(Default::default);

impl DeviceIdentity {
    /// A generated identity, the same one for every call with this model and serial in
    /// this process (RSA-2048 generation takes a noticeable time in debug builds).
    pub fn cached(model: DeviceModel, serial: &str) -> Result<Self, String> {
        let key = (model, serial.to_string());
        if let Some(i) = CACHE.lock().get(&key) {
            return Ok(i.clone());
        }
        let id = Self::generate(model, serial)?;
        Ok(CACHE.lock().entry(key).or_insert(id).clone())
    }
}

fn rand_serial() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("OS random source");
    u64::from_be_bytes(b) >> 2 | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use okclink_wire::cert::{verify_message, CertPolicy};

    #[test]
    fn generated_identities_verify_and_tampered_do_not() {
        for (model, serial) in [
            (DeviceModel::X30tr, "AV0000000001"),
            (DeviceModel::T300tr, "AT0000000001"),
        ] {
            let id = DeviceIdentity::generate(model, serial).unwrap();
            let info = verify_message(&id.message, model, &CertPolicy::Vendor).unwrap();
            assert_eq!(info.subject_serial.as_deref(), Some(serial));
            assert!(verify_message(&id.tampered().message, model, &CertPolicy::Vendor).is_err());
        }
    }

    #[test]
    fn the_real_devices_certificates_verify() {
        let x = verify_message(
            &DeviceIdentity::real(DeviceModel::X30tr).message,
            DeviceModel::X30tr,
            &CertPolicy::Vendor,
        )
        .unwrap();
        assert!(x.subject.contains("AV0000017893") || x.subject_serial.is_some());
        let t = DeviceIdentity::real(DeviceModel::T300tr);
        verify_message(&t.message, DeviceModel::T300tr, &CertPolicy::Vendor).unwrap();
        assert!(verify_message(
            &t.tampered().message,
            DeviceModel::T300tr,
            &CertPolicy::Vendor
        )
        .is_err());
    }
}
