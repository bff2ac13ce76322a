"""`python -m tools.stack up|down|run|test|reset|env [profile]` — the verbs behind the Makefile."""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading

from .profiles import ROOT, Profile
from .runner import Stack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack")
    parser.add_argument("verb", choices=["up", "down", "run", "test", "reset", "env", "urls", "backup", "restore",
                                          "render-deploy", "restart"])
    parser.add_argument("--profile", choices=["run", "test", "prod", "prodtest"], default="run")
    parser.add_argument("--archive", help="restore: the archive written by `backup`")
    parser.add_argument("--servicio", help="restart: the one process to restart (prod profiles)")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    profile = Profile.named("test" if args.verb == "test" else args.profile)
    if args.verb in ("backup", "restore") and not profile.production:
        parser.error("backup y restore son para los perfiles prod y prodtest")
    stack = Stack(profile)
    try:
        if args.verb == "up":
            stack.up()
            print_urls(stack)
        elif args.verb == "down":
            stack.down()
        elif args.verb == "reset":
            stack.reset_data()
            print(f"datos de la pila «{profile.name}» borrados ({profile.data})")
        elif args.verb == "env":
            import shlex

            for key, value in sorted(profile.service_env().items()):
                print(f"export {key}={shlex.quote(value)}")
        elif args.verb == "urls":
            print_urls(stack)
        elif args.verb == "run":
            return run_until_interrupted(stack)
        elif args.verb == "test":
            return run_all_tests(args.pytest_args)
        elif args.verb == "restart":
            from .prod import restart

            if not profile.production or not args.servicio:
                parser.error("restart necesita un perfil prod o prodtest y --servicio")
            restart(stack, args.servicio)
            print(f"{args.servicio} reiniciado")
        elif args.verb == "render-deploy":
            from .prod import render_deploy

            print(f"escrito {render_deploy()}")
        elif args.verb == "backup":
            from .backup import backup

            print(f"respaldo escrito: {backup(stack)}")
        elif args.verb == "restore":
            from pathlib import Path

            from .backup import restore

            if not args.archive:
                parser.error("restore necesita --archive")
            restore(stack, Path(args.archive))
            print_urls(stack)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def print_urls(stack: Stack) -> None:
    width = max(len(label) for label, _ in stack.urls())
    print()
    for label, url in stack.urls():
        print(f"  {label:<{width}}  {url}")
    print()


def run_until_interrupted(stack: Stack) -> int:
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    stack.up()
    print_urls(stack)
    print("Para entrar a la consola de validación cree un revisor: make add-reviewer USUARIO=… CORREO=…")
    print("Ctrl-C (o `make stop` en otra terminal) detiene todo.", flush=True)
    while not stopping.wait(2.0):
        dead = [name for name in stack.services if stack.pid_of(name) is None]
        if dead:
            print(f"se detuvo: {', '.join(dead)}; deteniendo la pila", file=sys.stderr)
            break
    stack.down()
    print("pila detenida")
    return 0


PRODUCTION_TESTS = "tests/production"
PRODUCTION_PATHS = (PRODUCTION_TESTS, "benchmarks/bench_prod")


def split_test_args(pytest_args: list[str]) -> tuple[list[str] | None, list[str] | None]:
    """Which arguments go to the suite on the `test` stack and which to the production tests on
    their own `prodtest` stack (None: that run is not wanted). Paths are routed; every other
    argument (options and their values) goes to both, in its place."""
    def is_path(arg: str) -> bool:
        return not arg.startswith("-") and (ROOT / arg.split("::")[0]).exists()

    def production(arg: str) -> bool:
        return arg.startswith(PRODUCTION_PATHS)

    paths = [a for a in pytest_args if is_path(a)]
    if not paths:
        return [*pytest_args, f"--ignore={PRODUCTION_TESTS}"], [*pytest_args, PRODUCTION_TESTS]
    main = [a for a in pytest_args if not (is_path(a) and production(a))]
    prod = [a for a in pytest_args if not (is_path(a) and not production(a))]
    return (main if any(is_path(a) and not production(a) for a in paths) else None,
            prod if any(production(a) for a in paths) else None)


def run_all_tests(pytest_args: list[str]) -> int:
    """The main suite on a fresh `test` stack, then the production tests on a fresh `prodtest`
    stack (the topology of `make prod-up`), one after the other so they never compete for CPU."""
    main, prod = split_test_args(pytest_args)
    rc = 0
    if main is not None:
        rc = run_tests(Stack(Profile.named("test")), main)
    if prod is not None:
        rc = run_tests(Stack(Profile.named("prodtest")), prod) or rc
    return rc


def run_tests(stack: Stack, pytest_args: list[str]) -> int:
    """Fresh data, the stack up, pytest, and the stack down whatever happened."""
    stack.reset_data()
    try:
        stack.up()
        # Apps built inside pytest deliver their emails in the caller's thread: hundreds of test apps
        # must not each start an outbox worker and a reconciler (the stack's own registro runs them).
        env = {**stack.env, "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}", "OUTBOX_BACKGROUND": "false"}
        return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    finally:
        stack.down()


if __name__ == "__main__":
    sys.exit(main())
