// 300TR flows through IntegrationHub.dll under mono, in the customer style of DROP-IN.md §3.3
// (hizlisepet Form1.cs: `if (communication.getActiveDeviceIndex() == 1) sendPayment(json)`,
// `sendPayment("{\"isVoid\": true}")`). Transport from OKC_TRANSPORT (tcp://…?model=300tr).
//   mono Sale300Test.exe            a sale with a separate payment, a refused basket, a void
//   mono Sale300Test.exe ignore-ack against `okc sim --model 300tr --ignore-ack`: sendBasket == -1
//                                   and serialIn(9, "Device is not connected")
// Exit code 0 = all checks passed.

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;

static class Program
{
    static IntegrationHub.POSCommunication communication;
    static int failures;
    static readonly object gate = new object();
    static readonly List<KeyValuePair<int, string>> serialIns = new List<KeyValuePair<int, string>>();
    static volatile bool connected;

    static void Check(bool ok, string what)
    {
        Console.WriteLine((ok ? "ok   " : "FAIL ") + what);
        if (!ok)
            failures++;
    }

    public static void serialInCallback(int type, [MarshalAs(UnmanagedType.BStr)] string value)
    {
        lock (gate)
        {
            serialIns.Add(new KeyValuePair<int, string>(type, value));
            Monitor.PulseAll(gate);
        }
    }

    public static void deviceStateCallback(bool isConnected, [MarshalAs(UnmanagedType.BStr)] string id)
    {
        connected = isConnected;
        lock (gate)
            Monitor.PulseAll(gate);
    }

    static string WaitFor(int type, Func<string, bool> match, int ms, ref int from)
    {
        DateTime end = DateTime.UtcNow.AddMilliseconds(ms);
        lock (gate)
        {
            while (true)
            {
                for (; from < serialIns.Count; from++)
                {
                    if (serialIns[from].Key == type && match(serialIns[from].Value))
                        return serialIns[from++].Value;
                }
                int left = (int)(end - DateTime.UtcNow).TotalMilliseconds;
                if (left <= 0)
                    return null;
                Monitor.Wait(gate, left);
            }
        }
    }

    static int Main(string[] args)
    {
        bool ignoreAck = args.Length > 0 && args[0] == "ignore-ack";
        try
        {
            IntegrationHub.POSCommunication.ConfigJson = "{\"ack_timeout_ms\":300,\"log_dir\":\"\"}";
            communication = IntegrationHub.POSCommunication.getInstance("TOKEN FINTECH");
            communication.setSerialInCallback(serialInCallback);
            communication.setDeviceStateCallback(deviceStateCallback);
            for (int i = 0; i < 150 && !connected; i++)
                Thread.Sleep(100);
            Check(connected, "deviceState(true, …)");
            Check(communication.getActiveDeviceIndex() == 1, "getActiveDeviceIndex() == 1 (300TR)");
            if (ignoreAck)
                RunIgnoreAck();
            else
                Run();
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL unexpected exception: " + e);
            failures++;
        }
        Console.WriteLine(failures == 0 ? "csharp 300tr: all checks passed" : "csharp 300tr: " + failures + " check(s) failed");
        return failures == 0 ? 0 : 1;
    }

    const string Items = "\"items\":[{\"name\":\"ÇAY\",\"price\":1500,\"quantity\":2000,\"sectionNo\":1,\"taxPercent\":1000,\"type\":0}," +
                         "{\"name\":\"SİMİT\",\"price\":1000,\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":1000,\"type\":0}]";

    static void Run()
    {
        int seen = 0;
        string fiscal = communication.getFiscalInfo();
        Check(fiscal.Contains("\"sections\""), "getFiscalInfo() on the 300TR");

        string id = Guid.NewGuid().ToString();
        Check(communication.sendBasket("{\"basketID\":\"" + id + "\"," + Items + "}") == 1, "sendBasket == 1");
        Check(WaitFor(1, v => v.Contains(id) && v.Contains("\"status\":0"), 10000, ref seen) != null, "serialIn(1) basket accepted");
        if (communication.getActiveDeviceIndex() == 1)
        {
            int r = communication.sendPayment("{\"description\":\"NAKIT\",\"amount\":4000,\"type\":1}");
            Check(r == 1, "sendPayment == 1");
        }
        Check(WaitFor(10, v => v.Contains("\"status\":0"), 10000, ref seen) != null, "serialIn(10) payment accepted");
        string sale = WaitFor(3, v => v.Contains(id), 30000, ref seen);
        Check(sale != null && sale.Contains("\"status\":0") && sale.Contains("\"amount\":4000"), "serialIn(3) sale info: " + sale);

        // A basket with payments inside: the 300TR wants them separately (cp1254 text from the device).
        Check(communication.sendBasket("{\"basketID\":\"x\"," + Items + ",\"paymentItems\":[{\"amount\":4000,\"type\":1}]}") == 1, "sendBasket(with payments) == 1");
        string refusal = WaitFor(1, v => !v.StartsWith("{"), 10000, ref seen);
        Check(refusal == "Ödemeleri ayrı ayrı göndermelisiniz", "refusal text '" + refusal + "'");

        // Open a receipt, then cancel it (Form1.cs:1123).
        string id2 = Guid.NewGuid().ToString();
        Check(communication.sendBasket("{\"basketID\":\"" + id2 + "\"," + Items + "}") == 1, "sendBasket (to void) == 1");
        Check(WaitFor(1, v => v.Contains(id2), 10000, ref seen) != null, "basket to void accepted");
        Check(communication.sendPayment("{\"isVoid\": true}") == 1, "sendPayment(isVoid) == 1");
        string voided = WaitFor(3, v => v.StartsWith("{"), 30000, ref seen);
        Check(voided != null && voided.Contains("\"status\":99"), "void: sale info status 99: " + voided);
        communication.deleteCommunication();
    }

    static void RunIgnoreAck()
    {
        int seen = 0;
        int r = communication.sendBasket("{\"basketID\":\"n\"," + Items + "}");
        Check(r == -1, "sendBasket without ACK == -1 (got " + r + ", status " + communication.LastStatus + ")");
        string nine = WaitFor(9, v => true, 5000, ref seen);
        Check(nine == "Device is not connected", "serialIn(9, \"" + nine + "\")");
        r = communication.sendPayment("{\"amount\":100,\"type\":1}");
        Check(r == -1, "sendPayment without ACK == -1");
    }
}
