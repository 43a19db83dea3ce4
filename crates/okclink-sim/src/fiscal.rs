//! The fiscal "application" of the simulated device: fiscal info, basket checks, receipts.
//!
//! Money is kuruş everywhere (ints in baskets and payments, as the hosts send them). The
//! sale info (type 3) writes amounts as floats of the same kuruş value (`"amount":900.0`
//! for 900 kuruş): the real 300TR sale info in DROP-IN §5.3 answers a 5000-kuruş payment
//! with `"amount":5000.0`, and the X30TR samples show the same magnitudes as the baskets.
//!
//! Texts the device sends are Windows-1254 bytes, like the real devices.

use okclink_wire::text::{self, TextEncoding};
use serde_json::Value;

use okclink_wire::DeviceModel;

/// The real X30TR fiscal info (Tria log 2026-04-08; cp1254 bytes as received).
pub const FISCAL_X30TR: &[u8] = include_bytes!("data/fiscal-x30tr.json");
/// The real 300TR fiscal info (Tria log 2026-04-09; with the device's nonsense fields).
pub const FISCAL_300TR: &[u8] = include_bytes!("data/fiscal-300tr.json");

/// Error texts the device answers a basket or payment with (sent cp1254-encoded).
/// The first two are the real 300TR's; the others are the simulator's own (no real sample).
pub mod texts {
    /// Real (300TR): a basket that carries payment items (the 300TR takes payments as type 10).
    pub const SEPARATE_PAYMENTS: &str = "Ödemeleri ayrı ayrı göndermelisiniz";
    /// Real (300TR): a payment type outside 1, 3, 7, 17.
    pub const INVALID_PAYMENT_TYPE: &str = "Geçersiz ödeme tipi";
    /// Not JSON / not an object / wrong field types.
    pub const INVALID_BASKET: &str = "Geçersiz sepet";
    /// No items and no tax-free amount.
    pub const EMPTY_BASKET: &str = "Sepette ürün yok";
    /// An item with a bad price/quantity or neither a known PLU nor a section.
    pub const INVALID_ITEM: &str = "Geçersiz ürün";
    /// An item's section does not exist or is disabled.
    pub const INVALID_SECTION: &str = "Geçersiz kısım";
    /// The basket total exceeds the fiscal info's `receiptLimit`.
    pub const RECEIPT_LIMIT: &str = "Fiş limiti aşıldı";
    /// X30TR: the payment items do not cover the total (or non-cash payments exceed it).
    pub const PAYMENT_MISMATCH: &str = "Ödeme tutarı sepet tutarı ile uyuşmuyor";
    /// A payment or void with no open receipt.
    pub const NO_OPEN_RECEIPT: &str = "Açık fiş yok";
    /// A basket while the previous receipt is still open.
    pub const RECEIPT_OPEN: &str = "Açık fiş var";
    /// 300TR: a non-cash payment larger than what is left to pay.
    pub const OVERPAYMENT: &str = "Ödeme tutarı kalan tutardan fazla";
}

/// Encode `s` as Windows-1254 (what the devices send), with the project's one text codec.
pub fn cp1254(s: &str) -> Vec<u8> {
    text::encode_outgoing_json(s, TextEncoding::Cp1254)
}

/// Read host bytes as text: UTF-8 if valid, else Windows-1254 (the project's one text codec).
pub fn decode_text(b: &[u8]) -> String {
    text::decode_device_text(b)
}

/// Payment type codes (DROP-IN §4).
pub const PAY_CASH: i64 = 1;
pub const PAY_CARD: i64 = 3;
pub const PAY_FOOD_CARD: i64 = 7;
pub const PAY_OPEN_ACCOUNT: i64 = 17;

/// The device's description of a payment type (as in its receipts).
pub fn payment_description(t: i64) -> &'static str {
    match t {
        PAY_CASH => "Nakit",
        PAY_CARD => "Kredi Kartı",
        PAY_FOOD_CARD => "Yemek Kartı",
        PAY_OPEN_ACCOUNT => "Açık Hesap",
        _ => "Diğer",
    }
}

fn valid_payment_type(t: i64) -> bool {
    matches!(t, PAY_CASH | PAY_CARD | PAY_FOOD_CARD | PAY_OPEN_ACCOUNT)
}

