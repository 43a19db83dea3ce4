// A Linux customer program for libIntegrationHub.so, written against the vendor's
// declarations (include/IntegrationHubWrapper.h, unchanged API) and linked with
// -lIntegrationHub, like the vendor's test.cpp.
//
// usage: vendor_linux_test nodevice   — no device reachable: the fixed vendor bugs
//        vendor_linux_test sale       — a device (simulator via OKC_TRANSPORT=tcp://...):
//                                       create, both callbacks, getActiveDeviceIndex,
//                                       getFiscalInfo, sendBasket, sale info, sendPayment,
//                                       deleteCommunication, reconnect, delete again; a
//                                       basket with an embedded NUL is refused (0)
//        vendor_linux_test text utf8|cp1254
//                                     — a device (X30TR simulator): device text handed to
//                                       the customer (serialIn, getFiscalInfo) is UTF-8 by
//                                       default and Windows-1254 bytes with
//                                       OKC_VENDOR_TEXT=cp1254; the caller's cp1254 basket
//                                       bytes are read as Turkish text either way
//        vendor_linux_test threadexit — the library called from a C++ thread_local
//                                       destructor that runs after the library's own
//                                       per-thread storage is gone (issue 17)
// Prints "PASS <n> checks" and exits 0, or "FAIL ..." and exits 1.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "IntegrationHubWrapper.h"

