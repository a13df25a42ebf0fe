"""The API's closed error tree: statuses, codes and the JSON body shape."""

from __future__ import annotations

import pytest

from api.exceptions import (
    ALL_ERRORS,
    ApiError,
    InvalidParameterError,
    QuotesOutdatedError,
)

# The table of spec section 2 ("Errors"), copied by hand on purpose: if the
# code drifts from the contract, this test is where it shows.
SPEC_TABLE = {
    "InvalidParameterError": (400, "invalid_parameter"),
    "MissingParameterError": (400, "missing_parameter"),
    "InvalidAmountError": (400, "invalid_amount"),
    "InvalidTimestampError": (400, "invalid_timestamp"),
    "UnknownCurrencyError": (404, "unknown_currency"),
    "PairNotFoundError": (404, "pair_not_found"),
    "QuotesNotFoundError": (404, "quotes_not_found"),
    "RateBelowPrecisionError": (422, "rate_below_precision"),
    "QuotesOutdatedError": (503, "quotes_outdated"),
    "QuotesUnavailableError": (503, "quotes_unavailable"),
    "NotFoundError": (404, "not_found"),
    "MethodNotAllowedError": (405, "method_not_allowed"),
    # Oversized requests (issue #14): the set grew by these two, documented in the README.
    "PayloadTooLargeError": (413, "payload_too_large"),
    "HeadersTooLargeError": (431, "headers_too_large"),
    "InternalError": (500, "internal_error"),
}


def test_registry_matches_spec_table() -> None:
    """ALL_ERRORS is exactly the spec's closed set of (status, code) pairs."""
    assert {cls.__name__: (cls.status, cls.code) for cls in ALL_ERRORS} == SPEC_TABLE
    assert len(ALL_ERRORS) == len(SPEC_TABLE)


def test_registry_holds_every_subclass() -> None:
    """Every direct subclass of ApiError is registered, so none can escape the table."""
    assert set(ApiError.__subclasses__()) == set(ALL_ERRORS)


def test_codes_are_unique() -> None:
    """No two errors share a code, so clients can switch on it."""
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_default_message_is_one_sentence(cls: type[ApiError]) -> None:
    """Each error has its own default message: one sentence, no details."""
    error = cls()
    assert error.message == cls.default_message
    assert error.message[0].isupper()
    assert error.message.endswith(".")
    assert error.message.count(". ") == 0
    assert error.to_body() == {"error": cls.code, "message": cls.default_message}


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_names_end_in_error(cls: type[ApiError]) -> None:
    """House style: every error class name ends in Error."""
    assert cls.__name__.endswith("Error")


def test_body_includes_details_only_when_given() -> None:
    """to_body adds "details" exactly when there are some."""
    error = InvalidParameterError("Query parameter 'at' is unknown.", parameter="at")
    assert error.to_body() == {
        "error": "invalid_parameter",
        "message": "Query parameter 'at' is unknown.",
        "details": {"parameter": "at"},
    }
    assert "details" not in InvalidParameterError("No details.").to_body()


def test_message_is_the_exception_text() -> None:
    """str(error) is its message, so logs show the same sentence as the client."""
    error = QuotesOutdatedError("The newest quotes are 90 seconds old.", age_seconds=90)
    assert str(error) == "The newest quotes are 90 seconds old."
    assert error.details == {"age_seconds": 90}


def test_body_details_are_a_copy() -> None:
    """Mutating a returned body cannot change the error it came from."""
    error = QuotesOutdatedError(age_seconds=90)
    body = error.to_body()
    details = body["details"]
    assert isinstance(details, dict)
    details["age_seconds"] = 0
    assert error.details == {"age_seconds": 90}
