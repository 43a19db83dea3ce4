// Orders.cs — Token X Energy fuel orders for .NET: a thin wrapper of the okc_energy_* C API
// (docs/ENERGY.md, docs/C-API.md), compiled into IntegrationHub.dll together with
// IntegrationHub.cs and Terminal.cs:
//   mcs -target:library -codepage:utf8 -out:IntegrationHub.dll IntegrationHub.cs Terminal.cs Orders.cs
//
// Shape and names follow the Python okclink.Orders:
//
//   using (var o = new Okclink.Orders("https://…/base", "VT00000000001", clientId, secret))
//   using (var t = new Okclink.Terminal("nexo+http://192.168.1.50:11000"))
//   {
//       Okclink.OrderSale s = o.Sell(t, plate: "34ABC123");
//       Console.WriteLine(s.State + " " + s.Reason);   // completed / paid / unlocked
//   }
//
// The calls return the C API's JSON as is (List, Get, Lock, Unlock, Pay, Recover) or, for
// Sell, an OrderSale. Errors throw the OkcException subclasses of Terminal.cs by status; a cloud
// refusal (RejectedException) carries the cloud's status code in CloudCode (e.g. 1018 locked by
// another terminal, 1105 not open). Calls after Dispose throw ObjectDisposedException.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using IntegrationHub;

namespace Okclink
{
    /// <summary>The result of Orders.Sell (okc_energy_sell's result JSON).</summary>
    public sealed class OrderSale
    {
        /// <summary>0 (OKC_OK) completed, 4 (OKC_ENERGY_PAID) paid but not completed by the
        /// 1000TR yet, 3 (OKC_ENERGY_UNLOCKED) not paid, the order released.</summary>
        public int Status { get; private set; }
        /// <summary>"completed", "paid" or "unlocked".</summary>
        public string State { get; private set; }
        /// <summary>Why not completed / not paid; null when completed.</summary>
        public string Reason { get; private set; }
        public string OrderId { get; private set; }
        public string Plate { get; private set; }
        /// <summary>In kuruş.</summary>
        public long Amount { get; private set; }
        /// <summary>The order's cloud state afterwards (e.g. "COMPLETED", "OPEN").</summary>
        public string OrderState { get; private set; }
        /// <summary>The idempotency key (and, without '-', the card reference).</summary>
        public string PaymentId { get; private set; }
        /// <summary>What became of the card payment (e.g. "approved", "not_approved").</summary>
        public string Card { get; private set; }
        /// <summary>The card payment was approved (the result JSON's payment.approved).</summary>
        public bool CardApproved { get; private set; }
        /// <summary>The result JSON as the library handed it out.</summary>
        public string Json { get; private set; }

        public bool Completed
        {
            get { return State == "completed"; }
        }

        internal static OrderSale Parse(int status, string json)
        {
            var o = MiniJson.Parse(json) as Dictionary<string, object>;
            if (o == null)
                throw new OkcException(-99, "result is not a JSON object: " + json);
            var pay = MiniJson.Get(o, "payment") as Dictionary<string, object>;
            return new OrderSale
            {
                Status = status,
                State = MiniJson.Str(o, "state"),
                Reason = MiniJson.Str(o, "reason"),
                OrderId = MiniJson.Str(o, "orderId"),
                Plate = MiniJson.Str(o, "plate"),
                Amount = MiniJson.Get(o, "amount") as long? ?? 0,
                OrderState = MiniJson.Str(o, "orderState"),
                PaymentId = MiniJson.Str(o, "paymentId"),
                Card = MiniJson.Str(o, "card"),
                CardApproved = MiniJson.Get(pay, "approved") as bool? ?? false,
                Json = json,
            };
        }
    }

    /// <summary>The fuel orders of one virtual market terminal (okc_energy_open). Never talks to
    /// the cloud when created. Methods block until the cloud (and, for Sell, the card terminal)
    /// answers.</summary>
    public sealed class Orders : IDisposable
    {
        /// <summary>okc_energy_sell: not paid, the order released.</summary>
        public const int OKC_ENERGY_UNLOCKED = 3;
        /// <summary>okc_energy_sell: paid, not completed by the 1000TR yet.</summary>
        public const int OKC_ENERGY_PAID = 4;

