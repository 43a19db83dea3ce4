// Terminal.cs — card payments for .NET: a thin wrapper of the okc_pay_* C API (docs/PAYMENTS.md,
// docs/C-API.md), compiled into IntegrationHub.dll together with IntegrationHub.cs:
//   mcs -target:library -codepage:utf8 -out:IntegrationHub.dll IntegrationHub.cs Terminal.cs
//
// Namespace Okclink (the vendor's IntegrationHub namespace keeps only its own surface and the
// earlier extras). Shape and names follow the Python okclink.Terminal:
//
//   using (var t = new Okclink.Terminal("nexo+http://192.168.1.50:11000"))
//   {
//       Okclink.PaymentResult r = t.Payment(1250, "SEK", "order-17");
//       Console.WriteLine(r.Approved + " " + r.ApprovalCode + " " + string.Join("\n", r.CustomerReceipt));
//   }
//
// Declined is a result (Approved false, Status 2 = OKC_PAY_DECLINED), not an exception; errors
// throw OkcException subclasses carrying the library's okc_last_error text; calls after Dispose
// throw ObjectDisposedException. Only what mono's and .NET Framework's mscorlib/System offer is
// used (the small JSON reader below), so the assembly gains no dependency.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using IntegrationHub;

namespace Okclink
{
    // ---------------------------------------------------------------------- errors

    /// <summary>An okclink failure: Status is the (negative) OkcStatus code, Message the
    /// library's text followed by the status name, e.g. "invalid input: amount must be &gt; 0
    /// (OKC_ERR_INVALID_ARGUMENT)".</summary>
    public class OkcException : Exception
    {
        public int Status { get; private set; }

        /// <summary>The library's own text (okc_last_error), without the status name.</summary>
        public string LibraryMessage { get; private set; }

        /// <summary>A cloud refusal's own status code (Orders: e.g. 1006 unknown order, 1018
        /// locked by another terminal, 1105 not open), read from the message's "status N";
        /// null when there is none.</summary>
        public int? CloudCode { get; internal set; }

        public OkcException(int status, string message)
            : base(string.IsNullOrEmpty(message) ? StatusName(status) : message + " (" + StatusName(status) + ")")
        {
            Status = status;
            LibraryMessage = message ?? "";
        }

        public static string StatusName(int status)
        {
            switch (status)
            {
                case 0: return "OKC_OK";
                case 1: return "OKC_ACCEPTED";
                case 2: return "OKC_PAY_DECLINED";
                case 3: return "OKC_ENERGY_UNLOCKED";
                case 4: return "OKC_ENERGY_PAID";
                case -1: return "OKC_ERR_NULL";
                case -2: return "OKC_ERR_BAD_HANDLE";
                case -3: return "OKC_ERR_INVALID_UTF8";
                case -4: return "OKC_ERR_INVALID_JSON";
                case -5: return "OKC_ERR_TOO_LARGE";
                case -6: return "OKC_ERR_NO_DEVICE";
                case -7: return "OKC_ERR_TIMEOUT";
                case -8: return "OKC_ERR_ACK_TIMEOUT";
                case -9: return "OKC_ERR_CLOSED";
                case -10: return "OKC_ERR_CONFIG";
                case -11: return "OKC_ERR_IO";
                case -12: return "OKC_ERR_RESOURCE";
                case -13: return "OKC_ERR_REJECTED";
                case -14: return "OKC_ERR_UNSUPPORTED";
                case -15: return "OKC_ERR_OUTCOME_UNKNOWN";
                case -16: return "OKC_ERR_INVALID_ARGUMENT";
                case -17: return "OKC_ERR_JOURNAL";
                case -18: return "OKC_ERR_NOT_FOUND";
                case -98: return "OKC_ERR_PANIC";
                case -99: return "OKC_ERR_INTERNAL";
                default: return "OKC status " + status.ToString(CultureInfo.InvariantCulture);
            }
        }

