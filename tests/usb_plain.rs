//! The USB connector outside the umockdev fixture: on a machine without USB devices (or
//! without USB at all, like a CI container) it finds nothing and never blocks or fails hard.
#![cfg(feature = "usb")]

use std::time::Duration;

use okclink::transport::usb::{AoaStrings, UsbConfig, UsbConnector, GOOGLE_VID};
use okclink::transport::{Connector, LinkError};

#[test]
fn defaults_are_the_vendors() {
    let c = UsbConfig::default();
    assert_eq!(c.vendor_ids, vec![GOOGLE_VID]);
    assert!(!c.probe_all);
    assert_eq!(c.read_buffer, 16 * 1024);
    assert_eq!(c.write_retries, 3);
    assert_eq!(c.reenumeration_poll, Duration::from_millis(50));
    assert_eq!(c.reenumeration_timeout, Duration::from_secs(5));
    let s = AoaStrings::default();
    assert_eq!(
        s.in_order(),
        [
            "PCHost",
            "PCHost1",
            "Integration Hub",
            "2.5.0.1",
            "https://developer.tokeninc.com/token-developer-portal-1/x-platform/integration-via-cable/gelistirici-dokumani",
            "666"
        ]
    );
}

#[test]
fn no_devices_means_none_not_an_error() {
    let c = UsbConnector::new(UsbConfig::default());
    assert_eq!(c.name(), "usb");
    for _ in 0..3 {
        match c.connect(Duration::from_millis(100)) {
            Ok(None) => {}
            // A machine where libusb cannot start at all reports it (once per retry window).
            Err(LinkError::Io(e)) => assert!(e.contains("libusb"), "{e}"),
            other => panic!("unexpected {:?}", other.map(|l| l.map(|l| l.describe()))),
        }
    }
}
