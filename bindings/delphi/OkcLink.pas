{ OkcLink — Delphi / Free Pascal unit for okclink, the open Token Integration Hub replacement.

  Part A  Correct declarations of the vendor-compatible Windows exports of
          IntegrationHubCpp.dll (DROP-IN.md §1.4): the functions are cdecl (the vendor's own
          Delphi sample declares them stdcall, which only survives by accident), the
          callbacks are stdcall, strings are wide (PWideChar in, BSTR out that the caller must
          SysFreeString — the sample leaks it through a WideString cast). Loaded at run time
          with LoadIntegrationHub, so the unit itself never needs the DLL.

  Part B  TOkcHub, a class over the okc_* C API of okclink (docs/C-API.md): UTF-8 strings,
          exceptions (EOkcError) instead of magic numbers, callbacks delivered either on the
          library thread, through a thread-safe queue (WaitEvent / DispatchEvents), or on the
          main thread via TThread.Queue. Links against okclink.dll / libokclink.so.

  Compiles with Delphi (XE2+) and with FPC 3.2 in -Mdelphi mode. On Unix, put `cthreads`
  first in the program's uses clause (callbacks arrive on library threads); the unit pulls in
  `cwstring` itself. FPC programs with non-ASCII literals need the CODEPAGE UTF8 directive.

  Licence: MIT OR Apache-2.0. }

unit OkcLink;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$H+}
{$ENDIF}

interface

uses
{$IFDEF FPC}
  {$IFDEF UNIX}
  cwstring, { UTF-8 <-> UTF-16 conversions of mixed string expressions (else they go through Latin-1) }
  {$ENDIF}
  dynlibs,
{$ELSE}
  {$IFDEF MSWINDOWS} Windows, {$ENDIF}
  SyncObjs,
{$ENDIF}
  SysUtils, Classes;

{ ============================================================================ Part A: vendor }

type
  { void (__stdcall *)(int type, BSTR value) — value is owned by the DLL and freed right
    after the callback returns: copy it (WideString(Value) / string(Value)). }
  TIHSerialInCallback = procedure(AType: Integer; AValue: PWideChar); stdcall;
  { void (__stdcall *)(bool isConnected, BSTR id) — bool is passed as a 32-bit 0/1. }
  TIHDeviceStateCallback = procedure(IsConnected: LongBool; Id: PWideChar); stdcall;

  TIHCreateCommunication = function(CompanyName: PWideChar): Pointer; cdecl;
  TIHDeleteCommunication = procedure(H: Pointer); cdecl;
  TIHReconnect = procedure(H: Pointer); cdecl;
  TIHGetActiveDeviceIndex = function(H: Pointer): Integer; cdecl;
  TIHSendBasket = function(H: Pointer; Json: PWideChar): Integer; cdecl;
  TIHSendPayment = function(H: Pointer; Json: PWideChar): Integer; cdecl;
  { Returns a BSTR: never declare it as WideString (different return ABI in Delphi);
    use IHGetFiscalInfo, which copies and frees it. }
  TIHGetFiscalInfo = function(H: Pointer): PWideChar; cdecl;
  TIHSetSerialInCallback = procedure(H: Pointer; Cb: TIHSerialInCallback); cdecl;
  TIHSetDeviceStateCallback = procedure(H: Pointer; Cb: TIHDeviceStateCallback); cdecl;

  TIntegrationHubApi = record
    LibHandle: {$IFDEF FPC}TLibHandle{$ELSE}HMODULE{$ENDIF};
    createCommunication: TIHCreateCommunication;
    deleteCommunication: TIHDeleteCommunication;
    reconnect: TIHReconnect;
    getActiveDeviceIndex: TIHGetActiveDeviceIndex;
    sendBasket: TIHSendBasket;
    sendPayment: TIHSendPayment;
    getFiscalInfo: TIHGetFiscalInfo;
    setSerialInCallback: TIHSetSerialInCallback;
    setDeviceStateCallback: TIHSetDeviceStateCallback;
  end;

const
  IntegrationHubDll = 'IntegrationHubCpp.dll';

