"""Root conftest: only registers the notebooks' stack, so nbmake items under notebooks/ and evals/ get it."""

pytest_plugins = ["tests.notebooks.plugin"]
