"""HTTP layer shared by every feature: errors, security headers, health, pages, the language choice, the
forms' base. Each feature package holds its own views; `blueprints.py` lists them for the app."""
