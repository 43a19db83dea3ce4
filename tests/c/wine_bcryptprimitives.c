/* Test-only stand-in for bcryptprimitives.dll, which Wine 8 (Debian 12) lacks and Rust's std
 * imports (ProcessPrng) on Windows. Real Windows 8+ has it; this file is never shipped.
 * Built by .ci/test-ffi.sh next to the wine test program. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
