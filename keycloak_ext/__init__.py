"""The project's only door to Keycloak: gateway, catalog, realm provisioning."""
from .catalog import REVIEWER_ROLE, STATUSES, USER_TYPES, UserType
from .errors import AccountConflict, AccountNotFound, IdentityError, IdentityRejected, IdentityUnavailable
from .gateway import Account, KeycloakGateway
from .settings import KeycloakSettings

__all__ = [
    "Account", "AccountConflict", "AccountNotFound", "IdentityError", "IdentityRejected",
    "IdentityUnavailable", "KeycloakGateway", "KeycloakSettings", "REVIEWER_ROLE", "STATUSES",
    "USER_TYPES", "UserType",
]
