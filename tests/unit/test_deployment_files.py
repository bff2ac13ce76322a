"""The production-like compose file stays consistent with the code (it cannot be run here)."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_declares_every_component():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "keycloak", "s3", "mail", "provision", "registro", "modulo"):
        assert name in services
    assert services["keycloak"]["image"].endswith(":26.7.3"), "same Keycloak version as the Makefile"
    assert "26.7.3" in (ROOT / "Makefile").read_text()


def test_compose_holds_no_secrets():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in compose["services"].values():
        env = service.get("environment") or {}
        for key, value in env.items():
            if any(word in key for word in ("SECRET", "PASSWORD")):
                assert str(value).startswith("${"), f"{key} must come from the environment"
