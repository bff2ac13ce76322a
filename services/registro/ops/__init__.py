"""Operator commands (`python -m registro.ops.<command>`). The older ones (registro.purge, .datos,
.reindex, .postal) move here next."""
