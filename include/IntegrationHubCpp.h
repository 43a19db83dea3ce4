/* IntegrationHubCpp.h — C declarations of IntegrationHubCpp.dll (okclink's vendor-compatible
 * Windows DLL, x86 and x64). Same exports, calling conventions and ordinals as the vendor DLL:
 *   exports __cdecl, callbacks __stdcall, text in as const wchar_t* (UTF-16),
 *   text out as BSTR (free with SysFreeString), callback BSTRs owned by the DLL and freed
 *   right after the callback returns (copy them).
 * Turkish text reaches the device as Windows-1254 whatever the system code page is.
 * Fixes: getFiscalInfo returns an empty BSTR without a device, sendBasket/sendPayment
 * return 0 without a device, deleteCommunication is bounded and idempotent.
 * Link with the import library or load with LoadLibrary/GetProcAddress (names undecorated).
 */
#ifndef INTEGRATION_HUB_CPP_H
#define INTEGRATION_HUB_CPP_H

#include <wchar.h>
#include <oleauto.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void(__stdcall *SerialInCallback)(int type, BSTR value);
typedef void(__stdcall *DeviceStateCallback)(int isConnected, BSTR id); /* bool as 32-bit 0/1 */

__declspec(dllimport) void *__cdecl createCommunication(const wchar_t *companyName);
__declspec(dllimport) void __cdecl deleteCommunication(void *h);
__declspec(dllimport) void __cdecl reconnect(void *h);
__declspec(dllimport) int __cdecl getActiveDeviceIndex(void *h); /* -1 none, 0 X30TR, 1 300TR */
__declspec(dllimport) int __cdecl sendBasket(void *h, const wchar_t *json);
__declspec(dllimport) int __cdecl sendPayment(void *h, const wchar_t *json);
__declspec(dllimport) BSTR __cdecl getFiscalInfo(void *h);
__declspec(dllimport) void __cdecl setSerialInCallback(void *h, SerialInCallback cb);
__declspec(dllimport) void __cdecl setDeviceStateCallback(void *h, DeviceStateCallback cb);

#ifdef __cplusplus
}
#endif

#endif /* INTEGRATION_HUB_CPP_H */