/// What the simulator needs from the fiscal info it serves.
#[derive(Debug, Clone, Default)]
pub struct FiscalData {
    /// `receiptLimit` (kuruş); 0 = no limit.
    pub receipt_limit: i64,
    /// `(sectionNo, enabled)`.
    pub sections: Vec<(i64, bool)>,
    /// `(pluNo, price, sectionNo)`.
    pub plus: Vec<(i64, i64, i64)>,
}

impl FiscalData {
    /// Parse a fiscal-info payload (cp1254 or UTF-8 JSON). Unknown shapes give an empty
    /// model (no limit, no sections: then items are not checked against sections).
    pub fn parse(raw: &[u8]) -> FiscalData {
        let v: Value = match serde_json::from_str(&decode_text(raw)) {
            Ok(v) => v,
            Err(_) => return FiscalData::default(),
        };
        let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
        let sections = v
            .get("sections")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|s| (int(s, "sectionNo"), int(s, "status") == 1))
                    .collect()
            })
            .unwrap_or_default();
        let plus = v
            .get("plus")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|p| (int(p, "pluNo"), int(p, "price"), int(p, "sectionNo")))
                    .collect()
            })
            .unwrap_or_default();
        FiscalData {
            receipt_limit: int(&v, "receiptLimit"),
            sections,
            plus,
        }
    }
}

/// One payment (kuruş).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub kind: i64,
    pub amount: i64,
}

/// A basket that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket {
    pub basket_id: String,
    pub document_type: i64,
    pub is_way_bill: bool,
    /// Total to pay (kuruş).
    pub total: i64,
    pub payments: Vec<Payment>,
}

/// What a type-1 or type-10 request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `{"isVoid":true}`: cancel the open receipt.
    Void,
    Basket(Basket),
    Payment(Payment),
}

fn parse_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, &'static str> {
    match serde_json::from_str::<Value>(&decode_text(bytes)) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(texts::INVALID_BASKET),
    }
}

fn is_void(m: &serde_json::Map<String, Value>) -> bool {
    m.get("isVoid").and_then(Value::as_bool) == Some(true)
}

fn int_field(m: &Value, k: &str, default: i64) -> Result<i64, &'static str> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_i64().ok_or(texts::INVALID_BASKET),
    }
}

fn parse_payment(p: &Value) -> Result<Payment, &'static str> {
    if !p.is_object() {
        return Err(texts::INVALID_BASKET);
    }
    let kind = int_field(p, "type", -1).map_err(|_| texts::INVALID_PAYMENT_TYPE)?;
    if !valid_payment_type(kind) {
        return Err(texts::INVALID_PAYMENT_TYPE);
    }
    let amount = int_field(p, "amount", 0)?;
    if amount <= 0 {
        return Err(texts::INVALID_BASKET);
    }
    Ok(Payment { kind, amount })
}

