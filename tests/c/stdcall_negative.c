/* Self-test of scripts/check-exports.sh: a DLL whose exports are __stdcall (callee pops,
 * `ret $N`) must be rejected by the win32 check. Never shipped. */
#define X(name, ...) __declspec(dllexport) int __stdcall name(__VA_ARGS__) { return (int)(long)a; }
X(createCommunication, void *a)
X(deleteCommunication, void *a)
X(getActiveDeviceIndex, void *a)
X(getFiscalInfo, void *a)
X(reconnect, void *a)
X(sendBasket, void *a, void *b)
X(sendPayment, void *a, void *b)
X(setDeviceStateCallback, void *a, void *b)
X(setSerialInCallback, void *a, void *b)
