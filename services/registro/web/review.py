"""Placeholder: the review feature arrives with its issue."""
from flask import Blueprint

bp = Blueprint("review", __name__)
