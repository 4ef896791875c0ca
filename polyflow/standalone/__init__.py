"""The Django project the ``polyflow`` command uses when DJANGO_SETTINGS_MODULE is unset.

A host project does not use it: it adds ``polyflow`` to its own INSTALLED_APPS.
"""
