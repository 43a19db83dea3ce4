/* The okc_* C API from C (include/okclink.h), built with gcc against libokclink.so.
 * Run under valgrind by .ci/test-ffi.sh (no leaks, no invalid accesses).
 *
 * usage: okc_api_test nodevice     — handle validation, bad text, 10 MB input, no device
 *        okc_api_test sale         — a device (simulator via OKC_TRANSPORT=tcp://...)
 *   regressions of issue 17, no device:
 *        okc_api_test threadexit   — calls from a pthread-key destructor after the library's
 *                                    thread-local storage is gone return status codes
 *        okc_api_test strings      — a stale double free never frees a newer string
 *        okc_api_test depth        — JSON nesting deeper than 64 levels is refused
 *        okc_api_test nothread     — okc_create that cannot start a thread: OKC_ERR_RESOURCE
 *        okc_api_test logdir       — OKC_LOG_DIR="" means no log file
 *   regressions of issue 17, with a device (the simulator, OKC_TRANSPORT=tcp://...):
 *        okc_api_test destroyrace  — a second okc_destroy waits for the first
 *        okc_api_test recvlimit    — max_payload_bytes 1024 does not limit what the device sends
 *        okc_api_test recvrefuse   — sim serving a fiscal info > 16 KiB, max_receive_bytes 16384:
 *                                    OKC_ERR_TOO_LARGE at once, naming the receive limit
 *        okc_api_test fiscalnul    — sim serving a fiscal info with a NUL byte: delivered whole,
 *                                    the NUL as \u0000
 * Prints "PASS <n> checks" and exits 0, or "FAIL ..." and exits 1.
 */
#define _DEFAULT_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "okclink.h"

