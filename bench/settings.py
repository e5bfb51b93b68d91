"""Settings of the processes the benchmarks start: the product's, plus the bare baseline view."""

from integrator.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
