"""The platform floor: what every feature stands on (database, outbox). Nothing here imports a
feature, the web layer or the container."""
