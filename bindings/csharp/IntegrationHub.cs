// IntegrationHub.dll — .NET drop-in for the vendor's managed assembly, over the okclink C API.
//
// Binary surface (DROP-IN.md §3.2): assembly "IntegrationHub" (not strong-named), class
// IntegrationHub.POSCommunication with Instance, getInstance(string), sendBasket, sendPayment,
// getFiscalInfo, getActiveDeviceIndex, deleteCommunication, reConnect, setSerialInCallback,
// setDeviceStateCallback and the nested delegates SerialInCallback(int,string) and
// DeviceStateCallback(bool,string). Everything else in this file is additive.
//
// Native library: "okclink" (okclink.dll on Windows — same bitness as the process —,
// libokclink.so on Linux/mono, found through LD_LIBRARY_PATH or IntegrationHub.dll.config).
// Build: mcs -target:library -sdk:4.5 -codepage:utf8 -out:IntegrationHub.dll IntegrationHub.cs Terminal.cs Orders.cs
// (Terminal.cs: the card-payment API, Orders.cs: Token X Energy orders, namespace Okclink).

using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

[assembly: AssemblyTitle("IntegrationHub")]
[assembly: AssemblyDescription("okclink: open replacement of the Token Integration Hub .NET assembly")]
[assembly: AssemblyProduct("okclink")]
[assembly: AssemblyCopyright("okclink contributors, MIT OR Apache-2.0")]
[assembly: AssemblyVersion("2.5.5.0")]
[assembly: AssemblyFileVersion("2.5.5.0")]
[assembly: AssemblyInformationalVersion("2.5.5.0 (okclink 0.1.0)")]
[assembly: ComVisible(false)]

namespace IntegrationHub
{
    /// <summary>Raised by the Task-based extras when a basket/payment is refused or cannot be sent.</summary>
    public class POSCommunicationException : Exception
    {
        /// <summary>sendBasket/sendPayment return value (1 accepted, 0 no device, -1 ACK timeout,
        /// other negatives = okclink status codes), or 1 when the device itself refused.</summary>
        public int Code { get; private set; }

        /// <summary>serialIn type that carried the refusal (1 basket reply, 9 not connected,
        /// 10 payment reply), 0 when the send call itself failed.</summary>
        public int ReplyType { get; private set; }

        public POSCommunicationException(string message, int code, int replyType) : base(message)
        {
            Code = code;
            ReplyType = replyType;
        }
    }

    public class POSCommunication : IDisposable
    {
        // ------------------------------------------------------------------ vendor surface

        public delegate void SerialInCallback(int type, string value);

        public delegate void DeviceStateCallback(bool isConnected, string id);

        /// <summary>The process-wide instance (vendor 1.0.x). Same object as getInstance.</summary>
        public static POSCommunication Instance
        {
            get { return getInstance(DefaultCompanyName); }
        }

        /// <summary>The process-wide instance; the company name of the first call wins (vendor).
        /// Never blocks: device discovery runs in the background.</summary>
        public static POSCommunication getInstance(string companyName)
        {
            lock (s_lock)
            {
                if (s_instance == null)
                    s_instance = new POSCommunication(companyName ?? "");
                return s_instance;
            }
        }

        /// <summary>1 = handed to the device; -1 = the 300TR did not answer the ACK request
        /// (serialIn(9, "Device is not connected") was delivered); 0 = anything else: no active
        /// device, invalid JSON, too large, destroyed (the reason is in LastError, the okclink
        /// status in LastStatus). Same convention as okclink's native vendor layers.</summary>
        public int sendBasket(string json)
        {
            return Send(json, false);
        }

        /// <summary>Payment or void ({"isVoid": true}), 300TR only. Return codes as sendBasket.</summary>
        public int sendPayment(string json)
        {
            return Send(json, true);
        }

