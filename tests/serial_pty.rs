//! The 300TR serial transport over a real pseudo-terminal pair: the connector opens the slave
//! side by path (as it would open /dev/ttyUSB0), the test plays the device on the master side.
#![cfg(all(feature = "serial", unix))]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use okclink::proto::message::{build_message, tag, text};
use okclink::proto::pipeline::Key;
use okclink::transport::serial::{discover, SerialConfig, SerialConnector};
use okclink::transport::{Connector, DeviceModel, Incoming, LinkError, LinkReader};
use serialport::{SerialPort, TTYPort};

fn pty() -> (TTYPort, PathBuf) {
    let (master, slave) = TTYPort::pair().expect("openpty");
    let path = PathBuf::from(slave.name().expect("slave name"));
    drop(slave);
    (master, path)
}

fn connector(path: PathBuf) -> SerialConnector {
    SerialConnector::new(SerialConfig {
        path: Some(path),
        read_slice: Duration::from_millis(50),
        write_timeout: Duration::from_millis(500),
        ..SerialConfig::default()
    })
}

fn next(r: &mut Box<dyn LinkReader>) -> Incoming {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match r.recv(Duration::from_millis(200)).expect("recv") {
            Incoming::Idle => continue,
            other => return other,
        }
    }
    panic!("nothing received within 5 s");
}

fn read_n(master: &mut TTYPort, n: usize) -> Vec<u8> {
    master.set_timeout(Duration::from_secs(5)).unwrap();
    let mut v = vec![0; n];
    master.read_exact(&mut v).unwrap();
    v
}

#[test]
fn messages_cross_a_pty_in_both_directions_in_odd_pieces() {
    let (mut master, path) = pty();
    let c = connector(path.clone());
    let link = c
        .connect(Duration::from_millis(100))
        .unwrap()
        .expect("port opens");
    assert_eq!(link.model(), DeviceModel::T300tr);
    assert_eq!(link.describe(), format!("serial {}", path.display()));
    let (mut r, mut w) = link.split();

    // Host -> device: exactly the message bytes.
    let hello = build_message(&Key::DEFAULT, tag::HELLO, b"asdfg");
    w.send(&hello).unwrap();
    assert_eq!(read_n(&mut master, hello.len()), hello);

    // Device -> host: line noise, then a certificate and an OK cut into 7-byte pieces. The
    // certificate carries every byte a cooked tty would eat or translate (CR, LF, XON/XOFF,
    // ^C, ^D, DEL), so this also proves the port is raw.
    let noise: Vec<u8> = (0u32..3000)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let cert = build_message(&Key::DEFAULT, tag::CERTIFICATE, &noise);
    for special in [0x0a, 0x0d, 0x11, 0x13, 0x03, 0x04, 0x7f] {
        assert!(
            cert.contains(&special),
            "test message lacks byte {special:#x}"
        );
    }
    let ok = build_message(&Key::DEFAULT, tag::SHARE_KEY, b"OK");
    let mut stream = vec![0x12, 0x34, 0x56];
    stream.extend_from_slice(&cert);
    stream.extend_from_slice(&ok);
    for piece in stream.chunks(7) {
        master.write_all(piece).unwrap();
        master.flush().unwrap();
        std::thread::sleep(Duration::from_micros(300));
    }
    match next(&mut r) {
        Incoming::Message(m) => assert_eq!(m, cert),
        other => panic!("{other:?}"),
    }
    match next(&mut r) {
        Incoming::Message(m) => assert_eq!(m, ok),
        other => panic!("{other:?}"),
    }
    // And the same special bytes host -> device.
    w.send(&cert).unwrap();
    assert_eq!(read_n(&mut master, cert.len()), cert);
}

