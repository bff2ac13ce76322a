"""The identity port: what the service needs from Keycloak. `KeycloakGateway` implements it."""
from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

from keycloak_ext import Account

UPDATE_PASSWORD = "UPDATE_PASSWORD"  # Keycloak's required action for send_actions_email: set a new password


@runtime_checkable
class IdentityDirectory(Protocol):
    def create_account(self, *, username: str, email: str, first_name: str, last_name: str,
                       attributes: dict[str, str], enabled: bool = False, email_verified: bool = False,
                       groups: tuple[str, ...] = (), recorded: bool = False) -> str:
        """`recorded`: the application's record exists already (a registration's intent): only the
        account is made."""
        ...

    def get_account(self, account_id: str) -> Account: ...

    def find_by_username(self, username: str) -> Account | None: ...

    def find_by_email(self, email: str) -> Account | None: ...

    def find_by_attribute(self, name: str, value: str, *, first: int = 0, max_results: int = 100) -> list[Account]: ...

    def iter_by_attribute(self, name: str, value: str, page_size: int = 200) -> Iterator[Account]: ...

    def count_by_attribute(self, name: str, value: str) -> int: ...

    def update_attributes(self, account_id: str, changes: dict[str, str | None]) -> Account: ...

    def update_account(self, account_id: str, *, enabled: bool | None = None, email_verified: bool | None = None,
                       attributes: dict[str, str | None] | None = None,
                       required_actions: list[str] | None = None, base: Account | None = None) -> Account: ...

    def delete_account(self, account_id: str) -> None: ...

    def assign_realm_role(self, account_id: str, role_name: str) -> None: ...

    def realm_roles_of(self, account_id: str) -> set[str]:
        """Effective realm roles (direct, through groups, composites): what the account's tokens carry."""
        ...

    def password_set_at(self, account_id: str) -> float | None:
        """When the account's password was last set (epoch seconds); None when it has none."""
        ...

    def set_temporary_password(self, account_id: str, password: str) -> None: ...

    def send_actions_email(self, account_id: str, actions: list[str], *, client_id: str | None = None,
                           redirect_uri: str | None = None, lifespan_s: int | None = None) -> None: ...

    def ping(self) -> None: ...
