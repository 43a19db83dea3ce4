// End-to-end test of IntegrationHub.dll under mono against `okc sim`, written with the call
// patterns of real customer code (DROP-IN.md §3.3): a static getInstance field, callback
// methods with [MarshalAs(UnmanagedType.BStr)] parameters passed as method groups, callbacks
// registered from another thread, `sendBasket(...) == 1`, type-3 sale info with status 0,
// deleteCommunication / reConnect, DLL version via reflection.
// The transport comes from OKC_TRANSPORT (tcp://127.0.0.1:PORT). Exit code 0 = all passed.

using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

static class Program
{
    // Customer pattern: hizlisepet Program.cs:51 / vendor doc snippet.
    public static IntegrationHub.POSCommunication communication =
        IntegrationHub.POSCommunication.getInstance("TOKEN FINTECH");

    static int failures;
    static readonly object gate = new object();
    static readonly List<KeyValuePair<int, string>> serialIns = new List<KeyValuePair<int, string>>();
    static readonly List<KeyValuePair<bool, string>> states = new List<KeyValuePair<bool, string>>();
    static readonly List<int> stateThreads = new List<int>();

    static void Check(bool ok, string what)
    {
        Console.WriteLine((ok ? "ok   " : "FAIL ") + what);
        if (!ok)
            failures++;
    }

