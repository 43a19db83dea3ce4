/* A Windows customer program for IntegrationHubCpp.dll, written against the vendor's
 * declarations (DROP-IN.md §1.4): LoadLibrary + GetProcAddress by name, __cdecl exports,
 * __stdcall callbacks receiving BSTRs that the DLL frees after the call.
 *
 * usage: vendor_win_test.exe nodevice      — no device reachable: fixed vendor bugs
 *        vendor_win_test.exe sale          — a device (simulator over OKC_TRANSPORT=tcp://...):
 *                                            connect, fiscal info, basket, sale info, delete,
 *                                            reconnect, delete again
 * Prints "PASS <n> checks" and exits 0, or "FAIL: ..." and exits 1.
 */
#include <windows.h>
#include <oleauto.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

typedef void(__stdcall *SerialInCallback)(int type, BSTR value);
typedef void(__stdcall *DeviceStateCallback)(int isConnected, BSTR id);
typedef void *(__cdecl *CreateFn)(const wchar_t *);
typedef void(__cdecl *HandleFn)(void *);
typedef int(__cdecl *IndexFn)(void *);
typedef int(__cdecl *SendFn)(void *, const wchar_t *);
typedef BSTR(__cdecl *FiscalFn)(void *);
typedef void(__cdecl *SetSerialFn)(void *, SerialInCallback);
typedef void(__cdecl *SetStateFn)(void *, DeviceStateCallback);

static CreateFn createCommunication;
static HandleFn deleteCommunication, reconnect_;
static IndexFn getActiveDeviceIndex;
static SendFn sendBasket, sendPayment;
static FiscalFn getFiscalInfo;
static SetSerialFn setSerialInCallback;
static SetStateFn setDeviceStateCallback;