        /// <summary>url: http(s)://HOST/BASE of the order API; terminalId: the virtual market
        /// terminal id; clientId / clientSecret: the TokenX credentials; journal: a path or
        /// "off". Null = the environment ($OKC_ENERGY_URL, $OKC_ENERGY_TERMINAL,
        /// $OKC_TOKENX_CLIENT_ID / _SECRET, $OKC_JOURNAL) or the default.</summary>
        public Orders(string url = null, string terminalId = null, string clientId = null,
            string clientSecret = null, string journal = null)
            : this(Config(url, terminalId, clientId, clientSecret, journal))
        {
        }

        /// <summary>Opens with okc_energy_open's config JSON as is (docs/ENERGY.md:
        /// energy_url, energy_terminal, tokenx_client_id, tokenx_client_secret, journal,
        /// energy_lock_ttl_s, energy_currency, energy_complete_wait_ms, …).</summary>
        public static Orders Open(string configJson)
        {
            return new Orders(configJson ?? "");
        }

        Orders(string configJson)
        {
            IntPtr h;
            int st = Native.okc_energy_open(configJson.Length == 0 ? null : Utf8.Z(configJson), out h);
            if (st < 0 || h == IntPtr.Zero)
            {
                string err = Utf8.Read(Native.okc_last_error());
                GC.SuppressFinalize(this);
                throw Error(st < 0 ? st : -99, err);
            }
            _handle = h;
            lock (s_open)
                s_open.Add(h);
        }

        /// <summary>The order summaries as a JSON array. status e.g. "OPEN" or "OPEN,LOCKED";
        /// plate, pump: only those; mine: only the ones this terminal locked.</summary>
        public string List(string status = null, string plate = null, int? pump = null, bool mine = false)
        {
            var sb = new StringBuilder("{\"mine\":").Append(mine ? "true" : "false");
            if (status != null)
                sb.Append(",\"status\":").Append(POSCommunication.JsonQuote(status));
            if (plate != null)
                sb.Append(",\"plate\":").Append(POSCommunication.JsonQuote(plate));
            if (pump != null)
                sb.Append(",\"pumpNo\":").Append(pump.Value.ToString(CultureInfo.InvariantCulture));
            byte[] f = Utf8.Z(sb.Append('}').ToString());
            IntPtr p;
            int st = Native.okc_energy_list(Handle(), f, out p);
            return Text(st, p);
        }

        /// <summary>One order as JSON.</summary>
        public string Get(string orderId)
        {
            byte[] id = Utf8.Z(Required(orderId, "orderId"));
            IntPtr p;
            int st = Native.okc_energy_get(Handle(), id, out p);
            return Text(st, p);
        }

        /// <summary>Locks an order for this terminal: {orderId, lockedBy, lockToken,
        /// lockExpiresAt, remainingMs, amount, plate}. paymentId: the sale's payment id (a crash
        /// before the payment is then resolved by Recover). RejectedException with CloudCode
        /// 1018 (locked by another terminal) or 1105 (not open).</summary>
        public string Lock(string orderId, string paymentId = null)
        {
            byte[] id = Utf8.Z(Required(orderId, "orderId"));
            IntPtr p;
            int st = Native.okc_energy_lock(Handle(), id, Opt(paymentId), out p);
            return Text(st, p);
        }

        /// <summary>Unlocks an order this terminal holds; reason "PAYMENT_FAILED", "CANCELLED"
        /// (null) or "TIMEOUT". Returns the order afterwards.</summary>
        public string Unlock(string orderId, string reason = null)
        {
            byte[] id = Utf8.Z(Required(orderId, "orderId"));
            IntPtr p;
            int st = Native.okc_energy_unlock(Handle(), id, Opt(reason), out p);
            return Text(st, p);
        }

        /// <summary>Pays an order (locks it, or takes this terminal's lock again), idempotent by
        /// paymentId: {paymentId, replayed, order}. card: an approved card result
        /// (PaymentResult of Terminal.Payment); null = cash.</summary>
        public string Pay(string orderId, string paymentId, PaymentResult card = null)
        {
            byte[] id = Utf8.Z(Required(orderId, "orderId"));
            byte[] pid = Utf8.Z(Required(paymentId, "paymentId"));
            IntPtr p;
            int st = Native.okc_energy_pay(Handle(), id, pid, card == null ? null : Utf8.Z(card.Json), out p);
            return Text(st, p);
        }