        /// <summary>The exception for a negative status (the subclass where there is one).</summary>
        public static OkcException For(int status, string message)
        {
            switch (status)
            {
                case -6: return new NoDeviceException(message);
                case -10: return new ConfigException(message);
                case -13: return new RejectedException(message);
                case -14: return new UnsupportedException(message);
                case -15: return new OutcomeUnknownException(message);
                case -16: return new InvalidArgumentException(message);
                case -17: return new JournalException(message);
                case -18: return new NotFoundException(message);
                default: return new OkcException(status, message);
            }
        }
    }

    /// <summary>OKC_ERR_NO_DEVICE: the terminal cannot be reached (nothing was charged).</summary>
    public class NoDeviceException : OkcException
    {
        public NoDeviceException(string message) : base(-6, message) { }
    }

    /// <summary>OKC_ERR_CONFIG: bad configuration (terminal URL, listener address, unknown key).</summary>
    public class ConfigException : OkcException
    {
        public ConfigException(string message) : base(-10, message) { }
    }

    /// <summary>OKC_ERR_REJECTED: the terminal refused the request itself (not a decline: e.g.
    /// busy beyond the retries, reversal of a transaction that is not the last, status of an
    /// unknown reference).</summary>
    public class RejectedException : OkcException
    {
        public RejectedException(string message) : base(-13, message) { }
    }

    /// <summary>OKC_ERR_UNSUPPORTED: the terminal does not offer this call (BatchClose on
    /// Swedbank Pay PAX terminals, ListenerAddress in client-only mode).</summary>
    public class UnsupportedException : OkcException
    {
        public UnsupportedException(string message) : base(-14, message) { }
    }

    /// <summary>OKC_ERR_OUTCOME_UNKNOWN: a payment's answer was lost and the terminal did not tell
    /// its outcome in time: it may have been charged. Never pay again blindly; ask
    /// Terminal.Status(reference) later.</summary>
    public class OutcomeUnknownException : OkcException
    {
        public OutcomeUnknownException(string message) : base(-15, message) { }
    }

    /// <summary>OKC_ERR_INVALID_ARGUMENT: a bad amount, currency or reference.</summary>
    public class InvalidArgumentException : OkcException
    {
        public InvalidArgumentException(string message) : base(-16, message) { }
    }

    /// <summary>OKC_ERR_JOURNAL: the journal file cannot be used (corrupt, locked, read-only,
    /// newer); the message names the file (docs/JOURNAL.md).</summary>
    public class JournalException : OkcException
    {
        public JournalException(string message) : base(-17, message) { }
    }

    /// <summary>OKC_ERR_NOT_FOUND: no such id (Terminal.Confirm: the journal has no result for
    /// the reference; Orders.Sell: no open order for the plate).</summary>
    public class NotFoundException : OkcException
    {
        public NotFoundException(string message) : base(-18, message) { }
    }

    // ---------------------------------------------------------------------- results and events

    /// <summary>The normalised result of a payment, refund, reversal or status query (the
    /// result JSON of docs/PAYMENTS.md).</summary>
    public sealed class PaymentResult
    {
        /// <summary>0 (OKC_OK) approved, 2 (OKC_PAY_DECLINED) not approved.</summary>
        public int Status { get; private set; }
        public bool Approved { get; private set; }
        /// <summary>"payment", "refund" or "reversal".</summary>
        public string Kind { get; private set; }
        /// <summary>Why not approved (the terminal's condition and text); null when approved.</summary>
        public string Reason { get; private set; }
        /// <summary>Authorised amount in minor units (0 when not approved).</summary>
        public long Amount { get; private set; }
        public string Currency { get; private set; }
        public string TransactionId { get; private set; }
        public string Timestamp { get; private set; }
        public string MaskedPan { get; private set; }
        public string Brand { get; private set; }
        public string EntryMode { get; private set; }
        public string ApprovalCode { get; private set; }
        /// <summary>The caller's reference (the idempotency key).</summary>
        public string Reference { get; private set; }
        /// <summary>The merchant copy must be signed.</summary>
        public bool SignatureRequired { get; private set; }
        /// <summary>Printable receipt lines.</summary>
        public string[] MerchantReceipt { get; private set; }
        public string[] CustomerReceipt { get; private set; }
        /// <summary>The terminal's whole response (audit).</summary>
        public string Raw { get; private set; }
        /// <summary>The result JSON as the library handed it out.</summary>
        public string Json { get; private set; }

