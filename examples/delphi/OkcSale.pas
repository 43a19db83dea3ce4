{ A complete sale with the OkcLink unit (Delphi or Free Pascal).

    fpc -Mdelphi -Fubindings/delphi -Fltarget/debug examples/delphi/OkcSale.pas
    okc sim --listen 127.0.0.1:7700 &
    LD_LIBRARY_PATH=target/debug OKC_TRANSPORT=tcp://127.0.0.1:7700 examples/delphi/OkcSale

  Delphi (Windows): add bindings\delphi to the search path and put okclink.dll (same bitness)
  next to the executable. In a VCL application create the hub with odMainThread and the
  handlers run on the UI thread; this console program pumps them itself (odQueue). }
program OkcSale;

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

type
  TShop = class
    BasketId: TOkcString;
    Connected, Done, Ok: Boolean;
    procedure DeviceState(Sender: TObject; AConnected: Boolean; const ASerial: TOkcString);
    procedure SerialIn(Sender: TObject; AType: Integer; const AValue: TOkcString);
  end;

procedure TShop.DeviceState(Sender: TObject; AConnected: Boolean; const ASerial: TOkcString);
begin
  WriteLn('deviceState(', AConnected, ', ', ASerial, ')');
  Connected := AConnected;
end;

procedure TShop.SerialIn(Sender: TObject; AType: Integer; const AValue: TOkcString);
begin
  WriteLn('serialIn(', AType, '): ', AValue);
  case AType of
    OKC_IN_SALE_INFO:
      if Pos('"basketID":"' + BasketId + '"', AValue) > 0 then
      begin
        Done := True;
        Ok := Pos('"status":0', AValue) > 0;
      end;
    OKC_IN_BASKET_REPLY:
      if (Copy(AValue, 1, 1) <> '{') and (AValue <> 'OK') then
        Done := True; { refused: AValue is the device's text, e.g. 'Geçersiz ödeme tipi' }
    OKC_IN_NOT_CONNECTED:
      Done := True;
  end;
end;

function Pump(Hub: TOkcHub; var Flag: Boolean; Seconds: Integer): Boolean;
var
  I: Integer;
begin
  for I := 1 to Seconds * 10 do
  begin
    Hub.DispatchEvents;          { fires OnDeviceState / OnSerialIn on this thread }
    if Flag then
      Exit(True);
    Sleep(100);
  end;
  Result := Flag;
end;

var
  Hub: TOkcHub;
  Shop: TShop;
  G: TGUID;
  Code: Integer;
begin
  Code := 1;
  Shop := TShop.Create;
  Hub := TOkcHub.Create('Örnek Büfe', '{"log_dir":"./logs"}', odQueue);
  try
    Hub.OnDeviceState := Shop.DeviceState;
    Hub.OnSerialIn := Shop.SerialIn;
    WriteLn('okclink ', TOkcHub.Version);
    if not Pump(Hub, Shop.Connected, 30) then
    begin
      WriteLn('no device');
      Halt(1);
    end;
    WriteLn('fiscal info: ', Hub.GetFiscalInfo);

    CreateGUID(G);
    Shop.BasketId := TOkcString(LowerCase(Copy(GUIDToString(G), 2, 36)));
    Hub.SendBasket('{"basketID":"' + Shop.BasketId + '","documentType":0,' +
      '"items":[{"name":"ÇAY","price":1500,"quantity":2000,"sectionNo":1,"taxPercent":1000,"type":0},' +
      '{"name":"SİMİT","price":1000,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}],' +
      '"paymentItems":[{"description":"Nakit","amount":4000,"type":1}]}');
    if Pump(Hub, Shop.Done, 120) and Shop.Ok then
    begin
      WriteLn('sale completed');
      Code := 0;
    end
    else
      WriteLn('sale failed');
  finally
    Hub.Free;
    Shop.Free;
  end;
  Halt(Code);
end.
