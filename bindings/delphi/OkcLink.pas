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
function okc_wait_connected(Hub: POkcHub; TimeoutMs: Integer; out Serial: PAnsiChar): Integer; cdecl; external OkcLibName;

type
  { Text as the wrapper hands it out: UTF-8 in FPC, UnicodeString in Delphi. }
  TOkcString = {$IFDEF FPC}UTF8String{$ELSE}string{$ENDIF};

  EOkcError = class(Exception)
  private
    FStatus: Integer;
  public
    constructor CreateStatus(AStatus: Integer; const AMessage: string);
    property Status: Integer read FStatus;
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

function OkcStatusName(Status: Integer): string;

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