        internal static PaymentResult Parse(int status, string json)
        {
            var o = MiniJson.Parse(json) as Dictionary<string, object>;
            if (o == null)
                throw new OkcException(-99, "result is not a JSON object: " + json);
            var receipts = MiniJson.Get(o, "receipts") as Dictionary<string, object>;
            return new PaymentResult
            {
                Status = status,
                Approved = MiniJson.Get(o, "approved") as bool? ?? false,
                Kind = MiniJson.Str(o, "kind"),
                Reason = MiniJson.Str(o, "reason"),
                Amount = MiniJson.Get(o, "amount") as long? ?? 0,
                Currency = MiniJson.Str(o, "currency"),
                TransactionId = MiniJson.Str(o, "transactionId"),
                Timestamp = MiniJson.Str(o, "timestamp"),
                MaskedPan = MiniJson.Str(o, "maskedPan"),
                Brand = MiniJson.Str(o, "brand"),
                EntryMode = MiniJson.Str(o, "entryMode"),
                ApprovalCode = MiniJson.Str(o, "approvalCode"),
                Reference = MiniJson.Str(o, "reference"),
                SignatureRequired = MiniJson.Get(o, "signatureRequired") as bool? ?? false,
                MerchantReceipt = MiniJson.Lines(receipts, "merchant"),
                CustomerReceipt = MiniJson.Lines(receipts, "customer"),
                Raw = MiniJson.Str(o, "raw"),
                Json = json,
            };
        }
    }

    /// <summary>What the terminal shows or asks while it works (the event JSON of
    /// docs/C-API.md).</summary>
    public sealed class TerminalEvent
    {
        /// <summary>"display", "print", "signature", "notification" or "address".</summary>
        public string Kind { get; private set; }
        /// <summary>display / print: the lines; signature: the question's lines.</summary>
        public string[] Lines { get; private set; }
        /// <summary>print: the document (e.g. "CashierReceipt").</summary>
        public string Document { get; private set; }
        /// <summary>notification: the event's name and details.</summary>
        public string Name { get; private set; }
        public string Details { get; private set; }
        /// <summary>address: the terminal's new IP:PORT.</summary>
        public string Address { get; private set; }
        /// <summary>The event JSON as the library handed it out.</summary>
        public string Json { get; private set; }

        /// <summary>The terminal asks the cashier to confirm the customer's signature: the
        /// handler's return value is the answer.</summary>
        public bool IsSignatureQuestion
        {
            get { return Kind == "signature"; }
        }

        internal static TerminalEvent Parse(string json)
        {
            var o = MiniJson.Parse(json) as Dictionary<string, object> ?? new Dictionary<string, object>();
            string kind = MiniJson.Str(o, "event");
            return new TerminalEvent
            {
                Kind = kind,
                Lines = MiniJson.Lines(o, kind == "signature" ? "question" : "lines"),
                Document = MiniJson.Str(o, "document"),
                Name = MiniJson.Str(o, "name"),
                Details = MiniJson.Str(o, "details"),
                Address = MiniJson.Str(o, "address"),
                Json = json,
            };
        }
    }

    /// <summary>An event handler, run on the library's event thread (not the UI thread; the
    /// thread calling Payment is blocked meanwhile). For a signature question return true
    /// (accept) or false (refuse); null leaves it to the "signature" policy. The return value
    /// of other events is ignored.</summary>
    public delegate bool? TerminalEventHandler(TerminalEvent e);

