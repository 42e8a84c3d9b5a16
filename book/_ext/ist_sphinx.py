"""Three fixes for the HTML the book's theme writes, found by the browser check.

- Sphinx loads MathJax only on pages whose equations it registered, and the math of
  executed notebooks is not registered: pages showed raw ``\\(Y\\)``. Load its assets
  on every page.
- sphinx-thebe adds its configuration script to every page twice, and the second copy
  fails with "Identifier 'THEBE_JS_URL' has already been declared": keep one of each.
- pydata-sphinx-theme logs "Got invalid theme mode" on a first visit when no default
  mode is configured: default to light.
"""


def _unique_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # an inline script is added once with filename None and once with "": the same
        key = (getattr(script, "filename", script) or "",
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # in place: the list is the builder's, to which later handlers (MathJax) still add
    context["script_files"][:] = unique


def _default_mode(app, config):
    config.html_context = {**(config.html_context or {}), "default_mode": "light"}


def setup(app):
    app.set_html_assets_policy("always")
    app.connect("config-inited", _default_mode)
    # early: a later handler may return a template name, which ends the event
    app.connect("html-page-context", _unique_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


