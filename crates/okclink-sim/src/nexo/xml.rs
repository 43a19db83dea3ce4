//! The simulator's own XML: a small element tree read with quick-xml, the strict
//! element-order check the real terminal applies (XSD order), and writing helpers.

use quick_xml::events::Event;
use quick_xml::Reader;

/// One element: name (namespace prefix dropped), attributes in document order, children,
/// and its text (concatenated, trimmed).
#[derive(Debug, Clone, Default)]
pub(crate) struct El {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<El>,
    pub text: String,
}

impl El {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn child(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }
    /// The first descendant at `path` ("A/B/C").
    pub fn at(&self, path: &str) -> Option<&El> {
        let mut cur = self;
        for part in path.split('/') {
            cur = cur.child(part)?;
        }
        Some(cur)
    }
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => name.to_string(),
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Result<El, String> {
    let mut el = El {
        name: local(e.name().as_ref()),
        ..El::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        let key = local(a.key.as_ref());
        if key == "xmlns" || a.key.as_ref().starts_with("xmlns:") {
            continue;
        }
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value: {e}"))?;
        el.attrs.push((key, v.into_owned()));
    }
    Ok(el)
}

/// Parse a document into its root element (a prolog, comments and namespaces are accepted).
pub(crate) fn parse(doc: &str) -> Result<El, String> {
    let mut r = Reader::from_str(doc);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    loop {
        let ev = r.read_event().map_err(|e| format!("XML error: {e}"))?;
        match ev {
            Event::Start(e) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                stack.push(element(&e)?);
            }
            Event::Empty(e) => {
                let el = element(&e)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err("content after the root element".into()),
                }
            }
            Event::End(_) => {
                let mut el = stack.pop().ok_or("unbalanced end tag")?;
                el.text = el.text.trim().to_string();
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                match stack.last_mut() {
                    Some(p) => p.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::CData(t) => {
                let s = t.into_inner().into_owned();
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&s);
                }
            }
            Event::GeneralRef(g) => {
                let c = if g.is_char_ref() {
                    g.resolve_char_ref()
                        .map_err(|e| format!("bad character reference: {e}"))?
                        .map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&g.xml10_content())
                        .map(String::from)
                };
                let c = c.ok_or("unknown entity")?;
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&c);
                }
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err("DOCTYPE not allowed".into()),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

/// Allowed children of an element, in XSD order: (name, min, max).
type Children = &'static [(&'static str, usize, usize)];

const N: usize = usize::MAX;

/// The children the terminal accepts, per element name, in the order the spec's skeletons
/// (XSD order) give them. `None` = an element the terminal does not know.
fn schema(name: &str) -> Option<Children> {
    Some(match name {
        "SaleToPOIRequest" | "SaleToPOIResponse" => &[], // checked by the caller
        "MessageHeader" => &[],
        // Login
        "LoginRequest" => &[
            ("DateTime", 1, 1),
            ("SaleSoftware", 1, 1),
            ("SaleTerminalData", 0, 1),
        ],
        "DateTime" | "SaleSoftware" => &[],
        "SaleTerminalData" => &[("SaleCapabilities", 0, 1), ("SaleProfile", 0, 1)],
        "SaleCapabilities" | "ServiceProfiles" => &[],
        "SaleProfile" => &[("ServiceProfiles", 0, 1)],
        "LogoutRequest" => &[],
        // Payment
        "PaymentRequest" => &[
            ("SaleData", 1, 1),
            ("PaymentTransaction", 1, 1),
            ("PaymentData", 0, 1),
        ],
        "SaleData" => &[("SaleTransactionID", 1, 1), ("SaleToAcquirerData", 0, 1)],
        "SaleTransactionID" | "SaleToAcquirerData" => &[],
        "PaymentTransaction" => &[("AmountsReq", 1, 1), ("SaleItem", 0, N)],
        "AmountsReq" | "SaleItem" => &[],
        "PaymentData" => &[
            ("CardAcquisitionReference", 0, 1),
            ("PaymentInstrumentData", 0, 1),
        ],
        "CardAcquisitionReference" => &[],
        "PaymentInstrumentData" => &[("CardData", 0, 1)],
        "CardData" => &[("SensitiveCardData", 0, 1)],
        "SensitiveCardData" => &[],
        // Abort, TransactionStatus, Reversal
        "AbortRequest" => &[("MessageReference", 1, 1), ("AbortReason", 1, 1)],
        "MessageReference" | "AbortReason" => &[],
        "TransactionStatusRequest" => &[("MessageReference", 0, 1)],
        "ReversalRequest" => &[("OriginalPOITransaction", 1, 1)],
        "OriginalPOITransaction" => &[("POITransactionID", 1, 1)],
        "POITransactionID" => &[],
        // Dialog
        "DisplayRequest" => &[("DisplayOutput", 1, N)],
        "DisplayOutput" => &[("OutputContent", 1, 1)],
        "OutputContent" => &[("OutputText", 0, N)],
        "OutputText" => &[],
        "InputRequest" => &[("DisplayOutput", 0, 1), ("InputData", 1, 1)],
        "InputData" => &[],
        "PrintRequest" => &[("PrintOutput", 1, 1)],
        "PrintOutput" => &[("OutputContent", 1, 1)],
        "AdminRequest" => &[("ServiceIdentification", 0, 1)],
        "ServiceIdentification" => &[],
        // What the POS answers to the terminal's InputRequest.
        "InputResponse" => &[("OutputResult", 0, 1), ("InputResult", 1, 1)],
        "OutputResult" => &[("Response", 1, 1)],
        "InputResult" => &[("Response", 1, 1), ("Input", 0, 1)],
        "Response" => &[("AdditionalResponse", 0, 1)],
        "AdditionalResponse" => &[],
        "Input" => &[("ConfirmedFlag", 0, 1), ("DigitInput", 0, 1)],
        "ConfirmedFlag" | "DigitInput" => &[],
        _ => return None,
    })
}

