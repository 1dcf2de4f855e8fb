"""Writes of the strategies app, one module per area (each function keyword-only, named <entity>_<action>)."""
