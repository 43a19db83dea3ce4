#!/usr/bin/python3
"""Emulated USB devices for the real libusb, without root and without kernel USB emulation.

Run under umockdev-wrapper (it preloads libumockdev-preload.so):

    umockdev-wrapper /usr/bin/python3 tests/umockdev/fixture.py -- <command> [args...]

The fixture builds a umockdev testbed (a fake /sys and /dev/bus/usb that the preload library
shows to every child process), attaches a usbdevfs ioctl handler to each emulated device, and
runs <command> with OKC_UMOCKDEV_CTL pointing at a Unix socket on which the command (the Rust
test binary) drives the scenario: plug and unplug devices, read what each device received.

Emulated devices:
  hub        root hub 1d6b:0002 (present from the start; stalls everything, logs every request)
  android    a phone before the switch (default 18d1:4ee1): answers ACCESSORY_GET_PROTOCOL with
             `protocol` (None = STALL), records SEND_STRING, and after START re-enumerates as
             18d1:`acc_pid` after `reenum_delay_ms` (or never, with on_start = "stay")
  accessory  a phone in accessory mode (18d1:2d00 / 2d01): interface 0 with bulk IN 0x81 and
             bulk OUT 0x01 wired to a TCP peer (`bulk` = "127.0.0.1:PORT"): OUT transfers are
             written to it, bytes read from it are cut into messages by their TLV length fields
             (or into `in_chunk`-byte pieces) and returned by IN transfers
  decoy      any other device (e.g. a keyboard 046d:c31c): STALLs every control request
  ftdi       a 300TR's FTDI bridge (0403:6001) with its tty /dev/ttyUSB<tty> in sysfs; the tty
             is a pseudo-terminal whose other side is relayed, raw, to `bulk` (the simulator)

Unplug follows the kernel: pending URBs complete with -ENODEV, later usbdevfs calls fail with
ENODEV, a "remove" uevent is sent and the device leaves sysfs.

The usbdevfs node in the testbed is a plain file, so poll() always reports it writable and libusb
reaps in a loop; REAPURBNDELAY with nothing to reap is therefore answered after PARK seconds (or
as soon as something completes) to keep that loop from burning a core. A real kernel does
better: poll() blocks while nothing is reapable. The fixture emulates that where it can tell it
is safe: when the device's only pending URBs are bulk IN (a host waiting for the device) and
nothing else happened in the fixture for SETTLE seconds, an empty REAPURBNDELAY is held until
something happens (data, unplug, discard, any other ioctl, a plug, an open/close) or IDLE_HOLD
passes. What the fixture cannot see (libusb's own eventfd and timerfd: transfer timeouts,
libusb_interrupt_event_handler, a libusb_close on another thread) is only needed right after
visible activity or with other URBs pending, when the short PARK applies.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

DEBUG = os.environ.get("OKC_UMOCKDEV_DEBUG") == "1"
PARK = 0.004
SETTLE = 0.25
IDLE_HOLD = 5.0

ENOENT, EINTR, EAGAIN, ENODEV, EINVAL, ENOTTY, EPIPE, ENODATA = 2, 4, 11, 19, 22, 25, 32, 61


def _ioc(direction, nr, size):
    return (direction << 30) | (size << 16) | (ord("U") << 8) | nr


_NONE, _W, _R = 0, 1, 2
URB_SIZE = 56  # struct usbdevfs_urb on 64-bit
IOCTLS = {
    _ioc(_R, 10, URB_SIZE): "SUBMITURB",
    _ioc(_NONE, 11, 0): "DISCARDURB",
    _ioc(_W, 12, 8): "REAPURB",
    _ioc(_W, 13, 8): "REAPURBNDELAY",
    _ioc(_R, 15, 4): "CLAIMINTERFACE",
    _ioc(_R, 16, 4): "RELEASEINTERFACE",
    _ioc(_W, 17, 8): "CONNECTINFO",
    _ioc(_NONE, 20, 0): "RESET",
    _ioc(_R, 21, 4): "CLEAR_HALT",
    _ioc(_R, 3, 4): "RESETEP",
    _ioc(_R, 4, 8): "SETINTERFACE",
    _ioc(_R, 5, 4): "SETCONFIGURATION",
    _ioc(_W, 8, 260): "GETDRIVER",
    _ioc(_R, 26, 4): "GET_CAPABILITIES",
    _ioc(_R, 27, 264): "DISCONNECT_CLAIM",
    _ioc(_NONE, 31, 0): "GET_SPEED",
    _ioc(_NONE, 22, 0): "DISCONNECT",
    _ioc(_NONE, 23, 0): "CONNECT",
}
# NO_PACKET_SIZE_LIM | BULK_CONTINUATION | ZERO_PACKET | REAP_AFTER_DISCONNECT
CAPS = 0x04 | 0x02 | 0x01 | 0x10

LOCK = threading.RLock()
CHANGED = threading.Condition(LOCK)
LAST_ACTIVITY = [0.0]


def touch():
    """Something a real kernel's poll() could wake the host for: end held reaps."""
    with LOCK:
        LAST_ACTIVITY[0] = time.monotonic()
        CHANGED.notify_all()