/// Check a basket (type 1) the way the device does. `Err` is the error text to answer with.
pub fn check_basket(
    model: DeviceModel,
    fiscal: &FiscalData,
    bytes: &[u8],
) -> Result<Request, &'static str> {
    let m = parse_object(bytes)?;
    if is_void(&m) {
        return Ok(Request::Void);
    }
    let obj = Value::Object(m);
    let mut total: i64 = 0;
    let items = match obj.get("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(texts::INVALID_BASKET),
    };
    for it in &items {
        if !it.is_object() {
            return Err(texts::INVALID_ITEM);
        }
        let plu_no = int_field(it, "pluNo", 0).map_err(|_| texts::INVALID_ITEM)?;
        let plu = fiscal.plus.iter().find(|p| plu_no > 0 && p.0 == plu_no);
        let price = match (it.get("price"), plu) {
            (Some(v), _) if !v.is_null() => v.as_i64().ok_or(texts::INVALID_ITEM)?,
            (_, Some(p)) => p.1,
            _ => return Err(texts::INVALID_ITEM),
        };
        let quantity = int_field(it, "quantity", 1000).map_err(|_| texts::INVALID_ITEM)?;
        if price < 0 || quantity <= 0 {
            return Err(texts::INVALID_ITEM);
        }
        let section = int_field(it, "sectionNo", 0).map_err(|_| texts::INVALID_ITEM)?;
        let section = if section == 0 {
            plu.map(|p| p.2).unwrap_or(0)
        } else {
            section
        };
        if section == 0 {
            return Err(texts::INVALID_ITEM);
        }
        if !fiscal.sections.is_empty() && !fiscal.sections.contains(&(section, true)) {
            return Err(texts::INVALID_SECTION);
        }
        // price × quantity/1000, rounded half up.
        let line = (price as i128 * quantity as i128 + 500) / 1000;
        total = total
            .checked_add(i64::try_from(line).map_err(|_| texts::INVALID_ITEM)?)
            .ok_or(texts::INVALID_ITEM)?;
    }
    let tax_free = int_field(&obj, "taxFreeAmount", 0)?;
    if tax_free < 0 {
        return Err(texts::INVALID_BASKET);
    }
    total += tax_free;
    if let Some(adj) = obj.get("adjust").filter(|a| a.is_object()) {
        let value = int_field(adj, "value", 0)?;
        let amount = if int_field(adj, "type", 0)? == 1 {
            // Percent (a plain percentage, e.g. 10 = %10).
            total * value / 100
        } else {
            value
        };
        if int_field(adj, "discountOrSurcharge", 0)? == 1 {
            total += amount;
        } else {
            total -= amount;
        }
    }
    if items.is_empty() && tax_free == 0 {
        return Err(texts::EMPTY_BASKET);
    }
    if total <= 0 {
        return Err(texts::INVALID_BASKET);
    }
    let payments = match obj.get("paymentItems") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(parse_payment).collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(texts::INVALID_BASKET),
    };
    if fiscal.receipt_limit > 0 && total > fiscal.receipt_limit {
        return Err(texts::RECEIPT_LIMIT);
    }
    match model {
        DeviceModel::T300tr if !payments.is_empty() => return Err(texts::SEPARATE_PAYMENTS),
        DeviceModel::X30tr if !payments.is_empty() => {
            let sum: i64 = payments.iter().map(|p| p.amount).sum();
            let non_cash: i64 = payments
                .iter()
                .filter(|p| p.kind != PAY_CASH)
                .map(|p| p.amount)
                .sum();
            if sum < total || non_cash > total {
                return Err(texts::PAYMENT_MISMATCH);
            }
        }
        _ => {}
    }
    let basket_id = match obj.get("basketID") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(texts::INVALID_BASKET),
    };
    Ok(Request::Basket(Basket {
        basket_id,
        document_type: int_field(&obj, "documentType", 0)?,
        is_way_bill: obj.get("isWayBill").and_then(Value::as_bool) == Some(true),
        total,
        payments,
    }))
}

/// Check a payment request (type 10): `{"amount":…,"description":…,"type":…}` or a void.
pub fn check_payment(bytes: &[u8]) -> Result<Request, &'static str> {
    let m = parse_object(bytes)?;
    if is_void(&m) {
        return Ok(Request::Void);
    }
    parse_payment(&Value::Object(m)).map(Request::Payment)
}

/// `{"basketID":"…","status":0}` — the 300TR's answer to an accepted basket.
pub fn basket_status_json(basket_id: &str, status: i32) -> Vec<u8> {
    let mut s = String::from("{\"basketID\":");
    s.push_str(&serde_json::to_string(basket_id).expect("string"));
    s.push_str(&format!(",\"status\":{status}}}"));
    cp1254(&s)
}

/// One line of a receipt's payment list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptPayment {
    pub kind: i64,
    pub amount: i64,
    pub txn_no: u32,
    pub batch_no: u32,
}

/// Everything a sale-info message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub basket_id: String,
    pub document_type: i64,
    pub is_way_bill: bool,
    pub payments: Vec<ReceiptPayment>,
    pub receipt_no: u32,
    pub z_no: u32,
    /// 0 completed, -1 cancelled at the device, 99 receipt voided.
    pub status: i32,
    pub message: String,
    pub uuid: String,
}

fn float_kurus(k: i64) -> String {
    format!("{k}.0")
}

