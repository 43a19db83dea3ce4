/* IntegrationHubWrapper.h — declarations of libIntegrationHub.so (okclink's vendor-compatible
 * Linux library). Source-compatible with the header shipped with the vendor's Linux .so:
 * existing code compiles unchanged and links with -lIntegrationHub.
 *
 * Strings are libstdc++ std::string (new "cxx11" ABI) passed by value; text is UTF-8
 * (bytes that are not valid UTF-8 are read as Windows-1254). Callbacks receive a temporary
 * string owned by the library, valid during the call only, on a library thread.
 *
 * Differences from the vendor (fixes): getFiscalInfo() returns "" when no device is active,
 * sendBasket()/sendPayment() return 0 when no device is active (1 = accepted, -1 = the
 * 300TR did not acknowledge and serialIn(9, "Device is not connected") was delivered),
 * deleteCommunication() is bounded and may be called any number of times, and NULL or
 * unknown handles are ignored. Set OKC_TRANSPORT (e.g. "tcp://127.0.0.1:7700") to choose
 * the transports. See INSTALL.md and docs/C-API.md.
 */
#ifndef INTEGRATION_HUB_WRAPPER_H
#define INTEGRATION_HUB_WRAPPER_H

#include <string>

typedef void ConnectionWrapper;
typedef void (*SerialInCallback)(int, std::string);
typedef void (*DeviceStateCallback)(bool, std::string);

/* Creates the connection object; discovery runs in the background. */
extern "C" ConnectionWrapper *createCommunication(std::string companyName);
/* Disconnects (DISCONNECT to the device, deviceState(false, "")); reconnect() restarts. */
extern "C" void deleteCommunication(ConnectionWrapper *ptr);
extern "C" void reconnect(ConnectionWrapper *ptr);
/* -1 no device, 0 for X30TR, 1 for 300TR */
extern "C" int getActiveDeviceIndex(ConnectionWrapper *ptr);
extern "C" int sendBasket(ConnectionWrapper *ptr, std::string jsonData);
extern "C" int sendPayment(ConnectionWrapper *ptr, std::string jsonData);
extern "C" std::string getFiscalInfo(ConnectionWrapper *ptr);
extern "C" void setSerialInCallback(ConnectionWrapper *ptr, SerialInCallback callback);
extern "C" void setDeviceStateCallback(ConnectionWrapper *ptr, DeviceStateCallback callback);

#endif /* INTEGRATION_HUB_WRAPPER_H */
