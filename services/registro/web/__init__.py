"""HTTP layer: one blueprint per audience. Each feature module appends its blueprint here."""
from __future__ import annotations

from flask import Blueprint

from . import activation, recovery, registration, review, viewer

BLUEPRINTS: tuple[Blueprint, ...] = (registration.bp, activation.bp, recovery.bp, review.bp, viewer.bp)