static int checks;
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        checks++;                                                             \
        if (!(cond)) {                                                        \
            printf("FAIL line %d: %s: ", __LINE__, #cond);                    \
            printf(__VA_ARGS__);                                              \
            printf(" (last error: %s)\n", okc_last_error());                  \
            fflush(stdout);                                                   \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

struct ctx {
    pthread_mutex_t mu;
    int magic;
    int state_calls, connected, sale_infos;
    char serial[64];
    char sale[8192];
};

static void on_state(void *ud, bool connected, const char *serial) {
    struct ctx *c = (struct ctx *)ud;
    pthread_mutex_lock(&c->mu);
    if (c->magic != 0x5EED) abort();
    c->state_calls++;
    c->connected = connected;
    snprintf(c->serial, sizeof c->serial, "%s", serial);
    pthread_mutex_unlock(&c->mu);
}

static void on_serial(void *ud, int32_t type, const char *value) {
    struct ctx *c = (struct ctx *)ud;
    pthread_mutex_lock(&c->mu);
    if (c->magic != 0x5EED) abort();
    if (type == 3) {
        c->sale_infos++;
        snprintf(c->sale, sizeof c->sale, "%s", value);
    }
    pthread_mutex_unlock(&c->mu);
}

static int get(struct ctx *c, int *field) {
    pthread_mutex_lock(&c->mu);
    int v = *field;
    pthread_mutex_unlock(&c->mu);
    return v;
}

static int wait_for(struct ctx *c, int *field, int want, int ms) {
    for (int i = 0; i < ms / 10; i++) {
        if (get(c, field) >= want) return 1;
        usleep(10000);
    }
    return get(c, field) >= want;
}

static void bad_handles(void) {
    int local = 0;
    OkcHub *bad[] = {NULL, (OkcHub *)(uintptr_t)0xdeadbeef, (OkcHub *)&local};
    for (int i = 0; i < 3; i++) {
        char *s = (char *)&local;
        CHECK(okc_send_basket(bad[i], "{}") == OKC_ERR_BAD_HANDLE, "basket %d", i);
        CHECK(okc_get_fiscal_info(bad[i], 0, &s) == OKC_ERR_BAD_HANDLE && s == NULL, "fiscal %d", i);
        CHECK(okc_active_device_index(bad[i]) == -1, "index %d", i);
        CHECK(okc_destroy(bad[i]) == OKC_ERR_BAD_HANDLE, "destroy %d", i);
        CHECK(strlen(okc_last_error()) > 0, "error text %d", i);
    }
    CHECK(local == 0, "foreign memory untouched");
}

static int nodevice(void) {
    struct ctx c = {PTHREAD_MUTEX_INITIALIZER, 0x5EED, 0, 0, 0, "", ""};
    OkcHub *h = NULL;
    CHECK(okc_create("{\"company_name\":\"\xC5\x9E" "irket\",\"log_dir\":\"\"}", &h) == OKC_OK, "create");
    CHECK(h != NULL, "handle");
    CHECK(okc_set_device_state_callback(h, on_state, &c) == OKC_OK, "state cb");
    CHECK(okc_set_serial_in_callback(h, on_serial, &c) == OKC_OK, "serial cb");
    CHECK(okc_active_device_index(h) == -1, "index");
    CHECK(okc_send_basket(h, "{\"items\":[]}") == OKC_ERR_NO_DEVICE, "basket without device");
    CHECK(okc_send_payment(h, "{\"amount\":1,\"type\":1}") == OKC_ERR_NO_DEVICE, "payment without device");
    CHECK(okc_send_basket(h, "{\"a\":\"\xC3\x28\"}") == OKC_ERR_INVALID_UTF8, "invalid UTF-8");
    CHECK(okc_send_basket(h, NULL) == OKC_ERR_NULL, "NULL json");
    size_t n = 10u << 20;
    char *big = malloc(n + 1);
    memset(big, 'A', n);
    big[n] = 0;
    CHECK(okc_send_basket(h, big) == OKC_ERR_TOO_LARGE, "10 MB basket");
    CHECK(okc_send_payment(h, big) == OKC_ERR_TOO_LARGE, "10 MB payment");
    free(big);
    char *s = (char *)1;
    CHECK(okc_get_fiscal_info(h, 100, &s) == OKC_ERR_NO_DEVICE && s == NULL, "fiscal without device");
    CHECK(okc_last_fiscal_info(h, &s) == OKC_OK && s != NULL && s[0] == 0, "last fiscal empty");
    okc_string_free(s);
    okc_string_free(NULL);
    CHECK(okc_wait_connected(h, 50, &s) == OKC_ERR_TIMEOUT && s == NULL, "wait times out");
    CHECK(okc_disconnect(h) == OKC_OK, "disconnect");
    CHECK(okc_disconnect(h) == OKC_OK, "disconnect again");
    CHECK(okc_reconnect(h) == OKC_OK, "reconnect");
    CHECK(okc_set_serial_in_callback(h, NULL, NULL) == OKC_OK, "clear cb");
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    CHECK(okc_destroy(h) == OKC_OK, "destroy is idempotent");
    CHECK(okc_send_basket(h, "{}") == OKC_ERR_BAD_HANDLE, "stale handle");
    CHECK(strstr(okc_last_error(), "destroyed") != NULL, "stale handle text");
    bad_handles();
    return 0;
}

static int sale(void) {
    struct ctx c = {PTHREAD_MUTEX_INITIALIZER, 0x5EED, 0, 0, 0, "", ""};
    OkcHub *h = NULL;
    CHECK(okc_create("{\"company_name\":\"okc C test\",\"log_dir\":\"\"}", &h) == OKC_OK, "create");
    CHECK(okc_set_serial_in_callback(h, on_serial, &c) == OKC_OK, "serial cb");
    CHECK(okc_set_device_state_callback(h, on_state, &c) == OKC_OK, "state cb");
    char *serial = NULL;
    CHECK(okc_wait_connected(h, 20000, &serial) == OKC_OK && serial && serial[0], "connected");
    okc_string_free(serial);
    CHECK(wait_for(&c, &c.connected, 1, 5000), "state callback (true)");
    int idx = okc_active_device_index(h);
    CHECK(idx == 0 || idx == 1, "index %d", idx);
    char *f = NULL;
    CHECK(okc_get_fiscal_info(h, -1, &f) == OKC_OK && f && f[0] == '{', "fiscal info");
    okc_string_free(f);
    CHECK(okc_send_basket(h, "{\"basketID\":\"b-c-1\",\"items\":[{\"name\":\"\xC3\x87" "ay\","
                             "\"price\":1000,\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":2000,"
                             "\"type\":0}],\"paymentItems\":[{\"amount\":1000,\"description\":"
                             "\"Nakit\",\"type\":1}]}") == OKC_ACCEPTED, "basket");
    CHECK(wait_for(&c, &c.sale_infos, 1, 20000), "sale info");
    pthread_mutex_lock(&c.mu);
    CHECK(strstr(c.sale, "b-c-1") != NULL, "sale info names the basket: %s", c.sale);
    pthread_mutex_unlock(&c.mu);
    int before = get(&c, &c.state_calls);
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    int after = get(&c, &c.state_calls);
    CHECK(after > before && get(&c, &c.connected) == 0, "destroy delivered (false)");
    usleep(300000);
    CHECK(get(&c, &c.state_calls) == after, "no callback after destroy returned");
    c.magic = 0; /* any late callback would abort() */
    return 0;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- threadexit: the library called from a pthread-key destructor ------------------------
 * glibc runs the thread_local destructors (the library's per-thread last error among them)
 * before the pthread-key destructors, so these calls find the library's storage gone. */
static pthread_key_t exit_key;
static int exit_ok[8];
static int exit_ran;
static OkcHub *exit_hub;

static void at_thread_exit(void *p) {
    (void)p;
    int local = 0;
    char *s = (char *)&local;
    exit_ok[0] = okc_send_basket(NULL, "{}") == OKC_ERR_BAD_HANDLE;
    exit_ok[1] = strstr(okc_last_error(), "handle is NULL") != NULL; /* the text survives too */
    okc_string_free((char *)&local); /* foreign: ignored */
    exit_ok[2] = local == 0;
    exit_ok[3] = okc_destroy((OkcHub *)(uintptr_t)0xdeadbeef) == OKC_ERR_BAD_HANDLE;
    exit_ok[4] = okc_get_fiscal_info(NULL, 0, &s) == OKC_ERR_BAD_HANDLE && s == NULL;
    exit_ok[5] = okc_active_device_index(exit_hub) == -1;
    exit_ok[6] = okc_send_basket(exit_hub, "{\"items\":[]}") == OKC_ERR_NO_DEVICE;
    exit_ok[7] = okc_last_error() != NULL;
    exit_ran = 1;
}

static void *exit_thread(void *arg) {
    (void)arg;
    /* One failing call first: the thread's last-error storage now exists (and will be
     * destroyed at thread exit, before the key destructor runs). */
    if (okc_send_basket(NULL, "{}") != OKC_ERR_BAD_HANDLE) abort();
    if (strlen(okc_last_error()) == 0) abort();
    pthread_setspecific(exit_key, (void *)1);
    return NULL;
}

/* The thread's very first library call happens in the key destructor (valgrind: no leak). */
static void *exit_thread_first_call(void *arg) {
    (void)arg;
    pthread_setspecific(exit_key, (void *)1);
    return NULL;
}

static int threadexit(void) {
    CHECK(okc_create("{\"log_dir\":\"\"}", &exit_hub) == OKC_OK, "create");
    CHECK(pthread_key_create(&exit_key, at_thread_exit) == 0, "key");
    for (int round = 0; round < 4; round++) {
        memset(exit_ok, 0, sizeof exit_ok);
        exit_ran = 0;
        pthread_t t;
        CHECK(pthread_create(&t, NULL, round % 2 ? exit_thread_first_call : exit_thread, NULL) == 0, "thread");
        CHECK(pthread_join(t, NULL) == 0, "join");
        CHECK(exit_ran, "key destructor ran (the process did not abort)");
        for (int i = 0; i < 8; i++) CHECK(exit_ok[i], "call %d at thread exit", i);
    }
    CHECK(okc_destroy(exit_hub) == OKC_OK, "destroy");
    return 0;
}

/* ---- strings: a stale double free after the allocator reused the address ------------------ */
static int strings(void) {
    OkcHub *h = NULL;
    CHECK(okc_create("{\"log_dir\":\"\"}", &h) == OKC_OK, "create");
    for (int i = 0; i < 200; i++) {
        char *x = NULL, *y = NULL;
        CHECK(okc_last_fiscal_info(h, &x) == OKC_OK && x, "x");
        okc_string_free(x);
        CHECK(okc_last_fiscal_info(h, &y) == OKC_OK && y, "y");
        okc_string_free(x); /* stale: must be ignored, whatever the allocator did */
        CHECK(strstr(okc_last_error(), "ignored") != NULL, "stale free reported: %s", okc_last_error());
        CHECK(okc_send_basket(NULL, "{}") == OKC_ERR_BAD_HANDLE, "reset last error");
        CHECK(y[0] == 0, "y still readable");
        okc_string_free(y); /* valid: must free y */
        CHECK(strstr(okc_last_error(), "handle is NULL") != NULL,
              "valid free of y rejected (round %d, x %s y)", i, x == y ? "==" : "!=");
        okc_string_free(y); /* now stale: ignored */
        CHECK(strstr(okc_last_error(), "ignored") != NULL, "second free of y reported");
    }
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    return 0;
}

/* ---- depth: nesting limit of baskets and payments ------------------------------------------ */
static char *nested(int levels) {
    char *s = malloc(2 * (size_t)levels + 1);
    memset(s, '[', levels);
    memset(s + levels, ']', levels);
    s[2 * levels] = 0;
    return s;
}

static int depth(void) {
    OkcHub *h = NULL;
    CHECK(okc_create("{\"log_dir\":\"\"}", &h) == OKC_OK, "create");
    char *ok = nested(64), *deep = nested(65), *huge = nested(100000);
    CHECK(okc_send_basket(h, ok) == OKC_ERR_NO_DEVICE, "64 levels pass validation");
    CHECK(okc_send_payment(h, ok) == OKC_ERR_NO_DEVICE, "64 levels pass validation (payment)");
    CHECK(okc_send_basket(h, deep) == OKC_ERR_INVALID_JSON, "65 levels refused");
    CHECK(strstr(okc_last_error(), "nest") != NULL, "error names the nesting: %s", okc_last_error());
    CHECK(okc_send_payment(h, deep) == OKC_ERR_INVALID_JSON, "65 levels refused (payment)");
    CHECK(okc_send_basket(h, huge) == OKC_ERR_INVALID_JSON, "100000 levels refused");
    CHECK(okc_send_payment(h, huge) == OKC_ERR_INVALID_JSON, "100000 levels refused (payment)");
    /* Brackets inside strings are text, not nesting. */
    char text[400];
    snprintf(text, sizeof text, "{\"a\":\"%.300s\"}", huge);
    CHECK(okc_send_basket(h, text) == OKC_ERR_NO_DEVICE, "brackets in a string are not nesting");
    free(ok);
    free(deep);
    free(huge);
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    return 0;
}

/* ---- nothread: okc_create when no thread can be started -------------------------------------
 * Rust's std reads RUST_MIN_STACK once, at the first thread it starts: a 1 TiB stack cannot
 * be mapped, so every thread start fails. */
static int nothread(void) {
    setenv("RUST_MIN_STACK", "1099511627776", 1);
    OkcHub *h = (OkcHub *)1;
    OkcStatus st = okc_create("{\"log_dir\":\"\"}", &h);
    CHECK(st == OKC_ERR_RESOURCE, "status %d", (int)st);
    CHECK(h == NULL, "*out NULL");
    CHECK(strstr(okc_last_error(), "thread") != NULL, "error names the thread");
    return 0;
}

/* ---- logdir: OKC_LOG_DIR="" disables the log file ------------------------------------------- */
static int logdir(void) {
    char dir[] = "/tmp/okc-logdir-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(chdir(dir) == 0, "chdir");
    setenv("OKC_LOG_DIR", "", 1);
    OkcHub *h = NULL;
    CHECK(okc_create("{\"company_name\":\"logdir\"}", &h) == OKC_OK, "create");
    CHECK(okc_send_basket(h, "{}") == OKC_ERR_NO_DEVICE, "a call that logs");
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    struct stat sb;
    int exists = stat("logs", &sb) == 0;
    if (exists) (void)system("rm -rf logs");
    CHECK(chdir("/") == 0, "chdir /");
    rmdir(dir);
    CHECK(!exists, "no ./logs with OKC_LOG_DIR=\"\"");
    return 0;
}

/* ---- destroyrace: two okc_destroy of one handle at once -------------------------------------- */
struct race {
    pthread_mutex_t mu;
    int magic, connected, in_cb, done;
};

static void race_state(void *ud, bool connected, const char *serial) {
    (void)serial;
    struct race *r = (struct race *)ud;
    pthread_mutex_lock(&r->mu);
    if (r->magic != 0x5EED) abort();
    if (connected) {
        r->connected = 1;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    r->in_cb++;
    pthread_mutex_unlock(&r->mu);
    usleep(500000); /* a slow (false, "") callback: the first destroy waits for it */
    pthread_mutex_lock(&r->mu);
    if (r->magic != 0x5EED) abort();
    r->in_cb--;
    r->done++;
    pthread_mutex_unlock(&r->mu);
}

static int race_get(struct race *r, int *f) {
    pthread_mutex_lock(&r->mu);
    int v = *f;
    pthread_mutex_unlock(&r->mu);
    return v;
}

static OkcStatus first_destroy_status;
static void *first_destroy(void *h) {
    first_destroy_status = okc_destroy((OkcHub *)h);
    return NULL;
}

static int destroyrace(void) {
    for (int round = 0; round < 2; round++) {
        struct race *r = calloc(1, sizeof *r);
        pthread_mutex_init(&r->mu, NULL);
        r->magic = 0x5EED;
        OkcHub *h = NULL;
        CHECK(okc_create("{\"company_name\":\"race\",\"log_dir\":\"\"}", &h) == OKC_OK, "create");
        CHECK(okc_set_device_state_callback(h, race_state, r) == OKC_OK, "state cb");
        CHECK(okc_wait_connected(h, 20000, NULL) == OKC_OK, "connected");
        int ok = 0;
        for (int i = 0; i < 500 && !ok; i++) {
            ok = race_get(r, &r->connected);
            if (!ok) usleep(10000);
        }
        CHECK(ok, "state callback (true)");
        pthread_t t;
        CHECK(pthread_create(&t, NULL, first_destroy, h) == 0, "thread");
        int started = 0;
        for (int i = 0; i < 1000 && !started; i++) {
            started = race_get(r, &r->in_cb) > 0;
            if (!started) usleep(5000);
        }
        CHECK(started, "the first destroy delivers (false, \"\")");
        long t0 = now_ms();
        OkcStatus st = okc_destroy(h); /* while the first one is closing */
        long waited = now_ms() - t0;
        CHECK(st == OKC_OK, "second destroy");
        CHECK(race_get(r, &r->in_cb) == 0 && race_get(r, &r->done) == 1,
              "second destroy returned while a callback still ran (after %ld ms)", waited);
        /* The caller may now free user_data: any later callback is a use-after-free. */
        pthread_mutex_lock(&r->mu);
        r->magic = 0;
        pthread_mutex_unlock(&r->mu);
        pthread_mutex_destroy(&r->mu);
        free(r);
        CHECK(pthread_join(t, NULL) == 0, "join");
        CHECK(first_destroy_status == OKC_OK, "first destroy");
        CHECK(okc_destroy(h) == OKC_OK, "third destroy");
        usleep(200000);
    }
    return 0;
}

/* ---- recvlimit / recvrefuse: the caller limit and the receive limit are apart ---------------- */
static int recvlimit(void) {
    OkcHub *h = NULL;
    CHECK(okc_create("{\"company_name\":\"recv\",\"log_dir\":\"\",\"max_payload_bytes\":1024}", &h) == OKC_OK,
          "create");
    char *serial = NULL;
    CHECK(okc_wait_connected(h, 20000, &serial) == OKC_OK, "handshake completes");
    okc_string_free(serial);
    char *f = NULL;
    long t0 = now_ms();
    OkcStatus st = okc_get_fiscal_info(h, 8000, &f);
    CHECK(st == OKC_OK && f && f[0] == '{', "fiscal info with max_payload_bytes 1024: %d after %ld ms",
          (int)st, now_ms() - t0);
    CHECK(strlen(f) > 1024, "the fiscal info is larger than the caller limit (%zu)", strlen(f));
    okc_string_free(f);
    char basket[1100];
    memset(basket, ' ', sizeof basket - 1);
    basket[0] = '{';
    basket[sizeof basket - 2] = '}';
    basket[sizeof basket - 1] = 0;
    CHECK(okc_send_basket(h, basket) == OKC_ERR_TOO_LARGE, "the caller limit still applies");
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    return 0;
}

static int recvrefuse(void) {
    OkcHub *h = NULL;
    CHECK(okc_create("{\"company_name\":\"recv\",\"log_dir\":\"\",\"max_receive_bytes\":16384}", &h) == OKC_OK,
          "create");
    CHECK(okc_wait_connected(h, 20000, NULL) == OKC_OK, "handshake completes");
    char *f = (char *)1;
    long t0 = now_ms();
    OkcStatus st = okc_get_fiscal_info(h, 10000, &f);
    long took = now_ms() - t0;
    CHECK(st == OKC_ERR_TOO_LARGE && f == NULL, "status %d after %ld ms", (int)st, took);
    CHECK(took < 5000, "refused at once, not after the wait (%ld ms)", took);
    CHECK(strstr(okc_last_error(), "receive limit") != NULL, "error names the receive limit");
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    return 0;
}

/* ---- fiscalnul: device text with a NUL byte ------------------------------------------------- */
static int fiscalnul(void) {
    OkcHub *h = NULL;
    CHECK(okc_create("{\"company_name\":\"nul\",\"log_dir\":\"\"}", &h) == OKC_OK, "create");
    CHECK(okc_wait_connected(h, 20000, NULL) == OKC_OK, "connected");
    char *f = NULL;
    CHECK(okc_get_fiscal_info(h, -1, &f) == OKC_OK && f, "fiscal info");
    CHECK(strstr(f, "before\\u0000after") != NULL, "NUL delivered as \\u0000: %s", f);
    CHECK(strstr(f, "\"tail\":1") != NULL, "text after the NUL delivered: %s", f);
    okc_string_free(f);
    f = NULL;
    CHECK(okc_last_fiscal_info(h, &f) == OKC_OK && f && strstr(f, "\"tail\":1"), "last fiscal info whole");
    okc_string_free(f);
    CHECK(okc_destroy(h) == OKC_OK, "destroy");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "nodevice";
    static const struct {
        const char *name;
        int (*run)(void);
    } modes[] = {{"sale", sale},           {"nodevice", nodevice},       {"threadexit", threadexit},
                 {"strings", strings},     {"depth", depth},             {"nothread", nothread},
                 {"logdir", logdir},       {"destroyrace", destroyrace}, {"recvlimit", recvlimit},
                 {"recvrefuse", recvrefuse}, {"fiscalnul", fiscalnul}};
    int found = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(mode, modes[i].name) == 0) {
            modes[i].run();
            found = 1;
        }
    }
    if (!found) {
        printf("FAIL unknown mode %s\n", mode);
        return 1;
    }
    printf("PASS %d checks\n", checks);
    return 0;
}
