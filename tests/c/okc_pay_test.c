/* The okc_pay_* C API from C (include/okclink.h), built with gcc against libokclink.so and
 * run under valgrind by .ci/test-ffi.sh against `okc sim-terminal --nexo`.
 *
 * usage: okc_pay_test   (OKC_TERMINAL=nexo+http://HOST:PORT, OKC_TEST_LISTENER=IP:PORT: the
 *                        POS listener the simulator was started to call, outcome signature)
 * A payment with the signature confirmed by the event callback, the same reference again,
 * a reversal, bad arguments and handles, close. Prints "PASS <n> checks" or "FAIL ...".
 */
#define _DEFAULT_SOURCE 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

struct seen {
    pthread_mutex_t mu;
    int displays, signatures, magic;
};

static int32_t on_event(void *ud, const char *json) {
    struct seen *s = ud;
    if (s->magic != 0x5EED) abort(); /* a callback after close */
    pthread_mutex_lock(&s->mu);
    if (strstr(json, "\"event\":\"display\"")) s->displays++;
    if (strstr(json, "\"event\":\"signature\"")) s->signatures++;
    pthread_mutex_unlock(&s->mu);
    return 1; /* accept the signature */
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *listener = getenv("OKC_TEST_LISTENER");
    CHECK(listener && getenv("OKC_TERMINAL"), "OKC_TERMINAL and OKC_TEST_LISTENER set");
    struct seen s = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0x5EED};
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"listener\":\"%s\",\"application_name\":\"okc C test\"}", listener);
    OkcPay *t = NULL;
    CHECK(okc_pay_open(cfg, on_event, &s, &t) == OKC_OK && t, "open");

    char *r = NULL;
    OkcStatus st = okc_pay_payment(t, 1250, "SEK", "c-test-1", &r);
    CHECK(st == OKC_OK && r, "approved (status %d)", (int)st);
    CHECK(strstr(r, "\"approved\":true") && strstr(r, "\"amount\":1250"), "result: %s", r);
    char *again = NULL;
    CHECK(okc_pay_payment(t, 1250, "SEK", "c-test-1", &again) == OKC_OK, "same reference");
    CHECK(strcmp(r, again) == 0, "the recorded result");
    okc_string_free(again);
    okc_string_free(r);
    pthread_mutex_lock(&s.mu);
    CHECK(s.displays > 0 && s.signatures == 1, "events: %d displays, %d signatures", s.displays,
          s.signatures);
    pthread_mutex_unlock(&s.mu);

    usleep(400000); /* the terminal is busy after a payment (the back end retries anyway) */
    r = NULL;
    CHECK(okc_pay_reverse_last(t, &r) == OKC_OK && strstr(r, "\"kind\":\"reversal\""), "reversal");
    okc_string_free(r);

    r = (char *)1;
    CHECK(okc_pay_payment(t, 0, "SEK", "c-zero", &r) == OKC_ERR_INVALID_ARGUMENT && !r, "amount 0");
    CHECK(okc_pay_payment(t, 100, NULL, "c-null", &r) == OKC_ERR_NULL, "NULL currency");
    CHECK(okc_pay_payment(NULL, 100, "SEK", "c", &r) == OKC_ERR_BAD_HANDLE, "NULL handle");
    CHECK(okc_pay_batch_close(t, &r) == OKC_ERR_UNSUPPORTED && !r, "batch close");

    CHECK(okc_pay_close(t) == OKC_OK, "close");
    s.magic = 0; /* any later callback aborts */
    CHECK(okc_pay_close(t) == OKC_OK, "close again");
    CHECK(okc_pay_abort(t) == OKC_ERR_BAD_HANDLE && strstr(okc_last_error(), "already closed"),
          "closed handle");
    usleep(300000);
    printf("PASS %d checks\n", checks);
    return 0;
}