    // ---------------------------------------------------------------------- the terminal

    /// <summary>One card terminal (okc_pay_open). Methods block until the terminal answers.
    /// Never talks to the terminal when created: the first call logs in.</summary>
    public sealed class Terminal : IDisposable
    {
        /// <summary>okc_pay_* status of a declined result.</summary>
        public const int OKC_PAY_DECLINED = 2;

        /// <summary>terminal: "nexo+http://HOST:PORT[?poiid=…&amp;saleid=…]" (null:
        /// $OKC_TERMINAL); listener: "IP:PORT" of the POS listener (full integration: display
        /// texts, print requests, the signature question; null: client-only); signature:
        /// "confirm" or "refuse", the answer when the handler gives none.</summary>
        public Terminal(string terminal = null, string listener = null, string signature = "confirm",
            string applicationName = "okclink-dotnet", TerminalEventHandler onEvent = null)
            : this(onEvent, Config(terminal, listener, signature, applicationName))
        {
        }

        /// <summary>Opens a terminal with the C API's config JSON as is (docs/C-API.md:
        /// terminal, listener, signature, application_name).</summary>
        public static Terminal Open(string configJson, TerminalEventHandler onEvent = null)
        {
            return new Terminal(onEvent, configJson ?? "");
        }

        Terminal(TerminalEventHandler onEvent, string configJson)
        {
            OnEvent = onEvent;
            _self = GCHandle.Alloc(this, GCHandleType.Weak);
            IntPtr h;
            int st = Native.okc_pay_open(configJson.Length == 0 ? null : Utf8.Z(configJson), s_thunk,
                GCHandle.ToIntPtr(_self), out h);
            if (st < 0 || h == IntPtr.Zero)
            {
                string err = Utf8.Read(Native.okc_last_error());
                _self.Free();
                GC.SuppressFinalize(this);
                throw OkcException.For(st < 0 ? st : -99, err);
            }
            _handle = h;
            lock (s_open)
                s_open.Add(h);
        }

        /// <summary>Receives the terminal's events; may be replaced at any time.</summary>
        public TerminalEventHandler OnEvent
        {
            get { return _onEvent; }
            set { _onEvent = value; }
        }

        /// <summary>Exceptions thrown by OnEvent (caught, written to stderr and reported here;
        /// the signature question then gets the policy's answer).</summary>
        public event Action<Exception> CallbackException;

        /// <summary>Takes amount minor units (cents, öre) in currency (ISO 4217, e.g. "SEK").
        /// reference (1-32 of A-Za-z0-9-_.) is the idempotency key: the same reference again
        /// returns the recorded result, never a second charge. Approved or declined, the
        /// result is returned.</summary>
        public PaymentResult Payment(long amount, string currency, string reference)
        {
            byte[] cur = Utf8.Z(Required(currency, "currency"));
            byte[] rf = Utf8.Z(Required(reference, "reference"));
            IntPtr p;
            int st = Native.okc_pay_payment(Handle(), amount, cur, rf, out p);
            return Result(st, p);
        }

        /// <summary>Refunds amount minor units to a card; as Payment.</summary>
        public PaymentResult Refund(long amount, string currency, string reference)
        {
            byte[] cur = Utf8.Z(Required(currency, "currency"));
            byte[] rf = Utf8.Z(Required(reference, "reference"));
            IntPtr p;
            int st = Native.okc_pay_refund(Handle(), amount, cur, rf, out p);
            return Result(st, p);
        }

        /// <summary>Reverses the terminal's last transaction (only the last, only if approved).</summary>
        public PaymentResult ReverseLast()
        {
            IntPtr p;
            int st = Native.okc_pay_reverse_last(Handle(), out p);
            return Result(st, p);
        }

