{ The card-payment API of OkcLink.pas (TOkcTerminal over okc_pay_*) against
  `okc sim-terminal --nexo`, started by .ci/test-bindings.sh:
    OKC_TEST_TERMINAL   outcome approve (client-only)
    OKC_TEST_DECLINE    outcome decline
    OKC_TEST_SIGNATURE  outcome signature, calling the POS listener OKC_TEST_LISTENER (IP:PORT)
    OKC_TEST_SLOW       outcome approve, 3 s per payment (abort)
  and the fuel orders (TOkcOrders over okc_energy_*) against
    OKC_TEST_ENERGY_URL `okc sim-cloud --fuel 34ABC123:152340 --fuel 06XYZ42:50000`
                        (http://127.0.0.1:PORT, credentials demo/demo)
  Build: fpc -Mdelphi -Fu.. -Fl$LIBDIR OkcPayTest.pas ; exit code 0 = all checks passed. }
program OkcPayTest;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$CODEPAGE UTF8}
{$ENDIF}
{$APPTYPE CONSOLE}

uses
{$IFDEF UNIX}
  cthreads,
{$ENDIF}
  SysUtils, Classes, {$IFNDEF FPC} SyncObjs, {$ENDIF} OkcLink;

var
  Checks: Integer = 0;
  Failures: Integer = 0;

procedure Check(Ok: Boolean; const What: string);
begin
  Inc(Checks);
  if Ok then
    WriteLn('ok   ', What)
  else
  begin
    WriteLn('FAIL ', What);
    Inc(Failures);
  end;
end;

function Env(const Name: string): TOkcString;
begin
  Result := TOkcString(GetEnvironmentVariable(Name));
  if Result = '' then
    raise Exception.Create(Name + ' is not set (run .ci/test-bindings.sh)');
end;

function Joined(const A: TOkcStringArray): string;
var
  I: Integer;
begin
  Result := '';
  for I := 0 to High(A) do
  begin
    if I > 0 then
      Result := Result + ' | ';
    Result := Result + string(A[I]);
  end;
end;

function Has(const S, Needle: TOkcString): Boolean;
begin
  Result := Pos(Needle, S) > 0;
end;

{ Runs the ExpectedStatus check: E must be of class C with that status. }
procedure CheckError(E: Exception; C: ExceptClass; ExpectedStatus: Integer; const What: string);
begin
  if E = nil then
    Check(False, What + ': no exception')
  else
    Check((E is C) and (EOkcError(E).Status = ExpectedStatus),
      What + ': ' + E.ClassName + ' ' + E.Message);
end;

{ ---------------------------------------------------------------- approve }

procedure Approve;
var
  T: TOkcTerminal;
  R, Again, St, Rev, Rf, After: TOkcPayResult;

  procedure Expect(C: ExceptClass; Status: Integer; const What: string; Call: Integer);
  begin
    try
      case Call of
        0: T.Payment(0, 'SEK', 'fpc-zero');
        1: T.Payment(100, 'SEKX', 'fpc-currency');
        2: T.Refund(100, 'SEK', 'has/slash');
        3: T.BatchClose;
        4: T.Status('fpc-never-paid');
        5: T.Payment(100, 'SEK', 'fpc-closed');
        6: T.Abort;
      end;
    except
      on E: Exception do
      begin
        CheckError(E, C, Status, What);
        Exit;
      end;
    end;
    Check(False, What + ': no exception');
  end;