/// The sale info (type 3) payload in the model's real shape, cp1254-encoded.
pub fn sale_info_json(model: DeviceModel, r: &Receipt) -> Vec<u8> {
    let q = |s: &str| serde_json::to_string(s).expect("string");
    let mut s = String::with_capacity(640);
    match model {
        DeviceModel::X30tr => {
            // Keys in the device's order (case-insensitive alphabetical), as in the samples.
            s.push_str(&format!(
                "{{\"basketID\":{},\"documentType\":{},\"InstanceIdentifier\":\"XXXX\",\"invoiceID\":\"\",\"isWayBill\":{},\"message\":{},\"paymentCount\":{},\"paymentItems\":[",
                q(&r.basket_id),
                r.document_type,
                r.is_way_bill,
                q(&r.message),
                r.payments.len()
            ));
            for (i, p) in r.payments.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let id = match p.kind {
                    PAY_CASH => 1,
                    PAY_CARD => 0,
                    PAY_FOOD_CARD => 2,
                    _ => 3,
                };
                s.push_str(&format!(
                    "{{\"amount\":{a},\"BatchNo\":{},\"currencyAmount\":{a},\"currencyId\":0,\"description\":{},\"id\":{id},\"isClickable\":true,\"isRefunded\":{},\"operatorId\":0,\"status\":-1,\"TxnNo\":{},\"type\":{}}}",
                    p.batch_no,
                    q(payment_description(p.kind)),
                    r.status == 99,
                    p.txn_no,
                    p.kind,
                    a = float_kurus(p.amount),
                ));
            }
            s.push_str(&format!(
                "],\"receiptNo\":{},\"status\":{},\"UUID\":{},\"zNo\":{}}}",
                r.receipt_no,
                r.status,
                q(&r.uuid),
                r.z_no
            ));
        }
        DeviceModel::T300tr => {
            s.push_str(&format!(
                "{{\"basketID\":{},\"documentType\":{},\"message\":{},\"paymentCount\":{},\"paymentItems\":[",
                q(&r.basket_id),
                r.document_type,
                q(&r.message),
                r.payments.len()
            ));
            for (i, p) in r.payments.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&format!(
                    "{{\"amount\":{},\"currencyId\":0,\"description\":{},\"operatorId\":0,\"status\":{},\"taxRate\":-1,\"type\":{}}}",
                    float_kurus(p.amount),
                    q(payment_description(p.kind)),
                    if r.status == 0 { 0 } else { -1 },
                    p.kind
                ));
            }
            s.push_str(&format!(
                "],\"receiptNo\":{},\"status\":{},\"zNo\":{}}}",
                r.receipt_no, r.status, r.z_no
            ));
        }
    }
    cp1254(&s)
}