{ Loads the vendor-compatible DLL (ours or the vendor's) and resolves the 9 exports.
  False (and Api.LibHandle = 0) when the file or an export is missing. }
function LoadIntegrationHub(out Api: TIntegrationHubApi; const LibName: string = IntegrationHubDll): Boolean;
procedure UnloadIntegrationHub(var Api: TIntegrationHubApi);
{$IFDEF MSWINDOWS}
{ getFiscalInfo as a string: copies the BSTR and frees it with SysFreeString. }
function IHGetFiscalInfo(const Api: TIntegrationHubApi; H: Pointer): UnicodeString;
{$ENDIF}

{ ============================================================================ Part B: okc_* }

const
{$IFDEF MSWINDOWS}
  OkcLibName = 'okclink.dll';
{$ELSE}
  {$IFDEF FPC}
  OkcLibName = 'okclink';          { links -lokclink: libokclink.so / libokclink.dylib }
  {$ELSE}
  OkcLibName = 'libokclink.so';
  {$ENDIF}
{$ENDIF}

  { OkcStatus }
  OKC_OK = 0;
  OKC_ACCEPTED = 1;
  OKC_ERR_NULL = -1;
  OKC_ERR_BAD_HANDLE = -2;
  OKC_ERR_INVALID_UTF8 = -3;
  OKC_ERR_INVALID_JSON = -4;
  OKC_ERR_TOO_LARGE = -5;
  OKC_ERR_NO_DEVICE = -6;
  OKC_ERR_TIMEOUT = -7;
  OKC_ERR_ACK_TIMEOUT = -8;
  OKC_ERR_CLOSED = -9;
  OKC_ERR_CONFIG = -10;
  OKC_ERR_IO = -11;
  OKC_ERR_RESOURCE = -12;  { out of a system resource: okc_create could not start a thread }
  OKC_ERR_REJECTED = -13;  { a cloud back end refused the request: see okc_last_error }
  OKC_ERR_UNSUPPORTED = -14;  { the configured back end does not offer this call }
  OKC_ERR_OUTCOME_UNKNOWN = -15;  { okc_pay_*: a payment's outcome is unknown (may be charged) }
  OKC_ERR_INVALID_ARGUMENT = -16;  { okc_pay_*: bad amount, currency or reference }
  OKC_ERR_JOURNAL = -17;  { the journal file cannot be used: the message names it }
  OKC_ERR_NOT_FOUND = -18;  { no such id (okc_energy_sell: no open order for the plate) }
  OKC_ENERGY_UNLOCKED = 3;  { okc_energy_sell: not paid, the order released }
  OKC_ENERGY_PAID = 4;  { okc_energy_sell: paid, the 1000TR has not completed it yet }
  OKC_PAY_DECLINED = 2;  { okc_pay_*: answered, not approved }
  OKC_ERR_PANIC = -98;
  OKC_ERR_INTERNAL = -99;

  { serialIn types (DROP-IN.md §5.1) }
  OKC_IN_BASKET_REPLY = 1;
  OKC_IN_SALE_INFO = 3;
  OKC_IN_NOT_CONNECTED = 9;
  OKC_IN_PAYMENT_REPLY = 10;

type
  POkcHub = Pointer;
  { C bool is one byte }
  TOkcSerialInFn = procedure(UserData: Pointer; AType: Integer; ValueUtf8: PAnsiChar); cdecl;
  TOkcDeviceStateFn = procedure(UserData: Pointer; Connected: ByteBool; SerialUtf8: PAnsiChar); cdecl;
  POkcPay = Pointer;
  POkcEnergy = Pointer;
  { Terminal event callback (library event thread): for a signature question (event JSON
    "event":"signature") it returns 1 accept / 0 refuse / anything else = the "signature"
    policy; the return value of other events is ignored. }
  TOkcPayEventFn = function(UserData: Pointer; EventJson: PAnsiChar): Integer; cdecl;

function okc_version: PAnsiChar; cdecl; external OkcLibName;
function okc_last_error: PAnsiChar; cdecl; external OkcLibName;
procedure okc_string_free(S: PAnsiChar); cdecl; external OkcLibName;
function okc_create(ConfigJson: PAnsiChar; out Hub: POkcHub): Integer; cdecl; external OkcLibName;
function okc_destroy(Hub: POkcHub): Integer; cdecl; external OkcLibName;
function okc_set_serial_in_callback(Hub: POkcHub; Cb: TOkcSerialInFn; UserData: Pointer): Integer; cdecl; external OkcLibName;
function okc_set_device_state_callback(Hub: POkcHub; Cb: TOkcDeviceStateFn; UserData: Pointer): Integer; cdecl; external OkcLibName;
function okc_send_basket(Hub: POkcHub; Json: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_send_payment(Hub: POkcHub; Json: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_get_fiscal_info(Hub: POkcHub; TimeoutMs: Integer; out Json: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_last_fiscal_info(Hub: POkcHub; out Json: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_active_device_index(Hub: POkcHub): Integer; cdecl; external OkcLibName;
function okc_reconnect(Hub: POkcHub): Integer; cdecl; external OkcLibName;
function okc_disconnect(Hub: POkcHub): Integer; cdecl; external OkcLibName;
function okc_confirm(Hub: POkcHub; BasketId: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_wait_connected(Hub: POkcHub; TimeoutMs: Integer; out Serial: PAnsiChar): Integer; cdecl; external OkcLibName;

{ Card terminals (docs/PAYMENTS.md): OKC_OK approved, OKC_PAY_DECLINED declined (both with the
  result JSON, free it with okc_string_free), < 0 error (ResultJson nil). }
function okc_pay_open(ConfigJson: PAnsiChar; Cb: TOkcPayEventFn; UserData: Pointer; out T: POkcPay): Integer; cdecl; external OkcLibName;
function okc_pay_close(T: POkcPay): Integer; cdecl; external OkcLibName;
function okc_pay_payment(T: POkcPay; Amount: Int64; Currency, Reference: PAnsiChar; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_pay_refund(T: POkcPay; Amount: Int64; Currency, Reference: PAnsiChar; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_pay_reverse_last(T: POkcPay; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;
{ Reference nil: the terminal's last transaction }
function okc_pay_status(T: POkcPay; Reference: PAnsiChar; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_pay_confirm(T: POkcPay; Reference: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_pay_pending(T: POkcPay; out PendingJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_pay_abort(T: POkcPay): Integer; cdecl; external OkcLibName;
function okc_pay_login(T: POkcPay): Integer; cdecl; external OkcLibName;
function okc_pay_logout(T: POkcPay; MaintenanceAllowed: ByteBool): Integer; cdecl; external OkcLibName;
function okc_pay_batch_close(T: POkcPay; out Text: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_pay_listener_address(T: POkcPay; out Text: PAnsiChar): Integer; cdecl; external OkcLibName;

{ Token X Energy fuel orders (docs/ENERGY.md): the result JSON (free it with okc_string_free),
  nil on errors; optional strings may be nil. }
function okc_energy_open(ConfigJson: PAnsiChar; out H: POkcEnergy): Integer; cdecl; external OkcLibName;
function okc_energy_close(H: POkcEnergy): Integer; cdecl; external OkcLibName;
function okc_energy_list(H: POkcEnergy; FilterJson: PAnsiChar; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_energy_get(H: POkcEnergy; OrderId: PAnsiChar; out OrderJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_energy_lock(H: POkcEnergy; OrderId, PaymentId: PAnsiChar; out LockJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_energy_unlock(H: POkcEnergy; OrderId, Reason: PAnsiChar; out OrderJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_energy_pay(H: POkcEnergy; OrderId, PaymentId, CardResultJson: PAnsiChar; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_energy_sell(H: POkcEnergy; Plate, OrderId: PAnsiChar; Terminal: POkcPay; PaymentId: PAnsiChar; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;
function okc_energy_recover(H: POkcEnergy; Terminal: POkcPay; out ResultJson: PAnsiChar): Integer; cdecl; external OkcLibName;

type
  { Text as the wrapper hands it out: UTF-8 in FPC, UnicodeString in Delphi. }
  TOkcString = {$IFDEF FPC}UTF8String{$ELSE}string{$ENDIF};

  EOkcError = class(Exception)
  private
    FStatus: Integer;
    FCloudCode: Integer;
  public
    constructor CreateStatus(AStatus: Integer; const AMessage: string);
    property Status: Integer read FStatus;
    { TOkcOrders: a cloud refusal's own status code (e.g. 1006 unknown order, 1018 locked by
      another terminal, 1105 not open), read from the message's "status N"; 0 when none. }
    property CloudCode: Integer read FCloudCode write FCloudCode;
  end;

  TOkcEventKind = (okSerialIn, okDeviceState);

  TOkcEvent = record
    Kind: TOkcEventKind;
    DataType: Integer;      { serialIn type (okSerialIn) }
    Value: TOkcString;      { serialIn value, or the device serial (okDeviceState) }
    Connected: Boolean;     { okDeviceState }
  end;

  TOkcSerialInEvent = procedure(Sender: TObject; AType: Integer; const AValue: TOkcString) of object;
  TOkcDeviceStateEvent = procedure(Sender: TObject; AConnected: Boolean; const ASerial: TOkcString) of object;

  { odQueue: events wait in a queue; read them with WaitEvent, or call DispatchEvents to fire
      OnSerialIn / OnDeviceState on your thread (default; safest).
    odDirect: handlers run on the library's dispatcher thread (no VCL/LCL access there!).
    odMainThread: queued, and DispatchEvents is scheduled with TThread.Queue (GUI apps; console
      programs must call CheckSynchronize). }
  TOkcDelivery = (odQueue, odDirect, odMainThread);

  TOkcHub = class
  private
    FHandle: POkcHub;
    FDelivery: TOkcDelivery;
    FOnSerialIn: TOkcSerialInEvent;
    FOnDeviceState: TOkcDeviceStateEvent;
    FOnHandlerError: TNotifyEvent;
    FQueue: array of TOkcEvent;
    FCount: Integer;
    FLastHandlerError: string;
  {$IFDEF FPC}
    FLock: TRTLCriticalSection;
    FSignal: PRTLEvent;
  {$ELSE}
    FLock: TCriticalSection;
    FSignal: TEvent;
  {$ENDIF}
    procedure Lock;
    procedure Unlock;
    procedure Push(const Ev: TOkcEvent);
    function Pop(out Ev: TOkcEvent): Boolean;
    procedure Deliver(const Ev: TOkcEvent);
    procedure Fire(const Ev: TOkcEvent);
    function Check(Status: Integer): Integer;
    function GetHandle: POkcHub;
  public
    // CompanyName goes to the device (vendor createCommunication). ConfigJson: further keys
    // of the C API config, e.g. '{"transports":["tcp://127.0.0.1:7700"],"log_dir":"./logs"}';
    // also "max_payload_bytes" (largest basket/payment sent) and "max_receive_bytes" (largest
    // device message accepted, 16384 to 67108864) — every key: docs/C-API.md.
    // The OKC_TRANSPORT environment variable overrides "transports". Never blocks.
    constructor Create(const CompanyName: TOkcString; const ConfigJson: TOkcString = '';
      ADelivery: TOkcDelivery = odQueue);
    { Bounded (<= 2 s); no handler runs after it returns. }
    destructor Destroy; override;

    class function Version: TOkcString;
    class function LastError: TOkcString;

    { Raise EOkcError unless the device accepted the document (1). }
    procedure SendBasket(const Json: TOkcString);
    procedure SendPayment(const Json: TOkcString);
    { Raw OkcStatus: OKC_ACCEPTED or a negative error (OKC_ERR_NO_DEVICE, ...). }
    function TrySendBasket(const Json: TOkcString): Integer;
    function TrySendPayment(const Json: TOkcString): Integer;
    { Ask the device and wait (TimeoutMs < 0: configured, 5 s). Raises EOkcError. }
    function GetFiscalInfo(TimeoutMs: Integer = -1): TOkcString;
    { The last fiscal info received, without asking the device ('' if none). }
    function LastFiscalInfo: TOkcString;
    { -1 none, 0 X30TR, 1 300TR }
    function ActiveDeviceIndex: Integer;
    function WaitConnected(TimeoutMs: Integer; out Serial: TOkcString): Boolean;
    procedure Reconnect;
    { vendor deleteCommunication: the device goes, the object stays usable }
    procedure Disconnect;
    { Journal with ConfigJson "confirm":"explicit": the application has the sale info of
      BasketId, it is not delivered again after a restart (with the default "callback" it is
      confirmed when the handler returns). Raises EOkcError: Status OKC_ERR_NOT_FOUND (no sale
      info recorded for it), OKC_ERR_UNSUPPORTED (journal off). Confirming twice is fine. }
    procedure Confirm(const BasketId: TOkcString);

    { odQueue / odMainThread: take the next event (False after TimeoutMs). }
    function WaitEvent(TimeoutMs: Integer; out Ev: TOkcEvent): Boolean;
    { Fires the handlers for every queued event on the calling thread. }
    procedure DispatchEvents;

    property Handle: POkcHub read FHandle;
    property Delivery: TOkcDelivery read FDelivery write FDelivery;
    property OnSerialIn: TOkcSerialInEvent read FOnSerialIn write FOnSerialIn;
    property OnDeviceState: TOkcDeviceStateEvent read FOnDeviceState write FOnDeviceState;
    { Called (on the same thread) after a handler raised; the exception never reaches the library. }
    property OnHandlerError: TNotifyEvent read FOnHandlerError write FOnHandlerError;
    property LastHandlerError: string read FLastHandlerError;
  end;

  { ---------------------------------------------------------------- card terminals }

  { Errors of TOkcTerminal, by status (EOkcError for the others). }
  EOkcNoDevice = class(EOkcError);         { OKC_ERR_NO_DEVICE: the terminal cannot be reached }
  EOkcConfig = class(EOkcError);           { OKC_ERR_CONFIG }
  EOkcRejected = class(EOkcError);         { OKC_ERR_REJECTED: the terminal refused the request }
  EOkcUnsupported = class(EOkcError);      { OKC_ERR_UNSUPPORTED }
  EOkcOutcomeUnknown = class(EOkcError);   { OKC_ERR_OUTCOME_UNKNOWN: may be charged; ask Status later }
  EOkcInvalidArgument = class(EOkcError);  { OKC_ERR_INVALID_ARGUMENT: amount, currency or reference }
  EOkcClosed = class(EOkcError);           { OKC_ERR_CLOSED: the terminal object is closed }
  EOkcJournal = class(EOkcError);          { OKC_ERR_JOURNAL: the journal file cannot be used }
  EOkcNotFound = class(EOkcError);         { OKC_ERR_NOT_FOUND: e.g. no open order for the plate }

  TOkcStringArray = array of TOkcString;

  { The normalised result of a payment, refund, reversal or status query (docs/PAYMENTS.md). }
  TOkcPayResult = record
    Status: Integer;            { OKC_OK approved, OKC_PAY_DECLINED not approved }
    Approved: Boolean;
    Kind: TOkcString;           { payment, refund, reversal }
    Reason: TOkcString;         { why not approved; '' when approved }
    Amount: Int64;              { authorised, in minor units (0 when not approved) }
    Currency: TOkcString;
    TransactionId: TOkcString;
    Timestamp: TOkcString;
    MaskedPan: TOkcString;
    Brand: TOkcString;
    ApprovalCode: TOkcString;
    Reference: TOkcString;      { the caller's reference }
    SignatureRequired: Boolean;
    MerchantReceipt: TOkcStringArray;  { printable lines }
    CustomerReceipt: TOkcStringArray;
    Json: TOkcString;           { the whole result JSON (also entryMode, raw) }
  end;

  TOkcPayEvent = record
    Kind: TOkcString;           { display, print, signature, notification, address }
    Lines: TOkcStringArray;     { display / print lines; signature: the question }
    Json: TOkcString;           { the whole event JSON }
  end;

  { The answer to a signature question; saPolicy = the "signature" setting decides. }
  TOkcSignatureAnswer = (saPolicy, saAccept, saRefuse);

  { Runs on the library's event thread (no VCL/LCL access there; the thread calling Payment
    is blocked meanwhile). Set Answer for Kind = 'signature'. }
  TOkcTerminalEvent = procedure(Sender: TObject; const Event: TOkcPayEvent;
    var Answer: TOkcSignatureAnswer) of object;

  { One card terminal (okc_pay_*). Methods block until the terminal answers; a declined
    payment is a result (Approved = False, Status = OKC_PAY_DECLINED), errors raise EOkcError
    subclasses with the library's text. Never talks to the terminal when created. }
  TOkcTerminal = class
  private
    FHandle: POkcPay;
    FOnEvent: TOkcTerminalEvent;
    FLastHandlerError: string;
    procedure Open(const ConfigJson: UTF8String);
    function GetHandle: POkcPay;
    function Check(Status: Integer): Integer;
    function TakeResult(Status: Integer; P: PAnsiChar): TOkcPayResult;
    function GetListenerAddress: TOkcString;
  public
    { Terminal: 'nexo+http://HOST:PORT[?poiid=...&saleid=...]' ('' = $OKC_TERMINAL).
      Listener: 'IP:PORT' of the POS listener (full integration: display texts, print
      requests, the signature question); '' = client-only. ConfirmSignature: the answer when
      OnEvent gives none. }
    constructor Create(const Terminal: TOkcString; const Listener: TOkcString = '';
      AOnEvent: TOkcTerminalEvent = nil; ConfirmSignature: Boolean = True;
      const ApplicationName: TOkcString = 'okclink-delphi');
    { The C API's config JSON as is (docs/C-API.md: terminal, listener, signature,
      application_name). }
    constructor CreateFromConfig(const ConfigJson: TOkcString; AOnEvent: TOkcTerminalEvent = nil);
    { Close + free. }
    destructor Destroy; override;
    { No event handler starts after it returns (a running one is waited for, up to 5 s);
      later calls raise EOkcClosed. Idempotent. }
    procedure Close;

    { Amount in minor units (cents, öre), Currency ISO 4217 ('SEK'), Reference 1-32 of
      A-Za-z0-9-_. = the idempotency key (the same reference again returns the recorded
      result, never a second charge). }
    function Payment(Amount: Int64; const Currency, Reference: TOkcString): TOkcPayResult;
    function Refund(Amount: Int64; const Currency, Reference: TOkcString): TOkcPayResult;
    { Only the last transaction, only if approved. }
    function ReverseLast: TOkcPayResult;
    { The result of the payment with this reference ('' = the terminal's last transaction). }
    function Status(const Reference: TOkcString = ''): TOkcPayResult;
    { From another thread while Payment runs; Payment then returns the aborted result. }
    procedure Abort;
    procedure Login;
    procedure Logout(MaintenanceAllowed: Boolean = True);
    { The terminal's settlement report; Swedbank Pay PAX terminals: EOkcUnsupported. }
    function BatchClose: TOkcString;
    { The application stored the result of Reference: Pending no longer lists it (also not
      after a restart). Idempotent; EOkcInvalidArgument when the journal has no result for
      it; nothing without a journal ("journal": "off"). }
    procedure Confirm(const Reference: TOkcString);
    { What the application has not confirmed, okc_pay_pending's JSON array (oldest first:
      reference, kind, state answered / in_doubt / not_sent, reason, result); '[]' without a
      journal. }
    function Pending: TOkcString;

    { IP:PORT of the POS listener; '' in client-only mode. }
    property ListenerAddress: TOkcString read GetListenerAddress;
    property Handle: POkcPay read FHandle;
    { Set it before the first call (it is read on the event thread). }
    property OnEvent: TOkcTerminalEvent read FOnEvent write FOnEvent;
    { ClassName: Message of the last exception raised by OnEvent (caught; the signature
      question then gets the policy's answer). }
    property LastHandlerError: string read FLastHandlerError;
  end;

  { ---------------------------------------------------------------- fuel orders }

  { The result of TOkcOrders.Sell (okc_energy_sell's result JSON). }
  TOkcOrderSale = record
    Status: Integer;            { OKC_OK completed, OKC_ENERGY_PAID, OKC_ENERGY_UNLOCKED }
    State: TOkcString;          { completed, paid, unlocked }
    Reason: TOkcString;         { why not completed / not paid; '' when completed }
    OrderId: TOkcString;
    Plate: TOkcString;
    Amount: Int64;              { kuruş }
    OrderState: TOkcString;     { the order's cloud state afterwards (COMPLETED, OPEN, ...) }
    PaymentId: TOkcString;      { the idempotency key }
    Card: TOkcString;           { what became of the card payment (approved, not_approved, ...) }
    Json: TOkcString;           { the whole result JSON (also receipt, order, payment) }
  end;

  { The fuel orders of one virtual market terminal (okc_energy_*). Never talks to the cloud
    when created; methods block until it answers. Calls return the C API's JSON as is (Sell:
    a TOkcOrderSale; completed, paid and unlocked are results); errors raise EOkcError
    subclasses by status, a cloud refusal (EOkcRejected) with the cloud's code in CloudCode. }
  TOkcOrders = class
  private
    FHandle: POkcEnergy;
    function GetHandle: POkcEnergy;
    function TakeText(Status: Integer; P: PAnsiChar): TOkcString;
  public
    { Url: http(s)://HOST/BASE of the order API, TerminalId: the virtual market terminal,
      ClientId / ClientSecret: the TokenX credentials, Journal: a path or 'off'. '' = the
      environment ($OKC_ENERGY_URL, $OKC_ENERGY_TERMINAL, $OKC_TOKENX_CLIENT_ID / _SECRET,
      $OKC_JOURNAL) or the default. }
    constructor Create(const Url: TOkcString = ''; const TerminalId: TOkcString = '';
      const ClientId: TOkcString = ''; const ClientSecret: TOkcString = '';
      const Journal: TOkcString = '');
    { okc_energy_open's config JSON as is (docs/ENERGY.md). }
    constructor CreateFromConfig(const ConfigJson: TOkcString);
    { Close + free. }
    destructor Destroy; override;
    { A call running on another thread finishes first; later calls raise EOkcClosed.
      Idempotent. }
    procedure Close;

    { The order summaries (JSON array). Status e.g. 'OPEN' or 'OPEN,LOCKED'; Plate, Pump
      (0 = any): only those; Mine: only this terminal's locks. }
    function List(const Status: TOkcString = ''; const Plate: TOkcString = '';
      Pump: Integer = 0; Mine: Boolean = False): TOkcString;
    { One order (JSON). }
    function Get(const OrderId: TOkcString): TOkcString;
    { The lock: orderId, lockedBy, lockToken, lockExpiresAt, remainingMs, amount, plate. PaymentId:
      the sale's payment id (Recover then resolves a crash). EOkcRejected with CloudCode 1018
      (locked by another terminal) or 1105 (not open). }
    function Lock(const OrderId: TOkcString; const PaymentId: TOkcString = ''): TOkcString;
    { Reason PAYMENT_FAILED, CANCELLED ('') or TIMEOUT; the order afterwards. }
    function Unlock(const OrderId: TOkcString; const Reason: TOkcString = ''): TOkcString;
    { Idempotent by PaymentId: paymentId, replayed, order. CardResultJson: an approved
      TOkcPayResult.Json; '' = cash. }
    function Pay(const OrderId, PaymentId: TOkcString; const CardResultJson: TOkcString = ''): TOkcString;
    { The forecourt flow: the order of Plate (or OrderId; exactly one) -> lock -> card payment
      on Terminal -> pay with the slip -> wait for the pump's 1000TR; or unlock with the
      reason. PaymentId '' = a fresh one. EOkcNotFound: no open order for the plate;
      EOkcOutcomeUnknown: in doubt (Recover resolves it). }
    function Sell(Terminal: TOkcTerminal; const Plate: TOkcString;
      const OrderId: TOkcString = ''; const PaymentId: TOkcString = ''): TOkcOrderSale;
    { Resolves this terminal's locks a crash left: JSON array of orderId, paymentId, action,
      detail. Terminal nil: card sales stay pending. }
    function Recover(Terminal: TOkcTerminal = nil): TOkcString;

    property Handle: POkcEnergy read FHandle;
  end;

function OkcStatusName(Status: Integer): string;
{ The EOkcError (subclass) for a negative status. }
function OkcErrorFor(Status: Integer; const Msg: string): EOkcError;

implementation

{$IFDEF MSWINDOWS}
procedure SysFreeString(Bstr: PWideChar); stdcall; external 'oleaut32.dll' name 'SysFreeString';
{$ENDIF}

{ ---------------------------------------------------------------- Part A }

function LoadIntegrationHub(out Api: TIntegrationHubApi; const LibName: string): Boolean;

  function Sym(const Name: string): Pointer;
  begin
  {$IFDEF FPC}
    Result := GetProcedureAddress(Api.LibHandle, Name);
  {$ELSE}
    Result := GetProcAddress(Api.LibHandle, PChar(Name));
  {$ENDIF}
  end;

begin
  FillChar(Api, SizeOf(Api), 0);
{$IFDEF FPC}
  Api.LibHandle := LoadLibrary(LibName);
  if Api.LibHandle = NilHandle then
    Exit(False);
{$ELSE}
  Api.LibHandle := LoadLibrary(PChar(LibName));
  if Api.LibHandle = 0 then
    Exit(False);
{$ENDIF}
  @Api.createCommunication := Sym('createCommunication');
  @Api.deleteCommunication := Sym('deleteCommunication');
  @Api.reconnect := Sym('reconnect');
  @Api.getActiveDeviceIndex := Sym('getActiveDeviceIndex');
  @Api.sendBasket := Sym('sendBasket');
  @Api.sendPayment := Sym('sendPayment');
  @Api.getFiscalInfo := Sym('getFiscalInfo');
  @Api.setSerialInCallback := Sym('setSerialInCallback');
  @Api.setDeviceStateCallback := Sym('setDeviceStateCallback');
  Result := Assigned(Api.createCommunication) and Assigned(Api.deleteCommunication) and
    Assigned(Api.reconnect) and Assigned(Api.getActiveDeviceIndex) and Assigned(Api.sendBasket) and
    Assigned(Api.sendPayment) and Assigned(Api.getFiscalInfo) and
    Assigned(Api.setSerialInCallback) and Assigned(Api.setDeviceStateCallback);
  if not Result then
    UnloadIntegrationHub(Api);
end;

procedure UnloadIntegrationHub(var Api: TIntegrationHubApi);
begin
  if Api.LibHandle <> 0 then
    FreeLibrary(Api.LibHandle);
  FillChar(Api, SizeOf(Api), 0);
end;

{$IFDEF MSWINDOWS}
function IHGetFiscalInfo(const Api: TIntegrationHubApi; H: Pointer): UnicodeString;
var
  B: PWideChar;
begin
  Result := '';
  B := Api.getFiscalInfo(H);
  { the vendor DLL returned (BSTR)-1 without a device; okclink returns an empty BSTR }
  if (B = nil) or (NativeUInt(B) = NativeUInt(-1)) then
    Exit;
  Result := B;
  SysFreeString(B);
end;
{$ENDIF}

{ ---------------------------------------------------------------- helpers }

function FromUtf8(P: PAnsiChar): TOkcString;
{$IFDEF FPC}
var
  N: SizeInt;
begin
  Result := '';
  if P = nil then
    Exit;
  N := StrLen(P);
  SetLength(Result, N);
  if N > 0 then
    Move(P^, Result[1], N);
end;
{$ELSE}
begin
  if P = nil then
    Result := ''
  else
    Result := UTF8ToString(P);
end;
{$ENDIF}

function ToUtf8(const S: TOkcString): UTF8String;
begin
{$IFDEF FPC}
  Result := S;
{$ELSE}
  Result := UTF8Encode(S);
{$ENDIF}
end;

function TakeUtf8(P: PAnsiChar): TOkcString;
begin
  Result := FromUtf8(P);
  if P <> nil then
    okc_string_free(P);
end;

function JsonQuote(const S: UTF8String): UTF8String;
var
  I: Integer;
  C: AnsiChar;
begin
  Result := '"';
  for I := 1 to Length(S) do
  begin
    C := S[I];
    case C of
      '"': Result := Result + '\"';
      '\': Result := Result + '\\';
      #0..#31: Result := Result + UTF8String(Format('\u%.4x', [Ord(C)]));
    else
      Result := Result + C;
    end;
  end;
  Result := Result + '"';
end;

function BuildConfig(const CompanyName, Extra: UTF8String): UTF8String;
var
  T, Inner: UTF8String;
begin
  T := UTF8String(Trim(string(Extra)));
  if T = '' then
    Exit('{"company_name":' + JsonQuote(CompanyName) + '}');
  if (Length(T) < 2) or (T[1] <> '{') or (T[Length(T)] <> '}') or (Pos('"company_name"', string(T)) > 0) then
    Exit(T);
  Inner := UTF8String(Trim(Copy(string(T), 2, Length(T) - 2)));
  Result := '{"company_name":' + JsonQuote(CompanyName);
  if Inner <> '' then
    Result := Result + ',' + Inner;
  Result := Result + '}';
end;

function OkcStatusName(Status: Integer): string;
begin
  case Status of
    OKC_OK: Result := 'OKC_OK';
    OKC_ACCEPTED: Result := 'OKC_ACCEPTED';
    OKC_ERR_NULL: Result := 'OKC_ERR_NULL';
    OKC_ERR_BAD_HANDLE: Result := 'OKC_ERR_BAD_HANDLE';
    OKC_ERR_INVALID_UTF8: Result := 'OKC_ERR_INVALID_UTF8';
    OKC_ERR_INVALID_JSON: Result := 'OKC_ERR_INVALID_JSON';
    OKC_ERR_TOO_LARGE: Result := 'OKC_ERR_TOO_LARGE';
    OKC_ERR_NO_DEVICE: Result := 'OKC_ERR_NO_DEVICE';
    OKC_ERR_TIMEOUT: Result := 'OKC_ERR_TIMEOUT';
    OKC_ERR_ACK_TIMEOUT: Result := 'OKC_ERR_ACK_TIMEOUT';
    OKC_ERR_CLOSED: Result := 'OKC_ERR_CLOSED';
    OKC_ERR_CONFIG: Result := 'OKC_ERR_CONFIG';
    OKC_ERR_IO: Result := 'OKC_ERR_IO';
    OKC_ERR_RESOURCE: Result := 'OKC_ERR_RESOURCE';
    OKC_ERR_REJECTED: Result := 'OKC_ERR_REJECTED';
    OKC_ERR_UNSUPPORTED: Result := 'OKC_ERR_UNSUPPORTED';
    OKC_ERR_OUTCOME_UNKNOWN: Result := 'OKC_ERR_OUTCOME_UNKNOWN';
    OKC_ERR_INVALID_ARGUMENT: Result := 'OKC_ERR_INVALID_ARGUMENT';
    OKC_ERR_JOURNAL: Result := 'OKC_ERR_JOURNAL';
    OKC_ERR_NOT_FOUND: Result := 'OKC_ERR_NOT_FOUND';
    OKC_ENERGY_UNLOCKED: Result := 'OKC_ENERGY_UNLOCKED';
    OKC_ENERGY_PAID: Result := 'OKC_ENERGY_PAID';
    OKC_PAY_DECLINED: Result := 'OKC_PAY_DECLINED';
    OKC_ERR_PANIC: Result := 'OKC_ERR_PANIC';
    OKC_ERR_INTERNAL: Result := 'OKC_ERR_INTERNAL';
  else
    Result := 'OKC status ' + IntToStr(Status);
  end;
end;

{ Library callbacks (dispatcher thread). Nothing may propagate into native code. }

procedure SerialInThunk(UserData: Pointer; AType: Integer; ValueUtf8: PAnsiChar); cdecl;
var
  Ev: TOkcEvent;
begin
  try
    Ev.Kind := okSerialIn;
    Ev.DataType := AType;
    Ev.Value := FromUtf8(ValueUtf8);
    Ev.Connected := False;
    TOkcHub(UserData).Deliver(Ev);
  except
    { swallowed: an exception must never unwind through the library }
  end;
end;

procedure DeviceStateThunk(UserData: Pointer; Connected: ByteBool; SerialUtf8: PAnsiChar); cdecl;
var
  Ev: TOkcEvent;
begin
  try
    Ev.Kind := okDeviceState;
    Ev.DataType := 0;
    Ev.Value := FromUtf8(SerialUtf8);
    Ev.Connected := Boolean(Connected);
    TOkcHub(UserData).Deliver(Ev);
  except
  end;
end;

{ ---------------------------------------------------------------- EOkcError }

constructor EOkcError.CreateStatus(AStatus: Integer; const AMessage: string);
begin
  if AMessage <> '' then
    inherited Create(AMessage + ' (' + OkcStatusName(AStatus) + ')')
  else
    inherited Create(OkcStatusName(AStatus));
  FStatus := AStatus;
end;

{ ---------------------------------------------------------------- TOkcHub }

constructor TOkcHub.Create(const CompanyName: TOkcString; const ConfigJson: TOkcString;
  ADelivery: TOkcDelivery);
var
  Cfg: UTF8String;
  St: Integer;
  H: POkcHub;
begin
  inherited Create;
  FDelivery := ADelivery;
{$IFDEF FPC}
  InitCriticalSection(FLock);
  FSignal := RTLEventCreate;
{$ELSE}
  FLock := TCriticalSection.Create;
  FSignal := TEvent.Create(nil, False, False, '');
{$ENDIF}
  Cfg := BuildConfig(ToUtf8(CompanyName), ToUtf8(ConfigJson));
  H := nil;
  St := okc_create(PAnsiChar(Cfg), H);
  if (St <> OKC_OK) or (H = nil) then
    raise EOkcError.CreateStatus(St, string(LastError));
  FHandle := H;
  Check(okc_set_serial_in_callback(FHandle, SerialInThunk, Self));
  Check(okc_set_device_state_callback(FHandle, DeviceStateThunk, Self));
end;

destructor TOkcHub.Destroy;
var
  H: POkcHub;
begin
  H := FHandle;
  FHandle := nil;
  if H <> nil then
    okc_destroy(H);   { no callback runs after this returns }
  TThread.RemoveQueuedEvents(nil, DispatchEvents);
{$IFDEF FPC}
  if FSignal <> nil then
    RTLEventDestroy(FSignal);
  DoneCriticalSection(FLock);
{$ELSE}
  FSignal.Free;
  FLock.Free;
{$ENDIF}
  inherited Destroy;
end;

class function TOkcHub.Version: TOkcString;
begin
  Result := FromUtf8(okc_version);
end;

class function TOkcHub.LastError: TOkcString;
begin
  Result := FromUtf8(okc_last_error);
end;

procedure TOkcHub.Lock;
begin
{$IFDEF FPC}
  EnterCriticalSection(FLock);
{$ELSE}
  FLock.Enter;
{$ENDIF}
end;

procedure TOkcHub.Unlock;
begin
{$IFDEF FPC}
  LeaveCriticalSection(FLock);
{$ELSE}
  FLock.Leave;
{$ENDIF}
end;

procedure TOkcHub.Push(const Ev: TOkcEvent);
begin
  Lock;
  try
    if FCount = Length(FQueue) then
      SetLength(FQueue, 16 + 2 * Length(FQueue));
    FQueue[FCount] := Ev;
    Inc(FCount);
  finally
    Unlock;
  end;
{$IFDEF FPC}
  RTLEventSetEvent(FSignal);
{$ELSE}
  FSignal.SetEvent;
{$ENDIF}
end;

function TOkcHub.Pop(out Ev: TOkcEvent): Boolean;
var
  I: Integer;
begin
  Lock;
  try
    Result := FCount > 0;
    if Result then
    begin
      Ev := FQueue[0];
      for I := 1 to FCount - 1 do
        FQueue[I - 1] := FQueue[I];
      Dec(FCount);
      FQueue[FCount].Value := '';
    end;
  finally
    Unlock;
  end;
end;

procedure TOkcHub.Deliver(const Ev: TOkcEvent);
begin
  case FDelivery of
    odDirect:
      Fire(Ev);
    odQueue:
      Push(Ev);
    odMainThread:
      begin
        Push(Ev);
        TThread.Queue(nil, DispatchEvents);
      end;
  end;
end;

procedure TOkcHub.Fire(const Ev: TOkcEvent);
begin
  try
    if Ev.Kind = okSerialIn then
    begin
      if Assigned(FOnSerialIn) then
        FOnSerialIn(Self, Ev.DataType, Ev.Value);
    end
    else if Assigned(FOnDeviceState) then
      FOnDeviceState(Self, Ev.Connected, Ev.Value);
  except
    on E: Exception do
    begin
      FLastHandlerError := E.ClassName + ': ' + E.Message;
      try
        if Assigned(FOnHandlerError) then
          FOnHandlerError(Self);
      except
      end;
    end;
  end;
end;

function TOkcHub.WaitEvent(TimeoutMs: Integer; out Ev: TOkcEvent): Boolean;
var
  Deadline: TDateTime;
  Left: Integer;
begin
  Deadline := Now + TimeoutMs / (24.0 * 3600 * 1000);
  repeat
  {$IFDEF FPC}
    RTLEventResetEvent(FSignal);
  {$ELSE}
    FSignal.ResetEvent;
  {$ENDIF}
    if Pop(Ev) then
      Exit(True);
    Left := Round((Deadline - Now) * 24.0 * 3600 * 1000);
    if Left <= 0 then
      Exit(False);
  {$IFDEF FPC}
    RTLEventWaitFor(FSignal, Left);
  {$ELSE}
    FSignal.WaitFor(Cardinal(Left));
  {$ENDIF}
  until False;
end;

procedure TOkcHub.DispatchEvents;
var
  Ev: TOkcEvent;
begin
  while Pop(Ev) do
    Fire(Ev);
end;

function TOkcHub.GetHandle: POkcHub;
begin
  if FHandle = nil then
    raise EOkcError.CreateStatus(OKC_ERR_CLOSED, 'the hub is destroyed');
  Result := FHandle;
end;

function TOkcHub.Check(Status: Integer): Integer;
begin
  if Status < 0 then
    raise EOkcError.CreateStatus(Status, string(LastError));
  Result := Status;
end;

function TOkcHub.TrySendBasket(const Json: TOkcString): Integer;
var
  U: UTF8String;
begin
  U := ToUtf8(Json);
  Result := okc_send_basket(GetHandle, PAnsiChar(U));
end;

function TOkcHub.TrySendPayment(const Json: TOkcString): Integer;
var
  U: UTF8String;
begin
  U := ToUtf8(Json);
  Result := okc_send_payment(GetHandle, PAnsiChar(U));
end;

procedure TOkcHub.SendBasket(const Json: TOkcString);
begin
  Check(TrySendBasket(Json));
end;

procedure TOkcHub.SendPayment(const Json: TOkcString);
begin
  Check(TrySendPayment(Json));
end;

function TOkcHub.GetFiscalInfo(TimeoutMs: Integer): TOkcString;
var
  P: PAnsiChar;
  St: Integer;
begin
  P := nil;
  St := okc_get_fiscal_info(GetHandle, TimeoutMs, P);
  Result := TakeUtf8(P);
  Check(St);
end;

function TOkcHub.LastFiscalInfo: TOkcString;
var
  P: PAnsiChar;
  St: Integer;
begin
  P := nil;
  St := okc_last_fiscal_info(GetHandle, P);
  Result := TakeUtf8(P);
  Check(St);
end;

function TOkcHub.ActiveDeviceIndex: Integer;
begin
  if FHandle = nil then
    Exit(-1);
  Result := okc_active_device_index(FHandle);
end;

function TOkcHub.WaitConnected(TimeoutMs: Integer; out Serial: TOkcString): Boolean;
var
  P: PAnsiChar;
  St: Integer;
begin
  P := nil;
  St := okc_wait_connected(GetHandle, TimeoutMs, P);
  Serial := TakeUtf8(P);
  Result := St = OKC_OK;
end;

procedure TOkcHub.Reconnect;
begin
  Check(okc_reconnect(GetHandle));
end;

procedure TOkcHub.Disconnect;
begin
  Check(okc_disconnect(GetHandle));
end;

procedure TOkcHub.Confirm(const BasketId: TOkcString);
var
  U: UTF8String;
begin
  U := ToUtf8(BasketId);
  Check(okc_confirm(GetHandle, PAnsiChar(U)));
end;

{ ---------------------------------------------------------------- JSON fields }

{ The results and events are compact JSON written by the library, each key at one level only,
  so a key is found by its quoted name followed by ':' (a quote inside a string value is
  always escaped, so the pattern cannot match inside one). Returns the index after the ':'
  (0 when absent). }
function JsonFind(const J, Key: UTF8String): Integer;
var
  I, K, N: Integer;
begin
  N := Length(Key);
  for I := 1 to Length(J) - N - 2 do
    if (J[I] = '"') and (J[I + N + 1] = '"') and (J[I + N + 2] = ':') then
    begin
      K := 1;
      while (K <= N) and (J[I + K] = Key[K]) do
        Inc(K);
      if K > N then
        Exit(I + N + 3);
    end;
  Result := 0;
end;

{ Writes code point C as UTF-8 at S[N + 1..]; N is the count written so far. }
procedure JsonPutCodePoint(var S: UTF8String; var N: Integer; C: Cardinal);

  procedure Put(B: Cardinal);
  begin
    Inc(N);
    S[N] := AnsiChar(B);
  end;

begin
  if C < $80 then
    Put(C)
  else if C < $800 then
  begin
    Put($C0 or (C shr 6));
    Put($80 or (C and $3F));
  end
  else if C < $10000 then
  begin
    Put($E0 or (C shr 12));
    Put($80 or ((C shr 6) and $3F));
    Put($80 or (C and $3F));
  end
  else
  begin
    Put($F0 or (C shr 18));
    Put($80 or ((C shr 12) and $3F));
    Put($80 or ((C shr 6) and $3F));
    Put($80 or (C and $3F));
  end;
end;

{ The JSON string starting at J[I] (a quote), unescaped; I moves past it. False if J[I] is not
  a string (null, a number, ...). Bytes are copied by index, never through a char
  concatenation (which Delphi would convert from the ANSI code page). }
function JsonReadString(const J: UTF8String; var I: Integer; out S: UTF8String): Boolean;
var
  C: AnsiChar;
  U, Lo: Cardinal;
  N: Integer;
begin
  S := '';
  if (I < 1) or (I > Length(J)) or (J[I] <> '"') then
    Exit(False);
  Inc(I);
  SetLength(S, Length(J) - I + 1);  { unescaping never makes it longer }
  N := 0;
  Result := False;
  while I <= Length(J) do
  begin
    C := J[I];
    Inc(I);
    if C = '"' then
    begin
      Result := True;
      Break;
    end;
    if (C = '\') and (I <= Length(J)) then
    begin
      C := J[I];
      Inc(I);
      case C of
        'b': C := #8;
        'f': C := #12;
        'n': C := #10;
        'r': C := #13;
        't': C := #9;
        'u':
          begin
            U := StrToIntDef('$' + string(Copy(J, I, 4)), Ord('?'));
            Inc(I, 4);
            if (U >= $D800) and (U < $DC00) and (I + 5 <= Length(J)) and (J[I] = '\') and (J[I + 1] = 'u') then
            begin
              Lo := StrToIntDef('$' + string(Copy(J, I + 2, 4)), 0);
              if (Lo >= $DC00) and (Lo < $E000) then
              begin
                U := $10000 + ((U - $D800) shl 10) + (Lo - $DC00);
                Inc(I, 6);
              end;
            end;
            JsonPutCodePoint(S, N, U);
            Continue;
          end;
      end;  { otherwise " \ / as such }
    end;
    Inc(N);
    S[N] := C;
  end;
  SetLength(S, N);
end;

{ The bytes of a NUL-terminated UTF-8 string, unconverted. }
function ReadUtf8(P: PAnsiChar): UTF8String;
var
  N: Integer;
begin
  Result := '';
  if P = nil then
    Exit;
  N := 0;
  while P[N] <> #0 do
    Inc(N);
  SetLength(Result, N);
  if N > 0 then
    Move(P^, Result[1], N);
end;

function Utf8ToOkc(const S: UTF8String): TOkcString;
begin
{$IFDEF FPC}
  Result := S;
{$ELSE}
  Result := UTF8ToString(S);
{$ENDIF}
end;

function JsonStr(const J, Key: UTF8String): TOkcString;
var
  I: Integer;
  S: UTF8String;
begin
  Result := '';
  I := JsonFind(J, Key);
  if (I > 0) and JsonReadString(J, I, S) then
    Result := Utf8ToOkc(S);
end;

function JsonInt(const J, Key: UTF8String): Int64;
var
  I, E: Integer;
begin
  Result := 0;
  I := JsonFind(J, Key);
  if I = 0 then
    Exit;
  E := I;
  while (E <= Length(J)) and (J[E] in ['-', '0'..'9']) do
    Inc(E);
  Result := StrToInt64Def(string(Copy(J, I, E - I)), 0);
end;

function JsonBool(const J, Key: UTF8String): Boolean;
var
  I: Integer;
begin
  I := JsonFind(J, Key);
  Result := (I > 0) and (Copy(J, I, 4) = 'true');
end;

{ Like JsonFind, but only the keys of the outermost object (the library writes keys in
  alphabetical order, so e.g. a nested "order" object comes before the top-level "state"). }
function JsonFindTop(const J, Key: UTF8String): Integer;
var
  I, N, Depth: Integer;
  InStr: Boolean;
begin
  Result := 0;
  N := Length(Key);
  Depth := 0;
  InStr := False;
  I := 1;
  while I <= Length(J) do
  begin
    if InStr then
    begin
      if J[I] = '\' then
        Inc(I)
      else if J[I] = '"' then
        InStr := False;
    end
    else
      case J[I] of
        '{', '[': Inc(Depth);
        '}', ']': Dec(Depth);
        '"':
          begin
            if (Depth = 1) and (I + N + 2 <= Length(J)) and (J[I + N + 1] = '"') and
              (J[I + N + 2] = ':') and (Copy(J, I + 1, N) = Key) then
              Exit(I + N + 3);
            InStr := True;
          end;
      end;
    Inc(I);
  end;
end;

function JsonTopStr(const J, Key: UTF8String): TOkcString;
var
  I: Integer;
  S: UTF8String;
begin
  Result := '';
  I := JsonFindTop(J, Key);
  if (I > 0) and JsonReadString(J, I, S) then
    Result := Utf8ToOkc(S);
end;

function JsonTopInt(const J, Key: UTF8String): Int64;
var
  I, E: Integer;
begin
  Result := 0;
  I := JsonFindTop(J, Key);
  if I = 0 then
    Exit;
  E := I;
  while (E <= Length(J)) and (J[E] in ['-', '0'..'9']) do
    Inc(E);
  Result := StrToInt64Def(string(Copy(J, I, E - I)), 0);
end;

{ An array of strings (non-strings in it are skipped). }
function JsonStrings(const J, Key: UTF8String): TOkcStringArray;
var
  I, N: Integer;
  S: UTF8String;
begin
  Result := nil;
  I := JsonFind(J, Key);
  if (I = 0) or (I > Length(J)) or (J[I] <> '[') then
    Exit;
  Inc(I);
  N := 0;
  while (I <= Length(J)) and (J[I] <> ']') do
  begin
    if J[I] = '"' then
    begin
      if not JsonReadString(J, I, S) then
        Break;
      SetLength(Result, N + 1);
      Result[N] := Utf8ToOkc(S);
      Inc(N);
    end
    else
      Inc(I);
  end;
end;

{ ---------------------------------------------------------------- TOkcTerminal }

function OkcErrorFor(Status: Integer; const Msg: string): EOkcError;
type
  TErrorClass = class of EOkcError;
var
  C: TErrorClass;
begin
  case Status of
    OKC_ERR_NO_DEVICE: C := EOkcNoDevice;
    OKC_ERR_CONFIG: C := EOkcConfig;
    OKC_ERR_REJECTED: C := EOkcRejected;
    OKC_ERR_UNSUPPORTED: C := EOkcUnsupported;
    OKC_ERR_OUTCOME_UNKNOWN: C := EOkcOutcomeUnknown;
    OKC_ERR_INVALID_ARGUMENT: C := EOkcInvalidArgument;
    OKC_ERR_CLOSED: C := EOkcClosed;
    OKC_ERR_JOURNAL: C := EOkcJournal;
    OKC_ERR_NOT_FOUND: C := EOkcNotFound;
  else
    C := EOkcError;
  end;
  Result := C.CreateStatus(Status, Msg);
end;

{ Library event thread. Nothing may propagate into native code. }
function PayEventThunk(UserData: Pointer; EventJson: PAnsiChar): Integer; cdecl;
var
  T: TOkcTerminal;
  H: TOkcTerminalEvent;
  J: UTF8String;
  Ev: TOkcPayEvent;
  Answer: TOkcSignatureAnswer;
begin
  Result := -1;
  T := TOkcTerminal(UserData);
  try
    H := T.FOnEvent;
    if not Assigned(H) then
      Exit;
    J := ReadUtf8(EventJson);
    Ev.Json := Utf8ToOkc(J);
    Ev.Kind := JsonStr(J, 'event');
    if Ev.Kind = 'signature' then
      Ev.Lines := JsonStrings(J, 'question')
    else
      Ev.Lines := JsonStrings(J, 'lines');
    Answer := saPolicy;
    H(T, Ev, Answer);
    case Answer of
      saAccept: Result := 1;
      saRefuse: Result := 0;
    end;
  except
    on E: Exception do
    begin
      try
        T.FLastHandlerError := E.ClassName + ': ' + E.Message;
      except
      end;
      Result := -1;
    end;
  end;
end;

constructor TOkcTerminal.Create(const Terminal: TOkcString; const Listener: TOkcString;
  AOnEvent: TOkcTerminalEvent; ConfirmSignature: Boolean; const ApplicationName: TOkcString);
var
  Cfg: UTF8String;
begin
  inherited Create;
  FOnEvent := AOnEvent;
  Cfg := '{"application_name":' + JsonQuote(ToUtf8(ApplicationName));
  if ConfirmSignature then
    Cfg := Cfg + ',"signature":"confirm"'
  else
    Cfg := Cfg + ',"signature":"refuse"';
  if Terminal <> '' then
    Cfg := Cfg + ',"terminal":' + JsonQuote(ToUtf8(Terminal));
  if Listener <> '' then
    Cfg := Cfg + ',"listener":' + JsonQuote(ToUtf8(Listener));
  Open(Cfg + '}');
end;

constructor TOkcTerminal.CreateFromConfig(const ConfigJson: TOkcString; AOnEvent: TOkcTerminalEvent);
begin
  inherited Create;
  FOnEvent := AOnEvent;
  Open(ToUtf8(ConfigJson));
end;

procedure TOkcTerminal.Open(const ConfigJson: UTF8String);
var
  St: Integer;
  H: POkcPay;
  P: PAnsiChar;
begin
  H := nil;
  if ConfigJson = '' then
    P := nil
  else
    P := PAnsiChar(ConfigJson);
  St := okc_pay_open(P, PayEventThunk, Self, H);
  if (St < 0) or (H = nil) then
    raise OkcErrorFor(St, string(TOkcHub.LastError));
  FHandle := H;
end;

destructor TOkcTerminal.Destroy;
begin
  Close;
  inherited Destroy;
end;

procedure TOkcTerminal.Close;
var
  H: POkcPay;
begin
  H := FHandle;
  FHandle := nil;
  if H <> nil then
    okc_pay_close(H);  { no event callback starts after this returns }
end;

function TOkcTerminal.GetHandle: POkcPay;
begin
  if FHandle = nil then
    raise EOkcClosed.CreateStatus(OKC_ERR_CLOSED, 'the terminal is closed');
  Result := FHandle;
end;

function TOkcTerminal.Check(Status: Integer): Integer;
begin
  if Status < 0 then
    raise OkcErrorFor(Status, string(TOkcHub.LastError));
  Result := Status;
end;

function TOkcTerminal.TakeResult(Status: Integer; P: PAnsiChar): TOkcPayResult;
var
  J: UTF8String;
begin
  J := ReadUtf8(P);
  if P <> nil then
    okc_string_free(P);
  Check(Status);
  Result.Status := Status;
  Result.Approved := JsonBool(J, 'approved');
  Result.Kind := JsonStr(J, 'kind');
  Result.Reason := JsonStr(J, 'reason');
  Result.Amount := JsonInt(J, 'amount');
  Result.Currency := JsonStr(J, 'currency');
  Result.TransactionId := JsonStr(J, 'transactionId');
  Result.Timestamp := JsonStr(J, 'timestamp');
  Result.MaskedPan := JsonStr(J, 'maskedPan');
  Result.Brand := JsonStr(J, 'brand');
  Result.ApprovalCode := JsonStr(J, 'approvalCode');
  Result.Reference := JsonStr(J, 'reference');
  Result.SignatureRequired := JsonBool(J, 'signatureRequired');
  Result.MerchantReceipt := JsonStrings(J, 'merchant');
  Result.CustomerReceipt := JsonStrings(J, 'customer');
  Result.Json := Utf8ToOkc(J);
end;

function TOkcTerminal.Payment(Amount: Int64; const Currency, Reference: TOkcString): TOkcPayResult;
var
  C, R: UTF8String;
  P: PAnsiChar;
begin
  C := ToUtf8(Currency);
  R := ToUtf8(Reference);
  P := nil;
  Result := TakeResult(okc_pay_payment(GetHandle, Amount, PAnsiChar(C), PAnsiChar(R), P), P);
end;

function TOkcTerminal.Refund(Amount: Int64; const Currency, Reference: TOkcString): TOkcPayResult;
var
  C, R: UTF8String;
  P: PAnsiChar;
begin
  C := ToUtf8(Currency);
  R := ToUtf8(Reference);
  P := nil;
  Result := TakeResult(okc_pay_refund(GetHandle, Amount, PAnsiChar(C), PAnsiChar(R), P), P);
end;

function TOkcTerminal.ReverseLast: TOkcPayResult;
var
  P: PAnsiChar;
begin
  P := nil;
  Result := TakeResult(okc_pay_reverse_last(GetHandle, P), P);
end;

function TOkcTerminal.Status(const Reference: TOkcString): TOkcPayResult;
var
  R: UTF8String;
  P, PR: PAnsiChar;
begin
  R := ToUtf8(Reference);
  if R = '' then
    PR := nil
  else
    PR := PAnsiChar(R);
  P := nil;
  Result := TakeResult(okc_pay_status(GetHandle, PR, P), P);
end;

procedure TOkcTerminal.Abort;
begin
  Check(okc_pay_abort(GetHandle));
end;

procedure TOkcTerminal.Login;
begin
  Check(okc_pay_login(GetHandle));
end;

procedure TOkcTerminal.Logout(MaintenanceAllowed: Boolean);
begin
  Check(okc_pay_logout(GetHandle, ByteBool(MaintenanceAllowed)));
end;

function TOkcTerminal.BatchClose: TOkcString;
var
  P: PAnsiChar;
  St: Integer;
begin
  P := nil;
  St := okc_pay_batch_close(GetHandle, P);
  Result := TakeUtf8(P);
  Check(St);
end;

procedure TOkcTerminal.Confirm(const Reference: TOkcString);
var
  R: UTF8String;
begin
  R := ToUtf8(Reference);
  Check(okc_pay_confirm(GetHandle, PAnsiChar(R)));
end;

function TOkcTerminal.Pending: TOkcString;
var
  P: PAnsiChar;
  St: Integer;
begin
  P := nil;
  St := okc_pay_pending(GetHandle, P);
  Result := TakeUtf8(P);
  Check(St);
end;

function TOkcTerminal.GetListenerAddress: TOkcString;
var
  P: PAnsiChar;
  St: Integer;
begin
  P := nil;
  St := okc_pay_listener_address(GetHandle, P);
  Result := TakeUtf8(P);
  if St = OKC_ERR_UNSUPPORTED then  { client-only }
    Exit('');
  Check(St);
end;

{ ---------------------------------------------------------------- TOkcOrders }

{ nil for '' (the C API's optional strings), else the UTF-8 text (kept alive by S). }
function OptPtr(const S: UTF8String): PAnsiChar;
begin
  if S = '' then
    Result := nil
  else
    Result := PAnsiChar(S);
end;

{ The cloud's code from the library's text ("... status 1018 ..."); 0 when none. }
function CloudCodeOf(const Msg: string): Integer;
var
  I, E: Integer;
begin
  Result := 0;
  I := Pos('status ', Msg);
  if I = 0 then
    Exit;
  Inc(I, Length('status '));
  E := I;
  if (E <= Length(Msg)) and (Msg[E] = '-') then
    Inc(E);
  while (E <= Length(Msg)) and (Msg[E] >= '0') and (Msg[E] <= '9') do
    Inc(E);
  Result := StrToIntDef(Copy(Msg, I, E - I), 0);
end;

function OrdersError(Status: Integer): EOkcError;
var
  Msg: string;
begin
  Msg := string(TOkcHub.LastError);
  Result := OkcErrorFor(Status, Msg);
  Result.CloudCode := CloudCodeOf(Msg);
end;

constructor TOkcOrders.Create(const Url, TerminalId, ClientId, ClientSecret, Journal: TOkcString);
var
  Cfg: UTF8String;

  procedure Add(const Key: UTF8String; const Value: TOkcString);
  begin
    if Value = '' then
      Exit;
    if Cfg <> '{' then
      Cfg := Cfg + ',';
    Cfg := Cfg + JsonQuote(Key) + ':' + JsonQuote(ToUtf8(Value));
  end;

begin
  Cfg := '{';
  Add('energy_url', Url);
  Add('energy_terminal', TerminalId);
  Add('tokenx_client_id', ClientId);
  Add('tokenx_client_secret', ClientSecret);
  Add('journal', Journal);
  CreateFromConfig(Utf8ToOkc(Cfg + '}'));
end;

constructor TOkcOrders.CreateFromConfig(const ConfigJson: TOkcString);
var
  Cfg: UTF8String;
  St: Integer;
  H: POkcEnergy;
begin
  inherited Create;
  Cfg := ToUtf8(ConfigJson);
  H := nil;
  St := okc_energy_open(OptPtr(Cfg), H);
  if (St < 0) or (H = nil) then
  begin
    if St >= 0 then
      St := OKC_ERR_INTERNAL;
    raise OrdersError(St);
  end;
  FHandle := H;
end;

destructor TOkcOrders.Destroy;
begin
  Close;
  inherited Destroy;
end;

procedure TOkcOrders.Close;
var
  H: POkcEnergy;
begin
  H := FHandle;
  FHandle := nil;
  if H <> nil then
    okc_energy_close(H);
end;

function TOkcOrders.GetHandle: POkcEnergy;
begin
  if FHandle = nil then
    raise EOkcClosed.CreateStatus(OKC_ERR_CLOSED, 'the orders object is closed');
  Result := FHandle;
end;

function TOkcOrders.TakeText(Status: Integer; P: PAnsiChar): TOkcString;
begin
  Result := TakeUtf8(P);
  if Status < 0 then
    raise OrdersError(Status);
end;

function TOkcOrders.List(const Status, Plate: TOkcString; Pump: Integer; Mine: Boolean): TOkcString;
var
  F: UTF8String;
  P: PAnsiChar;
begin
  if Mine then
    F := '{"mine":true'
  else
    F := '{"mine":false';
  if Status <> '' then
    F := F + ',"status":' + JsonQuote(ToUtf8(Status));
  if Plate <> '' then
    F := F + ',"plate":' + JsonQuote(ToUtf8(Plate));
  if Pump > 0 then
    F := F + ',"pumpNo":' + UTF8String(IntToStr(Pump));
  F := F + '}';
  P := nil;
  Result := TakeText(okc_energy_list(GetHandle, PAnsiChar(F), P), P);
end;

function TOkcOrders.Get(const OrderId: TOkcString): TOkcString;
var
  Id: UTF8String;
  P: PAnsiChar;
begin
  Id := ToUtf8(OrderId);
  P := nil;
  Result := TakeText(okc_energy_get(GetHandle, PAnsiChar(Id), P), P);
end;

function TOkcOrders.Lock(const OrderId, PaymentId: TOkcString): TOkcString;
var
  Id, Pid: UTF8String;
  P: PAnsiChar;
begin
  Id := ToUtf8(OrderId);
  Pid := ToUtf8(PaymentId);
  P := nil;
  Result := TakeText(okc_energy_lock(GetHandle, PAnsiChar(Id), OptPtr(Pid), P), P);
end;

function TOkcOrders.Unlock(const OrderId, Reason: TOkcString): TOkcString;
var
  Id, R: UTF8String;
  P: PAnsiChar;
begin
  Id := ToUtf8(OrderId);
  R := ToUtf8(Reason);
  P := nil;
  Result := TakeText(okc_energy_unlock(GetHandle, PAnsiChar(Id), OptPtr(R), P), P);
end;

function TOkcOrders.Pay(const OrderId, PaymentId, CardResultJson: TOkcString): TOkcString;
var
  Id, Pid, Card: UTF8String;
  P: PAnsiChar;
begin
  Id := ToUtf8(OrderId);
  Pid := ToUtf8(PaymentId);
  Card := ToUtf8(CardResultJson);
  P := nil;
  Result := TakeText(okc_energy_pay(GetHandle, PAnsiChar(Id), PAnsiChar(Pid), OptPtr(Card), P), P);
end;

function TOkcOrders.Sell(Terminal: TOkcTerminal; const Plate, OrderId, PaymentId: TOkcString): TOkcOrderSale;
var
  Pl, Id, Pid, J: UTF8String;
  P: PAnsiChar;
  H: POkcEnergy;
  St: Integer;
begin
  if Terminal = nil then
    raise EOkcError.CreateStatus(OKC_ERR_NULL, 'Sell needs a terminal');
  H := GetHandle;
  Pl := ToUtf8(Plate);
  Id := ToUtf8(OrderId);
  Pid := ToUtf8(PaymentId);
  P := nil;
  St := okc_energy_sell(H, OptPtr(Pl), OptPtr(Id), Terminal.GetHandle, OptPtr(Pid), P);
  J := ReadUtf8(P);
  if P <> nil then
    okc_string_free(P);
  if St < 0 then
    raise OrdersError(St);
  Result.Status := St;
  Result.State := JsonTopStr(J, 'state');
  Result.Reason := JsonTopStr(J, 'reason');
  Result.OrderId := JsonTopStr(J, 'orderId');
  Result.Plate := JsonTopStr(J, 'plate');
  Result.Amount := JsonTopInt(J, 'amount');
  Result.OrderState := JsonTopStr(J, 'orderState');
  Result.PaymentId := JsonTopStr(J, 'paymentId');
  Result.Card := JsonTopStr(J, 'card');
  Result.Json := Utf8ToOkc(J);
end;

function TOkcOrders.Recover(Terminal: TOkcTerminal): TOkcString;
var
  T: POkcPay;
  P: PAnsiChar;
begin
  if Terminal = nil then
    T := nil
  else
    T := Terminal.GetHandle;
  P := nil;
  Result := TakeText(okc_energy_recover(GetHandle, T, P), P);
end;

{ The library calls back on its own (foreign) threads. Pascal runtimes only make the heap,
  threadvars and TThread.Queue thread-safe once they know the process is multi-threaded:
  FPC sets that up when it starts its first thread, Delphi's memory manager looks at
  IsMultiThread. Without this, a program that never starts a thread itself would run the
  callbacks on a single-threaded runtime. }
{$IFDEF FPC}
function OkcNoopThread(P: Pointer): PtrInt;
begin
  Result := 0;
end;

procedure InitPascalThreading;
var
  T: TThreadID;
begin
  if IsMultiThread then
    Exit;
  T := BeginThread(OkcNoopThread, nil);
  WaitForThreadTerminate(T, 0);
  CloseThread(T);
end;
{$ENDIF}

initialization
{$IFDEF FPC}
  InitPascalThreading;
{$ELSE}
  IsMultiThread := True;
{$ENDIF}

end.