def log(*a):
    if DEBUG:
        print("[fixture %.3f]" % time.monotonic(), *a, file=sys.stderr, flush=True)


def le16(v):
    return struct.pack("<H", v)


def device_descriptor(vid, pid, dev_class=0):
    return bytes([18, 1]) + le16(0x0200) + bytes([dev_class, 0, 0, 64]) + le16(vid) + le16(pid) + le16(0x0100) + bytes([1, 2, 3, 1])


def config_descriptor(interfaces):
    body = b""
    for num, cls, sub, proto, eps in interfaces:
        body += bytes([9, 4, num, 0, len(eps), cls, sub, proto, 0])
        for addr, attr, size in eps:
            body += bytes([7, 5, addr, attr]) + le16(size) + bytes([0])
    total = 9 + len(body)
    return bytes([9, 2]) + le16(total) + bytes([len(interfaces), 1, 0, 0x80, 50]) + body


def descriptors_for(kind, vid, pid):
    if kind == "hub":
        return device_descriptor(vid, pid, 9) + config_descriptor([(0, 9, 0, 0, [(0x81, 3, 4)])])
    if kind == "accessory":
        ifaces = [(0, 0xFF, 0xFF, 0, [(0x81, 2, 512), (0x01, 2, 512)])]
        if pid == 0x2D01:
            ifaces.append((1, 0xFF, 0x42, 1, [(0x82, 2, 512), (0x02, 2, 512)]))
        return device_descriptor(vid, pid) + config_descriptor(ifaces)
    if kind == "android":  # MTP-like: one interface, bulk pair + interrupt
        return device_descriptor(vid, pid) + config_descriptor(
            [(0, 6, 1, 1, [(0x81, 2, 512), (0x01, 2, 512), (0x82, 3, 28)])]
        )
    return device_descriptor(vid, pid) + config_descriptor([(0, 3, 1, 1, [(0x81, 3, 8)])])


class Urb:
    def __init__(self, data, buf, typ, ep, length):
        self.data = data
        self.buf = buf
        self.typ = typ
        self.ep = ep
        self.length = length

    def finish(self, status, payload=b"", actual=None):
        """Set status/actual_length (and IN data) of the urb before it is reaped."""
        if payload and self.buf is not None:
            off = 8 if self.typ == 2 else 0
            self.buf.update(off, list(payload))
        if actual is None:
            actual = len(payload)
        self.data.update(4, list(struct.pack("<i", status)))
        self.data.update(28, list(struct.pack("<i", actual)))


def split_messages(stream):
    """Cut whole messages (up to and including the TLV with tag 50) off the front."""
    out = []
    while True:
        off = 0
        end = None
        while len(stream) >= off + 6:
            tag, length = struct.unpack_from(">HI", stream, off)
            nxt = off + 6 + length + 2
            if len(stream) < nxt:
                break
            off = nxt
            if tag == 50:
                end = off
                break
        if end is None:
            return out, stream
        out.append(stream[:end])
        stream = stream[end:]


