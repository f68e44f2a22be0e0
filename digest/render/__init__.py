"""Render: Issue → email (Jinja2 → MJML → HTML, CSS inlined) and its text part; email checks."""