    // Customer callback shapes (hizlisepet Form1.cs:72 and :124).
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
        lock (gate)
        {
            states.Add(new KeyValuePair<bool, string>(isConnected, id));
            stateThreads.Add(Thread.CurrentThread.ManagedThreadId);
            Monitor.PulseAll(gate);
        }
    }

    static bool WaitFor(Func<bool> cond, int ms)
    {
        DateTime end = DateTime.UtcNow.AddMilliseconds(ms);
        lock (gate)
        {
            while (!cond())
            {
                int left = (int)(end - DateTime.UtcNow).TotalMilliseconds;
                if (left <= 0)
                    return false;
                Monitor.Wait(gate, left);
            }
            return true;
        }
    }

    static string SaleWith(string basketId)
    {
        lock (gate)
            return serialIns.Where(p => p.Key == 3 && p.Value.Contains("\"basketID\":\"" + basketId + "\""))
                .Select(p => p.Value).FirstOrDefault();
    }

    static string Basket(string id, int paymentType)
    {
        return "{\"basketID\":\"" + id + "\",\"documentType\":0,\"customerInfo\":null," +
               "\"items\":[{\"name\":\"ÇAYKUR RİZE ÇAY\",\"price\":1500,\"quantity\":2000,\"sectionNo\":1,\"taxPercent\":1000,\"type\":0}," +
               "{\"name\":\"SİMİT\",\"price\":1000,\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":1000,\"type\":0}]," +
               "\"paymentItems\":[{\"description\":\"NAKIT\",\"amount\":4000,\"type\":" + paymentType + "}]}";
    }

    sealed class RecordingContext : SynchronizationContext
    {
        public readonly Thread Worker;
        readonly Queue<KeyValuePair<SendOrPostCallback, object>> q = new Queue<KeyValuePair<SendOrPostCallback, object>>();

        public RecordingContext()
        {
            Worker = new Thread(Run) { IsBackground = true, Name = "ui" };
            Worker.Start();
        }

        public override void Post(SendOrPostCallback d, object state)
        {
            lock (q)
            {
                q.Enqueue(new KeyValuePair<SendOrPostCallback, object>(d, state));
                Monitor.Pulse(q);
            }
        }

        void Run()
        {
            while (true)
            {
                KeyValuePair<SendOrPostCallback, object> item;
                lock (q)
                {
                    while (q.Count == 0)
                        Monitor.Wait(q);
                    item = q.Dequeue();
                }
                item.Key(item.Value);
            }
        }
    }

    static int Main()
    {
        try
        {
            Run();
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL unexpected exception: " + e);
            failures++;
        }
        Console.WriteLine(failures == 0 ? "csharp: all checks passed" : "csharp: " + failures + " check(s) failed");
        return failures == 0 ? 0 : 1;
    }

    static void Run()
    {
        Console.WriteLine("okclink native " + IntegrationHub.POSCommunication.NativeVersion);

        // Singleton: Instance and later names return the same object.
        Check(ReferenceEquals(communication, IntegrationHub.POSCommunication.Instance), "Instance == getInstance");
        Check(ReferenceEquals(communication, IntegrationHub.POSCommunication.getInstance("OTHER")), "second getInstance name ignored");

        // DLL version via reflection (hizlisepet getDllVersion).
        Assembly asm = AppDomain.CurrentDomain.GetAssemblies().First(a => a.GetName().Name == "IntegrationHub");
        Version v = asm.GetName().Version;
        Check(v >= new Version(2, 5, 5, 0), "AssemblyVersion " + v + " >= 2.5.5.0");
        Check(asm.GetName().GetPublicKeyToken().Length == 0, "not strong-named");

        // The vendor surface (DROP-IN.md §3.2), signature by signature.
        Type pc = typeof(IntegrationHub.POSCommunication);
        Check(pc.IsPublic && pc.IsClass && pc.FullName == "IntegrationHub.POSCommunication", "type IntegrationHub.POSCommunication");
        PropertyInfo inst = pc.GetProperty("Instance", BindingFlags.Public | BindingFlags.Static);
        Check(inst != null && inst.PropertyType == pc && inst.GetGetMethod() != null, "static Instance { get; }");
        Type sic = pc.GetNestedType("SerialInCallback"), dsc = pc.GetNestedType("DeviceStateCallback");
        Check(sic != null && sic.IsNestedPublic && typeof(Delegate).IsAssignableFrom(sic), "nested delegate SerialInCallback");
        Check(dsc != null && dsc.IsNestedPublic && typeof(Delegate).IsAssignableFrom(dsc), "nested delegate DeviceStateCallback");
        Func<Type, string> sig = d => d == null ? "?" : string.Join(",", d.GetMethod("Invoke").GetParameters().Select(p => p.ParameterType.Name)) + "->" + d.GetMethod("Invoke").ReturnType.Name;
        Check(sig(sic) == "Int32,String->Void", "SerialInCallback(int, string) : void");
        Check(sig(dsc) == "Boolean,String->Void", "DeviceStateCallback(bool, string) : void");
        var members = new[]
        {
            Tuple.Create("getInstance", new[] { typeof(string) }, pc, true),
            Tuple.Create("sendBasket", new[] { typeof(string) }, typeof(int), false),
            Tuple.Create("sendPayment", new[] { typeof(string) }, typeof(int), false),
            Tuple.Create("getFiscalInfo", Type.EmptyTypes, typeof(string), false),
            Tuple.Create("getActiveDeviceIndex", Type.EmptyTypes, typeof(int), false),
            Tuple.Create("deleteCommunication", Type.EmptyTypes, typeof(void), false),
            Tuple.Create("reConnect", Type.EmptyTypes, typeof(void), false),
            Tuple.Create("setSerialInCallback", new[] { sic }, typeof(void), false),
            Tuple.Create("setDeviceStateCallback", new[] { dsc }, typeof(void), false),
        };
        foreach (var m in members)
        {
            MethodInfo mi = pc.GetMethod(m.Item1, BindingFlags.Public | (m.Item4 ? BindingFlags.Static : BindingFlags.Instance), null, m.Item2, null);
            Check(mi != null && mi.ReturnType == m.Item3, "member " + m.Item1 + "(" + string.Join(", ", m.Item2.Select(x => x == null ? "?" : x.Name)) + ") : " + m.Item3.Name);
        }

        // Callbacks registered from a separate thread, method groups passed inline.
        var t = new Thread(() =>
        {
            communication.setSerialInCallback(serialInCallback);
            communication.setDeviceStateCallback(deviceStateCallback);
        });
        t.Start();
        t.Join();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Check(WaitFor(() => states.Any(s => s.Key), 15000), "deviceState(true, serial) received");
        string serial;
        lock (gate)
            serial = states.Last(s => s.Key).Value;
        Check(!string.IsNullOrEmpty(serial), "device serial '" + serial + "'");
        Check(communication.getActiveDeviceIndex() == 0, "getActiveDeviceIndex() == 0 (X30TR)");
        Check(communication.IsConnected && communication.DeviceSerial == serial, "IsConnected/DeviceSerial");

        string fiscal = communication.getFiscalInfo();
        Check(fiscal.StartsWith("{") && fiscal.Contains("\"sections\""), "getFiscalInfo() returns fiscal JSON (" + fiscal.Length + " chars)");

        // A full sale, synchronous vendor style.
        string id1 = Guid.NewGuid().ToString();
        int basketStatus = communication.sendBasket(Basket(id1, 1));
        Check(basketStatus == 1, "sendBasket(...) == 1 (got " + basketStatus + ")");
        Check(WaitFor(() => SaleWith(id1) != null, 30000), "serialIn(3, sale info) for basket " + id1);
        string sale = SaleWith(id1) ?? "";
        Console.WriteLine("     sale info: " + sale);
        Check(sale.Contains("\"status\":0"), "sale info status 0");
        Check(sale.Contains("\"receiptNo\""), "sale info has receiptNo");
        Check(sale.Contains("\"paymentItems\":[{") && sale.Contains("\"type\":1"), "sale info has the cash payment");

        // A customer callback that throws must not take the process down.
        int thrown = 0;
        communication.CallbackException += e => Interlocked.Increment(ref thrown);
        communication.setSerialInCallback((type, value) =>
        {
            serialInCallback(type, value); // keep the record complete
            throw new InvalidOperationException("customer bug " + type);
        });
        string id2 = Guid.NewGuid().ToString();
        Task<string> async = communication.SendBasketAsync(Basket(id2, 1), 30000);
        bool done = false;
        try
        {
            done = async.Wait(35000);
        }
        catch (AggregateException e)
        {
            Console.WriteLine("     SendBasketAsync faulted: " + e.InnerException);
        }
        Check(done && async.Status == TaskStatus.RanToCompletion, "SendBasketAsync completed");
        string sale2 = done && async.Status == TaskStatus.RanToCompletion ? async.Result : "";
        Check(sale2.Contains("\"basketID\":\"" + id2 + "\"") && sale2.Contains("\"status\":0"), "SendBasketAsync result is the sale info of " + id2 + (sale2.Contains(id2) ? "" : ": " + sale2));
        for (int i = 0; i < 50 && Thread.VolatileRead(ref thrown) == 0; i++)
            Thread.Sleep(100);
        Check(Thread.VolatileRead(ref thrown) > 0, "exceptions thrown in a callback were caught and reported");
        communication.setSerialInCallback(serialInCallback);

        // A basket the device refuses: its cp1254 text arrives as a correct .NET string.
        Task<string> rejected = communication.SendBasketAsync(Basket(Guid.NewGuid().ToString(), 99), 30000);
        string reason = null;
        try
        {
            rejected.Wait(35000);
        }
        catch (AggregateException e)
        {
            var pe = e.InnerException as IntegrationHub.POSCommunicationException;
            if (pe != null)
                reason = pe.Message;
        }
        Check(reason == "Geçersiz ödeme tipi", "rejected basket text '" + reason + "'");
        Check(WaitFor(() => serialIns.Any(p => p.Key == 1 && p.Value == "Geçersiz ödeme tipi"), 5000), "serialIn(1, \"Geçersiz ödeme tipi\")");

        // Invalid JSON: no crash, a non-1 code and a reason.
        int bad = communication.sendBasket("{not json");
        Check(bad == 0 && communication.LastStatus == -4, "sendBasket(invalid JSON) == 0, LastStatus -4 (got " + bad + ", " + communication.LastStatus + ")");
        Check(!string.IsNullOrEmpty(communication.LastError), "LastError: " + communication.LastError);
        Check(communication.sendBasket(null) != 1, "sendBasket(null) != 1");

        // deleteCommunication fires (false, "") and stops; reConnect brings the device back.
        int before;
        lock (gate)
            before = states.Count;
        communication.deleteCommunication();
        Check(WaitFor(() => states.Skip(before).Any(s => !s.Key && s.Value == ""), 5000), "deviceState(false, \"\") after deleteCommunication");
        Check(communication.getActiveDeviceIndex() == -1, "getActiveDeviceIndex() == -1 after delete");
        Check(communication.sendBasket(Basket("x", 1)) == 0 && communication.LastStatus == -6, "sendBasket without device == 0 (LastStatus -6)");
        Check(communication.getFiscalInfo() == "", "getFiscalInfo() without device == \"\" (no crash)");
        lock (gate)
            before = states.Count;
        communication.reConnect();
        Check(WaitFor(() => states.Skip(before).Any(s => s.Key && s.Value == serial), 15000), "deviceState(true, serial) after reConnect");

        // SynchronizationContext marshalling: the replayed state arrives on the context's thread.
        var ctx = new RecordingContext();
        communication.CallbackContext = ctx;
        lock (gate)
            before = states.Count;
        communication.setDeviceStateCallback(deviceStateCallback);
        Check(WaitFor(() => states.Count > before, 5000), "state replayed on setDeviceStateCallback");
        lock (gate)
            Check(stateThreads.Last() == ctx.Worker.ManagedThreadId, "callback ran on the SynchronizationContext thread");
        communication.CallbackContext = null;

        string id3 = Guid.NewGuid().ToString();
        Check(communication.sendBasket(Basket(id3, 1)) == 1, "sendBasket after reConnect == 1");
        Check(WaitFor(() => SaleWith(id3) != null, 30000) && SaleWith(id3).Contains("\"status\":0"), "sale after reConnect");

        int copies;
        lock (gate)
            copies = serialIns.Count(p => p.Key == 3 && p.Value.Contains("\"basketID\":\"" + id1 + "\""));
        Check(copies == 1, "sale info of the first basket delivered once (got " + copies + ")");
        lock (gate)
            Console.WriteLine("     type-3 sequence: " + string.Join(" | ", serialIns.Where(p => p.Key == 3).Select(p => p.Value.Length > 60 ? p.Value.Substring(0, 60) : p.Value)));

        communication.Dispose();
        Check(communication.getActiveDeviceIndex() == -1, "disposed: index -1");
        Check(communication.sendBasket(Basket("y", 1)) == 0 && communication.LastStatus == -9, "disposed: sendBasket == 0 (LastStatus -9)");
        Check(communication.Confirm("y") == -9, "disposed: Confirm == -9");

        ExplicitConfirm();
    }

    // okclink extension: with "confirm": "explicit" a sale info the application did not
    // Confirm is delivered again by the next instance on the same journal; a confirmed one
    // is not.
    static void ExplicitConfirm()
    {
        Console.WriteLine("-- explicit confirmation across restarts");
        string j = System.IO.Path.Combine(System.IO.Path.GetTempPath(),
            "okc-cs-confirm-" + System.Diagnostics.Process.GetCurrentProcess().Id + ".sqlite");
        foreach (string suffix in new[] { "", "-wal", "-shm" })
            System.IO.File.Delete(j + suffix);
        IntegrationHub.POSCommunication.ConfigJson =
            "{\"journal\":\"" + j.Replace("\\", "\\\\") + "\",\"confirm\":\"explicit\"}";
        string id = "CS-CONFIRM-" + Guid.NewGuid().ToString("N");
        Func<string, int> copies = b =>
        {
            lock (gate)
                return serialIns.Count(p => p.Key == 3 && p.Value.Contains("\"basketID\":\"" + b + "\""));
        };

        var first = IntegrationHub.POSCommunication.getInstance("CS CONFIRM");
        first.setSerialInCallback(serialInCallback);
        Check(first.WaitConnectedAsync(15000).Wait(20000), "explicit: connected");
        Check(first.sendBasket(Basket(id, 1)) == 1, "explicit: sendBasket == 1");
        Check(WaitFor(() => copies(id) == 1, 30000), "explicit: sale info delivered");
        Check(first.Confirm("CS-NO-SUCH-BASKET") == -18, "Confirm(unknown) == -18 (OKC_ERR_NOT_FOUND)");
        first.Dispose();

        var second = IntegrationHub.POSCommunication.getInstance("CS CONFIRM");
        second.setSerialInCallback(serialInCallback);
        Check(WaitFor(() => copies(id) == 2, 15000), "not confirmed: delivered again by the next instance");
        Check(second.Confirm(id) == 0 && second.Confirm(id) == 0, "Confirm(basketID) == 0, twice");
        second.Dispose();

        var third = IntegrationHub.POSCommunication.getInstance("CS CONFIRM");
        third.setSerialInCallback(serialInCallback);
        string id2 = id + "-2";
        Check(third.WaitConnectedAsync(15000).Wait(20000), "explicit: connected again");
        Check(third.sendBasket(Basket(id2, 1)) == 1 && WaitFor(() => copies(id2) == 1, 30000), "explicit: a new sale");
        Check(copies(id) == 2, "confirmed: not delivered again (" + copies(id) + " copies)");
        third.Dispose();
        IntegrationHub.POSCommunication.ConfigJson = null;
        foreach (string suffix in new[] { "", "-wal", "-shm" })
            System.IO.File.Delete(j + suffix);
    }
}
