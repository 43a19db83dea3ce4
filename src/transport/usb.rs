//! USB Android Open Accessory transport for the X30TR (WIRE.md §8), on `rusb` (the system
//! libusb-1.0, linked dynamically through pkg-config; `vendored-libusb` is opt-in).
//!
//! What the vendor does, and what this connector does instead:
//! - The vendor sends AOA requests to *every* USB device (hubs, keyboards). We probe only
//!   candidates: a VID allow-list (default `18D1`), or every non-hub device when
//!   [`UsbConfig::probe_all`] is set. A device that stalls or refuses `GET_PROTOCOL` is
//!   remembered and left alone until it re-enumerates.
//! - The vendor sleeps 1 s after `GET_PROTOCOL` and then up to 4 × 1 s for re-enumeration.
//!   We send the six strings at once and poll every 50 ms for up to 5 s (both configurable).
//!   A device that never re-enumerates is backed off (1 s, doubling up to 30 s).
//! - Hot-plug: libusb hot-plug callbacks where the platform has them (an event thread: its
//!   "arrived" events end the re-enumeration wait early, its "left" events end open links),
//!   re-scans every 250 ms everywhere (cheap with hot-plug: libusb keeps the device list up
//!   to date, nothing is read from the bus). An unplug ends the pending bulk IN at once
//!   (the kernel kills the URB: `LIBUSB_TRANSFER_NO_DEVICE`); the hot-plug "left" event
//!   also ends the link.
//! - Bulk IN: one asynchronous 16 KiB transfer is kept submitted while the link is open
//!   (`crate::ffi::libusb_async`); its completion (run by the event thread) queues the bytes
//!   and resubmits it, and the reader waits on a condition variable: an idle link makes no
//!   libusb call at all, only the event thread's one `libusb_handle_events_timeout_completed`
//!   every [`EVENT_WAIT`]. A message split across transfers is re-assembled by its TLV length
//!   fields ([`MessageSplitter`]) instead of being rejected. Closing the link cancels the
//!   transfer and waits for libusb to give it back before the interface is released.
//! - Every libusb call the transport makes is counted ([`UsbConnector::libusb_calls`]).
//! - Bulk OUT: the whole message, a timeout per attempt and 3 retries; a partial write
//!   continues with the remaining bytes instead of re-sending the start.
//!   Messages are always `56 + 16·k` bytes, never a multiple of the 512-byte packet size, so
//!   no zero-length packet is ever needed.
//! - `LIBUSB_ERROR_NO_DEVICE` or a pipe error (stall) ends the session: [`LinkError::Gone`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusb::{Context, Device, DeviceHandle, Direction, TransferType, UsbContext};

use super::{Connector, DeviceModel, Incoming, Link, LinkError, LinkReader, LinkWriter};
use crate::ffi::libusb_async::{BulkIn, InWait, InWaker};
use crate::proto::stream::MessageSplitter;

/// Google's vendor id: phones before the switch and every accessory-mode device.
pub const GOOGLE_VID: u16 = 0x18D1;
/// Accessory mode.
pub const AOA_PID: u16 = 0x2D00;
/// Accessory mode + ADB.
pub const AOA_ADB_PID: u16 = 0x2D01;

/// `ACCESSORY_GET_PROTOCOL` (IN, 2 bytes, little-endian version).
pub const REQ_GET_PROTOCOL: u8 = 51;
/// `ACCESSORY_SEND_STRING` (OUT, NUL-terminated string, wIndex = string id).
pub const REQ_SEND_STRING: u8 = 52;
/// `ACCESSORY_START` (OUT, no data).
pub const REQ_START: u8 = 53;

const REQTYPE_VENDOR_IN: u8 = 0xC0;
const REQTYPE_VENDOR_OUT: u8 = 0x40;
const CLASS_HUB: u8 = 0x09;
/// First retry delay after an accessory failed to open (doubles up to `backoff_max`).
const ACCESSORY_RETRY: Duration = Duration::from_millis(100);
/// Longest wait of one `libusb_handle_events_timeout_completed` on the event thread. Work
/// (completions, hot-plug, transfer timeouts) and shutdown (`libusb_interrupt_event_handler`)
/// wake it earlier, so this only sets the idle cost: one libusb call per 2 s.
pub const EVENT_WAIT: Duration = Duration::from_secs(2);
/// How long closing a link waits for libusb to hand back the cancelled bulk IN.
const CANCEL_WAIT: Duration = Duration::from_secs(1);

