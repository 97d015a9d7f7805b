"""Settings: everything comes from the environment, with defaults that are safe to run.

With no configuration at all the client runs as one process on SQLite with the in-memory
channel layer, keeping its state in ``WEBCLIENT_DATA_DIR`` (default ``./data``).
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("WEBCLIENT_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """A key from the environment, or one generated once and kept beside the database."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG")
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")

# The homeserver pre-filled on the login page; empty means the user types one.
MATRIX_HOMESERVER = os.environ.get("MATRIX_HOMESERVER", "").strip()
# Seconds a sync loop keeps running after the last browser view of it detached.
MATRIX_SESSION_IDLE_SECONDS = float(os.environ.get("MATRIX_SESSION_IDLE_SECONDS", "120"))
# Long-poll timeout of /sync, in milliseconds.
MATRIX_SYNC_TIMEOUT_MS = int(os.environ.get("MATRIX_SYNC_TIMEOUT_MS", "30000"))
# Seconds to wait for a homeserver before telling the user it is unreachable.
MATRIX_REQUEST_TIMEOUT = float(os.environ.get("MATRIX_REQUEST_TIMEOUT", "20"))
# Events a sync carries per room at most; more since the last sync leave a gap the page fills.
MATRIX_SYNC_TIMELINE_LIMIT = int(os.environ.get("MATRIX_SYNC_TIMELINE_LIMIT", "30"))
# Event tiles a page keeps in its DOM at most (far-off chunks are dropped and reloaded).
MAX_TILES = int(os.environ.get("MAX_TILES", "300"))
# How many events a room page shows on first load.
TIMELINE_PAGE_SIZE = int(os.environ.get("TIMELINE_PAGE_SIZE", "50"))
# What a device's sync loop hands its news to (renders once, fans out to open pages).
MATRIX_SESSION_PUBLISHER = "webclient.live.publisher.DevicePublisher"
# End-to-end encryption: devices of this client decrypt and encrypt (on the server, like
# Pantalaimon; see README "Encryption"). Off: encrypted rooms show "Encrypted message".
E2E_ENABLED = _env_bool("E2E_ENABLED", True)
# The spec's advice since v1.18 (MSC4153): room keys go only to devices their owner
# cross-signed; other devices get `m.room_key.withheld`. True: to every device.
E2E_SHARE_WITH_UNSIGNED_DEVICES = _env_bool("E2E_SHARE_WITH_UNSIGNED_DEVICES", False)
# Key for encrypting access tokens at rest; derived from SECRET_KEY when not set.
TOKEN_ENCRYPTION_KEY = os.environ.get("TOKEN_ENCRYPTION_KEY", "")

# End-to-end encryption: one crypto store per Matrix device (see matrix/crypto/store.py).
# The key its olm pickles and stored secrets are encrypted with: any long random string; a
# key derived from SECRET_KEY when not set. A store cannot be read with another key.
CRYPTO_STORE_KEY = os.environ.get("CRYPTO_STORE_KEY", "")
# Where the stores are kept as files, one per device, when the database is not PostgreSQL
# (with PostgreSQL they are rows in the shared database).
CRYPTO_STORE_DIR = Path(os.environ.get("CRYPTO_STORE_DIR", DATA_DIR / "crypto")).resolve()
# Seconds a process's claim on a device lasts unless renewed (every third of it): exactly one
# process owns a device (syncs, decrypts, renders, publishes); when it dies another takes the
# device over after this long. CRYPTO_LEASE_TTL is the older name of the same setting.
DEVICE_LEASE_TTL = float(
    os.environ.get("DEVICE_LEASE_TTL") or os.environ.get("CRYPTO_LEASE_TTL") or "5"
)
CRYPTO_LEASE_TTL = DEVICE_LEASE_TTL
# Several processes (REDIS_URL): how often a process with open pages of a device another
# process owns checks that owner's lease (a dead owner's devices are taken over within
# DEVICE_LEASE_TTL plus this), and how long a request to the owner may go unanswered (not
# even "working") before the owner counts as gone, and may take in all.
DEVICE_TAKEOVER_POLL = float(os.environ.get("DEVICE_TAKEOVER_POLL", "1"))
DEVICE_REQUEST_SILENCE = float(os.environ.get("DEVICE_REQUEST_SILENCE", "4"))
DEVICE_REQUEST_TIMEOUT = float(os.environ.get("DEVICE_REQUEST_TIMEOUT", "90"))

