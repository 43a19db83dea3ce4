/* The okc_* C API from C (include/okclink.h), built with gcc against libokclink.so.
 * Run under valgrind by .ci/test-ffi.sh (no leaks, no invalid accesses).
 *
 * usage: okc_api_test nodevice     — handle validation, bad text, 10 MB input, no device
 *        okc_api_test sale         — a device (simulator via OKC_TRANSPORT=tcp://...)
 * Prints "PASS <n> checks" and exits 0, or "FAIL ..." and exits 1.
 */
#define _DEFAULT_SOURCE 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "nodevice";
    if (strcmp(mode, "sale") == 0) {
        sale();
    } else {
        nodevice();
    }
    printf("PASS %d checks\n", checks);
    return 0;
}
