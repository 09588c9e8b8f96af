"""The static compatibility report: pandas aggregates the results, jinja2 (autoescaping)
renders pages from reports/templates, and the site is written to a temporary folder and
swapped into place whole."""
