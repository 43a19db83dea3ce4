// Vendor-compatible Linux ABI (libIntegrationHub.so): the nine extern "C" functions of the
// vendor's IntegrationHubWrapper.h, with libstdc++ std::string by value (DROP-IN.md §2,
// WIRE.md §10.1), implemented over the okc_* C API (include/okclink.h).
//
// Only marshalling and the vendor's integer conventions live here; every behaviour is in the
// Rust library. Fixes over the vendor (DROP-IN.md §7/§8): getFiscalInfo without a device
// returns "", sendBasket/sendPayment without a device return 0, deleteCommunication is bounded
// and idempotent, a company name or JSON that is not UTF-8 is read as Windows-1254 (Turkish)
// instead of being rejected, callbacks never let a C++ exception escape into the library, and a
// basket or payment std::string with an embedded NUL is refused (0) instead of being cut there.
//
// Compiled by build.rs (cc crate) into libokclink.a; scripts/link-vendor-linux.sh makes the
// shared object with exactly these nine exports.

#include <cstddef>
#include <cstdint>
#include <string>

#include "okclink.h"

namespace {

typedef void (*SerialInCallback)(int, std::string);
typedef void (*DeviceStateCallback)(bool, std::string);

// Strict UTF-8 check (same acceptance as Rust's str::from_utf8: no overlongs, no surrogates,
// nothing above U+10FFFF).
bool valid_utf8(const std::string &s) {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return false;
        }
        if (i + len > n) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++) {
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
        }
        i += len;
    }
    return true;
}

// Windows-1254 bytes 0x80..0x9F (0 = undefined, mapped to U+FFFD).
const uint16_t CP1254_80[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0,      0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0,      0x0178};

uint32_t cp1254_char(unsigned char b) {
    if (b < 0x80) return b;
    if (b < 0xA0) return CP1254_80[b - 0x80] ? CP1254_80[b - 0x80] : 0xFFFD;
    switch (b) {  // where Windows-1254 differs from Latin-1 above 0x9F
        case 0xD0: return 0x011E;  // Ğ
        case 0xDD: return 0x0130;  // İ
        case 0xDE: return 0x015E;  // Ş
        case 0xF0: return 0x011F;  // ğ
        case 0xFD: return 0x0131;  // ı
        case 0xFE: return 0x015F;  // ş
        default: return b;
    }
}

void put_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Caller text → UTF-8: valid UTF-8 passes unchanged, anything else is read as Windows-1254
// (what the vendor library sent to the device as raw bytes).
std::string to_utf8(const std::string &in) {
    if (valid_utf8(in)) return in;
    std::string out;
    out.reserve(in.size() * 2);
    for (size_t i = 0; i < in.size(); i++) put_utf8(out, cp1254_char(static_cast<unsigned char>(in[i])));
    return out;
}

std::string json_quote(const std::string &s) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (size_t i = 0; i < s.size(); i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}

std::string take(char *s) {
    std::string r = s ? std::string(s) : std::string();
    okc_string_free(s);
    return r;
}

// A std::string can hold a NUL that the C string handed to the library cannot: the library
// would see only the part before it. A JSON text never holds a raw NUL, so it is refused.
bool has_nul(const std::string &s) { return s.find('\0') != std::string::npos; }

int vendor_send_code(OkcStatus st) {
    if (st == OKC_ACCEPTED) return 1;
    if (st == OKC_ERR_ACK_TIMEOUT) return -1;
    return 0;  // no device, bad JSON, too large, bad handle, closed: not accepted
}

void serial_in_trampoline(void *user_data, int32_t type, const char *value) {
    SerialInCallback cb = reinterpret_cast<SerialInCallback>(user_data);
    try {
        // Library-owned temporary, destroyed after the callback returns (vendor behaviour).
        cb(static_cast<int>(type), std::string(value ? value : ""));
    } catch (...) {
        // A customer exception must not unwind into the library.
    }
}

void device_state_trampoline(void *user_data, bool connected, const char *serial) {
    DeviceStateCallback cb = reinterpret_cast<DeviceStateCallback>(user_data);
    try {
        cb(connected, std::string(serial ? serial : ""));
    } catch (...) {
    }
}

OkcHub *hub(void *p) { return static_cast<OkcHub *>(p); }

}  // namespace

#define OKC_VENDOR_EXPORT extern "C" __attribute__((visibility("default")))

OKC_VENDOR_EXPORT void *createCommunication(std::string companyName) {
    try {
        std::string cfg = "{\"company_name\":" + json_quote(to_utf8(companyName)) + "}";
        OkcHub *h = nullptr;
        if (okc_create(cfg.c_str(), &h) < 0) return nullptr;
        return h;
    } catch (...) {
        return nullptr;
    }
}

OKC_VENDOR_EXPORT void deleteCommunication(void *ptr) { okc_disconnect(hub(ptr)); }

OKC_VENDOR_EXPORT void reconnect(void *ptr) { okc_reconnect(hub(ptr)); }

OKC_VENDOR_EXPORT int getActiveDeviceIndex(void *ptr) { return okc_active_device_index(hub(ptr)); }

OKC_VENDOR_EXPORT int sendBasket(void *ptr, std::string jsonData) {
    try {
        if (has_nul(jsonData)) return 0;
        return vendor_send_code(okc_send_basket(hub(ptr), to_utf8(jsonData).c_str()));
    } catch (...) {
        return 0;
    }
}

OKC_VENDOR_EXPORT int sendPayment(void *ptr, std::string jsonData) {
    try {
        if (has_nul(jsonData)) return 0;
        return vendor_send_code(okc_send_payment(hub(ptr), to_utf8(jsonData).c_str()));
    } catch (...) {
        return 0;
    }
}

OKC_VENDOR_EXPORT std::string getFiscalInfo(void *ptr) {
    try {
        char *s = nullptr;
        OkcStatus st = okc_get_fiscal_info(hub(ptr), -1, &s);
        if (st == OKC_OK) return take(s);
        okc_string_free(s);
        if (st == OKC_ERR_TIMEOUT) {
            // Vendor: after the 5 s wait the previous value is returned.
            s = nullptr;
            okc_last_fiscal_info(hub(ptr), &s);
            return take(s);
        }
        return std::string();  // no device / bad handle: "" (vendor: undefined result)
    } catch (...) {
        return std::string();
    }
}

OKC_VENDOR_EXPORT void setSerialInCallback(void *ptr, SerialInCallback callback) {
    okc_set_serial_in_callback(hub(ptr), callback ? serial_in_trampoline : nullptr,
                               reinterpret_cast<void *>(callback));
}

OKC_VENDOR_EXPORT void setDeviceStateCallback(void *ptr, DeviceStateCallback callback) {
    okc_set_device_state_callback(hub(ptr), callback ? device_state_trampoline : nullptr,
                                  reinterpret_cast<void *>(callback));
}