static int checks = 0;
#define CHECK(cond, msg)                                                      \
    do {                                                                      \
        checks++;                                                             \
        if (!(cond)) {                                                        \
            std::printf("FAIL line %d: %s: %s\n", __LINE__, #cond, msg);      \
            std::fflush(stdout);                                              \
            std::_Exit(1);                                                    \
        }                                                                     \
    } while (0)

static std::mutex mu;
static std::atomic<int> state_calls{0}, connected{0}, sale_infos{0}, other_serial{0}, not_connected{0};
static std::string last_serial, last_sale;

static void on_state(bool isConnected, std::string id) {
    std::lock_guard<std::mutex> g(mu);
    last_serial = std::move(id);  // a customer may move out of the library's temporary
    connected = isConnected ? 1 : 0;
    state_calls++;
}

static void on_serial(int type, std::string value) {
    std::lock_guard<std::mutex> g(mu);
    if (type == 3) {
        last_sale = value;
        sale_infos++;
    } else if (type == 9 && value == "Device is not connected") {
        not_connected++;
    } else {
        other_serial++;
    }
    // A customer exception must not take the library down.
    if (value == "throw-test") throw 42;
}

static bool wait_for(std::atomic<int> &v, int want, int ms) {
    for (int i = 0; i < ms / 10; i++) {
        if (v.load() >= want) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return v.load() >= want;
}

static void bad_handles() {
    int local = 0;
    ConnectionWrapper *bad[] = {nullptr, reinterpret_cast<ConnectionWrapper *>(0xdeadbeef),
                                reinterpret_cast<ConnectionWrapper *>(&local)};
    for (ConnectionWrapper *h : bad) {
        CHECK(getActiveDeviceIndex(h) == -1, "bad handle index");
        CHECK(sendBasket(h, "{}") == 0, "bad handle sendBasket");
        CHECK(sendPayment(h, "{}") == 0, "bad handle sendPayment");
        CHECK(getFiscalInfo(h).empty(), "bad handle fiscal info");
        setSerialInCallback(h, on_serial);
        setDeviceStateCallback(h, on_state);
        reconnect(h);
        deleteCommunication(h);
    }
    CHECK(local == 0, "foreign memory untouched");
}

static int nodevice() {
    // Non-ASCII company names: UTF-8, and legacy Windows-1254 bytes.
    ConnectionWrapper *h = createCommunication("\xC5\x9E" "irket \xC4\xB0stanbul");
    CHECK(h != nullptr, "createCommunication (UTF-8 name)");
    ConnectionWrapper *h2 = createCommunication("\xDE" "irket \xDD" "stanbul");
    CHECK(h2 != nullptr, "createCommunication (cp1254 name)");
    // A 10 MB company name is refused (NULL), not a crash; NULL is then ignored everywhere.
    CHECK(createCommunication(std::string(10u << 20, 'A')) == nullptr, "10 MB company name");
    setDeviceStateCallback(h, on_state);
    setSerialInCallback(h, on_serial);
    CHECK(getActiveDeviceIndex(h) == -1, "no device index");
    CHECK(sendBasket(h, "{\"items\":[]}") == 0, "no device: sendBasket returns 0");
    CHECK(sendPayment(h, "{\"amount\":6000,\"description\":\"Nakit\",\"type\":1}") == 0,
          "no device: sendPayment returns 0");
    CHECK(getFiscalInfo(h).empty(), "no device: getFiscalInfo returns \"\"");
    CHECK(sendBasket(h, std::string(10u << 20, 'A')) == 0, "10 MB basket returns 0");
    CHECK(sendBasket(h, std::string("{\"a\":\"\xff\xfe\"}")) == 0, "non-UTF-8 basket, no device");
    auto t0 = std::chrono::steady_clock::now();
    deleteCommunication(h);
    deleteCommunication(h);
    deleteCommunication(h2);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - t0).count();
    CHECK(ms < 10000, "delete is bounded");
    reconnect(h);
    deleteCommunication(h);
    bad_handles();
    return 0;
}

static int sale() {
    ConnectionWrapper *h = createCommunication("\xC5\x9E" "irket Test");
    CHECK(h != nullptr, "createCommunication");
    setSerialInCallback(h, on_serial);
    setDeviceStateCallback(h, on_state);
    CHECK(wait_for(connected, 1, 20000), "device connected");
    {
        std::lock_guard<std::mutex> g(mu);
        CHECK(!last_serial.empty(), "device serial delivered");
    }
    int idx = getActiveDeviceIndex(h);
    CHECK(idx == 0 || idx == 1, "active device index");
    std::string fiscal = getFiscalInfo(h);
    CHECK(fiscal.size() > 2 && fiscal[0] == '{', "fiscal info JSON");
    CHECK(fiscal.find("PO\xC5\x9E" "ET") != std::string::npos, "device cp1254 text arrives as UTF-8");
    // X30TR: payments inside the basket; 300TR: basket, then sendPayment (DROP-IN.md §5.4).
    std::string payments = idx == 0
        ? ",\"paymentItems\":[{\"amount\":1000,\"description\":\"Nakit\",\"type\":1}]"
        : "";
    std::string basket =
        "{\"basketID\":\"b-linux-1\",\"items\":[{\"name\":\"\xC5\x9E" "eker\",\"price\":1000,"
        "\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":2000,\"type\":0}]" + payments + "}";
    CHECK(sendBasket(h, basket) == 1, "sendBasket accepted");
    if (idx == 1) {
        int r = sendPayment(h, "{\"amount\":1000,\"description\":\"Nakit\",\"type\":1}");
        CHECK(r == 1, "sendPayment accepted (300TR)");
    }
    CHECK(wait_for(sale_infos, 1, 20000), "sale info (serialIn 3)");
    {
        std::lock_guard<std::mutex> g(mu);
        if (idx == 0) {
            CHECK(last_sale.find("b-linux-1") != std::string::npos, "sale info names the basket");
        }
        CHECK(last_sale.find("\"status\":0") != std::string::npos, "sale succeeded");
    }
    // A std::string can carry a NUL that a C string cannot: never sent as the part before it.
    CHECK(sendBasket(h, std::string("{}\0{\"basketID\":\"b-nul\"}", 23)) == 0,
          "basket with an embedded NUL refused");
    CHECK(sendPayment(h, std::string("{}\0", 3)) == 0, "payment with an embedded NUL refused");
    int before = state_calls.load();
    deleteCommunication(h);
    CHECK(state_calls.load() > before && connected.load() == 0, "delete delivers (false, \"\")");
    CHECK(getActiveDeviceIndex(h) == -1, "index after delete");
    CHECK(getFiscalInfo(h).empty(), "fiscal info after delete");
    reconnect(h);
    CHECK(wait_for(connected, 1, 20000), "reconnected");
    deleteCommunication(h);
    deleteCommunication(h);
    return 0;
}

// Device text out in the configured encoding (OKC_VENDOR_TEXT), caller text in as cp1254.
static int text(const std::string &want) {
    bool cp = want == "cp1254";
    ConnectionWrapper *h = createCommunication("\xDE" "irket Metin");
    CHECK(h != nullptr, "createCommunication");
    setSerialInCallback(h, on_serial);
    setDeviceStateCallback(h, on_state);
    CHECK(wait_for(connected, 1, 20000), "device connected");
    CHECK(getActiveDeviceIndex(h) == 0, "X30TR");
    std::string fiscal = getFiscalInfo(h);
    const std::string poset_utf8 = "PO\xC5\x9E" "ET", poset_cp = "PO\xDE" "ET";
    CHECK(fiscal.size() > 2 && fiscal[0] == '{', "fiscal info JSON");
    CHECK(fiscal.find(cp ? poset_cp : poset_utf8) != std::string::npos, "fiscal info encoding");
    CHECK(fiscal.find(cp ? poset_utf8 : poset_cp) == std::string::npos, "not the other encoding");
    // The basket as the vendor's customers send it: Windows-1254 bytes ("b-Şç").
    std::string basket =
        "{\"basketID\":\"b-\xDE\xE7\",\"items\":[{\"name\":\"\xDE" "eker\",\"price\":1000,"
        "\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":2000,\"type\":0}],"
        "\"paymentItems\":[{\"amount\":1000,\"description\":\"Nakit\",\"type\":1}]}";
    CHECK(sendBasket(h, basket) == 1, "sendBasket (cp1254 bytes) accepted");
    CHECK(wait_for(sale_infos, 1, 20000), "sale info (serialIn 3)");
    {
        std::lock_guard<std::mutex> g(mu);
        const std::string id = cp ? "\"basketID\":\"b-\xDE\xE7\"" : "\"basketID\":\"b-\xC5\x9E\xC3\xA7\"";
        CHECK(last_sale.find(id) != std::string::npos, "serialIn value in the configured encoding");
        CHECK(last_sale.find('\0') == std::string::npos, "no NUL in the value");
        CHECK(!last_serial.empty(), "device serial delivered");
    }
    deleteCommunication(h);
    return 0;
}

// A 300TR that never answers the ACK request: sendBasket returns -1 after serialIn(9).
static int noack() {
    ConnectionWrapper *h = createCommunication("noack");
    setSerialInCallback(h, on_serial);
    setDeviceStateCallback(h, on_state);
    CHECK(wait_for(connected, 1, 20000), "device connected");
    CHECK(getActiveDeviceIndex(h) == 1, "300TR");
    CHECK(sendBasket(h, "{\"basketID\":\"b-noack\",\"items\":[{\"name\":\"Su\",\"price\":500,"
                        "\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":2000,\"type\":0}]}") == -1,
          "sendBasket returns -1 on ACK timeout");
    CHECK(wait_for(not_connected, 1, 5000), "serialIn(9, \"Device is not connected\")");
    CHECK(sendPayment(h, "{\"amount\":500,\"description\":\"Nakit\",\"type\":1}") == -1,
          "sendPayment returns -1 on ACK timeout");
    deleteCommunication(h);
    return 0;
}

// Destroyed after the library's thread-local storage: constructed before the thread's first
// library call, and thread_local destructors run in reverse order of construction.
static std::atomic<int> exit_checks_ok{0}, exit_ran{0};
struct AtThreadExit {
    int touched = 0;
    ~AtThreadExit() {
        int ok = 0;
        ok += sendBasket(nullptr, "{}") == 0;
        ok += sendPayment(reinterpret_cast<ConnectionWrapper *>(0xdeadbeef), "{}") == 0;
        ok += getFiscalInfo(nullptr).empty();
        ok += getActiveDeviceIndex(nullptr) == -1;
        deleteCommunication(nullptr);
        reconnect(nullptr);
        exit_checks_ok = ok;
        exit_ran = 1;
    }
};
static thread_local AtThreadExit at_thread_exit;

static int threadexit() {
    for (int round = 0; round < 3; round++) {
        exit_ran = 0;
        exit_checks_ok = 0;
        std::thread t([] {
            at_thread_exit.touched = 1;          // registered first, destroyed last
            CHECK(sendBasket(nullptr, "{}") == 0, "failing call");  // library storage exists now
        });
        t.join();
        CHECK(exit_ran.load() == 1, "thread_local destructor ran (no abort)");
        CHECK(exit_checks_ok.load() == 4, "calls at thread exit");
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, nullptr, _IONBF, 0);
    std::string mode = argc > 1 ? argv[1] : "nodevice";
    if (mode == "sale") {
        sale();
    } else if (mode == "noack") {
        noack();
    } else if (mode == "text") {
        text(argc > 2 ? argv[2] : "utf8");
    } else if (mode == "threadexit") {
        threadexit();
    } else {
        nodevice();
    }
    std::printf("PASS %d checks\n", checks);
    return 0;
}