/// A random RFC 4122 version-4 UUID in lower-case hex.
pub fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_error_texts_encode_to_the_logged_bytes() {
        assert_eq!(
            cp1254(texts::SEPARATE_PAYMENTS),
            b"\xd6demeleri ayr\xfd ayr\xfd g\xf6ndermelisiniz"
        );
        assert_eq!(
            cp1254(texts::INVALID_PAYMENT_TYPE),
            b"Ge\xe7ersiz \xf6deme tipi"
        );
    }

    #[test]
    fn fiscal_data_parses_both_real_payloads() {
        let x = FiscalData::parse(FISCAL_X30TR);
        assert_eq!(x.receipt_limit, 525000);
        assert_eq!(x.sections.len(), 7);
        assert_eq!(x.plus.len(), 5);
        let t = FiscalData::parse(FISCAL_300TR);
        assert_eq!(t.receipt_limit, 990000);
        assert_eq!(t.sections.len(), 8);
    }

    #[test]
    fn x30tr_sale_info_matches_the_real_shape() {
        // Rebuild the real receipt of the Tria log (2026-04-09 11:24:51) field by field.
        let r = Receipt {
            basket_id: "020604202600001".into(),
            document_type: 0,
            is_way_bill: false,
            payments: vec![
                ReceiptPayment {
                    kind: 1,
                    amount: 900,
                    txn_no: 0,
                    batch_no: 0,
                },
                ReceiptPayment {
                    kind: 3,
                    amount: 100,
                    txn_no: 1,
                    batch_no: 16,
                },
            ],
            receipt_no: 1,
            z_no: 39,
            status: 0,
            message: "OK".into(),
            uuid: "b1d5f0ba-bf1a-4243-868d-3f268bf2756b".into(),
        };
        let real = b"{\"basketID\":\"020604202600001\",\"documentType\":0,\"InstanceIdentifier\":\"XXXX\",\"invoiceID\":\"\",\"isWayBill\":false,\"message\":\"OK\",\"paymentCount\":2,\"paymentItems\":[{\"amount\":900.0,\"BatchNo\":0,\"currencyAmount\":900.0,\"currencyId\":0,\"description\":\"Nakit\",\"id\":1,\"isClickable\":true,\"isRefunded\":false,\"operatorId\":0,\"status\":-1,\"TxnNo\":0,\"type\":1},{\"amount\":100.0,\"BatchNo\":16,\"currencyAmount\":100.0,\"currencyId\":0,\"description\":\"Kredi Kart\xfd\",\"id\":0,\"isClickable\":true,\"isRefunded\":false,\"operatorId\":0,\"status\":-1,\"TxnNo\":1,\"type\":3}],\"receiptNo\":1,\"status\":0,\"UUID\":\"b1d5f0ba-bf1a-4243-868d-3f268bf2756b\",\"zNo\":39}";
        assert_eq!(sale_info_json(DeviceModel::X30tr, &r), real.to_vec());
    }

    #[test]
    fn t300tr_sale_info_matches_the_real_shape() {
        let r = Receipt {
            basket_id: String::new(),
            document_type: 9008,
            is_way_bill: false,
            payments: vec![ReceiptPayment {
                kind: 1,
                amount: 5000,
                txn_no: 0,
                batch_no: 0,
            }],
            receipt_no: 9,
            z_no: 105,
            status: 0,
            message: "OK".into(),
            uuid: String::new(),
        };
        assert_eq!(
            sale_info_json(DeviceModel::T300tr, &r),
            b"{\"basketID\":\"\",\"documentType\":9008,\"message\":\"OK\",\"paymentCount\":1,\"paymentItems\":[{\"amount\":5000.0,\"currencyId\":0,\"description\":\"Nakit\",\"operatorId\":0,\"status\":0,\"taxRate\":-1,\"type\":1}],\"receiptNo\":9,\"status\":0,\"zNo\":105}".to_vec()
        );
    }

    #[test]
    fn basket_checks() {
        let f = FiscalData::parse(FISCAL_X30TR);
        let x = DeviceModel::X30tr;
        let ok = br#"{"basketID":"b1","items":[{"name":"A","price":1000,"quantity":1000,"sectionNo":1,"taxPercent":2000,"type":0}],"paymentItems":[{"amount":900,"type":1},{"amount":100,"type":3}]}"#;
        match check_basket(x, &f, ok).unwrap() {
            Request::Basket(b) => {
                assert_eq!(b.total, 1000);
                assert_eq!(b.basket_id, "b1");
                assert_eq!(b.payments.len(), 2);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            check_basket(DeviceModel::T300tr, &f, ok),
            Err(texts::SEPARATE_PAYMENTS)
        );
        assert_eq!(
            check_basket(x, &f, b"{not json"),
            Err(texts::INVALID_BASKET)
        );
        assert_eq!(
            check_basket(x, &f, br#"{"items":[{"price":100,"sectionNo":1}],"paymentItems":[{"amount":100,"type":5}]}"#),
            Err(texts::INVALID_PAYMENT_TYPE)
        );
        assert_eq!(
            check_basket(x, &f, br#"{"items":[{"price":100,"sectionNo":1}],"paymentItems":[{"amount":50,"type":1}]}"#),
            Err(texts::PAYMENT_MISMATCH)
        );
        assert_eq!(
            check_basket(x, &f, br#"{"items":[{"price":600000,"sectionNo":1}]}"#),
            Err(texts::RECEIPT_LIMIT)
        );
        assert_eq!(
            check_basket(x, &f, br#"{"items":[{"price":100,"sectionNo":9}]}"#),
            Err(texts::INVALID_SECTION)
        );
        assert_eq!(
            check_basket(x, &f, br#"{"items":[]}"#),
            Err(texts::EMPTY_BASKET)
        );
        assert_eq!(
            check_basket(x, &f, br#"{"isVoid":true}"#),
            Ok(Request::Void)
        );
        // PLU lookup: price and section from the fiscal info; quantity 2.5.
        match check_basket(x, &f, br#"{"items":[{"pluNo":2,"quantity":2500}]}"#).unwrap() {
            Request::Basket(b) => assert_eq!(b.total, 6250),
            o => panic!("{o:?}"),
        }
        // Tax-free only (documentType 9008 sample).
        match check_basket(x, &f, br#"{"documentType":9008,"taxFreeAmount":5000,"customerInfo":{"taxID":"11111111111"},"paymentItems":[{"amount":5000,"description":"Nakit","type":1}]}"#).unwrap() {
            Request::Basket(b) => {
                assert_eq!(b.total, 5000);
                assert_eq!(b.document_type, 9008);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            check_payment(br#"{"amount":6000,"description":"Nakit","type":1}"#),
            Ok(Request::Payment(Payment {
                kind: 1,
                amount: 6000
            }))
        );
        assert_eq!(
            check_payment(br#"{"amount":6000,"type":2}"#),
            Err(texts::INVALID_PAYMENT_TYPE)
        );
    }
}
