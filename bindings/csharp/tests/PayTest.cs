// The card-payment API of IntegrationHub.dll (Okclink.Terminal over okc_pay_*) under mono
// against `okc sim-terminal --nexo`, started by .ci/test-bindings.sh:
//   OKC_TEST_TERMINAL   outcome approve  (client-only)
//   OKC_TEST_DECLINE    outcome decline
//   OKC_TEST_SIGNATURE  outcome signature, calling the POS listener OKC_TEST_LISTENER (IP:PORT)
//   OKC_TEST_SLOW       outcome approve, 3 s per payment (abort)
// Each a nexo+http://127.0.0.1:PORT URL. Energy orders (Okclink.Orders over okc_energy_*):
//   OKC_TEST_ENERGY_URL http://127.0.0.1:PORT of `okc sim-cloud --fuel 34ABC123:152340
//                       --fuel 06XYZ42:50000` (credentials demo/demo)
//  Exit code 0 = all checks passed.

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Okclink;

static class Program
{
    static int checks, failures;

    static void Check(bool ok, string what)
    {
        checks++;
        Console.WriteLine((ok ? "ok   " : "FAIL ") + what);
        if (!ok)
            failures++;
    }

    /// <summary>Runs call, which must throw T; returns the exception (or null).</summary>
    static T Throws<T>(Action call, string what) where T : Exception
    {
        try
        {
            call();
            Check(false, what + ": no exception");
        }
        catch (T e)
        {
            Check(true, what + ": " + e.GetType().Name + " " + e.Message);
            return e;
        }
        catch (Exception e)
        {
            Check(false, what + ": " + e.GetType().Name + " instead of " + typeof(T).Name + ": " + e.Message);
        }
        return null;
    }