begin
  WriteLn('-- approve (', string(Env('OKC_TEST_TERMINAL')), ')');
  T := TOkcTerminal.Create(Env('OKC_TEST_TERMINAL') + '?poiid=FPC-POS', '', nil, True, 'okclink FPC test');
  try
    T.Login;
    Check(True, 'Login');
    Check(T.ListenerAddress = '', 'ListenerAddress empty in client-only mode');

    R := T.Payment(1250, 'SEK', 'fpc-pay-1');
    Check(R.Approved and (R.Status = OKC_OK), 'Payment approved, status OKC_OK');
    Check((R.Amount = 1250) and (R.Currency = 'SEK'), Format('amount 1250 SEK (%d %s)', [R.Amount, string(R.Currency)]));
    Check(R.TransactionId <> '', 'transaction id ' + string(R.TransactionId));
    Check((R.Kind = 'payment') and (R.Reference = 'fpc-pay-1'), 'kind payment, reference fpc-pay-1');
    Check((R.ApprovalCode <> '') and (R.MaskedPan <> '') and (R.Reason = ''),
      'approval code ' + string(R.ApprovalCode) + ', card ' + string(R.MaskedPan) + ', no reason');
    Check((Length(R.CustomerReceipt) > 0) and (Length(R.MerchantReceipt) > 0),
      Format('receipts: %d customer, %d merchant lines', [Length(R.CustomerReceipt), Length(R.MerchantReceipt)]));
    Check(Has(TOkcString(Joined(R.CustomerReceipt)), '12,50 SEK'), 'customer receipt shows 12,50 SEK: ' + Joined(R.CustomerReceipt));
    Check(Has(TOkcString(Joined(R.CustomerReceipt)), 'Köp'), 'receipt text is exact UTF-8 (Köp)');
    Check(Has(R.Json, '"approved":true'), 'Json');

    Again := T.Payment(1250, 'SEK', 'fpc-pay-1');
    Check(Again.Json = R.Json, 'same reference again: the recorded result');
    St := T.Status('fpc-pay-1');
    Check(St.Approved and (St.TransactionId = R.TransactionId), 'Status(reference): same transaction id ' + string(St.TransactionId));

    Sleep(400); { the terminal is busy right after a payment (the library retries anyway) }
    Rev := T.ReverseLast;
    Check(Rev.Approved and (Rev.Kind = 'reversal') and (Rev.Amount = 1250), 'ReverseLast approved, kind reversal, 1250');

    Sleep(400);
    Rf := T.Refund(500, 'SEK', 'fpc-refund-1');
    Check(Rf.Approved and (Rf.Kind = 'refund') and (Rf.Amount = 500) and (Rf.Currency = 'SEK'),
      Format('Refund approved, kind refund, 500 SEK (%s %d)', [string(Rf.Kind), Rf.Amount]));
    Check((Rf.TransactionId <> '') and (Rf.TransactionId <> R.TransactionId), 'refund has its own transaction id');

    Expect(EOkcUnsupported, OKC_ERR_UNSUPPORTED, 'BatchClose on a PAX terminal', 3);
    Expect(EOkcRejected, OKC_ERR_REJECTED, 'Status of an unknown reference', 4);

    Sleep(400);
    T.Logout(True);
    Check(True, 'Logout(True)');
    After := T.Payment(300, 'EUR', 'fpc-pay-2');
    Check(After.Approved and (After.Amount = 300) and (After.Currency = 'EUR'), 'payment after logout logs in again (EUR 300)');

    Expect(EOkcInvalidArgument, OKC_ERR_INVALID_ARGUMENT, 'amount 0', 0);
    Expect(EOkcInvalidArgument, OKC_ERR_INVALID_ARGUMENT, 'currency SEKX', 1);
    Expect(EOkcInvalidArgument, OKC_ERR_INVALID_ARGUMENT, 'reference with a slash', 2);

    T.Close;
    Expect(EOkcClosed, OKC_ERR_CLOSED, 'Payment after Close', 5);
    Expect(EOkcClosed, OKC_ERR_CLOSED, 'Abort after Close', 6);
    T.Close;
    Check(True, 'Close twice');
  finally
    T.Free;
  end;
end;

{ ---------------------------------------------------------------- decline }

procedure Decline;
var
  T: TOkcTerminal;
  R: TOkcPayResult;
