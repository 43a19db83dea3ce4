{ End-to-end test of OkcLink.pas against `okc sim` (transport from OKC_TRANSPORT).
  Build: fpc -Mdelphi -Fu.. -Fl$LIBDIR OkcSaleTest.pas ; exit code 0 = all checks passed. }
program OkcSaleTest;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$CODEPAGE UTF8}
{$ENDIF}
{$APPTYPE CONSOLE}

uses
{$IFDEF UNIX}
  cthreads,
{$ENDIF}
  SysUtils, Classes, OkcLink;

const
  RejectText: UTF8String = 'Geçersiz ödeme tipi';
  Items: UTF8String = '"items":[{"name":"ÇAYKUR RİZE ÇAY","price":1500,"quantity":2000,"sectionNo":1,"taxPercent":1000,"type":0},' +
    '{"name":"SİMİT","price":1000,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}],';

var
  Failures: Integer = 0;

procedure Check(Ok: Boolean; const What: string);
begin
  if Ok then
    WriteLn('ok   ', What)
  else
  begin
    WriteLn('FAIL ', What);
    Inc(Failures);
  end;
end;

function NewId: string;
var
  G: TGUID;
begin
  CreateGUID(G);
  Result := LowerCase(Copy(GUIDToString(G), 2, 36));
end;

function Basket(const Id: string; PaymentType: Integer): TOkcString;
begin
  Result := '{"basketID":"' + TOkcString(Id) + '","documentType":0,' + Items +
    '"paymentItems":[{"description":"Nakit","amount":4000,"type":' + TOkcString(IntToStr(PaymentType)) + '}]}';
end;

{ Waits for a serialIn event of AType whose value contains Needle; returns its value. }
function WaitSerialIn(Hub: TOkcHub; AType: Integer; const Needle: TOkcString; TimeoutMs: Integer;
  out Value: TOkcString): Boolean;
var
  Ev: TOkcEvent;
  Deadline: TDateTime;
  Left: Integer;
begin
  Result := False;
  Value := '';
  Deadline := Now + TimeoutMs / 86400000.0;
  repeat
    Left := Round((Deadline - Now) * 86400000.0);
    if (Left <= 0) or not Hub.WaitEvent(Left, Ev) then
      Exit;
    if (Ev.Kind = okSerialIn) and (Ev.DataType = AType) and (Pos(Needle, Ev.Value) > 0) then
    begin
      Value := Ev.Value;
      Exit(True);
    end;
  until False;
end;

function WaitState(Hub: TOkcHub; Connected: Boolean; TimeoutMs: Integer; out Serial: TOkcString): Boolean;
var
  Ev: TOkcEvent;
  Deadline: TDateTime;
  Left: Integer;
begin
  Result := False;
  Serial := '';
  Deadline := Now + TimeoutMs / 86400000.0;
  repeat
    Left := Round((Deadline - Now) * 86400000.0);
    if (Left <= 0) or not Hub.WaitEvent(Left, Ev) then
      Exit;
    if (Ev.Kind = okDeviceState) and (Ev.Connected = Connected) then
    begin
      Serial := Ev.Value;
      Exit(True);
    end;
  until False;
end;

type
  TDirectSink = class
  public
    Sales: Integer;
    LastSale: TOkcString;
    procedure OnSerialIn(Sender: TObject; AType: Integer; const AValue: TOkcString);
  end;

type
  TMainSink = class
  public
    Sales: Integer;
    AllOnMain: Boolean;
    LastSale: TOkcString;
    procedure OnSerialIn(Sender: TObject; AType: Integer; const AValue: TOkcString);
  end;

procedure TMainSink.OnSerialIn(Sender: TObject; AType: Integer; const AValue: TOkcString);
begin
  if GetCurrentThreadId <> MainThreadID then
    AllOnMain := False;
  if AType = OKC_IN_SALE_INFO then
  begin
    LastSale := AValue;
    Inc(Sales);
  end;