        /// <summary>The result of the payment with this reference (null: the terminal's last
        /// transaction), e.g. after OutcomeUnknownException.</summary>
        public PaymentResult Status(string reference = null)
        {
            byte[] rf = reference == null ? null : Utf8.Z(reference);
            IntPtr p;
            int st = Native.okc_pay_status(Handle(), rf, out p);
            return Result(st, p);
        }

        /// <summary>Tells the journal the application stored the result of reference (a
        /// payment, refund or reversal): it is no longer listed by Pending(). Idempotent;
        /// InvalidArgumentException when the journal has no result for it; nothing without a
        /// journal ("journal": "off").</summary>
        public void Confirm(string reference)
        {
            byte[] rf = Utf8.Z(Required(reference, "reference"));
            Check(Native.okc_pay_confirm(Handle(), rf));
        }

        /// <summary>What the application has not confirmed, as the JSON array of
        /// okc_pay_pending (oldest first: reference, kind, state "answered" / "in_doubt" /
        /// "not_sent", reason, result); "[]" without a journal.</summary>
        public string Pending()
        {
            IntPtr p;
            int st = Native.okc_pay_pending(Handle(), out p);
            string text = Utf8.Take(p);
            Check(st);
            return text;
        }

        /// <summary>Aborts the payment in flight (call it from another thread; Payment then
        /// returns the aborted result).</summary>
        public void Abort()
        {
            Check(Native.okc_pay_abort(Handle()));
        }

        /// <summary>Logs in now (otherwise the first call does).</summary>
        public void Login()
        {
            Check(Native.okc_pay_login(Handle()));
        }

        /// <summary>Logs out; maintenanceAllowed lets the terminal update itself (needed at
        /// least an hour a day). The next call logs in again.</summary>
        public void Logout(bool maintenanceAllowed = true)
        {
            Check(Native.okc_pay_logout(Handle(), (byte)(maintenanceAllowed ? 1 : 0)));
        }

        /// <summary>Closes the batch (settlement) and returns the terminal's report. Swedbank
        /// Pay PAX terminals settle on their own: UnsupportedException.</summary>
        public string BatchClose()
        {
            IntPtr p;
            int st = Native.okc_pay_batch_close(Handle(), out p);
            string text = Utf8.Take(p);
            Check(st);
            return text;
        }

        /// <summary>IP:PORT of the POS listener (full integration), e.g. to configure the
        /// terminal; null in client-only mode.</summary>
        public string ListenerAddress
        {
            get
            {
                IntPtr p;
                int st = Native.okc_pay_listener_address(Handle(), out p);
                string text = Utf8.Take(p);
                if (st == -14) // OKC_ERR_UNSUPPORTED: client-only
                    return null;
                Check(st);
                return text;
            }
        }

        /// <summary>Closes the handle: no event handler starts after it returns (a running one
        /// is waited for, up to 5 s). A payment still running on another thread ends with an
        /// error. Idempotent.</summary>
        public void Dispose()
        {
            Close();
            GC.SuppressFinalize(this);
        }

        ~Terminal()
        {
            Close();
        }

        // ------------------------------------------------------------------ implementation

        // One native thunk for all terminals, rooted for the process's lifetime; user_data is a
        // weak GCHandle of the Terminal, so an undisposed Terminal can still be collected (its
        // finalizer closes the handle) and a late event finds no target instead of a dead object.
        static readonly Native.PayEventFn s_thunk = OnNativeEvent;
        // Open handles, closed on ProcessExit before the runtime tears down (no library thread
        // calls into a dying domain).
        static readonly HashSet<IntPtr> s_open = new HashSet<IntPtr>();

        static Terminal()
        {
            AppDomain.CurrentDomain.ProcessExit += CloseAll;
            AppDomain.CurrentDomain.DomainUnload += CloseAll;
        }

        IntPtr _handle;
        GCHandle _self;
        readonly object _lock = new object();
        volatile TerminalEventHandler _onEvent;