#[test]
fn an_invalid_data_tag_is_reported_with_the_vendor_text() {
    let (mut master, path) = pty();
    let link = connector(path).connect(Duration::ZERO).unwrap().unwrap();
    let (mut r, _w) = link.split();
    let bad = build_message(&Key::DEFAULT, 99, b"x");
    master.write_all(&bad).unwrap();
    match next(&mut r) {
        Incoming::Garbage(t) => assert_eq!(t, text::INVALID_TLV_DATA),
        other => panic!("{other:?}"),
    }
    // The line recovers: the next good message gets through.
    let ok = build_message(&Key::DEFAULT, tag::ACK, b"");
    master.write_all(&ok).unwrap();
    match next(&mut r) {
        Incoming::Message(m) => assert_eq!(m, ok),
        other => panic!("{other:?}"),
    }
}

#[test]
fn closing_the_device_side_ends_the_link() {
    let (master, path) = pty();
    let link = connector(path).connect(Duration::ZERO).unwrap().unwrap();
    let (mut r, mut w) = link.split();
    let t = std::thread::spawn(move || loop {
        match r.recv(Duration::from_secs(5)) {
            Ok(Incoming::Idle) => continue,
            Ok(other) => panic!("{other:?}"),
            Err(e) => return e,
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    drop(master);
    let e = t.join().unwrap();
    assert!(matches!(e, LinkError::Gone(_)), "{e:?}");
    w.close();
    assert!(matches!(w.send(b"x"), Err(LinkError::Gone(_))));
}

#[test]
fn a_missing_port_is_not_an_error() {
    let c = connector(PathBuf::from("/dev/okclink-no-such-port"));
    assert!(c.connect(Duration::ZERO).unwrap().is_none());
}

#[cfg(target_os = "linux")]
#[test]
fn ftdi_discovery_reads_sysfs_like_the_vendor() {
    let root = std::env::temp_dir().join(format!("okc-sysfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mk = |port: &str, tty: &str, vid: &str, pid: &str| {
        let usb = root.join("sys/devices/pci0000:00/usb1").join(port);
        let ttydir = usb.join(format!("{port}:1.0")).join(tty);
        std::fs::create_dir_all(&ttydir).unwrap();
        std::fs::write(usb.join("idVendor"), format!("{vid}\n")).unwrap();
        std::fs::write(usb.join("idProduct"), format!("{pid}\n")).unwrap();
        let class = root.join("sys/class/tty").join(tty);
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&ttydir, class.join("device")).unwrap();
    };
    mk("1-1", "ttyUSB0", "067b", "2303"); // a Prolific adapter: not ours
    mk("1-2", "ttyUSB1", "0403", "6001"); // the 300TR's FTDI bridge
    std::fs::create_dir_all(root.join("sys/class/tty/ttyS0")).unwrap();
    let cfg = SerialConfig {
        sysfs_root: root.join("sys"),
        dev_root: PathBuf::from("/dev"),
        ..SerialConfig::default()
    };
    assert_eq!(discover(&cfg), Some(PathBuf::from("/dev/ttyUSB1")));
    let other = SerialConfig {
        pid: 0x6015,
        ..cfg.clone()
    };
    assert_eq!(discover(&other), None);
    let _ = std::fs::remove_dir_all(&root);
}

/// utime + stime of this process, in clock ticks (USER_HZ, 100 on Linux).
#[cfg(target_os = "linux")]
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_link_stays_usable() {
    let (mut master, path) = pty();
    let link = SerialConnector::new(SerialConfig {
        path: Some(path),
        ..SerialConfig::default()
    })
    .connect(Duration::ZERO)
    .unwrap()
    .unwrap();
    let (mut r, _w) = link.split();
    let (c0, t0) = (cpu_ticks(), Instant::now());
    for _ in 0..2 {
        assert!(matches!(r.recv(Duration::from_secs(1)), Ok(Incoming::Idle)));
    }
    eprintln!(
        "PERF idle serial link (default 250 ms read slices), process CPU: {:.2} % of one core",
        (cpu_ticks() - c0) as f64 / 100.0 / t0.elapsed().as_secs_f64() * 100.0
    );
    let ok = build_message(&Key::DEFAULT, tag::ACK, b"");
    master.write_all(&ok).unwrap();
    match next(&mut r) {
        Incoming::Message(m) => assert_eq!(m, ok),
        other => panic!("{other:?}"),
    }
}