        /// <summary>The forecourt flow: the order of plate (or orderId; exactly one) → lock →
        /// card payment on terminal → pay the order with the slip → wait for the pump's 1000TR;
        /// or unlock with the reason. paymentId null: a fresh one. Completed, paid and unlocked
        /// are results (OrderSale.State); NotFoundException when no order is open for the plate,
        /// OutcomeUnknownException when in doubt (Recover resolves it).</summary>
        public OrderSale Sell(Terminal terminal, string plate = null, string orderId = null, string paymentId = null)
        {
            if (terminal == null)
                throw new ArgumentNullException("terminal");
            IntPtr h = Handle();
            IntPtr t = terminal.NativeHandle;
            IntPtr p;
            int st = Native.okc_energy_sell(h, Opt(plate), Opt(orderId), t, Opt(paymentId), out p);
            GC.KeepAlive(terminal);
            string json = Text(st, p);
            return OrderSale.Parse(st, json);
        }

        /// <summary>Resolves this terminal's locks a crash left (journal), as a JSON array of
        /// {orderId, paymentId, action, detail}. terminal null: card sales stay pending.</summary>
        public string Recover(Terminal terminal = null)
        {
            IntPtr h = Handle();
            IntPtr t = terminal == null ? IntPtr.Zero : terminal.NativeHandle;
            IntPtr p;
            int st = Native.okc_energy_recover(h, t, out p);
            GC.KeepAlive(terminal);
            return Text(st, p);
        }

        /// <summary>Closes the handle (a call running on another thread finishes first).
        /// Idempotent.</summary>
        public void Dispose()
        {
            Close();
            GC.SuppressFinalize(this);
        }

        ~Orders()
        {
            Close();
        }

        // ------------------------------------------------------------------ implementation

        static readonly HashSet<IntPtr> s_open = new HashSet<IntPtr>();
        static readonly Regex s_code = new Regex(@"status (-?\d+)");

        static Orders()
        {
            AppDomain.CurrentDomain.ProcessExit += CloseAll;
            AppDomain.CurrentDomain.DomainUnload += CloseAll;
        }

        IntPtr _handle;
        readonly object _lock = new object();

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
                Native.okc_energy_close(h);
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
            Native.okc_energy_close(h);
        }

        IntPtr Handle()
        {
            IntPtr h = _handle;
            if (h == IntPtr.Zero)
                throw new ObjectDisposedException("Okclink.Orders");
            return h;
        }

        static OkcException Error(int status, string message)
        {
            OkcException e = OkcException.For(status, message);
            Match m = s_code.Match(message ?? "");
            int code;
            if (m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out code))
                e.CloudCode = code;
            return e;
        }

        // The handle stays open while a call runs: `this` is kept alive past every native call.
        string Text(int status, IntPtr p)
        {
            string text = Utf8.Take(p);
            GC.KeepAlive(this);
            if (status < 0)
                throw Error(status, Utf8.Read(Native.okc_last_error()));
            return text;
        }

        static byte[] Opt(string s)
        {
            return s == null ? null : Utf8.Z(s);
        }

        static string Required(string s, string name)
        {
            if (s == null)
                throw new ArgumentNullException(name);
            return s;
        }

        static string Config(string url, string terminalId, string clientId, string clientSecret, string journal)
        {
            var sb = new StringBuilder("{");
            Add(sb, "energy_url", url);
            Add(sb, "energy_terminal", terminalId);
            Add(sb, "tokenx_client_id", clientId);
            Add(sb, "tokenx_client_secret", clientSecret);
            Add(sb, "journal", journal);
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
    }
}

namespace IntegrationHub
{
    static partial class Native
    {
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_open(byte[] configJson, out IntPtr h);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_close(IntPtr h);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_list(IntPtr h, byte[] filterJson, out IntPtr resultJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_get(IntPtr h, byte[] orderId, out IntPtr orderJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_lock(IntPtr h, byte[] orderId, byte[] paymentId, out IntPtr lockJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_unlock(IntPtr h, byte[] orderId, byte[] reason, out IntPtr orderJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_pay(IntPtr h, byte[] orderId, byte[] paymentId, byte[] cardResultJson, out IntPtr resultJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_sell(IntPtr h, byte[] plate, byte[] orderId, IntPtr terminal, byte[] paymentId, out IntPtr resultJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int okc_energy_recover(IntPtr h, IntPtr terminal, out IntPtr resultJson);
    }
}