# Embedding (/embed/<room>/) and kiosk screens (/kiosk/<token>/); see README "Embedding".
# Origins (scheme://host[:port]) whose pages may frame /embed/ pages; every other page of
# the client stays unframeable. Empty: nobody may frame anything.
EMBED_ALLOWED_ORIGINS = _env_list("EMBED_ALLOWED_ORIGINS")
# A display account that reads rooms for embed viewers who have no login of their own
# (for intranet rooms any employee may read): its access token, and its homeserver
# (MATRIX_HOMESERVER when not set). Empty: no display account.
EMBED_DISPLAY_ACCESS_TOKEN = os.environ.get("EMBED_DISPLAY_ACCESS_TOKEN", "").strip()
EMBED_DISPLAY_HOMESERVER = os.environ.get("EMBED_DISPLAY_HOMESERVER", "").strip()
# The display account's recovery key, when its cross-signing was set up elsewhere: its device
# verifies itself with it, to be given keys in encrypted rooms (see README "Encryption").
EMBED_DISPLAY_RECOVERY_KEY = os.environ.get("EMBED_DISPLAY_RECOVERY_KEY", "").strip()
# Let anonymous embed viewers read rooms that allow Matrix guests, through one guest account
# of MATRIX_HOMESERVER (or the display account's homeserver).
EMBED_GUEST_ACCESS = _env_bool("EMBED_GUEST_ACCESS", True)
# When the intranet and this client are different sites, a SameSite=Lax session cookie is
# not sent inside the iframe. True: also set a SameSite=None; Secure copy of it, limited to
# the /embed/ path, so a viewer's own login works in a cross-site embed.
EMBED_CROSS_SITE_COOKIE = _env_bool("EMBED_CROSS_SITE_COOKIE")
# Seconds an embed page's ticket (its websocket and media access) stays valid; the page
# reloads itself for a new one.
EMBED_TICKET_SECONDS = int(os.environ.get("EMBED_TICKET_SECONDS", str(12 * 60 * 60)))
# Tiles a kiosk panel keeps; older ones are dropped as new ones arrive.
KIOSK_MAX_TILES = int(os.environ.get("KIOSK_MAX_TILES", "100"))
# Seconds between reloads of a kiosk or embed page in a browser without JavaScript.
KIOSK_REFRESH_SECONDS = int(os.environ.get("KIOSK_REFRESH_SECONDS", "60"))
# What pages compare to reload themselves after an upgrade; computed from the code when
# not set (webclient/build.py).
WEBCLIENT_BUILD_ID = os.environ.get("WEBCLIENT_BUILD_ID", "").strip()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "webclient.matrix",
    "webclient.accounts",
    "webclient.timeline",
    "webclient.rooms",
    "webclient.media",
    "webclient.ops",
]

MIDDLEWARE = [
    # Outermost: compresses what the others made (pages, and static files served uncompressed).
    "webclient.web.middleware.CompressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "webclient.web.middleware.ContentSecurityPolicyMiddleware",
    "webclient.web.middleware.EmbedCookieMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "webclient.web.middleware.ViewerLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webclient.urls"
ASGI_APPLICATION = "webclient.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webclient.web.context.login",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'webclient.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent sessions write sync tokens while pages read: WAL keeps readers unblocked.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Encrypts what goes through Redis between processes; derived from SECRET_KEY when not set.
CHANNEL_LAYER_KEY = os.environ.get("CHANNEL_LAYER_KEY", "") or f"channel-layer:{SECRET_KEY}"
# Put before every key this client keeps in Redis (several installations on one Redis).
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "").strip()
if REDIS_URL := os.environ.get("REDIS_URL", "").strip():
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default: as long as the
                # layer's blocking pop (BZPOPMIN, 5 s), so an idle receive failed every 5 s.
                # Longer than the pop, still finite (a dead connection is noticed).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": f"{REDIS_KEY_PREFIX}:asgi" if REDIS_KEY_PREFIX else "asgi",
                "capacity": 1000,
                "expiry": 60,
                # Groups hold one relay channel per process with viewers (live/cluster.py),
                # renewed every 30 s: a dead process's drops out after this.
                "group_expiry": 600,
                # Pushes carry rendered (decrypted) messages: never in the clear in Redis.
                "symmetric_encryption_keys": [CHANNEL_LAYER_KEY],
            },
        }
    }
