"""Dataclasses for the JSON documents exchanged with the device (DROP-IN.md §4, §5).

Money is in kuruş (int, x100), quantities x1000, tax percent x100 (2000 = %20), as on the wire.
Every parsed document keeps the original object in ``raw`` so fields added by newer device
software are never lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Union


def _int(d: Dict[str, Any], key: str, default: int = 0) -> int:
    v = d.get(key, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _str(d: Dict[str, Any], key: str, default: str = "") -> str:
    v = d.get(key, default)
    return default if v is None else str(v)


# ----------------------------------------------------------------------------- fiscal info


@dataclass
class Plu:
    plu_no: int
    name: str
    barcode: str
    price: int
    section_no: int
    tax_percent: int
    type: int
    unit: str
    vat_id: int
    status: int
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Plu":
        return cls(
            plu_no=_int(d, "pluNo"),
            name=_str(d, "name"),
            barcode=_str(d, "barcode"),
            price=_int(d, "price"),
            section_no=_int(d, "sectionNo"),
            tax_percent=_int(d, "taxPercent"),
            type=_int(d, "type"),
            unit=_str(d, "unit"),
            vat_id=_int(d, "vatID"),
            status=_int(d, "status"),
            raw=d,
        )


@dataclass
class Section:
    section_no: int
    name: str
    price: int
    tax_percent: int
    type: int
    limit: int
    status: int
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Section":
        return cls(
            section_no=_int(d, "sectionNo"),
            name=_str(d, "name"),
            price=_int(d, "price"),
            tax_percent=_int(d, "taxPercent"),
            type=_int(d, "type"),
            limit=_int(d, "limit"),
            status=_int(d, "status"),
            raw=d,
        )


@dataclass
class Currency:
    id: int
    name: str
    rate: int

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Currency":
        return cls(id=_int(d, "id"), name=_str(d, "name"), rate=_int(d, "rate"))


@dataclass
class FiscalInfo:
    """Answer of ``getFiscalInfo`` (device message type 2)."""

    business_mode: int
    plu_count: int
    plus: List[Plu]
    section_count: int
    sections: List[Section]
    receipt_limit: Optional[int]
    currencies: List[Currency]
    currency_date: Optional[int]
    payment_app_info: List[Any]
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "FiscalInfo":
        rl = d.get("receiptLimit")
        cd = d.get("currencyDate")
        return cls(
            business_mode=_int(d, "businessMode"),
            plu_count=_int(d, "pluCount"),
            plus=[Plu.from_dict(p) for p in d.get("plus") or [] if isinstance(p, dict)],
            section_count=_int(d, "sectionCount"),
            sections=[Section.from_dict(s) for s in d.get("sections") or [] if isinstance(s, dict)],
            receipt_limit=int(rl) if isinstance(rl, (int, float)) else None,
            currencies=[Currency.from_dict(c) for c in d.get("currencies") or [] if isinstance(c, dict)],
            currency_date=int(cd) if isinstance(cd, (int, float)) else None,
            payment_app_info=list(d.get("paymentAppInfo") or []),
            raw=d,
        )

    @classmethod
    def from_json(cls, text: str) -> "FiscalInfo":
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError("fiscal info is not a JSON object")
        return cls.from_dict(d)


# ----------------------------------------------------------------------------- sale info


@dataclass
class ReceiptPayment:
    amount: float
    type: int
    description: str
    status: int
    currency_id: int
    operator_id: int
    batch_no: int
    txn_no: int
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ReceiptPayment":
        amount = d.get("amount", 0)
        return cls(
            amount=float(amount) if isinstance(amount, (int, float)) else 0.0,
            type=_int(d, "type"),
            description=_str(d, "description"),
            status=_int(d, "status"),
            currency_id=_int(d, "currencyId"),
            operator_id=_int(d, "operatorId"),
            batch_no=_int(d, "BatchNo"),
            txn_no=_int(d, "TxnNo"),
            raw=d,
        )


@dataclass
class SaleInfo:
    """A finished (or cancelled) receipt: serialIn type 3. ``status == 0`` means success."""

    basket_id: str
    status: int
    message: str
    document_type: int
    receipt_no: int
    z_no: int
    payment_count: int
    payment_items: List[ReceiptPayment]
    uuid: str
    invoice_id: str
    instance_identifier: str
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 0

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "SaleInfo":
        return cls(
            basket_id=_str(d, "basketID"),
            status=_int(d, "status", -1),
            message=_str(d, "message"),
            document_type=_int(d, "documentType"),
            receipt_no=_int(d, "receiptNo"),
            z_no=_int(d, "zNo"),
            payment_count=_int(d, "paymentCount"),
            payment_items=[
                ReceiptPayment.from_dict(p) for p in d.get("paymentItems") or [] if isinstance(p, dict)
            ],
            uuid=_str(d, "UUID"),
            invoice_id=_str(d, "invoiceID"),
            instance_identifier=_str(d, "InstanceIdentifier"),
            raw=d,
        )

    @classmethod
    def from_json(cls, text: str) -> "SaleInfo":
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError("sale info is not a JSON object")
        return cls.from_dict(d)


# ----------------------------------------------------------------------------- outgoing documents


def _compact(obj: Any) -> Any:
    """dataclass → dict with the wire's camelCase keys, dropping ``None`` values."""
    if hasattr(obj, "__dataclass_fields__"):
        out = {}
        for f in fields(obj):
            v = getattr(obj, f.name)
            if v is None:
                continue
            out[f.metadata.get("key", f.name)] = _compact(v)
        return out
    if isinstance(obj, list):
        return [_compact(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _compact(v) for k, v in obj.items() if v is not None}
    return obj


def _k(key: str, default: Any = None) -> Any:
    return field(default=default, metadata={"key": key})


@dataclass
class Item:
    name: str
    price: int
    quantity: int = 1000
    section_no: Optional[int] = _k("sectionNo")
    tax_percent: Optional[int] = _k("taxPercent")
    type: int = 0
    plu_no: Optional[int] = _k("pluNo")
    barcode: Optional[str] = None
    unit: Optional[str] = None
    vat_id: Optional[int] = _k("vatID")


@dataclass
class PaymentItem:
    amount: int
    type: int = 1
    description: str = "Nakit"


@dataclass
class Basket:
    """A basket (``sendBasket``). Unset (``None``) fields are omitted from the JSON."""

    items: List[Item] = field(default_factory=list)
    payment_items: Optional[List[PaymentItem]] = _k("paymentItems")
    basket_id: Optional[str] = _k("basketID")
    document_type: Optional[int] = _k("documentType")
    customer_info: Optional[Dict[str, Any]] = _k("customerInfo")
    tax_free_amount: Optional[int] = _k("taxFreeAmount")
    note: Optional[str] = None
    is_void: Optional[bool] = _k("isVoid")
    extra: Dict[str, Any] = field(default_factory=dict, metadata={"key": "__extra__"})

    def to_dict(self) -> Dict[str, Any]:
        d = _compact(self)
        extra = d.pop("__extra__", {})
        d.update(extra)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


Document = Union[str, bytes, Dict[str, Any], Basket, PaymentItem]


def to_json(doc: Document) -> str:
    """Any accepted document form → JSON text (str is passed through unchanged)."""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, bytes):
        return doc.decode("utf-8")
    if isinstance(doc, Basket):
        return doc.to_json()
    return json.dumps(_compact(doc), ensure_ascii=False, separators=(",", ":"))
