"""Baseline security headers for every response; a blueprint may set stricter ones first
(the review console and the activation page do), which are kept."""
from __future__ import annotations

from flask import Flask, Response

# Everything the pages use is served by the service itself: its CSS, registro.js and the
# captcha widget (which solves its proof of work in a Web Worker built from a blob: URL).
def content_security_policy(*, inline_styles: bool = False, connect_src: str = "") -> str:
    """`connect_src`: one more origin scripts may send requests to (the activation page's S3)."""
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    connect = f"'self' {connect_src}" if connect_src else "'self'"
    return (f"default-src 'self'; script-src 'self'; style-src {style}; img-src 'self' data:; "
            f"worker-src 'self' blob:; connect-src {connect}; object-src 'none'; frame-ancestors 'self'; "
            "base-uri 'none'; form-action 'self'")


BASELINE_CSP = content_security_policy()


def register(app: Flask) -> None:
    @app.after_request
    def baseline(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", BASELINE_CSP)
        return response
