// Vendor-compatible Linux ABI (libIntegrationHub.so): the nine extern "C" functions of the
// vendor's IntegrationHubWrapper.h, with libstdc++ std::string by value (DROP-IN.md §2,
// WIRE.md §10.1), implemented over the okc_vendor_* / okc_* C API (include/okclink.h).
//
// Only marshalling lives here: std::string ⇄ pointer + length, the exception barrier, the
// callback trampolines. Every rule is in the Rust library (src/ffi/vendor.rs), shared with the
// Windows exports and the .NET assembly: the send codes (1 / -1 / 0), the fiscal-info
// fallback, caller text that is not UTF-8 read as Windows-1254 (company name, basket,
// payment; a std::string with an embedded NUL is refused), and the encoding of device text
// handed to the customer (`vendor_text` / OKC_VENDOR_TEXT: UTF-8 by default, or the vendor's
// raw Windows-1254 bytes). Fixes over the vendor: DROP-IN.md §7/§8, docs/C-API.md.
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

void serial_in_trampoline(void *user_data, int32_t type, const char *text, size_t len) {
    SerialInCallback cb = reinterpret_cast<SerialInCallback>(user_data);
    try {
        // Library-owned temporary, destroyed after the callback returns (vendor behaviour).
        cb(static_cast<int>(type), text ? std::string(text, len) : std::string());
    } catch (...) {
        // A customer exception must not unwind into the library.
    }
}

void device_state_trampoline(void *user_data, bool connected, const char *serial, size_t len) {
    DeviceStateCallback cb = reinterpret_cast<DeviceStateCallback>(user_data);
    try {
        cb(connected, serial ? std::string(serial, len) : std::string());
    } catch (...) {
    }
}

OkcHub *hub(void *p) { return static_cast<OkcHub *>(p); }

}  // namespace

#define OKC_VENDOR_EXPORT extern "C" __attribute__((visibility("default")))

OKC_VENDOR_EXPORT void *createCommunication(std::string companyName) {
    OkcHub *h = nullptr;
    okc_vendor_create(companyName.data(), companyName.size(), &h);
    return h;
}

OKC_VENDOR_EXPORT void deleteCommunication(void *ptr) { okc_disconnect(hub(ptr)); }

OKC_VENDOR_EXPORT void reconnect(void *ptr) { okc_reconnect(hub(ptr)); }

OKC_VENDOR_EXPORT int getActiveDeviceIndex(void *ptr) { return okc_active_device_index(hub(ptr)); }

OKC_VENDOR_EXPORT int sendBasket(void *ptr, std::string jsonData) {
    return okc_vendor_send_basket(hub(ptr), jsonData.data(), jsonData.size(), nullptr);
}

OKC_VENDOR_EXPORT int sendPayment(void *ptr, std::string jsonData) {
    return okc_vendor_send_payment(hub(ptr), jsonData.data(), jsonData.size(), nullptr);
}

OKC_VENDOR_EXPORT std::string getFiscalInfo(void *ptr) {
    char *s = okc_vendor_fiscal_info(hub(ptr), -1, true, nullptr);
    try {
        std::string r = s ? std::string(s) : std::string();
        okc_string_free(s);
        return r;
    } catch (...) {  // std::bad_alloc must not reach the customer as an unknown exception
        okc_string_free(s);
        return std::string();
    }
}

OKC_VENDOR_EXPORT void setSerialInCallback(void *ptr, SerialInCallback callback) {
    okc_vendor_set_serial_in_callback(hub(ptr), callback ? serial_in_trampoline : nullptr,
                                      reinterpret_cast<void *>(callback));
}

OKC_VENDOR_EXPORT void setDeviceStateCallback(void *ptr, DeviceStateCallback callback) {
    okc_vendor_set_device_state_callback(hub(ptr), callback ? device_state_trampoline : nullptr,
                                         reinterpret_cast<void *>(callback));
}
