"""The parts of the standalone project's settings that the test settings share.

Plain values with no side effects (no environment read, no file created), so
that tests/settings.py can import them without configuring a standalone
instance.
"""

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "polyflow",
]

# What `polyflow run`, `apply`, `tick`, `runs` and `logs` load of the standalone
# project: the apps whose models they use. The admin, DRF, sessions and templates
# serve requests only, and loading them would double Django's set-up; their tables
# are in the database all the same (a fresh one is made for INSTALLED_APPS).
LOCAL_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "polyflow",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files, answered before sessions and the rest are set up for them (it
    # serves only what STATIC_ROOT or, with WHITENOISE_USE_FINDERS, the apps' static
    # directories hold; with neither, as in the tests' settings, it passes everything on).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

REST_FRAMEWORK = {
    # Token first: DRF answers a request without credentials with the first
    # class's WWW-Authenticate challenge, so 401 (Session has none: it would be 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Polyflow's views set this handler themselves (so they keep their error
    # shape inside a host project); here it also covers any other DRF view.
    "EXCEPTION_HANDLER": "polyflow.api.errors.exception_handler",
}
