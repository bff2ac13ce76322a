"""Domain exceptions: callers never see python-keycloak's exception types."""


class IdentityError(Exception):
    """Base class of every failure the gateway reports."""


class IdentityUnavailable(IdentityError):
    """Keycloak could not be reached or answered with a server error; a retry may work."""


class AccountNotFound(IdentityError):
    """The account (or role) does not exist."""


class AccountConflict(IdentityError):
    """An account with the same username or email already exists."""


class IdentityRejected(IdentityError):
    """Keycloak refused the data (user-profile validation, policy); `detail` says why and `fields`
    names the user-profile attributes it refused (empty when Keycloak did not say)."""

    def __init__(self, detail: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = tuple(fields)