/// The six AOA identification strings (WIRE.md §8.2), in string-id order 0..5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AoaStrings {
    pub manufacturer: String,
    pub model: String,
    pub description: String,
    pub version: String,
    pub uri: String,
    pub serial: String,
}

impl Default for AoaStrings {
    /// The vendor's values: the X30TR's accessory app filters on them.
    fn default() -> Self {
        AoaStrings {
            manufacturer: "PCHost".into(),
            model: "PCHost1".into(),
            description: "Integration Hub".into(),
            version: "2.5.0.1".into(),
            uri: "https://developer.tokeninc.com/token-developer-portal-1/x-platform/integration-via-cable/gelistirici-dokumani".into(),
            serial: "666".into(),
        }
    }
}

impl AoaStrings {
    /// The strings in `wIndex` order.
    pub fn in_order(&self) -> [&str; 6] {
        [
            &self.manufacturer,
            &self.model,
            &self.description,
            &self.version,
            &self.uri,
            &self.serial,
        ]
    }
}

/// Everything the USB connector does is configurable here; `Default` is the normal setup.
#[derive(Debug, Clone)]
pub struct UsbConfig {
    /// Vendor ids of devices that may be switched to accessory mode (default: `[0x18D1]`).
    pub vendor_ids: Vec<u16>,
    /// Probe every device that is not a hub (the vendor's behaviour), ignoring `vendor_ids`.
    pub probe_all: bool,
    /// Identification strings.
    pub strings: AoaStrings,
    /// Also send `GET_PROTOCOL` + the strings to a device already in accessory mode (the vendor
    /// does; it is redundant because the device keeps the strings of the switch).
    pub identify_accessory: bool,
    /// Timeout of `GET_PROTOCOL` (vendor 100 ms).
    pub get_protocol_timeout: Duration,
    /// Timeout of each `SEND_STRING` and of `START` (vendor: infinite).
    pub control_timeout: Duration,
    /// How long to wait for the accessory to appear after `START` (default 5 s).
    pub reenumeration_timeout: Duration,
    /// How often to look for it meanwhile (default 50 ms).
    pub reenumeration_poll: Duration,
    /// Bulk IN buffer (default 16 KiB; the vendor uses 15000 bytes).
    pub read_buffer: usize,
    /// Unused since the bulk IN is asynchronous (it waits in the kernel, and `recv` waits
    /// on its completion); kept so existing configurations still compile.
    pub read_slice: Duration,
    /// Timeout of one bulk OUT attempt (vendor 15 s; default 3 s).
    pub write_timeout: Duration,
    /// Retries after a failed bulk OUT attempt (default 3, as the vendor).
    pub write_retries: u32,
    /// Largest message accepted from the device when re-assembling (default 1 MiB).
    pub max_message: usize,
    /// Use libusb hot-plug callbacks when the platform supports them (default true).
    pub hotplug: bool,
    /// Re-scan interval of the discovery loop (default 250 ms).
    pub poll_interval: Duration,
    /// With hot-plug, how long one `connect` that found nothing keeps waiting for an arrival
    /// (within its budget) before returning to the discovery loop. Default 0: return at once
    /// and let the discovery loop call again after `poll_interval` (a re-scan with hot-plug
    /// only copies libusb's device list), so the loop can serve other transports and stop
    /// promptly.
    pub arrival_wait: Duration,
    /// First back-off for a device that failed to switch or to open (doubles each time).
    pub backoff_initial: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
}

