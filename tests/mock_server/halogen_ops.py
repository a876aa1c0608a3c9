"""Halogen operations answered with fake data shaped like the schemas in
spec/reference/halogen-wallet-openapi.yml. Stateless on purpose: the same
request always gets the same kind of answer, whatever ran before it.

Fixture accounts:
  account_123  single, fundmanagement, cash 100000.00, portfolio 75000.25
  account_456  joint,  mandate        (commands -> 412 ErrActionNotAllowedForAccountType)
  account_789  single, dim, cash 100.00, portfolio 0 (canRedeem false)
Funds: fund_abc, fund_def. Request "req_cancelled" is gone (410).
"""

import secrets
import string


class HalogenError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self):
        return {"statusCode": self.status, "code": self.code, "message": self.message}


# (status, code, message template) from the yaml's components/examples, plus
# the auth codes docs/protocols.md names.
ERRORS = {
    "ErrMissingParameter": (400, "ErrMissingParameter", "{field} is required."),
    "ErrInvalidParameter": (400, "ErrInvalidParameter", "{field} is invalid."),
    "ErrInvalidDateRange": (400, "ErrInvalidDateRange", "fromDate must be earlier than toDate."),
    "ErrInsufficientBalance": (400, "ErrInsufficientBalance", "insufficient balance."),
    "ErrMissingAuthToken": (401, "ErrMissingAuthToken", "{detail}"),
    "ErrInvalidAuthToken": (401, "ErrInvalidAuthToken", "{detail}"),
    "ErrInvalidAuthSignature": (401, "ErrInvalidAuthSignature", "{detail}"),
    "ErrExpiredAuthToken": (401, "ErrExpiredAuthToken", "{detail}"),
    "ErrUnauthorizedIPAddress": (401, "ErrUnauthorizedIPAddress", "IP address is not authorized."),
    "ErrInsufficientAccess": (403, "ErrInsufficientAccess", ""),
    "ErrMissingResource": (404, "ErrMissingResource", "The {resource} does not exist."),
    "ErrCancelledRequest": (410, "ErrCancelledRequest", "The request has been cancelled."),
    "ErrActionNotAllowedForAccountType": (412, "ErrActionNotAllowedForAccountType",
                                          "Action not allowed for this account type."),
    "ErrRateLimitExceeded": (429, "ErrRateLimitExceeded", "rate limit exceeded."),
    "ErrInternal": (500, "ErrInternal", ""),
    "ErrServiceUnavailable": (503, "ErrServiceUnavailable", ""),
}

STATUS_DEFAULT_CODE = {400: "ErrInvalidParameter", 401: "ErrInvalidAuthToken",
                       403: "ErrInsufficientAccess", 404: "ErrMissingResource",
                       410: "ErrCancelledRequest", 412: "ErrActionNotAllowedForAccountType",
                       429: "ErrRateLimitExceeded", 500: "ErrInternal",
                       503: "ErrServiceUnavailable"}


def error(name, **fmt) -> HalogenError:
    status, code, template = ERRORS[name]
    fmt.setdefault("detail", "")
    fmt.setdefault("field", "parameter")
    fmt.setdefault("resource", "resource")
    return HalogenError(status, code, template.format(**fmt))


def error_for_status(status) -> HalogenError:
    """The Halogen body a fault `status:N` answers with."""
    name = STATUS_DEFAULT_CODE.get(status)
    if name is None:
        return HalogenError(status, "ErrInternal", "")
    return error(name, field="parameter", resource="resource")


ACCOUNTS = {
    "account_123": dict(type="single", name="Investment Account", experience="fundmanagement",
                        portfolioValue=75000.25, exposurePercentage=50.0, cash=100000.00),
    "account_456": dict(type="joint", name="Joint Account", experience="mandate",
                        portfolioValue=75000.25, exposurePercentage=50.0, cash=100000.00),
    "account_789": dict(type="single", name="Starter Account", experience="dim",
                        portfolioValue=0.0, exposurePercentage=0.0, cash=100.00),
}

FUNDS = {
    "fund_abc": dict(name="Halogen Shariah Money Market Fund", code="HSMMF", riskRating="low",
                     nav=1.0231, classes=[dict(sequence=1, label="MYR", baseCurrency="MYR",
                                               managementFee=0.45, minimumInitialInvestment=100)]),
    "fund_def": dict(name="Halogen Global Equity Fund", code="HGEF", riskRating="high",
                     nav=0.8734, classes=[dict(sequence=1, label="MYR", baseCurrency="MYR",
                                               managementFee=1.5, minimumInitialInvestment=1000),
                                          dict(sequence=2, label="USD", baseCurrency="USD",
                                               managementFee=1.5, minimumInitialInvestment=500)]),
}