/// Check `el` and its descendants against [`schema`]: known elements only, in order, within
/// their counts. The error names the first offending element.
pub(crate) fn check_order(el: &El) -> Result<(), String> {
    let allowed = schema(&el.name).ok_or_else(|| format!("unknown element <{}>", el.name))?;
    let mut slot = 0usize;
    let mut count = 0usize;
    for c in &el.children {
        loop {
            match allowed.get(slot) {
                None => {
                    return Err(format!(
                        "unexpected element <{}> in <{}> (unknown here or out of order)",
                        c.name, el.name
                    ))
                }
                Some((name, _, max)) if *name == c.name => {
                    if count >= *max {
                        return Err(format!("too many <{}> in <{}>", c.name, el.name));
                    }
                    count += 1;
                    break;
                }
                Some((name, min, _)) => {
                    if count < *min {
                        return Err(format!(
                            "missing <{name}> before <{}> in <{}>",
                            c.name, el.name
                        ));
                    }
                    slot += 1;
                    count = 0;
                }
            }
        }
        check_order(c)?;
    }
    // Remaining required slots.
    for (i, (name, min, _)) in allowed.iter().enumerate().skip(slot) {
        let have = if i == slot { count } else { 0 };
        if have < *min {
            return Err(format!("missing <{name}> in <{}>", el.name));
        }
    }
    Ok(())
}

/// Escape text or an attribute value.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// ` name="value"` for each pair whose value is present.
pub(crate) fn attrs(pairs: &[(&str, Option<&str>)]) -> String {
    let mut o = String::new();
    for (n, v) in pairs {
        if let Some(v) = v {
            o.push_str(&format!(" {n}=\"{}\"", esc(v)));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_checked() {
        let ok = parse(
            "<?xml version=\"1.0\"?><PaymentRequest><SaleData><SaleTransactionID TransactionID=\"1\" TimeStamp=\"t\"/></SaleData><PaymentTransaction><AmountsReq Currency=\"SEK\" RequestedAmount=\"1\"/></PaymentTransaction></PaymentRequest>",
        )
        .unwrap();
        check_order(&ok).unwrap();
        let bad = parse(
            "<PaymentRequest><PaymentTransaction><AmountsReq Currency=\"SEK\" RequestedAmount=\"1\"/></PaymentTransaction><SaleData><SaleTransactionID TransactionID=\"1\" TimeStamp=\"t\"/></SaleData></PaymentRequest>",
        )
        .unwrap();
        assert!(check_order(&bad).is_err());
        let unknown = parse("<LogoutRequest><Foo/></LogoutRequest>").unwrap();
        assert!(check_order(&unknown).is_err());
        let text = parse("<A>x &amp; y &#65;</A>").unwrap();
        assert_eq!(text.text, "x & y A");
    }
}
