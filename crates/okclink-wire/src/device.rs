//! The device (ÖKC) side of the protocol: the engine the simulator is built on.
//!
//! It answers the handshake by itself (certificate, hello "OK", key share "OK", device
//! info) and hands every application request (fiscal info, basket, payment, ACK, sale-info
//! "OK", errors) to its owner as a [`DeviceEvent::Request`]; the owner answers with
//! [`DeviceSession::send`].

use std::collections::VecDeque;

use super::message::{accept_usb, build_message, tag, Tlv, TAG_END, TAG_START};
use super::pipeline::{Key, DEFAULT_MAX_PLAINTEXT};
use super::session::{Level, HELLO, OK};
use crate::DeviceModel;

/// Device behaviour switches.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub model: DeviceModel,
    /// Fiscal serial (`AV…` X30TR, `AT…` 300TR), the device-info answer.
    pub serial: String,
    /// The type-5 payload: `{"certificate": PEM, "sign": hex}`.
    pub certificate_message: Vec<u8>,
    /// Whether the device answers the Hello with a type-4 "OK" (X30TR yes, 300TR no; §16.1).
    pub hello_ok: bool,
    /// Whether the device follows data answers with a separate "OK" of the same type
    /// (X30TR yes, 300TR no; §16.1).
    pub trailing_ok: bool,
    /// Fault: send the hello "OK" only after the key share arrived (the WIRE §6.1 race).
    pub hello_ok_after_keyshare: bool,
    pub max_plaintext: usize,
}

impl DeviceConfig {
    pub fn new(model: DeviceModel, serial: &str, certificate_message: Vec<u8>) -> Self {
        let x30 = model == DeviceModel::X30tr;
        DeviceConfig {
            model,
            serial: serial.to_string(),
            certificate_message,
            hello_ok: x30,
            trailing_ok: x30,
            hello_ok_after_keyshare: false,
            max_plaintext: DEFAULT_MAX_PLAINTEXT,
        }
    }
}

/// What the device session produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// Write this whole message to the host.
    Send(Vec<u8>),
    /// The host completed the key share; application traffic follows.
    Connected,
    /// An application request (or an "OK" acknowledgement) from the host.
    Request(u16, Vec<u8>),
    /// The host disconnected (type 7, already answered).
    Disconnected,
    Log(Level, String),
}

/// The device's view of the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePhase {
    Idle,
    /// Hello answered, waiting for the key share.
    AwaitKey,
    Connected,
}

pub struct DeviceSession {
    cfg: DeviceConfig,
    key: Key,
    phase: DevicePhase,
    out: VecDeque<DeviceEvent>,
    hello_ok_pending: bool,
}

impl DeviceSession {
    pub fn new(cfg: DeviceConfig) -> Self {
        DeviceSession {
            cfg,
            key: Key::DEFAULT,
            phase: DevicePhase::Idle,
            out: VecDeque::new(),
            hello_ok_pending: false,
        }
    }

    pub fn phase(&self) -> DevicePhase {
        self.phase
    }
    pub fn key(&self) -> &Key {
        &self.key
    }
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }
    pub fn config_mut(&mut self) -> &mut DeviceConfig {
        &mut self.cfg
    }

    pub fn poll_event(&mut self) -> Option<DeviceEvent> {
        self.out.pop_front()
    }

    fn log(&mut self, level: Level, msg: impl Into<String>) {
        self.out.push_back(DeviceEvent::Log(level, msg.into()));
    }

    /// Send `payload` as message type `t` under the current key.
    pub fn send(&mut self, t: u16, payload: &[u8]) {
        let m = build_message(&self.key, t, payload);
        self.out.push_back(DeviceEvent::Send(m));
    }

    /// Send a data answer, followed by the device's "OK" of the same type where the model does.
    pub fn answer(&mut self, t: u16, payload: &[u8]) {
        self.send(t, payload);
        if self.cfg.trailing_ok {
            self.send(t, OK);
        }
    }

    /// Forget the session key and ask the host to redo the handshake (type 8, sent under
    /// the default key: the host resets its key before decoding a RECONNECT, WIRE §4.3).
    pub fn request_reconnect(&mut self) {
        self.key = Key::DEFAULT;
        self.phase = DevicePhase::Idle;
        self.send(tag::RECONNECT, b"");
    }

    /// Forget the session (the link dropped).
    pub fn reset(&mut self) {
        self.key = Key::DEFAULT;
        self.phase = DevicePhase::Idle;
        self.hello_ok_pending = false;
    }

    /// A whole message from the host.
    pub fn on_message(&mut self, bytes: &[u8]) {
        let limit = self.cfg.max_plaintext;
        let tlvs = match accept_usb(&self.key, bytes, limit) {
            Ok(t) => t,
            Err(rej) => {
                // A host that restarted speaks the default key again (new Hello).
                match (!self.key.is_default())
                    .then(|| accept_usb(&Key::DEFAULT, bytes, limit).ok())
                    .flatten()
                {
                    Some(t) if t.iter().any(|t| t.tag == tag::HELLO) => {
                        self.log(Level::Info, "hello under the default key: session reset");
                        self.reset();
                        t
                    }
                    _ => {
                        self.log(
                            Level::Warn,
                            format!("undecodable host message: {}", rej.text),
                        );
                        self.out.push_back(DeviceEvent::Request(
                            tag::ERROR,
                            rej.text.as_bytes().to_vec(),
                        ));
                        return;
                    }
                }
            }
        };
        for t in tlvs {
            self.dispatch(t);
        }
    }

    fn dispatch(&mut self, t: Tlv) {
        match t.tag {
            TAG_START | TAG_END => {}
            tag::HELLO if t.value == HELLO => {
                self.key = Key::DEFAULT;
                self.phase = DevicePhase::AwaitKey;
                let cert = self.cfg.certificate_message.clone();
                self.send(tag::CERTIFICATE, &cert);
                if self.cfg.hello_ok {
                    if self.cfg.hello_ok_after_keyshare {
                        self.hello_ok_pending = true;
                    } else {
                        self.send(tag::HELLO, OK);
                    }
                }
            }
            tag::SHARE_KEY => match Key::from_ascii(&t.value) {
                Some(k) if k.is_digits() => {
                    if self.hello_ok_pending {
                        // The race: our hello "OK" under the default key overtakes nothing
                        // and reaches the host after it switched keys.
                        self.hello_ok_pending = false;
                        self.send(tag::HELLO, OK);
                    }
                    self.key = k;
                    self.phase = DevicePhase::Connected;
                    self.send(tag::SHARE_KEY, OK);
                    self.out.push_back(DeviceEvent::Connected);
                }
                _ => self.log(Level::Error, "key share is not 32 ASCII digits"),
            },
            tag::DEVICE_INFO if self.phase == DevicePhase::Connected => {
                let serial = self.cfg.serial.clone().into_bytes();
                self.out
                    .push_back(DeviceEvent::Request(tag::DEVICE_INFO, t.value));
                self.answer(tag::DEVICE_INFO, &serial);
            }
            tag::DISCONNECT => {
                self.send(tag::DISCONNECT, OK);
                self.reset();
                self.out.push_back(DeviceEvent::Disconnected);
            }
            _ if self.phase != DevicePhase::Connected => {
                self.log(
                    Level::Warn,
                    format!("type {} before the key share ignored", t.tag),
                );
            }
            other => self.out.push_back(DeviceEvent::Request(other, t.value)),
        }
    }
}
