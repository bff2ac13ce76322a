"""Placeholder: the recovery feature arrives with its issue."""
from flask import Blueprint

bp = Blueprint("recovery", __name__)