else:
    # Both layers drop group messages silently when a viewer's queue is full; a sync is sent
    # as one message per room, and the capacity leaves room for slow tabs.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "webclient.live.layers.FanoutInMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 60},
        }
    }

# The render cache: one entry per tile state. Django's default of 300 entries cannot even
# hold one 500-event page; 20,000 fragments are about 20 MB.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": int(os.environ.get("RENDER_CACHE_ENTRIES", "20000"))},
    }
}

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:login"

# Served over HTTPS by a proxy that terminates TLS (deploy/nginx/webclient.conf) and says so
# in `X-Forwarded-Proto`: the defaults below then turn to what HTTPS needs.
BEHIND_TLS_PROXY = _env_bool("BEHIND_TLS_PROXY")
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The session cookie is the browser's only credential: keep it away from scripts and
# other sites. Secure cookies are on by default when the site is served over HTTPS.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", BEHIND_TLS_PROXY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(60 * 60 * 24 * 30)))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A plain-HTTP request that reached Django is sent to HTTPS (the proxy normally does it
# first). /healthz, /readyz and /metrics are answered before Django (webclient/ops/).
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", BEHIND_TLS_PROXY)
# HTTP Strict Transport Security: 0 (off) unless set; a year (31536000) in production, once
# HTTPS works, since browsers then refuse plain HTTP to the host for that long.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Asking browsers' preload lists to carry the domain is its owner's decision (hstspreload
# submissions are hard to undo): off unless set, and Django's reminder is silenced.
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD")
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Languages (README "Languages"): English, the default, and German; a viewer's comes from
# their login's choice, else the browser (webclient/live/locale.py). Translations live in
# locale/<code>/LC_MESSAGES (django.po for templates and Python, djangojs.po for static/js).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "webclient_language"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `manage.py collectstatic` puts the files (and nginx serves them from).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static")).resolve()
# Off (the embedded default): served straight from static/ under their own names, so a fresh
# checkout needs no collectstatic. On (production): pages name the hashed, Brotli/gzip
# compressed files `collectstatic` wrote to STATIC_ROOT, cached for a year (webclient/ops/
# staticfiles.py; run `manage.py collectstatic --noinput` with it on before starting).
STATIC_COLLECTED = _env_bool("STATIC_COLLECTED")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "webclient.ops.staticfiles.HashedStaticFilesStorage"
        if STATIC_COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
SERVESTATIC_USE_FINDERS = not STATIC_COLLECTED
SERVESTATIC_AUTOREFRESH = DEBUG
# Static files are same-origin only (module scripts, styles): no CORS header on each of them.
SERVESTATIC_ALLOW_ALL_ORIGINS = False

# Operations (webclient/ops/): who may read /metrics, a token that also admits anyone who
# sends it (`Authorization: Bearer …`), and the seconds a process takes to close its
# websockets (code 1012) and hand its devices over when told to stop (SIGTERM).
METRICS_ALLOWED_IPS = _env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
SHUTDOWN_TIMEOUT = float(os.environ.get("SHUTDOWN_TIMEOUT", "10"))
# One line per HTTP request on the `webclient.access` logger (client address as the proxy
# forwarded it, method, path, status, duration), for log pipelines that want it per process.
ACCESS_LOG = _env_bool("ACCESS_LOG")

# LOG_FORMAT=json: one JSON object per line, for every logger (Django's, daphne's and ours).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
if LOG_FORMAT == "json":
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": "INFO"},
        "loggers": {"webclient": {"level": LOG_LEVEL}},
    }
else:
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {
            "webclient": {"handlers": ["console"], "level": LOG_LEVEL},
        },
    }
