//! Protocol-core benchmarks (PERFORMANCE.md, "Protocol core").
//!
//! cargo bench --bench proto -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use okclink::proto::crc::crc16;
use okclink::proto::device::{DeviceConfig, DeviceEvent, DeviceSession};
use okclink::proto::frame::{encode_frame, FrameIter};
use okclink::proto::message::{accept_usb, build_message};
use okclink::proto::pipeline::{
    compress, decompress, decrypt, encrypt, Key, DEFAULT_MAX_PLAINTEXT,
};
use okclink::proto::session::{HostConfig, HostEvent, HostSession};
use okclink::transport::DeviceModel;
use okclink_sim::identity::DeviceIdentity;

const SESSION: Key = Key(*b"00115663341140995977338038486879");

/// A ~1 KB basket (JSON, as a POS sends it).
fn basket_1k() -> Vec<u8> {
    let mut s = String::from(
        r#"{"basketID":"a123ca24-ca2c-401c-8134-f0de2ec25c25","documentType":9008,"items":["#,
    );
    let mut i = 0;
    while s.len() < 950 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"name":"ITEM {i:03}","price":{},"quantity":1000,"sectionNo":{},"taxPercent":2000,"type":0}}"#,
            1000 + i * 125,
            i % 8 + 1
        ));
        i += 1;
    }
    s.push_str(r#"],"paymentItems":[{"amount":1000,"description":"Cash","type":1}]}"#);
    s.into_bytes()
}

/// Deterministic pseudo-random bytes (incompressible payloads).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let basket = basket_1k();
    let big = noise(14_000);
    for (name, payload) in [("1k_basket", &basket), ("14k", &big)] {
        let msg = build_message(&SESSION, 1, payload);
        let mut g = c.benchmark_group(format!("message_{name}"));
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("encode", |b| {
            b.iter(|| build_message(black_box(&SESSION), 1, black_box(payload)))
        });
        g.bench_function("decode", |b| {
            b.iter(|| accept_usb(black_box(&SESSION), black_box(&msg), DEFAULT_MAX_PLAINTEXT))
        });
        g.bench_function("encode_decode", |b| {
            b.iter(|| {
                let m = build_message(black_box(&SESSION), 1, black_box(payload));
                accept_usb(&SESSION, &m, DEFAULT_MAX_PLAINTEXT)
            })
        });
        g.finish();
    }
}

/// Where the time of a 1 KB message goes: zlib deflate, inflate, AES.
fn pipeline(c: &mut Criterion) {
    let basket = basket_1k();
    let z = compress(&basket);
    let e = encrypt(&SESSION, &z);
    let mut g = c.benchmark_group("pipeline_1k_basket");
    g.throughput(Throughput::Bytes(basket.len() as u64));
    g.bench_function("deflate", |b| b.iter(|| compress(black_box(&basket))));
    g.bench_function("inflate", |b| {
        b.iter(|| decompress(black_box(&z), DEFAULT_MAX_PLAINTEXT))
    });
    g.bench_function("aes_encrypt", |b| {
        b.iter(|| encrypt(&SESSION, black_box(&z)))
    });
    g.bench_function("aes_decrypt", |b| {
        b.iter(|| decrypt(&SESSION, black_box(&e)))
    });
    g.finish();
}

fn crc(c: &mut Criterion) {
    let data = noise(64 * 1024);
    let mut g = c.benchmark_group("crc16");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("64KiB", |b| b.iter(|| crc16(black_box(&data))));
    g.finish();
}

fn frames(c: &mut Criterion) {
    // 1000 TLVs with 16..1024-byte values (no decryption involved).
    let mut buf = Vec::new();
    let v = noise(1024);
    for i in 0..1000usize {
        let len = 16 * (1 + (i * 7) % 64);
        encode_frame((i % 12) as u16, &v[..len], &mut buf);
    }
    let mut g = c.benchmark_group("frames");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("iter_1000_tlvs", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for f in FrameIter::new(black_box(&buf)) {
                let f = f.unwrap();
                n += f.tag as usize + f.len();
            }
            n
        })
    });
    g.bench_function("iter_and_crc_1000_tlvs", |b| {
        b.iter(|| {
            FrameIter::new(black_box(&buf))
                .filter(|f| f.as_ref().is_ok_and(|f| f.crc_ok()))
                .count()
        })
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let id = DeviceIdentity::generate(DeviceModel::X30tr, "AV0000000121").unwrap();
    let mut g = c.benchmark_group("handshake");
    g.bench_function("x30tr_p384", |b| {
        b.iter_batched(
            || {
                DeviceSession::new(DeviceConfig::new(
                    DeviceModel::X30tr,
                    "AV0000000121",
                    id.message.clone(),
                ))
            },
            |mut dev| {
                let now = Instant::now();
                let mut host =
                    HostSession::new(HostConfig::new("YourCompanyName", DeviceModel::X30tr));
                host.start(now);
                loop {
                    let mut moved = false;
                    while let Some(e) = host.poll_event() {
                        if let HostEvent::Send(m) = e {
                            moved = true;
                            dev.on_message(&m);
                        }
                    }
                    while let Some(e) = dev.poll_event() {
                        if let DeviceEvent::Send(m) = e {
                            moved = true;
                            host.on_message(now, &m);
                        }
                    }
                    if !moved {
                        break;
                    }
                }
                assert!(host.is_active() && host.serial().is_some());
                host
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, crc, frames, pipeline, codec, handshake);
criterion_main!(benches);