begin
  WriteLn('-- decline');
  T := TOkcTerminal.Create(Env('OKC_TEST_DECLINE'));
  try
    R := T.Payment(999, 'SEK', 'fpc-decline');
    Check(not R.Approved and (R.Status = OKC_PAY_DECLINED), 'declined: a result, status OKC_PAY_DECLINED (2)');
    Check(Has(R.Reason, 'Refusal'), 'reason ' + string(R.Reason));
    Check((R.Amount = 0) and (R.Reference = 'fpc-decline') and (R.ApprovalCode = ''), 'nothing authorised');
    Check(Has(R.Json, '"approved":false'), 'Json says approved false');
  finally
    T.Free;
  end;
end;

{ ---------------------------------------------------------------- signature }

type
  TRecorder = class
  private
  {$IFDEF FPC}
    FLock: TRTLCriticalSection;
  {$ELSE}
    FLock: TCriticalSection;
  {$ENDIF}
  public
    Answer: TOkcSignatureAnswer;
    Raise_: Boolean;
    Questions, Displays, Prints: Integer;
    Question: string;
    constructor Create;
    destructor Destroy; override;
    procedure Lock;
    procedure Unlock;
    procedure OnEvent(Sender: TObject; const Event: TOkcPayEvent; var Answer_: TOkcSignatureAnswer);
  end;

constructor TRecorder.Create;
begin
  inherited Create;
{$IFDEF FPC}
  InitCriticalSection(FLock);
{$ELSE}
  FLock := TCriticalSection.Create;
{$ENDIF}
end;

destructor TRecorder.Destroy;
begin
{$IFDEF FPC}
  DoneCriticalSection(FLock);
{$ELSE}
  FLock.Free;
{$ENDIF}
  inherited Destroy;
end;

procedure TRecorder.Lock;
begin
{$IFDEF FPC}
  EnterCriticalSection(FLock);
{$ELSE}
  FLock.Enter;
{$ENDIF}
end;

procedure TRecorder.Unlock;
begin
{$IFDEF FPC}
  LeaveCriticalSection(FLock);
{$ELSE}
  FLock.Leave;
{$ENDIF}
end;

procedure TRecorder.OnEvent(Sender: TObject; const Event: TOkcPayEvent; var Answer_: TOkcSignatureAnswer);
begin
  Lock;
  try
    if Event.Kind = 'signature' then
    begin
      Inc(Questions);
      Question := Joined(Event.Lines);
      if Raise_ then
        raise Exception.Create('handler bug');
      Answer_ := Answer;
    end
    else if (Event.Kind = 'display') and (Length(Event.Lines) > 0) then
      Inc(Displays)
    else if (Event.Kind = 'print') and (Length(Event.Lines) > 0) then
      Inc(Prints);
  finally
    Unlock;
  end;
end;

procedure Signature;
var
  T: TOkcTerminal;
  Rec: TRecorder;
  Ok, No, Pol: TOkcPayResult;
begin
  WriteLn('-- signature (listener ', string(Env('OKC_TEST_LISTENER')), ')');
  Rec := TRecorder.Create;
  T := TOkcTerminal.Create(Env('OKC_TEST_SIGNATURE'), Env('OKC_TEST_LISTENER'), Rec.OnEvent);
  try
    Check(T.ListenerAddress = Env('OKC_TEST_LISTENER'), 'ListenerAddress ' + string(T.ListenerAddress));
    Rec.Answer := saAccept;
    Ok := T.Payment(500, 'SEK', 'fpc-sign-yes');
    Rec.Lock;
    try
      Check((Rec.Questions = 1) and (Rec.Question <> ''), 'handler asked the signature question: ' + Rec.Question);
      Check(Rec.Displays > 0, Format('display events (%d)', [Rec.Displays]));
      Check(Rec.Prints > 0, 'print event (the merchant copy to sign)');
    finally
      Rec.Unlock;
    end;
    Check(Ok.Approved and (Ok.Status = OKC_OK) and (Ok.Amount = 500), 'answer saAccept → approved 500');

    Sleep(400);
    Rec.Answer := saRefuse;
    No := T.Payment(600, 'SEK', 'fpc-sign-no');
    Check(Rec.Questions = 2, 'asked again for the second payment');
    Check(not No.Approved and (No.Status = OKC_PAY_DECLINED), 'answer saRefuse → not approved (OKC_PAY_DECLINED)');
    Check(Has(No.Reason, 'Signature'), 'reason ' + string(No.Reason));

    { A raising handler: the policy (confirm) answers, the exception is recorded. }
    Sleep(400);
    Rec.Raise_ := True;
    Pol := T.Payment(700, 'SEK', 'fpc-sign-raise');
    Check(Pol.Approved and (Pos('handler bug', T.LastHandlerError) > 0),
      'raising handler: policy confirm, LastHandlerError ' + T.LastHandlerError);
  finally
    T.Free;
    Rec.Free;
  end;
