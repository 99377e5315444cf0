from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files, with ES module imports rewritten to the hashed names.

    Without the rewrite, `chat.<hash>.js` would import the unhashed `stream.js`,
    which cannot be cached forever and may be stale after a deploy.
    """

    support_js_module_import_aggregation = True
