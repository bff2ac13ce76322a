"""HTTP layer: one blueprint per audience. Each feature module appends its blueprint here."""
from __future__ import annotations

from flask import Blueprint

from . import (activation, backchannel_logout, console_auth, language, phone, postal, privacy, recovery,
               registration, review, status_page, supervision, viewer)
from ..documents.efirma import views as efirma
from ..documents.reading import views as lectura

BLUEPRINTS: tuple[Blueprint, ...] = (registration.bp, activation.bp, recovery.bp, console_auth.bp,
                                     backchannel_logout.bp, review.bp,
                                     supervision.bp, viewer.bp, status_page.bp, privacy.bp, postal.bp, language.bp,
                                     efirma.bp, lectura.bp, phone.bp)
