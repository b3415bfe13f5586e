"""Inbound path: normalised webhook items into the store, exactly once, before the platform gets its 200."""
