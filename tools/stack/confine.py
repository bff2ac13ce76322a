"""Each process of the production profile sees only its own secrets and runs as its own
unprivileged user, writing private files (issue 21, item 2).

The runner hands every process the stack's whole environment (which pytest and the operator
tools need). A confined service's command line is prefixed with maintained tools that each
`exec` the next, so the service keeps the pid the runner recorded:

    env -u <names carrying other secrets> HOME=<its home>   strips what is not its own
    setpriv --reuid <user> --regid <user> --init-groups     drops root (only when started as root)
    sh -c 'umask 077 && exec "$@"'                          files and folders it makes: 0600/0700

Names are removed, never values written: no secret ever appears on a command line.

A program other users cannot run (a virtualenv made from pyenv's Python under root's 0700 home, as
on the development machines) keeps the stack's user, still with its own secrets and private files;
`effective_user` says so and the profile prints how to fix it.
"""
from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping

from keycloak_ext.shipped_secrets import is_secret_name

from .services import Service


@dataclass(frozen=True)
class Confinement:
    user: str | None  # the account it runs as when the stack is started by root (None: as is)
    secrets: tuple[str, ...] = ()  # the only secret variables it may see
    owned: tuple[Path, ...] = ()  # folders it writes: made, its user's (recursively) and 0700 at each start


def running_as_root() -> bool:
    return os.geteuid() == 0


def ensure_user(name: str) -> None:
    """A system account without a login or home, made once (Debian's packages make theirs the same
    way: postgres, redis, haproxy)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        done = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                               "/nonexistent", "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True)
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise RuntimeError(f"no se pudo crear el usuario {name}: {done.stderr.strip()}")


def own(path: Path, user: str) -> None:
    """`path` and everything below it belongs to `user` (only entries that do not yet are changed)."""
    entry = pwd.getpwnam(user)
    for item in [path, *(path.rglob("*") if path.is_dir() else ())]:
        st = item.lstat()
        if (st.st_uid, st.st_gid) != (entry.pw_uid, entry.pw_gid):
            os.lchown(item, entry.pw_uid, entry.pw_gid)


def hidden_names(env: Mapping[str, str], allowed: Iterable[str], secret_values: Mapping[str, str]) -> list[str]:
    """The variables of `env` a process allowed only `allowed` must not get: every secret-looking
    name not allowed, and every variable whose value carries a secret it is not allowed (a URL
    with a password in it)."""
    allowed = set(allowed)
    foreign = [v for name, v in secret_values.items() if name not in allowed and v]
    return sorted(name for name, value in env.items()
                  if (is_secret_name(name) and name not in allowed) or any(v in value for v in foreign))


def confine(service: Service, rule: Confinement, *, env: Mapping[str, str], secret_values: Mapping[str, str],
            home: Path, log: Path) -> Service:
    """`service` with its command prefixed as the module docstring says, and a prepare step that
    makes its user, its folders and its log private before the runner opens the log."""
    user = effective_user(rule, service.argv[0])
    prefix = ["env", *(a for name in hidden_names(env, rule.secrets, secret_values) for a in ("-u", name)),
              f"HOME={home}"]
    if user:
        prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
    prefix += ["sh", "-c", 'umask 077 && exec "$@"', service.name]
    original = service.prepare

    def prepare() -> None:
        if user:
            ensure_user(user)
        if original:
            original()  # may write files into its folders (a config): owned below
        for folder in (home, *rule.owned):
            folder.mkdir(parents=True, exist_ok=True)
            if user:
                own(folder, user)
            folder.chmod(0o700)
        private_log(log)

    return replace(service, argv=[*prefix, *service.argv], prepare=prepare)


def private_log(log: Path) -> None:
    """The runner appends to the log: made here first, 0600 in a 0700 folder."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.parent.chmod(0o700)
    os.close(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    log.chmod(0o600)




def reachable_by_others(path: Path) -> bool:
    """Whether users other than its owner can execute `path` (every folder on the way included)."""
    real = path.resolve()
    return all(folder.stat().st_mode & 0o001 for folder in real.parents) and bool(real.stat().st_mode & 0o001)


def interpreter_of(program: str) -> Path | None:
    """The interpreter a script names on its first line (#!…), or None for a binary."""
    path = Path(program)
    if not path.is_file():
        return None
    with path.open("rb") as f:
        first = f.readline()
    return Path(first[2:].decode(errors="replace").split()[0]) if first.startswith(b"#!") else None


def effective_user(rule: Confinement, program: str) -> str | None:
    """The user the process will run as: its own, unless the stack is not root (it then runs as the
    stack's user) or its interpreter is out of other users' reach (then too)."""
    if rule.user is None or not running_as_root():
        return None
    interpreter = interpreter_of(program)
    if interpreter is not None and not reachable_by_others(interpreter):
        return None
    return rule.user
