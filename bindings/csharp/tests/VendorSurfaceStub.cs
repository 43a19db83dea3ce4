// Reference-only stand-in for the vendor's IntegrationHub.dll 2.5.0.1: exactly the public
// surface of DROP-IN.md §3.2 and nothing else, every body throws. Customer programs are
// compiled against THIS, then run with okclink's IntegrationHub.dll in its place — the
// drop-in check that compiled customer binaries bind to our assembly unchanged.
using System;
using System.Reflection;

[assembly: AssemblyVersion("2.5.0.1")]

namespace IntegrationHub
{
    public class POSCommunication
    {
        public delegate void SerialInCallback(int type, string value);
        public delegate void DeviceStateCallback(bool isConnected, string id);

        POSCommunication() { }

        public static POSCommunication Instance { get { throw new NotImplementedException(); } }
        public static POSCommunication getInstance(string companyName) { throw new NotImplementedException(); }
        public int sendBasket(string json) { throw new NotImplementedException(); }
        public int sendPayment(string json) { throw new NotImplementedException(); }
        public string getFiscalInfo() { throw new NotImplementedException(); }
        public int getActiveDeviceIndex() { throw new NotImplementedException(); }
        public void deleteCommunication() { throw new NotImplementedException(); }
        public void reConnect() { throw new NotImplementedException(); }
        public void setSerialInCallback(SerialInCallback cb) { throw new NotImplementedException(); }
        public void setDeviceStateCallback(DeviceStateCallback cb) { throw new NotImplementedException(); }
    }
}
