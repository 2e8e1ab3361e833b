"""Figures (matplotlib) and the HTML report (jinja2)."""