end;

procedure TDirectSink.OnSerialIn(Sender: TObject; AType: Integer; const AValue: TOkcString);
begin
  if AType = OKC_IN_SALE_INFO then
  begin
    LastSale := AValue;
    InterLockedIncrement(Sales);
    raise Exception.Create('customer bug in a callback');
  end;
end;

procedure Run;
var
  Hub: TOkcHub;
  Serial, S2, Info, Sale, Reply: TOkcString;
  Id: string;
  St, I: Integer;
  Api: TIntegrationHubApi;
  Raised: Boolean;
  Sink: TDirectSink;
  MainSink: TMainSink;
begin
  WriteLn('okclink native ', TOkcHub.Version);
  Check(IsMultiThread, 'runtime switched to multi-threaded by OkcLink initialization');
  Check(Pos(#$C3#$87'AYKUR R'#$C4#$B0'ZE', Basket('x', 1)) > 0, 'basket JSON is UTF-8');
  Id := 'ab';
  Reply := TOkcString(Id) + '"Ç"';
  Check(Reply = 'ab"'#$C3#$87'"', 'mixed literal concatenation is UTF-8 (cwstring)');
  { Part A compiles and fails cleanly when the vendor DLL is absent. }
  Check(not LoadIntegrationHub(Api, 'IntegrationHubCpp-does-not-exist.dll'), 'LoadIntegrationHub(missing) = False');

  Hub := TOkcHub.Create('FPC Test', '{"log_dir":"./logs"}');
  Sink := TDirectSink.Create;
  MainSink := TMainSink.Create;
  MainSink.AllOnMain := True;
  try
    Check(Hub.WaitConnected(15000, Serial), 'WaitConnected');
    Check(Serial <> '', 'device serial ' + string(Serial));
    Check(WaitState(Hub, True, 5000, S2) and (S2 = Serial), 'deviceState(true, serial) event');
    Check(Hub.ActiveDeviceIndex = 0, 'ActiveDeviceIndex = 0 (X30TR)');

    Info := Hub.GetFiscalInfo(5000);
    Check((Copy(Info, 1, 1) = '{') and (Pos('"sections"', Info) > 0), 'GetFiscalInfo: ' + IntToStr(Length(Info)) + ' bytes');
    Check(Hub.LastFiscalInfo = Info, 'LastFiscalInfo = the fresh value');

    { full sale }
    Id := NewId;
    St := Hub.TrySendBasket(Basket(Id, 1));
    Check(St = OKC_ACCEPTED, 'TrySendBasket = OKC_ACCEPTED (' + IntToStr(St) + ')');
    Check(WaitSerialIn(Hub, OKC_IN_SALE_INFO, '"basketID":"' + TOkcString(Id) + '"', 30000, Sale), 'sale info for ' + Id);
    WriteLn('     sale info: ', Sale);
    Check(Pos('"status":0', Sale) > 0, 'sale status 0');
    Check(Pos('"receiptNo"', Sale) > 0, 'sale has receiptNo');

    { refused basket: the device's cp1254 text arrives as UTF-8 }
    Hub.SendBasket(Basket(NewId, 99));
    Check(WaitSerialIn(Hub, OKC_IN_BASKET_REPLY, 'ersiz', 30000, Reply), 'basket reply received');
    Check(Reply = RejectText, 'refusal text is "' + string(Reply) + '"');
    Check(Length(Reply) = Length(RejectText), 'refusal text byte length ' + IntToStr(Length(Reply)));

    { invalid JSON: typed error, no crash }
    Check(Hub.TrySendBasket('{not json') = OKC_ERR_INVALID_JSON, 'TrySendBasket(invalid) = OKC_ERR_INVALID_JSON');
    Raised := False;
    try
      Hub.SendBasket('{not json');
    except
      on E: EOkcError do
        Raised := E.Status = OKC_ERR_INVALID_JSON;
    end;
    Check(Raised, 'SendBasket(invalid) raises EOkcError(OKC_ERR_INVALID_JSON)');

    { deleteCommunication semantics, then reconnect }
    Hub.Disconnect;
    Check(WaitState(Hub, False, 5000, S2) and (S2 = ''), 'deviceState(false, "") after Disconnect');
    Check(Hub.ActiveDeviceIndex = -1, 'ActiveDeviceIndex = -1 after Disconnect');
    Check(Hub.TrySendBasket(Basket(NewId, 1)) = OKC_ERR_NO_DEVICE, 'send without device = OKC_ERR_NO_DEVICE');
    Raised := False;
    try
      Hub.GetFiscalInfo(1000);
    except
      on E: EOkcError do
        Raised := E.Status = OKC_ERR_NO_DEVICE;
    end;
    Check(Raised, 'GetFiscalInfo without device raises OKC_ERR_NO_DEVICE');
    Hub.Reconnect;
    Check(WaitState(Hub, True, 15000, S2) and (S2 = Serial), 'deviceState(true, serial) after Reconnect');

    { direct delivery on the library thread; a raising handler is contained }
    Hub.OnSerialIn := Sink.OnSerialIn;
    Hub.Delivery := odDirect;
    Id := NewId;
    Hub.SendBasket(Basket(Id, 1));
    for I := 1 to 300 do
    begin
      if Sink.Sales > 0 then
        Break;
      Sleep(100);
    end;
    Check(Sink.Sales > 0, 'OnSerialIn ran on the library thread');
    Check(Pos(TOkcString(Id), Sink.LastSale) > 0, 'direct sale info is for ' + Id);
    Check(Pos('customer bug', Hub.LastHandlerError) > 0, 'handler exception caught: ' + Hub.LastHandlerError);
    Check(Hub.ActiveDeviceIndex = 0, 'still connected after a raising handler');

    { main-thread delivery through TThread.Queue (VCL/LCL style); a console program pumps
      CheckSynchronize where a GUI's message loop would }
    Hub.OnSerialIn := MainSink.OnSerialIn;
    Hub.Delivery := odMainThread;
    Id := NewId;
    Hub.SendBasket(Basket(Id, 1));
    for I := 1 to 300 do
    begin
      CheckSynchronize(100);
      if MainSink.Sales > 0 then
        Break;
    end;
    Check((MainSink.Sales > 0) and (Pos(TOkcString(Id), MainSink.LastSale) > 0), 'odMainThread: sale info for ' + Id);
    Check(MainSink.AllOnMain, 'odMainThread: handlers ran on the main thread');
  finally
    Hub.Free;
    Sink.Free;
    MainSink.Free;
  end;
  Check(True, 'Free returned (bounded destroy)');
end;

{ With "confirm":"explicit" a sale info not confirmed is delivered again by the next hub on
  the same journal; a confirmed one is not. }
procedure RunConfirm;
var
  Hub: TOkcHub;
  Cfg, Journal: string;
  Id: string;
  Serial, Value: TOkcString;
  Status: Integer;
begin
  WriteLn('-- explicit confirmation across restarts');
  Journal := GetTempDir(False) + 'okc-fpc-confirm-' + IntToStr(GetProcessID) + '.sqlite';
  DeleteFile(Journal); DeleteFile(Journal + '-wal'); DeleteFile(Journal + '-shm');
  Cfg := '{"log_dir":"","journal":"' + Journal + '","confirm":"explicit"}';
  Id := 'FPC-CONFIRM-' + NewId;
  Hub := TOkcHub.Create('FPC Confirm', TOkcString(Cfg));
  try
    Check(Hub.WaitConnected(15000, Serial), 'explicit: connected');
    Hub.SendBasket(Basket(Id, 1));
    Check(WaitSerialIn(Hub, 3, TOkcString(Id), 30000, Value), 'explicit: sale info ' + Id);
    Status := 0;
    try
      Hub.Confirm('FPC-NO-SUCH-BASKET');
    except
      on E: EOkcError do Status := E.Status;
    end;
    Check(Status = OKC_ERR_NOT_FOUND, 'Confirm(unknown) raises OKC_ERR_NOT_FOUND');
  finally
    Hub.Free;
  end;
  Hub := TOkcHub.Create('FPC Confirm', TOkcString(Cfg));
  try
    Check(WaitSerialIn(Hub, 3, TOkcString(Id), 15000, Value), 'not confirmed: delivered again by the next hub');
    Hub.Confirm(TOkcString(Id));
    Hub.Confirm(TOkcString(Id));
    Check(True, 'Confirm(basketID) twice');
  finally
    Hub.Free;
  end;
  Hub := TOkcHub.Create('FPC Confirm', TOkcString(Cfg));
  try
    Check(Hub.WaitConnected(15000, Serial), 'explicit: connected again');
    Hub.SendBasket(Basket(Id + '-2', 1));
    { Events arrive in order: a redelivery of the first would come before the new sale. }
    Check(WaitSerialIn(Hub, 3, '"basketID":"', 30000, Value) and (Pos(TOkcString(Id + '-2'), Value) > 0),
      'confirmed: not delivered again (the next sale info is the new basket''s)');
  finally
    Hub.Free;
  end;
  DeleteFile(Journal); DeleteFile(Journal + '-wal'); DeleteFile(Journal + '-shm');
end;

procedure Run300;
var
  Hub: TOkcHub;
  Serial, V: TOkcString;
  Id: string;
begin
  Hub := TOkcHub.Create('FPC Test', '{"log_dir":""}');
  try
    Check(Hub.WaitConnected(15000, Serial), 'WaitConnected (300TR)');
    Check(Copy(Serial, 1, 2) = 'AT', '300TR serial ' + string(Serial));
    Check(Hub.ActiveDeviceIndex = 1, 'ActiveDeviceIndex = 1 (300TR)');
    Id := NewId;
    Hub.SendBasket('{"basketID":"' + TOkcString(Id) + '",' + Copy(Items, 1, Length(Items) - 1) + '}');
    Check(WaitSerialIn(Hub, OKC_IN_BASKET_REPLY, TOkcString(Id), 10000, V), 'basket reply ' + string(V));
    Hub.SendPayment('{"amount":4000,"description":"Nakit","type":1}');
    Check(WaitSerialIn(Hub, OKC_IN_PAYMENT_REPLY, '"status":0', 10000, V), 'payment reply ' + string(V));
    Check(WaitSerialIn(Hub, OKC_IN_SALE_INFO, TOkcString(Id), 30000, V) and (Pos('"status":0', V) > 0), 'sale info ' + string(V));
    Hub.SendBasket('{"basketID":"v",' + Copy(Items, 1, Length(Items) - 1) + '}');
    Check(WaitSerialIn(Hub, OKC_IN_BASKET_REPLY, '"v"', 10000, V), 'basket to void accepted');
    Hub.SendPayment('{"isVoid": true}');
    Check(WaitSerialIn(Hub, OKC_IN_SALE_INFO, '"status":99', 30000, V), 'void: sale info status 99');
  finally
    Hub.Free;
  end;
end;

begin
  try
    if ParamStr(1) = '300tr' then
      Run300
    else
    begin
      Run;
      RunConfirm;
    end;
  except
    on E: Exception do
    begin
      WriteLn('FAIL unexpected exception ', E.ClassName, ': ', E.Message);
      Inc(Failures);
    end;
  end;
  if Failures = 0 then
    WriteLn('fpc: all checks passed')
  else
    WriteLn('fpc: ', Failures, ' check(s) failed');
  Halt(Ord(Failures <> 0));
end.