        /// <summary>okclink extension (journal, configuration "confirm": "explicit"): the
        /// application has the sale info of basketID, it is not delivered again after a
        /// restart (with the default "callback" a sale info is confirmed when serialIn
        /// returns). Returns the okclink status: 0 ok, -18 no sale info recorded for it,
        /// -14 the journal is off, -17 the journal cannot be written (LastError says why).
        /// Confirming twice is 0 both times.</summary>
        public int Confirm(string basketID)
        {
            IntPtr h = _hub;
            if (h == IntPtr.Zero)
            {
                LastError = "the connection object was destroyed";
                return LastStatus = -9; // OKC_ERR_CLOSED
            }
            return LastStatus = Check(Native.okc_confirm(h, Utf8.Z(basketID)));
        }

        /// <summary>Asks the device for fiscal info and waits (default 5 s). On a timeout the last
        /// fiscal info received is returned; "" when there is no device (the vendor returned a
        /// garbage pointer there and crashed its callers).</summary>
        public string getFiscalInfo()
        {
            return FiscalInfo(-1);
        }

        /// <summary>-1 none, 0 X30TR (USB), 1 300TR (serial).</summary>
        public int getActiveDeviceIndex()
        {
            IntPtr h = _hub;
            if (h == IntPtr.Zero)
                return -1;
            return Native.okc_active_device_index(h);
        }

        /// <summary>Says goodbye to the device (deviceState(false, "") follows); discovery stops
        /// until reConnect. The object stays usable.</summary>
        public void deleteCommunication()
        {
            IntPtr h = _hub;
            if (h != IntPtr.Zero)
                Check(Native.okc_disconnect(h));
        }

        /// <summary>Restarts discovery (after deleteCommunication or a lost device).</summary>
        public void reConnect()
        {
            IntPtr h = _hub;
            if (h != IntPtr.Zero)
                Check(Native.okc_reconnect(h));
        }

        /// <summary>Data from the device: type 1 basket reply, 3 sale info, 9 "Device is not
        /// connected", 10 payment reply. null clears. The delegate is kept alive by this object.</summary>
        public void setSerialInCallback(SerialInCallback cb)
        {
            _serialIn = cb;
        }

        /// <summary>(Dis)connection: (true, fiscal serial) / (false, ""). The last known state is
        /// delivered again at once (vendor). null clears.</summary>
        public void setDeviceStateCallback(DeviceStateCallback cb)
        {
            _deviceState = cb;
            IntPtr h = _hub;
            if (h != IntPtr.Zero)
                Check(Native.okc_set_device_state_callback(h, _nativeDeviceState, IntPtr.Zero));
        }

        // ------------------------------------------------------------------ extras

        /// <summary>Company name used by the parameterless Instance property.</summary>
        public const string DefaultCompanyName = "IntegrationHub";

        /// <summary>Extra okclink configuration (a JSON object, docs/C-API.md: transports,
        /// fiscal_timeout_ms, log_dir, …) used when the instance is created. Set it before the
        /// first getInstance. The OKC_TRANSPORT environment variable overrides "transports".</summary>
        public static string ConfigJson { get; set; }

        /// <summary>Version of the native okclink library.</summary>
        public static string NativeVersion
        {
            get { return Utf8.Read(Native.okc_version()); }
        }

        /// <summary>When set, every callback is posted to this context (e.g. the UI thread's)
        /// instead of running on the library's dispatcher thread.</summary>
        public SynchronizationContext CallbackContext { get; set; }

        /// <summary>Captures SynchronizationContext.Current (call it on the UI thread).</summary>
        public void UseCurrentSynchronizationContext()
        {
            CallbackContext = SynchronizationContext.Current;
        }

        /// <summary>Exceptions thrown by customer callbacks (they are caught, written to
        /// stderr and reported here; they never reach the native library).</summary>
        public event Action<Exception> CallbackException;

        /// <summary>Text of the last failure reported by the native library.</summary>
        public string LastError { get; private set; }