# ---------------------------------------------------------------- helpers

def _require(payload, field, kind=str):
    if field not in payload or payload[field] in (None, ""):
        raise error("ErrMissingParameter", field=field)
    value = payload[field]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise error("ErrInvalidParameter", field=field)
    elif not isinstance(value, kind):
        raise error("ErrInvalidParameter", field=field)
    return value


def _account(payload, command=False):
    account_id = _require(payload, "accountId")
    account = ACCOUNTS.get(account_id)
    if account is None:
        raise error("ErrMissingResource", resource="account")
    if command and account["type"] == "joint":
        raise error("ErrActionNotAllowedForAccountType")
    return account_id, account


def _fund(payload):
    fund_id = _require(payload, "fundId")
    if fund_id not in FUNDS:
        raise error("ErrMissingResource", resource="fund")
    return fund_id, FUNDS[fund_id]


def _public_account(account_id, account):
    public = {k: v for k, v in account.items() if k != "cash"}
    return dict(id=account_id, **public, canInvest=account["cash"] > 0,
                canRedeem=account["portfolioValue"] > 0)


def _public_fund(fund_id, fund):
    return dict(id=fund_id, **{k: v for k, v in fund.items() if k != "nav"})


def _request_id():
    alphabet = string.ascii_lowercase + string.digits
    return "req_" + "".join(secrets.choice(alphabet) for _ in range(12))


# ---------------------------------------------------------------- queries

def list_client_accounts(payload):
    wanted = payload.get("accountIds")
    if wanted is not None and not (isinstance(wanted, list)
                                   and all(isinstance(a, str) for a in wanted)):
        raise error("ErrInvalidParameter", field="accountIds")
    accounts = [_public_account(i, a) for i, a in ACCOUNTS.items()
                if wanted is None or i in wanted]
    return {"amount": round(sum(a["portfolioValue"] for a in accounts), 2), "asset": "MYR",
            "canCreateAccount": True, "accounts": accounts}


def get_client_profile(payload):
    return {"name": "Test Client", "email": "client@example.com",
            "permanentAddress": {"type": "permanent", "line1": "1 Jalan Example",
                                 "line2": "", "city": "Kuala Lumpur", "postcode": "50450",
                                 "state": "Wilayah Persekutuan", "country": "MY"}}


def get_fund(payload):
    return {"fund": _public_fund(*_fund(payload))}


def list_funds_for_subscription(payload):
    _account(payload)
    return {"funds": [_public_fund(i, f) for i, f in FUNDS.items()]}


def get_projected_fund_price(payload):
    _, fund = _fund(payload)
    return {"netAssetValuePerUnit": fund["nav"]}


def list_client_account_balance(payload):
    _, account = _account(payload)
    return {"balance": [{"fundId": "fund_abc", "value": account["portfolioValue"]}]}


def get_preview_invest(payload):
    _account(payload)
    _fund(payload)
    amount = _require(payload, "amount", float)
    fee = round(amount * 0.01, 2)
    return {"feeAmount": fee, "postFeeAmount": round(amount - fee, 2)}


def list_client_account_requests(payload):
    _account(payload)
    return {"requests": [{"id": "req_abc123xyz789", "type": "investment", "status": "completed",
                          "amount": 10000.0, "createdAt": "2024-11-07T16:07:31Z"}]}


def list_client_bank_accounts(payload):
    return {"bankAccounts": [{"accountNumber": "1234567890", "accountName": "Test Client",
                              "accountCurrency": "MYR", "accountType": "savings",
                              "bankName": "Example Bank", "bankBic": "EXMBMYKL",
                              "referenceNumber": "", "imageUrl": "", "status": "verified",
                              "source": "manual", "createdAt": "2024-01-01T00:00:00Z",
                              "createdBy": "client"}]}


def get_client_referral(payload):
    return {"referralCode": "HALO1234", "referredClientsCount": 2}


def list_payment_methods(payload):
    return {"duitnow": True, "bankTransfer": True}


def get_voucher(payload):
    _account(payload)
    code = _require(payload, "voucherCode")
    return {"valid": code.upper() == "WELCOME", "feeAmount": 0.0}


def get_request_by_duitnow_end_to_end_id(payload):
    _account(payload)
    _require(payload, "endToEndId")
    return {"requestId": "req_abc123xyz789"}