end;

{ ---------------------------------------------------------------- abort }

type
  TPayThread = class(TThread)
  public
    Terminal: TOkcTerminal;
    Result_: TOkcPayResult;
    Error: string;
  protected
    procedure Execute; override;
  end;

procedure TPayThread.Execute;
begin
  try
    Result_ := Terminal.Payment(700, 'SEK', 'fpc-abort');
  except
    on E: Exception do
      Error := E.ClassName + ': ' + E.Message;
  end;
end;

procedure AbortFromAnotherThread;
var
  T: TOkcTerminal;
  Th: TPayThread;
begin
  WriteLn('-- abort from another thread');
  T := TOkcTerminal.Create(Env('OKC_TEST_SLOW'));
  Th := TPayThread.Create(True);
  try
    Th.Terminal := T;
    Th.Start;
    Sleep(600);
    T.Abort;
    Th.WaitFor;
    Check(Th.Error = '', 'Payment returned a result ' + Th.Error);
    Check(not Th.Result_.Approved and (Th.Result_.Status = OKC_PAY_DECLINED), 'aborted payment is a not-approved result');
    Check(Has(Th.Result_.Reason, 'Aborted'), 'reason ' + string(Th.Result_.Reason));
  finally
    Th.Free;
    T.Free;
  end;
end;

{ ---------------------------------------------------------------- errors }

procedure Errors;
var
  T: TOkcTerminal;
begin
  WriteLn('-- errors');
  try
    TOkcTerminal.CreateFromConfig('{"terminal":"nexo+http://127.0.0.1:9","bogus":1}').Free;
    Check(False, 'unknown config key: no exception');
  except
    on E: Exception do
      CheckError(E, EOkcConfig, OKC_ERR_CONFIG, 'unknown config key');
  end;
  T := TOkcTerminal.CreateFromConfig('{"terminal":"nexo+http://127.0.0.1:9"}');
  try
    try
      T.Payment(100, 'SEK', 'fpc-unreachable');
      Check(False, 'unreachable terminal: no exception');
    except
      on E: Exception do
        CheckError(E, EOkcNoDevice, OKC_ERR_NO_DEVICE, 'unreachable terminal');
    end;
  finally
    T.Free;
  end;
end;

{ ---------------------------------------------------------------- journal: Confirm / Pending }

function TempFile(const Name: string): TOkcString;
var
  F: string;
begin
  F := IncludeTrailingPathDelimiter(GetTempDir) + 'okclink-fpc-' + IntToStr(GetProcessID) + '-' + Name + '.sqlite';
  DeleteFile(F);
  Result := TOkcString(F);
end;

procedure RemoveJournal(const F: TOkcString);
begin
  DeleteFile(string(F));
  DeleteFile(string(F) + '-wal');
  DeleteFile(string(F) + '-shm');
  DeleteFile(string(F) + '-journal');
end;

procedure JournalConfirm;
var
  T: TOkcTerminal;
  R: TOkcPayResult;
  P: TOkcString;