        /// <summary>okclink status of the last sendBasket/sendPayment (1 accepted, -1 null JSON,
        /// -4 invalid JSON, -5 too large, -6 no device, -8 ACK timeout, -9 closed; docs/C-API.md).</summary>
        public int LastStatus { get; private set; }

        /// <summary>Last reported device state.</summary>
        public bool IsConnected
        {
            get { return _connected; }
        }

        /// <summary>Fiscal serial of the connected device ("" when none).</summary>
        public string DeviceSerial
        {
            get { return _serial; }
        }

        /// <summary>getFiscalInfo with an explicit timeout (ms, negative = configured).</summary>
        public string getFiscalInfo(int timeoutMs)
        {
            return FiscalInfo(timeoutMs);
        }

        public Task<string> GetFiscalInfoAsync()
        {
            return Task.Run(() => FiscalInfo(-1));
        }

        /// <summary>Completes with the fiscal serial once a device is active; faults with
        /// TimeoutException.</summary>
        public Task<string> WaitConnectedAsync(int timeoutMs)
        {
            return Task.Run(() =>
            {
                IntPtr h = Handle();
                IntPtr p;
                int st = Native.okc_wait_connected(h, timeoutMs, out p);
                string serial = Utf8.Take(p);
                if (st != 0)
                {
                    LastError = Utf8.Read(Native.okc_last_error());
                    throw new TimeoutException("no device within " + timeoutMs + " ms: " + LastError);
                }
                return serial;
            });
        }

        /// <summary>Sends a basket and completes with the sale info JSON (serialIn type 3) —
        /// check its "status" (0 = success). Faults with POSCommunicationException when it
        /// cannot be sent or the device refuses it (the device's text is the message), and
        /// with TimeoutException after timeoutMs. Sales complete in the order they were sent.</summary>
        public Task<string> SendBasketAsync(string json, int timeoutMs = 120000)
        {
            // The basket ID (if any) rides along as the task's AsyncState: the sale info must carry it.
            Match id = json == null ? Match.Empty : s_basketId.Match(json);
            var tcs = new TaskCompletionSource<string>(id.Success ? id.Groups[1].Value : "");
            lock (_pending)
                _pending.Add(tcs);
            int rc = sendBasket(json);
            if (rc != 1)
            {
                Fail(tcs, new POSCommunicationException(
                    "sendBasket returned " + rc + " (okclink status " + LastStatus + ")" +
                    (LastError != null ? ": " + LastError : ""), rc, 0));
                return tcs.Task;
            }
            if (timeoutMs >= 0)
            {
                Task.Delay(timeoutMs).ContinueWith(_ =>
                    Fail(tcs, new TimeoutException("no sale info within " + timeoutMs + " ms")));
            }
            return tcs.Task;
        }

        /// <summary>Destroys the native object (bounded, no callback afterwards) and forgets the
        /// singleton; the next getInstance creates a new one.</summary>
        public void Dispose()
        {
            Shutdown();
            lock (s_lock)
            {
                if (ReferenceEquals(s_instance, this))
                    s_instance = null;
            }
            GC.SuppressFinalize(this);
        }

        ~POSCommunication()
        {
            Shutdown();
        }

        // ------------------------------------------------------------------ implementation

        static readonly object s_lock = new object();
        static POSCommunication s_instance;
        static readonly Regex s_status = new Regex("\"status\"\\s*:\\s*(-?[0-9]+)", RegexOptions.CultureInvariant);
        static readonly Regex s_basketId = new Regex("\"basketID\"\\s*:\\s*\"([^\"]*)\"", RegexOptions.CultureInvariant);