impl Default for UsbConfig {
    fn default() -> Self {
        UsbConfig {
            vendor_ids: vec![GOOGLE_VID],
            probe_all: false,
            strings: AoaStrings::default(),
            identify_accessory: false,
            get_protocol_timeout: Duration::from_millis(100),
            control_timeout: Duration::from_millis(1000),
            reenumeration_timeout: Duration::from_secs(5),
            reenumeration_poll: Duration::from_millis(50),
            read_buffer: 16 * 1024,
            read_slice: Duration::from_millis(250),
            write_timeout: Duration::from_secs(3),
            write_retries: 3,
            max_message: 1 << 20,
            hotplug: true,
            poll_interval: Duration::from_millis(250),
            arrival_wait: Duration::ZERO,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Identity of one enumeration of a device: a re-enumerated device gets a new address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DevKey {
    bus: u8,
    address: u8,
    vid: u16,
    pid: u16,
}

impl DevKey {
    fn of(dev: &Device<Context>) -> Option<DevKey> {
        let d = dev.device_descriptor().ok()?;
        Some(DevKey {
            bus: dev.bus_number(),
            address: dev.address(),
            vid: d.vendor_id(),
            pid: d.product_id(),
        })
    }

    fn is_accessory(&self) -> bool {
        self.vid == GOOGLE_VID && (self.pid == AOA_PID || self.pid == AOA_ADB_PID)
    }
}

impl std::fmt::Display for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04x}:{:04x} bus {} addr {}",
            self.vid, self.pid, self.bus, self.address
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    until: Instant,
    next: Duration,
}

/// Why a candidate was not switched.
enum Probe {
    /// `START` was sent; the device should re-enumerate as an accessory.
    Switched,
    /// Not an AOA device (stalled or refused `GET_PROTOCOL`, bad version): leave it alone.
    NotAoa,
    /// Could not talk to it right now (open failed, gone, transfer error): back off.
    Failed(String),
}

#[derive(Default)]
struct ProbeState {
    backoff: HashMap<DevKey, Backoff>,
    not_aoa: HashSet<DevKey>,
    /// When `START` was last sent and the accessory has not been opened since: the next
    /// `connect` keeps waiting for it (50 ms polls / arrival events) instead of returning.
    pending_switch: Option<Instant>,
}

/// Shared between the connector, the hot-plug callback and the open links.
struct Watch {
    /// Open links, so a "device left" event can mark them gone. Only their flags: the
    /// event thread must never hold (and so possibly drop) a link itself.
    links: Mutex<Vec<(DevKey, Weak<LinkFlags>)>>,
    /// Bumped on every arrival; discovery waits on it instead of sleeping.
    arrivals: Mutex<u64>,
    arrived: Condvar,
}

impl Watch {
    fn new() -> Self {
        Watch {
            links: Mutex::new(Vec::new()),
            arrivals: Mutex::new(0),
            arrived: Condvar::new(),
        }
    }

    fn generation(&self) -> u64 {
        *lock(&self.arrivals)
    }