begin
  WriteLn('-- journal: Confirm / Pending');
  T := TOkcTerminal.CreateFromConfig('{"terminal":"' + Env('OKC_TEST_TERMINAL') + '?poiid=FPC-JRN","journal":"' +
    TempFile('pay-journal') + '"}');
  try
    Check(T.Pending = '[]', 'Pending of a fresh journal: []');
    R := T.Payment(990, 'SEK', 'fpc-jrn-1');
    Check(R.Approved, 'payment approved');
    P := T.Pending;
    Check(Has(P, '"fpc-jrn-1"') and Has(P, '"answered"'), 'Pending lists the unconfirmed result: ' + string(Copy(P, 1, 100)));
    T.Confirm('fpc-jrn-1');
    Check(T.Pending = '[]', 'after Confirm: []');
    T.Confirm('fpc-jrn-1');
    Check(True, 'Confirm again: idempotent');
    try
      T.Confirm('fpc-jrn-unknown');
      Check(False, 'Confirm of an unknown reference: no exception');
    except
      on E: Exception do
        CheckError(E, EOkcInvalidArgument, OKC_ERR_INVALID_ARGUMENT, 'Confirm of an unknown reference');
    end;
    T.Close;
    try
      T.Pending;
      Check(False, 'Pending after Close: no exception');
    except
      on E: Exception do
        CheckError(E, EOkcClosed, OKC_ERR_CLOSED, 'Pending after Close');
    end;
  finally
    T.Free;
    RemoveJournal(TOkcString(IncludeTrailingPathDelimiter(GetTempDir) + 'okclink-fpc-' + IntToStr(GetProcessID) + '-pay-journal.sqlite'));
  end;
end;

{ ---------------------------------------------------------------- fuel orders }