        IntPtr _hub;
        readonly object _hubLock = new object();
        // Native thunks: created once, rooted by this object for its whole lifetime and only
        // released after okc_destroy returned (after which the library never calls them).
        readonly Native.SerialInFn _nativeSerialIn;
        readonly Native.DeviceStateFn _nativeDeviceState;
        volatile SerialInCallback _serialIn;
        volatile DeviceStateCallback _deviceState;
        volatile bool _connected;
        volatile string _serial = "";
        readonly List<TaskCompletionSource<string>> _pending = new List<TaskCompletionSource<string>>();

        POSCommunication(string companyName)
        {
            _nativeSerialIn = OnNativeSerialIn;
            _nativeDeviceState = OnNativeDeviceState;
            IntPtr h;
            int st = Native.okc_create(Utf8.Z(BuildConfig(companyName, ConfigJson)), out h);
            if (st != 0 || h == IntPtr.Zero)
            {
                string err = Utf8.Read(Native.okc_last_error());
                GC.SuppressFinalize(this);
                throw new InvalidOperationException("okclink: okc_create failed (" + st + "): " + err);
            }
            _hub = h;
            Check(Native.okc_set_serial_in_callback(h, _nativeSerialIn, IntPtr.Zero));
            Check(Native.okc_set_device_state_callback(h, _nativeDeviceState, IntPtr.Zero));
            // Destroy before the runtime tears down, so no native thread calls into a dying domain.
            AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
            AppDomain.CurrentDomain.DomainUnload += OnProcessExit;
        }

        void OnProcessExit(object sender, EventArgs e)
        {
            Shutdown();
        }

        void Shutdown()
        {
            IntPtr h;
            lock (_hubLock)
            {
                h = _hub;
                _hub = IntPtr.Zero;
            }
            if (h == IntPtr.Zero)
                return;
            try
            {
                AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
                AppDomain.CurrentDomain.DomainUnload -= OnProcessExit;
            }
            catch (Exception)
            {
            }
            Native.okc_destroy(h);
            FailAll("the connection object was destroyed");
        }

        IntPtr Handle()
        {
            IntPtr h = _hub;
            if (h == IntPtr.Zero)
                throw new ObjectDisposedException("POSCommunication");
            return h;
        }

        int Check(int status)
        {
            if (status < 0)
                LastError = Utf8.Read(Native.okc_last_error());
            return status;
        }

        // The vendor's rules (send code 1 / -1 / 0, the fiscal-info fallback) are the library's
        // (okc_vendor_*, shared with the native vendor layers); this class only marshals.
        int Send(string json, bool payment)
        {
            IntPtr h = _hub;
            if (h == IntPtr.Zero)
            {
                LastError = "the connection object was destroyed";
                LastStatus = -9; // OKC_ERR_CLOSED
                return 0;
            }
            byte[] body = json == null ? null : Encoding.UTF8.GetBytes(json);
            UIntPtr len = new UIntPtr(body == null ? 0u : (uint)body.Length);
            int st;
            int code = payment
                ? Native.okc_vendor_send_payment(h, body, len, out st)
                : Native.okc_vendor_send_basket(h, body, len, out st);
            LastStatus = Check(st);
            return code;
        }

        string FiscalInfo(int timeoutMs)
        {
            IntPtr h = _hub;
            if (h == IntPtr.Zero)
                return "";
            int st;
            IntPtr p = Native.okc_vendor_fiscal_info(h, timeoutMs, 0, out st);
            Check(st);
            return Utf8.Take(p);
        }

        static string BuildConfig(string companyName, string extra)
        {
            string name = "\"company_name\":" + JsonQuote(companyName);
            if (string.IsNullOrEmpty(extra))
                return "{" + name + "}";
            string t = extra.Trim();
            if (t.Length < 2 || t[0] != '{' || t[t.Length - 1] != '}')
                return t; // let the library report the bad configuration
            if (t.Contains("\"company_name\""))
                return t;
            string inner = t.Substring(1, t.Length - 2).Trim();
            return "{" + name + (inner.Length > 0 ? "," + inner : "") + "}";
        }