def _statement(payload):
    _account(payload)
    return {"filename": "statement.pdf", "bytes": "JVBERi0xLjQKJcfsj6IK"}


def get_client_account_allocation_performance(payload):
    _account(payload)
    return {"performance": [{"date": "2024-11-01", "value": 1.0231}]}


def get_client_account_request_policy(payload):
    _account(payload)
    return {"groups": []}


def _listing(key):
    return lambda payload: {key: []}


# ---------------------------------------------------------------- commands

def create_investment_request(payload):
    _, account = _account(payload, command=True)
    amount = _require(payload, "amount", float)
    if amount > account["cash"]:
        raise error("ErrInsufficientBalance")
    return {"requestId": _request_id()}


def create_redemption_request(payload):
    _, account = _account(payload, command=True)
    amount = _require(payload, "requestedAmount", float)
    if amount > account["portfolioValue"]:
        raise error("ErrInsufficientBalance")
    return {"requestId": _request_id()}


def create_withdrawal_request(payload):
    _, account = _account(payload, command=True)
    if _require(payload, "amount", float) > account["cash"]:
        raise error("ErrInsufficientBalance")
    return {"requestId": _request_id()}


def create_deposit_request(payload):
    _account(payload, command=True)
    _require(payload, "amount", float)
    return {"requestId": _request_id()}


def create_switch_request(payload):
    _account(payload, command=True)
    for field in ("switchFromFundId", "switchToFundId"):
        if _require(payload, field) not in FUNDS:
            raise error("ErrMissingResource", resource="fund")
    return {"requestId": _request_id()}


def create_request_cancellation(payload):
    _account(payload, command=True)
    if _require(payload, "requestId") == "req_cancelled":
        raise error("ErrCancelledRequest")
    return {}


def create_duitnow_payment(payload):
    _account(payload, command=True)
    request_id = _require(payload, "requestId")
    return {"url": "https://duitnow.example/pay/" + request_id}


def create_suitability_assessment(payload):
    _require(payload, "suitabilityAssessment", dict)
    return {"suitabilityAssessmentId": "sa_" + _request_id()[4:]}


def _empty_command(*required):
    def command(payload):
        for field in required:
            _require(payload, field, object)
        return {}
    return command


QUERIES = {
    "list_client_accounts": list_client_accounts,
    "get_client_profile": get_client_profile,
    "get_fund": get_fund,
    "get_request_by_duitnow_endToEndId": get_request_by_duitnow_end_to_end_id,
    "get_client_account_allocation_performance": get_client_account_allocation_performance,
    "get_client_account_statement": _statement,
    "get_client_account_request_confirmation": _statement,
    "get_client_referral": get_client_referral,
    "get_client_account_request_policy": get_client_account_request_policy,
    "list_funds_for_subscription": list_funds_for_subscription,
    "list_client_account_balance": list_client_account_balance,
    "list_client_account_requests": list_client_account_requests,
    "list_client_bank_accounts": list_client_bank_accounts,
    "list_display_currencies": lambda p: {"currencies": [{"code": "MYR"}, {"code": "USD"}]},
    "list_client_suitability_assessments": _listing("assessments"),
    "list_duitnow_banks": _listing("banks"),
    "list_invest_consents": _listing("consents"),
    "list_banks": lambda p: {"banks": [{"name": "Example Bank", "bic": "EXMBMYKL"}]},
    "list_client_account_mandate_requests": _listing("requests"),
    "list_client_promos": _listing("promos"),
    "list_client_account_performance": _listing("performance"),
    "list_payment_methods": list_payment_methods,
    "get_voucher": get_voucher,
    "get_preview_invest": get_preview_invest,
    "get_projected_fund_price": get_projected_fund_price,
}

COMMANDS = {
    "create_investment_request": create_investment_request,
    "create_redemption_request": create_redemption_request,
    "create_switch_request": create_switch_request,
    "create_request_cancellation": create_request_cancellation,
    "create_withdrawal_request": create_withdrawal_request,
    "create_deposit_request": create_deposit_request,
    "create_suitability_assessment": create_suitability_assessment,
    "create_client_bank_account": _empty_command("bankAccount"),
    "update_display_currency": _empty_command("displayCurrency"),
    "update_account_name": _empty_command("accountId", "accountName"),
    "create_duitnow_payment": create_duitnow_payment,
    "update_persona_title": _empty_command("title"),
    "update_client_profile": _empty_command("ethnicity"),
}
