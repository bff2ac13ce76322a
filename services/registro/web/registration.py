"""Placeholder: the registration feature arrives with its issue."""
from flask import Blueprint

bp = Blueprint("registration", __name__)