        // Also used by Okclink.Terminal (Terminal.cs) for its config JSON.
        internal static string JsonQuote(string s)
        {
            var sb = new StringBuilder("\"");
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    default:
                        if (c < 0x20)
                            sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else
                            sb.Append(c);
                        break;
                }
            }
            return sb.Append('"').ToString();
        }

        // Runs on the library's dispatcher thread (or, for the state replay, on the caller's).
        void OnNativeSerialIn(IntPtr user, int type, IntPtr value)
        {
            try
            {
                string text = Utf8.Read(value);
                SerialInCallback cb = _serialIn;
                if (cb != null)
                    Deliver(() => cb(type, text), "serialIn");
                Track(type, text);
            }
            catch (Exception e)
            {
                Report(e, "serialIn dispatch");
            }
        }

        void OnNativeDeviceState(IntPtr user, byte connected, IntPtr serial)
        {
            try
            {
                bool up = connected != 0;
                string text = Utf8.Read(serial);
                _connected = up;
                _serial = up ? text : "";
                if (!up)
                    FailAll("the device disconnected");
                DeviceStateCallback cb = _deviceState;
                if (cb != null)
                    Deliver(() => cb(up, text), "deviceState");
            }
            catch (Exception e)
            {
                Report(e, "deviceState dispatch");
            }
        }

        void Deliver(Action call, string what)
        {
            SynchronizationContext ctx = CallbackContext;
            if (ctx == null)
            {
                Invoke(call, what);
                return;
            }
            ctx.Post(_ => Invoke(call, what), null);
        }

        void Invoke(Action call, string what)
        {
            try
            {
                call();
            }
            catch (Exception e)
            {
                Report(e, what);
            }
        }

        void Report(Exception e, string what)
        {
            try
            {
                Console.Error.WriteLine("[IntegrationHub] exception in " + what + " callback (ignored): " + e);
                Action<Exception> h = CallbackException;
                if (h != null)
                    h(e);
            }
            catch (Exception)
            {
            }
        }

        // Task extras: match device replies to the oldest pending SendBasketAsync.
        void Track(int type, string text)
        {
            TaskCompletionSource<string> head;
            lock (_pending)
                head = _pending.Count > 0 ? _pending[0] : null;
            if (head == null)
                return;
            string t = text.Trim();
            bool isJson = t.StartsWith("{");
            if (type == 9)
            {
                Fail(head, new POSCommunicationException(text, -1, type));
            }
            else if (type == 1)
            {
                if (isJson)
                {
                    Match m = s_status.Match(t);
                    if (m.Success && m.Groups[1].Value != "0")
                        Fail(head, new POSCommunicationException(text, 1, type));
                }
                else if (t.Length > 0 && t != "OK")
                {
                    Fail(head, new POSCommunicationException(text, 1, type));
                }
            }
            else if (type == 3 && isJson)
            {
                // Sale infos complete the oldest pending sale with the same basket ID (either side
                // without an ID matches anything); others (a copy of an earlier receipt) are ignored.
                Match m = s_basketId.Match(t);
                string saleId = m.Success ? m.Groups[1].Value : "";
                TaskCompletionSource<string> match = null;
                lock (_pending)
                {
                    foreach (var p in _pending)
                    {
                        string want = (string)p.Task.AsyncState;
                        if (want.Length == 0 || saleId.Length == 0 || want == saleId)
                        {
                            match = p;
                            break;
                        }
                    }
                }
                if (match != null && Remove(match))
                    ThreadPool.QueueUserWorkItem(_ => match.TrySetResult(text));
            }
        }

        bool Remove(TaskCompletionSource<string> tcs)
        {
            lock (_pending)
                return _pending.Remove(tcs);
        }

        void Fail(TaskCompletionSource<string> tcs, Exception e)
        {
            // Completed on the thread pool: customer continuations never run on the dispatcher.
            if (Remove(tcs))
                ThreadPool.QueueUserWorkItem(_ => tcs.TrySetException(e));
        }

        void FailAll(string why)
        {
            TaskCompletionSource<string>[] all;
            lock (_pending)
            {
                all = _pending.ToArray();
            }
            foreach (var tcs in all)
                Fail(tcs, new POSCommunicationException(why, 0, 0));
        }
    }

    static class Utf8
    {
        /// <summary>UTF-8 bytes with a terminating NUL.</summary>
        public static byte[] Z(string s)
        {
            int n = Encoding.UTF8.GetByteCount(s);
            var b = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>Copies a NUL-terminated UTF-8 string ("" for NULL).</summary>
        public static string Read(IntPtr p)
        {
            if (p == IntPtr.Zero)
                return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0)
                n++;
            var b = new byte[n];
            Marshal.Copy(p, b, 0, n);
            return Encoding.UTF8.GetString(b);
        }

        /// <summary>Copies and frees a library-owned string.</summary>
        public static string Take(IntPtr p)
        {
            if (p == IntPtr.Zero)
                return "";
            try
            {
                return Read(p);
            }
            finally
            {
                Native.okc_string_free(p);
            }
        }
    }

    static partial class Native
    {
        const string Lib = "okclink";

        // NuGet package OkcLink.IntegrationHub on Windows: a .NET Framework program (AnyCPU,
        // x86 or x64) gets both okclink.dll in x86\ and x64\ next to it (the package's
        // build/net45 .targets copies them); load the one of the process's bitness by full path
        // before the first call, so that DllImport("okclink") binds to it. An okclink.dll next
        // to the program wins (the manual install); .NET (Core) resolves
        // runtimes/win-*/native/okclink.dll itself. Elsewhere (mono on Linux) nothing happens.
        static Native()
        {
            try
            {
                PreloadWindows();
            }
            catch (Exception)
            {
                // the DllImport lookup below reports a missing library by itself
            }
        }

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        static extern IntPtr LoadLibraryW(string path);

        static void PreloadWindows()
        {
            if (Environment.OSVersion.Platform != PlatformID.Win32NT)
                return;
            string dir = AppDomain.CurrentDomain.BaseDirectory;
            if (File.Exists(Path.Combine(dir, "okclink.dll")))
                return;
            string arch = IntPtr.Size == 8 ? "x64" : "x86";
            string[] candidates =
            {
                Path.Combine(Path.Combine(dir, arch), "okclink.dll"),
                Path.Combine(Path.Combine(Path.Combine(Path.Combine(dir, "runtimes"), "win-" + arch), "native"), "okclink.dll"),
            };
            foreach (string p in candidates)
            {
                if (File.Exists(p) && LoadLibraryW(p) != IntPtr.Zero)
                    return;
            }
        }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void SerialInFn(IntPtr userData, int type, IntPtr valueUtf8);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void DeviceStateFn(IntPtr userData, byte connected, IntPtr serialUtf8);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr okc_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr okc_last_error();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern void okc_string_free(IntPtr s);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_create(byte[] configJson, out IntPtr hub);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_destroy(IntPtr hub);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_set_serial_in_callback(IntPtr hub, SerialInFn cb, IntPtr userData);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_set_device_state_callback(IntPtr hub, DeviceStateFn cb, IntPtr userData);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_vendor_send_basket(IntPtr hub, byte[] text, UIntPtr len, out int status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_vendor_send_payment(IntPtr hub, byte[] text, UIntPtr len, out int status);

        /// <summary>vendorText: a C bool (one byte); 0 = UTF-8.</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr okc_vendor_fiscal_info(IntPtr hub, int timeoutMs, byte vendorText, out int status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_active_device_index(IntPtr hub);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_reconnect(IntPtr hub);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_disconnect(IntPtr hub);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_confirm(IntPtr hub, byte[] basketId);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_wait_connected(IntPtr hub, int timeoutMs, out IntPtr serial);
    }
}