        static void CloseAll(object sender, EventArgs e)
        {
            IntPtr[] all;
            lock (s_open)
            {
                all = new IntPtr[s_open.Count];
                s_open.CopyTo(all);
                s_open.Clear();
            }
            foreach (IntPtr h in all)
                Native.okc_pay_close(h);
        }

        void Close()
        {
            IntPtr h;
            lock (_lock)
            {
                h = _handle;
                _handle = IntPtr.Zero;
            }
            if (h == IntPtr.Zero)
                return;
            lock (s_open)
                s_open.Remove(h);
            Native.okc_pay_close(h); // no event callback starts after this returns
            if (_self.IsAllocated)
                _self.Free();
        }

        IntPtr Handle()
        {
            IntPtr h = _handle;
            if (h == IntPtr.Zero)
                throw new ObjectDisposedException("Okclink.Terminal");
            return h;
        }

        /// <summary>The okc_pay handle for Orders.Sell / Recover (the caller keeps this
        /// Terminal alive across the native call).</summary>
        internal IntPtr NativeHandle
        {
            get { return Handle(); }
        }

        // The handle stays open while a call runs: `this` is kept alive past every native call.
        void Check(int status)
        {
            GC.KeepAlive(this);
            if (status < 0)
                throw OkcException.For(status, Utf8.Read(Native.okc_last_error()));
        }

        PaymentResult Result(int status, IntPtr p)
        {
            string json = Utf8.Take(p);
            Check(status);
            return PaymentResult.Parse(status, json);
        }

        static string Required(string s, string name)
        {
            if (s == null)
                throw new ArgumentNullException(name);
            return s;
        }

        static string Config(string terminal, string listener, string signature, string applicationName)
        {
            var sb = new StringBuilder("{");
            Add(sb, "terminal", terminal);
            Add(sb, "listener", listener);
            Add(sb, "signature", signature);
            Add(sb, "application_name", applicationName);
            return sb.Append('}').ToString();
        }

        static void Add(StringBuilder sb, string key, string value)
        {
            if (value == null)
                return;
            if (sb.Length > 1)
                sb.Append(',');
            sb.Append(POSCommunication.JsonQuote(key)).Append(':').Append(POSCommunication.JsonQuote(value));
        }

        // On the library's event thread. Nothing may propagate into native code.
        static int OnNativeEvent(IntPtr userData, IntPtr eventJson)
        {
            Terminal t = null;
            try
            {
                t = GCHandle.FromIntPtr(userData).Target as Terminal;
                TerminalEventHandler h = t == null ? null : t._onEvent;
                if (h == null)
                    return -1;
                bool? answer = h(TerminalEvent.Parse(Utf8.Read(eventJson)));
                return answer == null ? -1 : answer.Value ? 1 : 0;
            }
            catch (Exception e)
            {
                try
                {
                    Console.Error.WriteLine("[okclink] exception in the terminal event handler (ignored): " + e);
                    Action<Exception> report = t == null ? null : t.CallbackException;
                    if (report != null)
                        report(e);
                }
                catch (Exception)
                {
                }
                return -1;
            }
        }
    }

    // ---------------------------------------------------------------------- JSON

    /// <summary>The small JSON reader the results need: objects → Dictionary, arrays → List,
    /// integers → long, other numbers → double, strings, bools, null.</summary>
    static class MiniJson
    {
        public static object Parse(string s)
        {
            int i = 0;
            object v = Value(s, ref i);
            Ws(s, ref i);
            if (i != s.Length)
                throw new FormatException("JSON: trailing text at " + i);
            return v;
        }

        public static object Get(Dictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) ? v : null;
        }

        public static string Str(Dictionary<string, object> o, string key)
        {
            return Get(o, key) as string;
        }

        public static string[] Lines(Dictionary<string, object> o, string key)
        {
            var list = Get(o, key) as List<object>;
            if (list == null)
                return new string[0];
            var r = new string[list.Count];
            for (int i = 0; i < r.Length; i++)
                r[i] = list[i] as string ?? "";
            return r;
        }

        static void Ws(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                i++;
        }