{ The first "key":"value" string field of a JSON text (the tests' only need). }
function Field(const J, Key: TOkcString): TOkcString;
var
  K: TOkcString;
  I, E: Integer;
begin
  Result := '';
  K := '"' + Key + '":"';
  I := Pos(K, J);
  if I = 0 then
    Exit;
  Inc(I, Length(K));
  E := I;
  while (E <= Length(J)) and (J[E] <> '"') do
    Inc(E);
  Result := Copy(J, I, E - I);
end;

procedure Energy;
var
  Url, All, One, Id, Lk, Paid: TOkcString;
  O, B: TOkcOrders;
  Ok, No: TOkcTerminal;
  S, D: TOkcOrderSale;

  { Call must raise C with Status and, if Code <> 0, CloudCode. }
  procedure Expect(C: ExceptClass; Status, Code: Integer; const What: string; Call: Integer);
  begin
    try
      case Call of
        0: O.Get('no-such-order');
        1: B.Lock(Id);
        2: O.Lock(D.OrderId);
        3: O.Sell(Ok, '34ABC123');
        4: O.List;
        5: O.Get(Id);
        6: TOkcOrders.CreateFromConfig('{"energy_url":"' + Url + '","bogus":1}').Free;
      end;
    except
      on E: Exception do
      begin
        CheckError(E, C, Status, What);
        if Code <> 0 then
          Check((E is EOkcError) and (EOkcError(E).CloudCode = Code),
            Format('%s: CloudCode %d', [What, Code]));
        Exit;
      end;
    end;
    Check(False, What + ': no exception');
  end;

begin
  Url := Env('OKC_TEST_ENERGY_URL');
  WriteLn('-- energy orders (', string(Url), ')');
  O := nil;
  B := nil;
  Ok := nil;
  No := nil;
  try
    O := TOkcOrders.Create(Url, 'VT00000000001', 'demo', 'demo', TempFile('energy-vt1'));
    B := TOkcOrders.CreateFromConfig('{"energy_url":"' + Url + '","energy_terminal":"VT00000000002",' +
      '"tokenx_client_id":"demo","tokenx_client_secret":"demo","journal":"' + TempFile('energy-vt2') + '"}');
    Ok := TOkcTerminal.Create(Env('OKC_TEST_TERMINAL') + '?poiid=FPC-FUEL');
    No := TOkcTerminal.Create(Env('OKC_TEST_DECLINE') + '?poiid=FPC-FUEL');

    All := O.List('OPEN');
    Check((Copy(All, 1, 1) = '[') and Has(All, '"34ABC123"') and Has(All, '"06XYZ42"'), 'List(OPEN) shows both fuelled orders');
    One := O.List('', '34abc123');
    Check(Has(One, '152340') and not Has(One, '06XYZ42'), 'List(plate) shows only 34ABC123 (152340 kurus)');
    Id := Field(One, 'orderId');
    Check((Id <> '') and Has(O.Get(Id), 'pumpTerminalId'), 'Get(' + string(Id) + ')');

    { cloud refusals }
    Expect(EOkcRejected, OKC_ERR_REJECTED, 1006, 'Get of an unknown order', 0);
    Lk := O.Lock(Id);
    Check(Has(Lk, '"lockedBy":"VT00000000001"') and Has(Lk, 'lockToken'), 'Lock: ' + string(Lk));
    Expect(EOkcRejected, OKC_ERR_REJECTED, 1018, 'Lock of an order another terminal holds', 1);
    Check(Field(O.Unlock(Id), 'state') = 'OPEN', 'Unlock: the order is OPEN again');

    { the forecourt flow }
    S := O.Sell(Ok, '34ABC123');
    Check((S.Status = OKC_OK) and (S.State = 'completed'), 'Sell approved: completed (' + string(S.State) + ', ' + string(S.Reason) + ')');
    Check((S.OrderId = Id) and (S.Amount = 152340) and (S.Plate = '34ABC123') and Has(S.Json, 'receipt'),
      'Sell: order, amount, plate, receipt');
    D := O.Sell(No, '06XYZ42');
    Check((D.Status = OKC_ENERGY_UNLOCKED) and (D.State = 'unlocked') and (D.Card = 'not_approved'),
      'Sell declined: unlocked, card not_approved (' + string(D.State) + ', ' + string(D.Card) + ')');
    Check(Copy(D.Reason, 1, 8) = 'declined', 'reason ' + string(D.Reason));
    Check(Field(O.Get(D.OrderId), 'state') = 'OPEN', 'the declined order is OPEN again');
    Expect(EOkcNotFound, OKC_ERR_NOT_FOUND, 0, 'Sell of a plate with no open order', 3);

    { cash on the other terminal; then the order is not open any more }
    Paid := B.Pay(D.OrderId, 'fpc-cash-1');
    Check(Has(Paid, '"replayed":false') and (Has(Paid, 'PAID') or Has(Paid, 'COMPLETED')), 'Pay (cash)');
    Expect(EOkcRejected, OKC_ERR_REJECTED, 1105, 'Lock of a paid order', 2);
    Check(O.Recover(Ok) = '[]', 'Recover: nothing left');

    O.Close;
    O.Close;
    Expect(EOkcClosed, OKC_ERR_CLOSED, 0, 'List after Close', 4);
    Expect(EOkcClosed, OKC_ERR_CLOSED, 0, 'Get after Close', 5);
    Expect(EOkcConfig, OKC_ERR_CONFIG, 0, 'unknown config key', 6);
  finally
    No.Free;
    Ok.Free;
    B.Free;
    O.Free;
    RemoveJournal(TempFile('energy-vt1'));
    RemoveJournal(TempFile('energy-vt2'));
  end;
end;

begin
  try
    Approve;
    Decline;
    Signature;
    AbortFromAnotherThread;
    Errors;
    JournalConfirm;
    Energy;
  except
    on E: Exception do
    begin
      WriteLn('FAIL unexpected exception ', E.ClassName, ': ', E.Message);
      Inc(Failures);
    end;
  end;
  if Failures = 0 then
    WriteLn('fpc pay: all ', Checks, ' checks passed')
  else
    WriteLn('fpc pay: ', Failures, ' of ', Checks, ' check(s) failed');
  Halt(Ord(Failures <> 0));
end.
