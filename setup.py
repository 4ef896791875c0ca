import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# Read the version without importing polyflow: importing it at build time would
# require its dependencies to be installed already.
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "polyflow" / "__init__.py").read_text(), re.M
).group(1)
README = HERE / "README.md"

setup(
    name="polyflow",
    version=VERSION,
    description="A container-native engine for machine-learning pipelines, as a Django app.",
    long_description=README.read_text() if README.exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(exclude=["tests", "tests.*", "bench", "bench.*"]),
    # Non-Python files inside the package (templates, static files) are listed in
    # MANIFEST.in; migrations are Python modules and come with find_packages().
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=[
        "Django>=5.2,<5.3",
        "djangorestframework>=3.15,<4",
        "drf-spectacular>=0.27,<1",
        "drf-spectacular-sidecar>=2024.1.1",
        "celery[redis]>=5.4,<6",
        "kubernetes>=30",
        "PyYAML>=6,<7",
        "marshmallow>=3.20,<5",
        "croniter>=2,<8",
        "psycopg[binary]>=3.1,<4",
        "click>=8.1,<9",
        "dj-database-url>=2,<4",
        # `polyflow server`: a production WSGI server, pure Python, threaded, in-process
        # (so the embedded scheduler runs as a thread beside it).
        "waitress>=3.0.1,<4",
    ],
    extras_require={
        # The Kubernetes API simulator (python -m polyflow.testing.kube) checks pods with it.
        "kube-simulator": ["kubernetes-validate>=1.28"],
        "test": [
            "pytest>=8",
            "pytest-django>=4.8",
            "requests>=2.31,<3",
            "schemathesis>=4,<5",
            "hypothesis>=6",
            "kubernetes-validate>=1.28",
            "playwright>=1.45,<2",
            "ruff",
        ],
    },
    entry_points={"console_scripts": ["polyflow=polyflow.cli:main"]},
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
    ],
)