        static object Value(string s, ref int i)
        {
            Ws(s, ref i);
            if (i >= s.Length)
                throw new FormatException("JSON: unexpected end");
            char c = s[i];
            if (c == '{')
            {
                var o = new Dictionary<string, object>();
                i++;
                Ws(s, ref i);
                if (i < s.Length && s[i] == '}')
                {
                    i++;
                    return o;
                }
                while (true)
                {
                    Ws(s, ref i);
                    string k = ReadString(s, ref i);
                    Ws(s, ref i);
                    Expect(s, ref i, ':');
                    o[k] = Value(s, ref i);
                    Ws(s, ref i);
                    if (i < s.Length && s[i] == ',')
                    {
                        i++;
                        continue;
                    }
                    Expect(s, ref i, '}');
                    return o;
                }
            }
            if (c == '[')
            {
                var a = new List<object>();
                i++;
                Ws(s, ref i);
                if (i < s.Length && s[i] == ']')
                {
                    i++;
                    return a;
                }
                while (true)
                {
                    a.Add(Value(s, ref i));
                    Ws(s, ref i);
                    if (i < s.Length && s[i] == ',')
                    {
                        i++;
                        continue;
                    }
                    Expect(s, ref i, ']');
                    return a;
                }
            }
            if (c == '"')
                return ReadString(s, ref i);
            if (Word(s, ref i, "true"))
                return true;
            if (Word(s, ref i, "false"))
                return false;
            if (Word(s, ref i, "null"))
                return null;
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0)
                i++;
            string num = s.Substring(start, i - start);
            long l;
            if (long.TryParse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l))
                return l;
            double d;
            if (double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
                return d;
            throw new FormatException("JSON: unexpected character at " + start);
        }

        static bool Word(string s, ref int i, string w)
        {
            if (string.CompareOrdinal(s, i, w, 0, w.Length) != 0)
                return false;
            i += w.Length;
            return true;
        }

        static void Expect(string s, ref int i, char c)
        {
            if (i >= s.Length || s[i] != c)
                throw new FormatException("JSON: expected '" + c + "' at " + i);
            i++;
        }

        static string ReadString(string s, ref int i)
        {
            Expect(s, ref i, '"');
            var sb = new StringBuilder();
            while (true)
            {
                if (i >= s.Length)
                    throw new FormatException("JSON: unterminated string");
                char c = s[i++];
                if (c == '"')
                    return sb.ToString();
                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }
                if (i >= s.Length)
                    throw new FormatException("JSON: unterminated string");
                char e = s[i++];
                switch (e)
                {
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (i + 4 > s.Length)
                            throw new FormatException("JSON: bad \\u escape");
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: sb.Append(e); break; // " \ /
                }
            }
        }
    }
}

namespace IntegrationHub
{
    static partial class Native
    {
        /// <summary>OkcPayEventFn: returns 1 accept / 0 refuse / other = policy (signature only).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate int PayEventFn(IntPtr userData, IntPtr eventJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_open(byte[] configJson, PayEventFn cb, IntPtr userData, out IntPtr t);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_close(IntPtr t);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_payment(IntPtr t, long amount, byte[] currency, byte[] reference, out IntPtr resultJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_refund(IntPtr t, long amount, byte[] currency, byte[] reference, out IntPtr resultJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_reverse_last(IntPtr t, out IntPtr resultJson);

        /// <summary>reference null = the terminal's last transaction.</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_status(IntPtr t, byte[] reference, out IntPtr resultJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_confirm(IntPtr t, byte[] reference);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_pending(IntPtr t, out IntPtr pendingJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_abort(IntPtr t);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_login(IntPtr t);

        /// <summary>maintenanceAllowed: a C bool (one byte).</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_logout(IntPtr t, byte maintenanceAllowed);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_batch_close(IntPtr t, out IntPtr text);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_pay_listener_address(IntPtr t, out IntPtr text);
    }
}
