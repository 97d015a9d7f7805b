"""Static files for production: `manage.py collectstatic` writes each file under a name with
the hash of its content (`js/live.3f2a1b9c0d4e.js`) and Brotli and gzip copies beside it, so
they can be cached for a year and served compressed, by servestatic or by nginx
(`gzip_static`, `brotli_static`).

The scripts are native ES modules that import each other by relative path (`import { on }
from "./bus.js"`). A browser keys modules by URL: a page that loads `live.<hash>.js` while
`composer.js` imports `./live.js` would run two copies of live.js (two sockets). Django's
`support_js_module_import_aggregation` rewrites those imports to the hashed names too, so
every module is loaded once under one URL (tests/browser/test_deploy.py checks it)."""

from __future__ import annotations

from servestatic.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
