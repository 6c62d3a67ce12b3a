"""``cspkit emulator follow-link``: clear messages (exit 2 for a malformed link, 1 for a refused one), never the
library's error text nor the purchase token."""

from __future__ import annotations

import os

from click.testing import CliRunner

from cspkit.cli.main import cli


def follow(tmp_path, uri: str):
    env = {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull, "CSPKIT_DATABASE_URL": "",
           "CSPKIT_ENDPOINT": "", "CSPKIT_ACCESS_TOKEN": ""}
    return CliRunner().invoke(cli, ["emulator", "follow-link", uri], env=env)


def test_a_malformed_link_is_bad_usage_naming_what_is_expected(tmp_path):
    result = follow(tmp_path, "foo")
    assert result.exit_code == 2
    assert "not an activation link: 'foo'" in result.stderr and "cspkit orders activation-links" in result.stderr
    assert "MissingSchema" not in result.output and "Traceback" not in result.output


def test_an_unknown_token_is_refused_with_the_publishers_words(tmp_path):
    result = follow(tmp_path, "http://127.0.0.1:5/publisher/21223810/landing?token=SECRET-TOKEN")
    assert result.exit_code == 1, result.output
    assert "answered HTTP 400: Cannot set up your subscription: The marketplace token is malformed or unknown." \
        in result.stderr
    assert "SECRET-TOKEN" not in result.output and "Traceback" not in result.output
