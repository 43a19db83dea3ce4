// A complete sale through IntegrationHub.dll, written exactly like existing customer code
// (vendor API only, no okclink extras) — the same source builds against the vendor's assembly.
//
//   mcs -target:library -codepage:utf8 -out:IntegrationHub.dll bindings/csharp/IntegrationHub.cs bindings/csharp/Terminal.cs bindings/csharp/Orders.cs
//   mcs -codepage:utf8 -r:IntegrationHub.dll -out:Sale.exe examples/csharp/Sale.cs
//   okc sim --listen 127.0.0.1:7700 &
//   LD_LIBRARY_PATH=target/debug OKC_TRANSPORT=tcp://127.0.0.1:7700 mono Sale.exe
//
// On Windows: put okclink.dll (same bitness as the process) next to Sale.exe.
// Exit code 0 when the device printed the receipt (sale info status 0).

using System;
using System.Runtime.InteropServices;
using System.Threading;

static class Sale
{
    public static IntegrationHub.POSCommunication communication =
        IntegrationHub.POSCommunication.getInstance("Örnek Büfe");

    static readonly ManualResetEvent connected = new ManualResetEvent(false);
    static readonly ManualResetEvent finished = new ManualResetEvent(false);
    static string basketId;
    static string result;

    public static void serialInCallback(int type, [MarshalAs(UnmanagedType.BStr)] string value)
    {
        Console.WriteLine("serialIn(" + type + "): " + value);
        if (type == 3 && value.Contains("\"basketID\":\"" + basketId + "\""))
        {
            result = value;
            finished.Set();
        }
        else if (type == 9 || (type == 1 && !value.StartsWith("{") && value != "OK"))
        {
            result = value; // "Device is not connected" or the device's refusal text
            finished.Set();
        }
    }

    public static void deviceStateCallback(bool isConnected, [MarshalAs(UnmanagedType.BStr)] string id)
    {
        Console.WriteLine("deviceState(" + isConnected + ", " + id + ")");
        if (isConnected)
            connected.Set();
    }

    static int Main()
    {
        communication.setSerialInCallback(serialInCallback);
        communication.setDeviceStateCallback(deviceStateCallback);
        if (!connected.WaitOne(30000))
        {
            Console.WriteLine("no device");
            return 1;
        }
        // "You have to call getFiscalInfo() every time DeviceStateCallback returns isConnected true."
        Console.WriteLine("fiscal info: " + communication.getFiscalInfo());

        basketId = Guid.NewGuid().ToString();
        string json = "{\"basketID\":\"" + basketId + "\",\"documentType\":0," +
                      "\"items\":[{\"name\":\"ÇAY\",\"price\":1500,\"quantity\":2000,\"sectionNo\":1,\"taxPercent\":1000,\"type\":0}," +
                      "{\"name\":\"SİMİT\",\"price\":1000,\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":1000,\"type\":0}]," +
                      "\"paymentItems\":[{\"description\":\"NAKIT\",\"amount\":4000,\"type\":1}]}";
        int basketStatus = communication.sendBasket(json);
        if (basketStatus != 1)
        {
            Console.WriteLine("sendBasket returned " + basketStatus);
            return 1;
        }
        if (!finished.WaitOne(120000))
        {
            Console.WriteLine("no sale info");
            return 1;
        }
        bool ok = result.StartsWith("{") && result.Contains("\"status\":0");
        Console.WriteLine(ok ? "sale completed" : "sale failed: " + result);
        communication.deleteCommunication();
        return ok ? 0 : 1;
    }
}