class Device:
    def __init__(self, fx, name, spec):
        self.fx = fx
        self.name = name
        self.spec = dict(spec)
        self.kind = spec.get("kind", "android")
        dflt = {"android": (0x18D1, 0x4EE1), "accessory": (0x18D1, 0x2D00), "hub": (0x1D6B, 0x0002), "decoy": (0x046D, 0xC31C), "ftdi": (0x0403, 0x6001)}
        self.vid = int(spec.get("vid", dflt.get(self.kind, (0x046D, 0xC31C))[0]))
        self.pid = int(spec.get("pid", dflt.get(self.kind, (0x046D, 0xC31C))[1]))
        self.protocol = spec.get("protocol", 2 if self.kind in ("android", "accessory") else None)
        self.devnum = 0
        self.syspath = None
        self.devnode = None
        self.gone = False
        self.control = []  # "setup-hex data-hex" lines as in vectors/captured-usb-aoa-control.txt
        self.ioctls = []
        self.pending = []  # submitted, not completed
        self.reapable = []
        self.in_queue = []
        self.sock = None
        self.out_bytes = b""
        self.out_urbs = 0
        self.in_urbs = 0  # bulk IN URBs submitted (each one a libusb transfer on the host)
        self.t = {}

    # ---- life cycle -------------------------------------------------------------------
    def plug(self, devnum, port):
        if self.kind == "ftdi":
            return self.plug_ftdi(devnum, port)
        self.devnum = devnum
        self.syspath = "/sys/devices/pci0000:00/0000:00:14.0/usb1" + ("" if self.kind == "hub" else "/1-%d" % port)
        self.devnode = "/dev/bus/usb/001/%03d" % devnum
        desc = descriptors_for(self.kind, self.vid, self.pid)
        dclass = "09" if self.kind == "hub" else "00"
        text = "\n".join(
            [
                "P: " + self.syspath[len("/sys"):],
                "N: bus/usb/001/%03d" % devnum,
                "E: DEVNAME=" + self.devnode,
                "E: DEVTYPE=usb_device",
                "E: DRIVER=usb",
                "E: PRODUCT=%x/%x/100" % (self.vid, self.pid),
                "E: BUSNUM=001",
                "E: DEVNUM=%03d" % devnum,
                "E: MAJOR=189",
                "E: MINOR=%d" % (devnum - 1),
                "E: SUBSYSTEM=usb",
                "A: busnum=1\\n",
                "A: devnum=%d\\n" % devnum,
                "A: idVendor=%04x\\n" % self.vid,
                "A: idProduct=%04x\\n" % self.pid,
                "A: bcdDevice=0100\\n",
                "A: bDeviceClass=%s\\n" % dclass,
                "A: bConfigurationValue=1\\n",
                "A: bNumConfigurations=1\\n",
                "A: bNumInterfaces= %d\\n" % desc[18 + 4],
                "A: speed=480\\n",
                "A: dev=189:%d\\n" % (devnum - 1),
                "A: manufacturer=okclink fixture\\n",
                "A: product=%s\\n" % self.name,
                "H: descriptors=" + desc.hex().upper(),
                "",
            ]
        )
        # The handler and the bulk peer must be ready before the device becomes visible
        # (add_from_string already announces it with an "add" uevent).
        self.handler = Handler(self)
        self.fx.tb.attach_ioctl(self.devnode, self.handler)
        if self.kind == "accessory" and self.spec.get("bulk"):
            self.connect_bulk(self.spec["bulk"])
        self.fx.tb.add_from_string(text)
        self.t["added"] = time.monotonic()
        touch()
        log("plugged", self.name, "%04x:%04x" % (self.vid, self.pid), self.devnode)

    def plug_ftdi(self, devnum, port):
        self.devnum = devnum
        n = int(self.spec.get("tty", 0))
        usb = "/devices/pci0000:00/0000:00:14.0/usb1/1-%d" % port
        self.syspath = "/sys" + usb
        self.ttypath = "/sys%s/1-%d:1.0/ttyUSB%d/tty/ttyUSB%d" % (usb, port, n, n)
        self.devnode = "/dev/ttyUSB%d" % n
        desc = device_descriptor(self.vid, self.pid) + config_descriptor([(0, 0xFF, 0xFF, 0xFF, [(0x81, 2, 64), (0x02, 2, 64)])])
        self.fx.tb.add_from_string("\n".join([
            "P: " + usb,
            "N: bus/usb/001/%03d" % devnum,
            "E: DEVNAME=/dev/bus/usb/001/%03d" % devnum,
            "E: DEVTYPE=usb_device",
            "E: SUBSYSTEM=usb",
            "E: BUSNUM=001",
            "E: DEVNUM=%03d" % devnum,
            "A: busnum=1\\n",
            "A: devnum=%d\\n" % devnum,
            "A: idVendor=%04x\\n" % self.vid,
            "A: idProduct=%04x\\n" % self.pid,
            "A: bConfigurationValue=1\\n",
            "A: speed=12\\n",
            "A: dev=189:%d\\n" % (devnum - 1),
            "H: descriptors=" + desc.hex().upper(),
            "",
            "P: " + self.ttypath[len("/sys"):],
            "N: ttyUSB%d" % n,
            "E: DEVNAME=" + self.devnode,
            "E: SUBSYSTEM=tty",
            "E: MAJOR=188",
            "E: MINOR=%d" % n,
            "A: dev=188:%d\\n" % n,
            "L: device=../../../ttyUSB%d" % n,
            "",
        ]))
        # umockdev's default handler knows no TIOCEXCL/TCGETS2: run every tty ioctl for real
        # on the client's pty fd.
        self.handler = PassThrough()
        self.fx.tb.attach_ioctl(self.devnode, self.handler)
        self.master = os.dup(self.fx.tb.get_dev_fd(self.devnode))
        if self.spec.get("bulk"):
            host, p = self.spec["bulk"].rsplit(":", 1)
            self.sock = socket.create_connection((host, int(p)), timeout=5)
            self.sock.settimeout(None)
            threading.Thread(target=self.tty_relay, daemon=True).start()
        self.t["added"] = time.monotonic()
        log("plugged", self.name, self.devnode)

    def tty_relay(self):
        import select

        master, sock = self.master, self.sock
        while not self.gone:
            try:
                r, _, _ = select.select([master, sock], [], [], 0.1)
                if master in r:
                    data = os.read(master, 65536)
                    self.out_bytes += data
                    sock.sendall(data)
                if sock in r:
                    data = sock.recv(65536)
                    if not data:
                        return
                    os.write(master, data)
            except OSError:
                # EIO while no one has the tty open
                time.sleep(0.01)

    def unplug_ftdi(self):
        self.gone = True
        try:
            self.fx.tb.detach_ioctl(self.devnode)
        except Exception:  # noqa: BLE001 - already detached
            pass
        self.fx.tb.uevent(self.ttypath, "remove")
        self.fx.tb.remove_device(self.ttypath)
        self.fx.tb.uevent(self.syspath, "remove")
        self.fx.tb.remove_device(self.syspath)
        try:
            os.close(self.master)
        except OSError:
            pass
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.t["removed"] = time.monotonic()
        log("unplugged", self.name)

    def unplug(self):
        if self.kind == "ftdi":
            if not self.gone:
                self.unplug_ftdi()
            return
        with LOCK:
            if self.gone:
                return
            self.gone = True
            for u in self.pending:
                u.finish(-ENODEV)
                self.reapable.append(u)
            self.pending = []
            CHANGED.notify_all()
        self.fx.tb.uevent(self.syspath, "remove")
        try:
            self.fx.tb.detach_ioctl(self.devnode)
        except Exception:  # noqa: BLE001 - already detached
            pass
        self.fx.tb.remove_device(self.syspath)
        self.t["removed"] = time.monotonic()
        touch()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        log("unplugged", self.name)

    def connect_bulk(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.settimeout(None)
        threading.Thread(target=self.bulk_reader, daemon=True).start()

    def bulk_reader(self):
        stream = b""
        chunk = self.spec.get("in_chunk")
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            stream += data
            if chunk:
                msgs = [stream[i:i + chunk] for i in range(0, len(stream), chunk)]
                stream = b""
            else:
                msgs, stream = split_messages(stream)
            with LOCK:
                self.in_queue.extend(msgs)
                self.fill_in()
                touch()

    def fill_in(self):
        """Complete pending bulk IN urbs from the queue (LOCK held)."""
        while self.in_queue:
            urb = next((u for u in self.pending if u.typ == 3 and u.ep & 0x80), None)
            if urb is None:
                return
            data = self.in_queue[0]
            n = min(len(data), urb.length)
            if n < len(data):
                self.in_queue[0] = data[n:]
            else:
                self.in_queue.pop(0)
            urb.finish(0, data[:n])
            self.pending.remove(urb)
            self.reapable.append(urb)
            CHANGED.notify_all()

    # ---- requests -----------------------------------------------------------------------
    def control_request(self, urb, setup, data):
        rtype, req, value, index, length = struct.unpack("<BBHHH", setup)
        self.control.append(setup.hex() + " " + data.hex())
        if self.kind in ("android", "accessory") and self.protocol is not None:
            if rtype == 0xC0 and req == 51:
                return urb.finish(0, struct.pack("<H", self.protocol)[:length])
            if rtype == 0x40 and req == 52:
                return urb.finish(0, b"", actual=length)
            if rtype == 0x40 and req == 53:
                urb.finish(0)
                if self.kind == "android" and self.spec.get("on_start", "reenumerate") == "reenumerate":
                    self.fx.later(self.spec.get("reenum_delay_ms", 100) / 1000.0, self.reenumerate)
                return None
        urb.finish(-EPIPE)
        return None

    def reenumerate(self):
        self.unplug()
        acc = {k: v for k, v in self.spec.items() if k in ("bulk", "in_chunk", "out_mode")}
        acc.update(kind="accessory", vid=0x18D1, pid=self.spec.get("acc_pid", 0x2D00))
        self.fx.add(self.name + ".acc", acc)

    def submit(self, client, arg):
        if self.gone:
            return client.complete(-1, ENODEV)
        urb_data = arg.resolve(0, URB_SIZE)
        raw = bytes(urb_data.retrieve())
        typ, ep = raw[0], raw[1]
        length = struct.unpack_from("<i", raw, 24)[0]
        buf = urb_data.resolve(16, length) if length > 0 else None
        urb = Urb(urb_data, buf, typ, ep, length)
        payload = bytes(buf.retrieve()) if buf is not None else b""
        if typ == 2:
            setup, data = payload[:8], payload[8:]
            rtype = setup[0]
            self.control_request(urb, setup, data if not rtype & 0x80 else b"")
            self.reapable.append(urb)
        elif typ == 3 and not ep & 0x80:
            self.out_urbs += 1
            if self.spec.get("out_mode") == "hold":
                self.pending.append(urb)
            else:
                if self.sock is not None:
                    self.sock.sendall(payload)
                self.out_bytes += payload
                urb.finish(0, actual=length)
                self.reapable.append(urb)
        elif typ == 3:
            self.in_urbs += 1
            self.t.setdefault("first_in", time.monotonic())
            self.pending.append(urb)
            self.fill_in()
        else:
            urb.finish(-EPIPE)
            self.reapable.append(urb)
        client.complete(0, 0)
        CHANGED.notify_all()
        return None

    def discard(self, client, arg):
        addr = struct.unpack("<Q", bytes(arg.retrieve()))[0]
        for u in self.pending:
            if u.data.client_addr == addr:
                self.pending.remove(u)
                u.finish(-ENOENT)
                self.reapable.append(u)
                CHANGED.notify_all()
                return client.complete(0, 0)
        return client.complete(-1, EINVAL)

    def waits_for_device(self):
        """Only bulk IN URBs pending: a host that waits for the device (LOCK held)."""
        return bool(self.pending) and all(u.typ == 3 and u.ep & 0x80 for u in self.pending)

    def try_reap(self, client, target):
        """Deliver one completed urb; False when there is none (LOCK held)."""
        if self.reapable:
            urb = self.reapable.pop(0)
            target.set_ptr(0, urb.data)
            client.complete(0, 0)
            return True
        if self.gone:
            client.complete(-1, ENODEV)
            return True
        return False


class Handler(UMockdev.IoctlBase):
    def __init__(self, dev):
        super().__init__()
        self.dev = dev

    def do_handle_ioctl(self, client):
        try:
            return self.handle(client)
        except Exception:  # noqa: BLE001 - never leave the client hanging
            import traceback

            traceback.print_exc()
            client.complete(-1, 5)  # EIO
            return True

    def handle(self, client):
        dev = self.dev
        req = client.get_request()
        name = IOCTLS.get(req, hex(req))
        arg = client.get_arg()
        with LOCK:
            if name not in ("REAPURBNDELAY", "REAPURB"):
                touch()
            if name not in ("REAPURBNDELAY", "REAPURB", "SUBMITURB"):
                dev.ioctls.append(name)
                log(dev.name, name)
            if name == "SUBMITURB":
                dev.submit(client, arg)
            elif name in ("REAPURB", "REAPURBNDELAY"):
                target = arg.resolve(0, 8)
                if not dev.try_reap(client, target):
                    dev.fx.parked.append((dev, client, target, time.monotonic(), name == "REAPURB"))
                    CHANGED.notify_all()
            elif dev.gone:
                client.complete(-1, ENODEV)
            elif name == "DISCARDURB":
                dev.discard(client, arg)
            elif name == "GET_CAPABILITIES":
                arg.resolve(0, 4).update(0, list(struct.pack("<I", CAPS)))
                client.complete(0, 0)
            elif name == "CONNECTINFO":
                arg.resolve(0, 8).update(0, list(struct.pack("<IB3x", dev.devnum, 0)))
                client.complete(0, 0)
            elif name == "GET_SPEED":
                client.complete(3, 0)
            elif name == "GETDRIVER":
                client.complete(-1, ENODATA)
            elif name in ("CLAIMINTERFACE", "DISCONNECT_CLAIM"):
                dev.t.setdefault("claimed", time.monotonic())
                client.complete(0, 0)
            elif name in ("RELEASEINTERFACE", "SETINTERFACE", "SETCONFIGURATION", "CLEAR_HALT", "RESET", "RESETEP", "DISCONNECT", "CONNECT"):
                client.complete(0, 0)
            else:
                client.complete(-1, ENOTTY)
        return True

    def do_client_connected(self, client):
        with LOCK:
            touch()
            self.dev.ioctls.append("OPEN")
            self.dev.t.setdefault("opened", time.monotonic())

    def do_client_vanished(self, client):
        with LOCK:
            touch()
            self.dev.ioctls.append("CLOSE")


class PassThrough(UMockdev.IoctlBase):
    def do_handle_ioctl(self, client):
        res = client.execute()
        ret, err = res if isinstance(res, tuple) else (res, 0)
        client.complete(ret, err if ret < 0 else 0)
        return True


class Fixture:
    def __init__(self):
        self.tb = UMockdev.Testbed.new()
        self.devices = {}
        self.next_devnum = 2
        self.next_port = 1
        self.parked = []
        self.jobs = []
        self.jobs_cv = threading.Condition()
        threading.Thread(target=self.parker, daemon=True).start()
        threading.Thread(target=self.worker, daemon=True).start()
        self.run(lambda: self.add("roothub", {"kind": "hub"}))

    # All testbed changes happen on one thread, in order.
    def worker(self):
        while True:
            with self.jobs_cv:
                while not self.jobs or self.jobs[0][0] > time.monotonic():
                    timeout = None if not self.jobs else self.jobs[0][0] - time.monotonic()
                    self.jobs_cv.wait(timeout)
                _, fn, done = self.jobs.pop(0)
            try:
                done["result"] = fn()
            except Exception as e:  # noqa: BLE001 - reported to the client
                done["error"] = repr(e)
            done["event"].set()

    def later(self, delay, fn):
        done = {"event": threading.Event()}
        with self.jobs_cv:
            self.jobs.append((time.monotonic() + delay, fn, done))
            self.jobs.sort(key=lambda j: j[0])
            self.jobs_cv.notify_all()
        return done

    def run(self, fn):
        done = self.later(0, fn)
        done["event"].wait()
        if "error" in done:
            raise RuntimeError(done["error"])
        return done.get("result")

    def parker(self):
        with LOCK:
            while True:
                now = time.monotonic()
                quiet = now - LAST_ACTIVITY[0] >= SETTLE
                keep = []
                wait = None
                for entry in self.parked:
                    dev, client, target, since, blocking = entry
                    if dev.try_reap(client, target):
                        continue
                    if blocking:
                        keep.append(entry)
                        continue
                    if quiet and dev.waits_for_device():
                        until = since + IDLE_HOLD  # held like a blocked poll()
                    else:
                        until = since + PARK
                    if now >= until:
                        client.complete(-1, EAGAIN)
                        continue
                    keep.append(entry)
                    step = until - now if quiet else min(until - now, LAST_ACTIVITY[0] + SETTLE - now)
                    wait = step if wait is None else min(wait, step)
                self.parked = keep
                CHANGED.wait(None if wait is None else max(wait, 0.0005))

    def add(self, name, spec):
        dev = Device(self, name, spec)
        devnum = 1 if dev.kind == "hub" else self.next_devnum
        if dev.kind != "hub":
            self.next_devnum += 1
            self.next_port += 1
        dev.plug(devnum, self.next_port)
        self.devices[name] = dev
        return {"bus": 1, "devnum": devnum}

    # ---- control socket ---------------------------------------------------------------
    def command(self, req):
        op = req.get("op")
        name = req.get("name")
        if op == "add":
            spec = {k: v for k, v in req.items() if k not in ("op", "name")}
            return self.run(lambda: self.add(name, spec))
        if op == "unplug":
            self.run(lambda: self.devices[name].unplug())
            return {}
        if op == "replug":
            old = self.devices[name]
            self.run(old.unplug)
            return self.run(lambda: self.add(name, old.spec))
        if op == "reset":

            def reset():
                for n, d in list(self.devices.items()):
                    if d.kind != "hub":
                        d.unplug()
                        del self.devices[n]
                self.devices["roothub"].control.clear()
                self.devices["roothub"].ioctls.clear()

            with self.jobs_cv:
                self.jobs.clear()
            self.run(reset)
            return {}
        if op == "log":
            d = self.devices.get(name)
            if d is None:
                return {"present": False}
            with LOCK:
                return {
                    "present": not d.gone,
                    "control": list(d.control),
                    "ioctls": list(d.ioctls),
                    "out_hex": d.out_bytes.hex(),
                    "out_urbs": d.out_urbs,
                    "in_urbs": d.in_urbs,
                    "t": dict(d.t),
                    "devnum": d.devnum,
                }
        if op == "wait":
            deadline = time.monotonic() + req.get("timeout_ms", 5000) / 1000.0
            want = req.get("present", True)
            while time.monotonic() < deadline:
                d = self.devices.get(name)
                if d is not None and (not d.gone) == want:
                    return {"ok": True}
                time.sleep(0.01)
            return {"ok": False}
        if op == "now":
            return {"now": time.monotonic()}
        raise ValueError("unknown op %r" % op)

    def serve(self, path):
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(8)

        def conn_loop(conn):
            f = conn.makefile("rwb", buffering=0)
            for line in f:
                try:
                    res = self.command(json.loads(line))
                    res = {"ok": True, **(res or {})} if "ok" not in (res or {}) else res
                except Exception as e:  # noqa: BLE001 - reported to the client
                    res = {"ok": False, "error": repr(e)}
                f.write((json.dumps(res) + "\n").encode())

        def accept_loop():
            while True:
                conn, _ = srv.accept()
                threading.Thread(target=conn_loop, args=(conn,), daemon=True).start()

        threading.Thread(target=accept_loop, daemon=True).start()


def main():
    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print("usage: umockdev-wrapper python3 fixture.py -- COMMAND...", file=sys.stderr)
        return 2
    if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
        print("fixture.py must run under umockdev-wrapper", file=sys.stderr)
        return 2
    fx = Fixture()
    tmp = tempfile.mkdtemp(prefix="okc-umockdev-")
    ctl = os.path.join(tmp, "ctl.sock")
    fx.serve(ctl)
    env = dict(os.environ)
    env["UMOCKDEV_DIR"] = fx.tb.get_root_dir()
    env["OKC_UMOCKDEV_CTL"] = ctl
    proc = subprocess.run(args, env=env)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