    /// Wait until the arrival counter moves past `seen` or `until` passes.
    fn wait_arrival(&self, seen: u64, until: Instant) {
        let mut g = lock(&self.arrivals);
        while *g == seen {
            let now = Instant::now();
            if now >= until {
                return;
            }
            g = match self.arrived.wait_timeout(g, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    fn device_left(&self, key: DevKey) {
        let mut links = lock(&self.links);
        links.retain(|(k, w)| match w.upgrade() {
            Some(flags) => {
                if *k == key {
                    flags.gone.store(true, Ordering::SeqCst);
                    flags.waker.wake();
                }
                true
            }
            None => false,
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct HotplugCallback {
    watch: Arc<Watch>,
}

impl rusb::Hotplug<Context> for HotplugCallback {
    fn device_arrived(&mut self, _device: Device<Context>) {
        let mut g = lock(&self.watch.arrivals);
        *g = g.wrapping_add(1);
        self.watch.arrived.notify_all();
    }

    fn device_left(&mut self, device: Device<Context>) {
        // The descriptor is cached by libusb, so it is still readable here.
        if let Some(key) = DevKey::of(&device) {
            self.watch.device_left(key);
        }
    }
}

/// libusb context, its event thread and the hot-plug registration, created on first use.
/// Open links hold it too: their asynchronous bulk IN needs the event thread.
struct Runtime {
    ctx: Context,
    hotplug: bool,
    registration: Mutex<Option<rusb::Registration<Context>>>,
    stop: Arc<AtomicBool>,
    events: Option<JoinHandle<()>>,
    calls: Arc<AtomicU64>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if lock(&self.registration).take().is_some() {
            count(&self.calls, 1);
        }
        count(&self.calls, 1);
        // libusb remembers the interrupt if the thread is not inside handle_events yet.
        self.ctx.interrupt_handle_events();
        if let Some(t) = self.events.take() {
            let _ = t.join();
        }
    }
}

fn count(calls: &AtomicU64, n: u64) {
    calls.fetch_add(n, Ordering::Relaxed);
}

/// Finds an X30TR (switching an Android device to accessory mode when needed) and opens it.
pub struct UsbConnector {
    cfg: UsbConfig,
    watch: Arc<Watch>,
    /// libusb calls made by this connector, its event thread and its links.
    calls: Arc<AtomicU64>,
    runtime: Mutex<Option<Arc<Runtime>>>,
    /// When libusb last failed to initialise: retried after [`INIT_RETRY`], quietly meanwhile.
    init_failed: Mutex<Option<Instant>>,
    probe: Mutex<ProbeState>,
}

/// How long to wait before retrying a failed libusb initialisation.
const INIT_RETRY: Duration = Duration::from_secs(5);

impl UsbConnector {
    /// Never fails: libusb is initialised on the first `connect` (and again later if that
    /// failed), so creating a connection object never blocks or errors on USB.
    pub fn new(cfg: UsbConfig) -> Self {
        UsbConnector {
            cfg,
            watch: Arc::new(Watch::new()),
            calls: Arc::new(AtomicU64::new(0)),
            runtime: Mutex::new(None),
            init_failed: Mutex::new(None),
            probe: Mutex::new(ProbeState::default()),
        }
    }

    pub fn config(&self) -> &UsbConfig {
        &self.cfg
    }

    /// Whether libusb hot-plug callbacks are in use (after the first `connect`).
    pub fn uses_hotplug(&self) -> bool {
        lock(&self.runtime).as_ref().is_some_and(|r| r.hotplug)
    }

    /// Number of libusb calls made so far by this connector, its event thread and its links
    /// (plain telemetry, always on: one relaxed atomic add per call). Counted: every libusb
    /// function that may do I/O or wait (init, device list, open, control and bulk transfers,
    /// submit/cancel/alloc/free of the asynchronous bulk IN, claim/release, event handling,
    /// hot-plug registration); not counted: descriptor look-ups in libusb's cache. An idle
    /// open link costs one call per [`EVENT_WAIT`] (the event thread), nothing in `recv`.
    pub fn libusb_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn runtime(&self) -> Result<Arc<Runtime>, LinkError> {
        let mut slot = lock(&self.runtime);
        if let Some(rt) = slot.as_ref() {
            return Ok(rt.clone());
        }
        count(&self.calls, 1);
        let ctx = Context::new().map_err(|e| LinkError::Io(format!("libusb init: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut registration = None;
        if self.cfg.hotplug && rusb::has_hotplug() {
            let cb = Box::new(HotplugCallback {
                watch: self.watch.clone(),
            });
            count(&self.calls, 1);
            if let Ok(reg) = rusb::HotplugBuilder::new()
                .enumerate(false)
                .register(&ctx, cb)
            {
                registration = Some(reg);
            }
        }
        // One thread handles every libusb event of the context: hot-plug callbacks and the
        // completions of the links' asynchronous bulk IN. Idle, it makes one call per
        // EVENT_WAIT; `Runtime::drop` wakes it with libusb_interrupt_event_handler.
        let ctx2 = ctx.clone();
        let stop2 = stop.clone();
        let calls2 = self.calls.clone();
        let events = std::thread::Builder::new()
            .name("okc-usb-events".into())
            .spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    count(&calls2, 1);
                    match ctx2.handle_events(Some(EVENT_WAIT)) {
                        Ok(()) | Err(rusb::Error::Interrupted) => {}
                        // Never spin on a persistent failure (it is not expected).
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
            .map_err(|e| LinkError::Io(format!("usb event thread: {e}")))?;
        let rt = Arc::new(Runtime {
            ctx,
            hotplug: registration.is_some(),
            registration: Mutex::new(registration),
            stop,
            events: Some(events),
            calls: self.calls.clone(),
        });
        *slot = Some(rt.clone());
        Ok(rt)
    }

    fn is_candidate(&self, dev: &Device<Context>, key: &DevKey) -> bool {
        if key.is_accessory() {
            return false;
        }
        if self.cfg.probe_all {
            return dev
                .device_descriptor()
                .map(|d| d.class_code() != CLASS_HUB)
                .unwrap_or(false);
        }
        self.cfg.vendor_ids.contains(&key.vid)
    }

    fn backed_off(&self, key: &DevKey, now: Instant) -> bool {
        let st = lock(&self.probe);
        st.not_aoa.contains(key) || st.backoff.get(key).is_some_and(|b| b.until > now)
    }

    fn back_off(&self, key: DevKey, extra: Duration, first: Duration) {
        let mut st = lock(&self.probe);
        let next = st.backoff.get(&key).map(|b| b.next).unwrap_or(first);
        st.backoff.insert(
            key,
            Backoff {
                until: Instant::now() + extra + next,
                next: (next * 2).min(self.cfg.backoff_max),
            },
        );
    }

    /// Forget state of devices that are no longer present.
    fn prune(&self, present: &[DevKey]) {
        let mut st = lock(&self.probe);
        st.backoff.retain(|k, _| present.contains(k));
        st.not_aoa.retain(|k| present.contains(k));
    }

    /// Send the identification strings (and `START` when `start`).
    fn identify(&self, h: &DeviceHandle<Context>, start: bool) -> Probe {
        let mut ver = [0u8; 2];
        count(&self.calls, 1);
        match h.read_control(
            REQTYPE_VENDOR_IN,
            REQ_GET_PROTOCOL,
            0,
            0,
            &mut ver,
            self.cfg.get_protocol_timeout,
        ) {
            Ok(2) => {}
            Ok(_) => return Probe::NotAoa,
            Err(rusb::Error::Pipe) | Err(rusb::Error::Timeout) | Err(rusb::Error::NotSupported) => {
                return Probe::NotAoa
            }
            Err(e) => return Probe::Failed(format!("GET_PROTOCOL: {e}")),
        }
        let version = u16::from_le_bytes(ver);
        if version != 1 && version != 2 {
            return Probe::NotAoa;
        }
        for (i, s) in self.cfg.strings.in_order().iter().enumerate() {
            let mut data = Vec::with_capacity(s.len() + 1);
            data.extend_from_slice(s.as_bytes());
            data.push(0);
            count(&self.calls, 1);
            if let Err(e) = h.write_control(
                REQTYPE_VENDOR_OUT,
                REQ_SEND_STRING,
                0,
                i as u16,
                &data,
                self.cfg.control_timeout,
            ) {
                return Probe::Failed(format!("SEND_STRING {i}: {e}"));
            }
        }
        if start {
            count(&self.calls, 1);
            if let Err(e) = h.write_control(
                REQTYPE_VENDOR_OUT,
                REQ_START,
                0,
                0,
                &[],
                self.cfg.control_timeout,
            ) {
                // A device may already be detaching when the status stage runs.
                if e != rusb::Error::NoDevice && e != rusb::Error::Io {
                    return Probe::Failed(format!("START: {e}"));
                }
            }
        }
        Probe::Switched
    }

    fn probe_candidate(&self, dev: &Device<Context>) -> Probe {
        count(&self.calls, 2);
        let h = match dev.open() {
            Ok(h) => h,
            Err(e) => return Probe::Failed(format!("open: {e}")),
        };
        let _ = h.set_auto_detach_kernel_driver(true);
        self.identify(&h, true)
    }

    /// Open the first accessory-mode device present, if any.
    fn open_accessory(
        &self,
        rt: &Arc<Runtime>,
        last_error: &mut Option<String>,
    ) -> Result<Option<Box<dyn Link>>, LinkError> {
        count(&self.calls, 1);
        let list = rt
            .ctx
            .devices()
            .map_err(|e| LinkError::Io(format!("libusb device list: {e}")))?;
        let now = Instant::now();
        for dev in list.iter() {
            let Some(key) = DevKey::of(&dev) else {
                continue;
            };
            if !key.is_accessory() || self.backed_off(&key, now) {
                continue;
            }
            match self.open_link(rt, &dev, key) {
                Ok(link) => {
                    lock(&self.probe).pending_switch = None;
                    return Ok(Some(link));
                }
                Err(e) => {
                    *last_error = Some(e);
                    // Right after an arrival udev may not have applied the permissions yet:
                    // retry soon, then less and less often.
                    self.back_off(key, Duration::ZERO, ACCESSORY_RETRY);
                }
            }
        }
        Ok(None)
    }

    fn open_link(
        &self,
        rt: &Arc<Runtime>,
        dev: &Device<Context>,
        key: DevKey,
    ) -> Result<Box<dyn Link>, String> {
        count(&self.calls, 2);
        let h = dev.open().map_err(|e| format!("open {key}: {e}"))?;
        let _ = h.set_auto_detach_kernel_driver(true);
        let cfg = match dev.active_config_descriptor() {
            Ok(c) => c,
            Err(_) => {
                count(&self.calls, 1);
                h.set_active_configuration(1)
                    .map_err(|e| format!("{key}: set configuration: {e}"))?;
                dev.active_config_descriptor()
                    .map_err(|e| format!("config descriptor: {e}"))?
            }
        };
        let mut ep_in = None;
        let mut ep_out = None;
        let mut iface_of_in = None;
        for iface in cfg.interfaces() {
            for alt in iface.descriptors() {
                for ep in alt.endpoint_descriptors() {
                    if ep.transfer_type() != TransferType::Bulk {
                        continue;
                    }
                    match ep.direction() {
                        Direction::In if ep_in.is_none() => {
                            ep_in = Some(ep.address());
                            iface_of_in = Some(alt.interface_number());
                        }
                        Direction::Out if ep_out.is_none() => ep_out = Some(ep.address()),
                        _ => {}
                    }
                }
            }
        }
        let (Some(ep_in), Some(ep_out)) = (ep_in, ep_out) else {
            return Err(format!("{key}: no bulk IN/OUT endpoints"));
        };
        // The vendor claims interface 0; on an accessory the bulk pair lives there.
        let iface = iface_of_in.unwrap_or(0);
        count(&self.calls, 1);
        h.claim_interface(iface)
            .map_err(|e| format!("{key}: claim interface {iface}: {e}"))?;
        let handle = Arc::new(h);
        let bulk_in = match BulkIn::start(
            handle.clone(),
            ep_in,
            self.cfg.read_buffer.max(512),
            self.cfg.max_message.saturating_add(self.cfg.read_buffer),
            self.calls.clone(),
        ) {
            Ok(b) => b,
            Err(e) => {
                count(&self.calls, 1);
                let _ = handle.release_interface(iface);
                return Err(format!("{key}: bulk IN: {e}"));
            }
        };
        let flags = Arc::new(LinkFlags {
            gone: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker: bulk_in.waker(),
        });
        let shared = Arc::new(LinkShared {
            bulk_in,
            handle,
            flags: flags.clone(),
            ep_in,
            ep_out,
            iface,
            calls: self.calls.clone(),
            _rt: rt.clone(),
        });
        {
            let mut links = lock(&self.watch.links);
            links.retain(|(_, w)| w.strong_count() > 0);
            links.push((key, Arc::downgrade(&flags)));
        }
        if self.cfg.identify_accessory {
            // Best effort: the device already has the strings of the switch.
            let _ = self.identify(&shared.handle, false);
        }
        Ok(Box::new(UsbLink {
            shared,
            cfg: self.cfg.clone(),
            desc: format!("usb {key}"),
        }))
    }

    /// After `START`: poll for the accessory every `reenumeration_poll` (waking early on a
    /// hot-plug arrival) until `until`.
    fn wait_reenumeration(
        &self,
        rt: &Arc<Runtime>,
        until: Instant,
        last_error: &mut Option<String>,
    ) -> Result<Option<Box<dyn Link>>, LinkError> {
        loop {
            let seen = self.watch.generation();
            if let Some(link) = self.open_accessory(rt, last_error)? {
                return Ok(Some(link));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            let step = (now + self.cfg.reenumeration_poll).min(until);
            if rt.hotplug {
                self.watch.wait_arrival(seen, step);
            } else {
                std::thread::sleep(step - now);
            }
        }
    }

    fn scan(
        &self,
        rt: &Arc<Runtime>,
        deadline: Instant,
        last_error: &mut Option<String>,
    ) -> Result<Option<Box<dyn Link>>, LinkError> {
        if let Some(link) = self.open_accessory(rt, last_error)? {
            return Ok(Some(link));
        }
        count(&self.calls, 1);
        let list = rt
            .ctx
            .devices()
            .map_err(|e| LinkError::Io(format!("libusb device list: {e}")))?;
        let devs: Vec<(Device<Context>, DevKey)> = list
            .iter()
            .filter_map(|d| DevKey::of(&d).map(|k| (d, k)))
            .collect();
        self.prune(&devs.iter().map(|(_, k)| *k).collect::<Vec<_>>());
        for (dev, key) in &devs {
            if !self.is_candidate(dev, key) || self.backed_off(key, Instant::now()) {
                continue;
            }
            match self.probe_candidate(dev) {
                Probe::NotAoa => {
                    lock(&self.probe).not_aoa.insert(*key);
                }
                Probe::Failed(e) => {
                    *last_error = Some(format!("{key}: {e}"));
                    self.back_off(*key, Duration::ZERO, self.cfg.backoff_initial);
                }
                Probe::Switched => {
                    let switched = Instant::now();
                    lock(&self.probe).pending_switch = Some(switched);
                    // If it never comes back under a new address, do not switch it again
                    // before the re-enumeration window plus a back-off has passed.
                    self.back_off(
                        *key,
                        self.cfg.reenumeration_timeout,
                        self.cfg.backoff_initial,
                    );
                    let until = (switched + self.cfg.reenumeration_timeout).min(deadline);
                    if let Some(link) = self.wait_reenumeration(rt, until, last_error)? {
                        return Ok(Some(link));
                    }
                }
            }
        }
        Ok(None)
    }
}

impl Connector for UsbConnector {
    fn name(&self) -> String {
        "usb".into()
    }

    fn connect(&self, budget: Duration) -> Result<Option<Box<dyn Link>>, LinkError> {
        let start = Instant::now();
        let deadline = start + budget;
        if lock(&self.init_failed).is_some_and(|t| t.elapsed() < INIT_RETRY) {
            return Ok(None);
        }
        let rt = match self.runtime() {
            Ok(rt) => rt,
            Err(e) => {
                *lock(&self.init_failed) = Some(Instant::now());
                return Err(e);
            }
        };
        let mut last_error = None;
        // A device switched by an earlier call that ran out of budget: keep waiting for it.
        let pending = lock(&self.probe).pending_switch;
        if let Some(t) = pending {
            let window = t + self.cfg.reenumeration_timeout;
            if window > start {
                let until = window.min(deadline);
                if let Some(link) = self.wait_reenumeration(&rt, until, &mut last_error)? {
                    return Ok(Some(link));
                }
            } else {
                lock(&self.probe).pending_switch = None;
            }
        }
        loop {
            let seen = self.watch.generation();
            if let Some(link) = self.scan(&rt, deadline, &mut last_error)? {
                return Ok(Some(link));
            }
            // With hot-plug, wait a little for an arrival instead of returning to the
            // discovery loop's sleep: a plugged device is seen at once.
            let wait_until = deadline.min(start + self.cfg.arrival_wait);
            if !rt.hotplug || Instant::now() >= wait_until {
                break;
            }
            self.watch.wait_arrival(seen, wait_until);
            if self.watch.generation() == seen {
                break;
            }
        }
        match last_error {
            Some(e) => Err(LinkError::Io(e)),
            None => Ok(None),
        }
    }

    fn poll_interval(&self) -> Duration {
        self.cfg.poll_interval
    }
}

/// What the hot-plug callback may touch of an open link.
struct LinkFlags {
    gone: AtomicBool,
    closed: AtomicBool,
    /// Wakes the reader blocked in `recv`.
    waker: InWaker,
}

struct LinkShared {
    // Dropped in this order: the bulk IN (cancelled, handed back by libusb, freed) before the
    // device handle it uses, and both before the runtime whose event thread completes it.
    bulk_in: BulkIn,
    handle: Arc<DeviceHandle<Context>>,
    flags: Arc<LinkFlags>,
    ep_in: u8,
    ep_out: u8,
    iface: u8,
    calls: Arc<AtomicU64>,
    _rt: Arc<Runtime>,
}

impl LinkShared {
    fn check(&self) -> Result<(), LinkError> {
        if self.flags.closed.load(Ordering::SeqCst) {
            return Err(LinkError::Gone("link closed".into()));
        }
        if self.flags.gone.load(Ordering::SeqCst) {
            return Err(LinkError::Gone("usb device unplugged".into()));
        }
        Ok(())
    }

    fn gone(&self, why: String) -> LinkError {
        self.flags.gone.store(true, Ordering::SeqCst);
        LinkError::Gone(why)
    }
}

/// An open accessory: interface claimed, bulk endpoints known, bulk IN submitted.
pub struct UsbLink {
    shared: Arc<LinkShared>,
    cfg: UsbConfig,
    desc: String,
}

impl UsbLink {
    /// Bulk IN and OUT endpoint addresses.
    pub fn endpoints(&self) -> (u8, u8) {
        (self.shared.ep_in, self.shared.ep_out)
    }
}

impl Link for UsbLink {
    fn model(&self) -> DeviceModel {
        DeviceModel::X30tr
    }

    fn describe(&self) -> String {
        self.desc.clone()
    }

    fn split(self: Box<Self>) -> (Box<dyn LinkReader>, Box<dyn LinkWriter>) {
        let reader = UsbReader {
            shared: self.shared.clone(),
            splitter: MessageSplitter::new(self.cfg.max_message),
        };
        let writer = UsbWriter {
            shared: self.shared,
            timeout: self.cfg.write_timeout.max(Duration::from_millis(1)),
            retries: self.cfg.write_retries,
        };
        (Box::new(reader), Box::new(writer))
    }
}

struct UsbReader {
    shared: Arc<LinkShared>,
    splitter: MessageSplitter,
}

impl LinkReader for UsbReader {
    /// `UsbWriter::close` (and an unplug) cancels the transfer and wakes a blocked `recv`:
    /// the runtime's reader may wait long, so an idle device costs no wake-ups.
    fn wait_slice(&self) -> Duration {
        Duration::from_secs(3600)
    }

    /// Waits on the bulk IN's completions (a condition variable): no libusb call while waiting.
    fn recv(&mut self, timeout: Duration) -> Result<Incoming, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.splitter.next_message() {
                return Ok(match m {
                    Ok(bytes) => Incoming::Message(bytes),
                    Err(text) => Incoming::Garbage(text),
                });
            }
            self.shared.check()?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(Incoming::Idle);
            }
            match self.shared.bulk_in.wait(deadline - now) {
                InWait::Data(bytes) => self.splitter.push(&bytes),
                InWait::Idle => return Ok(Incoming::Idle),
                // Woken by close or the hot-plug "left" event: `check` (at the top) says which.
                InWait::Woken => {}
                // Only closing the link (or dropping it) cancels the transfer.
                InWait::Cancelled => {
                    self.shared.check()?;
                    return Err(LinkError::Gone("link closed".into()));
                }
                InWait::Gone(why) => return Err(self.shared.gone(why.into())),
                InWait::Failed(e) => {
                    self.shared.check()?;
                    return Err(LinkError::Io(format!("bulk IN: {e}")));
                }
            }
        }
    }
}

struct UsbWriter {
    shared: Arc<LinkShared>,
    timeout: Duration,
    retries: u32,
}

impl LinkWriter for UsbWriter {
    fn send(&mut self, message: &[u8]) -> Result<(), LinkError> {
        let mut off = 0;
        let mut failures = 0u32;
        while off < message.len() {
            self.shared.check()?;
            count(&self.shared.calls, 1);
            let res =
                self.shared
                    .handle
                    .write_bulk(self.shared.ep_out, &message[off..], self.timeout);
            let err = match res {
                Ok(n) if n > 0 => {
                    off += n;
                    continue;
                }
                Ok(_) | Err(rusb::Error::Timeout) => LinkError::Timeout,
                Err(rusb::Error::NoDevice) => {
                    return Err(self.shared.gone("usb device gone (no device)".into()))
                }
                Err(rusb::Error::Pipe) => {
                    return Err(self.shared.gone("usb bulk OUT stalled".into()))
                }
                Err(e) => LinkError::Io(format!("bulk OUT: {e}")),
            };
            failures += 1;
            if failures > self.retries {
                return Err(err);
            }
        }
        Ok(())
    }

    /// Cancels the pending bulk IN (waking a reader blocked in `recv`: it returns
    /// `LinkError::Gone`), waits for libusb to hand the transfer back, then releases the
    /// interface.
    fn close(&mut self) {
        if !self.shared.flags.closed.swap(true, Ordering::SeqCst) {
            self.shared.flags.waker.wake();
            self.shared.bulk_in.cancel(CANCEL_WAIT);
            count(&self.shared.calls, 1);
            let _ = self.shared.handle.release_interface(self.shared.iface);
        }
    }
}

impl Drop for UsbWriter {
    fn drop(&mut self) {
        self.close();
    }
}
