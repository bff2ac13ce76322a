"""Placeholder: the activation feature arrives with its issue."""
from flask import Blueprint

bp = Blueprint("activation", __name__)
