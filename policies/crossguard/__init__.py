"""The CrossGuard policy pack. Policies live in rules.py (importable, no server); __main__.py serves them."""