    static string Env(string name)
    {
        string v = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrEmpty(v))
            throw new InvalidOperationException(name + " is not set (run .ci/test-bindings.sh)");
        return v;
    }

    static int Main()
    {
        try
        {
            Approve();
            Decline();
            Signature();
            Abort();
            Errors();
            Journal();
            Energy();
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL unexpected exception: " + e);
            failures++;
        }
        Console.WriteLine(failures == 0
            ? "csharp pay: all " + checks + " checks passed"
            : "csharp pay: " + failures + " of " + checks + " check(s) failed");
        return failures == 0 ? 0 : 1;
    }

    static void Approve()
    {
        Console.WriteLine("-- approve (" + Env("OKC_TEST_TERMINAL") + ")");
        var t = new Terminal(Env("OKC_TEST_TERMINAL") + "?poiid=CS-POS", applicationName: "okclink C# test");
        using (t)
        {
            t.Login();
            Check(true, "Login()");
            Check(t.ListenerAddress == null, "ListenerAddress null in client-only mode");

            PaymentResult r = t.Payment(1250, "SEK", "cs-pay-1");
            Check(r.Approved && r.Status == 0, "Payment approved, status OKC_OK: " + r.Json.Substring(0, Math.Min(120, r.Json.Length)));
            Check(r.Amount == 1250 && r.Currency == "SEK", "amount 1250 SEK (" + r.Amount + " " + r.Currency + ")");
            Check(!string.IsNullOrEmpty(r.TransactionId), "transaction id " + r.TransactionId);
            Check(r.Kind == "payment" && r.Reference == "cs-pay-1", "kind payment, reference cs-pay-1");
            Check(!string.IsNullOrEmpty(r.ApprovalCode) && !string.IsNullOrEmpty(r.MaskedPan) && r.Reason == null,
                "approval code " + r.ApprovalCode + ", card " + r.MaskedPan + ", no reason");
            Check(r.CustomerReceipt.Length > 0 && r.MerchantReceipt.Length > 0,
                "receipts: " + r.CustomerReceipt.Length + " customer, " + r.MerchantReceipt.Length + " merchant lines");
            Check(r.CustomerReceipt.Any(l => l.Contains("12,50 SEK")),
                "customer receipt shows 12,50 SEK: " + string.Join(" | ", r.CustomerReceipt));
            Check(r.CustomerReceipt.Contains("Köp"), "receipt text is exact UTF-8 (Köp)");
            Check(r.Json.Contains("\"approved\":true") && r.Raw.Contains("PaymentResponse"), "Json and Raw");

            PaymentResult again = t.Payment(1250, "SEK", "cs-pay-1");
            Check(again.Json == r.Json, "same reference again: the recorded result");
            PaymentResult st = t.Status("cs-pay-1");
            Check(st.Approved && st.TransactionId == r.TransactionId, "Status(reference): same transaction id " + st.TransactionId);

            Thread.Sleep(400); // the terminal is busy right after a payment (the library retries anyway)
            PaymentResult rev = t.ReverseLast();
            Check(rev.Approved && rev.Kind == "reversal", "ReverseLast approved, kind reversal");
            Check(rev.Amount == 1250, "reversal amount 1250 (" + rev.Amount + ")");

            Thread.Sleep(400);
            PaymentResult rf = t.Refund(500, "SEK", "cs-refund-1");
            Check(rf.Approved && rf.Kind == "refund" && rf.Amount == 500 && rf.Currency == "SEK",
                "Refund approved, kind refund, 500 SEK (" + rf.Kind + " " + rf.Amount + ")");
            Check(!string.IsNullOrEmpty(rf.TransactionId) && rf.TransactionId != r.TransactionId, "refund has its own transaction id");

            var ua = Throws<UnsupportedException>(() => t.BatchClose(), "BatchClose on a PAX terminal");
            Check(ua != null && ua.Status == -14, "UnsupportedException.Status == -14");
            var rj = Throws<RejectedException>(() => t.Status("cs-never-paid"), "Status of an unknown reference");
            Check(rj != null && rj.LibraryMessage.Contains("NotFound"), "rejection names NotFound");

            Thread.Sleep(400);
            t.Logout(true);
            Check(true, "Logout(true)");
            PaymentResult after = t.Payment(300, "EUR", "cs-pay-2");
            Check(after.Approved && after.Amount == 300 && after.Currency == "EUR", "payment after logout logs in again (EUR 300)");

            var ia = Throws<InvalidArgumentException>(() => t.Payment(0, "SEK", "cs-zero"), "amount 0");
            Check(ia != null && ia.Status == -16 && ia.LibraryMessage.Length > 0 && ia is OkcException,
                "InvalidArgumentException: Status -16, the library's message");
            Throws<InvalidArgumentException>(() => t.Payment(-5, "SEK", "cs-negative"), "amount -5");
            Throws<InvalidArgumentException>(() => t.Payment(100, "SEKX", "cs-currency"), "currency SEKX");
            Throws<InvalidArgumentException>(() => t.Refund(100, "SEK", "has/slash"), "reference with a slash");
            Throws<ArgumentNullException>(() => t.Payment(100, null, "cs-null"), "currency null");
        }
        Throws<ObjectDisposedException>(() => t.Payment(100, "SEK", "cs-disposed"), "Payment after Dispose");
        Throws<ObjectDisposedException>(() => t.Abort(), "Abort after Dispose");
        Throws<ObjectDisposedException>(() => { var _ = t.ListenerAddress; }, "ListenerAddress after Dispose");
        t.Dispose();
        Check(true, "Dispose twice");
    }

    static void Decline()
    {
        Console.WriteLine("-- decline");
        using (var t = new Terminal(Env("OKC_TEST_DECLINE")))
        {
            PaymentResult r = t.Payment(999, "SEK", "cs-decline");
            Check(!r.Approved && r.Status == Terminal.OKC_PAY_DECLINED, "declined: a result, status OKC_PAY_DECLINED (2)");
            Check(r.Reason != null && r.Reason.Contains("Refusal"), "reason " + r.Reason);
            Check(r.Amount == 0 && r.Reference == "cs-decline" && r.ApprovalCode == null, "nothing authorised");
            Check(r.Json.Contains("\"approved\":false"), "Json says approved false");
        }
    }

    static void Signature()
    {
        Console.WriteLine("-- signature (listener " + Env("OKC_TEST_LISTENER") + ")");
        var seen = new List<TerminalEvent>();
        bool answer = true;
        TerminalEventHandler handler = e =>
        {
            lock (seen)
                seen.Add(e);
            if (e.IsSignatureQuestion)
                return answer;
            return null;
        };
        using (var t = new Terminal(Env("OKC_TEST_SIGNATURE"), listener: Env("OKC_TEST_LISTENER"), onEvent: handler))
        {
            Check(t.ListenerAddress == Env("OKC_TEST_LISTENER"), "ListenerAddress " + t.ListenerAddress);
            // A collection between open and the first event must not kill the native callback.
            GC.Collect();
            GC.WaitForPendingFinalizers();

            PaymentResult ok = t.Payment(500, "SEK", "cs-sign-yes");
            TerminalEvent q;
            lock (seen)
                q = seen.FirstOrDefault(e => e.IsSignatureQuestion);
            Check(q != null && q.Lines.Length > 0 && q.Json.Contains("\"event\":\"signature\""),
                "handler asked the signature question: " + (q == null ? "none" : string.Join(" ", q.Lines)));
            lock (seen)
            {
                Check(seen.Any(e => e.Kind == "display" && e.Lines.Length > 0), "display events: " +
                    string.Join(" | ", seen.Where(e => e.Kind == "display").Select(e => string.Join(" ", e.Lines))));
                Check(seen.Any(e => e.Kind == "print" && e.Lines.Length > 0), "print event (the merchant copy to sign)");
            }
            Check(ok.Approved && ok.Status == 0 && ok.Amount == 500, "answer true → approved 500");

            Thread.Sleep(400);
            answer = false;
            int before;
            lock (seen)
                before = seen.Count(e => e.IsSignatureQuestion);
            PaymentResult no = t.Payment(600, "SEK", "cs-sign-no");
            int questions;
            lock (seen)
                questions = seen.Count(e => e.IsSignatureQuestion) - before;
            Check(questions == 1, "asked again for the second payment (" + questions + ")");
            Check(!no.Approved && no.Status == Terminal.OKC_PAY_DECLINED, "answer false → not approved (OKC_PAY_DECLINED)");
            Check(no.Reason != null && no.Reason.Contains("Signature"), "reason " + no.Reason);

            // A throwing handler: the policy ("confirm") answers, the exception is reported.
            Thread.Sleep(400);
            Exception reported = null;
            t.CallbackException += e => reported = e;
            t.OnEvent = e =>
            {
                if (e.IsSignatureQuestion)
                    throw new InvalidOperationException("handler bug");
                return null;
            };
            PaymentResult pol = t.Payment(700, "SEK", "cs-sign-throw");
            Check(pol.Approved && reported is InvalidOperationException, "throwing handler: policy confirm, CallbackException raised");
        }
    }

    static void Abort()
    {
        Console.WriteLine("-- abort from another thread");
        using (var t = new Terminal(Env("OKC_TEST_SLOW")))
        {
            PaymentResult r = null;
            Exception err = null;
            var th = new Thread(() =>
            {
                try
                {
                    r = t.Payment(700, "SEK", "cs-abort");
                }
                catch (Exception e)
                {
                    err = e;
                }
            });
            th.Start();
            Thread.Sleep(600);
            t.Abort();
            Check(th.Join(10000), "Payment returned after Abort");
            Check(err == null && r != null && !r.Approved && r.Status == Terminal.OKC_PAY_DECLINED,
                "aborted payment is a not-approved result" + (err != null ? ": " + err.Message : ""));
            Check(r != null && r.Reason != null && r.Reason.Contains("Aborted"), "reason " + (r == null ? "" : r.Reason));
        }
    }

    static void Errors()
    {
        Console.WriteLine("-- errors");
        var ce = Throws<ConfigException>(() => Terminal.Open("{\"terminal\":\"nexo+http://127.0.0.1:9\",\"bogus\":1}"), "unknown config key");
        Check(ce != null && ce.Status == -10 && ce.LibraryMessage.Contains("bogus"), "ConfigException names the key");
        Throws<ConfigException>(() => new Terminal("ftp://nowhere"), "unknown terminal scheme");
        using (var t = Terminal.Open("{\"terminal\":\"nexo+http://127.0.0.1:9\"}"))
            Throws<NoDeviceException>(() => t.Payment(100, "SEK", "cs-unreachable"), "unreachable terminal");
    }

    static string TempFile(string name)
    {
        string f = System.IO.Path.Combine(System.IO.Path.GetTempPath(),
            "okclink-cs-" + System.Diagnostics.Process.GetCurrentProcess().Id + "-" + name + ".sqlite");
        System.IO.File.Delete(f);
        return f;
    }

    static void Journal()
    {
        Console.WriteLine("-- journal: Confirm / Pending");
        string j = TempFile("pay-journal");
        string cfg = "{\"terminal\":\"" + Env("OKC_TEST_TERMINAL") + "?poiid=CS-JRN\",\"journal\":\"" + j + "\"}";
        using (var t = Terminal.Open(cfg))
        {
            Check(t.Pending() == "[]", "Pending() of a fresh journal: []");
            PaymentResult r = t.Payment(990, "SEK", "cs-jrn-1");
            Check(r.Approved, "payment approved");
            string p = t.Pending();
            Check(p.Contains("\"cs-jrn-1\"") && p.Contains("\"answered\""), "Pending() lists the unconfirmed result: " + p.Substring(0, Math.Min(100, p.Length)));
            t.Confirm("cs-jrn-1");
            Check(t.Pending() == "[]", "after Confirm: []");
            t.Confirm("cs-jrn-1");
            Check(true, "Confirm again: idempotent");
            var ia = Throws<InvalidArgumentException>(() => t.Confirm("cs-jrn-unknown"), "Confirm of an unknown reference");
            Check(ia != null && ia.Status == -16, "InvalidArgumentException.Status == -16");
            Throws<ArgumentNullException>(() => t.Confirm(null), "Confirm(null)");
            t.Dispose();
            Throws<ObjectDisposedException>(() => t.Pending(), "Pending() after Dispose");
        }
        RemoveJournal(j);
    }

    static void RemoveJournal(string f)
    {
        foreach (string suffix in new[] { "", "-wal", "-shm", "-journal" })
            System.IO.File.Delete(f + suffix);
    }

    static void Energy()
    {
        string url = Env("OKC_TEST_ENERGY_URL");
        Console.WriteLine("-- energy orders (" + url + ")");
        string j1 = TempFile("energy-vt1"), j2 = TempFile("energy-vt2");
        using (var o = new Orders(url, "VT00000000001", "demo", "demo", journal: j1))
        using (var b = Orders.Open("{\"energy_url\":\"" + url + "\",\"energy_terminal\":\"VT00000000002\"," +
            "\"tokenx_client_id\":\"demo\",\"tokenx_client_secret\":\"demo\",\"journal\":\"" + j2 + "\"}"))
        using (var ok = new Terminal(Env("OKC_TEST_TERMINAL") + "?poiid=CS-FUEL"))
        using (var no = new Terminal(Env("OKC_TEST_DECLINE") + "?poiid=CS-FUEL"))
        {
            string all = o.List(status: "OPEN");
            Check(all.StartsWith("[") && all.Contains("\"34ABC123\"") && all.Contains("\"06XYZ42\""),
                "List(OPEN) shows both fuelled orders");
            string one = o.List(plate: "34abc123");
            Check(one.Contains("152340") && !one.Contains("06XYZ42"), "List(plate) shows only 34ABC123 (152340 kuruş)");
            string id = Field(one, "orderId");
            Check(id != null && o.Get(id).Contains("pumpTerminalId"), "Get(" + id + ")");

            // a cloud refusal: unknown order, another terminal's lock
            var nf = Throws<OkcException>(() => o.Get("no-such-order"), "Get of an unknown order");
            Check(nf is RejectedException && nf.Status == -13 && nf.CloudCode == 1006,
                "unknown order: " + (nf == null ? "" : nf.GetType().Name + " Status " + nf.Status + ", CloudCode " + nf.CloudCode));
            string lk = o.Lock(id);
            Check(lk.Contains("\"lockedBy\":\"VT00000000001\"") && lk.Contains("lockToken"), "Lock: " + lk);
            var rj = Throws<RejectedException>(() => b.Lock(id), "Lock of an order another terminal holds");
            Check(rj != null && rj.Status == -13 && rj.CloudCode == 1018, "RejectedException, CloudCode 1018 (" + (rj == null ? null : rj.CloudCode) + ")");
            Check(Field(o.Unlock(id), "state") == "OPEN", "Unlock: the order is OPEN again");

            // the forecourt flow
            OrderSale s = o.Sell(ok, plate: "34ABC123");
            Check(s.Status == 0 && s.State == "completed" && s.Completed, "Sell approved: completed (" + s.State + ", " + s.Reason + ")");
            Check(s.OrderId == id && s.Amount == 152340 && s.Plate == "34ABC123" && s.CardApproved,
                "Sell: order, amount, plate, card approved");
            Check(s.Json.Contains("receipt"), "Sell: result JSON has the receipt");
            OrderSale d = o.Sell(no, plate: "06XYZ42");
            Check(d.Status == Orders.OKC_ENERGY_UNLOCKED && d.State == "unlocked" && d.Card == "not_approved",
                "Sell declined: unlocked, card not_approved (" + d.State + ", " + d.Card + ")");
            Check(d.Reason != null && d.Reason.StartsWith("declined"), "reason " + d.Reason);
            Check(Field(o.Get(d.OrderId), "state") == "OPEN", "the declined order is OPEN again");
            var gone = Throws<OkcException>(() => o.Sell(ok, plate: "34ABC123"), "Sell of a plate with no open order");
            Check(gone != null && gone.Status < 0, "no open order: " + (gone == null ? "" : gone.GetType().Name));

            // cash payment on the other terminal, then the order is not open any more
            string paid = b.Pay(d.OrderId, "cs-cash-1");
            Check(paid.Contains("\"replayed\":false") && (paid.Contains("PAID") || paid.Contains("COMPLETED")), "Pay (cash): " + paid.Substring(0, Math.Min(120, paid.Length)));
            var nc = Throws<RejectedException>(() => o.Lock(d.OrderId), "Lock of a paid order");
            Check(nc != null && nc.CloudCode == 1105, "CloudCode 1105 (" + (nc == null ? null : nc.CloudCode) + ")");
            Check(o.Recover(ok) == "[]", "Recover: nothing left");

            Throws<ArgumentNullException>(() => o.Sell(null, plate: "34ABC123"), "Sell without a terminal");
            o.Dispose();
            o.Dispose();
            Throws<ObjectDisposedException>(() => o.List(), "List after Dispose");
            Throws<ObjectDisposedException>(() => o.Get(id), "Get after Dispose");
        }
        RemoveJournal(j1);
        RemoveJournal(j2);
        var ce = Throws<ConfigException>(() => Orders.Open("{\"energy_url\":\"" + url + "\",\"bogus\":1}"), "unknown config key");
        Check(ce != null && ce.Status == -10, "ConfigException.Status == -10");
    }

    /// <summary>The first "key":"value" string field of a JSON text (the tests' only need).</summary>
    static string Field(string json, string key)
    {
        string k = "\"" + key + "\":\"";
        int i = json.IndexOf(k, StringComparison.Ordinal);
        if (i < 0)
            return null;
        i += k.Length;
        int e = json.IndexOf('"', i);
        return e < 0 ? null : json.Substring(i, e - i);
    }
}
