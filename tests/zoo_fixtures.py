"""Fixtures shared by the zoo's tests (test_zoo.py, test_zoo_weights.py): import them by name."""

import urllib.request

import pytest


@pytest.fixture
def offline(monkeypatch):
    """Any network access (urlopen or any urllib opener) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during an offline load: {args[:2]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache ($TFFLOWS_HOME) of the test's own."""
    monkeypatch.setenv("TFFLOWS_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"
