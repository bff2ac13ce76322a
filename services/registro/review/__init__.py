"""The review console (SPEC §7): queue, claims, detail and viewer, decisions, supervision, console login."""
