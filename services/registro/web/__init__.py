"""HTTP layer: one blueprint per audience. Each feature module appends its blueprint here."""
from __future__ import annotations

from flask import Blueprint

from . import activation, language, postal, privacy, recovery, registration, review, status_page

BLUEPRINTS: tuple[Blueprint, ...] = (registration.bp, activation.bp, recovery.bp, review.bp, status_page.bp,
                                     privacy.bp, postal.bp, language.bp)
