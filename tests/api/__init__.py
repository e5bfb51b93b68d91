"""API tests: generic resource batteries (mixins), errors, actions, reports, query counts."""
