"""Every blueprint the app registers: each feature package's views, and the shared language choice."""
from __future__ import annotations

from flask import Blueprint

from registro.applicant import privacy_views, status_views
from registro.documents import phone_views
from registro.documents import views as activation
from registro.documents.efirma import views as efirma
from registro.documents.reading import views as lectura
from registro.recovery import views as recovery
from registro.registration import postal_views
from registro.registration import views as registration
from registro.review import backchannel_logout, console_auth, supervision_views, viewer
from registro.review import views as review
from registro.web import language

BLUEPRINTS: tuple[Blueprint, ...] = (registration.bp, activation.bp, recovery.bp, console_auth.bp,
                                     backchannel_logout.bp, review.bp,
                                     supervision_views.bp, viewer.bp, status_views.bp, privacy_views.bp,
                                     postal_views.bp, language.bp, efirma.bp, lectura.bp, phone_views.bp)
