{ The card-payment API of OkcLink.pas (TOkcTerminal over okc_pay_*) against
  `okc sim-terminal --nexo`, started by .ci/test-bindings.sh:
    OKC_TEST_TERMINAL   outcome approve (client-only)
    OKC_TEST_DECLINE    outcome decline
    OKC_TEST_SIGNATURE  outcome signature, calling the POS listener OKC_TEST_LISTENER (IP:PORT)
    OKC_TEST_SLOW       outcome approve, 3 s per payment (abort)
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

begin
  try
    Approve;
    Decline;
    Signature;
    AbortFromAnotherThread;
    Errors;
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
