"""Reports: inspection reports, monthly service reports and engineer figures, in HTML, Markdown and JSON.

A report is first a plain JSON-able model (built by the inspections service); ``render``
turns that one model into each format, so the figures in the HTML and Markdown are the
figures in the JSON.
"""