static int checks;
#define CHECK(cond, ...)                                   \
    do {                                                   \
        checks++;                                          \
        if (!(cond)) {                                     \
            printf("FAIL line %d: %s: ", __LINE__, #cond); \
            printf(__VA_ARGS__);                           \
            printf("\n");                                  \
            fflush(stdout);                                \
            ExitProcess(1);                                \
        }                                                  \
    } while (0)

static CRITICAL_SECTION lock;
static volatile LONG state_calls, connected_flag, sale_info_calls, basket_reply_calls, bad_bstr;
static wchar_t last_serial[64];
static wchar_t last_sale[4096];

static void __stdcall on_state(int connected, BSTR id) {
    EnterCriticalSection(&lock);
    /* A real BSTR: its length prefix matches its text. */
    if (id == NULL || SysStringLen(id) != wcslen(id)) bad_bstr++;
    state_calls++;
    connected_flag = connected;
    /* Copy: the DLL frees the BSTR after we return. */
    wcsncpy(last_serial, id ? id : L"", 63);
    last_serial[63] = 0;
    LeaveCriticalSection(&lock);
}

static void __stdcall on_serial(int type, BSTR value) {
    EnterCriticalSection(&lock);
    if (value == NULL || SysStringLen(value) != wcslen(value)) bad_bstr++;
    if (type == 3) {
        sale_info_calls++;
        wcsncpy(last_sale, value ? value : L"", 4095);
        last_sale[4095] = 0;
    } else if (type == 1) {
        basket_reply_calls++;
    }
    LeaveCriticalSection(&lock);
}

static int wait_for(volatile LONG *v, LONG want, int ms) {
    for (int i = 0; i < ms / 10; i++) {
        if (*v >= want) return 1;
        Sleep(10);
    }
    return *v >= want;
}

static void load(void) {
    HMODULE m = LoadLibraryW(L"IntegrationHubCpp.dll");
    CHECK(m != NULL, "LoadLibrary failed: %lu", GetLastError());
#define GET(var, type, name)                                  \
    var = (type)(void *)GetProcAddress(m, name);               \
    CHECK(var != NULL, "export %s missing", name)
    GET(createCommunication, CreateFn, "createCommunication");
    GET(deleteCommunication, HandleFn, "deleteCommunication");
    GET(reconnect_, HandleFn, "reconnect");
    GET(getActiveDeviceIndex, IndexFn, "getActiveDeviceIndex");
    GET(sendBasket, SendFn, "sendBasket");
    GET(sendPayment, SendFn, "sendPayment");
    GET(getFiscalInfo, FiscalFn, "getFiscalInfo");
    GET(setSerialInCallback, SetSerialFn, "setSerialInCallback");
    GET(setDeviceStateCallback, SetStateFn, "setDeviceStateCallback");
}

static void bad_handles(void) {
    void *bad[] = {NULL, (void *)(ULONG_PTR)0xdeadbeef, (void *)&checks};
    for (int i = 0; i < 3; i++) {
        void *h = bad[i];
        CHECK(getActiveDeviceIndex(h) == -1, "index of bad handle");
        CHECK(sendBasket(h, L"{}") == 0, "sendBasket on bad handle");
        CHECK(sendPayment(h, L"{}") == 0, "sendPayment on bad handle");
        BSTR f = getFiscalInfo(h);
        CHECK(f != NULL && SysStringLen(f) == 0, "fiscal info of bad handle is an empty BSTR");
        SysFreeString(f);
        setSerialInCallback(h, on_serial);
        setDeviceStateCallback(h, on_state);
        reconnect_(h);
        deleteCommunication(h);
    }
}

static int nodevice(void) {
    /* Non-ASCII company name (Turkish). */
    void *h = createCommunication(L"\x015E" L"irket \x0130" L"stanbul \x011E" L"\x0131" L"da");
    CHECK(h != NULL, "createCommunication returned NULL");
    setDeviceStateCallback(h, on_state);
    setSerialInCallback(h, on_serial);
    CHECK(getActiveDeviceIndex(h) == -1, "no device: index %d", getActiveDeviceIndex(h));
    CHECK(sendBasket(h, L"{\"items\":[]}") == 0, "no device: sendBasket must return 0");
    CHECK(sendPayment(h, L"{\"amount\":6000,\"description\":\"Nakit\",\"type\":1}") == 0,
          "no device: sendPayment must return 0");
    BSTR f = getFiscalInfo(h);
    CHECK(f != NULL && f != (BSTR)(ULONG_PTR)-1, "no device: fiscal info must be a real BSTR");
    CHECK(SysStringLen(f) == 0, "no device: fiscal info must be empty");
    SysFreeString(f);
    /* 10 MB input: rejected, no crash. */
    size_t n = 10u << 20;
    wchar_t *big = (wchar_t *)malloc((n + 1) * sizeof(wchar_t));
    for (size_t i = 0; i < n; i++) big[i] = L'A';
    big[n] = 0;
    CHECK(sendBasket(h, big) == 0, "10 MB basket must return 0");
    CHECK(createCommunication(big) == NULL, "10 MB company name is refused");
    free(big);
    DWORD t0 = GetTickCount();
    deleteCommunication(h);
    deleteCommunication(h);
    CHECK(GetTickCount() - t0 < 10000, "delete must be bounded");
    reconnect_(h);
    deleteCommunication(h);
    bad_handles();
    return 0;
}

static int sale(void) {
    void *h = createCommunication(L"\x015E" L"irket Test");
    CHECK(h != NULL, "createCommunication returned NULL");
    setSerialInCallback(h, on_serial);
    setDeviceStateCallback(h, on_state);
    CHECK(wait_for(&connected_flag, 1, 20000), "device did not connect");
    EnterCriticalSection(&lock);
    CHECK(wcslen(last_serial) > 0, "connected without a serial");
    LeaveCriticalSection(&lock);
    int idx = getActiveDeviceIndex(h);
    CHECK(idx == 0 || idx == 1, "active index %d", idx);
    BSTR f = getFiscalInfo(h);
    CHECK(f != NULL && SysStringLen(f) > 2 && f[0] == L'{', "fiscal info is JSON");
    /* Device text is Windows-1254 ("PO\xDEET"): decoded explicitly, whatever the system
       code page (Wine's is 1252, where 0xDE would be a thorn). */
    CHECK(wcsstr(f, L"PO\x015E" L"ET") != NULL, "fiscal info decoded as Windows-1254");
    SysFreeString(f);
    const wchar_t *basket =
        L"{\"basketID\":\"b-wine-1\",\"items\":[{\"name\":\"\x015E" L"eker\",\"price\":1000,"
        L"\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":2000,\"type\":0}],"
        L"\"paymentItems\":[{\"amount\":1000,\"description\":\"Nakit\",\"type\":1}]}";
    CHECK(sendBasket(h, basket) == 1, "sendBasket must return 1");
    CHECK(wait_for(&sale_info_calls, 1, 20000), "no sale info (serialIn 3)");
    EnterCriticalSection(&lock);
    CHECK(wcsstr(last_sale, L"b-wine-1") != NULL, "sale info names the basket");
    LeaveCriticalSection(&lock);
    LONG before = state_calls;
    deleteCommunication(h);
    CHECK(state_calls > before && connected_flag == 0, "delete delivers deviceState(false)");
    CHECK(getActiveDeviceIndex(h) == -1, "index after delete");
    BSTR g = getFiscalInfo(h);
    CHECK(g != NULL && SysStringLen(g) == 0, "fiscal info after delete is empty");
    SysFreeString(g);
    reconnect_(h);
    CHECK(wait_for(&connected_flag, 1, 20000), "device did not reconnect");
    deleteCommunication(h);
    deleteCommunication(h);
    CHECK(bad_bstr == 0, "callbacks received %ld strings that were not BSTRs", (long)bad_bstr);
    return 0;
}

int main(int argc, char **argv) {
    InitializeCriticalSection(&lock);
    setvbuf(stdout, NULL, _IONBF, 0);
    load();
    const char *mode = argc > 1 ? argv[1] : "nodevice";
    if (strcmp(mode, "sale") == 0) {
        sale();
    } else {
        nodevice();
    }
    printf("PASS %d checks\n", checks);
    return 0;
}
